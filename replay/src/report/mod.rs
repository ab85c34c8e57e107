//! The report of a replay: JSON for machines, a short text summary for
//! humans, an HTML page with charts ([`html`]), and merging of reports from
//! several machines.
//!
//! A [`Report`] is built from [`Stats`] once a run ends. Every figure is in a
//! field whose name carries its unit (`_us`, `_per_s`). Next to the
//! percentiles, each target carries its histograms in HdrHistogram's V2
//! compressed ("deflate") serialization, base64 encoded
//! ([`HISTOGRAM_ENCODING`]), which any HdrHistogram implementation decodes.
//! [`Report::merge`] decodes and *adds* those histograms, then recomputes
//! every percentile: percentiles are never averaged. The optional
//! [`timeline`] keeps latency per interval, bounded, merged interval by
//! interval the same way.
//!
//! ## Definitions
//!
//! - `sent`: requests handed to the transport (attempted), per target:
//!   `completed` + `errors_total` + `unanswered`. Requests never attempted
//!   are in `dropped`.
//! - `unanswered`: sent, but neither answered nor failed when the run was
//!   stopped (an interrupt whose grace period ended). Not in `error_rate`.
//! - `completed`: responses fully read.
//! - `error_rate`: (transport errors + 5xx responses) / `sent`. 4xx responses
//!   are not errors: captured traffic legitimately contains them.
//! - `drop_rate`: `dropped_total` / (`sent` + `dropped_total`).
//! - `achieved_rate_per_s`: `sent` / `duration_us`. The `overall` entry adds
//!   every target, so with two targets it is twice the stream's rate.
//! - `latency_us` (from the intended send), `service_time_us` (from the
//!   actual send): responses only; `schedule_lag_us`: every attempt.
//!
//! When reports are merged, runs are taken as concurrent (several machines
//! driving targets at the same time): counters and histograms add up, the
//! duration is the longest one, and the configuration is the first report's.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{
    status_class, DropCause, ErrorKind, SkipReason, Stats, TargetStats, STATUS_CLASSES,
};
use crate::threshold::{Evaluation, ThresholdResult};

mod codec;
pub mod html;
mod merge;
mod text;
pub mod timeline;

use self::codec::{decode, encode};

pub use self::text::{human_us, PACE_WARNING_US};
pub use self::timeline::{Timeline, TimelineRecorder};

/// Version of the JSON report layout. Bumped when a field changes meaning or
/// disappears; new fields may appear without a bump.
pub const REPORT_VERSION: u32 = 1;

/// How [`EncodedHistograms`] are encoded.
pub const HISTOGRAM_ENCODING: &str = "hdrhistogram-v2-deflate+base64";

/// The name of the entry that adds every target.
pub const OVERALL: &str = "overall";

/// Largest decoded histogram accepted when merging (bytes after base64).
/// A histogram of this crate's bounds is far smaller; the bound keeps a
/// hostile report from making us allocate without limit.
pub const MAX_ENCODED_HISTOGRAM: usize = 4 << 20;

/// Errors of reading or merging reports.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report was written by a newer, incompatible version.
    #[error("report version {found} is not supported (this version reads up to {supported})")]
    UnsupportedVersion {
        /// Version found in the report.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
    /// A histogram field is not valid base64.
    #[error("histogram {field} of target {target:?}: invalid base64")]
    Base64 {
        /// Target name.
        target: String,
        /// Which histogram.
        field: String,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// A histogram field does not decode as an HdrHistogram.
    #[error("histogram {field} of target {target:?} is not an HdrHistogram")]
    Histogram {
        /// Target name.
        target: String,
        /// Which histogram.
        field: String,
        /// The decoder's error.
        #[source]
        source: hdrhistogram::serialization::DeserializeError,
    },
    /// A histogram field is larger than [`MAX_ENCODED_HISTOGRAM`].
    #[error("histogram {field} of target {target:?} is too large ({len} bytes)")]
    HistogramTooLarge {
        /// Target name.
        target: String,
        /// Which histogram.
        field: String,
        /// Decoded length.
        len: usize,
    },
    /// A histogram's header is not one shadowtap writes (another encoding,
    /// or a precision or size no histogram of shadowtap's has).
    #[error("histogram {field} of target {target:?}: {why}")]
    HistogramHeader {
        /// Target name.
        target: String,
        /// Which histogram.
        field: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The histogram encoding is not [`HISTOGRAM_ENCODING`].
    #[error("unknown histogram encoding {0:?}")]
    UnknownEncoding(String),
    /// A key of `status` is not a status code.
    #[error("target {target:?}: status key {key:?} is not a status code")]
    BadStatusCode {
        /// Target name.
        target: String,
        /// The key.
        key: String,
    },
    /// Nothing to merge.
    #[error("no report to merge")]
    Empty,
}

/// What the caller knows about the run that [`Stats`] does not.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The run's configuration as the user gave it (targets, speed,
    /// sampling, rate, ...), shown verbatim in the report.
    pub config: serde_json::Value,
    /// The sampling seed in force.
    pub seed: Option<u64>,
    /// Wall time from the run's start to its end.
    pub elapsed: Duration,
    /// The run was stopped by a signal before its end.
    pub interrupted: bool,
}

/// Percentiles and moments of one histogram, in the unit named by the field
/// holding it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub count: u64,
    /// Smallest value (0 when empty).
    pub min: u64,
    /// Arithmetic mean (0 when empty).
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value (0 when empty).
    pub max: u64,
}

