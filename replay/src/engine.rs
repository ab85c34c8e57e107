//! The replay engine: one scheduler feeding per-target senders.
//!
//! ```text
//!  input thread                     scheduler task                     per target
//!  ┌──────────────────────┐ bounded ┌──────────────────────────┐ bounded ┌──────────────────┐
//!  │ Input (merge, window)│ pipe    │ Timeline / speed         │ queue   │ --concurrency    │
//!  │ → Sampler            │ ──────▶ │ → wait_precisely         │ ──────▶ │ workers, one     │
//!  │ → Rewriter (Prepared)│  Item   │   (sleep, then alarm)    │  Job    │ Session each     │
//!  │ → loops              │         │ → Pacer (--rate)         │         │ → Stats          │
//!  │                      │         │ → permit per target      │         │                  │
//!  └──────────────────────┘         └──────────────────────────┘         └──────────────────┘
//! ```
//!
//! The parts are composed, not copied per combination: the [`Feed`] turns
//! exchanges into [`Item`]s (sampling, rewriting, loops); the scheduler asks
//! the [`Timeline`] when an item is due (or takes it at once with
//! `--speed max`), waits, asks the [`Pacer`] when there is a rate limit, and
//! hands one [`Job`] per target to that target's workers.
//!
//! **Cheap handoffs.** The scheduler is a task of the runtime, so a job
//! handed to a worker and a permit handed back are wakeups between tasks,
//! not between threads. Items cross from the input thread in batches (see
//! [`Threaded`]): at full speed the input thread is woken once per few
//! hundred items, not per item. Each target's workers share one job queue
//! that wakes exactly one idle worker per job.
//!
//! **Bounded in flight.** Each target has a semaphore of `--concurrency`
//! permits; a job carries its permit until its response is read or it
//! fails. In real-time replay a target with no free permit misses that
//! request (counted as [`DropCause::Concurrency`]): a dead or slow target
//! never grows memory nor delays the other targets. With `--speed max` the
//! scheduler waits for a permit instead (so the slowest target sets the
//! pace).
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

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use shadowtap_format::Exchange;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{ClientError, ClientOptions, Endpoint, Reply, Session, Target};
use crate::host::{ExtraHeader, HostError, HostLine, HostMode, Prepared, Rewriter, Unsendable};
use crate::input::{Input, InputError, InputOptions, InputWarning};
use crate::sample::Sampler;
use crate::schedule::{wait_precisely, Alarm, Pacer, RateLimit, Speed, Timeline, SPIN_MARGIN};
use crate::stats::{DropCause, ErrorKind, Outcome, SkipReason, Stats};

/// How long in-flight requests may still finish after a shutdown, unless
/// the configuration says otherwise ([`Config::interrupt_grace`]).
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Items buffered between the input thread and the scheduler.
const FEED_CAPACITY: usize = 1024;

/// Each half of the input pipe (see [`Threaded`]).
const FEED_HALF: usize = FEED_CAPACITY / 2;

/// Everything a replay needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// The logs, merged by time.
    pub inputs: Vec<PathBuf>,
    /// The per-file reorder window.
    pub input: InputOptions,
    /// The targets; each receives the whole sampled stream.
    pub targets: Vec<Target>,
    /// Replay speed.
    pub speed: Speed,
    /// Longest gap of capture time kept (`--max-gap`).
    pub max_gap: Option<Duration>,
    /// Passes over the input; 0 repeats until `--duration`, `--limit` or a
    /// signal stops the replay.
    pub loops: u32,
    /// Stop scheduling after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests (each sent to every target).
    pub limit: Option<u64>,
    /// Which requests are replayed.
    pub sampler: Sampler,
    /// `--rate`.
    pub rate: Option<RateLimit>,
    /// Requests in flight per target.
    pub concurrency: usize,
    /// Timeout and TLS settings.
    pub client: ClientOptions,
    /// Which Host is sent.
    pub host_mode: HostMode,
    /// `--header`s.
    pub headers: Vec<ExtraHeader>,
    /// Live mirroring (`tee`): requests are due as they arrive, a target
    /// without a free slot drops the request (counted) instead of holding
    /// back the others, and the mirror delay (wire → send) is measured.
    /// Use with [`Speed::Max`].
    pub live: bool,
    /// How long before a due time the scheduler stops sleeping on tokio's
    /// (millisecond) timer and waits with a precise one instead
    /// ([`SPIN_MARGIN`]; zero in paused-clock tests: tokio's timer alone).
    pub spin: Duration,
    /// After the shutdown future completed, how long requests in flight may
    /// still finish before they are abandoned ([`INTERRUPT_GRACE`] by
    /// default; `replay` gives them `--timeout`, `tee`, whose shutdown
    /// future already includes its drain, none).
    pub interrupt_grace: Duration,
}

