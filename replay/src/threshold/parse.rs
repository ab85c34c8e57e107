//! The grammar of a threshold expression (see the parent module), parsed
//! into a [`Threshold`].

use std::str::FromStr;

use super::{Aggregate, Metric, Op, Series, Threshold, ThresholdError, ThresholdErrorKind};

const TIME_UNITS: &str = "ns, us, µs, ms, s, m or h (bare numbers are ms)";
const RATIO_UNITS: &str = "% or a bare fraction";
const RATE_UNITS: &str = "/s, /m, /h or a bare number per second";
const COUNT_UNITS: &str = "a bare number";

fn is_op_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!' | '≤' | '≥' | '≠')
}

fn parse_percentile(text: &str) -> Result<f64, ThresholdErrorKind> {
    let bad = || ThresholdErrorKind::BadPercentile {
        text: text.to_owned(),
    };
    let rest = text.strip_prefix('p').ok_or_else(bad)?;
    let value = if let Some(inner) = rest.strip_prefix('(') {
        let inner = inner.strip_suffix(')').ok_or_else(bad)?;
        if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(bad());
        }
        inner.parse::<f64>().map_err(|_| bad())?
    } else {
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        if rest == "100" {
            100.0
        } else if rest.len() <= 2 {
            rest.parse::<f64>().map_err(|_| bad())?
        } else if !rest.starts_with('9') {
            // `p101`, `p505`: more likely a typo than 10.1 or 50.5.
            return Err(bad());
        } else {
            format!("{}.{}", &rest[..2], &rest[2..])
                .parse::<f64>()
                .map_err(|_| bad())?
        }
    };
    if !(0.0..=100.0).contains(&value) {
        return Err(bad());
    }
    Ok(value)
}

fn parse_metric(text: &str) -> Result<Metric, ThresholdErrorKind> {
    match text {
        "error_rate" => return Ok(Metric::ErrorRate),
        "drop_rate" => return Ok(Metric::DropRate),
        "rate" => return Ok(Metric::Rate),
        "sent" => return Ok(Metric::Sent),
        "completed" => return Ok(Metric::Completed),
        "errors" => return Ok(Metric::Errors),
        "dropped" => return Ok(Metric::Dropped),
        "diff_rate" => return Ok(Metric::DiffRate),
        "status_mismatch" => return Ok(Metric::StatusMismatch),
        "latency_ratio_p50" => return Ok(Metric::LatencyRatio(50)),
        "latency_ratio_p90" => return Ok(Metric::LatencyRatio(90)),
        "latency_ratio_p99" => return Ok(Metric::LatencyRatio(99)),
        _ => {}
    }
    let (series, agg) = [
        ("latency_", Series::Latency),
        ("service_time_", Series::ServiceTime),
        ("service_", Series::ServiceTime),
        ("schedule_lag_", Series::ScheduleLag),
        ("lag_", Series::ScheduleLag),
    ]
    .iter()
    .find_map(|(prefix, series)| text.strip_prefix(prefix).map(|rest| (*series, rest)))
    .unwrap_or((Series::Latency, text));
    let aggregate = match agg {
        "avg" | "mean" => Aggregate::Avg,
        "min" => Aggregate::Min,
        "max" => Aggregate::Max,
        "med" => Aggregate::Percentile(50.0),
        _ if agg.starts_with("p(")
            || (agg.starts_with('p') && agg[1..].starts_with(|c: char| c.is_ascii_digit())) =>
        {
            Aggregate::Percentile(parse_percentile(agg)?)
        }
        _ => {
            return Err(ThresholdErrorKind::UnknownMetric {
                metric: text.to_owned(),
            })
        }
    };
    Ok(Metric::Time(series, aggregate))
}

/// Splits `text` into a leading number and the rest.
fn split_number(text: &str) -> Result<(f64, &str), ThresholdErrorKind> {
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == 'E'))
        .map_or(text.len(), |(i, _)| i);
    // An exponent must be followed by a digit: `1e3` is a number, `5e` is not;
    // the unit never starts with `e`, so the greedy scan is safe.
    let num = &text[..end];
    let value = num
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| ThresholdErrorKind::BadNumber {
            text: text.to_owned(),
        })?;
    Ok((value, text[end..].trim()))
}

