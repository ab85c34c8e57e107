//! The run report as one self-contained HTML page (`--report html` of
//! `replay`, `tee` and `report merge`).
//!
//! Sections, in order: a header (tool version, duration, runs merged,
//! seed, interrupted, thresholds' verdict, the configuration folded), the
//! summary table per target, latency over time (p50 and p99 per interval,
//! from the report's `timeline`; a note when the report has none), the
//! latency percentile distribution (HdrHistogram-style: x is the
//! percentile on a log scale of 1/(1−q), from each target's full latency
//! histogram), status classes and codes, transport errors by kind (and
//! TLS reasons), drops by cause, the input left out, thresholds with
//! pass/fail, the comparison (the comparison page's content, see
//! [`compare::html`](crate::compare::html)) when the run compared, and the
//! recorded responses when it recorded them.
//!
//! It is built like the comparison page: no script and no fetch at all,
//! the same `Content-Security-Policy` meta element, the charts drawn here
//! as inline SVG ([`chart`]), every string of the report (target names,
//! configuration, threshold expressions, error kinds from merged reports)
//! through [`escape_into`]. The page's size is bounded by the report's
//! and by the charts' caps ([`chart::MAX_POINTS`],
//! [`chart::MAX_TARGETS_DRAWN`]); status codes listed per target are capped
//! at [`CODES_SHOWN`].
//!
//! Stable hooks for tools and tests: `header.run` with `p.meta`,
//! `table.run-summary` with `tr.target[data-target]` (the `overall` row
//! has class `overall` too), `section#timeline` with
//! `svg.chart.timeline[data-series]` (or `p.timeline-absent`),
//! `section#percentiles` with `svg.chart.percentiles[data-series]`, each
//! line a `path.series[data-target][data-stat]` (`p50`, `p99`, `latency`),
//! `table.status`, `table.errors`, `table.tls-reasons`, `table.drops`,
//! `table.left-out`, `section#thresholds` with `table.thresholds` and
//! `tr.threshold[data-passed]`, `section#comparison` (holding the
//! comparison page's hooks), `section#recorded`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::codec::decode;
use super::{Report, TargetReport, OVERALL};
use crate::compare::html::{badge, escape_into, head, micros, pct, thresholds_table};
use crate::compare::tally::ComparisonReport;

pub mod chart;

/// Status codes listed per target (the most frequent; the rest counted).
pub const CODES_SHOWN: usize = 20;

fn duration_text(us: u64) -> String {
    let s = us as f64 / 1e6;
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.2} h", s / 3600.0)
    }
}

fn header(out: &mut String, r: &Report, title: &str) {
    out.push_str("<header class=\"run\">\n<h1>");
    escape_into(out, title);
    out.push_str("</h1>\n<p class=\"meta\">");
    let _ = write!(
        out,
        "shadowtap {} · {} target{} · {} requests in {}",
        r.tool_version.chars().take(64).collect::<String>(),
        r.targets.len(),
        if r.targets.len() == 1 { "" } else { "s" },
        r.overall.sent,
        duration_text(r.duration_us)
    );
    if r.sources > 1 {
        let _ = write!(out, " · {} runs merged", r.sources);
    }
    if let Some(seed) = r.seed {
        let _ = write!(out, " · seed {seed}");
    }
    if r.interrupted {
        out.push(' ');
        badge(out, "fail", "interrupted");
    }
    if !r.thresholds.is_empty() {
        out.push(' ');
        if r.thresholds.iter().all(|t| t.passed) {
            badge(out, "pass", "thresholds passed");
        } else {
            badge(out, "fail", "thresholds failed");
        }
    }
    out.push_str("</p>\n<details class=\"config\"><summary>configuration</summary><pre><code>");
    let config = serde_json::to_string_pretty(&r.config).unwrap_or_default();
    escape_into(out, &config);
    out.push_str("</code></pre></details>\n</header>\n");
}

