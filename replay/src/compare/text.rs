//! The comparison's text summary: the endpoints with the most differences
//! first, the top fields of each with an example, then the noise, then
//! latency side by side.

use std::fmt::Write;

use super::tally::{ComparisonReport, EndpointReport, FieldReport, TargetReport};

/// Fields shown per endpoint, and endpoints per section.
pub const TOP: usize = 10;

fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

fn example(f: &FieldReport) -> String {
    let Some(e) = f.examples.first() else {
        return String::new();
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
    format!(
        "  e.g. request {}: {} → {}",
        e.request_id,
        show(&e.baseline),
        show(&e.candidate)
    )
}

fn counts(t: &TargetReport) -> String {
    format!(
        "{} compared, {} equal, {} noise only, {} differing ({}), {} status mismatches, {} errors{}",
        t.compared,
        t.equal,
        t.noise_only,
        t.differing,
        pct(t.diff_rate),
        t.status_mismatch,
        t.errors,
        if t.uncompared > 0 {
            format!(", {} bodies not compared (cut)", t.uncompared)
        } else {
            String::new()
        }
    )
}

fn endpoint_lines(out: &mut String, e: &EndpointReport) {
    let _ = writeln!(
        out,
        "  {}  compared {}  differing {} ({})  status mismatches {}  errors {}",
        e.endpoint,
        e.compared,
        e.differing,
        pct(e.diff_rate),
        e.status_mismatch,
        e.errors
    );
    for f in e.fields.iter().filter(|f| !f.noise).take(TOP) {
        let _ = writeln!(
            out,
            "    {:<32} {:<8} {:>8} ({}){}",
            f.path,
            f.kind.as_str(),
            f.count,
            pct(f.rate),
            example(f)
        );
    }
    let more = e
        .fields
        .iter()
        .filter(|f| !f.noise)
        .count()
        .saturating_sub(TOP);
    if more > 0 {
        let _ = writeln!(out, "    … {more} more fields (see the JSON report)");
    }
}

/// The summary of a comparison.
pub fn summary(r: &ComparisonReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "comparison: {}", counts(&r.overall));
    for t in &r.targets {
        if r.targets.len() > 1 {
            let _ = writeln!(
                out,
                "target {}: {}",
                t.target.as_deref().unwrap_or("?"),
                counts(t)
            );
        }
        let differing: Vec<&EndpointReport> =
            t.endpoints.iter().filter(|e| e.differing > 0).collect();
        if differing.is_empty() {
            let _ = writeln!(out, "  no endpoint differs beyond noise");
        }
        for e in differing.iter().take(TOP) {
            endpoint_lines(&mut out, e);
        }
        if differing.len() > TOP {
            let _ = writeln!(
                out,
                "  … {} more differing endpoints",
                differing.len() - TOP
            );
        }
        let noise: Vec<(&EndpointReport, &FieldReport)> = t
            .endpoints
            .iter()
            .flat_map(|e| e.fields.iter().filter(|f| f.noise).map(move |f| (e, f)))
            .collect();
        if !noise.is_empty() {
            let _ = writeln!(out, "  noise (shown, not counted as differences):");
            for (e, f) in noise.iter().take(TOP) {
                let rate = f
                    .noise_rate
                    .map(|n| format!(", {} between copies", pct(n)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {}  {:<28} {:>8} ({}{rate})  {}",
                    e.endpoint,
                    f.path,
                    f.count,
                    pct(f.rate),
                    f.noise_reason.as_deref().unwrap_or("")
                );
            }
            if noise.len() > TOP {
                let _ = writeln!(out, "    … {} more", noise.len() - TOP);
            }
        }
        let timed: Vec<&EndpointReport> = t
            .endpoints
            .iter()
            .filter(|e| e.latency_us.is_some())
            .collect();
        if !timed.is_empty() {
            let _ = writeln!(out, "  latency, candidate vs baseline (µs):");
            let mut timed = timed;
            timed.sort_by(|a, b| {
                let r = |e: &EndpointReport| e.latency_us.and_then(|l| l.ratio_p99).unwrap_or(0.0);
                r(b).total_cmp(&r(a))
            });
            for e in timed.iter().take(TOP) {
                let Some(l) = e.latency_us else { continue };
                let ratio =
                    |r: Option<f64>| r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "    {}  p50 {} vs {} ({})  p99 {} vs {} ({})",
                    e.endpoint,
                    l.candidate.p50,
                    l.baseline.p50,
                    ratio(l.ratio_p50),
                    l.candidate.p99,
                    l.baseline.p99,
                    ratio(l.ratio_p99)
                );
            }
        }
    }
    out
}