impl Config {
    /// A configuration with the defaults for everything but the inputs and
    /// targets.
    pub fn new(inputs: Vec<PathBuf>, targets: Vec<Target>) -> Config {
        Config {
            inputs,
            input: InputOptions::default(),
            targets,
            speed: Speed::default(),
            max_gap: None,
            loops: 1,
            duration: None,
            limit: None,
            sampler: Sampler::all(),
            rate: None,
            concurrency: 64,
            client: ClientOptions::default(),
            host_mode: HostMode::default(),
            headers: Vec::new(),
            live: false,
            spin: SPIN_MARGIN,
            interrupt_grace: INTERRUPT_GRACE,
        }
    }
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No input file.
    #[error("no input log given")]
    NoInput,
    /// No target.
    #[error("no --target given")]
    NoTarget,
    /// `--concurrency 0`.
    #[error("--concurrency must be at least 1")]
    ZeroConcurrency,
    /// A target's authority does not go through the `-shadow` rule.
    #[error("target {url}: its Host does not take the -shadow suffix (use --no-shadow-suffix?)")]
    TargetHost {
        /// The target URL.
        url: String,
        /// The rule's error.
        #[source]
        source: HostError,
    },
    /// A target cannot be resolved or set up.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An input log cannot be opened.
    #[error(transparent)]
    Input(#[from] InputError),
}

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

/// One element of the stream the scheduler consumes.
#[derive(Debug)]
pub enum Item {
    /// A request to send, captured at `ts_ns`, in loop `pass`.
    Request {
        /// Capture time of its first byte.
        ts_ns: u64,
        /// Capture time of its last byte (for the mirror delay).
        wire_ns: u64,
        /// Loop number, from 0.
        pass: u32,
        /// The bytes to send.
        req: Arc<Prepared>,
    },
    /// A request whose captured Host the `-shadow` rule rejects: an
    /// `invalid_host` error for every target, nothing sent.
    InvalidHost {
        /// Capture time of its first byte.
        ts_ns: u64,
        /// Loop number.
        pass: u32,
    },
    /// Exchanges left out since the previous item.
    Tally {
        /// By sampling.
        sampled_out: u64,
        /// Not replayable, by reason.
        skipped: Vec<(SkipReason, u64)>,
    },
    /// Something to tell the user.
    Warning(InputWarning),
    /// The input cannot be read further.
    Failed(InputError),
}

/// A source of exchanges that can be read several times (loops).
pub trait Exchanges {
    /// Starts pass `pass` (0 is the first; the source may already be open
    /// for it).
    fn start_pass(&mut self, pass: u32) -> Result<(), InputError>;
    /// The next exchange of this pass and its file index.
    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError>;
    /// Warnings since the last call.
    fn take_warnings(&mut self) -> Vec<InputWarning>;
}

/// Log files, re-opened for each loop.
pub struct Files {
    paths: Vec<PathBuf>,
    opts: InputOptions,
    input: Option<Input>,
}

impl Files {
    /// Opens the files (so a missing file fails before anything is sent).
    pub fn open(paths: Vec<PathBuf>, opts: InputOptions) -> Result<Files, InputError> {
        let input = Input::open(&paths, opts)?;
        Ok(Files {
            paths,
            opts,
            input: Some(input),
        })
    }
}

impl Exchanges for Files {
    fn start_pass(&mut self, pass: u32) -> Result<(), InputError> {
        if pass > 0 || self.input.is_none() {
            self.input = Some(Input::open(&self.paths, self.opts)?);
        }
        Ok(())
    }

    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        match self.input.as_mut() {
            Some(i) => i.next_exchange(),
            None => Ok(None),
        }
    }

    fn take_warnings(&mut self) -> Vec<InputWarning> {
        self.input
            .as_mut()
            .map(Input::take_warnings)
            .unwrap_or_default()
    }
}

/// Exchanges held in memory (tests, demos), with their file indexes.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    exchanges: Vec<(usize, Exchange)>,
    pos: usize,
}

impl Memory {
    /// Exchanges in the order a merged input would yield them.
    pub fn new(exchanges: Vec<(usize, Exchange)>) -> Memory {
        Memory { exchanges, pos: 0 }
    }
}

impl Exchanges for Memory {
    fn start_pass(&mut self, _pass: u32) -> Result<(), InputError> {
        self.pos = 0;
        Ok(())
    }

    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        let item = self.exchanges.get(self.pos).cloned();
        self.pos += 1;
        Ok(item)
    }

    fn take_warnings(&mut self) -> Vec<InputWarning> {
        Vec::new()
    }
}

/// Exchanges → [`Item`]s: sampling, rewriting, loops. A plain iterator, run
/// on the input thread (or inline in tests). Counters of what was left out
/// ([`Item::Tally`]) go out just before the next request and at the end, so
/// the scheduler counts exactly what it got to; when mirroring live they are
/// counted at once instead (see `Live`).
pub struct Feed<E> {
    src: E,
    sampler: Sampler,
    rewriter: Rewriter,
    loops: u32,
    pass: u32,
    /// Requests produced in the current pass.
    produced: u64,
    sampled_out: u64,
    skipped: Vec<(SkipReason, u64)>,
    pending: VecDeque<Item>,
    started: bool,
    done: bool,
    /// Live mirroring (`tee`).
    live: Option<Live>,
}

/// What a feed does differently when mirroring live.
struct Live {
    /// The run's counters. What is left out (sampled out, skipped) is
    /// counted here at once, not handed to the scheduler, so a run stopped
    /// with requests still queued has counted every request the feed saw.
    stats: Arc<Mutex<Stats>>,
    /// Each target's free slots, when there is no rate limit and no
    /// request limit: when no target has one, a request is dropped (counted
    /// for every target, as the scheduler would) before it is rewritten, so
    /// a saturated mirror does not spend CPU preparing requests it cannot
    /// send.
    permits: Option<FreeSlots>,
}

impl Live {
    /// True (and the drops counted) when every target is full.
    fn drop_if_full(&self) -> bool {
        match &self.permits {
            Some(slots) if !slots.any() => {}
            _ => return false,
        }
        lock(&self.stats).record_drop_all(DropCause::Concurrency);
        true
    }
}

