//! tee's own counters, and the one place they meet the engine's
//! statistics.
//!
//! The capture thread counts what it captured and what it dropped before a
//! request reached the engine; the engine counts everything after. Each
//! counter here has one writer (named at the field), and
//! [`TapCounts::dropped_of`] is the only place that says which engine drop
//! cause a tap drop is: the live views (metrics, stats line) and the final
//! report all go through it.

use std::sync::atomic::{AtomicU64, Ordering};

use shadowtap_replay::stats::{DropCause, Stats};

/// Counters shared by the capture thread, the mirror's input and the
/// reporting.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests complete on the wire. Written by the tap.
    captured: AtomicU64,
    /// Requests dropped because the queue was full. Written by the tap.
    queue_full: AtomicU64,
    /// Requests the capture dropped because no target had a free slot
    /// (counted for every target as `dropped.concurrency`). Written by the
    /// tap.
    no_slot: AtomicU64,
    /// Requests put in the queue. Written by the tap.
    queued: AtomicU64,
    /// Requests taken out of the queue. Written by the mirror's input.
    taken: AtomicU64,
    /// `--compare`: production's responses not handed to the mirror (their
    /// queue was full). Written by the tap.
    responses_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn captured(&self) {
        self.captured.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn no_slot(&self) {
        self.no_slot.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn taken(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn response_dropped(&self) {
        self.responses_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> TapCounts {
        // Taken first: a request queued and taken between the two loads
        // then shows as waiting for a moment, never as less than none.
        let taken = self.taken.load(Ordering::Relaxed);
        TapCounts {
            captured: self.captured.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            no_slot: self.no_slot.load(Ordering::Relaxed),
            depth: self.queued.load(Ordering::Relaxed).saturating_sub(taken),
            responses_dropped: self.responses_dropped.load(Ordering::Relaxed),
        }
    }
}

/// tee's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TapCounts {
    /// Requests complete on the wire, offered to the mirror.
    pub captured: u64,
    /// Requests not mirrored because the queue was full.
    pub queue_full: u64,
    /// Requests the capture dropped because no target had a free slot.
    pub no_slot: u64,
    /// Requests waiting in the queue.
    pub depth: u64,
    /// `--compare`: production's responses dropped because their queue was
    /// full (their requests are not compared: no baseline).
    pub responses_dropped: u64,
}

impl TapCounts {
    /// Requests the tap dropped for `cause`, for each target: a tap drop
    /// happens before the request is sent anywhere, so every target counts
    /// it.
    pub fn dropped_of(&self, cause: DropCause) -> u64 {
        match cause {
            DropCause::Queue => self.queue_full,
            DropCause::Concurrency => self.no_slot,
            _ => 0,
        }
    }

    /// Requests the tap dropped, for each target.
    pub fn dropped(&self) -> u64 {
        DropCause::ALL.iter().map(|&c| self.dropped_of(c)).sum()
    }

    /// Settles the run's accounts in `stats` once the mirror stopped: the
    /// tap's drops are added for every target, and what the mirror still
    /// held unsent (the queue, the engine's input) is counted as dropped
    /// at shutdown. Every captured request is then accounted for per
    /// target: filtered out, sampled out, skipped, dropped, or sent (completed, an error,
    /// or unanswered: in flight when the drain ended).
    pub(crate) fn settle(&self, stats: &mut Stats) {
        for t in 0..stats.targets().len() {
            for cause in DropCause::ALL {
                stats.record_drops(t, cause, self.dropped_of(cause));
            }
        }
        let unfinished = unfinished_per_target(stats, self.captured);
        for (t, &n) in unfinished.iter().enumerate() {
            stats.record_drops(t, DropCause::Shutdown, n);
        }
    }
}

/// Per target, the captured requests the stats do not account for: neither
/// sent (answered, an error or unanswered), dropped, filtered out,
/// sampled out nor skipped.
fn unfinished_per_target(stats: &Stats, captured: u64) -> Vec<u64> {
    let common = stats.filtered_out() + stats.sampled_out() + stats.skipped_total();
    stats
        .per_target()
        .iter()
        .map(|t| captured.saturating_sub(t.sent + t.dropped_total() + common))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shadowtap_replay::stats::{ErrorKind, Outcome, SkipReason};

    use super::*;

    fn sent(target: usize, result: Result<u16, ErrorKind>) -> Outcome {
        Outcome {
            target,
            intended: Duration::ZERO,
            sent: Duration::ZERO,
            done: Duration::ZERO,
            result,
            bytes_sent: 1,
            bytes_received: 1,
        }
    }

    #[test]
    fn what_no_counter_holds_is_unfinished_per_target() {
        let mut stats = Stats::new(&["a".into(), "b".into()]);
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
    fn tap_drops_count_for_every_target_under_their_cause_only() {
        let c = TapCounts {
            captured: 10,
            queue_full: 3,
            no_slot: 2,
            depth: 1,
            responses_dropped: 0,
        };
        assert_eq!(c.dropped_of(DropCause::Queue), 3);
        assert_eq!(c.dropped_of(DropCause::Concurrency), 2);
        assert_eq!(c.dropped_of(DropCause::RateLimit), 0);
        assert_eq!(c.dropped_of(DropCause::Shutdown), 0);
        assert_eq!(c.dropped(), 5);
    }

    #[test]
    fn settled_accounts_hold_every_captured_request_for_every_target() {
        let mut stats = Stats::new(&["a".into(), "b".into()]);
        // 10 captured, 3 over a full queue and 2 without a slot (neither
        // reached the engine); of the 5 the engine got, target a answered
        // 4 and target b 1, then the mirror stopped.
        for _ in 0..4 {
            stats.record(&sent(0, Ok(200)));
        }
        stats.record(&sent(1, Ok(200)));
        let counts = TapCounts {
            captured: 10,
            queue_full: 3,
            no_slot: 2,
            depth: 0,
            responses_dropped: 0,
        };
        counts.settle(&mut stats);
        for (t, shutdown) in [(0, 1), (1, 4)] {
            let s = stats.target(t).unwrap();
            assert_eq!(s.dropped_of(DropCause::Queue), 3);
            assert_eq!(s.dropped_of(DropCause::Concurrency), 2);
            assert_eq!(s.dropped_of(DropCause::Shutdown), shutdown);
            assert_eq!(s.sent + s.dropped_total(), 10, "target {t}");
        }
    }

    #[test]
    fn the_depth_is_what_was_queued_and_not_taken() {
        let c = Counters::default();
        c.queued();
        c.queued();
        c.taken();
        assert_eq!(c.snapshot().depth, 1);
        c.taken();
        c.taken();
        assert_eq!(c.snapshot().depth, 0, "never less than none");
    }
}
