//! The replay engine: one scheduler feeding per-target workers.
//!
//! ```text
//!  input thread                     scheduler task                     per target
//!  ┌──────────────────────┐ bounded ┌──────────────────────────┐ bounded ┌──────────────────┐
//!  │ Input (merge, window)│ tokio   │ Timeline / speed         │ async-  │ --concurrency    │
//!  │ → Sampler            │ mpsc    │ → wait_precisely         │ channel │ workers, one     │
//!  │ → Rewriter (Prepared)│ ──────▶ │   (sleep, then alarm)    │ ──────▶ │ Session each     │
//!  │ → loops              │  Item   │ → Pacer (--rate)         │  Job    │ → own Recorder   │
//!  │                      │         │ → permit per target      │         │                  │
//!  └──────────────────────┘         └──────────────────────────┘         └──────────────────┘
//! ```
//!
//! One module per job: [`config`] (what to do, checked once), [`compare`]
//! (`--compare`: candidate responses against the recorded ones),
//! [`record`] (`--record-responses`: the targets' responses into logs),
//! [`feed`]
//! (exchanges → [`Item`]s, and how the scheduler reads them), `scheduler`
//! (when each item goes, and to which targets), `workers` (sending, one
//! connection each), [`transport`] (the network, or a fake) and
//! [`monitor`] (who counts what, and the live view). This file starts them
//! and ends the run.
//!
//! The parts are composed, not copied per combination: the [`Feed`] turns
//! exchanges into [`Item`]s (sampling, rewriting, loops); the scheduler asks
//! the [`Timeline`](crate::schedule::Timeline) when an item is due (or takes
//! it at once with `--speed max` and when mirroring live), waits, asks the
//! [`Pacer`](crate::schedule::Pacer) when there is a rate limit, and hands
//! one [`Job`] per target to that target's workers.
//!
//! **Cheap handoffs.** The scheduler is a task of the runtime, so a job
//! handed to a worker and a permit handed back are wakeups between tasks,
//! not between threads. Items cross from the input thread through a bounded
//! channel that the scheduler empties in batches (see [`Threaded`]). Each
//! target's workers share one job queue; a job wakes one idle worker.
//!
//! **Bounded in flight.** Each target has a semaphore of `--concurrency`
//! permits; a job carries its permit until its response is read or it
//! fails. In real-time replay (and live) a target with no free permit
//! misses that request (counted as [`DropCause::Concurrency`]): a dead or
//! slow target never grows memory nor delays the other targets. With
//! `--speed max` the scheduler waits for a permit instead (so the slowest
//! target sets the pace).
//!
//! **Time.** Every due time is `start + offset` from one fixed start, the
//! instant the first request arrives from the input. Outcomes carry the
//! intended time (the due time; with `--speed max` the instant the request
//! was admitted), the actual start of the request, and its end, all as
//! offsets from that start. Everything runs on tokio's clock, so tests drive
//! it with a paused clock.
//!
//! **Stop.** Scheduling ends at the end of the input, after `--limit`
//! requests, when the next request would be due past `--duration` (with
//! `--speed max`: once `--duration` has passed), on an input error, or when
//! the shutdown future completes (SIGINT). The in-flight requests then
//! finish or time out. The shutdown future is watched until the last of
//! them is done, also after scheduling ended by itself: once it completes,
//! whenever that is, the requests in flight get [`Config::interrupt_grace`]
//! at most, or until the abort future completes (a second signal), and are
//! then abandoned. An abandoned request already handed to a worker is
//! `unanswered` (sent, no answer); one still queued for a worker is dropped
//! ([`DropCause::Shutdown`]). So every request dispatched is counted once:
//! sent (completed, an error or unanswered) or dropped.

pub mod compare;
pub mod config;
pub mod feed;
pub mod monitor;
pub mod record;
mod scheduler;
pub mod transport;
mod workers;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use self::compare::{
    Answer, Baseline, Comparing, Copy, DiffLogError, LiveBaseline, NotCompared, Recorded,
};
pub use self::config::{Config, EngineError, Mode, INTERRUPT_GRACE};
pub use self::feed::{Exchanges, Feed, Files, Inline, Item, ItemSource, Memory, Threaded};
pub use self::monitor::{FreeSlots, Monitor, RunProgress};
pub use self::record::{RecordError, RecordOptions, RecordSummary, RecordedLog, Recording};
pub use self::transport::{Network, Transport, Transports};
pub use self::workers::Job;

use self::feed::Live;
use self::scheduler::Scheduler;
use crate::input::{InputError, InputWarning};
use crate::rewrite::{HostLine, Rewriter};
use crate::stats::{DropCause, Stats};
use monitor::Entry;

/// Why the scheduler stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// Every request of the input (every loop) was scheduled.
    EndOfInput,
    /// `--limit` requests were scheduled.
    Limit,
    /// `--duration` was reached.
    Duration,
    /// The shutdown future completed (SIGINT).
    Interrupted,
    /// An input log could not be read further.
    InputFailed,
}