/// A view of each target's free slots (`--concurrency` less the requests
/// it holds), for a live producer that decides whether a request is worth
/// handing over at all ([`Engine::free_slots`]).
///
/// A slot is taken when the scheduler hands a request to the target's
/// workers and given back when the worker is done with it. Reading is one
/// atomic load per target: no lock, so a producer at normal priority never
/// waits for mirror threads that may run at idle priority.
///
/// Between the producer's look and the scheduler taking the slot, a request
/// travels through the producer's queue and the feed: a burst read at once
/// would all see the same free slot. So the producer [`admit`]s a request
/// (counted as *ahead*: handed over, not yet at the scheduler), and a target
/// has room only for as many requests as it has free slots beyond those
/// ahead. The engine settles each request it takes to the targets or leaves
/// out; a request the producer could not hand over after all is
/// [`withdraw`]n.
///
/// [`admit`]: FreeSlots::admit
/// [`withdraw`]: FreeSlots::withdraw
#[derive(Clone, Debug)]
pub struct FreeSlots {
    permits: Arc<Vec<Arc<Semaphore>>>,
    ahead: Arc<AtomicUsize>,
}

impl FreeSlots {
    /// Whether some target has a free slot now.
    pub fn any(&self) -> bool {
        self.permits.iter().any(|p| p.available_permits() > 0)
    }

    /// True, and the request counted ahead, when some target has a free
    /// slot for it beyond the requests already ahead of it. For one
    /// producer: the look and the count are not one atomic step.
    pub fn admit(&self) -> bool {
        let ahead = self.ahead.load(Ordering::Acquire);
        if self.permits.iter().any(|p| p.available_permits() > ahead) {
            self.ahead.fetch_add(1, Ordering::AcqRel);
            true
        } else {
            false
        }
    }

    /// An admitted request that was not handed over after all (its queue
    /// was full or closed).
    pub fn withdraw(&self) {
        self.settle();
    }

    /// Requests admitted and not yet settled.
    pub fn ahead(&self) -> usize {
        self.ahead.load(Ordering::Acquire)
    }

    /// One request ahead reached the scheduler or was left out. Saturating:
    /// without a producer that admits, nothing is ahead and this does
    /// nothing.
    fn settle(&self) {
        let _ = self
            .ahead
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

impl<E: Exchanges> Feed<E> {
    /// A feed over `src` for `loops` passes (0: endless).
    pub fn new(src: E, sampler: Sampler, rewriter: Rewriter, loops: u32) -> Feed<E> {
        Feed {
            src,
            sampler,
            rewriter,
            loops,
            pass: 0,
            produced: 0,
            sampled_out: 0,
            skipped: Vec::new(),
            pending: VecDeque::new(),
            started: false,
            done: false,
            live: None,
        }
    }

    fn push_tally(&mut self) {
        if self.sampled_out == 0 && self.skipped.is_empty() {
            return;
        }
        if let Some(live) = &self.live {
            lock(&live.stats).record_left_out(std::mem::take(&mut self.sampled_out), &self.skipped);
            self.skipped.clear();
            return;
        }
        self.pending.push_back(Item::Tally {
            sampled_out: std::mem::take(&mut self.sampled_out),
            skipped: std::mem::take(&mut self.skipped),
        });
    }

    fn fail(&mut self, e: InputError) {
        self.done = true;
        self.push_tally();
        self.pending.push_back(Item::Failed(e));
    }

    /// Reads until at least one item is pending or the input is done.
    fn fill(&mut self) {
        if !self.started {
            self.started = true;
            if let Err(e) = self.src.start_pass(0) {
                return self.fail(e);
            }
        }
        while !self.done && self.pending.is_empty() {
            let next = match self.src.next_exchange() {
                Ok(n) => n,
                Err(e) => return self.fail(e),
            };
            for w in self.src.take_warnings() {
                self.pending.push_back(Item::Warning(w));
            }
            let Some(n) = next else {
                // End of a pass. A pass that produced nothing means every
                // pass would (sampling is deterministic): stop even when
                // looping forever.
                let last = self.loops != 0 && self.pass + 1 >= self.loops;
                if last || self.produced == 0 {
                    self.done = true;
                    self.push_tally();
                    return;
                }
                self.pass += 1;
                self.produced = 0;
                if let Err(e) = self.src.start_pass(self.pass) {
                    return self.fail(e);
                }
                continue;
            };
            match self.convert(n) {
                Some(item) => {
                    self.produced += 1;
                    self.push_tally();
                    self.pending.push_back(item);
                }
                None if self.live.is_some() => self.push_tally(),
                None => {}
            }
        }
    }

    fn skip(&mut self, reason: SkipReason) {
        match self.skipped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((reason, 1)),
        }
    }

    /// One exchange → an item, or `None` when it is left out (counted).
    fn convert(&mut self, (file, mut ex): (usize, Exchange)) -> Option<Item> {
        if !self.sampler.keep(file, &ex) {
            self.sampled_out += 1;
            self.settle_live();
            return None;
        }
        if self.live.as_ref().is_some_and(Live::drop_if_full) {
            self.settle_live();
            return None;
        }
        let ts_ns = ex.req_first_ns;
        let wire_ns = ex.req_last_ns;
        match self.rewriter.prepare(&mut ex) {
            Ok(p) => Some(Item::Request {
                ts_ns,
                wire_ns,
                pass: self.pass,
                req: Arc::new(p),
            }),
            Err(Unsendable::Host(_)) => Some(Item::InvalidHost {
                ts_ns,
                pass: self.pass,
            }),
            Err(Unsendable::Skip(reason)) => {
                self.skip(reason);
                self.settle_live();
                None
            }
        }
    }

    /// A request that came through the producer's admission was left out
    /// (see [`FreeSlots::admit`]).
    fn settle_live(&self) {
        if let Some(slots) = self.live.as_ref().and_then(|l| l.permits.as_ref()) {
            slots.settle();
        }
    }
}

impl<E: Exchanges> Iterator for Feed<E> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.pending.is_empty() {
            self.fill();
        }
        self.pending.pop_front()
    }
}

