//! Pass/fail thresholds for CI, in k6's grammar.
//!
//! ```text
//! threshold  = metric op value
//! metric     = [series] aggregate | "error_rate" | "drop_rate" | "rate"
//!            | "sent" | "completed" | "errors" | "dropped"
//!            | comparison [scope]
//! comparison = "diff_rate" | "status_mismatch" | "latency_ratio_" ("p50" | "p90" | "p99")
//! scope      = "{endpoint=" quoted "}"
//! series     = "latency_" | "service_" | "service_time_" | "lag_" | "schedule_lag_"
//! aggregate  = "p(" number ")" | "p" digits | "avg" | "mean" | "med" | "min" | "max"
//! op         = "<" | "<=" | ">" | ">=" | "=="
//! value      = number [unit]
//! ```
//!
//! Whitespace is allowed around every token. Examples: `p(99)<250ms`,
//! `p(50) <= 20ms`, `p(99.9)<1s`, `avg<100ms`, `max<2s`, `error_rate<1%`,
//! `error_rate<0.01`, `rate>=900/s`, `rate>=900`, `lag_p99<5ms`,
//! `service_p(90)<50ms`, `dropped==0`.
//!
//! - With no series, an aggregate is about **latency** (from the intended
//!   send). `pNN` is shorthand: `p50` = 50th, `p99` = 99th, `p999` =
//!   99.9th, `p9999` = 99.99th, `p975` = 97.5th (two digits of integer part,
//!   the rest decimals, which only a 9x percentile may have; `p100` = 100th).
//! - Time units: `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; a bare number is
//!   milliseconds, as in k6.
//! - Ratios (`error_rate`, `drop_rate`): `1%` or `0.01`; a bare number must be
//!   between 0 and 1. `error_rate` counts transport errors and 5xx responses
//!   over requests sent (see [`crate::report`]).
//! - `rate`: requests sent per second, `/s` (or bare), `/m`, `/h`.
//! - Counts (`sent`, `completed`, `errors`, `dropped`): bare numbers.
//! - Comparison (`--compare`, `diff`): `diff_rate` is requests differing
//!   beyond noise over requests compared (a ratio, like `error_rate`);
//!   `status_mismatch` a count of requests whose status differed;
//!   `latency_ratio_p50`/`_p90`/`_p99` the candidate's percentile over the
//!   baseline's (a bare number: `latency_ratio_p99<1.2`). With a scope,
//!   `diff_rate{endpoint="GET /api/items/{id}"}<1%`, about that endpoint
//!   alone (the quoted name takes `\"` and `\\` escapes); without, about
//!   all of a target's requests (for latency ratios: the largest ratio of
//!   any endpoint).
//!
//! ## Evaluation
//!
//! Each threshold is checked against **every target** of the report (every
//! target receives the full stream, so "p99 below 250 ms" and "rate at least
//! 900/s" are statements about each target), and passes only when every
//! target passes; a report without targets is checked against its overall
//! figures. A threshold with no samples fails: latency aggregates need at
//! least one response, `error_rate`/`rate` at least one request sent,
//! `drop_rate` and counts at least one request sent or dropped.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::report::{human_us, Report, ReportError, TargetReport};

mod parse;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    /// `observed op limit`.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => observed == limit,
        }
    }
}

/// How a time series is reduced to one number.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Aggregate {
    /// A percentile, 0 to 100.
    Percentile(f64),
    /// The arithmetic mean.
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

/// Which time histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Series {
    /// Latency from the intended send.
    Latency,
    /// Service time from the actual send.
    ServiceTime,
    /// Schedule lag.
    ScheduleLag,
}

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Metric {
    /// An aggregate of a time series, in µs.
    Time(Series, Aggregate),
    /// (transport errors + 5xx) / sent, as a fraction.
    ErrorRate,
    /// dropped / (sent + dropped), as a fraction.
    DropRate,
    /// Requests sent per second.
    Rate,
    /// Requests sent.
    Sent,
    /// Responses read.
    Completed,
    /// Transport errors.
    Errors,
    /// Requests dropped.
    Dropped,
    /// Requests differing beyond noise over requests compared.
    DiffRate,
    /// Requests whose status differed.
    StatusMismatch,
    /// The candidate's latency percentile over the baseline's: 50, 90, 99.
    LatencyRatio(u8),
}

