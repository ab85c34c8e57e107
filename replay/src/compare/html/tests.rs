use std::time::Duration;

use super::*;
use crate::compare::tally::{Tally, TallyConfig};
use crate::compare::{Comparison, Difference, Field, Kind, Noise};

fn diff(
    field: Field,
    kind: Kind,
    b: Option<&str>,
    c: Option<&str>,
    noise: Option<Noise>,
) -> Difference {
    Difference {
        field,
        kind,
        baseline: b.map(Into::into),
        candidate: c.map(Into::into),
        noise,
    }
}

fn cmp(ds: Vec<Difference>) -> Comparison {
    Comparison {
        differences: ds,
        ..Comparison::default()
    }
}

fn ptr(p: &str) -> Field {
    Field::Pointer(p.into())
}

/// Three endpoints: one differing in /price on 3 of 10 requests with a
/// timestamp that is always noise (and latency), one differing in its
/// status once, one equal.
fn report() -> ComparisonReport {
    let mut t = Tally::new(&["http://cand:8080".into()], TallyConfig::default());
    for id in 0..10u64 {
        let mut ds = vec![diff(
            ptr("/ts"),
            Kind::Value,
            Some("2024-01-01T00:00:00Z"),
            Some("2024-01-01T00:00:01Z"),
            Some(Noise::Builtin("timestamp")),
        )];
        if id < 3 {
            ds.push(diff(
                ptr("/price"),
                Kind::Value,
                Some("10"),
                Some("12"),
                None,
            ));
        }
        let lat = (
            Duration::from_micros(800 + id * 10),
            Duration::from_micros(1_600 + id * 20),
        );
        t.record(0, "GET /items/{id}", id, &cmp(ds), Some(lat));
    }
    t.record(
        0,
        "POST /orders",
        20,
        &cmp(vec![diff(
            Field::Status,
            Kind::Value,
            Some("200"),
            Some("500"),
            None,
        )]),
        None,
    );
    t.record(0, "POST /orders", 21, &cmp(vec![]), None);
    t.record(0, "GET /health", 30, &cmp(vec![]), None);
    t.report()
}

#[test]
fn escaping_table() {
    let table: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("a & b", "a &amp; b"),
        ("<script>", "&lt;script&gt;"),
        ("\"double\"", "&quot;double&quot;"),
        ("'single'", "&#39;single&#39;"),
        ("&amp;", "&amp;amp;"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("cr\r\n", "cr\u{240d}\n"),
        ("nul\u{0}", "nul\u{2400}"),
        ("\u{1b}[31m", "\u{241b}[31m"),
        ("del\u{7f}", "del\u{2421}"),
        ("c1\u{85}", "c1\u{fffd}"),
        ("non\u{fffe}\u{ffff}\u{fdd0}", "non\u{fffd}\u{fffd}\u{fffd}"),
        ("é ✓ 日本", "é ✓ 日本"),
        ("", ""),
    ];
    for (input, want) in table {
        assert_eq!(escape(input), *want, "escape({input:?})");
    }
    let mut out = String::from("x");
    escape_into(&mut out, "<>");
    assert_eq!(out, "x&lt;&gt;");
}

#[test]
fn latency_and_ratios_for_humans() {
    assert_eq!(micros(999), "999 µs");
    assert_eq!(micros(1_500), "1.50 ms");
    assert_eq!(micros(2_500_000), "2.50 s");
    assert_eq!(ratio(Some(2.0)), "2.00×");
    assert_eq!(ratio(None), "–");
}