/// Where the scheduler gets its items.
pub trait Source: Send {
    /// The next item, `None` at the end.
    fn next_item(&mut self) -> impl Future<Output = Option<Item>> + Send;
}

/// A feed run inline (no thread): for tests under a paused clock, where a
/// thread would let the clock jump while the scheduler waits for it.
pub struct Inline<I>(pub I);

impl<I: Iterator<Item = Item> + Send> Source for Inline<I> {
    async fn next_item(&mut self) -> Option<Item> {
        self.0.next()
    }
}

/// A feed run on its own thread (file reading and decompression block).
///
/// Items cross to the scheduler through a [`Pipe`] of two halves: the input
/// thread fills the shared half, the scheduler swaps it out whole when its
/// own half is empty. The input thread is woken only when the scheduler has
/// taken everything (not once per item), and the scheduler only when it
/// found nothing: with `--speed max` a handoff costs no thread wakeup most
/// of the time. An item is handed over as soon as it is made, so a live
/// feed (`tee`) gets no extra delay.
pub struct Threaded {
    pipe: Arc<Pipe>,
    /// The scheduler's half.
    local: VecDeque<Item>,
}

/// Items shared between the input thread and the scheduler.
struct Pipe {
    state: Mutex<PipeState>,
    /// Signalled when the input thread may push again.
    room: Condvar,
}

struct PipeState {
    items: VecDeque<Item>,
    /// The scheduler, when it found the pipe empty.
    waker: Option<Waker>,
    /// The input thread waits for room.
    producer_waiting: bool,
    /// The input thread finished (or died).
    done: bool,
    /// The scheduler went away.
    closed: bool,
}

impl Pipe {
    /// Hands `item` over, waiting while the shared half is full. False when
    /// the scheduler went away.
    fn push(&self, item: Item) -> bool {
        let mut s = lock(&self.state);
        while s.items.len() >= FEED_HALF && !s.closed {
            s.producer_waiting = true;
            s = self.room.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        if s.closed {
            return false;
        }
        s.items.push_back(item);
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        true
    }
}

/// Marks the pipe done when the input thread ends, even by a panic.
struct PipeEnd(Arc<Pipe>);

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = lock(&self.0.state);
        s.done = true;
        let waker = s.waker.take();
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Threaded {
    /// Runs `feed` on a new thread, `FEED_CAPACITY` items ahead at most.
    pub fn spawn<I: Iterator<Item = Item> + Send + 'static>(feed: I) -> std::io::Result<Threaded> {
        let pipe = Arc::new(Pipe {
            state: Mutex::new(PipeState {
                items: VecDeque::with_capacity(FEED_HALF),
                waker: None,
                producer_waiting: false,
                done: false,
                closed: false,
            }),
            room: Condvar::new(),
        });
        let end = PipeEnd(pipe.clone());
        std::thread::Builder::new()
            .name("shadowtap-input".into())
            .spawn(move || {
                for item in feed {
                    if !end.0.push(item) {
                        // The scheduler stopped.
                        break;
                    }
                }
                drop(end);
            })?;
        Ok(Threaded {
            pipe,
            local: VecDeque::with_capacity(FEED_HALF),
        })
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if let Some(item) = self.local.pop_front() {
            return Poll::Ready(Some(item));
        }
        let mut s = lock(&self.pipe.state);
        if !s.items.is_empty() {
            std::mem::swap(&mut s.items, &mut self.local);
            let wake_producer = std::mem::take(&mut s.producer_waiting);
            drop(s);
            if wake_producer {
                self.pipe.room.notify_one();
            }
            return Poll::Ready(self.local.pop_front());
        }
        if s.done {
            return Poll::Ready(None);
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Threaded {
    fn drop(&mut self) {
        let mut s = lock(&self.pipe.state);
        s.closed = true;
        let left = std::mem::take(&mut s.items);
        drop(s);
        self.pipe.room.notify_one();
        drop(left);
    }
}

impl Source for Threaded {
    async fn next_item(&mut self) -> Option<Item> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }
}

/// Sends one prepared request and reads its response: [`Session`] over the
/// network, or a fake in tests.
pub trait Transport: Send + 'static {
    /// Sends the concatenation of `parts`; `method` frames the response;
    /// `keep_alive` false: the request does not let its connection carry
    /// another one ([`Prepared::keep_alive`]).
    fn send(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
    ) -> impl Future<Output = Reply> + Send;
}

impl Transport for Session {
    fn send(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
    ) -> impl Future<Output = Reply> + Send {
        Session::send(self, parts, method, keep_alive)
    }
}

/// Makes one [`Transport`] per worker.
pub trait Transports {
    /// The transport type.
    type T: Transport;
    /// A transport for a worker of target number `target`.
    fn make(&self, target: usize) -> Self::T;
}

/// The network: one resolved [`Endpoint`] per target.
#[derive(Debug)]
pub struct Network {
    endpoints: Vec<Arc<Endpoint>>,
}

impl Network {
    /// Resolves the targets and sets up TLS.
    pub async fn resolve(targets: &[Target], opts: ClientOptions) -> Result<Network, ClientError> {
        let mut endpoints = Vec::new();
        for t in targets {
            endpoints.push(Arc::new(Endpoint::new(t.clone(), opts).await?));
        }
        Ok(Network { endpoints })
    }
}

impl Transports for Network {
    type T = Session;
    fn make(&self, target: usize) -> Session {
        Session::new(self.endpoints[target].clone())
    }
}

/// The jobs of one target, taken by whichever of its workers is idle.
///
/// One lock per push and per pop, and one task wakeup per job: a push wakes
/// the worker that has waited longest (so the connections take turns, as
/// with a fair queue). A woken worker may find the job already taken by a
/// worker that was not waiting; it then waits again.
struct JobQueue<T> {
    state: Mutex<QueueState<T>>,
}

struct QueueState<T> {
    jobs: VecDeque<T>,
    /// At most this many jobs wait (one per permit: never reached).
    capacity: usize,
    /// Workers waiting for a job, longest first.
    waiting: VecDeque<usize>,
    /// Their wakers, by worker number (`Some` while in `waiting`).
    wakers: Vec<Option<Waker>>,
    /// The scheduler stopped: workers finish what is queued, then exit.
    closed: bool,
}

impl<T> JobQueue<T> {
    fn new(workers: usize, capacity: usize) -> JobQueue<T> {
        JobQueue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::with_capacity(capacity),
                capacity,
                waiting: VecDeque::with_capacity(workers),
                wakers: (0..workers).map(|_| None).collect(),
                closed: false,
            }),
        }
    }

    /// Queues a job for the next idle worker; gives it back when the queue
    /// is full or closed.
    fn push(&self, job: T) -> Result<(), T> {
        let mut s = lock(&self.state);
        if s.closed || s.jobs.len() >= s.capacity {
            return Err(job);
        }
        s.jobs.push_back(job);
        let mut waker = None;
        while let Some(w) = s.waiting.pop_front() {
            if let Some(wk) = s.wakers.get_mut(w).and_then(Option::take) {
                waker = Some(wk);
                break;
            }
        }
        drop(s);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Drops every job still queued; returns how many there were.
    fn clear(&self) -> u64 {
        let jobs = std::mem::take(&mut lock(&self.state).jobs);
        jobs.len() as u64
    }

    /// No more jobs: waiting workers are woken to exit.
    fn close(&self) {
        let mut s = lock(&self.state);
        s.closed = true;
        s.waiting.clear();
        let wakers: Vec<Waker> = s.wakers.iter_mut().filter_map(Option::take).collect();
        drop(s);
        for w in wakers {
            w.wake();
        }
    }

    /// The next job for worker `worker`, `None` once closed and empty.
    fn poll_pop(&self, worker: usize, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.state);
        if let Some(job) = s.jobs.pop_front() {
            return Poll::Ready(Some(job));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        let Some(slot) = s.wakers.get_mut(worker) else {
            return Poll::Ready(None);
        };
        match slot {
            Some(w) => {
                if !w.will_wake(cx.waker()) {
                    w.clone_from(cx.waker());
                }
            }
            None => {
                *slot = Some(cx.waker().clone());
                s.waiting.push_back(worker);
            }
        }
        Poll::Pending
    }

    async fn pop(&self, worker: usize) -> Option<T> {
        std::future::poll_fn(|cx| self.poll_pop(worker, cx)).await
    }
}

