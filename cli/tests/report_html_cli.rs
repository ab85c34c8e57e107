//! End to end: `shadowtap replay --report html --report-file` against the
//! project's own `shadowtap serve` on 127.0.0.1:0, and `report merge
//! --report html` of two JSON reports, each page then opened in a real
//! headless browser (Debian's `chromium`, the harness of
//! `replay/tests/support/browser.rs`): the DOM it built has the charts
//! (their hooks, one series per line), nothing was refused or logged to the
//! console, and a screenshot of the page is not a blank one.
//!
//! Without a browser the tests check the pages' text only and say so; in
//! CI (`CI` set) a missing browser fails them. Everything is written to a
//! temporary directory.

use std::path::{Path, PathBuf};

use shadowtap_format::{Exchange, FileHeader, Writer, WriterOptions};

mod common;

#[path = "../../replay/tests/support/browser.rs"]
mod browser;

use common::run;

/// A log of 30 GETs 50 ms apart: replayed at its pace, the run spans more
/// than one second, so its timeline has at least two intervals.
fn log(dir: &Path) -> PathBuf {
    let path = dir.join("in.stlog");
    let mut w = Writer::create(&path, &FileHeader::default(), WriterOptions::default()).unwrap();
    for i in 0..30u64 {
        let request = format!("GET /item/{i} HTTP/1.1\r\nHost: shop.example\r\n\r\n").into_bytes();
        w.append(&Exchange::new(
            i,
            i,
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1_700_000_000_000_000_000 + i * 50_000_000,
            request,
        ))
        .unwrap();
    }
    w.finish().unwrap();
    path
}

fn replay(log: &Path, target: &str, extra: &[&str]) {
    let mut args = vec!["replay", log.to_str().unwrap(), "--target", target];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What every run page must hold, as written.
fn check_text(page: &str, timeline_series: usize) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Content-Security-Policy"));
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=\"http"));
    assert!(page.contains(&format!(
        "<svg class=\"chart timeline\" data-series=\"{timeline_series}\""
    )));
    assert!(page.contains("<svg class=\"chart percentiles\" data-series=\"1\""));
    assert!(page.contains("<table class=\"run-summary\">"));
}

/// Opens `page` in the browser: the DOM must hold the charts' series and
/// the threshold rows, nothing may be refused or logged, and the
/// screenshot must differ from a blank page's.
fn check_in_browser(dir: &Path, page: &Path, series: usize, thresholds: &[bool]) {
    let Some(chromium) = browser::browser() else {
        eprintln!("the page's text was checked, not its rendering");
        return;
    };
    let url = browser::file_url(page);
    let out = browser::run_browser(
        &chromium,
        dir,
        &[
            "--dump-dom".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
        ],
        &url,
    );
    let dom = String::from_utf8(out.stdout).expect("the DOM is UTF-8");
    let log = String::from_utf8_lossy(&out.stderr);
    for bad in ["CONSOLE", "violates", "Refused to", "Uncaught"] {
        assert!(!log.contains(bad), "the browser logged {bad:?}: {log}");
    }
    let timeline = dom
        .find("<svg class=\"chart timeline\"")
        .expect("the timeline chart in the DOM");
    let svg = &dom[timeline..timeline + dom[timeline..].find("</svg>").unwrap()];
    assert!(svg.contains(&format!("data-series=\"{series}\"")), "{svg}");
    assert_eq!(svg.matches("<path class=\"series").count(), series, "{svg}");
    assert!(svg.contains("data-stat=\"p99\" d=\"M"), "{svg}");
    let pct = dom
        .find("<svg class=\"chart percentiles\"")
        .expect("the percentile chart in the DOM");
    let svg = &dom[pct..pct + dom[pct..].find("</svg>").unwrap()];
    assert_eq!(svg.matches("<path class=\"series").count(), 1, "{svg}");
    assert!(svg.contains(">99%</text>"), "{svg}");
    let passed: Vec<bool> = dom
        .match_indices("<tr class=\"threshold\" data-passed=\"")
        .map(|(i, m)| dom[i + m.len()..].starts_with("true"))
        .collect();
    assert_eq!(passed, thresholds);

    let size = (1280, 1400);
    let shot = browser::screenshot(&chromium, dir, &url, size);
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><title>blank</title>").unwrap();
    let empty = browser::screenshot(&chromium, dir, &browser::file_url(&blank), size);
    assert_ne!(shot, empty, "the page's screenshot is a blank page's");
    assert!(
        shot.len() > 4 * empty.len() && shot.len() > 20 * 1024,
        "a screenshot of {} bytes (a blank page: {})",
        shot.len(),
        empty.len()
    );
    eprintln!(
        "DOM of {} bytes checked; screenshot of {} bytes (blank: {})",
        dom.len(),
        shot.len(),
        empty.len()
    );
}

#[test]
fn replay_writes_a_page_with_its_charts_and_the_browser_draws_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = common::serve(&[]);
    let input = log(dir.path());
    let page = dir.path().join("report.html");
    replay(
        &input,
        &url,
        &[
            "--report",
            "html",
            "--report-file",
            page.to_str().unwrap(),
            "--threshold",
            "p(99)<30s",
            "--threshold",
            "error_rate<1%",
            "--no-progress",
        ],
    );
    let text = std::fs::read_to_string(&page).unwrap();
    // One target: its p99 and p50 over time.
    check_text(&text, 2);
    assert!(text.contains("<title>shadowtap replay</title>"));
    assert!(!text.contains("timeline-absent"));
    check_in_browser(dir.path(), &page, 2, &[true, true]);
}

#[test]
fn report_merge_writes_the_merged_page() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = common::serve(&[]);
    let input = log(dir.path());
    let mut reports = Vec::new();
    for n in 0..2 {
        let json = dir.path().join(format!("run{n}.json"));
        replay(
            &input,
            &url,
            &[
                "--report",
                "json",
                "--report-file",
                json.to_str().unwrap(),
                "--no-progress",
            ],
        );
        reports.push(json.to_str().unwrap().to_owned());
    }
    let page = dir.path().join("merged.html");
    let out = run(&[
        "report",
        "merge",
        &reports[0],
        &reports[1],
        "--report",
        "html",
        "--report-file",
        page.to_str().unwrap(),
        "--threshold",
        "p(99)<1us",
    ]);
    assert_eq!(
        out.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&page).unwrap();
    check_text(&text, 2);
    assert!(text.contains(" · 2 runs merged"));
    assert!(text.contains("<td class=\"n\">60</td>"), "60 requests sent");
    check_in_browser(dir.path(), &page, 2, &[false]);

    // To stdout without a file, JSON unchanged by default.
    let out = run(&["report", "merge", &reports[0], "--report", "html"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with(b"<!DOCTYPE html>"));
    let out = run(&["report", "merge", &reports[0]]);
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(merged["timeline"]["targets"][0]["intervals"].is_array());
}
