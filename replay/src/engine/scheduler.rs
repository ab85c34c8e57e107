//! The scheduler: takes each [`Item`] from the feed, decides when it is due
//! ([`Timeline`], or at once), lets the [`Pacer`] admit it, takes a slot per
//! target and hands one [`Job`] per target to that target's workers. What
//! it does not hand over (rate limit, no free slot, an invalid Host) it
//! records itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::compare::Recorded;
use super::config::Config;
use super::feed::{Item, ItemSource};
use super::monitor::{Entry, FreeSlots, LeftOut, Recorder};
use super::workers::Job;
use super::StopReason;
use crate::input::{InputError, InputWarning};
use crate::rewrite::Prepared;
use crate::schedule::{wait_precisely, Alarm, Pacer, Speed, Timeline};
use crate::stats::{DropCause, ErrorKind, Outcome};

/// The scheduling loop's state.
pub(crate) struct Scheduler {
    pub(crate) config: Arc<Config>,
    /// Records what this scheduler does not hand to a worker.
    pub(crate) recorder: Recorder,
    pub(crate) start_cell: Arc<OnceLock<Instant>>,
    pub(crate) permits: Arc<Vec<Arc<Semaphore>>>,
    /// The producer's admissions, settled here as each request reaches the
    /// point where it takes its slots.
    pub(crate) admission: FreeSlots,
    pub(crate) queues: Vec<async_channel::Sender<Job>>,
    pub(crate) timeline: Option<Timeline>,
    pub(crate) pacer: Option<Pacer>,
    pub(crate) start: Option<Instant>,
    pub(crate) scheduled: u64,
    pub(crate) warnings: Vec<InputWarning>,
    pub(crate) input_error: Option<InputError>,
    /// Reused: the permits of the request being dispatched.
    slots: Vec<Option<OwnedSemaphorePermit>>,
    /// The precise timer for the last stretch before a due time, started
    /// on the first wait (`Some(None)`: it could not be started).
    alarm: Option<Option<Alarm>>,
}

/// What one step of the loop came to.
enum Step {
    /// On to the next item.
    Next,
    /// Scheduling is over.
    Stop(StopReason),
}

impl Scheduler {
    pub(crate) fn new(
        config: Arc<Config>,
        recorder: Recorder,
        monitor: &super::Monitor,
        queues: Vec<async_channel::Sender<Job>>,
    ) -> Scheduler {
        Scheduler {
            timeline: match config.mode.speed() {
                Speed::Factor(f) => Some(Timeline::new(f, config.max_gap)),
                Speed::Max => None,
            },
            pacer: config.rate.map(Pacer::new),
            config,
            recorder,
            start_cell: monitor.start.clone(),
            permits: monitor.permits.clone(),
            admission: monitor.slots(),
            queues,
            start: None,
            scheduled: 0,
            warnings: Vec::new(),
            input_error: None,
            slots: Vec::new(),
            alarm: None,
        }
    }

    /// Schedules until the input ends, a limit is reached, or `stop`
    /// completes. `stop` is looked at in one place: around each step, which
    /// every wait (for the input, the due time, the rate limit, a slot)
    /// is part of. A step cut short drops the item it held and the slots it
    /// took.
    pub(crate) async fn run<S: ItemSource>(
        &mut self,
        source: &mut S,
        mut stop: Pin<&mut (impl Future<Output = ()> + Send)>,
    ) -> StopReason {
        loop {
            let step = tokio::select! {
                biased;
                _ = stop.as_mut() => None,
                step = self.step(source) => Some(step),
            };
            match step {
                Some(Step::Next) => {}
                Some(Step::Stop(reason)) => return reason,
                None => {
                    self.slots.clear();
                    return StopReason::Interrupted;
                }
            }
        }
    }