fn summary_row(out: &mut String, t: &TargetReport, class: &str) {
    let _ = write!(out, "<tr class=\"{class}\" data-target=\"");
    escape_into(out, &t.target);
    out.push_str("\"><td><code>");
    escape_into(out, &t.target);
    out.push_str("</code>");
    if let Some(role) = &t.role {
        out.push_str(" <span class=\"muted\">");
        escape_into(out, role);
        out.push_str("</span>");
    }
    let l = &t.latency_us;
    let _ = writeln!(
        out,
        "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}/s</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        t.sent,
        t.completed,
        t.errors_total,
        pct(t.error_rate),
        t.dropped_total,
        t.achieved_rate_per_s,
        micros(l.p50),
        micros(l.p90),
        micros(l.p99),
        micros(l.p999),
        micros(l.max)
    );
}

fn summary_table(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"run-summary\">\n<thead><tr>\
         <th>target</th><th class=\"n\">sent</th><th class=\"n\">completed</th>\
         <th class=\"n\">errors</th><th class=\"n\">error rate</th><th class=\"n\">dropped</th>\
         <th class=\"n\">achieved rate</th><th class=\"n\">p50</th><th class=\"n\">p90</th>\
         <th class=\"n\">p99</th><th class=\"n\">p99.9</th><th class=\"n\">max</th>\
         </tr></thead>\n<tbody>\n",
    );
    for t in &r.targets {
        summary_row(out, t, "target");
    }
    summary_row(out, &r.overall, "target overall");
    out.push_str(
        "</tbody>\n</table>\n<p class=\"note\">Latency from the intended send time \
         (coordinated-omission corrected), responses only. The error rate counts transport \
         errors and 5xx responses.</p>\n</section>\n",
    );
}

fn timeline_section(out: &mut String, r: &Report) {
    out.push_str("<section id=\"timeline\">\n<h2>Latency over time</h2>\n");
    match &r.timeline {
        Some(t) if !t.is_empty() => chart::timeline(out, t),
        Some(_) => out.push_str(
            "<p class=\"note timeline-absent\">The timeline has no interval: the run ended \
             before its first.</p>\n",
        ),
        None => out.push_str(
            "<p class=\"note timeline-absent\">This report has no timeline (written by a \
             version that did not record one, or merged from reports one of which has \
             none).</p>\n",
        ),
    }
    out.push_str("</section>\n");
}

fn percentiles_section(out: &mut String, r: &Report) {
    out.push_str("<section id=\"percentiles\">\n<h2>Latency by percentile</h2>\n");
    let mut curves = Vec::new();
    for t in &r.targets {
        match decode(&t.histograms.latency, &t.target, "latency") {
            Ok(h) => curves.push((t.target.as_str(), h)),
            Err(e) => {
                out.push_str("<p class=\"note\">");
                escape_into(out, &e.to_string());
                out.push_str(": not drawn.</p>\n");
            }
        }
    }
    if curves.iter().all(|(_, h)| h.is_empty()) {
        out.push_str("<p class=\"note\">No response: nothing to draw.</p>\n");
    }
    chart::percentiles(out, &curves);
    out.push_str("</section>\n");
}

