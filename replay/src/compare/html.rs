//! The comparison as one self-contained HTML page: the overall
//! counts and the noise rule in a header, the thresholds if any, then per
//! target its endpoints, most differing first, and per endpoint its counts,
//! its latency side by side and its fields: the candidate's differences
//! first, each with examples of both values, then the noise, marked as
//! such with its reason and rate.
//!
//! **Self-contained.** No network at all: the style is inline, there is no
//! script (every table is rendered here, so the page reads the same with
//! JavaScript off), and a `Content-Security-Policy` meta element forbids
//! any script, fetch, font or image, so even a value that slipped through
//! unescaped could not run or call out.
//!
//! **Untrusted values.** Paths, values and even endpoint names come from
//! HTTP responses and requests: every string of the report goes through
//! [`escape`], which is safe in text and in quoted attribute values alike
//! and shows control characters visibly instead of passing them on.
//!
//! **Bounds.** The report is bounded already (endpoints, fields, examples,
//! excerpts); the page adds its own cap of [`FIELDS_SHOWN`] fields of each
//! class per endpoint, the rest counted.
//!
//! Stable hooks for tools and tests: `table.summary`, `table.thresholds`
//! with `tr.threshold[data-passed]`, `section.target[data-target]`,
//! `table.endpoints` with `tr.endpoint[data-endpoint][data-state]`,
//! `section.endpoint[data-endpoint]`, `table.latency`, `table.fields` with
//! `tr.field.candidate` and `tr.field.noise` (`data-field`), and
//! `span.diff-rate`.

use std::fmt::Write;

use super::tally::{
    ComparisonReport, EndpointReport, Example, FieldReport, Latency, NoiseSource, TargetReport,
};
use crate::threshold::ThresholdResult;

mod style;

pub(crate) use self::style::STYLE;

/// Fields of each class (candidate, noise) listed per endpoint.
pub const FIELDS_SHOWN: usize = 50;

/// `s` with `&`, `<`, `>`, `"` and `'` escaped, appended to `out`: safe
/// as text and inside a quoted attribute value. Control characters other
/// than tab and line feed become their visible Unicode pictures (U+2400
/// and on, `␍` for a carriage return, `␡` for DEL), C1 controls and
/// noncharacters become U+FFFD: HTML forbids them, and a value that differs
/// only in one should show the difference.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            // U+2400 + c is the control picture of every C0 control.
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if ('\u{80}'..='\u{9f}').contains(&c) => out.push('\u{fffd}'),
            c if (c as u32) & 0xfffe == 0xfffe || ('\u{fdd0}'..='\u{fdef}').contains(&c) => {
                out.push('\u{fffd}')
            }
            c => out.push(c),
        }
    }
}

/// [`escape_into`] to a new string.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

pub(crate) fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

/// A latency in microseconds for humans.
pub(crate) fn micros(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×"))
        .unwrap_or_else(|| "–".to_owned())
}

/// How an endpoint (or the run) came out, as a badge's class and text.
fn state(differing: u64, noise_only: u64) -> (&'static str, &'static str) {
    if differing > 0 {
        ("differing", "differing")
    } else if noise_only > 0 {
        ("noise", "noise only")
    } else {
        ("equal", "equal")
    }
}

pub(crate) fn badge(out: &mut String, class: &str, text: &str) {
    let _ = write!(out, "<span class=\"badge {class}\">{text}</span>");
}

/// The document's head: charset, viewport, the policy, the title, and
/// [`STYLE`] followed by `extra_style`.
pub(crate) fn head(out: &mut String, title: &str, extra_style: &str) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n",
    );
    out.push_str("<title>");
    escape_into(out, title);
    out.push_str("</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str(extra_style);
    out.push_str("</style>\n</head>\n");
}

fn noise_source(c: &ComparisonReport) -> &'static str {
    match c.noise_source {
        NoiseSource::Rules => {
            "none measured: noise is what the rules know (built-in rules and --ignore)"
        }
        NoiseSource::Secondary => "measured against a secondary instance of the baseline's version",
        NoiseSource::Calibration => {
            "measured by a calibration pass (the requests sent twice to the baseline)"
        }
    }
}

