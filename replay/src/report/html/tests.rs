use std::time::Duration;

use super::*;
use crate::report::{RunInfo, TimelineRecorder};
use crate::stats::{ErrorKind, Outcome, Stats};
use crate::threshold::ThresholdResult;

const HOSTILE: &str = "http://x/\"><script>alert(1)</script><img src=x onerror=alert(2)>'&";

fn outcome(target: usize, at_ms: u64, latency_us: u64, result: Result<u16, ErrorKind>) -> Outcome {
    let intended = Duration::from_millis(at_ms);
    Outcome {
        target,
        intended,
        sent: intended,
        done: intended + Duration::from_micros(latency_us),
        result,
        bytes_sent: 1,
        bytes_received: 1,
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        config: serde_json::json!({ "targets": [HOSTILE], "note": "</pre><b>x</b>" }),
        seed: Some(7),
        elapsed: Duration::from_secs(3),
        interrupted: false,
    }
}

/// Two targets (one with a hostile name), three seconds, a timeline.
fn report() -> Report {
    let names = vec!["http://good:8080".to_owned(), HOSTILE.to_owned()];
    let mut stats = Stats::new(&names);
    stats.enable_intervals();
    let mut rec = TimelineRecorder::new(&names);
    for s in 0..3u64 {
        for i in 0..50u64 {
            stats.record(&outcome(0, s * 1000 + i, 1000 + i * 10, Ok(200)));
            stats.record(&outcome(1, s * 1000 + i, 5000 + i * 100, Ok(503)));
        }
        stats.record(&outcome(1, s * 1000, 1, Err(ErrorKind::Timeout)));
        rec.observe(Duration::from_secs(s), Duration::from_secs(s + 1), &stats);
        stats.reset_interval();
        rec.settle().unwrap();
    }
    let mut r = Report::from_stats(&stats, &run_info());
    r.timeline = Some(rec.finish());
    r.thresholds = vec![ThresholdResult {
        threshold: "p(99)<1ms<script>".into(),
        target: HOSTILE.into(),
        observed: Some(0.5),
        limit: 0.001,
        passed: false,
        observed_text: "500ms".into(),
    }];
    r
}

#[test]
fn every_section_is_there_and_hostile_names_are_text() {
    let page = render(&report(), None, "run <b>1</b>");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<title>run &lt;b&gt;1&lt;/b&gt;</title>"));
    assert!(!page.contains("<script"), "a script tag got through");
    assert!(!page.contains("<img"), "an img tag got through");
    assert!(!page.contains("<b>x</b>"));
    assert!(page.contains("Content-Security-Policy"));
    for hook in [
        "<header class=\"run\">",
        "<table class=\"run-summary\">",
        "<section id=\"timeline\">",
        "<svg class=\"chart timeline\" data-series=\"4\"",
        "<section id=\"percentiles\">",
        "<svg class=\"chart percentiles\" data-series=\"2\"",
        "<table class=\"status\">",
        "<table class=\"errors\">",
        "<table class=\"left-out\">",
        "<tr class=\"threshold\" data-passed=\"false\">",
        "<tr class=\"target overall\" data-target=\"overall\">",
    ] {
        assert!(page.contains(hook), "no {hook}");
    }
    let escaped = escape(HOSTILE);
    assert!(page.contains(&format!("<tr class=\"target\" data-target=\"{escaped}\">")));
    assert!(page.contains(&format!(
        "<path class=\"series c1\" data-target=\"{escaped}\" data-stat=\"p99\""
    )));
    assert_eq!(page.matches("<path class=\"series").count(), 6);
    // 5xx and timeouts are counted where they belong.
    assert!(page.contains("<th class=\"n\">5xx</th>"));
    assert!(page.contains("<th class=\"n\">timeout</th>"));
    assert!(!page.contains("timeline-absent"));
}

fn escape(s: &str) -> String {
    crate::compare::html::escape(s)
}

