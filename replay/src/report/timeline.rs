//! Latency over time inside the report: the `timeline` object.
//!
//! Once per second the run's interval histograms (the ones `--hdr-log`
//! writes, see [`Stats::enable_intervals`]) are read by a
//! [`TimelineRecorder`]; each interval becomes one [`TimelinePoint`] per
//! target: its start and length (offsets from the run's start), the
//! responses and transport errors it saw, p50, p99 and max latency, and the
//! interval's latency histogram encoded as the report's other histograms
//! ([`HISTOGRAM_ENCODING`](super::HISTOGRAM_ENCODING)), so that
//! [`Report::merge`](super::Report::merge) can add the histograms of the
//! same interval index across sharded runs and recompute the percentiles.
//! The `overall` series adds every target; its points carry no histogram
//! (it is always recomputed from the targets').
//!
//! **Bounded.** A timeline holds at most [`MAX_TIMELINE_INTERVALS`]
//! intervals: when a run reaches that many, adjacent pairs are merged and
//! the interval length doubles (1 s, 2 s, 4 s, ...), so an hour-long run
//! keeps 1 s resolution and a day-long one 32 s, in a report of bounded
//! size. Every series has the same number of points, index `i` covering
//! the same span in each.

use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::codec::{decode, encode};
use super::{ReportError, Summary, OVERALL};
use crate::stats::{add_histogram, new_histogram, Stats};

/// Intervals a timeline holds at most (even: pairs merge exactly).
pub const MAX_TIMELINE_INTERVALS: usize = 3600;

/// Length of a recorded interval before any coarsening, µs.
pub const TIMELINE_BASE_US: u64 = 1_000_000;

/// One interval of one target (or of all, in [`Timeline::overall`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Start of the interval, µs from the run's start.
    pub start_us: u64,
    /// Length of the interval, µs (the last one may be shorter).
    pub length_us: u64,
    /// Responses read in the interval (the histogram's count).
    pub count: u64,
    /// Transport errors in the interval.
    pub errors: u64,
    /// Median latency of the interval's responses (0 without any).
    pub p50_us: u64,
    /// 99th percentile latency.
    pub p99_us: u64,
    /// Largest latency.
    pub max_us: u64,
    /// The interval's latency histogram, encoded; empty when `count` is 0
    /// and in the `overall` series.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub histogram: String,
}

/// The intervals of one target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineSeries {
    /// The target URL, or `overall`.
    pub target: String,
    /// Its intervals, in time order.
    pub intervals: Vec<TimelinePoint>,
}

/// Latency over time of a run (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Length of every interval but the last, µs: [`TIMELINE_BASE_US`]
    /// times a power of two.
    pub interval_us: u64,
    /// One series per target, named as in the report's `targets`.
    pub targets: Vec<TimelineSeries>,
    /// Every target added; no histograms.
    pub overall: TimelineSeries,
}

/// Adds points up into one.
struct Acc {
    h: Histogram<u64>,
    errors: u64,
    start: Option<u64>,
    end: u64,
}

impl Acc {
    fn new() -> Acc {
        Acc {
            h: new_histogram(),
            errors: 0,
            start: None,
            end: 0,
        }
    }

    fn reset(&mut self) {
        self.h.reset();
        self.errors = 0;
        self.start = None;
        self.end = 0;
    }

    fn span(&mut self, start: u64, length: u64) {
        self.start = Some(self.start.map_or(start, |s| s.min(start)));
        self.end = self.end.max(start.saturating_add(length));
    }

    fn add_point(&mut self, p: &TimelinePoint, target: &str) -> Result<(), ReportError> {
        self.span(p.start_us, p.length_us);
        self.errors = self.errors.saturating_add(p.errors);
        if !p.histogram.is_empty() {
            add_histogram(&mut self.h, &decode(&p.histogram, target, "timeline")?);
        }
        Ok(())
    }

    fn add_acc(&mut self, other: &Acc) {
        if let Some(s) = other.start {
            self.span(s, other.end.saturating_sub(s));
        }
        self.errors = self.errors.saturating_add(other.errors);
        add_histogram(&mut self.h, &other.h);
    }

