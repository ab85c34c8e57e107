//! `shadowtap tee`: live capture mirrored to targets as it happens.
//!
//! Two engines, composed: the capture daemon (`shadowtap_capture::run_with`)
//! runs on its own thread and hands every request to a bounded queue the
//! moment it is complete on the wire; the replay engine, in live mode, reads
//! that queue and sends each request to every target at once. The capture
//! never waits for the mirror: when the queue is full the request is dropped
//! for the mirror and counted (`dropped.queue`), and a target without a free
//! slot drops it and counts it (`dropped.concurrency`), so a dead or slow
//! target costs counters, not memory. When no target has a free slot, the
//! capture thread drops the request itself (`dropped.concurrency` too),
//! before it is copied or queued: a saturated mirror then costs production
//! neither wake-ups nor work at the mirror for requests it cannot send.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use anyhow::Context as _;
use shadowtap_capture::metrics::ExtraMetrics;
use shadowtap_capture::{Pacing, RequestEvent, Source};
use shadowtap_format::{Exchange, Response};
use shadowtap_replay::engine::{Exchanges, FreeSlots, Monitor, Threaded};
use shadowtap_replay::input::{InputError, InputWarning};
use shadowtap_replay::stats::{DropCause, ErrorKind, Stats, TargetStats, STATUS_CLASSES};

use crate::cmd_capture::{config_from, install_signal_handlers, CaptureOpts, SIGNALS, STOP};
use crate::cmd_replay::{execute, MirrorArgs, Plan, ReportArgs};
use crate::priority::{make_current_thread_idle, MirrorPriority};
use crate::{exit, units};

/// Options of `shadowtap tee`.
#[derive(clap::Args, Debug)]
pub struct TeeArgs {
    /// Capture live on this interface (needs root or CAP_NET_RAW).
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: String,
    /// Also record every captured exchange, sampled or not, to this log
    /// (replayable later); rotation options apply.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Requests waiting between the capture and the mirror. When it is full,
    /// further requests are dropped for the mirror and counted; the capture
    /// never waits.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub queue: usize,
    /// CPU priority of the threads that rewrite and send mirror requests.
    /// `idle` (Linux SCHED_IDLE) gives them only CPU time nothing else
    /// wants, so a busy host serves production first and drops (and counts)
    /// mirror requests; the capture itself always keeps normal priority.
    #[arg(long, value_enum, value_name = "P", default_value = "idle")]
    pub mirror_priority: MirrorPriority,
    #[command(flatten, next_help_heading = "Capture")]
    pub capture: CaptureOpts,
    #[command(flatten, next_help_heading = "Mirror")]
    pub mirror: MirrorArgs,
    #[command(flatten, next_help_heading = "Report")]
    pub report: ReportArgs,
}

/// Upper bound of `--queue`: a queued request holds at most one capped
/// request, so this bounds the queue's memory.
const MAX_QUEUE: usize = 1_000_000;

/// Counters shared by the capture thread, the mirror and the reporting.
#[derive(Default)]
struct Counters {
    /// Requests complete on the wire.
    captured: AtomicU64,
    /// Requests dropped because the queue was full.
    queue_full: AtomicU64,
    /// Requests the capture dropped because no target had a free slot
    /// (counted for every target as `dropped.concurrency`).
    no_slot: AtomicU64,
    /// Requests in the queue now.
    queued: AtomicU64,
}

/// The wake-up half of the queue between the capture thread and the
/// mirror's input thread; the queue itself is an `rtrb` ring.
///
/// Both sides are wait-free: the mirror threads may run at idle priority
/// and wait long for a CPU, and the capture thread must never wait for one
/// of them, neither on a lock (as `std::sync::mpsc`'s wake-up path takes)
/// nor on a slot a preempted consumer is halfway through (as multi-producer
/// lock-free queues may). The consumer parks when the ring is empty and the
/// producer unparks it.
#[derive(Default)]
struct Wake {
    /// The consumer announced it is about to park.
    sleeping: AtomicBool,
    /// The consumer's thread, set on its first call.
    consumer: OnceLock<Thread>,
}