/// One request for one target.
#[derive(Debug)]
pub struct Job {
    req: Arc<Prepared>,
    wire_ns: u64,
    intended: Duration,
    start: Instant,
    _permit: OwnedSemaphorePermit,
}

/// A live view of a running replay (progress line, interval logs).
#[derive(Clone, Debug)]
pub struct Monitor {
    stats: Arc<Mutex<Stats>>,
    start: Arc<OnceLock<Instant>>,
    permits: Arc<Vec<Arc<Semaphore>>>,
    /// Requests a live producer admitted that the scheduler has not taken
    /// yet (see [`FreeSlots::admit`]).
    ahead: Arc<AtomicUsize>,
    concurrency: usize,
}

/// Counters for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests finished (response or error), all targets.
    pub sent: u64,
    /// Responses read, all targets.
    pub completed: u64,
    /// Errors, all targets.
    pub errors: u64,
    /// Drops, all targets.
    pub dropped: u64,
    /// Requests in flight, all targets.
    pub in_flight: u64,
    /// Time since the first request.
    pub elapsed: Duration,
}

impl Monitor {
    /// The view of the targets' free slots a live producer admits by.
    fn slots(&self) -> FreeSlots {
        FreeSlots {
            permits: self.permits.clone(),
            ahead: self.ahead.clone(),
        }
    }

    /// A snapshot of the counters.
    pub fn progress(&self) -> Progress {
        let s = lock(&self.stats);
        let in_flight = self
            .permits
            .iter()
            .map(|p| self.concurrency.saturating_sub(p.available_permits()) as u64)
            .sum();
        Progress {
            sent: s.sent(),
            completed: s.completed(),
            errors: s.errors(),
            dropped: s.dropped(),
            in_flight,
            elapsed: self.start.get().map_or(Duration::ZERO, |t| t.elapsed()),
        }
    }

