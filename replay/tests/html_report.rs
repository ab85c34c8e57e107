//! The comparison's HTML page in a real browser: Debian's `chromium`,
//! headless. The page is rendered to a temporary file and opened from
//! there; the DOM the browser built is checked (endpoint rows in order,
//! candidate and noise field rows, hostile values present as text only, no
//! element injected, the title untouched), and a screenshot is taken.
//!
//! Without `chromium` (or `chromium-browser`) on PATH the tests skip with
//! a message, except in CI (`CI` set, and not `false` or `0`), where they
//! fail: in CI nothing passes without having run (the harness is in
//! `support/browser.rs`).

use std::path::Path;
use std::time::Duration;

use shadowtap_replay::compare::html;
use shadowtap_replay::compare::tally::{ComparisonReport, Tally, TallyConfig};
use shadowtap_replay::compare::{Comparison, Difference, Field, Kind, Noise};
use shadowtap_replay::threshold::ThresholdResult;

#[path = "support/browser.rs"]
mod support;

use support::{browser, dom_text, file_url, run_browser, screenshot};

const TITLE: &str = "shadowtap: v2 vs v1";
/// Would change the title and add an element, if it ever ran.
const SCRIPT: &str = "</td><script>document.title='pwned';\
    document.body.insertAdjacentHTML('beforeend','<p id=pwned-script></p>')</script>";
/// Would break out of an attribute, and run when the image fails.
const ATTR: &str = "\"><img id=pwned-img src=x onerror=\"document.title='pwned'\">";

fn diff(
    f: Field,
    kind: Kind,
    b: Option<&str>,
    c: Option<&str>,
    noise: Option<Noise>,
) -> Difference {
    Difference {
        field: f,
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

/// Four endpoints: `GET /items/{id}` differs in `/price` on 3 of 10
/// requests, its timestamp always noise, with latency; `GET /search`
/// differs twice with hostile values; `POST /orders` in its status once;
/// `GET /health` not at all.
fn report() -> ComparisonReport {
    let mut t = Tally::new(&["http://candidate:8080".into()], TallyConfig::default());
    for id in 0..10u64 {
        let mut ds = vec![diff(
            Field::Pointer("/ts".into()),
            Kind::Value,
            Some("2024-01-01T00:00:00Z"),
            Some("2024-01-01T00:00:01Z"),
            Some(Noise::Builtin("timestamp")),
        )];
        if id < 3 {
            ds.push(diff(
                Field::Pointer("/price".into()),
                Kind::Value,
                Some("10"),
                Some("12"),
                None,
            ));
        }
        let lat = (
            Duration::from_micros(900 + id),
            Duration::from_micros(1_800 + 2 * id),
        );
        t.record(0, "GET /items/{id}", id, &cmp(ds), Some(lat));
    }
    for id in 40..42 {
        let ds = vec![diff(
            Field::Pointer("/q".into()),
            Kind::Value,
            Some(ATTR),
            Some(SCRIPT),
            None,
        )];
        t.record(0, "GET /search", id, &cmp(ds), None);
    }
    let status = diff(Field::Status, Kind::Value, Some("200"), Some("500"), None);
    t.record(0, "POST /orders", 20, &cmp(vec![status]), None);
    t.record(0, "GET /health", 30, &cmp(vec![]), None);
    t.report()
}

fn thresholds() -> Vec<ThresholdResult> {
    vec![ThresholdResult {
        threshold: "diff_rate<1%".into(),
        target: "http://candidate:8080".into(),
        observed: Some(6.0 / 14.0),
        limit: 0.01,
        passed: false,
        observed_text: "42.857%".into(),
    }]
}

fn page(dir: &Path) -> String {
    let path = dir.join("report.html");
    std::fs::write(&path, html::render(&report(), &thresholds(), TITLE)).unwrap();
    file_url(&path)
}

#[test]
fn the_browser_builds_the_tables_and_runs_nothing_injected() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = page(dir.path());
    let out = run_browser(&browser, dir.path(), &["--dump-dom".into()], &url);
    let dom = String::from_utf8(out.stdout).expect("the DOM is UTF-8");
    let dom_len = dom.len();
    assert!(dom.starts_with("<!DOCTYPE html>"), "{dom}");

    // Nothing ran, nothing was injected.
    assert!(dom.contains(&format!("<title>{TITLE}</title>")), "{dom}");
    assert!(
        !dom.contains("pwned-script\"") && !dom.contains("id=\"pwned"),
        "{dom}"
    );
    assert!(!dom.to_lowercase().contains("<script"), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    // The hostile values are there, as text, side by side.
    let q = dom
        .find("<tr class=\"field candidate\" data-field=\"body:/q\">")
        .expect("the /q row");
    let row = &dom[q..q + dom[q..].find("</tr>").unwrap()];
    assert!(
        row.contains(&format!(
            "<div class=\"baseline\"><div class=\"side\">baseline</div><code class=\"val\">{}</code></div>\
             <div class=\"candidate\"><div class=\"side\">candidate</div><code class=\"val\">{}</code></div>",
            dom_text(ATTR),
            dom_text(SCRIPT)
        )),
        "{row}"
    );
    assert_eq!(row.matches("<div class=\"example\"").count(), 2, "{row}");

    // Endpoints, most differing first, each row as written.
    let endpoints: Vec<&str> = dom
        .match_indices("<tr class=\"endpoint\" data-endpoint=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        endpoints,
        [
            "GET /items/{id}",
            "GET /search",
            "POST /orders",
            "GET /health"
        ]
    );
    let states: Vec<&str> = dom
        .match_indices("data-state=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(states, ["differing", "differing", "differing", "equal"]);
    assert!(dom.contains("<span class=\"diff-rate\">30.00%</span>"));
    assert!(dom.contains("<td class=\"n compared\">14</td>"), "{dom}");
    assert!(dom.contains("<td class=\"n differing\">6</td>"), "{dom}");
    assert!(dom.contains("<tr class=\"threshold\" data-passed=\"false\">"));

    // Fields: the candidate's first, then the noise, visibly marked.
    let price = dom
        .find("<tr class=\"field candidate\" data-field=\"body:/price\">")
        .expect("the /price row");
    let ts = dom
        .find("<tr class=\"field noise\" data-field=\"body:/ts\">")
        .expect("the /ts row");
    assert!(price < ts);
    assert!(dom[ts..].starts_with(
        "<tr class=\"field noise\" data-field=\"body:/ts\"><td class=\"path\"><code>body:/ts</code> \
         <span class=\"badge noise\">noise</span></td>"
    ));
    assert!(dom.contains("<span class=\"reason\">built-in: timestamp</span>"));
    assert_eq!(dom.matches("<tr class=\"field candidate\"").count(), 3);
    assert_eq!(dom.matches("<tr class=\"field noise\"").count(), 1);
    // Noise examples collapsed, one click away.
    assert_eq!(
        dom.matches("<details><summary>3 examples</summary>")
            .count(),
        1
    );
    // Latency side by side, for the one endpoint that has it.
    assert_eq!(dom.matches("<table class=\"latency\">").count(), 1);
    assert_eq!(
        dom.matches("<td class=\"n\">2.00×</td>").count(),
        3,
        "{dom}"
    );
    eprintln!("DOM of {dom_len} bytes checked");
}

#[test]
fn the_browser_draws_the_page() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = page(dir.path());
    let data = screenshot(&browser, dir.path(), &url, (1280, 1600));
    assert!(data.len() > 1024, "a PNG of {} bytes", data.len());
    eprintln!("screenshot of {} bytes", data.len());
}