impl Metric {
    /// A comparison metric (checked against the comparison, not the
    /// replay's figures).
    pub fn is_comparison(&self) -> bool {
        matches!(
            self,
            Metric::DiffRate | Metric::StatusMismatch | Metric::LatencyRatio(_)
        )
    }
}

/// One parsed threshold. `limit` is in the metric's canonical unit: µs for
/// times, a fraction for ratios, per second for `rate`, a count for counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The expression as the user wrote it.
    pub expr: String,
    /// What is measured.
    pub metric: Metric,
    /// The comparison.
    pub op: Op,
    /// The limit, canonical unit.
    pub limit: f64,
    /// A comparison metric's endpoint, when scoped to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// What is wrong with a threshold expression.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ThresholdErrorKind {
    /// Nothing but whitespace.
    #[error("empty threshold")]
    Empty,
    /// No comparison operator.
    #[error("no comparison operator (use <, <=, >, >= or ==)")]
    MissingOperator,
    /// An operator that is not one of `< <= > >= ==`.
    #[error("unknown operator {op:?} (use <, <=, >, >= or ==)")]
    BadOperator {
        /// The operator text.
        op: String,
    },
    /// A metric name that is not known.
    #[error("unknown metric {metric:?} (known: p(N), pNN, avg, min, med, max with optional latency_/service_/lag_ prefix, error_rate, drop_rate, rate, sent, completed, errors, dropped, diff_rate, status_mismatch, latency_ratio_p50/p90/p99)")]
    UnknownMetric {
        /// The metric text.
        metric: String,
    },
    /// A percentile that does not parse or is outside 0 to 100.
    #[error(
        "bad percentile {text:?} (expected p(N) with 0 <= N <= 100, e.g. p(99.9), or p99, p999)"
    )]
    BadPercentile {
        /// The percentile text.
        text: String,
    },
    /// The value is missing or not a finite non-negative number.
    #[error("bad value {text:?} (expected a non-negative number)")]
    BadNumber {
        /// The value text.
        text: String,
    },
    /// A unit that does not fit the metric.
    #[error("bad unit {unit:?} for {metric} (expected {expected})")]
    BadUnit {
        /// The unit text.
        unit: String,
        /// The metric, as written.
        metric: String,
        /// The units this metric accepts.
        expected: &'static str,
    },
    /// An `{endpoint="..."}` scope that does not parse, or on a metric
    /// that is not a comparison's.
    #[error("bad scope {text:?} ({hint})")]
    BadScope {
        /// The scope text.
        text: String,
        /// What would be valid.
        hint: &'static str,
    },
    /// A value outside the metric's range (a ratio above 1).
    #[error("value {text:?} out of range for {metric} ({hint})")]
    OutOfRange {
        /// The value text.
        text: String,
        /// The metric, as written.
        metric: String,
        /// What would be valid.
        hint: &'static str,
    },
}

/// An invalid threshold expression.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid threshold {expr:?}: {kind}")]
pub struct ThresholdError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong.
    pub kind: ThresholdErrorKind,
}

impl Threshold {
    /// Parses one expression.
    pub fn parse(s: &str) -> Result<Threshold, ThresholdError> {
        s.parse()
    }

    /// Parses every expression, reporting every invalid one.
    pub fn parse_all<S: AsRef<str>>(exprs: &[S]) -> Result<Vec<Threshold>, Vec<ThresholdError>> {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for e in exprs {
            match Threshold::parse(e.as_ref()) {
                Ok(t) => ok.push(t),
                Err(err) => errors.push(err),
            }
        }
        if errors.is_empty() {
            Ok(ok)
        } else {
            Err(errors)
        }
    }