    /// The instant of the first request, once there was one.
    pub fn start(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    /// Runs `f` on the live stats (e.g. to write an interval of
    /// `--hdr-log` after [`Stats::enable_intervals`]).
    pub fn with_stats<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        f(&mut lock(&self.stats))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked mid-record leaves the counters usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A prepared replay: targets resolved, inputs checked.
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
    /// Checks the configuration and resolves the targets. Nothing is sent.
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
        let files = Files::open(self.config.inputs.clone(), self.config.input)?;
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
    /// Checks the configuration; requests go through `transports`.
    pub fn with_transports(config: Config, transports: X) -> Result<Engine<X>, EngineError> {
        if config.targets.is_empty() {
            return Err(EngineError::NoTarget);
        }
        if config.concurrency == 0 {
            return Err(EngineError::ZeroConcurrency);
        }
        let host_from_target =
            Rewriter::new(config.host_mode, config.headers.clone()).host_from_target();
        let mut host_lines = Vec::new();
        for t in &config.targets {
            let line = if host_from_target {
                config
                    .host_mode
                    .target_host_line(t.authority())
                    .map_err(|source| EngineError::TargetHost {
                        url: t.url().to_owned(),
                        source,
                    })?
            } else {
                None
            };
            host_lines.push(line);
        }
        let names: Vec<String> = config.targets.iter().map(|t| t.url().to_owned()).collect();
        let permits = (0..config.targets.len())
            .map(|_| Arc::new(Semaphore::new(config.concurrency)))
            .collect();
        let monitor = Monitor {
            stats: Arc::new(Mutex::new(Stats::new(&names))),
            start: Arc::new(OnceLock::new()),
            permits: Arc::new(permits),
            ahead: Arc::new(AtomicUsize::new(0)),
            concurrency: config.concurrency,
        };
        Ok(Engine {
            config,
            transports,
            host_lines: Arc::new(host_lines),
            monitor,
        })
    }

    /// A live view of the run.
    pub fn monitor(&self) -> Monitor {
        self.monitor.clone()
    }

    /// The feed over exchanges `src` for this configuration.
    pub fn feed<E: Exchanges>(&self, src: E) -> Feed<E> {
        let mut feed = Feed::new(
            src,
            self.config.sampler.clone(),
            Rewriter::new(self.config.host_mode, self.config.headers.clone()),
            self.config.loops,
        );
        let c = &self.config;
        if c.live {
            feed.live = Some(Live {
                stats: self.monitor.stats.clone(),
                permits: (c.rate.is_none() && c.limit.is_none()).then(|| self.monitor.slots()),
            });
        }
        feed
    }

    /// When mirroring live with no rate limit, no request limit and no
    /// sampling, every request goes to every target that has a free slot,
    /// and one that finds none is dropped ([`DropCause::Concurrency`]): the
    /// producer can then look before handing a request over, and drop it
    /// (and count it) itself when no target has one. `None` otherwise:
    /// a request may then be sampled out, or wait for the rate limit, or end
    /// the run, whatever the slots.
    pub fn free_slots(&self) -> Option<FreeSlots> {
        let c = &self.config;
        (c.live && c.rate.is_none() && c.limit.is_none() && c.sampler.keeps_all())
            .then(|| self.monitor.slots())
    }

    /// Replays the items of `source` until its end (or `shutdown`).
    ///
    /// The scheduler runs as a task of the runtime (not in the caller's
    /// future, which may be on a thread outside the runtime's workers), so
    /// handing a job to a worker and a finished job's permit back to the
    /// scheduler are wakeups inside the runtime.
    pub async fn run<S: Source + 'static>(
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
    pub async fn run_until<S: Source + 'static>(
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
        let config = Arc::new(config);
        let (workers, queues) = spawn_workers(&config, &transports, &host_lines, &monitor);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut sched = Scheduler {
            timeline: match config.speed {
                Speed::Factor(f) => Some(Timeline::new(f, config.max_gap)),
                Speed::Max => None,
            },
            pacer: config.rate.map(Pacer::new),
            config,
            stats: monitor.stats.clone(),
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
        };
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
                    for h in &workers {
                        h.abort();
                    }
                    return RunOutcome {
                        stats: lock(&monitor.stats).clone(),
                        elapsed: Duration::ZERO,
                        stop: StopReason::Interrupted,
                        interrupted: true,
                        input_error: None,
                        warnings: Vec::new(),
                        scheduled: 0,
                        abandoned: monitor.progress().in_flight,
                    };
                }
            },
        };
        let Scheduler {
            start,
            scheduled,
            warnings,
            input_error,
            queues,
            ..
        } = sched;
        // The last requests finish; a shutdown meanwhile (or before) gives
        // them the grace period, an abort not even that.
        let aborts: Vec<_> = workers.iter().map(JoinHandle::abort_handle).collect();
        let mut all = std::pin::pin!(join_all(workers));
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
            abandoned = monitor.progress().in_flight;
            for a in &aborts {
                a.abort();
            }
            // Aborted workers end at once; each drops the request it held,
            // which counts it as unanswered.
            all.await;
            let mut stats = lock(&monitor.stats);
            for (target, q) in queues.iter().enumerate() {
                stats.record_drops(target, DropCause::Shutdown, q.clear());
            }
        }
        let end = Instant::now();
        let stats = lock(&monitor.stats).clone();
        RunOutcome {
            stats,
            elapsed: start.map_or(Duration::ZERO, |s| end.saturating_duration_since(s)),
            stop,
            interrupted,
            input_error,
            warnings,
            scheduled,
            abandoned,
        }
    }
}

/// Starts `--concurrency` workers per target; returns them and each
/// target's job queue.
fn spawn_workers<X: Transports>(
    config: &Config,
    transports: &X,
    host_lines: &Arc<Vec<Option<HostLine>>>,
    monitor: &Monitor,
) -> (Vec<JoinHandle<()>>, Vec<Arc<JobQueue<Job>>>) {
    let mut handles = Vec::new();
    let mut queues = Vec::new();
    let wall_anchor = config.live.then(|| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (Instant::now(), wall)
    });
    for target in 0..config.targets.len() {
        let queue = Arc::new(JobQueue::new(config.concurrency, config.concurrency));
        for id in 0..config.concurrency {
            let worker = Worker {
                id,
                target,
                transport: transports.make(target),
                host_lines: host_lines.clone(),
                stats: monitor.stats.clone(),
                queue: queue.clone(),
                wall_anchor,
            };
            handles.push(tokio::spawn(worker.run()));
        }
        queues.push(queue);
    }
    (handles, queues)
}