/// The result of a replay.
#[derive(Debug)]
pub struct RunOutcome {
    /// Measurements per target, plus sampling and skip counters.
    pub stats: Stats,
    /// From the start (first request) to the last response or error.
    pub elapsed: Duration,
    /// Why scheduling stopped.
    pub stop: StopReason,
    /// The shutdown future completed before the run ended: while scheduling
    /// (then `stop` is [`StopReason::Interrupted`]) or while the last
    /// requests were in flight.
    pub interrupted: bool,
    /// The error that stopped the input, if any.
    pub input_error: Option<InputError>,
    /// Warnings about the input (torn tails).
    pub warnings: Vec<InputWarning>,
    /// Requests dispatched (to every target) before scheduling stopped.
    pub scheduled: u64,
    /// Requests in flight abandoned after a shutdown's grace period (or an
    /// abort): counted as unanswered, or dropped (`shutdown`) when a worker
    /// had not taken them yet.
    pub abandoned: u64,
}

/// A prepared replay: targets resolved, configuration checked.
pub struct Engine<X = Network> {
    config: Config,
    transports: X,
    host_lines: Arc<Vec<Option<HostLine>>>,
    monitor: Monitor,
}

impl<X> std::fmt::Debug for Engine<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish()
    }
}

impl Engine<Network> {
    /// Resolves the targets, then checks the configuration (see
    /// [`Engine::with_transports`]). Nothing is sent.
    pub async fn new(config: Config) -> Result<Engine, EngineError> {
        let network = Network::resolve(&config.targets, config.client).await?;
        Engine::with_transports(config, network)
    }

    /// Replays the configured log files until the end (or `shutdown`).
    pub async fn run_files(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunOutcome, EngineError> {
        self.run_files_until(shutdown, std::future::pending()).await
    }

    /// [`Engine::run_files`], where `abort` (a second signal) ends the
    /// grace period after `shutdown` at once.
    pub async fn run_files_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
        abort: impl Future<Output = ()> + Send,
    ) -> Result<RunOutcome, EngineError> {
        if self.config.inputs.is_empty() {
            return Err(EngineError::NoInput);
        }
        let mut input = self.config.input;
        // The recorded responses are what the candidates' are compared with.
        input.keep_responses |= self
            .config
            .compare
            .as_ref()
            .is_some_and(|c| *c.baseline() == compare::Baseline::Recording);
        input.keep_status |= self.config.filter.uses_status();
        let files = Files::open(self.config.inputs.clone(), input)?;
        let feed = self.feed(files);
        let source = Threaded::spawn(feed).map_err(|e| {
            EngineError::Input(InputError {
                path: PathBuf::from("<input thread>"),
                source: e.into(),
            })
        })?;
        Ok(self.run_until(source, shutdown, abort).await)
    }
}

impl<X: Transports> Engine<X> {
    /// Checks the configuration ([`Config::problems`]: the first one is the
    /// error); requests go through `transports`.
    pub fn with_transports(config: Config, transports: X) -> Result<Engine<X>, EngineError> {
        let (host_lines, problems) = config.check();
        if let Some(e) = problems.into_iter().next() {
            return Err(e);
        }
        let names: Vec<String> = config.targets.iter().map(|t| t.url().to_owned()).collect();
        let monitor = Monitor::new(&names, config.concurrency);
        Ok(Engine {
            config,
            transports,
            host_lines: Arc::new(host_lines),
            monitor,
        })
    }

    /// The run's comparison (`--compare`), if any.
    pub fn comparing(&self) -> Option<Arc<Comparing>> {
        self.config.compare.clone()
    }

    /// A live view of the run.
    pub fn monitor(&self) -> Monitor {
        self.monitor.clone()
    }

    /// The feed over exchanges `src` for this configuration.
    pub fn feed<E: Exchanges>(&self, src: E) -> Feed<E> {
        let c = &self.config;
        let feed = Feed::new(
            src,
            c.sampler.clone(),
            Rewriter::new(c.host_mode, c.headers.clone()).with_edits(c.edits.clone()),
            c.loops,
        )
        .filtering(c.filter.clone());
        let feed = match &c.compare {
            Some(cmp) => feed.comparing(cmp.clone()),
            None => feed,
        };
        match c.mode {
            Mode::Replay { .. } => feed,
            Mode::Live => feed.live(Live {
                recorder: self.monitor.ledger.immediate(),
                permits: (c.rate.is_none() && c.limit.is_none()).then(|| self.monitor.slots()),
            }),
        }
    }

    /// When mirroring live with no rate limit, no request limit, no
    /// sampling and no filter, every request goes to every target that has a free slot,
    /// and one that finds none is dropped ([`DropCause::Concurrency`]): the
    /// producer can then look before handing a request over, and drop it
    /// (and count it) itself when no target has one. `None` otherwise:
    /// a request may then be sampled or filtered out, or wait for the rate limit, or end
    /// the run, whatever the slots.
    pub fn free_slots(&self) -> Option<FreeSlots> {
        let c = &self.config;
        (c.mode.is_live()
            && c.rate.is_none()
            && c.limit.is_none()
            && c.sampler.keeps_all()
            && c.filter.is_empty())
        .then(|| self.monitor.slots())
    }