fn parse_limit(metric: &Metric, metric_text: &str, text: &str) -> Result<f64, ThresholdErrorKind> {
    let (value, unit) = split_number(text)?;
    let bad_unit = |expected: &'static str| ThresholdErrorKind::BadUnit {
        unit: unit.to_owned(),
        metric: metric_text.to_owned(),
        expected,
    };
    match metric {
        Metric::Time(..) => {
            let us_per_unit = match unit {
                "ns" => 0.001,
                "us" | "µs" | "μs" => 1.0,
                "" | "ms" => 1_000.0,
                "s" => 1_000_000.0,
                "m" => 60_000_000.0,
                "h" => 3_600_000_000.0,
                _ => return Err(bad_unit(TIME_UNITS)),
            };
            Ok(value * us_per_unit)
        }
        Metric::ErrorRate | Metric::DropRate | Metric::DiffRate => match unit {
            "%" if value <= 100.0 => Ok(value / 100.0),
            "" if value <= 1.0 => Ok(value),
            "%" | "" => Err(ThresholdErrorKind::OutOfRange {
                text: text.to_owned(),
                metric: metric_text.to_owned(),
                hint: "a ratio is 0 to 1, or 0% to 100%",
            }),
            _ => Err(bad_unit(RATIO_UNITS)),
        },
        Metric::Rate => match unit {
            "" | "/s" => Ok(value),
            "/m" => Ok(value / 60.0),
            "/h" => Ok(value / 3600.0),
            _ => Err(bad_unit(RATE_UNITS)),
        },
        Metric::LatencyRatio(_) => match unit {
            "" => Ok(value),
            _ => Err(bad_unit("a bare number (candidate over baseline)")),
        },
        Metric::Sent
        | Metric::Completed
        | Metric::Errors
        | Metric::Dropped
        | Metric::StatusMismatch => match unit {
            "" => Ok(value),
            _ => Err(bad_unit(COUNT_UNITS)),
        },
    }
}

/// Takes an `{endpoint="..."}` scope out of `expr`: the expression
/// without it, and the endpoint.
fn take_scope(expr: &str) -> Result<(String, Option<String>), ThresholdErrorKind> {
    let Some(open) = expr.find('{') else {
        return Ok((expr.to_owned(), None));
    };
    let bad = |hint| ThresholdErrorKind::BadScope {
        text: expr[open..].to_owned(),
        hint,
    };
    let inner = expr[open + 1..].trim_start();
    let rest = inner
        .strip_prefix("endpoint")
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('='))
        .map(str::trim_start)
        .and_then(|r| r.strip_prefix('"'))
        .ok_or_else(|| bad("expected {endpoint=\"METHOD /path\"}"))?;
    let mut name = String::new();
    let mut chars = rest.char_indices();
    let close = loop {
        match chars.next() {
            Some((_, '\\')) => match chars.next() {
                Some((_, c @ ('"' | '\\'))) => name.push(c),
                _ => return Err(bad("only \\\" and \\\\ are escapes in the endpoint's name")),
            },
            Some((i, '"')) => break i,
            Some((_, c)) => name.push(c),
            None => return Err(bad("the endpoint's name has no closing quote")),
        }
    };
    let after = rest[close + 1..].trim_start();
    let after = after
        .strip_prefix('}')
        .ok_or_else(|| bad("expected } after the endpoint's name"))?;
    Ok((format!("{}{}", &expr[..open], after), Some(name)))
}

fn parse_kind(expr: &str) -> Result<(Metric, Op, f64, Option<String>), ThresholdErrorKind> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err(ThresholdErrorKind::Empty);
    }
    let (expr, endpoint) = take_scope(expr)?;
    let expr = expr.as_str();
    let op_start = expr
        .find(is_op_char)
        .ok_or(ThresholdErrorKind::MissingOperator)?;
    let after = &expr[op_start..];
    let op_len = after
        .char_indices()
        .find(|(_, c)| !is_op_char(*c))
        .map_or(after.len(), |(i, _)| i);
    let op = match &after[..op_len] {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        other => {
            return Err(ThresholdErrorKind::BadOperator {
                op: other.to_owned(),
            })
        }
    };
    let metric_text: String = expr[..op_start]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if metric_text.is_empty() {
        return Err(ThresholdErrorKind::UnknownMetric {
            metric: String::new(),
        });
    }
    let metric = parse_metric(&metric_text)?;
    if endpoint.is_some() && !metric.is_comparison() {
        return Err(ThresholdErrorKind::BadScope {
            text: metric_text,
            hint: "only diff_rate, status_mismatch and latency_ratio_* take an endpoint",
        });
    }
    let value_text = after[op_len..].trim();
    let limit = parse_limit(&metric, &metric_text, value_text)?;
    Ok((metric, op, limit, endpoint))
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Threshold, ThresholdError> {
        match parse_kind(s) {
            Ok((metric, op, limit, endpoint)) => Ok(Threshold {
                expr: s.trim().to_owned(),
                metric,
                op,
                limit,
                endpoint,
            }),
            Err(kind) => Err(ThresholdError {
                expr: s.to_owned(),
                kind,
            }),
        }
    }
}