async fn join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// One connection slot of one target.
struct Worker<T> {
    /// Its number among the target's workers.
    id: usize,
    target: usize,
    transport: T,
    host_lines: Arc<Vec<Option<HostLine>>>,
    stats: Arc<Mutex<Stats>>,
    queue: Arc<JobQueue<Job>>,
    /// (monotonic, wall-clock ns) at the same moment, when the mirror delay
    /// is measured.
    wall_anchor: Option<(Instant, u64)>,
}

/// Counts a request as unanswered when it is dropped armed: its worker was
/// aborted (the grace period after a shutdown ended) while the request was
/// with the transport.
struct InFlight<'a> {
    stats: &'a Mutex<Stats>,
    target: usize,
    intended: Duration,
    sent: Duration,
    armed: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.stats).record_unanswered(self.target, self.intended, self.sent);
        }
    }
}

impl<T: Transport> Worker<T> {
    async fn run(mut self) {
        while let Some(job) = self.queue.pop(self.id).await {
            let mut in_flight = InFlight {
                stats: &self.stats,
                target: self.target,
                intended: job.intended,
                sent: Instant::now().saturating_duration_since(job.start),
                armed: true,
            };
            let host_line = self.host_lines.get(self.target).and_then(Option::as_ref);
            let reply = self
                .transport
                .send(
                    job.req.parts(host_line),
                    job.req.method(),
                    job.req.keep_alive(),
                )
                .await;
            in_flight.armed = false;
            drop(in_flight);
            let outcome = Outcome {
                target: self.target,
                intended: job.intended,
                sent: reply.started.saturating_duration_since(job.start),
                done: reply.done.saturating_duration_since(job.start),
                result: reply.result,
                bytes_sent: reply.bytes_sent,
                bytes_received: reply.bytes_received,
            };
            let mut stats = lock(&self.stats);
            if let Some((at, wall_ns)) = self.wall_anchor {
                // The send's wall-clock time, from one anchor pair taken at
                // start (the monotonic clock carries the rest).
                let sent_ns =
                    wall_ns + reply.started.saturating_duration_since(at).as_nanos() as u64;
                let delay = Duration::from_nanos(sent_ns.saturating_sub(job.wire_ns));
                stats.record_mirror_delay(self.target, delay);
            }
            stats.record(&outcome);
            if let Some(reason) = reply.tls_reason {
                stats.record_tls_reason(self.target, reason);
            }
            drop(stats);
            // The job (and its permit) is released only now.
            drop(job);
        }
    }
}

/// The scheduling loop's state.
struct Scheduler {
    config: Arc<Config>,
    stats: Arc<Mutex<Stats>>,
    start_cell: Arc<OnceLock<Instant>>,
    permits: Arc<Vec<Arc<Semaphore>>>,
    /// The producer's admissions, settled here as each request reaches the
    /// point where it takes its slots.
    admission: FreeSlots,
    queues: Vec<Arc<JobQueue<Job>>>,
    timeline: Option<Timeline>,
    pacer: Option<Pacer>,
    start: Option<Instant>,
    scheduled: u64,
    warnings: Vec<InputWarning>,
    input_error: Option<InputError>,
    /// Reused: the permits of the request being dispatched.
    slots: Vec<Option<OwnedSemaphorePermit>>,
    /// The precise timer for the last stretch before a due time, started
    /// on the first wait (`Some(None)`: it could not be started).
    alarm: Option<Option<Alarm>>,
}

/// Runs `fut` unless `stop` completes first (`None`).
async fn unless<F: Future>(
    stop: &mut Pin<&mut (impl Future<Output = ()> + ?Sized)>,
    fut: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        _ = stop.as_mut() => None,
        v = fut => Some(v),
    }
}