    fn point(&self, encoded: Option<(&mut V2DeflateSerializer, &mut Vec<u8>)>) -> TimelinePoint {
        let s = Summary::of(&self.h);
        let start = self.start.unwrap_or(0);
        TimelinePoint {
            start_us: start,
            length_us: self.end.saturating_sub(start),
            count: s.count,
            errors: self.errors,
            p50_us: s.p50,
            p99_us: s.p99,
            max_us: s.max,
            histogram: match encoded {
                Some((ser, buf)) if s.count > 0 => encode(&self.h, ser, buf),
                _ => String::new(),
            },
        }
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Timeline {
    /// An empty timeline of these targets at the base interval.
    pub fn new(targets: &[String]) -> Timeline {
        Timeline {
            interval_us: TIMELINE_BASE_US,
            targets: targets
                .iter()
                .map(|t| TimelineSeries {
                    target: t.clone(),
                    intervals: Vec::new(),
                })
                .collect(),
            overall: TimelineSeries {
                target: OVERALL.to_owned(),
                intervals: Vec::new(),
            },
        }
    }

    /// Intervals held (the longest series).
    pub fn len(&self) -> usize {
        self.targets
            .iter()
            .map(|s| s.intervals.len())
            .max()
            .unwrap_or(0)
            .max(self.overall.intervals.len())
    }

    /// True without any interval.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rebuilds a timeline of `names` with `len` intervals and the given
    /// interval length: out point `i` of target `t` adds the points
    /// `points(t, i)`; the overall series adds the targets.
    fn rebuild<'a, F>(
        names: &[String],
        len: usize,
        interval_us: u64,
        points: F,
    ) -> Result<Timeline, ReportError>
    where
        F: Fn(usize, usize) -> Vec<&'a TimelinePoint>,
    {
        let mut out = Timeline::new(names);
        out.interval_us = interval_us;
        let mut ser = V2DeflateSerializer::new();
        let mut buf = Vec::new();
        let mut acc = Acc::new();
        let mut all = Acc::new();
        for i in 0..len {
            all.reset();
            for (t, series) in out.targets.iter_mut().enumerate() {
                acc.reset();
                for p in points(t, i) {
                    acc.add_point(p, &series.target)?;
                }
                all.add_acc(&acc);
                series.intervals.push(acc.point(Some((&mut ser, &mut buf))));
            }
            out.overall.intervals.push(all.point(None));
        }
        Ok(out)
    }

    /// The same run at twice the interval length: adjacent pairs merged
    /// (an odd last interval stays alone).
    pub fn coarsened(&self) -> Result<Timeline, ReportError> {
        let names: Vec<String> = self.targets.iter().map(|s| s.target.clone()).collect();
        let len = self.len().div_ceil(2);
        Timeline::rebuild(&names, len, self.interval_us.saturating_mul(2), |t, i| {
            self.targets[t]
                .intervals
                .iter()
                .skip(2 * i)
                .take(2)
                .collect()
        })
    }

    /// Coarsened until it holds at most [`MAX_TIMELINE_INTERVALS`] and its
    /// interval is at least `interval_us`.
    fn coarsened_to(mut self, interval_us: u64) -> Result<Timeline, ReportError> {
        while self.len() > MAX_TIMELINE_INTERVALS || self.interval_us < interval_us {
            self = self.coarsened()?;
        }
        Ok(self)
    }

    /// Adds the timelines of concurrent runs, target by target (by name,
    /// into the series of `names`), interval index by interval index,
    /// after bringing them to the coarsest interval length among them.
    /// Histograms are added and percentiles recomputed. `None` when they
    /// cannot be aligned (interval lengths that are not power-of-two
    /// multiples of each other) or one is malformed (a zero interval).
    pub fn merge(
        timelines: &[&Timeline],
        names: &[String],
    ) -> Result<Option<Timeline>, ReportError> {
        let Some(coarsest) = timelines.iter().map(|t| t.interval_us).max() else {
            return Ok(None);
        };
        if timelines.iter().any(|t| t.interval_us == 0) {
            return Ok(None);
        }
        let mut aligned = Vec::with_capacity(timelines.len());
        for t in timelines {
            let t = (*t).clone().coarsened_to(coarsest)?;
            if t.interval_us != coarsest {
                return Ok(None);
            }
            aligned.push(t);
        }
        let len = aligned.iter().map(Timeline::len).max().unwrap_or(0);
        // For each output target, its series in each source.
        let sources: Vec<Vec<&TimelineSeries>> = names
            .iter()
            .map(|n| {
                aligned
                    .iter()
                    .filter_map(|t| t.targets.iter().find(|s| s.target == *n))
                    .collect()
            })
            .collect();
        let merged = Timeline::rebuild(names, len, coarsest, |t, i| {
            sources[t]
                .iter()
                .filter_map(|s| s.intervals.get(i))
                .collect()
        })?;
        Ok(Some(merged.coarsened_to(coarsest)?))
    }
}

/// Builds a run's [`Timeline`] from its interval histograms, once per
/// interval (see the module docs). [`observe`](TimelineRecorder::observe)
/// is cheap (histogram additions and counters: it runs where the stats are
/// locked); [`settle`](TimelineRecorder::settle) encodes and coarsens, and
/// runs after the lock is released.
pub struct TimelineRecorder {
    done: Timeline,
    /// Intervals held at most (even).
    limit: usize,
    /// Base intervals per timeline interval (a power of two).
    factor: u64,
    /// Base intervals observed into `current`.
    observed: u64,
    current: Vec<Acc>,
    /// Each target's transport errors at the last observation.
    errors_seen: Vec<u64>,
    ser: V2DeflateSerializer,
    buf: Vec<u8>,
}

impl TimelineRecorder {
    /// A recorder for these targets (the names of [`Stats::targets`]),
    /// holding at most [`MAX_TIMELINE_INTERVALS`].
    pub fn new(targets: &[String]) -> TimelineRecorder {
        TimelineRecorder::with_limit(targets, MAX_TIMELINE_INTERVALS)
    }