impl Summary {
    /// The summary of a histogram.
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A target's histograms, encoded ([`HISTOGRAM_ENCODING`]); values in µs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistograms {
    /// Always [`HISTOGRAM_ENCODING`].
    pub encoding: String,
    /// Unit of the recorded values: `us`.
    pub unit: String,
    /// Latency from the intended send.
    pub latency: String,
    /// Service time from the actual send.
    pub service_time: String,
    /// Schedule lag.
    pub schedule_lag: String,
    /// Latency per status class (`2xx`, ...), classes seen only.
    pub latency_by_class: BTreeMap<String, String>,
    /// Mirror delay (`tee` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_delay: Option<String>,
}

/// The measurements of one target (or of all, in [`Report::overall`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The target URL, or [`OVERALL`].
    pub target: String,
    /// What the target is besides a candidate: `primary`, `secondary` or
    /// `calibration` (`replay --compare --primary`). Absent for a
    /// candidate; thresholds on replay metrics judge candidates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Requests attempted.
    pub sent: u64,
    /// Responses fully read.
    pub completed: u64,
    /// Sent, and neither answered nor failed when the run was stopped.
    /// (Absent from reports of versions before it was counted: 0.)
    #[serde(default)]
    pub unanswered: u64,
    /// Transport errors, all kinds.
    pub errors_total: u64,
    /// Transport errors by kind (every known kind, zeros included).
    pub errors: BTreeMap<String, u64>,
    /// Requests not sent, all causes.
    pub dropped_total: u64,
    /// Requests not sent, by cause (every known cause, zeros included).
    pub dropped: BTreeMap<String, u64>,
    /// (transport errors + 5xx) / sent; 0 when nothing was sent.
    pub error_rate: f64,
    /// dropped / (sent + dropped); 0 when there was nothing.
    pub drop_rate: f64,
    /// Requests attempted per second of the run.
    pub achieved_rate_per_s: f64,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
    /// Status code → count.
    pub status: BTreeMap<String, u64>,
    /// Status class (`1xx` ... `5xx`, and `other` for codes outside) → count.
    pub status_classes: BTreeMap<String, u64>,
    /// Latency from the intended send time (coordinated-omission corrected).
    pub latency_us: Summary,
    /// Service time from the actual send time.
    pub service_time_us: Summary,
    /// How late sends were (actual − intended).
    pub schedule_lag_us: Summary,
    /// Latency per status class, classes seen only.
    pub latency_by_class_us: BTreeMap<String, Summary>,
    /// `tee` only: from the request's last byte on the captured wire to the
    /// mirror send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_delay_us: Option<Summary>,
    /// Why the `tls` errors happened: [`TlsReason`](crate::stats::TlsReason)
    /// name (`unknown_issuer`, `name_mismatch`, `expired`, ...) → count.
    /// Absent when there were none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tls_reasons: BTreeMap<String, u64>,
    /// The histograms, for merging.
    pub histograms: EncodedHistograms,
}