    /// Takes one item and deals with it.
    async fn step<S: ItemSource>(&mut self, source: &mut S) -> Step {
        let Some(item) = source.next_item().await else {
            return Step::Stop(StopReason::EndOfInput);
        };
        let (ts_ns, pass, req) = match item {
            Item::Tally {
                sampled_out,
                filtered_out,
                skipped,
            } => {
                self.recorder.record(Entry::LeftOut(LeftOut {
                    sampled_out,
                    filtered_out,
                    skipped,
                }));
                return Step::Next;
            }
            Item::Warning(w) => {
                self.warnings.push(w);
                return Step::Next;
            }
            Item::Failed(e) => {
                self.input_error = Some(e);
                return Step::Stop(StopReason::InputFailed);
            }
            Item::Request {
                ts_ns,
                wire_ns,
                pass,
                req,
                recorded,
            } => (ts_ns, pass, Some((req, wire_ns, recorded))),
            Item::InvalidHost { ts_ns, pass } => (ts_ns, pass, None),
        };
        let start = *self.start.get_or_insert_with(|| {
            let now = Instant::now();
            let _ = self.start_cell.set(now);
            now
        });
        // When is it due?
        let due = match self.timeline.as_mut() {
            Some(timeline) => {
                let offset = timeline.next(ts_ns, pass);
                if self.config.duration.is_some_and(|d| offset >= d) {
                    return Step::Stop(StopReason::Duration);
                }
                if self.alarm.is_none() && !self.config.spin.is_zero() {
                    self.alarm = Some(Alarm::start());
                }
                let alarm = self.alarm.as_ref().and_then(Option::as_ref);
                wait_precisely(start + offset, self.config.spin, alarm).await;
                Some(offset)
            }
            None => {
                if self.config.duration.is_some_and(|d| start.elapsed() >= d) {
                    return Step::Stop(StopReason::Duration);
                }
                None
            }
        };
        // The rate limit.
        let mut admitted = None;
        if let Some(pacer) = &self.pacer {
            if pacer.admit().await {
                admitted = Some(start.elapsed());
            } else {
                self.recorder.record(Entry::DropAll(DropCause::RateLimit));
                return self.counted();
            }
        }
        // Real time: the due time. Max speed: when the rate limit let it
        // through (so waiting for a permit counts as latency), else when
        // the permits were there (a closed loop has no other intent).
        let Some((req, wire_ns, recorded)) = req else {
            self.admission.settle();
            let intended = due.or(admitted).unwrap_or_else(|| start.elapsed());
            for target in 0..self.queues.len() {
                self.recorder.record(Entry::Outcome(Outcome {
                    target,
                    intended,
                    sent: intended,
                    done: intended,
                    result: Err(ErrorKind::InvalidHost),
                    bytes_sent: 0,
                    bytes_received: 0,
                }));
            }
            return self.counted();
        };
        // A permit per target: taken if free in real time, waited for
        // with --speed max.
        self.acquire(recorded.as_deref()).await;
        // Settled once its slots are taken (or it is dropped without),
        // so a producer never sees the slot free and nothing ahead.
        self.admission.settle();
        if due.is_none() && self.config.duration.is_some_and(|d| start.elapsed() >= d) {
            self.slots.clear();
            return Step::Stop(StopReason::Duration);
        }
        let intended = due.or(admitted).unwrap_or_else(|| start.elapsed());
        self.dispatch(&req, wire_ns, recorded.as_ref(), intended, start);
        self.counted()
    }

    /// Takes a permit per target into `slots` (`None`: dropped, recorded).
    /// A target the comparison does not send this request to (the
    /// calibration copy, past its requests) gets none, and no drop.
    async fn acquire(&mut self, recorded: Option<&Recorded>) {
        let wait = self.config.mode.waits_for_slots();
        self.slots.clear();
        for target in 0..self.queues.len() {
            if let Some(c) = &self.config.compare {
                if !c.sends_to(target, recorded) {
                    self.slots.push(None);
                    continue;
                }
            }
            let sem = self.permits[target].clone();
            let permit = if wait {
                sem.acquire_owned().await.ok()
            } else {
                sem.try_acquire_owned().ok()
            };
            if permit.is_none() {
                self.recorder
                    .record(Entry::Drop(target, DropCause::Concurrency));
            }
            self.slots.push(permit);
        }
    }

    /// Counts a scheduled request; stops when `--limit` is reached.
    fn counted(&mut self) -> Step {
        self.scheduled += 1;
        if self.config.limit.is_some_and(|l| self.scheduled >= l) {
            Step::Stop(StopReason::Limit)
        } else {
            Step::Next
        }
    }

    /// Hands the request to every target that has a permit in `slots`.
    fn dispatch(
        &mut self,
        req: &Arc<Prepared>,
        wire_ns: u64,
        recorded: Option<&Arc<Recorded>>,
        intended: Duration,
        start: Instant,
    ) {
        for (target, slot) in self.slots.drain(..).enumerate() {
            let Some(permit) = slot else { continue };
            let job = Job {
                req: req.clone(),
                recorded: recorded.cloned(),
                wire_ns,
                intended,
                start,
                _permit: permit,
            };
            // A queue holds as many jobs as the target has slots, and this
            // job holds one: never full. Closed only once scheduling ended.
            if self.queues[target].try_send(job).is_err() {
                self.recorder
                    .record(Entry::Drop(target, DropCause::Concurrency));
            }
        }
    }
}