    /// A recorder holding at most `limit` intervals (rounded up to an
    /// even number, at least 2).
    pub fn with_limit(targets: &[String], limit: usize) -> TimelineRecorder {
        TimelineRecorder {
            done: Timeline::new(targets),
            limit: limit.max(2).next_multiple_of(2),
            factor: 1,
            observed: 0,
            current: targets.iter().map(|_| Acc::new()).collect(),
            errors_seen: vec![0; targets.len()],
            ser: V2DeflateSerializer::new(),
            buf: Vec::new(),
        }
    }

    /// Adds one base interval (`start..end`, offsets from the run's start)
    /// from the interval histograms of `stats` and its error counters. Does
    /// not clear them: the caller does, with [`Stats::reset_interval`],
    /// once every reader of the interval is done.
    pub fn observe(&mut self, start: Duration, end: Duration, stats: &Stats) {
        let (start, end) = (us(start), us(end));
        for (i, ((_, h), acc)) in stats
            .interval_histograms()
            .zip(self.current.iter_mut())
            .enumerate()
        {
            acc.span(start, end.saturating_sub(start));
            if let Some(h) = h {
                add_histogram(&mut acc.h, h);
            }
            let errors = stats.target(i).map_or(0, |t| t.errors_total());
            acc.errors = acc
                .errors
                .saturating_add(errors.saturating_sub(self.errors_seen[i]));
            self.errors_seen[i] = errors;
        }
        self.observed += 1;
    }

    /// Closes the current interval once it holds its share of base
    /// intervals, and coarsens the timeline when it is full.
    pub fn settle(&mut self) -> Result<(), ReportError> {
        if self.observed >= self.factor {
            self.close();
        }
        if self.done.len() >= self.limit {
            self.done = self.done.coarsened()?;
            self.factor = self.factor.saturating_mul(2);
        }
        Ok(())
    }

    fn close(&mut self) {
        let mut all = Acc::new();
        for (acc, series) in self.current.iter_mut().zip(self.done.targets.iter_mut()) {
            all.add_acc(acc);
            series
                .intervals
                .push(acc.point(Some((&mut self.ser, &mut self.buf))));
            acc.reset();
        }
        self.done.overall.intervals.push(all.point(None));
        self.observed = 0;
    }

    /// The timeline, the last partial interval included.
    pub fn finish(mut self) -> Timeline {
        if self.observed > 0 {
            self.close();
        }
        self.done
    }
}

#[cfg(test)]
mod tests;