/// A table with one row per target and a column per key of `pick` that
/// is non-zero somewhere; `empty` when there is none.
fn counts_table<'a>(
    out: &mut String,
    class: &str,
    r: &'a Report,
    pick: impl Fn(&'a TargetReport) -> &'a std::collections::BTreeMap<String, u64>,
    empty: &str,
) {
    let keys: BTreeSet<&str> = r
        .targets
        .iter()
        .flat_map(|t| pick(t).iter())
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k.as_str())
        .collect();
    if keys.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">{empty}</p>");
        return;
    }
    let _ = write!(out, "<table class=\"{class}\">\n<thead><tr><th>target</th>");
    for k in &keys {
        out.push_str("<th class=\"n\">");
        escape_into(out, k);
        out.push_str("</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for t in r.targets.iter().chain(std::iter::once(&r.overall)) {
        out.push_str("<tr data-target=\"");
        escape_into(out, &t.target);
        out.push_str("\"><td><code>");
        escape_into(out, &t.target);
        out.push_str("</code></td>");
        let m = pick(t);
        for k in &keys {
            let _ = write!(
                out,
                "<td class=\"n\">{}</td>",
                m.get(*k).copied().unwrap_or(0)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn status_section(out: &mut String, r: &Report) {
    out.push_str("<section id=\"status\">\n<h2>Status</h2>\n");
    counts_table(out, "status", r, |t| &t.status_classes, "No response.");
    out.push_str("<table class=\"status-codes\">\n<thead><tr><th>target</th><th>codes</th></tr></thead>\n<tbody>\n");
    for t in &r.targets {
        out.push_str("<tr data-target=\"");
        escape_into(out, &t.target);
        out.push_str("\"><td><code>");
        escape_into(out, &t.target);
        out.push_str("</code></td><td>");
        let mut codes: Vec<(&String, &u64)> = t.status.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (i, (code, n)) in codes.iter().take(CODES_SHOWN).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str("<code>");
            escape_into(out, code);
            let _ = write!(out, "</code> ×{n}");
        }
        if codes.len() > CODES_SHOWN {
            let _ = write!(out, ", … {} more codes", codes.len() - CODES_SHOWN);
        }
        if codes.is_empty() {
            out.push('–');
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn left_out_section(out: &mut String, r: &Report) {
    out.push_str(
        "<section id=\"left-out\">\n<h2>Input left out</h2>\n<table class=\"left-out\">\n\
         <thead><tr><th>why</th><th class=\"n\">exchanges</th></tr></thead>\n<tbody>\n",
    );
    let _ = writeln!(
        out,
        "<tr data-reason=\"sampled_out\"><td>sampled out</td><td class=\"n\">{}</td></tr>\n\
         <tr data-reason=\"filtered_out\"><td>filtered out (--include / --exclude)</td>\
         <td class=\"n\">{}</td></tr>",
        r.sampled_out, r.filtered_out
    );
    for (reason, n) in &r.skipped {
        out.push_str("<tr data-reason=\"");
        escape_into(out, reason);
        out.push_str("\"><td>skipped: ");
        escape_into(out, reason);
        let _ = writeln!(out, "</td><td class=\"n\">{n}</td></tr>");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn recorded_section(out: &mut String, v: &serde_json::Value) {
    out.push_str(
        "<section id=\"recorded\">\n<h2>Recorded responses</h2>\n<pre class=\"json\"><code>",
    );
    escape_into(out, &serde_json::to_string_pretty(v).unwrap_or_default());
    out.push_str("</code></pre>\n</section>\n");
}

/// The page of a run's report. `comparison`: the run's comparison
/// (`--compare`), shown as the comparison section; the report's own
/// `comparison` object is the same in JSON.
pub fn render(r: &Report, comparison: Option<&ComparisonReport>, title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, title, chart::STYLE);
    out.push_str("<body>\n");
    header(&mut out, r, title);
    summary_table(&mut out, r);
    timeline_section(&mut out, r);
    percentiles_section(&mut out, r);
    status_section(&mut out, r);
    out.push_str("<section id=\"errors\">\n<h2>Transport errors</h2>\n");
    counts_table(&mut out, "errors", r, |t| &t.errors, "No transport error.");
    if r.targets.iter().any(|t| !t.tls_reasons.is_empty()) {
        out.push_str("<h3>TLS errors by reason</h3>\n");
        counts_table(&mut out, "tls-reasons", r, |t| &t.tls_reasons, "");
    }
    out.push_str("</section>\n<section id=\"drops\">\n<h2>Drops</h2>\n");
    counts_table(&mut out, "drops", r, |t| &t.dropped, "Nothing dropped.");
    out.push_str("</section>\n");
    left_out_section(&mut out, r);
    if !r.thresholds.is_empty() {
        thresholds_table(&mut out, &r.thresholds);
    }
    if let Some(c) = comparison {
        crate::compare::html::comparison_section(&mut out, c);
    } else if r.comparison.is_some() {
        out.push_str(
            "<section id=\"comparison\">\n<h2>Comparison</h2>\n<p class=\"note\">In the JSON \
             report's <code>comparison</code> object.</p>\n</section>\n",
        );
    }
    if let Some(v) = &r.recorded_responses {
        recorded_section(&mut out, v);
    }
    let _ = writeln!(
        out,
        "<footer class=\"muted\"><p>shadowtap run report, schema version {}; target \
         <code>{OVERALL}</code> adds every target.</p></footer>\n</body>\n</html>",
        r.version
    );
    out
}

#[cfg(test)]
mod tests;
