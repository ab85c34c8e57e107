//! Pacing: a consumer of the request hook that falls behind (`tee`'s
//! mirror) tells the live reader, which then wakes less often.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::block_timeout_ms;
use super::CaptureConfig;

/// How long a paced reader waits, once the kernel buffer is empty, before
/// it reads again (instead of waking for every block the kernel retires).
pub const PACED_WAIT: Duration = Duration::from_millis(10);

/// How long the reader stays paced after it last saw a report of
/// [`Pacing::fell_behind`] (it looks whenever the kernel buffer is empty).
pub const PACED_HOLD: Duration = Duration::from_secs(1);

/// A signal from the consumer of [`RequestEvent`](crate::RequestEvent)s to the live reader.
///
/// `tee` calls [`Pacing::fell_behind`] when its mirror queue is full: the
/// mirror threads (idle priority) got no CPU for as long as it took to fill
/// the queue, so the host is busy, and requests already wait in the queue
/// far longer than a block timeout. It calls it too while no mirror target
/// has a free slot for a run of requests: they are dropped at once, and
/// reading them sooner buys nothing. Waking for every block the kernel
/// retires (every millisecond with `tee`'s default) would then cost the busy
/// host CPU time and buy the mirror nothing. While the signal is recent
/// (within [`PACED_HOLD`]), the reader empties the kernel buffer, then
/// sleeps up to [`PACED_WAIT`] instead of waiting for the next block;
/// [`Pacing::caught_up`] ends that at once.
///
/// The kernel retires a block that holds any packet every block timeout, so
/// a sleep uses up to one block per timeout: the wait is cut to what a
/// quarter of the ring holds, and there is no pacing when that is no longer
/// than the block timeout itself (a small `buffer_size`), nor in immediate
/// mode, whose ring holds only a few hundred packets.
#[derive(Clone, Debug, Default)]
pub struct Pacing {
    /// The last report not yet seen by the reader: [`NO_REPORT`],
    /// [`FELL_BEHIND`] or [`CAUGHT_UP`].
    signal: Arc<AtomicU8>,
}

const NO_REPORT: u8 = 0;
const FELL_BEHIND: u8 = 1;
const CAUGHT_UP: u8 = 2;

impl Pacing {
    /// The consumer could not take a request.
    pub fn fell_behind(&self) {
        if self.signal.load(Ordering::Relaxed) != FELL_BEHIND {
            self.signal.store(FELL_BEHIND, Ordering::Relaxed);
        }
    }

    /// The consumer can take requests again: pacing, if any, ends at the
    /// reader's next look instead of a [`PACED_HOLD`] after the last report.
    pub fn caught_up(&self) {
        self.signal.store(CAUGHT_UP, Ordering::Relaxed);
    }

    /// Whether a report of falling behind is waiting for the reader to see
    /// it.
    pub fn pending(&self) -> bool {
        self.signal.load(Ordering::Relaxed) == FELL_BEHIND
    }

    /// Whether the reader should pause at `now`, given when
    /// it last saw the signal (updated here).
    pub(super) fn paced(&self, now: Instant, seen: &mut Option<Instant>) -> bool {
        match self.signal.swap(NO_REPORT, Ordering::Relaxed) {
            FELL_BEHIND => *seen = Some(now),
            CAUGHT_UP => *seen = None,
            _ => {}
        }
        seen.is_some_and(|t| now.saturating_duration_since(t) < PACED_HOLD)
    }
}

/// Size of libpcap's TPACKET_V3 blocks on Linux: its largest snap length
/// (256 KiB), whatever the snap length asked for.
const LIBPCAP_V3_BLOCK: u32 = 256 << 10;

/// libpcap's kernel buffer when none is asked for.
const LIBPCAP_DEFAULT_BUFFER: u32 = 2 << 20;

