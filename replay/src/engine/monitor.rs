//! The run's counters and the live view of them.
//!
//! **One owner per count.** Every request's fate is recorded by the one
//! part holding the request when its fate is decided, through its own
//! `Recorder`: the feed (left out by sampling or as unreplayable, and in
//! live mode dropped before it is rewritten when no target has a slot), the
//! scheduler (dropped for the rate limit or for want of a slot, an
//! `invalid_host` error, still queued for a worker when the run was
//! abandoned) or the worker that took it (completed, an error, or
//! unanswered when it was abandoned mid-request). A request handed to a
//! worker is recorded by that worker alone, one that is not by the
//! scheduler alone, so `sent = completed + errors + unanswered` and
//! "every request dispatched is sent or dropped" hold by construction.
//!
//! **Per-worker shards, merged on read.** A recorder appends to its own
//! shard (a short list of entries behind a lock only it and the reader
//! take), not to the run's [`Stats`]: workers never contend with each other
//! per response. The shards are merged into the run's stats whenever the
//! live view is read (each progress tick, `--hdr-log` interval, metrics
//! scrape) and whenever a shard holds `SHARD_BATCH` (128) entries, so a run
//! nobody watches stays bounded. A shard holds entries rather than a whole
//! [`Stats`] because a `Stats` carries histograms of about 190 KB each:
//! one per worker would cost tens of megabytes per target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::stats::{DropCause, Outcome, SkipReason, Stats, TlsReason};

/// Entries a shard holds at most before its recorder merges them itself.
pub(crate) const SHARD_BATCH: usize = 128;

/// One fact about one request, as a recorder saw it.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Finished: a response or an error.
    Outcome(Outcome),
    /// The mirror delay of a request to a target.
    MirrorDelay(usize, Duration),
    /// Why a TLS error to a target happened.
    TlsReason(usize, TlsReason),
    /// Sent to a target, no answer when the run was abandoned: target,
    /// intended and actual send.
    Unanswered(usize, Duration, Duration),
    /// Not sent to a target.
    Drop(usize, DropCause),
    /// Not sent to any target: counted for each.
    DropAll(DropCause),
    /// Exchanges of the input left out.
    LeftOut(LeftOut),
}

/// Exchanges of the input left out since the last count.
#[derive(Debug, Default)]
pub(crate) struct LeftOut {
    /// By sampling.
    pub(crate) sampled_out: u64,
    /// By `--include` / `--exclude`.
    pub(crate) filtered_out: u64,
    /// Not replayable, by reason.
    pub(crate) skipped: Vec<(SkipReason, u64)>,
}

impl Entry {
    fn apply(self, s: &mut Stats) {
        match self {
            Entry::Outcome(o) => s.record(&o),
            Entry::MirrorDelay(t, d) => s.record_mirror_delay(t, d),
            Entry::TlsReason(t, r) => s.record_tls_reason(t, r),
            Entry::Unanswered(t, intended, sent) => s.record_unanswered(t, intended, sent),
            Entry::Drop(t, cause) => s.record_drop(t, cause),
            Entry::DropAll(cause) => s.record_drop_all(cause),
            Entry::LeftOut(l) => {
                s.record_filtered_out(l.filtered_out);
                s.record_left_out(l.sampled_out, &l.skipped);
            }
        }
    }
}

/// The entries of one recorder not merged yet.
#[derive(Debug, Default)]
struct Shard {
    entries: Mutex<Vec<Entry>>,
}

impl Shard {
    fn take(&self) -> Vec<Entry> {
        std::mem::take(&mut *lock(&self.entries))
    }
}

/// The run's stats and the shards still to merge into them.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Written only by merging shards.
    total: Mutex<Stats>,
    shards: Mutex<Vec<Arc<Shard>>>,
}

impl Ledger {
    pub(crate) fn new(stats: Stats) -> Ledger {
        Ledger {
            total: Mutex::new(stats),
            shards: Mutex::new(Vec::new()),
        }
    }

    /// A recorder with a shard of its own.
    pub(crate) fn recorder(self: &Arc<Ledger>) -> Recorder {
        let shard = Arc::new(Shard::default());
        lock(&self.shards).push(shard.clone());
        Recorder {
            ledger: self.clone(),
            shard: Some(shard),
        }
    }

    /// A recorder whose entries are merged at once: for a part that may
    /// wait long between entries (the live feed) and whose counts must show
    /// meanwhile.
    pub(crate) fn immediate(self: &Arc<Ledger>) -> Recorder {
        Recorder {
            ledger: self.clone(),
            shard: None,
        }
    }

    /// The run's stats with every shard merged in.
    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        let mut total = lock(&self.total);
        let shards = lock(&self.shards).clone();
        for shard in shards {
            for e in shard.take() {
                e.apply(&mut total);
            }
        }
        total
    }

    fn merge(&self, entries: Vec<Entry>) {
        let mut total = lock(&self.total);
        for e in entries {
            e.apply(&mut total);
        }
    }
}

/// How one part of the engine records what became of the requests it
/// holds (see the module docs).
#[derive(Debug)]
pub(crate) struct Recorder {
    ledger: Arc<Ledger>,
    /// `None`: merged at once.
    shard: Option<Arc<Shard>>,
}