/// The JSON report of a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// `shadowtap`.
    pub tool: String,
    /// Version of the tool that wrote the report.
    pub tool_version: String,
    /// The run's configuration.
    pub config: serde_json::Value,
    /// The sampling seed.
    pub seed: Option<u64>,
    /// Duration of the run.
    pub duration_us: u64,
    /// The run was stopped by a signal.
    pub interrupted: bool,
    /// How many runs were added into this report (1 unless merged).
    pub sources: u32,
    /// Input exchanges left out by sampling.
    pub sampled_out: u64,
    /// Input exchanges left out by `--include` / `--exclude` (absent in
    /// reports written before filters existed: 0).
    #[serde(default)]
    pub filtered_out: u64,
    /// Input exchanges that could not be replayed, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Every target added.
    pub overall: TargetReport,
    /// Each target.
    pub targets: Vec<TargetReport>,
    /// Threshold results, when thresholds were given (see
    /// [`Report::set_thresholds`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    /// `replay --compare`: the candidate responses compared with the
    /// recorded ones (the comparison report's object, see
    /// [`compare::tally`](crate::compare::tally), with a `not_compared`
    /// count). Absent without `--compare`; not added up when merging
    /// reports (the merged report has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<serde_json::Value>,
    /// `replay --record-responses`: what was recorded (the
    /// [`RecordSummary`](crate::engine::RecordSummary) object: `recorded`,
    /// `dropped`, `not_written`, and per target `logs`). Absent without it;
    /// not added up when merging reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_responses: Option<serde_json::Value>,
    /// Latency over time, per interval (see [`timeline`]). Absent from
    /// reports written before it was recorded, and from a merge of reports
    /// one of which has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

impl TargetReport {
    /// Renders one target's measurements.
    pub fn from_stats(name: &str, t: &TargetStats, elapsed: Duration) -> TargetReport {
        let mut ser = V2DeflateSerializer::new();
        let mut buf = Vec::new();
        let mut errors: BTreeMap<String, u64> = ErrorKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), t.errors_of(*k)))
            .collect();
        for (k, v) in &t.errors_other {
            *errors.entry(k.clone()).or_insert(0) += v;
        }
        let mut dropped: BTreeMap<String, u64> = DropCause::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), t.dropped_of(*c)))
            .collect();
        for (k, v) in &t.dropped_other {
            *dropped.entry(k.clone()).or_insert(0) += v;
        }
        let mut status_classes: BTreeMap<String, u64> = BTreeMap::new();
        for (code, n) in &t.status {
            let key = status_class(*code).map_or("other", |c| STATUS_CLASSES[c]);
            *status_classes.entry(key.to_owned()).or_insert(0) += n;
        }
        let server_errors = t.class_count(4);
        let mut latency_by_class_us = BTreeMap::new();
        let mut latency_by_class = BTreeMap::new();
        for (i, h) in t.latency_by_class.iter().enumerate() {
            if let Some(h) = h {
                latency_by_class_us.insert(STATUS_CLASSES[i].to_owned(), Summary::of(h));
                latency_by_class
                    .insert(STATUS_CLASSES[i].to_owned(), encode(h, &mut ser, &mut buf));
            }
        }
        let errors_total = t.errors_total();
        let dropped_total = t.dropped_total();
        TargetReport {
            target: name.to_owned(),
            role: None,
            sent: t.sent,
            completed: t.completed,
            unanswered: t.unanswered,
            errors_total,
            errors,
            dropped_total,
            dropped,
            error_rate: ratio(errors_total.saturating_add(server_errors), t.sent),
            drop_rate: ratio(dropped_total, t.sent.saturating_add(dropped_total)),
            achieved_rate_per_s: per_second(t.sent, elapsed),
            bytes_sent: t.bytes_sent,
            bytes_received: t.bytes_received,
            status: t.status.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            status_classes,
            latency_us: Summary::of(&t.latency),
            service_time_us: Summary::of(&t.service_time),
            schedule_lag_us: Summary::of(&t.schedule_lag),
            latency_by_class_us,
            mirror_delay_us: t.mirror_delay.as_deref().map(Summary::of),
            tls_reasons: t.tls_reasons.clone(),
            histograms: EncodedHistograms {
                encoding: HISTOGRAM_ENCODING.to_owned(),
                unit: "us".to_owned(),
                latency: encode(&t.latency, &mut ser, &mut buf),
                service_time: encode(&t.service_time, &mut ser, &mut buf),
                schedule_lag: encode(&t.schedule_lag, &mut ser, &mut buf),
                latency_by_class,
                mirror_delay: t
                    .mirror_delay
                    .as_deref()
                    .map(|h| encode(h, &mut ser, &mut buf)),
            },
        }
    }

    /// Decodes the measurements back (counters and histograms).
    pub fn to_stats(&self) -> Result<TargetStats, ReportError> {
        if self.histograms.encoding != HISTOGRAM_ENCODING {
            return Err(ReportError::UnknownEncoding(
                self.histograms.encoding.clone(),
            ));
        }
        let mut t = TargetStats::new();
        t.sent = self.sent;
        t.completed = self.completed;
        t.unanswered = self.unanswered;
        for (k, v) in &self.errors {
            match ErrorKind::ALL.iter().position(|e| e.as_str() == k) {
                Some(i) => t.errors[i] += v,
                None => {
                    *t.errors_other.entry(k.clone()).or_insert(0) += v;
                }
            }
        }
        for (k, v) in &self.dropped {
            match DropCause::ALL.iter().position(|c| c.as_str() == k) {
                Some(i) => t.dropped[i] += v,
                None => {
                    *t.dropped_other.entry(k.clone()).or_insert(0) += v;
                }
            }
        }
        t.bytes_sent = self.bytes_sent;
        t.bytes_received = self.bytes_received;
        for (k, v) in &self.status {
            let code = k.parse::<u16>().map_err(|_| ReportError::BadStatusCode {
                target: self.target.clone(),
                key: k.clone(),
            })?;
            *t.status.entry(code).or_insert(0) += v;
        }
        t.tls_reasons = self.tls_reasons.clone();
        let h = &self.histograms;
        t.latency = decode(&h.latency, &self.target, "latency")?;
        t.service_time = decode(&h.service_time, &self.target, "service_time")?;
        t.schedule_lag = decode(&h.schedule_lag, &self.target, "schedule_lag")?;
        if let Some(enc) = &h.mirror_delay {
            t.mirror_delay = Some(Box::new(decode(enc, &self.target, "mirror_delay")?));
        }
        for (class, enc) in &h.latency_by_class {
            if let Some(i) = STATUS_CLASSES.iter().position(|c| c == class) {
                t.latency_by_class[i] = Some(Box::new(decode(enc, &self.target, class)?));
            }
        }
        Ok(t)
    }
}

