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
//!
//! - `queue`: the wait-free queue between the capture and the mirror.
//! - `tap`: the capture side: each request queued or dropped, and the
//!   capture's pacing told when the mirror falls behind.
//! - `counts`: tee's own counters, and the one place they meet the engine's.
//! - `metrics`: the Prometheus exposition.
//! - here: the configuration, and [`run`], which wires the capture and the
//!   engine together (the only calls into either crate's run API).
//!
//! Nothing here prints: what the user is told arrives as [`Event`]s.

mod counts;
mod metrics;
mod pair;
mod queue;
mod tap;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shadowtap_capture::metrics::ExtraMetrics;
use shadowtap_capture::{CaptureConfig, CaptureError, CaptureSummary, Notice, Pacing};
use shadowtap_format::Exchange;
use shadowtap_replay::engine::{Engine, Exchanges, Monitor, Recorded, RunOutcome, Threaded};
use shadowtap_replay::input::{InputError, InputWarning};

pub use counts::TapCounts;
pub use metrics::exposition;

use crate::priority::{make_current_thread_idle, MirrorPriority};
use crate::shutdown::Shutdown;
use counts::Counters;
use pair::{Pairing, Responses};
use queue::{queue, Consumer};
use tap::{Saturation, Tap};

/// Upper bound of the queue: a queued request holds at most one capped
/// request, so this bounds the queue's memory.
pub const MAX_QUEUE: usize = 1_000_000;

/// How many requests the queue holds: 1 to [`MAX_QUEUE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSize(usize);