impl Recorder {
    pub(crate) fn record(&self, entry: Entry) {
        let Some(shard) = &self.shard else {
            return self.ledger.merge(vec![entry]);
        };
        let mut entries = lock(&shard.entries);
        entries.push(entry);
        if entries.len() >= SHARD_BATCH {
            let full = std::mem::take(&mut *entries);
            drop(entries);
            self.ledger.merge(full);
        }
    }
}

/// A view of each target's free slots (`--concurrency` less the requests
/// it holds), for a live producer that decides whether a request is worth
/// handing over at all ([`Engine::free_slots`](super::Engine::free_slots)).
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
    pub(crate) fn settle(&self) {
        let _ = self
            .ahead
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// A live view of a running replay (progress line, interval logs, metrics).
#[derive(Clone, Debug)]
pub struct Monitor {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) start: Arc<OnceLock<Instant>>,
    pub(crate) permits: Arc<Vec<Arc<Semaphore>>>,
    /// Requests a live producer admitted that the scheduler has not taken
    /// yet (see [`FreeSlots::admit`]).
    ahead: Arc<AtomicUsize>,
    concurrency: usize,
}

/// Counters for a progress line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunProgress {
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
    pub(crate) fn new(targets: &[String], concurrency: usize) -> Monitor {
        let permits = (0..targets.len())
            .map(|_| Arc::new(Semaphore::new(concurrency)))
            .collect();
        Monitor {
            ledger: Arc::new(Ledger::new(Stats::new(targets))),
            start: Arc::new(OnceLock::new()),
            permits: Arc::new(permits),
            ahead: Arc::new(AtomicUsize::new(0)),
            concurrency,
        }
    }

    /// The view of the targets' free slots a live producer admits by.
    pub(crate) fn slots(&self) -> FreeSlots {
        FreeSlots {
            permits: self.permits.clone(),
            ahead: self.ahead.clone(),
        }
    }

    /// Requests in flight now, all targets.
    pub(crate) fn in_flight(&self) -> u64 {
        self.permits
            .iter()
            .map(|p| self.concurrency.saturating_sub(p.available_permits()) as u64)
            .sum()
    }

    /// A snapshot of the counters.
    pub fn progress(&self) -> RunProgress {
        let in_flight = self.in_flight();
        let s = self.ledger.stats();
        RunProgress {
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

    /// Runs `f` on the run's stats, every shard merged in (e.g. to write an
    /// interval of `--hdr-log` after [`Stats::enable_intervals`]).
    pub fn with_stats<R>(&self, f: impl FnOnce(&mut Stats) -> R) -> R {
        f(&mut self.ledger.stats())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked mid-record leaves the counters usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKind;

    fn outcome(target: usize, result: Result<u16, ErrorKind>) -> Entry {
        Entry::Outcome(Outcome {
            target,
            intended: Duration::ZERO,
            sent: Duration::ZERO,
            done: Duration::from_millis(1),
            result,
            bytes_sent: 10,
            bytes_received: 20,
        })
    }

    fn merged(ledger: &Ledger) -> (u64, u64, u64, u64, u64) {
        let s = ledger.stats();
        (
            s.sent(),
            s.completed(),
            s.errors(),
            s.unanswered(),
            s.dropped(),
        )
    }

    #[test]
    fn every_shard_is_merged_on_read_and_adds_up() {
        let ledger = Arc::new(Ledger::new(Stats::new(&["a".into(), "b".into()])));
        let (w1, w2, sched) = (ledger.recorder(), ledger.recorder(), ledger.recorder());
        w1.record(outcome(0, Ok(200)));
        w1.record(Entry::Unanswered(0, Duration::ZERO, Duration::ZERO));
        w2.record(outcome(1, Err(ErrorKind::Timeout)));
        sched.record(Entry::Drop(1, DropCause::Concurrency));
        sched.record(Entry::DropAll(DropCause::RateLimit));
        // Nothing is in the run's stats until they are read.
        assert_eq!(lock(&ledger.total).sent(), 0);
        assert_eq!(merged(&ledger), (3, 1, 1, 1, 3));
        // Read again: nothing is counted twice.
        assert_eq!(merged(&ledger), (3, 1, 1, 1, 3));
        for t in ledger.stats().per_target() {
            assert_eq!(t.sent, t.completed + t.errors_total() + t.unanswered);
        }
    }

    #[test]
    fn a_full_shard_merges_itself_and_an_immediate_recorder_at_once() {
        let ledger = Arc::new(Ledger::new(Stats::new(&["a".into()])));
        let worker = ledger.recorder();
        for _ in 0..SHARD_BATCH {
            worker.record(outcome(0, Ok(200)));
        }
        assert_eq!(lock(&ledger.total).sent(), SHARD_BATCH as u64);
        ledger.immediate().record(Entry::LeftOut(LeftOut {
            sampled_out: 2,
            filtered_out: 0,
            skipped: vec![(SkipReason::Upgrade, 1)],
        }));
        let total = lock(&ledger.total);
        assert_eq!((total.sampled_out(), total.skipped_total()), (2, 1));
    }
}