impl Wake {
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.consumer.get() {
                t.unpark();
            }
        }
    }
}

/// How long the consumer parks at most before looking again (a bound on
/// the delay of a missed wake-up, which the protocol below should prevent).
const PARK_AT_MOST: Duration = Duration::from_millis(20);

/// What became of an offered exchange.
#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    Queued,
    /// The ring is full: dropped.
    Full,
    /// The mirror has stopped: dropped here, counted at the end with what
    /// the mirror still held (`shutdown`).
    Closed,
}

/// The capture's end of the queue.
struct Producer {
    ring: Option<rtrb::Producer<Exchange>>,
    wake: Arc<Wake>,
}

impl Producer {
    /// No free slot now (checked before building an exchange for nothing).
    fn is_full(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.slots() == 0)
    }

    fn push(&mut self, ex: Exchange) -> Pushed {
        let Some(ring) = self.ring.as_mut() else {
            return Pushed::Closed;
        };
        if ring.is_abandoned() {
            return Pushed::Closed;
        }
        if ring.push(ex).is_err() {
            return Pushed::Full;
        }
        self.wake.wake();
        Pushed::Queued
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Abandon the ring first, so the woken consumer sees it closed.
        drop(self.ring.take());
        if let Some(t) = self.wake.consumer.get() {
            t.unpark();
        }
    }
}

/// The mirror's end of the queue.
struct Consumer {
    ring: rtrb::Consumer<Exchange>,
    wake: Arc<Wake>,
}

