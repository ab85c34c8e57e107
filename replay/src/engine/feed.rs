//! The feed: exchanges → [`Item`]s (sampling, rewriting, loops), and the
//! two ways the scheduler reads them ([`ItemSource`]): inline, or from a
//! thread of its own through a bounded channel.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use shadowtap_format::Exchange;
use tokio::sync::mpsc;

use super::compare::{Comparing, Recorded};
use super::monitor::{Entry, FreeSlots, LeftOut, Recorder};
use crate::compare::live::request_id;
use crate::filter::Filter;
use crate::input::{Input, InputError, InputOptions, InputWarning};
use crate::rewrite::{Prepared, Rewriter, Unsendable};
use crate::sample::Sampler;
use crate::stats::{DropCause, SkipReason};

/// Items buffered between the input thread and the scheduler at most: those
/// in the channel plus the batch the scheduler took from it.
pub(crate) const FEED_CAPACITY: usize = 1024;

/// Items the scheduler takes from the channel at once (see [`Threaded`]);
/// the channel holds the rest of `FEED_CAPACITY`.
const FEED_BATCH: usize = FEED_CAPACITY / 2;

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
        /// With `--compare`: its recording, which the responses are
        /// compared with.
        recorded: Option<Arc<Recorded>>,
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
        /// By `--include` / `--exclude`.
        filtered_out: u64,
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
    /// With `--compare`: the exchange of id `id` the source gave last is a
    /// request now, to be compared as `rec` says (against a baseline given
    /// from outside, the source hands it over:
    /// [`Comparing::fulfil`](super::Comparing::fulfil)). The default does
    /// nothing.
    fn recorded(&mut self, _id: u64, _rec: &Arc<Recorded>) {}
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

/// Exchanges → [`Item`]s: filtering, sampling, rewriting, loops. A plain iterator, run
/// on the input thread (or inline in tests). When replaying, counters of
/// what was left out ([`Item::Tally`]) go out just before the next request
/// and at the end, so the scheduler counts exactly what it got to; when
/// mirroring live the feed counts them itself, at once (see `Live`).
pub struct Feed<E> {
    src: E,
    /// `--include` / `--exclude`, applied before sampling.
    filter: Filter,
    sampler: Sampler,
    rewriter: Rewriter,
    loops: u32,
    pass: u32,
    /// Requests produced in the current pass.
    produced: u64,
    filtered_out: u64,
    sampled_out: u64,
    skipped: Vec<(SkipReason, u64)>,
    pending: VecDeque<Item>,
    started: bool,
    done: bool,
    /// Live mirroring (`tee`).
    live: Option<Live>,
    /// `--compare`: each request carries its recording.
    compare: Option<Arc<Comparing>>,
}

/// What a feed does differently when mirroring live.
pub(crate) struct Live {
    /// What is left out (sampled out, skipped, dropped before rewriting) is
    /// recorded here at once, not handed to the scheduler, so a run stopped
    /// with requests still queued has counted every request the feed saw.
    pub(crate) recorder: Recorder,
    /// Each target's free slots, when there is no rate limit and no
    /// request limit: when no target has one, a request is dropped (counted
    /// for every target, as the scheduler would) before it is rewritten, so
    /// a saturated mirror does not spend CPU preparing requests it cannot
    /// send.
    pub(crate) permits: Option<FreeSlots>,
}

impl Live {
    /// True (and the drops counted) when every target is full.
    fn drop_if_full(&self) -> bool {
        match &self.permits {
            Some(slots) if !slots.any() => {}
            _ => return false,
        }
        self.recorder.record(Entry::DropAll(DropCause::Concurrency));
        true
    }
}

impl<E: Exchanges> Feed<E> {
    /// A feed over `src` for `loops` passes (0: endless).
    pub fn new(src: E, sampler: Sampler, rewriter: Rewriter, loops: u32) -> Feed<E> {
        Feed {
            src,
            filter: Filter::default(),
            sampler,
            rewriter,
            loops,
            pass: 0,
            produced: 0,
            filtered_out: 0,
            sampled_out: 0,
            skipped: Vec::new(),
            pending: VecDeque::new(),
            started: false,
            done: false,
            live: None,
            compare: None,
        }
    }

    /// Leaves out what `filter` does not keep (counted as filtered out),
    /// before sampling.
    pub(crate) fn filtering(mut self, filter: Filter) -> Feed<E> {
        self.filter = filter;
        self
    }

    /// Makes each request carry its recording, for `--compare`.
    pub(crate) fn comparing(mut self, compare: Arc<Comparing>) -> Feed<E> {
        self.compare = Some(compare);
        self
    }

    /// Makes this a live feed: one pass, its own counts.
    pub(crate) fn live(mut self, live: Live) -> Feed<E> {
        self.loops = 1;
        self.live = Some(live);
        self
    }