impl Scheduler {
    async fn run<S: Source>(
        &mut self,
        source: &mut S,
        mut stop: Pin<&mut (impl Future<Output = ()> + Send)>,
    ) -> StopReason {
        loop {
            let Some(item) = unless(&mut stop, source.next_item()).await else {
                return StopReason::Interrupted;
            };
            let Some(item) = item else {
                return StopReason::EndOfInput;
            };
            let (ts_ns, pass, req) = match item {
                Item::Tally {
                    sampled_out,
                    skipped,
                } => {
                    lock(&self.stats).record_left_out(sampled_out, &skipped);
                    continue;
                }
                Item::Warning(w) => {
                    self.warnings.push(w);
                    continue;
                }
                Item::Failed(e) => {
                    self.input_error = Some(e);
                    return StopReason::InputFailed;
                }
                Item::Request {
                    ts_ns,
                    wire_ns,
                    pass,
                    req,
                } => (ts_ns, pass, Some((req, wire_ns))),
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
                        return StopReason::Duration;
                    }
                    let deadline = start + offset;
                    if self.alarm.is_none() && !self.config.spin.is_zero() {
                        self.alarm = Some(Alarm::start());
                    }
                    let alarm = self.alarm.as_ref().and_then(Option::as_ref);
                    if unless(&mut stop, wait_precisely(deadline, self.config.spin, alarm))
                        .await
                        .is_none()
                    {
                        return StopReason::Interrupted;
                    }
                    Some(offset)
                }
                None => {
                    if self.config.duration.is_some_and(|d| start.elapsed() >= d) {
                        return StopReason::Duration;
                    }
                    None
                }
            };
            // The rate limit.
            let mut admitted = None;
            if let Some(pacer) = &self.pacer {
                match unless(&mut stop, pacer.admit()).await {
                    None => return StopReason::Interrupted,
                    Some(true) => admitted = Some(start.elapsed()),
                    Some(false) => {
                        lock(&self.stats).record_drop_all(DropCause::RateLimit);
                        if self.count_and_check_limit() {
                            return StopReason::Limit;
                        }
                        continue;
                    }
                }
            }
            let Some((req, wire_ns)) = req else {
                self.admission.settle();
                let intended = due.or(admitted).unwrap_or_else(|| start.elapsed());
                let mut s = lock(&self.stats);
                for target in 0..self.queues.len() {
                    s.record(&Outcome {
                        target,
                        intended,
                        sent: intended,
                        done: intended,
                        result: Err(ErrorKind::InvalidHost),
                        bytes_sent: 0,
                        bytes_received: 0,
                    });
                }
                drop(s);
                if self.count_and_check_limit() {
                    return StopReason::Limit;
                }
                continue;
            };
            // A permit per target: taken if free in real time, waited for
            // with --speed max.
            if !self.acquire(&mut stop).await {
                return StopReason::Interrupted;
            }
            // Settled once its slots are taken (or it is dropped without),
            // so a producer never sees the slot free and nothing ahead.
            self.admission.settle();
            if due.is_none() && self.config.duration.is_some_and(|d| start.elapsed() >= d) {
                self.slots.clear();
                return StopReason::Duration;
            }
            // Real time: the due time. Max speed: when the rate limit let it
            // through (so waiting for a permit counts as latency), else when
            // the permits were there (a closed loop has no other intent).
            let intended = due.or(admitted).unwrap_or_else(|| start.elapsed());
            self.dispatch(&req, wire_ns, intended, start);
            if self.count_and_check_limit() {
                return StopReason::Limit;
            }
        }
    }

    /// Takes a permit per target into `slots` (`None`: dropped, counted).
    /// False when interrupted while waiting.
    async fn acquire(&mut self, stop: &mut Pin<&mut (impl Future<Output = ()> + Send)>) -> bool {
        let wait = self.config.speed == Speed::Max && !self.config.live;
        self.slots.clear();
        for target in 0..self.queues.len() {
            let sem = self.permits[target].clone();
            let permit = if wait {
                match unless(stop, sem.acquire_owned()).await {
                    None => {
                        self.slots.clear();
                        return false;
                    }
                    Some(p) => p.ok(),
                }
            } else {
                sem.try_acquire_owned().ok()
            };
            if permit.is_none() {
                lock(&self.stats).record_drop(target, DropCause::Concurrency);
            }
            self.slots.push(permit);
        }
        true
    }

    /// Counts a scheduled request; true when `--limit` is reached.
    fn count_and_check_limit(&mut self) -> bool {
        self.scheduled += 1;
        self.config.limit.is_some_and(|l| self.scheduled >= l)
    }

    /// Hands the request to every target that has a permit in `slots`.
    fn dispatch(&mut self, req: &Arc<Prepared>, wire_ns: u64, intended: Duration, start: Instant) {
        for (target, slot) in self.slots.drain(..).enumerate() {
            let Some(permit) = slot else { continue };
            let job = Job {
                req: req.clone(),
                wire_ns,
                intended,
                start,
                _permit: permit,
            };
            // The queue holds as many jobs as there are permits: never full.
            if self.queues[target].push(job).is_err() {
                lock(&self.stats).record_drop(target, DropCause::Queue);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_job_queue_wakes_a_waiting_worker_and_drains_before_closing() {
        let q = Arc::new(JobQueue::<u32>::new(2, 3));
        let waiting = {
            let q = q.clone();
            tokio::spawn(async move { q.pop(0).await })
        };
        // Let the worker register as waiting.
        tokio::task::yield_now().await;
        q.push(1).unwrap();
        assert_eq!(waiting.await.unwrap(), Some(1));
        // Bounded, in order, drained after close.
        q.push(2).unwrap();
        q.push(3).unwrap();
        q.push(4).unwrap();
        assert_eq!(q.push(5), Err(5));
        q.close();
        assert_eq!(q.push(6), Err(6));
        assert_eq!(q.pop(1).await, Some(2));
        assert_eq!(q.pop(0).await, Some(3));
        assert_eq!(q.pop(1).await, Some(4));
        assert_eq!(q.pop(0).await, None);
    }

    #[tokio::test]
    async fn closing_the_job_queue_wakes_every_waiting_worker() {
        let q = Arc::new(JobQueue::<u32>::new(3, 3));
        let workers: Vec<_> = (0..3)
            .map(|id| {
                let q = q.clone();
                tokio::spawn(async move { q.pop(id).await })
            })
            .collect();
        tokio::task::yield_now().await;
        q.close();
        for w in workers {
            assert_eq!(w.await.unwrap(), None);
        }
    }

    fn tally(n: u64) -> Item {
        Item::Tally {
            sampled_out: n,
            skipped: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_input_thread_hands_over_every_item_in_order() {
        // Several times the pipe's capacity, so the thread waits for room.
        let n = (FEED_CAPACITY * 5 + 7) as u64;
        let mut src = Threaded::spawn((0..n).map(tally)).unwrap();
        let mut want = 0;
        while let Some(item) = src.next_item().await {
            let Item::Tally { sampled_out, .. } = item else {
                panic!("unexpected item {item:?}");
            };
            assert_eq!(sampled_out, want);
            want += 1;
        }
        assert_eq!(want, n);
        assert!(src.next_item().await.is_none());
    }

    /// Reports its drop (the input thread ended) on a channel.
    struct Endless(std::sync::mpsc::Sender<()>);

    impl Iterator for Endless {
        type Item = Item;
        fn next(&mut self) -> Option<Item> {
            Some(tally(1))
        }
    }

    impl Drop for Endless {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    #[tokio::test]
    async fn dropping_the_source_stops_the_input_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut src = Threaded::spawn(Endless(tx)).unwrap();
        for _ in 0..10 {
            assert!(src.next_item().await.is_some());
        }
        drop(src);
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