#[test]
fn an_empty_run_renders() {
    let names = vec!["http://a".to_owned()];
    let stats = Stats::new(&names);
    let mut r = Report::from_stats(&stats, &run_info());
    r.timeline = Some(TimelineRecorder::new(&names).finish());
    let page = render(&r, None, "empty");
    assert!(page.contains("No response: nothing to draw."));
    assert!(page.contains("<svg class=\"chart percentiles\" data-series=\"0\""));
    assert!(page.contains("timeline-absent"));
    assert!(page.contains("No transport error."));
    assert!(page.contains("Nothing dropped."));
    assert!(page.ends_with("</html>\n"));
}

#[test]
fn a_merge_with_an_older_report_has_no_timeline_and_says_so() {
    let with = report();
    let mut without = report();
    without.timeline = None;
    let json = serde_json::to_string(&without).unwrap();
    assert!(!json.contains("\"timeline\""));
    let older: Report = serde_json::from_str(&json).unwrap();
    let merged = Report::merge(&[with.clone(), older]).unwrap();
    assert_eq!(merged.timeline, None);
    let page = render(&merged, None, "merged");
    assert!(page.contains("<p class=\"note timeline-absent\">This report has no timeline"));
    assert!(page.contains("<svg class=\"chart percentiles\" data-series=\"2\""));
    assert!(page.contains(" · 2 runs merged"));
    // Both with one: the merged timeline adds them.
    let merged = Report::merge(&[with.clone(), with]).unwrap();
    let t = merged.timeline.as_ref().unwrap();
    assert_eq!(t.overall.intervals[0].count, 200);
    assert!(render(&merged, None, "m").contains("data-series=\"4\""));
}

#[test]
fn a_long_timeline_stays_bounded_in_the_page() {
    let names = vec!["http://a".to_owned()];
    let mut stats = Stats::new(&names);
    stats.enable_intervals();
    // More intervals than a series draws: the chart thins them.
    let mut rec = TimelineRecorder::with_limit(&names, 2000);
    let secs = 1500u64;
    for s in 0..secs {
        stats.record(&outcome(0, s * 1000, 100 + s, Ok(200)));
        rec.observe(Duration::from_secs(s), Duration::from_secs(s + 1), &stats);
        stats.reset_interval();
        rec.settle().unwrap();
    }
    let t = rec.finish();
    assert_eq!(t.len(), 1500);
    let mut r = Report::from_stats(&stats, &run_info());
    r.timeline = Some(t);
    let page = render(&r, None, "long");
    let d = page.find("data-stat=\"p99\" d=\"").expect("the p99 series");
    let path = &page[d..d + page[d..].find("\"/>").unwrap()];
    let points = path.matches(['M', 'L']).count();
    assert!(points <= chart::MAX_POINTS, "{points} points");
    assert!(page.len() < 256 * 1024, "{} bytes", page.len());
}

#[test]
fn many_targets_are_capped_in_the_charts() {
    let names: Vec<String> = (0..12).map(|i| format!("http://t{i}")).collect();
    let mut stats = Stats::new(&names);
    for i in 0..12 {
        stats.record(&outcome(i, 0, 100, Ok(200)));
    }
    let r = Report::from_stats(&stats, &run_info());
    let page = render(&r, None, "many");
    assert!(page.contains("data-series=\"8\""));
    assert!(page.contains("4 more targets not drawn"));
}

#[test]
fn a_hostile_timeline_renders_without_panicking() {
    let mut r = report();
    let t = r.timeline.as_mut().unwrap();
    t.interval_us = 0;
    for p in &mut t.targets[0].intervals {
        p.start_us = u64::MAX;
        p.length_us = u64::MAX;
        p.p99_us = u64::MAX;
    }
    t.targets[1].intervals.clear();
    r.targets[0].histograms.latency = "%%%".into();
    let page = render(&r, None, "hostile");
    assert!(page.contains("invalid base64"));
    assert!(page.ends_with("</html>\n"));
}
