//! Measurement of a replay: per-target HdrHistograms and counters.
//!
//! Every request the engine finishes (a response read, or an error) becomes
//! one [`Outcome`] and is recorded into a [`Stats`]. Per target, a `Stats`
//! keeps:
//!
//! - **latency**: `done − intended`, measured from the *intended* send time
//!   (coordinated-omission corrected: a stalled target cannot hide its own
//!   stall by delaying the sends behind it);
//! - **service time**: `done − sent`, from the actual send;
//! - **schedule lag**: `sent − intended`, how late the send was (0 when early);
//! - latency per status class (1xx to 5xx);
//! - counters: sent (attempted), completed (a response was read), errors by
//!   [`ErrorKind`], unanswered (still waiting for its answer when the run
//!   was stopped), drops by [`DropCause`], bytes each way, status code →
//!   count. Every request sent is completed, an error or unanswered:
//!   `sent = completed + errors + unanswered`.
//!
//! Latency and service time are recorded only for outcomes that carry a
//! status code: an error has no meaningful latency (a refused connection is
//! fast, a timeout is the timeout). Schedule lag is recorded for every
//! outcome, since every outcome was scheduled.
//!
//! Histograms track 1 µs to 1 h with 3 significant digits, in microseconds
//! (larger values are clamped to 1 h, which is then the reported max). Memory
//! is bounded whatever the run length: no sample is ever kept, only bucket
//! counts. Per-class histograms are allocated on first use.
//!
//! Within a run, each part of the engine records what became of the
//! requests it held in its own shard, merged into the run's one `Stats` on
//! each read of the live view (see [`crate::engine::monitor`]). Across runs,
//! several `Stats` (one per machine) add up with [`Stats::merge`];
//! percentiles are always computed from the added histograms, never
//! averaged. The names of errors, drops and skips are in `kinds.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

mod kinds;

pub use self::kinds::{DropCause, ErrorKind, SkipReason, TlsReason};

/// Lowest trackable value of every histogram, in microseconds.
pub const HIST_LOW_US: u64 = 1;
/// Highest trackable value of every histogram, in microseconds (1 h).
pub const HIST_HIGH_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every histogram.
pub const HIST_SIGFIG: u8 = 3;

/// What happened to one request sent (or attempted) to one target.
///
/// All times are offsets from the run's start instant, so they can be
/// compared without a clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Index into the target list given to [`Stats::new`].
    pub target: usize,
    /// Intended send time.
    pub intended: Duration,
    /// Actual send time (first byte written).
    pub sent: Duration,
    /// Response fully read, or the error happened.
    pub done: Duration,
    /// Status code of the final response, or what went wrong.
    pub result: Result<u16, ErrorKind>,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
}

/// The status classes that get their own latency histogram, as report keys.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The class index (0 = 1xx ... 4 = 5xx) of a status code, `None` outside
/// 100..=599.
pub fn status_class(code: u16) -> Option<usize> {
    match code {
        100..=599 => Some(usize::from(code / 100 - 1)),
        _ => None,
    }
}

/// A new empty histogram with the bounds every histogram here uses.
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that satisfy the crate's preconditions (low >= 1,
    // high >= 2 * low, sigfig <= 5): creation cannot fail.
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// Adds `from` into `into`. Histograms made by [`new_histogram`] and
/// decoded ones auto-resize, so addition cannot fail on range; on any other
/// failure the values are recorded one bucket at a time, clamped.
pub(crate) fn add_histogram(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(
                v.value_iterated_to().min(HIST_HIGH_US),
                v.count_since_last_iteration(),
            );
        }
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(HIST_HIGH_US)
}