impl QueueSize {
    pub fn new(requests: usize) -> Result<QueueSize, TeeError> {
        if requests == 0 || requests > MAX_QUEUE {
            return Err(TeeError::QueueSize(requests));
        }
        Ok(QueueSize(requests))
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Everything `tee` needs besides the mirror's engine, validated.
#[derive(Debug)]
pub struct TeeConfig {
    capture: CaptureConfig,
    queue: QueueSize,
    priority: MirrorPriority,
}

impl TeeConfig {
    /// The capture (a live interface), the queue's size and the mirror
    /// threads' priority. Without a log (`capture.output`), responses are
    /// not even framed: only requests are mirrored (unless the engine
    /// compares the mirror's answers with them: see [`run`]).
    pub fn new(
        mut capture: CaptureConfig,
        queue: QueueSize,
        priority: MirrorPriority,
    ) -> TeeConfig {
        if capture.output.is_none() {
            capture.pipeline.responses = false;
        }
        TeeConfig {
            capture,
            queue,
            priority,
        }
    }

    /// Frames production's responses too, without a log: `--compare`
    /// needs them (and the capture filter lets them out of the kernel).
    pub fn keep_responses(mut self) -> TeeConfig {
        self.capture.pipeline.responses = true;
        self
    }

    /// The capture's filter (as the report shows it).
    pub fn filter(&self) -> String {
        self.capture.filter()
    }

    /// The mirror threads run at idle priority.
    pub fn idle(&self) -> bool {
        self.priority == MirrorPriority::Idle
    }
}

/// Why tee could not run (or the capture failed while it ran).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TeeError {
    #[error("the queue must hold 1 to {MAX_QUEUE} requests, not {0}")]
    QueueSize(usize),
    #[error("starting the capture thread")]
    CaptureThread(#[source] std::io::Error),
    #[error("starting the mirror's input thread")]
    InputThread(#[source] std::io::Error),
    #[error("the capture thread panicked")]
    CapturePanicked,
    #[error("capture failed")]
    Capture(#[source] CaptureError),
}

/// What the user is told while tee runs.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// From the capture, on its thread: handle it without taking a lock a
    /// mirror thread may hold (the capture must not wait for one).
    Capture(Notice<'a>),
    /// The counters, every `stats_every` of the capture's configuration.
    Progress(TeeProgress),
    /// The mirror threads could not be moved to idle priority.
    NormalPriority(&'a std::io::Error),
}

/// Where [`Event`]s go.
pub type OnEvent = Arc<dyn Fn(Event<'_>) + Send + Sync>;

/// The counters of a running tee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TeeProgress {
    pub captured: u64,
    /// Requests sent to targets.
    pub mirrored: u64,
    pub completed: u64,
    pub errors: u64,
    /// Drops over all targets, the tap's included.
    pub dropped: u64,
    pub queue_full: u64,
    /// Requests waiting in the queue.
    pub queued: u64,
    pub in_flight: u64,
}

/// How a tee run ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct TeeOutcome {
    /// The mirror's outcome, its stats settled: every captured request is
    /// accounted for per target (tap drops and `shutdown` drops included).
    pub mirror: RunOutcome,
    /// The capture's summary.
    pub capture: CaptureSummary,
    /// tee's own counters at the end.
    pub tap: TapCounts,
}

/// Mirrors the capture of `config` through `engine` (configured for live
/// mirroring) until `stop` fires (its first signal) and the capture ends;
/// the mirror then runs until `drained` resolves or its queue is empty.
///
/// Call it from the thread that drives the engine, on the runtime the
/// engine runs on: with idle priority, that thread (and the threads it
/// starts) moves to the idle class once the capture thread has started.
pub async fn run(
    config: TeeConfig,
    engine: Engine,
    stop: Shutdown,
    drained: impl Future<Output = ()> + Send,
    on_event: OnEvent,
) -> Result<TeeOutcome, TeeError> {
    let idle = config.idle();
    let mut capture = config.capture;
    let monitor = engine.monitor();
    let (tx, rx) = queue(config.queue.get());
    let counters = Arc::new(Counters::default());
    let pacing = Pacing::default();
    capture.pacing = Some(pacing.clone());
    let mut tap = Tap::new(
        tx,
        counters.clone(),
        pacing,
        engine.free_slots(),
        Saturation::new(idle),
    );
    // `--compare`: production's responses to the queued requests come to
    // the mirror through a second queue of the same size.
    let mut compare = None;
    if let Some(comparing) = engine.comparing() {
        capture.pipeline.responses = true;
        let (resp_tx, resp_rx) = queue(config.queue.get());
        let max = config.queue.get().max(PAIRS_MIN);
        tap = tap.with_responses(Responses::new(resp_tx, max, counters.clone()));
        compare = Some((Arc::new(Pairing::new(comparing, max)), resp_rx));
    }
    let (m, c) = (monitor.clone(), counters.clone());
    capture.extra_metrics = Some(ExtraMetrics(Arc::new(move || {
        let tap = c.snapshot();
        m.with_stats(|s| exposition(s, &tap))
    })));
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let progress_task = capture.stats_every.map(|every| {
        tokio::spawn(progress(
            every,
            monitor.clone(),
            counters.clone(),
            on_event.clone(),
            done_rx,
        ))
    });
    // The capture thread takes no lock the mirror threads hold: at idle
    // priority they may wait long for a CPU, and the capture must not
    // wait with them. Its drops are counted in atomics and settled into
    // the report at the end.
    let notices = on_event.clone();
    let capture_thread = std::thread::Builder::new()
        .name("shadowtap-capture".into())
        .spawn(move || {
            // Both callbacks are called by the capture, one at a time.
            let tap = std::cell::RefCell::new(tap);
            shadowtap_capture::run_observed(
                &capture,
                stop.flag(),
                &mut |req| tap.borrow_mut().offer(req),
                &mut |index, ex| tap.borrow_mut().answered(index, ex),
                &mut |n| notices(Event::Capture(n)),
            )
            // The tap (and the queues' producers) is dropped here, which
            // ends the mirror's input once the queue is drained.
        })
        .map_err(TeeError::CaptureThread)?;
    // From here on, this thread (which drives the engine) and the threads
    // it starts (input, timer, pairing) yield the CPU to everything else.
    if idle {
        if let Err(e) = make_current_thread_idle() {
            on_event(Event::NormalPriority(&e));
        }
    }
    let (pairing, pair_thread) = match compare {
        Some((pairing, mut resp_rx)) => {
            let p = pairing.clone();
            let thread = std::thread::Builder::new()
                .name("shadowtap-pair".into())
                .spawn(move || {
                    while let Some(ex) = resp_rx.pop() {
                        p.respond(ex);
                    }
                })
                .map_err(TeeError::InputThread)?;
            (Some(pairing), Some(thread))
        }
        None => (None, None),
    };

    let input = Input {
        rx,
        counters: counters.clone(),
        pairing: pairing.clone(),
    };
    let source = Threaded::spawn(engine.feed(input)).map_err(TeeError::InputThread)?;
    let mut mirror = engine.run(source, drained).await;
    let _ = done_tx.send(true);
    if let Some(t) = progress_task {
        let _ = t.await;
    }
    let summary = capture_thread
        .join()
        .map_err(|_| TeeError::CapturePanicked)?
        .map_err(TeeError::Capture)?;
    // The capture ended, so production's last responses are in their
    // queue: the pairing thread hands them over, then what still waits is
    // let go (counted as without a baseline).
    if let Some(t) = pair_thread {
        t.join().map_err(|_| TeeError::CapturePanicked)?;
    }
    if let Some(p) = &pairing {
        p.finish();
    }
    let tap = counters.snapshot();
    tap.settle(&mut mirror.stats);
    Ok(TeeOutcome {
        mirror,
        capture: summary,
        tap,
    })
}

/// Requests and responses waiting to be paired, each side, at least (at
/// most: the larger of this and the queue's size).
const PAIRS_MIN: usize = 65_536;

/// The mirror side of the queue: the replay engine's input.
struct Input {
    rx: Consumer,
    counters: Arc<Counters>,
    /// `--compare`: where requests meet production's responses.
    pairing: Option<Arc<Pairing>>,
}

impl Exchanges for Input {
    fn start_pass(&mut self, _pass: u32) -> Result<(), InputError> {
        Ok(())
    }

    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        // Blocks the engine's input thread until the capture hands over a
        // request; `None` once the capture has stopped and the queue is empty.
        let ex = self.rx.pop();
        if let Some(ex) = &ex {
            self.counters.taken();
            if let Some(p) = &self.pairing {
                p.taken(ex.id);
            }
        }
        Ok(ex.map(|ex| (0, ex)))
    }

    fn recorded(&mut self, id: u64, rec: &Arc<Recorded>) {
        if let Some(p) = &self.pairing {
            p.register(id, rec);
        }
    }

    fn take_warnings(&mut self) -> Vec<InputWarning> {
        Vec::new()
    }
}

/// An [`Event::Progress`] every `every` while the mirror runs.
async fn progress(
    every: Duration,
    monitor: Monitor,
    counters: Arc<Counters>,
    on_event: OnEvent,
    mut done: tokio::sync::watch::Receiver<bool>,
) {
    let targets = monitor.with_stats(|s| s.targets().len()) as u64;
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.wait_for(|d| *d) => return,
        }
        let p = monitor.progress();
        let tap = counters.snapshot();
        on_event(Event::Progress(TeeProgress {
            captured: tap.captured,
            mirrored: p.sent,
            completed: p.completed,
            errors: p.errors,
            dropped: p.dropped + targets * tap.dropped(),
            queue_full: tap.queue_full,
            queued: tap.depth,
            in_flight: p.in_flight,
        }));
    }
}