/// How long a paced live reader pauses (see [`Pacing`]): [`PACED_WAIT`],
/// cut to what a quarter of the kernel ring holds at one block per block
/// timeout; `None` in immediate mode or when that is no longer than the
/// block timeout.
pub(super) fn paced_wait(cfg: &CaptureConfig) -> Option<Duration> {
    let timeout = Duration::from_millis(u64::try_from(block_timeout_ms(cfg.block_timeout?)).ok()?);
    let blocks = cfg.buffer_size.unwrap_or(LIBPCAP_DEFAULT_BUFFER) / LIBPCAP_V3_BLOCK;
    let wait = PACED_WAIT.min(timeout.saturating_mul(blocks / 4));
    (wait > timeout).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::super::{PacketSource, DEFAULT_BUFFER};
    use super::*;

    #[test]
    fn pacing_lasts_a_hold_after_the_last_report() {
        let p = Pacing::default();
        let mut seen = None;
        let t0 = Instant::now();
        assert!(!p.paced(t0, &mut seen), "not paced before any report");
        p.fell_behind();
        p.fell_behind();
        assert!(p.pending());
        assert!(p.paced(t0, &mut seen));
        assert!(!p.pending(), "the reader took the report");
        assert!(p.paced(t0 + PACED_HOLD - Duration::from_millis(1), &mut seen));
        assert!(
            !p.paced(t0 + PACED_HOLD, &mut seen),
            "over once the hold passed"
        );
        // A new report starts a new hold from when the reader sees it.
        p.fell_behind();
        let t1 = t0 + 3 * PACED_HOLD;
        assert!(p.paced(t1, &mut seen));
        assert!(p.paced(t1 + PACED_HOLD / 2, &mut seen));
        assert!(!p.paced(t1 + PACED_HOLD, &mut seen));
    }

    #[test]
    fn caught_up_ends_pacing_at_the_next_look() {
        let p = Pacing::default();
        let mut seen = None;
        let t0 = Instant::now();
        p.fell_behind();
        assert!(p.paced(t0, &mut seen));
        p.caught_up();
        assert!(!p.pending(), "catching up is no report of falling behind");
        assert!(
            !p.paced(t0 + Duration::from_millis(1), &mut seen),
            "not paced once caught up, well within the hold"
        );
        assert!(!p.paced(t0 + Duration::from_millis(2), &mut seen));
        // Falling behind again paces again; the last report wins.
        p.caught_up();
        p.fell_behind();
        assert!(p.paced(t0 + Duration::from_millis(3), &mut seen));
        p.fell_behind();
        p.caught_up();
        assert!(!p.paced(t0 + Duration::from_millis(4), &mut seen));
    }

    #[test]
    fn a_paced_pause_fits_the_kernel_ring() {
        let mut cfg = CaptureConfig::new(PacketSource::Interface("lo".into()), "x.stlog".into());
        let ms = Duration::from_millis;
        cfg.block_timeout = Some(ms(1));
        // 32 MiB: 128 blocks, a quarter of them last 32 ms.
        assert_eq!(paced_wait(&cfg), Some(PACED_WAIT));
        // 4 MiB: 16 blocks, a quarter last 4 ms.
        cfg.buffer_size = Some(4 << 20);
        assert_eq!(paced_wait(&cfg), Some(ms(4)));
        // 1 MiB: 4 blocks, a quarter is one block timeout: no pacing.
        cfg.buffer_size = Some(1 << 20);
        assert_eq!(paced_wait(&cfg), None);
        cfg.buffer_size = Some(6000);
        assert_eq!(paced_wait(&cfg), None);
        // libpcap's default buffer (2 MiB, 8 blocks).
        cfg.buffer_size = None;
        assert_eq!(paced_wait(&cfg), Some(ms(2)));
        // Blocks that retire as slowly as the pause: nothing to save.
        cfg.buffer_size = Some(DEFAULT_BUFFER);
        cfg.block_timeout = Some(PACED_WAIT);
        assert_eq!(paced_wait(&cfg), None);
        cfg.block_timeout = Some(ms(5));
        assert_eq!(paced_wait(&cfg), Some(PACED_WAIT));
        // Immediate mode never pauses.
        cfg.block_timeout = None;
        assert_eq!(paced_wait(&cfg), None);
    }
}