    /// The observed value for one target, `None` when there are no samples.
    fn observe(&self, t: &TargetReport, stats: &crate::stats::TargetStats) -> Option<f64> {
        let anything = t.sent > 0 || t.dropped_total > 0;
        match self.metric {
            Metric::Time(series, agg) => {
                let h = match series {
                    Series::Latency => &stats.latency,
                    Series::ServiceTime => &stats.service_time,
                    Series::ScheduleLag => &stats.schedule_lag,
                };
                if h.is_empty() {
                    return None;
                }
                Some(match agg {
                    Aggregate::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
                    Aggregate::Avg => h.mean(),
                    Aggregate::Min => h.min() as f64,
                    Aggregate::Max => h.max() as f64,
                })
            }
            Metric::ErrorRate => (t.sent > 0).then_some(t.error_rate),
            Metric::Rate => (t.sent > 0).then_some(t.achieved_rate_per_s),
            Metric::DropRate => anything.then_some(t.drop_rate),
            Metric::Sent => anything.then_some(t.sent as f64),
            Metric::Completed => anything.then_some(t.completed as f64),
            Metric::Errors => anything.then_some(t.errors_total as f64),
            Metric::Dropped => anything.then_some(t.dropped_total as f64),
            // Observed on the comparison ([`evaluate_comparison`]).
            Metric::DiffRate | Metric::StatusMismatch | Metric::LatencyRatio(_) => None,
        }
    }

    /// The observed value of a comparison metric on one target's
    /// comparison, `None` when nothing was compared (or, for a latency
    /// ratio, no latency was measured; for a scoped one, when the endpoint
    /// was not seen).
    fn observe_comparison(&self, t: &crate::compare::tally::TargetReport) -> Option<f64> {
        use crate::compare::tally::EndpointReport;
        let scoped: Vec<&EndpointReport> = match &self.endpoint {
            Some(name) => t.endpoints.iter().filter(|e| &e.endpoint == name).collect(),
            None => t.endpoints.iter().collect(),
        };
        let (compared, differing, mismatch) = match &self.endpoint {
            Some(_) => scoped.iter().fold((0, 0, 0), |(c, d, m), e| {
                (c + e.compared, d + e.differing, m + e.status_mismatch)
            }),
            None => (t.compared, t.differing, t.status_mismatch),
        };
        match self.metric {
            Metric::DiffRate => (compared > 0).then(|| differing as f64 / compared as f64),
            Metric::StatusMismatch => (compared > 0).then_some(mismatch as f64),
            Metric::LatencyRatio(p) => scoped
                .iter()
                .filter_map(|e| e.latency_us.as_ref())
                .filter_map(|l| match p {
                    50 => l.ratio_p50,
                    90 => l.ratio_p90,
                    _ => l.ratio_p99,
                })
                .reduce(f64::max),
            _ => None,
        }
    }

    /// Formats a value of this threshold's metric for humans.
    pub fn format_value(&self, v: f64) -> String {
        match self.metric {
            Metric::Time(..) => {
                if v.fract() == 0.0 && v >= 0.0 {
                    human_us(v as u64)
                } else if v < 1_000.0 {
                    format!("{v:.1}µs")
                } else {
                    human_us(v.round() as u64)
                }
            }
            Metric::ErrorRate | Metric::DropRate | Metric::DiffRate => format!("{:.3}%", v * 100.0),
            Metric::LatencyRatio(_) => format!("{v:.3}"),
            Metric::Rate => format!("{v:.1}/s"),
            _ => format!("{v:.0}"),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// The result of one threshold on one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression.
    pub threshold: String,
    /// The target URL (or `overall`).
    pub target: String,
    /// The observed value in the metric's canonical unit (µs, fraction, per
    /// second, count); `None` when there were no samples.
    pub observed: Option<f64>,
    /// The limit, same unit.
    pub limit: f64,
    /// Pass or fail (no samples fails).
    pub passed: bool,
    /// The observed value for humans.
    pub observed_text: String,
}

/// Every threshold evaluated against a report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// One row per threshold and target, thresholds in the order given.
    pub results: Vec<ThresholdResult>,
}

impl Evaluation {
    /// True when every threshold passed on every target (and vacuously when
    /// there are no thresholds).
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }

