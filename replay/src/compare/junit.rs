//! The comparison as JUnit XML (`--junit`), for CI systems that render it:
//! one test suite per target, one test case per endpoint, failed when the
//! endpoint has requests differing beyond noise (its top fields and an
//! example each in the failure's text; its noise in `system-out`).
//! Thresholds, when given, are one more suite with a case each.

use std::fmt::Write;

use super::tally::{ComparisonReport, EndpointReport};
use crate::threshold::ThresholdResult;

/// Fields listed in a failure's text.
const FIELDS: usize = 20;

/// `s` with XML's special characters escaped, and characters XML 1.0
/// cannot hold replaced.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn case(out: &mut String, suite: &str, e: &EndpointReport) {
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"0\">",
        escape(suite),
        escape(&e.endpoint)
    );
    if e.differing > 0 {
        let mut text = String::new();
        for f in e.fields.iter().filter(|f| !f.noise).take(FIELDS) {
            let _ = write!(
                text,
                "{} {} in {} requests ({:.2}%)",
                f.path,
                f.kind.as_str(),
                f.count,
                f.rate * 100.0
            );
            if let Some(x) = f.examples.first() {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                let _ = write!(
                    text,
                    ", e.g. request {}: {} -> {}",
                    x.request_id,
                    show(&x.baseline),
                    show(&x.candidate)
                );
            }
            text.push('\n');
        }
        let _ = writeln!(
            out,
            "      <failure type=\"difference\" message=\"{}\">{}</failure>",
            escape(&format!(
                "{} of {} requests differ beyond noise ({:.2}%), {} status mismatches",
                e.differing,
                e.compared,
                e.diff_rate * 100.0,
                e.status_mismatch
            )),
            escape(&text)
        );
    }
    let noise: Vec<String> = e
        .fields
        .iter()
        .filter(|f| f.noise)
        .map(|f| {
            format!(
                "noise: {} in {} requests ({})",
                f.path,
                f.count,
                f.noise_reason.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !noise.is_empty() {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape(&noise.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
}

/// The JUnit document.
pub fn render(c: &ComparisonReport, thresholds: &[ThresholdResult]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let cases: usize =
        c.targets.iter().map(|t| t.endpoints.len()).sum::<usize>() + thresholds.len();
    let failures: usize = c
        .targets
        .iter()
        .flat_map(|t| &t.endpoints)
        .filter(|e| e.differing > 0)
        .count()
        + thresholds.iter().filter(|t| !t.passed).count();
    let _ = writeln!(
        out,
        "<testsuites name=\"shadowtap comparison\" tests=\"{cases}\" failures=\"{failures}\">"
    );
    for t in &c.targets {
        let name = t.target.clone().unwrap_or_else(|| "overall".into());
        let failed = t.endpoints.iter().filter(|e| e.differing > 0).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">",
            escape(&name),
            t.endpoints.len()
        );
        for e in &t.endpoints {
            case(&mut out, &name, e);
        }
        out.push_str("  </testsuite>\n");
    }
    if !thresholds.is_empty() {
        let failed = thresholds.iter().filter(|t| !t.passed).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"thresholds\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">",
            thresholds.len()
        );
        for r in thresholds {
            let _ = writeln!(
                out,
                "    <testcase classname=\"thresholds\" name=\"{} ({})\" time=\"0\">",
                escape(&r.threshold),
                escape(&r.target)
            );
            if !r.passed {
                let _ = writeln!(
                    out,
                    "      <failure type=\"threshold\" message=\"{}\"/>",
                    escape(&format!("observed {}", r.observed_text))
                );
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tally::{Tally, TallyConfig};
    use crate::compare::{Comparison, Difference, Field, Kind, Noise};

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{1}b\nc"), "a\u{fffd}b\nc");
    }

    #[test]
    fn one_case_per_endpoint_failed_when_it_differs() {
        let mut t = Tally::new(&["http://c".into()], TallyConfig::default());
        let d = |f: Field, noise: Option<Noise>| Comparison {
            differences: vec![Difference {
                field: f,
                kind: Kind::Value,
                baseline: Some("<1>".into()),
                candidate: Some("2".into()),
                noise,
            }],
            ..Comparison::default()
        };
        t.record(
            0,
            "GET /a/{id}",
            1,
            &d(Field::Pointer("/x".into()), None),
            None,
        );
        t.record(
            0,
            "GET /b",
            2,
            &d(
                Field::Header("date".into()),
                Some(Noise::Builtin("date header")),
            ),
            None,
        );
        let x = render(&t.report(), &[]);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"shadowtap comparison\" tests=\"2\" failures=\"1\">"), "{x}");
        assert!(x.contains("<testcase classname=\"http://c\" name=\"GET /a/{id}\" time=\"0\">\n      <failure type=\"difference\" message=\"1 of 1 requests differ beyond noise (100.00%), 0 status mismatches\">body:/x value in 1 requests (100.00%), e.g. request 1: &lt;1&gt; -&gt; 2\n</failure>"), "{x}");
        assert!(x.contains("<testcase classname=\"http://c\" name=\"GET /b\" time=\"0\">\n      <system-out>noise: header:date in 1 requests (built-in: date header)</system-out>\n    </testcase>"), "{x}");
        assert!(x.ends_with("</testsuites>\n"));
    }
}
