//! Housekeeping: the clocks of the capture loop, all in one place.
//!
//! The loop reads packets; this decides, from the wall clock and the packet
//! clock, when the capture ends (`--duration`, the drain after a stop
//! signal), how long an idle live reader waits or pauses (draining, pacing),
//! and when to flush and report (every [`FLUSH_EVERY`], the stats line every
//! `stats_every`). The wall clock is read once every [`CLOCK_EVERY`]
//! packets and after every idle read, not per packet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::pacing::{paced_wait, Pacing};
use super::source::{block_timeout_ms, READ_TIMEOUT_MS};
use super::{CaptureConfig, CaptureEnd};

/// The housekeeping clock (flushing, stats, `--duration`) is read once
/// every this many packets, and whenever the source is idle.
const CLOCK_EVERY: u32 = 64;

/// Flushing and metrics run at most this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Longest time spent reading packets already buffered when a live
/// capture is asked to stop.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// While draining, the capture stops after this long without a packet.
const DRAIN_QUIET_MS: i32 = 300;

/// What an idle live reader does next.
pub(super) enum Idle {
    /// Sleep this long (paced: the request consumer fell behind).
    Pause(Duration),
    /// Wait up to this many milliseconds for the next packet or block.
    Wait(i32),
}

/// The clocks of one capture: see the [module](self) docs.
pub(super) struct Housekeeping {
    live: bool,
    /// `--duration`: wall clock for live capture, packet time for files.
    duration: Option<Duration>,
    started: Instant,
    first_ts: Option<u64>,
    since_clock: u32,
    clock_due: bool,
    last_flush: Instant,
    stats_every: Option<Duration>,
    last_stats: Instant,
    /// Set once a live capture was asked to stop.
    drain_until: Option<Instant>,
    drain_quiet_ms: i32,
    pacing: Option<(Pacing, Duration)>,
    behind_seen: Option<Instant>,
    /// Pauses taken because the request consumer had fallen behind.
    pub(super) paced_waits: u64,
    /// How long a paced pause lasts (`None`: never paces).
    pub(super) paced_wait: Option<Duration>,
}

impl Housekeeping {
    /// The clocks of a capture with `cfg` from a live source or a file.
    pub(super) fn new(cfg: &CaptureConfig, live: bool) -> Housekeeping {
        let paced_wait = paced_wait(cfg).filter(|_| live);
        let now = Instant::now();
        Housekeeping {
            live,
            duration: cfg.duration,
            started: now,
            first_ts: None,
            since_clock: 0,
            clock_due: true,
            last_flush: now,
            stats_every: cfg.stats_every,
            last_stats: now,
            drain_until: None,
            // While draining, stop once nothing came for this long: more
            // than a block timeout, or the last partly filled block would be
            // left behind.
            drain_quiet_ms: DRAIN_QUIET_MS.max(cfg.block_timeout.map_or(0, |t| {
                block_timeout_ms(t).saturating_mul(2).saturating_add(100)
            })),
            pacing: cfg.pacing.clone().zip(paced_wait),
            behind_seen: None,
            paced_waits: 0,
            paced_wait,
        }
    }

    /// Clocks for reading a file through a pipeline only: no duration, no
    /// stats line.
    pub(super) fn file_only() -> Housekeeping {
        let mut cfg = CaptureConfig::new(super::PacketSource::Pcap("".into()), "".into());
        cfg.stats_every = None;
        Housekeeping::new(&cfg, false)
    }

    /// Before a read: whether the capture ends now. A stop request ends a
    /// file at once; a live capture first drains what the kernel buffered
    /// (those packets were on the wire before the signal), for a bounded
    /// time.
    pub(super) fn before_read(&mut self, stop: &AtomicBool) -> Option<CaptureEnd> {
        if self.drain_until.is_none() && stop.load(Ordering::Relaxed) {
            if !self.live {
                return Some(CaptureEnd::Signal);
            }
            self.drain_until = Some(Instant::now() + DRAIN_MAX);
        }
        if self.clock_due {
            let now = Instant::now();
            if self.drain_until.is_some_and(|t| now >= t) {
                return Some(CaptureEnd::Signal);
            }
            if self.live && self.duration.is_some_and(|d| now - self.started >= d) {
                return Some(CaptureEnd::Duration);
            }
        }
        None
    }

    /// A packet captured at `ts_ns` was read: whether it is past a file's
    /// `--duration` (then it is not processed and the capture ends).
    pub(super) fn on_packet(&mut self, ts_ns: u64) -> Option<CaptureEnd> {
        self.since_clock += 1;
        self.clock_due = self.since_clock >= CLOCK_EVERY;
        let first = *self.first_ts.get_or_insert(ts_ns);
        let past = !self.live
            && self
                .duration
                .is_some_and(|d| ts_ns.saturating_sub(first) >= d.as_nanos() as u64);
        past.then_some(CaptureEnd::Duration)
    }

    /// The source had nothing to read: what to do until it has.
    pub(super) fn on_idle(&mut self) -> Idle {
        self.clock_due = true;
        if self.drain_until.is_some() {
            // Draining: stop once nothing comes for a whole wait.
            return Idle::Wait(self.drain_quiet_ms);
        }
        let paced = self
            .pacing
            .as_ref()
            .filter(|(p, _)| p.paced(Instant::now(), &mut self.behind_seen));
        match paced {
            Some((_, pause)) => {
                self.paced_waits += 1;
                Idle::Pause(*pause)
            }
            None => Idle::Wait(READ_TIMEOUT_MS),
        }
    }

    /// A wait of [`Idle::Wait`] ended with nothing to read: whether the
    /// capture ends (it was draining).
    pub(super) fn on_quiet(&self) -> Option<CaptureEnd> {
        self.drain_until.map(|_| CaptureEnd::Signal)
    }

    /// After a read: `Some` when flushing and metrics are due now, holding
    /// whether the stats line is due too.
    pub(super) fn due(&mut self) -> Option<bool> {
        if !self.clock_due {
            return None;
        }
        self.since_clock = 0;
        if self.last_flush.elapsed() < FLUSH_EVERY {
            return None;
        }
        self.last_flush = Instant::now();
        let stats = self.stats_every.is_some_and(|every| {
            let due = self.last_stats.elapsed() >= every;
            if due {
                self.last_stats = Instant::now();
            }
            due
        });
        Some(stats)
    }
}