/// The measurements of one target (or of several, added).
#[derive(Clone, Debug)]
pub struct TargetStats {
    /// Requests attempted (handed to the transport): `completed` plus errors
    /// plus `unanswered`.
    pub sent: u64,
    /// Requests whose response was fully read.
    pub completed: u64,
    /// Requests handed to the transport that had neither an answer nor an
    /// error when the run was stopped (an interrupt's grace period ended).
    pub unanswered: u64,
    /// Errors by kind, indexed as [`ErrorKind::ALL`].
    pub errors: [u64; 7],
    /// Errors of kinds this version does not know (from a merged report).
    pub errors_other: BTreeMap<String, u64>,
    /// Drops by cause, indexed as [`DropCause::ALL`].
    pub dropped: [u64; DropCause::ALL.len()],
    /// Drops of causes this version does not know (from a merged report).
    pub dropped_other: BTreeMap<String, u64>,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
    /// Status code → count.
    pub status: BTreeMap<u16, u64>,
    /// Latency from the intended send, µs.
    pub latency: Histogram<u64>,
    /// Service time from the actual send, µs.
    pub service_time: Histogram<u64>,
    /// Schedule lag (actual − intended send), µs.
    pub schedule_lag: Histogram<u64>,
    /// Latency per status class ([`STATUS_CLASSES`]), allocated on first use.
    pub latency_by_class: [Option<Box<Histogram<u64>>>; 5],
    /// Latency of the current interval (for `--hdr-log`), when enabled.
    pub interval_latency: Option<Box<Histogram<u64>>>,
    /// Mirror delay (`tee`): from the request's last byte on the captured
    /// wire to the mirror send, µs. Allocated on first use.
    pub mirror_delay: Option<Box<Histogram<u64>>>,
    /// Why the [`ErrorKind::Tls`] errors happened, by [`TlsReason`] name
    /// (names this version does not know are kept from merged reports).
    pub tls_reasons: BTreeMap<String, u64>,
}

impl Default for TargetStats {
    fn default() -> Self {
        TargetStats::new()
    }
}

impl TargetStats {
    /// Empty measurements.
    pub fn new() -> TargetStats {
        TargetStats {
            sent: 0,
            completed: 0,
            unanswered: 0,
            errors: [0; 7],
            errors_other: BTreeMap::new(),
            dropped: [0; DropCause::ALL.len()],
            dropped_other: BTreeMap::new(),
            bytes_sent: 0,
            bytes_received: 0,
            status: BTreeMap::new(),
            latency: new_histogram(),
            service_time: new_histogram(),
            schedule_lag: new_histogram(),
            latency_by_class: Default::default(),
            interval_latency: None,
            mirror_delay: None,
            tls_reasons: BTreeMap::new(),
        }
    }

    /// Counts why one TLS error happened (its [`ErrorKind::Tls`] itself is
    /// counted by [`TargetStats::record`]).
    pub fn record_tls_reason(&mut self, reason: TlsReason) {
        *self
            .tls_reasons
            .entry(reason.as_str().to_owned())
            .or_insert(0) += 1;
    }

    /// Records one mirror delay (see [`TargetStats::mirror_delay`]).
    pub fn record_mirror_delay(&mut self, delay: Duration) {
        self.mirror_delay
            .get_or_insert_with(|| Box::new(new_histogram()))
            .saturating_record(us(delay));
    }