#[test]
fn the_page_has_the_rows_and_classes() {
    let h = render(&report(), &[], "candidate v2 vs v1");
    assert!(
        h.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"),
        "{h}"
    );
    assert!(h.ends_with("</body>\n</html>\n"));
    assert!(h.contains("<title>candidate v2 vs v1</title>"));
    // Nothing from the network, no script.
    for banned in [
        "<script", "<link", "<img", "http://", "https://", "@import", "url(",
    ] {
        let outside_values = h.replace("http://cand:8080", "");
        assert!(!outside_values.contains(banned), "{banned} in the page");
    }
    // Overall: 10 + 2 + 1 compared, 2 equal, 7 noise only, 3 + 1 differing.
    assert!(
        h.contains(
            "<td class=\"n compared\">13</td><td class=\"n equal\">2</td>\
         <td class=\"n noise-only\">7</td><td class=\"n differing\">4</td>\
         <td class=\"n\"><span class=\"diff-rate\">30.77%</span></td>\
         <td class=\"n status-mismatch\">1</td><td class=\"n errors\">0</td>\
         <td class=\"n uncompared\">0</td>"
        ),
        "{h}"
    );
    assert!(h.contains("Noise source: none measured"));
    assert!(!h.contains("class=\"thresholds\""));
    // Endpoints, most differing first.
    let rows: Vec<&str> = h
        .match_indices("<tr class=\"endpoint\" data-endpoint=\"")
        .map(|(i, m)| {
            let rest = &h[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(rows, ["GET /items/{id}", "POST /orders", "GET /health"]);
    assert!(
        h.contains(
            "<tr class=\"endpoint\" data-endpoint=\"GET /items/{id}\" data-state=\"differing\">\
         <td><a href=\"#ep-0-0\"><code>GET /items/{id}</code></a> \
         <span class=\"badge differing\">differing</span></td><td class=\"n\">10</td>\
         <td class=\"n\">0</td><td class=\"n\">7</td><td class=\"n\">3</td>\
         <td class=\"n\"><span class=\"diff-rate\">30.00%</span></td><td class=\"n\">0</td>\
         <td class=\"n\">0</td><td class=\"n\">0</td></tr>"
        ),
        "{h}"
    );
    assert!(h.contains(
        "<tr class=\"endpoint\" data-endpoint=\"GET /health\" data-state=\"equal\"><td>\
         <code>GET /health</code> <span class=\"badge equal\">equal</span>"
    ));
    // GET /health has nothing to detail.
    assert!(
        h.contains("<section class=\"endpoint\" id=\"ep-0-0\" data-endpoint=\"GET /items/{id}\">")
    );
    assert!(h.contains("<section class=\"endpoint\" id=\"ep-0-1\" data-endpoint=\"POST /orders\">"));
    assert!(!h.contains("id=\"ep-0-2\""));
    // Candidate field, then noise, each with its examples side by side.
    let price = h
        .find("<tr class=\"field candidate\" data-field=\"body:/price\">")
        .unwrap();
    let ts = h
        .find("<tr class=\"field noise\" data-field=\"body:/ts\">")
        .unwrap();
    assert!(price < ts);
    assert!(
        h[price..].starts_with(
            "<tr class=\"field candidate\" data-field=\"body:/price\"><td class=\"path\">\
         <code>body:/price</code></td><td>value</td><td class=\"n\">3</td>\
         <td class=\"n\">30.00%</td><td class=\"noise-info\">–</td><td class=\"examples\">\
         <div class=\"example\" data-request=\"0\"><div class=\"req\">request 0 · value</div>\
         <div class=\"pair\"><div class=\"baseline\"><div class=\"side\">baseline</div>\
         <code class=\"val\">10</code></div><div class=\"candidate\"><div class=\"side\">\
         candidate</div><code class=\"val\">12</code></div></div></div>"
        ),
        "{}",
        &h[price..]
    );
    assert_eq!(h.matches("<div class=\"example\"").count(), 3 + 3 + 1);
    assert!(
        h[ts..].starts_with(
            "<tr class=\"field noise\" data-field=\"body:/ts\"><td class=\"path\"><code>body:/ts\
         </code> <span class=\"badge noise\">noise</span></td><td>value</td>\
         <td class=\"n\">10</td><td class=\"n\">100.00%</td><td class=\"noise-info\">\
         <span class=\"reason\">built-in: timestamp</span></td><td class=\"examples\">\
         <details><summary>3 examples</summary>"
        ),
        "{}",
        &h[ts..]
    );
    assert!(h.contains("<tr class=\"field candidate\" data-field=\"status\">"));
    // Latency side by side (HDR values at two significant digits); ratios of 2.
    let lat = h.find("<table class=\"latency\">").unwrap();
    let lat = &h[lat..h[lat..].find("</table>").unwrap() + lat];
    assert!(
        lat.contains("<tr class=\"ratio\"><th>candidate ÷ baseline</th>"),
        "{lat}"
    );
    assert_eq!(lat.matches("2.00×").count(), 3, "{lat}");
    assert!(
        lat.contains(
            "<tr class=\"baseline\"><th>baseline</th><td class=\"n\" title=\"843 µs\">843 µs</td>"
        ),
        "{lat}"
    );
    assert!(lat.contains("<tr class=\"candidate\"><th>candidate</th><td class=\"n\" title=\"1687 µs\">1.69 ms</td>"), "{lat}");
    assert_eq!(h.matches("<table class=\"latency\">").count(), 1);
}

#[test]
fn thresholds_are_a_table_of_pass_and_fail() {
    let results = [
        ThresholdResult {
            threshold: "diff_rate<1%".into(),
            target: "http://cand:8080".into(),
            observed: Some(0.3077),
            limit: 0.01,
            passed: false,
            observed_text: "30.770%".into(),
        },
        ThresholdResult {
            threshold: "status_mismatch<=5".into(),
            target: "overall".into(),
            observed: Some(1.0),
            limit: 5.0,
            passed: true,
            observed_text: "1".into(),
        },
    ];
    let h = render(&report(), &results, "t");
    assert!(h.contains("<h2>Thresholds: 1 of 2 passed</h2>"));
    assert!(
        h.contains(
            "<tr class=\"threshold\" data-passed=\"false\"><td><code>diff_rate&lt;1%</code></td>\
         <td>http://cand:8080</td><td class=\"n\">30.770%</td><td>\
         <span class=\"badge fail\">fail</span></td></tr>"
        ),
        "{h}"
    );
    assert!(h.contains(
        "<tr class=\"threshold\" data-passed=\"true\"><td><code>status_mismatch&lt;=5</code></td>\
         <td>overall</td><td class=\"n\">1</td><td><span class=\"badge pass\">pass</span></td></tr>"
    ));
    assert!(h.contains("<span class=\"badge fail\">thresholds failed</span>"));
}

/// Tag names the page itself writes; anything else came from a value.
const TAGS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
    "span", "table", "thead", "tbody", "tr", "th", "td", "a", "code", "div", "details", "summary",
    "section", "footer", "br",
];

#[test]
fn hostile_values_appear_escaped_only() {
    const XSS: &str = "</td><script>alert(1)</script>";
    const ATTR: &str = "\"><img src=x onerror=alert(2)>'";
    let mut t = Tally::new(&[format!("http://c/{XSS}")], TallyConfig::default());
    let ep = format!("GET /{XSS}{ATTR}");
    t.record(
        0,
        &ep,
        1,
        &cmp(vec![
            diff(
                ptr(&format!("/{XSS}")),
                Kind::Value,
                Some(XSS),
                Some(ATTR),
                None,
            ),
            diff(
                Field::Header(ATTR.into()),
                Kind::Extra,
                None,
                Some("a\u{0}&\u{1b}"),
                Some(Noise::Rule(format!("header:{XSS}"))),
            ),
        ]),
        None,
    );
    let thresholds = [ThresholdResult {
        threshold: XSS.into(),
        target: ATTR.into(),
        observed: None,
        limit: 0.0,
        passed: false,
        observed_text: XSS.into(),
    }];
    let h = render(&t.report(), &thresholds, XSS);
    assert!(!h.contains(XSS));
    assert!(!h.contains(ATTR));
    assert!(!h.to_lowercase().contains("<script"));
    assert!(!h.contains("<img"));
    let xss = escape(XSS);
    assert_eq!(xss, "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    // Title twice, target twice, endpoint 4 times, path twice, a value,
    // the rule, threshold expression and its observed value.
    assert_eq!(h.matches(&xss).count(), 2 + 2 + 4 + 2 + 1 + 1 + 2, "{h}");
    assert!(h.contains("data-endpoint=\"GET /&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&#39;\""));
    assert!(h.contains("<code class=\"val\">a\u{2400}&amp;\u{241b}</code>"));
    // Every tag in the page is one the page writes.
    for (i, _) in h.match_indices('<') {
        let name: String = h[i + 1..]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        let name = if name == "!DOCTYPE" {
            name
        } else {
            name.to_lowercase()
        };
        assert!(
            TAGS.contains(&name.as_str()),
            "tag <{name} at {i}: {}",
            &h[i..(i + 60).min(h.len())]
        );
    }
    // Every attribute value closes where the page closes it: no quote
    // from a value reopens the tag.
    for tag in h.split('<').skip(1) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        assert_eq!(tag.matches('"').count() % 2, 0, "<{tag}>");
        let unquoted: String = tag.split('"').step_by(2).collect();
        assert!(
            !unquoted.contains("onerror") && !unquoted.contains("src"),
            "<{tag}>"
        );
    }
}