/// The overall counts, one table row.
fn summary(out: &mut String, t: &TargetReport) {
    out.push_str(
        "<table class=\"summary\" id=\"overall\">\n<thead><tr><th class=\"n\">compared</th>\
         <th class=\"n\">equal</th><th class=\"n\">noise only</th><th class=\"n\">differing</th>\
         <th class=\"n\">diff rate</th><th class=\"n\">status mismatches</th>\
         <th class=\"n\">errors</th><th class=\"n\">uncompared</th></tr></thead>\n<tbody><tr>",
    );
    let _ = write!(
        out,
        "<td class=\"n compared\">{}</td><td class=\"n equal\">{}</td>\
         <td class=\"n noise-only\">{}</td><td class=\"n differing\">{}</td>\
         <td class=\"n\"><span class=\"diff-rate\">{}</span></td>\
         <td class=\"n status-mismatch\">{}</td><td class=\"n errors\">{}</td>\
         <td class=\"n uncompared\">{}</td>",
        t.compared,
        t.equal,
        t.noise_only,
        t.differing,
        pct(t.diff_rate),
        t.status_mismatch,
        t.errors,
        t.uncompared
    );
    out.push_str("</tr></tbody>\n</table>\n");
}

pub(crate) fn thresholds_table(out: &mut String, thresholds: &[ThresholdResult]) {
    let failed = thresholds.iter().filter(|t| !t.passed).count();
    let _ = write!(
        out,
        "<section id=\"thresholds\">\n<h2>Thresholds: {} of {} passed</h2>\n",
        thresholds.len() - failed,
        thresholds.len()
    );
    out.push_str(
        "<table class=\"thresholds\">\n<thead><tr><th>threshold</th><th>target</th>\
         <th class=\"n\">observed</th><th>result</th></tr></thead>\n<tbody>\n",
    );
    for r in thresholds {
        let _ = write!(
            out,
            "<tr class=\"threshold\" data-passed=\"{}\"><td><code>",
            r.passed
        );
        escape_into(out, &r.threshold);
        out.push_str("</code></td><td>");
        escape_into(out, &r.target);
        out.push_str("</td><td class=\"n\">");
        escape_into(out, &r.observed_text);
        out.push_str("</td><td>");
        if r.passed {
            badge(out, "pass", "pass");
        } else {
            badge(out, "fail", "fail");
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// The endpoints of a target, one row each, linking to their sections.
fn endpoints_table(out: &mut String, ti: usize, t: &TargetReport) {
    out.push_str(
        "<table class=\"endpoints\">\n<thead><tr><th>endpoint</th><th class=\"n\">compared</th>\
         <th class=\"n\">equal</th><th class=\"n\">noise only</th><th class=\"n\">differing</th>\
         <th class=\"n\">diff rate</th><th class=\"n\">status mismatches</th>\
         <th class=\"n\">errors</th><th class=\"n\">uncompared</th></tr></thead>\n<tbody>\n",
    );
    for (ei, e) in t.endpoints.iter().enumerate() {
        let (class, text) = state(e.differing, e.noise_only);
        out.push_str("<tr class=\"endpoint\" data-endpoint=\"");
        escape_into(out, &e.endpoint);
        let _ = write!(out, "\" data-state=\"{class}\"><td>");
        if has_detail(e) {
            let _ = write!(out, "<a href=\"#ep-{ti}-{ei}\"><code>");
            escape_into(out, &e.endpoint);
            out.push_str("</code></a>");
        } else {
            out.push_str("<code>");
            escape_into(out, &e.endpoint);
            out.push_str("</code>");
        }
        out.push(' ');
        badge(out, class, text);
        let _ = writeln!(
            out,
            "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\"><span class=\"diff-rate\">{}</span></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            e.compared,
            e.equal,
            e.noise_only,
            e.differing,
            pct(e.diff_rate),
            e.status_mismatch,
            e.errors,
            e.uncompared
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Whether an endpoint gets a section of its own: it has fields, latency,
/// or counts past a bound to explain.
fn has_detail(e: &EndpointReport) -> bool {
    !e.fields.is_empty() || e.latency_us.is_some() || e.unclassified > 0 || e.fields_dropped > 0
}

fn latency_table(out: &mut String, l: &Latency) {
    out.push_str(
        "<table class=\"latency\">\n<thead><tr><th>latency</th><th class=\"n\">p50</th>\
         <th class=\"n\">p90</th><th class=\"n\">p99</th></tr></thead>\n<tbody>\n",
    );
    for (class, name, p) in [
        ("baseline", "baseline", l.baseline),
        ("candidate", "candidate", l.candidate),
    ] {
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><th>{name}</th><td class=\"n\" title=\"{} µs\">{}</td>\
             <td class=\"n\" title=\"{} µs\">{}</td><td class=\"n\" title=\"{} µs\">{}</td></tr>",
            p.p50,
            micros(p.p50),
            p.p90,
            micros(p.p90),
            p.p99,
            micros(p.p99)
        );
    }
    let _ = writeln!(
        out,
        "<tr class=\"ratio\"><th>candidate ÷ baseline</th><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        ratio(l.ratio_p50),
        ratio(l.ratio_p90),
        ratio(l.ratio_p99)
    );
    out.push_str("</tbody>\n</table>\n");
}

/// One side of an example: the value in monospace, or a marked absence.
fn value(out: &mut String, v: &Option<String>) {
    match v {
        Some(v) => {
            out.push_str("<code class=\"val\">");
            escape_into(out, v);
            out.push_str("</code>");
        }
        None => out.push_str("<span class=\"absent\">absent</span>"),
    }
}

fn example(out: &mut String, x: &Example) {
    let _ = write!(
        out,
        "<div class=\"example\" data-request=\"{}\"><div class=\"req\">request {} · {}</div>\
         <div class=\"pair\"><div class=\"baseline\"><div class=\"side\">baseline</div>",
        x.request_id,
        x.request_id,
        x.kind.as_str()
    );
    value(out, &x.baseline);
    out.push_str("</div><div class=\"candidate\"><div class=\"side\">candidate</div>");
    value(out, &x.candidate);
    out.push_str("</div></div></div>");
}

fn field_row(out: &mut String, f: &FieldReport) {
    let class = if f.noise { "noise" } else { "candidate" };
    let _ = write!(out, "<tr class=\"field {class}\" data-field=\"");
    escape_into(out, &f.path);
    out.push_str("\"><td class=\"path\"><code>");
    escape_into(out, &f.path);
    out.push_str("</code>");
    if f.noise {
        out.push(' ');
        badge(out, "noise", "noise");
    }
    out.push_str("</td><td>");
    let kinds: Vec<String> = f.kinds.iter().map(|(k, n)| format!("{k} ({n})")).collect();
    if kinds.len() > 1 {
        out.push_str(&kinds.join(", "));
    } else {
        out.push_str(f.kind.as_str());
    }
    let _ = write!(
        out,
        "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"noise-info\">",
        f.count,
        pct(f.rate)
    );
    if let Some(n) = f.noise_rate {
        let _ = write!(
            out,
            "<span class=\"noise-rate\">{}</span> between copies",
            pct(n)
        );
    }
    if let Some(reason) = &f.noise_reason {
        if f.noise_rate.is_some() {
            out.push_str("<br>");
        }
        out.push_str("<span class=\"reason\">");
        escape_into(out, reason);
        out.push_str("</span>");
    }
    if f.noise_rate.is_none() && f.noise_reason.is_none() {
        out.push('–');
    }
    out.push_str("</td><td class=\"examples\">");
    if f.noise && !f.examples.is_empty() {
        // Noise is shown, its examples one click away.
        let _ = write!(
            out,
            "<details><summary>{} example{}</summary>",
            f.examples.len(),
            if f.examples.len() == 1 { "" } else { "s" }
        );
        for x in &f.examples {
            example(out, x);
        }
        out.push_str("</details>");
    } else {
        for x in &f.examples {
            example(out, x);
        }
    }
    out.push_str("</td></tr>\n");
}

/// The rows of one class of fields under a group heading, at most
/// [`FIELDS_SHOWN`], the rest counted.
fn field_group(out: &mut String, fields: &[&FieldReport], noise: bool) {
    if fields.is_empty() {
        return;
    }
    let (class, heading) = if noise {
        (
            "noise",
            "noise: differs by nature or as often between copies of the baseline; \
             shown, not counted as differences",
        )
    } else {
        ("candidate", "candidate differences")
    };
    let _ = write!(
        out,
        "<tbody class=\"{class}\">\n<tr class=\"group {class}\"><th colspan=\"6\">{heading} ({})</th></tr>\n",
        fields.len()
    );
    for f in fields.iter().take(FIELDS_SHOWN) {
        field_row(out, f);
    }
    if fields.len() > FIELDS_SHOWN {
        let _ = writeln!(
            out,
            "<tr class=\"more\"><td colspan=\"6\" class=\"note\">… {} more (see the JSON report)</td></tr>",
            fields.len() - FIELDS_SHOWN
        );
    }
    out.push_str("</tbody>\n");
}

fn endpoint_section(out: &mut String, ti: usize, ei: usize, e: &EndpointReport) {
    let (class, text) = state(e.differing, e.noise_only);
    let _ = write!(
        out,
        "<section class=\"endpoint\" id=\"ep-{ti}-{ei}\" data-endpoint=\""
    );
    escape_into(out, &e.endpoint);
    out.push_str("\">\n<h3><code>");
    escape_into(out, &e.endpoint);
    out.push_str("</code> ");
    badge(out, class, text);
    let _ = write!(
        out,
        "</h3>\n<p class=\"counts\">{} compared · {} equal · {} noise only · {} differing \
         (<span class=\"diff-rate\">{}</span>) · {} status mismatches · {} errors · {} uncompared</p>\n",
        e.compared,
        e.equal,
        e.noise_only,
        e.differing,
        pct(e.diff_rate),
        e.status_mismatch,
        e.errors,
        e.uncompared
    );
    if e.unclassified > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} requests past the bound of distinct field sets, counted as differing.</p>",
            e.unclassified
        );
    }
    if e.fields_dropped > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} differences in fields past the bound of fields per endpoint, not listed.</p>",
            e.fields_dropped
        );
    }
    if let Some(l) = &e.latency_us {
        latency_table(out, l);
    }
    if !e.fields.is_empty() {
        out.push_str(
            "<table class=\"fields\">\n<thead><tr><th>field</th><th>kind</th>\
             <th class=\"n\">requests</th><th class=\"n\">rate</th><th>noise</th>\
             <th>examples</th></tr></thead>\n",
        );
        let candidate: Vec<&FieldReport> = e.fields.iter().filter(|f| !f.noise).collect();
        let noise: Vec<&FieldReport> = e.fields.iter().filter(|f| f.noise).collect();
        field_group(out, &candidate, false);
        field_group(out, &noise, true);
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn target_section(out: &mut String, ti: usize, t: &TargetReport, many: bool) {
    out.push_str("<section class=\"target\" data-target=\"");
    let name = t.target.as_deref().unwrap_or("overall");
    escape_into(out, name);
    out.push_str("\">\n<h2>Target <code>");
    escape_into(out, name);
    out.push_str("</code></h2>\n");
    if many {
        summary(out, t);
    }
    if t.endpoints.is_empty() {
        out.push_str("<p class=\"note\">No request compared.</p>\n");
    } else if t.differing == 0 {
        out.push_str("<p class=\"note\">No endpoint differs beyond noise.</p>\n");
    }
    if !t.endpoints.is_empty() {
        endpoints_table(out, ti, t);
    }
    for (ei, e) in t
        .endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| has_detail(e))
    {
        endpoint_section(out, ti, ei, e);
    }
    out.push_str("</section>\n");
}