    /// Records one outcome.
    pub fn record(&mut self, o: &Outcome) {
        self.sent += 1;
        self.bytes_sent = self.bytes_sent.saturating_add(o.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(o.bytes_received);
        self.schedule_lag
            .saturating_record(us(o.sent.saturating_sub(o.intended)));
        match o.result {
            Ok(code) => {
                self.completed += 1;
                *self.status.entry(code).or_insert(0) += 1;
                let latency = us(o.done.saturating_sub(o.intended));
                self.latency.saturating_record(latency);
                self.service_time
                    .saturating_record(us(o.done.saturating_sub(o.sent)));
                if let Some(class) = status_class(code) {
                    self.latency_by_class[class]
                        .get_or_insert_with(|| Box::new(new_histogram()))
                        .saturating_record(latency);
                }
                if let Some(h) = self.interval_latency.as_mut() {
                    h.saturating_record(latency);
                }
            }
            Err(kind) => self.errors[kind.index()] += 1,
        }
    }

    /// Counts a request handed to the transport and still unanswered when
    /// the run stopped: sent, neither completed nor an error. Its schedule
    /// lag is recorded, as for every attempt.
    pub fn record_unanswered(&mut self, intended: Duration, sent: Duration) {
        self.sent += 1;
        self.unanswered += 1;
        self.schedule_lag
            .saturating_record(us(sent.saturating_sub(intended)));
    }

    /// Total errors, all kinds.
    pub fn errors_total(&self) -> u64 {
        total(
            self.errors
                .iter()
                .chain(self.errors_other.values())
                .copied(),
        )
    }

    /// Errors of one kind.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Total drops, all causes.
    pub fn dropped_total(&self) -> u64 {
        total(
            self.dropped
                .iter()
                .chain(self.dropped_other.values())
                .copied(),
        )
    }

    /// Drops of one cause.
    pub fn dropped_of(&self, cause: DropCause) -> u64 {
        self.dropped[cause.index()]
    }

    /// Responses whose status is in class `class` (0 = 1xx ... 4 = 5xx).
    pub fn class_count(&self, class: usize) -> u64 {
        total(
            self.status
                .iter()
                .filter(|(code, _)| status_class(**code) == Some(class))
                .map(|(_, n)| *n),
        )
    }

    /// Adds `other` into `self`. Counts saturate: reports merged from
    /// elsewhere may hold any number.
    pub fn merge(&mut self, other: &TargetStats) {
        self.sent = self.sent.saturating_add(other.sent);
        self.completed = self.completed.saturating_add(other.completed);
        self.unanswered = self.unanswered.saturating_add(other.unanswered);
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a = a.saturating_add(*b);
        }
        for (k, v) in &other.errors_other {
            add(self.errors_other.entry(k.clone()).or_insert(0), *v);
        }
        for (a, b) in self.dropped.iter_mut().zip(other.dropped.iter()) {
            *a = a.saturating_add(*b);
        }
        for (k, v) in &other.dropped_other {
            add(self.dropped_other.entry(k.clone()).or_insert(0), *v);
        }
        self.bytes_sent = self.bytes_sent.saturating_add(other.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(other.bytes_received);
        for (code, n) in &other.status {
            add(self.status.entry(*code).or_insert(0), *n);
        }
        add_histogram(&mut self.latency, &other.latency);
        add_histogram(&mut self.service_time, &other.service_time);
        add_histogram(&mut self.schedule_lag, &other.schedule_lag);
        for (mine, theirs) in self
            .latency_by_class
            .iter_mut()
            .zip(other.latency_by_class.iter())
        {
            if let Some(theirs) = theirs {
                add_histogram(
                    mine.get_or_insert_with(|| Box::new(new_histogram())),
                    theirs,
                );
            }
        }
        if let (Some(mine), Some(theirs)) = (
            self.interval_latency.as_mut(),
            other.interval_latency.as_ref(),
        ) {
            add_histogram(mine, theirs);
        }
        if let Some(theirs) = other.mirror_delay.as_ref() {
            add_histogram(
                self.mirror_delay
                    .get_or_insert_with(|| Box::new(new_histogram())),
                theirs,
            );
        }
        for (k, v) in &other.tls_reasons {
            add(self.tls_reasons.entry(k.clone()).or_insert(0), *v);
        }
    }
}

/// `*n += v`, saturating.
fn add(n: &mut u64, v: u64) {
    *n = n.saturating_add(v);
}

/// The sum of counts, saturating: a report merged from elsewhere may hold
/// any number.
pub(crate) fn total(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// Per-target measurements of a replay, plus run-wide counters. Several add
/// up with [`Stats::merge`].
#[derive(Clone, Debug)]
pub struct Stats {
    targets: Vec<String>,
    per_target: Vec<TargetStats>,
    sampled_out: u64,
    filtered_out: u64,
    skipped: [u64; 5],
    first_intended: Option<Duration>,
    last_done: Option<Duration>,
}

impl Stats {
    /// Empty stats for these targets (their URLs, in the order the engine
    /// indexes them).
    pub fn new(targets: &[String]) -> Stats {
        Stats {
            targets: targets.to_vec(),
            per_target: targets.iter().map(|_| TargetStats::new()).collect(),
            sampled_out: 0,
            filtered_out: 0,
            skipped: [0; 5],
            first_intended: None,
            last_done: None,
        }
    }

    /// Records one outcome. An out-of-range target index is ignored.
    pub fn record(&mut self, outcome: &Outcome) {
        let Some(t) = self.per_target.get_mut(outcome.target) else {
            return;
        };
        t.record(outcome);
        self.first_intended = Some(
            self.first_intended
                .map_or(outcome.intended, |f| f.min(outcome.intended)),
        );
        self.last_done = Some(self.last_done.map_or(outcome.done, |l| l.max(outcome.done)));
    }

    /// Counts a request to `target` that was sent and still had no answer
    /// when the run stopped (see [`TargetStats::record_unanswered`]). An
    /// out-of-range target index is ignored.
    pub fn record_unanswered(&mut self, target: usize, intended: Duration, sent: Duration) {
        if let Some(t) = self.per_target.get_mut(target) {
            t.record_unanswered(intended, sent);
        }
    }

    /// Records a mirror delay for `target`. An out-of-range target index is
    /// ignored.
    pub fn record_mirror_delay(&mut self, target: usize, delay: Duration) {
        if let Some(t) = self.per_target.get_mut(target) {
            t.record_mirror_delay(delay);
        }
    }

    /// Counts why a TLS error to `target` happened. An out-of-range target
    /// index is ignored.
    pub fn record_tls_reason(&mut self, target: usize, reason: TlsReason) {
        if let Some(t) = self.per_target.get_mut(target) {
            t.record_tls_reason(reason);
        }
    }

    /// Counts a request not sent to `target`. An out-of-range target index is
    /// ignored.
    pub fn record_drop(&mut self, target: usize, cause: DropCause) {
        self.record_drops(target, cause, 1);
    }

    /// Counts a request sent to no target at all, once for each of them.
    pub fn record_drop_all(&mut self, cause: DropCause) {
        for target in 0..self.per_target.len() {
            self.record_drops(target, cause, 1);
        }
    }

    /// Counts `n` requests not sent to `target`, for a cause counted outside
    /// the engine (`tee`'s capture queue). An out-of-range target index is
    /// ignored.
    pub fn record_drops(&mut self, target: usize, cause: DropCause, n: u64) {
        if let Some(t) = self.per_target.get_mut(target) {
            t.dropped[cause.index()] = t.dropped[cause.index()].saturating_add(n);
        }
    }

    /// Counts `n` exchanges of the input left out by sampling.
    pub fn record_sampled_out(&mut self, n: u64) {
        self.sampled_out = self.sampled_out.saturating_add(n);
    }

    /// Counts `n` exchanges of the input left out by `--include` /
    /// `--exclude`.
    pub fn record_filtered_out(&mut self, n: u64) {
        self.filtered_out = self.filtered_out.saturating_add(n);
    }

    /// Counts one exchange of the input that could not be replayed at all.
    pub fn record_skipped(&mut self, reason: SkipReason) {
        self.skipped[reason.index()] += 1;
    }

    /// Counts exchanges left out of the replay: sampled out, and skipped
    /// (`n` of each reason).
    pub fn record_left_out(&mut self, sampled_out: u64, skipped: &[(SkipReason, u64)]) {
        self.record_sampled_out(sampled_out);
        for &(reason, n) in skipped {
            self.skipped[reason.index()] = self.skipped[reason.index()].saturating_add(n);
        }
    }

    /// Adds `other` into `self`. Targets are matched by index; targets of
    /// `other` beyond `self`'s list are appended.
    pub fn merge(&mut self, other: &Stats) {
        for (i, theirs) in other.per_target.iter().enumerate() {
            match self.per_target.get_mut(i) {
                Some(mine) => mine.merge(theirs),
                None => {
                    self.per_target.push(theirs.clone());
                    self.targets.push(other.targets[i].clone());
                }
            }
        }
        self.sampled_out = self.sampled_out.saturating_add(other.sampled_out);
        self.filtered_out = self.filtered_out.saturating_add(other.filtered_out);
        for (a, b) in self.skipped.iter_mut().zip(other.skipped.iter()) {
            *a = a.saturating_add(*b);
        }
        self.first_intended = match (self.first_intended, other.first_intended) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_done = match (self.last_done, other.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// The target URLs, in index order.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// The measurements of one target.
    pub fn target(&self, index: usize) -> Option<&TargetStats> {
        self.per_target.get(index)
    }

    /// The measurements of every target, in index order.
    pub fn per_target(&self) -> &[TargetStats] {
        &self.per_target
    }

    /// All targets added together.
    pub fn overall(&self) -> TargetStats {
        let mut all = TargetStats::new();
        for t in &self.per_target {
            all.merge(t);
        }
        all
    }

    /// Exchanges left out by sampling.
    pub fn sampled_out(&self) -> u64 {
        self.sampled_out
    }

    /// Exchanges left out by `--include` / `--exclude`.
    pub fn filtered_out(&self) -> u64 {
        self.filtered_out
    }

    /// Exchanges not replayable, by reason.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason.index()]
    }

    /// Exchanges not replayable, all reasons.
    pub fn skipped_total(&self) -> u64 {
        total(self.skipped.iter().copied())
    }

    /// Requests attempted, all targets (for a progress line).
    pub fn sent(&self) -> u64 {
        total(self.per_target.iter().map(|t| t.sent))
    }

    /// Responses read, all targets.
    pub fn completed(&self) -> u64 {
        total(self.per_target.iter().map(|t| t.completed))
    }

    /// Requests sent and unanswered at the stop, all targets.
    pub fn unanswered(&self) -> u64 {
        total(self.per_target.iter().map(|t| t.unanswered))
    }

    /// Errors, all targets and kinds.
    pub fn errors(&self) -> u64 {
        total(self.per_target.iter().map(TargetStats::errors_total))
    }

    /// Drops, all targets and causes.
    pub fn dropped(&self) -> u64 {
        total(self.per_target.iter().map(TargetStats::dropped_total))
    }

    /// The span from the earliest intended send to the latest completion
    /// recorded, if anything was recorded. A fallback for the run's duration.
    pub fn span(&self) -> Option<Duration> {
        match (self.first_intended, self.last_done) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        }
    }

    /// Starts keeping a per-interval latency histogram per target, for the
    /// report's timeline ([`crate::report::TimelineRecorder`], on in every
    /// `replay` and `tee` run) and [`crate::hdrlog::HdrLog`]. Costs one more
    /// histogram per target and one more bucket increment per response
    /// recorded.
    pub fn enable_intervals(&mut self) {
        for t in &mut self.per_target {
            t.interval_latency
                .get_or_insert_with(|| Box::new(new_histogram()));
        }
    }

    /// The interval latency histograms (one per target, `None` unless
    /// [`Stats::enable_intervals`] was called), for reading before
    /// [`Stats::reset_interval`].
    pub fn interval_histograms(&self) -> impl Iterator<Item = (&str, Option<&Histogram<u64>>)> {
        self.targets
            .iter()
            .zip(self.per_target.iter())
            .map(|(name, t)| (name.as_str(), t.interval_latency.as_deref()))
    }

    /// Clears the interval histograms (after they were written).
    pub fn reset_interval(&mut self) {
        for t in &mut self.per_target {
            if let Some(h) = t.interval_latency.as_mut() {
                h.reset();
            }
        }
    }

    /// Replaces the measurements of one target (used when rebuilding stats
    /// from a report).
    pub(crate) fn from_parts(
        targets: Vec<String>,
        per_target: Vec<TargetStats>,
        (sampled_out, filtered_out): (u64, u64),
        skipped: [u64; 5],
    ) -> Stats {
        Stats {
            targets,
            per_target,
            sampled_out,
            filtered_out,
            skipped,
            first_intended: None,
            last_done: None,
        }
    }
}