impl Consumer {
    /// The next exchange, waiting for one; `None` once the producer is gone
    /// and the ring is empty.
    fn pop(&mut self) -> Option<Exchange> {
        self.wake.consumer.get_or_init(std::thread::current);
        loop {
            if let Ok(ex) = self.ring.pop() {
                return Some(ex);
            }
            if self.ring.is_abandoned() {
                // The producer's last push happened before it let go.
                return self.ring.pop().ok();
            }
            self.wake.sleeping.store(true, Ordering::SeqCst);
            // Look again after announcing: a push that missed the flag is
            // seen here; one that saw it unparks us.
            if self.ring.is_empty() && !self.ring.is_abandoned() {
                std::thread::park_timeout(PARK_AT_MOST);
            }
            self.wake.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

fn queue(capacity: usize) -> (Producer, Consumer) {
    let (p, c) = rtrb::RingBuffer::new(capacity);
    let wake = Arc::new(Wake::default());
    (
        Producer {
            ring: Some(p),
            wake: wake.clone(),
        },
        Consumer { ring: c, wake },
    )
}

/// The mirror side of the queue: the replay engine's input.
struct Queue {
    rx: Consumer,
    counters: Arc<Counters>,
}

impl Exchanges for Queue {
    fn start_pass(&mut self, _pass: u32) -> Result<(), InputError> {
        Ok(())
    }

    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        // Blocks the engine's input thread until the capture hands over a
        // request; `None` once the capture has stopped and the queue is empty.
        let ex = self.rx.pop();
        if ex.is_some() {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(ex.map(|ex| (0, ex)))
    }

    fn take_warnings(&mut self) -> Vec<InputWarning> {
        Vec::new()
    }
}

/// The capture side of the queue.
struct Tap {
    tx: Producer,
    next_id: u64,
    counters: Arc<Counters>,
    /// Told when the queue is full, so the capture reads less often while
    /// the mirror cannot keep up anyway.
    pacing: Pacing,
    /// The targets' free slots, when a request that finds none is dropped
    /// anyway (see `FreeSlots`): it is then dropped here.
    slots: Option<FreeSlots>,
    saturation: Saturation,
}

/// After this many requests in a row found no target with a free slot, the
/// capture reads less often (see `Saturation`).
const SATURATED_AFTER: u32 = 16;

/// What a run of requests that found no free slot tells the capture's
/// pacing.
///
/// With the mirror threads at idle priority, targets without a free slot
/// for request after request mean the mirror gets too little CPU to finish
/// what it holds, or its targets are too slow: the requests are dropped
/// anyway, and waking every block timeout to drop them sooner costs the
/// busy host CPU time. After [`SATURATED_AFTER`] in a row the capture reads
/// as it does on a full queue (see `Pacing`), until a request finds a free
/// slot. At normal priority the mirror has its share of the CPU and the
/// capture keeps its pace.
#[derive(Debug, Default)]
struct Saturation {
    /// Pace at all (the mirror runs at idle priority).
    enabled: bool,
    /// Requests in a row that found no free slot.
    streak: u32,
    /// The pacing was told the mirror fell behind for lack of slots.
    pacing: bool,
}

/// What `Saturation` asks of the pacing.
#[derive(Debug, PartialEq, Eq)]
enum PaceSignal {
    None,
    FellBehind,
    CaughtUp,
}

impl Saturation {
    fn new(enabled: bool) -> Saturation {
        Saturation {
            enabled,
            ..Saturation::default()
        }
    }

    /// A request found no free slot.
    fn full(&mut self) -> PaceSignal {
        self.streak = self.streak.saturating_add(1);
        if !self.enabled || self.streak < SATURATED_AFTER {
            return PaceSignal::None;
        }
        // Told for every drop, not once: the pacing holds for a while after
        // the last report only.
        self.pacing = true;
        PaceSignal::FellBehind
    }

    /// A request found a free slot.
    fn free(&mut self) -> PaceSignal {
        self.streak = 0;
        if std::mem::take(&mut self.pacing) {
            PaceSignal::CaughtUp
        } else {
            PaceSignal::None
        }
    }
}

impl Tap {
    /// An admitted request that was not queued after all.
    fn withdraw(&self) {
        if let Some(slots) = &self.slots {
            slots.withdraw();
        }
    }

    fn offer(&mut self, req: &RequestEvent<'_>) {
        self.next_id += 1;
        self.counters.captured.fetch_add(1, Ordering::Relaxed);
        if let Some(slots) = &self.slots {
            // Admitted: counted ahead of the scheduler until it takes its
            // slots, so a burst read at once does not all pass on one slot.
            let free = slots.admit();
            let signal = if free {
                self.saturation.free()
            } else {
                self.saturation.full()
            };
            match signal {
                PaceSignal::None => {}
                PaceSignal::FellBehind => self.pacing.fell_behind(),
                PaceSignal::CaughtUp => self.pacing.caught_up(),
            }
            if !free {
                // Every target would drop it: dropped here, before it is
                // copied, queued, or wakes a mirror thread.
                self.counters.no_slot.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if self.tx.is_full() {
            self.withdraw();
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
            self.pacing.fell_behind();
            return;
        }
        let ex = Exchange {
            id: self.next_id,
            conn: req.conn,
            client: req.client,
            server: req.server,
            req_first_ns: req.first_ns,
            req_last_ns: req.last_ns,
            flags: req.flags,
            request: req.request.to_vec(),
            request_len: req.request_len,
            response: None::<Response>,
        };
        // Counted before the send, so the mirror never sees it negative.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.push(ex) {
            Pushed::Queued => {}
            // The mirror stopped (interrupted): counted at the end, as
            // captured but never sent (`shutdown`).
            Pushed::Closed => {
                self.withdraw();
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            }
            Pushed::Full => {
                self.withdraw();
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                self.pacing.fell_behind();
            }
        }
    }
}

/// The report's configuration keys for tee's input (the mirror's follow).
#[derive(serde::Serialize)]
struct TeeShown {
    mode: &'static str,
    interface: String,
    filter: String,
    queue: usize,
    record: Option<String>,
    // Keys of `replay` that mean nothing live, shown empty as they always
    // were, so that reports of both read alike.
    max_gap_ms: Option<u64>,
    duration_ms: Option<u64>,
    limit: Option<u64>,
}

pub fn run(args: TeeArgs) -> anyhow::Result<u8> {
    if args.queue == 0 || args.queue > MAX_QUEUE {
        return exit::usage(format!("--queue must be between 1 and {MAX_QUEUE}"));
    }
    let mut capture = config_from(
        Source::Interface(args.interface.clone()),
        args.record.clone(),
        &args.capture,
    )?;
    if args.record.is_none() {
        // Only requests are mirrored: without a log to keep them in,
        // responses are not even framed.
        capture.pipeline.responses = false;
    }
    let mut plan = Plan::live(args.mirror, args.report)?;
    let drain = plan.config.client.timeout;
    // The shutdown future below already waits --timeout after the signal:
    // what is still in flight then is abandoned at once (unanswered).
    plan.config.interrupt_grace = Duration::ZERO;
    let shown = TeeShown {
        mode: "tee",
        interface: args.interface.clone(),
        filter: capture.filter(),
        queue: args.queue,
        record: args.record.as_ref().map(|p| p.display().to_string()),
        max_gap_ms: None,
        duration_ms: None,
        limit: None,
    };
    install_signal_handlers()?;

    let idle = args.mirror_priority == MirrorPriority::Idle;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("shadowtap-tee")
        .on_thread_start(move || {
            if idle {
                // Checked on the main thread below, where it is reported.
                let _ = make_current_thread_idle();
            }
        })
        .build()
        .context("starting the async runtime")?;
    let stats_every = capture.stats_every;
    runtime.block_on(execute(plan, shown, |engine| async move {
        let monitor = engine.monitor();
        let targets = engine_targets(&monitor);
        let slots = engine.free_slots();
        let (tx, rx) = queue(args.queue);
        let counters = Arc::new(Counters::default());
        let pacing = Pacing::default();
        capture.pacing = Some(pacing.clone());
        let mut tap = Tap {
            tx,
            next_id: 0,
            counters: counters.clone(),
            pacing,
            slots,
            saturation: Saturation::new(idle),
        };
        let (m, c) = (monitor.clone(), counters.clone());
        capture.extra_metrics = Some(ExtraMetrics(Arc::new(move || exposition(&m, &c))));
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let stats_task = stats_every.map(|every| {
            tokio::spawn(stats_lines(
                every,
                monitor.clone(),
                counters.clone(),
                done_rx,
            ))
        });
        // The capture thread takes no lock the mirror threads hold: at idle
        // priority they may wait long for a CPU, and the capture must not
        // wait with them. Its queue drops are counted in an atomic and added
        // to the report at the end.
        let capture_thread = std::thread::Builder::new()
            .name("shadowtap-capture".into())
            .spawn(move || {
                shadowtap_capture::run_with(
                    &capture,
                    &STOP,
                    &mut |req| tap.offer(req),
                    &mut crate::stderr::notice,
                )
                // The tap (and the queue's sender) is dropped here, which
                // ends the mirror's input once the queue is drained.
            })
            .context("starting the capture thread")?;
        // From here on, this thread (which drives the engine) and the threads
        // it starts (input, timer) yield the CPU to everything else.
        if idle {
            if let Err(e) = make_current_thread_idle() {
                say!("shadowtap: warning: mirror threads keep normal priority: {e}");
            }
        }

        let source = Threaded::spawn(engine.feed(Queue {
            rx,
            counters: counters.clone(),
        }))
        .context("starting the mirror's input thread")?;
        // A signal stops the capture (STOP); the queue then drains, for at
        // most --timeout, before requests still waiting are abandoned.
        let mut outcome = engine.run(source, drained_after_stop(drain)).await;
        let _ = done_tx.send(true);
        if let Some(t) = stats_task {
            let _ = t.await;
        }
        let summary = capture_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread panicked"))?
            .context("capture failed")?;
        let queue_full = counters.queue_full.load(Ordering::Relaxed);
        let no_slot = counters.no_slot.load(Ordering::Relaxed);
        for t in 0..targets {
            outcome.stats.record_drops(t, DropCause::Queue, queue_full);
            outcome.stats.record_drops(t, DropCause::Concurrency, no_slot);
        }
        // What the mirror still held unsent when it stopped (the queue, the
        // engine's input) is counted as dropped, so that every captured
        // request is accounted for per target: sampled out, skipped,
        // dropped, or sent (completed, an error, or unanswered: in flight
        // when the drain ended).
        let captured = counters.captured.load(Ordering::Relaxed);
        let unfinished = unfinished_per_target(&outcome.stats, captured);
        for (t, &n) in unfinished.iter().enumerate() {
            outcome.stats.record_drops(t, DropCause::Shutdown, n);
        }
        say!(
            "shadowtap tee: captured {} requests; {} dropped because the queue was full; \
             {} dropped at the capture because no target had a free slot; kernel drops {}{}{}",
            captured,
            queue_full,
            no_slot,
            summary.kernel_drops + summary.if_drops,
            match summary.paced_wait {
                Some(wait) if summary.paced_waits > 0 => format!(
                    "; the capture paused its reads {} times ({} ms each) while the mirror was behind",
                    summary.paced_waits,
                    wait.as_millis()
                ),
                _ => String::new(),
            },
            if summary.files.is_empty() {
                String::new()
            } else {
                format!(
                    "; recorded {} exchanges to {}",
                    summary.exchanges_written,
                    summary
                        .files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        for w in &summary.warnings {
            say!("shadowtap: warning: {w}");
        }
        Ok(outcome)
    }))
}

/// Per target, the captured requests the stats do not account for: neither
/// sent (answered, an error or unanswered), dropped, sampled out nor
/// skipped.
fn unfinished_per_target(stats: &Stats, captured: u64) -> Vec<u64> {
    let common = stats.sampled_out() + stats.skipped_total();
    stats
        .per_target()
        .iter()
        .map(|t| captured.saturating_sub(t.sent + t.dropped_total() + common))
        .collect()
}

fn engine_targets(monitor: &Monitor) -> usize {
    monitor.with_stats(|s| s.targets().len())
}

/// The mirror's counters in Prometheus text format, per target, appended to
/// the capture's `--metrics` scrape.
fn exposition(monitor: &Monitor, c: &Counters) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        );
    };
    gauge(
        &mut out,
        "shadowtap_tee_captured_requests_total",
        "counter",
        "Requests complete on the wire, offered to the mirror.",
        c.captured.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_full_total",
        "counter",
        "Requests not mirrored because the queue was full.",
        c.queue_full.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_depth",
        "gauge",
        "Requests waiting between the capture and the mirror.",
        c.queued.load(Ordering::Relaxed),
    );
    monitor.with_stats(|s| {
        // One counter family: a sample per target and, with `label`, per
        // value of it (`rows` gives each value and its count for a target).
        type Rows<'a> = &'a dyn Fn(&TargetStats) -> Vec<(&'static str, u64)>;
        let mut family = |name: &str, help: &str, label: &str, rows: Rows<'_>| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
            for (target, t) in s.targets().iter().zip(s.per_target()) {
                for (value, n) in rows(t) {
                    let _ = if label.is_empty() {
                        writeln!(out, "{name}{{target=\"{target}\"}} {n}")
                    } else {
                        writeln!(out, "{name}{{target=\"{target}\",{label}=\"{value}\"}} {n}")
                    };
                }
            }
        };
        family(
            "shadowtap_tee_mirrored_total",
            "Requests sent to a target (completed or failed).",
            "",
            &|t| vec![("", t.sent)],
        );
        family(
            "shadowtap_tee_responses_total",
            "Mirror responses, by status class.",
            "class",
            &|t| {
                let classes = STATUS_CLASSES.iter().enumerate();
                classes
                    .map(|(i, class)| (*class, t.class_count(i)))
                    .collect()
            },
        );
        family(
            "shadowtap_tee_errors_total",
            "Mirror requests that failed, by kind.",
            "kind",
            &|t| {
                ErrorKind::ALL
                    .map(|k| (k.as_str(), t.errors_of(k)))
                    .to_vec()
            },
        );
        family(
            "shadowtap_tee_dropped_total",
            "Requests not mirrored to a target, by cause.",
            "cause",
            &|t| {
                let count = |k| t.dropped_of(k) + queued_drops(k, c);
                // Shutdown drops are known only once the mirror stopped,
                // after the last scrape: they are in the report alone.
                DropCause::ALL
                    .iter()
                    .filter(|&&k| k != DropCause::Shutdown)
                    .map(|&k| (k.as_str(), count(k)))
                    .collect()
            },
        );
    });
    out
}

/// Queue drops, and drops for want of a slot decided by the capture
/// thread, are counted outside the engine's statistics (see `run`); live
/// views add them in.
fn queued_drops(cause: DropCause, c: &Counters) -> u64 {
    match cause {
        DropCause::Queue => c.queue_full.load(Ordering::Relaxed),
        DropCause::Concurrency => c.no_slot.load(Ordering::Relaxed),
        _ => 0,
    }
}

/// One line on stderr every `every` while the mirror runs.
async fn stats_lines(
    every: Duration,
    monitor: Monitor,
    c: Arc<Counters>,
    mut done: tokio::sync::watch::Receiver<bool>,
) {
    let targets = engine_targets(&monitor);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.wait_for(|d| *d) => return,
        }
        let p = monitor.progress();
        say!(
            "shadowtap tee: captured={} mirrored={} completed={} errors={} dropped={} queue_full={} queue={} in_flight={}",
            c.captured.load(Ordering::Relaxed),
            p.sent,
            p.completed,
            p.errors,
            p.dropped
                + targets as u64
                    * (c.queue_full.load(Ordering::Relaxed) + c.no_slot.load(Ordering::Relaxed)),
            c.queue_full.load(Ordering::Relaxed),
            c.queued.load(Ordering::Relaxed),
            p.in_flight
        );
    }
}

/// Resolves `grace` after the stop flag is set (by SIGINT/SIGTERM), or at
/// once when a second signal arrives meanwhile, as in `replay`. The flags
/// are set from a signal handler, so they are polled, every 50 ms.
async fn drained_after_stop(grace: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while !STOP.load(Ordering::Relaxed) {
        tick.tick().await;
    }
    say!(
        "shadowtap tee: stopping: the mirror gets at most {} for its queue and \
         requests in flight (interrupt again to stop at once)",
        humantime::format_duration(grace)
    );
    let deadline = tokio::time::Instant::now() + grace;
    while SIGNALS.load(Ordering::Relaxed) < 2 {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: u64) -> Exchange {
        Exchange {
            id,
            conn: 0,
            client: "127.0.0.1:1".parse().unwrap(),
            server: "127.0.0.1:2".parse().unwrap(),
            req_first_ns: 0,
            req_last_ns: 0,
            flags: Default::default(),
            request: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            request_len: 18,
            response: None,
        }
    }

    #[test]
    fn queue_is_bounded_and_drains_after_the_producer_left() {
        let (mut tx, mut rx) = queue(2);
        assert_eq!(tx.push(ex(1)), Pushed::Queued);
        assert_eq!(tx.push(ex(2)), Pushed::Queued);
        assert!(tx.is_full());
        assert_eq!(tx.push(ex(3)), Pushed::Full);
        drop(tx);
        assert_eq!(rx.pop().map(|e| e.id), Some(1));
        assert_eq!(rx.pop().map(|e| e.id), Some(2));
        assert!(rx.pop().is_none());
    }

    #[test]
    fn a_full_queue_asks_the_capture_to_read_less_often() {
        let (tx, mut rx) = queue(1);
        let pacing = Pacing::default();
        let counters = Arc::new(Counters::default());
        let mut tap = Tap {
            tx,
            next_id: 0,
            counters: counters.clone(),
            pacing: pacing.clone(),
            slots: None,
            saturation: Saturation::new(true),
        };
        let req = ex(0);
        let event = RequestEvent {
            conn: req.conn,
            index: 0,
            client: req.client,
            server: req.server,
            first_ns: 0,
            last_ns: 0,
            flags: req.flags,
            request: &req.request,
            request_len: req.request_len,
        };
        tap.offer(&event);
        assert!(!pacing.pending(), "a queued request is no report");
        tap.offer(&event);
        assert!(pacing.pending(), "a dropped one is");
        assert_eq!(counters.queue_full.load(Ordering::Relaxed), 1);
        assert_eq!(rx.pop().map(|e| e.id), Some(1));
    }

    #[test]
    fn a_run_of_requests_without_a_free_slot_paces_the_capture_until_one_finds_one() {
        let mut s = Saturation::new(true);
        for i in 1..SATURATED_AFTER {
            assert_eq!(s.full(), PaceSignal::None, "request {i} of the run");
        }
        // From the run's last request on, every drop is reported (the
        // pacing holds only for a while after the last report).
        assert_eq!(s.full(), PaceSignal::FellBehind);
        assert_eq!(s.full(), PaceSignal::FellBehind);
        assert_eq!(
            s.free(),
            PaceSignal::CaughtUp,
            "the first free slot ends it"
        );
        assert_eq!(s.free(), PaceSignal::None, "said once");
        // A run cut short by a free slot starts over.
        for _ in 1..SATURATED_AFTER {
            assert_eq!(s.full(), PaceSignal::None);
        }
        assert_eq!(s.free(), PaceSignal::None);
        assert_eq!(s.full(), PaceSignal::None);
    }

    #[test]
    fn without_idle_priority_no_run_paces_the_capture() {
        let mut s = Saturation::new(false);
        for _ in 0..10 * SATURATED_AFTER {
            assert_eq!(s.full(), PaceSignal::None);
        }
        assert_eq!(s.free(), PaceSignal::None);
    }

    #[test]
    fn push_after_the_consumer_left_queues_nothing() {
        let (mut tx, rx) = queue(2);
        drop(rx);
        assert_eq!(tx.push(ex(1)), Pushed::Closed);
    }

    #[test]
    fn what_no_counter_holds_is_unfinished_per_target() {
        use shadowtap_replay::stats::{Outcome, SkipReason};
        let mut stats = Stats::new(&["a".into(), "b".into()]);
        let sent = |target, result| Outcome {
            target,
            intended: Duration::ZERO,
            sent: Duration::ZERO,
            done: Duration::ZERO,
            result,
            bytes_sent: 1,
            bytes_received: 1,
        };
        // 20 captured: 3 sampled out and 1 skipped for both targets, 2 over
        // the rate for both; then target a: 5 answered, 1 error, 4 full;
        // target b: 2 answered.
        stats.record_left_out(3, &[(SkipReason::Incomplete, 1)]);
        stats.record_drop_all(DropCause::RateLimit);
        stats.record_drop_all(DropCause::RateLimit);
        for _ in 0..5 {
            stats.record(&sent(0, Ok(200)));
        }
        stats.record(&sent(0, Err(ErrorKind::Refused)));
        stats.record_drops(0, DropCause::Concurrency, 4);
        stats.record(&sent(1, Ok(204)));
        stats.record(&sent(1, Ok(500)));
        assert_eq!(unfinished_per_target(&stats, 20), vec![20 - 16, 20 - 8]);
        // In flight when the mirror stopped: sent, unanswered, not unfinished.
        stats.record_unanswered(1, Duration::ZERO, Duration::ZERO);
        assert_eq!(unfinished_per_target(&stats, 20), vec![20 - 16, 20 - 9]);
        let b = stats.target(1).unwrap();
        assert_eq!(b.sent, b.completed + b.errors_total() + b.unanswered);
        // Never negative, whatever the counters say.
        assert_eq!(unfinished_per_target(&stats, 5), vec![0, 0]);
    }

    #[test]
    fn queue_delivers_everything_in_order_across_threads() {
        const N: u64 = 100_000;
        let (mut tx, mut rx) = queue(64);
        let consumer = std::thread::spawn(move || {
            let mut next = 0;
            while let Some(e) = rx.pop() {
                assert_eq!(e.id, next);
                next += 1;
            }
            next
        });
        let mut i = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while i < N {
            assert!(std::time::Instant::now() < deadline, "consumer stalled");
            match tx.push(ex(i)) {
                Pushed::Queued => i += 1,
                _ => std::thread::yield_now(),
            }
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), N);
    }
}