    /// Replays the items of `source` until its end (or `shutdown`).
    ///
    /// The scheduler runs as a task of the runtime (not in the caller's
    /// future, which may be on a thread outside the runtime's workers), so
    /// handing a job to a worker and a finished job's permit back to the
    /// scheduler are wakeups inside the runtime.
    pub async fn run<S: ItemSource + 'static>(
        self,
        source: S,
        shutdown: impl Future<Output = ()> + Send,
    ) -> RunOutcome {
        self.run_until(source, shutdown, std::future::pending())
            .await
    }

    /// [`Engine::run`], where `abort` ends the grace period after
    /// `shutdown` at once (a second signal). `abort` is only looked at
    /// after `shutdown` completed.
    pub async fn run_until<S: ItemSource + 'static>(
        self,
        mut source: S,
        shutdown: impl Future<Output = ()> + Send,
        abort: impl Future<Output = ()> + Send,
    ) -> RunOutcome {
        let Engine {
            config,
            transports,
            host_lines,
            monitor,
        } = self;
        let grace = config.interrupt_grace;
        let prefixes: Arc<Vec<Vec<u8>>> = Arc::new(
            config
                .targets
                .iter()
                .map(|t| t.path_prefix().as_bytes().to_vec())
                .collect(),
        );
        let workers = workers::spawn(
            config.concurrency,
            &transports,
            (&host_lines, &prefixes),
            &monitor,
            config.mode.is_live(),
            config.compare.clone(),
            config.record.clone(),
        );
        let config = Arc::new(config);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut sched = Scheduler::new(
            config,
            monitor.ledger.recorder(),
            &monitor,
            workers.queues.clone(),
        );
        let mut scheduling = tokio::spawn(async move {
            // A dropped sender (the caller gave up on `run`) stops it too.
            let stop = std::pin::pin!(async move {
                let _ = stop_rx.await;
            });
            let reason = sched.run(&mut source, stop).await;
            // Closing the job queues lets the workers finish and exit.
            for q in &sched.queues {
                q.close();
            }
            drop(source);
            (sched, reason)
        });
        let mut shutdown = std::pin::pin!(shutdown);
        // Set once `shutdown` completed (it is not polled again).
        let mut interrupted = false;
        let joined = tokio::select! {
            biased;
            r = &mut scheduling => r,
            _ = shutdown.as_mut() => {
                interrupted = true;
                let _ = stop_tx.send(());
                scheduling.await
            }
        };
        let (sched, stop) = match joined {
            Ok(v) => v,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // The runtime is shutting down.
                Err(_) => {
                    for h in &workers.handles {
                        h.abort();
                    }
                    return RunOutcome {
                        stats: monitor.ledger.stats().clone(),
                        elapsed: Duration::ZERO,
                        stop: StopReason::Interrupted,
                        interrupted: true,
                        input_error: None,
                        warnings: Vec::new(),
                        scheduled: 0,
                        abandoned: monitor.in_flight(),
                    };
                }
            },
        };
        // The last requests finish; a shutdown meanwhile (or before) gives
        // them the grace period, an abort not even that.
        let aborts: Vec<_> = workers
            .handles
            .iter()
            .map(JoinHandle::abort_handle)
            .collect();
        let mut all = std::pin::pin!(join_all(workers.handles));
        let mut finished = false;
        if !interrupted {
            tokio::select! {
                biased;
                _ = all.as_mut() => finished = true,
                _ = shutdown.as_mut() => interrupted = true,
            }
        }
        let mut abandoned = 0;
        if !finished {
            let abort = std::pin::pin!(abort);
            tokio::select! {
                biased;
                _ = all.as_mut() => finished = true,
                _ = abort => {}
                _ = tokio::time::sleep(grace) => {}
            }
        }
        if !finished {
            abandoned = monitor.in_flight();
            for a in &aborts {
                a.abort();
            }
            // Aborted workers end at once; each drops the request it held,
            // which its recorder counts as unanswered. What no worker took
            // is the scheduler's to count.
            all.await;
            for (target, q) in workers.leftovers.iter().enumerate() {
                while q.try_recv().is_ok() {
                    sched
                        .recorder
                        .record(Entry::Drop(target, DropCause::Shutdown));
                }
            }
        }
        let end = Instant::now();
        let stats = monitor.ledger.stats().clone();
        RunOutcome {
            stats,
            elapsed: sched
                .start
                .map_or(Duration::ZERO, |s| end.saturating_duration_since(s)),
            stop,
            interrupted,
            input_error: sched.input_error,
            warnings: sched.warnings,
            scheduled: sched.scheduled,
            abandoned,
        }
    }
}

async fn join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}