    /// Number of failed rows.
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }

    /// A text table of the results, for stderr.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if self.results.is_empty() {
            return out;
        }
        let w_expr = self
            .results
            .iter()
            .map(|r| r.threshold.chars().count())
            .max()
            .unwrap_or(0)
            .max("threshold".len());
        let w_obs = self
            .results
            .iter()
            .map(|r| r.observed_text.chars().count())
            .max()
            .unwrap_or(0)
            .max("observed".len());
        let _ = writeln!(
            out,
            "thresholds: {} passed, {} failed",
            self.results.len() - self.failures(),
            self.failures()
        );
        let _ = writeln!(
            out,
            "  {:<4}  {:<w_expr$}  {:<w_obs$}  target",
            "", "threshold", "observed"
        );
        for r in &self.results {
            let _ = writeln!(
                out,
                "  {:<4}  {:<w_expr$}  {:<w_obs$}  {}",
                if r.passed { "ok" } else { "FAIL" },
                r.threshold,
                r.observed_text,
                r.target
            );
        }
        out
    }
}

/// Evaluates thresholds against a report: per target (see the module docs),
/// or the overall figures when the report has no target.
pub fn evaluate(thresholds: &[Threshold], report: &Report) -> Result<Evaluation, ReportError> {
    // A comparison's baselines (primary, secondary) are not judged.
    let candidates: Vec<&TargetReport> =
        report.targets.iter().filter(|t| t.role.is_none()).collect();
    let scopes = if candidates.is_empty() {
        vec![&report.overall]
    } else {
        candidates
    };
    let decoded = scopes
        .iter()
        .map(|t| t.to_stats())
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::with_capacity(thresholds.len() * scopes.len());
    for th in thresholds.iter().filter(|t| !t.metric.is_comparison()) {
        for (t, stats) in scopes.iter().zip(decoded.iter()) {
            let observed = th.observe(t, stats);
            let passed = observed.is_some_and(|v| th.op.holds(v, th.limit));
            results.push(ThresholdResult {
                threshold: th.expr.clone(),
                target: t.target.clone(),
                observed,
                limit: th.limit,
                passed,
                observed_text: observed
                    .map_or_else(|| "no samples".to_owned(), |v| th.format_value(v)),
            });
        }
    }
    Ok(Evaluation { results })
}

/// Evaluates the comparison thresholds of `thresholds` against a
/// comparison: per target, as [`evaluate`] does; the others are skipped.
pub fn evaluate_comparison(
    thresholds: &[Threshold],
    c: &crate::compare::tally::ComparisonReport,
) -> Evaluation {
    let scopes: Vec<&crate::compare::tally::TargetReport> = if c.targets.is_empty() {
        vec![&c.overall]
    } else {
        c.targets.iter().collect()
    };
    let mut results = Vec::new();
    for th in thresholds.iter().filter(|t| t.metric.is_comparison()) {
        for t in &scopes {
            let observed = th.observe_comparison(t);
            let passed = observed.is_some_and(|v| th.op.holds(v, th.limit));
            results.push(ThresholdResult {
                threshold: th.expr.clone(),
                target: t.target.clone().unwrap_or_else(|| "overall".to_owned()),
                observed,
                limit: th.limit,
                passed,
                observed_text: observed
                    .map_or_else(|| "no samples".to_owned(), |v| th.format_value(v)),
            });
        }
    }
    Evaluation { results }
}