    fn push_tally(&mut self) {
        if self.sampled_out == 0 && self.filtered_out == 0 && self.skipped.is_empty() {
            return;
        }
        let sampled_out = std::mem::take(&mut self.sampled_out);
        let filtered_out = std::mem::take(&mut self.filtered_out);
        let skipped = std::mem::take(&mut self.skipped);
        match &self.live {
            Some(live) => live.recorder.record(Entry::LeftOut(LeftOut {
                sampled_out,
                filtered_out,
                skipped,
            })),
            None => self.pending.push_back(Item::Tally {
                sampled_out,
                filtered_out,
                skipped,
            }),
        }
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
        if !self.filter.keep(&ex) {
            self.filtered_out += 1;
            self.settle_live();
            return None;
        }
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
            Ok(mut p) => {
                p.set_origin(request_id(file, ex.id));
                let recorded = self
                    .compare
                    .as_ref()
                    .map(|c| Arc::new(c.recorded(file, &mut ex, &p)));
                if let Some(rec) = &recorded {
                    self.src.recorded(ex.id, rec);
                }
                Some(Item::Request {
                    ts_ns,
                    wire_ns,
                    pass: self.pass,
                    recorded,
                    req: Arc::new(p),
                })
            }
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
pub trait ItemSource: Send {
    /// The next item, `None` at the end. Cancel-safe: an item is never lost
    /// when the future is dropped before it completes.
    fn next_item(&mut self) -> impl Future<Output = Option<Item>> + Send;
}

/// A feed run inline (no thread): for tests under a paused clock, where a
/// thread would let the clock jump while the scheduler waits for it.
pub struct Inline<I>(pub I);

impl<I: Iterator<Item = Item> + Send> ItemSource for Inline<I> {
    async fn next_item(&mut self) -> Option<Item> {
        self.0.next()
    }
}

/// A feed run on its own thread (file reading and decompression block).
///
/// Items cross to the scheduler through a bounded tokio channel of
/// `FEED_CAPACITY - FEED_BATCH` (512) items: the input thread blocks while it
/// is full, the scheduler takes whatever is there at once (up to
/// `FEED_BATCH`, 512), so `FEED_CAPACITY` items at most are read ahead and
/// at full speed it is woken once per batch rather than per item. An item
/// is handed over as soon as it is made, so a live feed (`tee`) gets no
/// extra delay. Dropping the source closes the channel, which ends the
/// input thread at its next item.
pub struct Threaded {
    rx: mpsc::Receiver<Item>,
    /// Taken from the channel, not yet handed out, the next one last (so
    /// that handing one out is a pop, and the buffer is reused).
    batch: Vec<Item>,
}

impl Threaded {
    /// Runs `feed` on a new thread, `FEED_CAPACITY` items ahead at most.
    pub fn spawn<I: Iterator<Item = Item> + Send + 'static>(feed: I) -> std::io::Result<Threaded> {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY - FEED_BATCH);
        std::thread::Builder::new()
            .name("shadowtap-input".into())
            .spawn(move || {
                for item in feed {
                    if tx.blocking_send(item).is_err() {
                        // The scheduler stopped.
                        break;
                    }
                }
            })?;
        Ok(Threaded {
            rx,
            batch: Vec::with_capacity(FEED_BATCH),
        })
    }
}

impl ItemSource for Threaded {
    async fn next_item(&mut self) -> Option<Item> {
        if self.batch.is_empty() {
            // Cancel-safe: `recv_many` takes nothing unless it completes.
            if self.rx.recv_many(&mut self.batch, FEED_BATCH).await == 0 {
                return None;
            }
            self.batch.reverse();
        }
        self.batch.pop()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tally(n: u64) -> Item {
        Item::Tally {
            sampled_out: n,
            filtered_out: 0,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn filtered_out_exchanges_are_counted_on_every_pass_and_never_sent() {
        use crate::filter::{FilterRule, RuleKind};
        use crate::rewrite::HostMode;
        let addr = "127.0.0.1:1".parse().unwrap();
        let paths = ["/api/a", "/health", "/api/b", "/static", "/health"];
        let exchanges = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let raw = format!("GET {p} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
                (0, Exchange::new(i as u64, 0, addr, addr, i as u64, raw))
            })
            .collect();
        let filter = Filter::new(vec![
            FilterRule::parse(RuleKind::Exclude, "path:^/health$").unwrap(),
            FilterRule::parse(RuleKind::Exclude, "path:^/static").unwrap(),
        ]);
        let feed = Feed::new(
            Memory::new(exchanges),
            Sampler::all(),
            Rewriter::new(HostMode::default(), Vec::new()),
            2,
        )
        .filtering(filter);
        let (mut sent, mut filtered) = (Vec::new(), 0);
        for item in feed {
            match item {
                Item::Request { req, .. } => sent.push(req.origin()),
                Item::Tally {
                    sampled_out,
                    filtered_out,
                    skipped,
                } => {
                    assert_eq!((sampled_out, skipped.len()), (0, 0));
                    filtered += filtered_out;
                }
                other => panic!("unexpected item {other:?}"),
            }
        }
        // Two passes: requests 0 and 2 each time, 3 filtered out each time.
        let ids = |i| request_id(0, i);
        assert_eq!(sent, [ids(0), ids(2), ids(0), ids(2)]);
        assert_eq!(filtered, 6);
    }

    #[tokio::test]
    async fn the_input_thread_hands_over_every_item_in_order() {
        // Several times the channel's capacity, so the thread waits for room.
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