/// The page for a comparison and its thresholds (none when not given).
pub fn render(c: &ComparisonReport, thresholds: &[ThresholdResult], title: &str) -> String {
    let mut out = String::with_capacity(16 * 1024);
    head(&mut out, title, "");
    out.push_str("<body>\n<header>\n<h1>");
    escape_into(&mut out, title);
    out.push_str("</h1>\n");
    verdict(&mut out, c, thresholds);
    overview(&mut out, c);
    out.push_str("</header>\n");
    if !thresholds.is_empty() {
        thresholds_table(&mut out, thresholds);
    }
    targets(&mut out, c);
    let _ = writeln!(
        out,
        "<footer class=\"muted\"><p>shadowtap comparison report, schema version {}.</p></footer>\n</body>\n</html>",
        c.version
    );
    out
}

/// The comparison's verdict (and the thresholds', when given) as badges.
fn verdict(out: &mut String, c: &ComparisonReport, thresholds: &[ThresholdResult]) {
    out.push_str("<p class=\"verdict\">");
    let (class, text) = state(c.overall.differing, c.overall.noise_only);
    badge(out, class, text);
    let failed = thresholds.iter().filter(|t| !t.passed).count();
    if !thresholds.is_empty() {
        out.push(' ');
        if failed > 0 {
            badge(out, "fail", "thresholds failed");
        } else {
            badge(out, "pass", "thresholds passed");
        }
    }
    let _ = writeln!(
        out,
        " <span class=\"muted\">{} target{}, candidate compared with baseline</span></p>",
        c.targets.len(),
        if c.targets.len() == 1 { "" } else { "s" }
    );
}

/// The overall counts and the noise rule.
fn overview(out: &mut String, c: &ComparisonReport) {
    summary(out, &c.overall);
    let _ = writeln!(
        out,
        "<p class=\"noise-rule\">Noise source: {}. A field that also differs between two copies \
         of the baseline counts as a candidate difference only when it differs more often by \
         more than {} (relative) and by more than {} of the requests compared (absolute); \
         otherwise it is noise, listed with both rates.</p>",
        noise_source(c),
        pct(c.noise_relative),
        pct(c.noise_absolute)
    );
}

fn targets(out: &mut String, c: &ComparisonReport) {
    let many = c.targets.len() > 1;
    for (ti, t) in c.targets.iter().enumerate() {
        target_section(out, ti, t, many);
    }
}

/// The comparison as a section of another page (the run report's
/// `section#comparison`): verdict, counts, noise rule and targets, the
/// same markup and hooks as [`render`]'s page; the thresholds are the
/// embedding page's.
pub(crate) fn comparison_section(out: &mut String, c: &ComparisonReport) {
    out.push_str("<section id=\"comparison\">\n<h2>Comparison</h2>\n");
    verdict(out, c, &[]);
    overview(out, c);
    targets(out, c);
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests;