impl Report {
    /// Builds the report of a run.
    pub fn from_stats(stats: &Stats, run: &RunInfo) -> Report {
        let skipped = SkipReason::ALL
            .iter()
            .map(|r| (r.as_str().to_owned(), stats.skipped(*r)))
            .collect();
        Report::build(
            stats.targets(),
            stats.per_target(),
            &stats.overall(),
            (stats.sampled_out(), stats.filtered_out()),
            skipped,
            run,
            1,
        )
    }

    pub(crate) fn build(
        names: &[String],
        per_target: &[TargetStats],
        overall: &TargetStats,
        (sampled_out, filtered_out): (u64, u64),
        skipped: BTreeMap<String, u64>,
        run: &RunInfo,
        sources: u32,
    ) -> Report {
        Report {
            version: REPORT_VERSION,
            tool: "shadowtap".to_owned(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            config: run.config.clone(),
            seed: run.seed,
            duration_us: u64::try_from(run.elapsed.as_micros()).unwrap_or(u64::MAX),
            interrupted: run.interrupted,
            sources,
            sampled_out,
            filtered_out,
            skipped,
            overall: TargetReport::from_stats(OVERALL, overall, run.elapsed),
            targets: names
                .iter()
                .zip(per_target.iter())
                .map(|(n, t)| TargetReport::from_stats(n, t, run.elapsed))
                .collect(),
            thresholds: Vec::new(),
            comparison: None,
            recorded_responses: None,
            timeline: None,
        }
    }

    /// Stores threshold results in the report (for the JSON output).
    pub fn set_thresholds(&mut self, evaluation: &Evaluation) {
        self.thresholds = evaluation.results.clone();
    }

    /// The run's duration.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.duration_us)
    }

    /// Decodes the report back into [`Stats`] (targets in report order).
    pub fn to_stats(&self) -> Result<Stats, ReportError> {
        let mut skipped = [0u64; 5];
        for (i, r) in SkipReason::ALL.iter().enumerate() {
            skipped[i] = self.skipped.get(r.as_str()).copied().unwrap_or(0);
        }
        let per_target = self
            .targets
            .iter()
            .map(TargetReport::to_stats)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stats::from_parts(
            self.targets.iter().map(|t| t.target.clone()).collect(),
            per_target,
            (self.sampled_out, self.filtered_out),
            skipped,
        ))
    }
}
