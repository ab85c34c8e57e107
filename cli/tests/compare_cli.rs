//! `shadowtap replay --compare` end to end: the log of version 1 of a
//! small JSON API (tests/common/api.rs) replayed against an in-test HTTP/1.1
//! server on 127.0.0.1:0 answering as version 2 (or as version 1 with
//! other framings and codings, slowly, or not at all). Every injected
//! difference is reported at its endpoint, pointer, kind and count (the
//! numbers `diff` finds between the two versions' logs), the noise the
//! server adds is reported as noise, and errors are not differences.

use std::net::TcpListener;
use std::process::Command;

mod common;

use common::api::{endpoint, field, noise_field};
use common::api_server::{server, Style};
use common::compare_run::{candidate_fields, compare, replay, v1_log};

#[test]
fn replay_compare_reports_each_injected_difference_and_keeps_noise_apart() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = server(2, Style::Plain);
    let diff_log = dir.path().join("d.jsonl");
    let junit = dir.path().join("c.xml");
    let (code, r, stderr) = compare(
        &log,
        &url,
        &[
            "--diff-log",
            diff_log.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r["overall"]["completed"], 140, "{stderr}");
    assert_eq!(r["config"]["compare"], true);
    let c = &r["comparison"];
    assert_eq!(c["overall"]["compared"], 140, "{c:#}");
    assert_eq!(c["overall"]["errors"], 0);
    assert_eq!(c["not_compared"]["no_recorded_response"], 0);
    assert_eq!(c["targets"][0]["target"], url.as_str());

    let items = endpoint(&r, "GET /api/items/{id}");
    assert_eq!(items["compared"], 100);
    assert_eq!(items["status_mismatch"], 1);
    assert_eq!(
        items["differing"], 100,
        "every item gained /stock: {items:#}"
    );
    let price = field(items, "body:/price");
    assert_eq!(
        (price["kind"].as_str(), price["count"].as_u64()),
        (Some("value"), Some(11))
    );
    assert_eq!(
        (
            price["kinds"]["value"].as_u64(),
            price["kinds"]["missing"].as_u64()
        ),
        (Some(10), Some(1))
    );
    let stock = field(items, "body:/stock");
    assert_eq!(
        (stock["kind"].as_str(), stock["count"].as_u64()),
        (Some("extra"), Some(99))
    );
    let status = field(items, "status");
    assert_eq!(status["count"], 1);
    assert_eq!(status["examples"][0]["baseline"], "200");
    assert_eq!(status["examples"][0]["candidate"], "500");
    // Each example names the request by its exchange id in the log.
    assert_eq!(status["examples"][0]["request_id"], 60, "{status:#}");

    let list = endpoint(&r, "GET /api/list?page");
    assert_eq!(
        (list["compared"].as_u64(), list["differing"].as_u64()),
        (Some(20), Some(20))
    );
    let order = field(list, "body:/items");
    assert_eq!(
        (order["kind"].as_str(), order["count"].as_u64()),
        (Some("order"), Some(20))
    );

    let health = endpoint(&r, "GET /api/health");
    assert_eq!(
        (health["compared"].as_u64(), health["differing"].as_u64()),
        (Some(20), Some(0))
    );
    assert_eq!(health["noise_only"], 20);

    // The server's noise is noise, never a candidate difference.
    for (e, f) in [
        (items, "body:/updated_at"),
        (items, "body:/request_id"),
        (items, "header:date"),
        (items, "header:x-request-id"),
        (list, "body:/generated_at"),
        (health, "body:/request_id"),
        (health, "header:date"),
    ] {
        let f = noise_field(e, f);
        assert!(f["noise_reason"].is_string(), "{f:#}");
    }
    // The error body of item 42 lacks the item's fields: those are its
    // candidate differences, besides the injected ones.
    let expected = [
        "body:/price",
        "body:/stock",
        "status",
        "body:/items",
        "body:/error",
        "body:/id",
        "body:/name",
        "body:/tags",
        "body:/updated_at",
    ];
    for (e, p) in candidate_fields(&r) {
        assert!(
            expected.contains(&p.as_str()),
            "unexpected candidate difference {p} at {e}"
        );
    }
    assert_eq!(c["overall"]["differing"], 120);
    // Latency: the recording's (2 ms, within the histogram's two
    // significant digits) against the candidate's.
    let lat = &items["latency_us"];
    let base = lat["baseline"]["p50"].as_u64().unwrap();
    assert!((1980..=2020).contains(&base), "{lat:#}");
    assert!(lat["candidate"]["p50"].as_u64().unwrap() > 0, "{lat:#}");

    // One diff-log line per request (each differs at least in its Date).
    let lines = std::fs::read_to_string(&diff_log).unwrap();
    assert_eq!(lines.lines().count(), 140);
    let mut ids = Vec::new();
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["method"], "GET");
        assert_eq!(v["target"], url.as_str());
        assert_eq!(v["baseline_id"], v["candidate_id"]);
        assert!(
            v["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["path"] == "header:date" && d["noise"].is_string()),
            "{v:#}"
        );
        ids.push(v["baseline_id"].as_u64().unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..140).collect::<Vec<u64>>());

    // The JUnit file parses: a case per endpoint, the two differing ones
    // failed.
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as E\n\
             r = E.parse(sys.argv[1]).getroot()\n\
             cases = r.findall('.//testcase')\n\
             failed = [c.get('name') for c in cases if c.find('failure') is not None]\n\
             print(len(cases), sorted(failed))",
        )
        .arg(&junit)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3 ['GET /api/items/{id}', 'GET /api/list?page']"
    );

    // The text summary names the worst endpoint and its top field.
    assert!(stderr.contains("comparison: "), "{stderr}");
    assert!(stderr.contains("GET /api/items/{id}"), "{stderr}");
    assert!(stderr.contains("body:/stock"), "{stderr}");
}

#[test]
fn gzip_and_chunked_bodies_of_the_same_json_do_not_differ() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    for style in [Style::Gzip, Style::Chunked, Style::GzipChunked] {
        let url = server(1, style);
        let (code, r, stderr) = compare(&log, &url, &[]);
        assert_eq!(code, Some(0), "{style:?}: {stderr}");
        let c = &r["comparison"]["overall"];
        assert_eq!(
            (c["compared"].as_u64(), c["uncompared"].as_u64()),
            (Some(140), Some(0)),
            "{style:?}: {c:#}"
        );
        let fields = candidate_fields(&r);
        let body: Vec<_> = fields
            .iter()
            .filter(|(_, p)| p.starts_with("body"))
            .collect();
        assert!(body.is_empty(), "{style:?}: body differences {body:?}");
        if style == Style::Chunked {
            // Framing fields are not compared.
            assert!(fields.is_empty(), "{style:?}: {fields:?}");
            assert_eq!(c["differing"], 0, "{style:?}");
        } else {
            // The coding is a header difference of every request.
            for e in [
                "GET /api/items/{id}",
                "GET /api/list?page",
                "GET /api/health",
            ] {
                let ep = endpoint(&r, e);
                let f = field(ep, "header:content-encoding");
                assert_eq!(f["kind"], "extra", "{style:?}: {f:#}");
                assert_eq!(f["count"], ep["compared"], "{style:?}: {f:#}");
            }
            assert_eq!(fields.len(), 3, "{style:?}: {fields:?}");
        }
    }
}

#[test]
fn a_target_that_is_down_counts_errors_not_differences() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    // A port nobody listens on.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (code, r, stderr) = compare(&log, &url, &["--timeout", "5s"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r["overall"]["errors_total"], 140, "{stderr}");
    let c = &r["comparison"]["overall"];
    assert_eq!(
        (
            c["compared"].as_u64(),
            c["errors"].as_u64(),
            c["differing"].as_u64()
        ),
        (Some(0), Some(140), Some(0)),
        "{c:#}"
    );
    assert_eq!(endpoint(&r, "GET /api/items/{id}")["errors"], 100);
}

#[test]
fn a_slow_candidate_fails_a_latency_ratio_threshold_with_99() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = server(1, Style::Slow);
    let (code, r, stderr) = compare(&log, &url, &["--threshold", "latency_ratio_p99<1.2"]);
    assert_eq!(code, Some(99), "{stderr}");
    assert!(stderr.contains("FAIL  latency_ratio_p99<1.2"), "{stderr}");
    let t = &r["thresholds"][0];
    assert_eq!(
        (t["threshold"].as_str(), t["passed"].as_bool()),
        (Some("latency_ratio_p99<1.2"), Some(false)),
        "{t:#}"
    );
    // 30 ms against the recorded 2 ms: a ratio of about 15.
    assert!(t["observed"].as_f64().unwrap() > 10.0, "{t:#}");
}

#[test]
fn comparison_options_and_thresholds_need_compare() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = server(1, Style::Plain);
    for bad in [
        vec!["--threshold", "diff_rate<1%"],
        vec!["--diff-log", "x.jsonl"],
        vec!["--ignore", "status"],
    ] {
        let mut args = vec![log.as_str(), "--target", &url];
        args.extend(bad.iter().copied());
        let out = replay(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("--compare"), "{bad:?}: {err}");
    }
    // A diff log that cannot be created fails before anything is sent.
    let missing = dir.path().join("no/such/dir/d.jsonl");
    let out = replay(&[
        &log,
        "--target",
        &url,
        "--compare",
        "--diff-log",
        missing.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("diff log"), "{err}");
}

#[test]
fn the_html_report_is_the_run_page_with_the_comparison_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = server(2, Style::Plain);
    let page = dir.path().join("r.html");
    let out = replay(&[
        &log,
        "--target",
        &url,
        "--compare",
        "--report",
        "html",
        "--report-file",
        page.to_str().unwrap(),
        "--speed",
        "max",
        "--no-progress",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..html.len().min(200)]
    );
    assert!(html.contains("data-endpoint=\"GET /api/items/{id}\""));
    assert!(html.contains("body:/stock"));
    assert!(!html.contains("<script"), "the page runs no script");
    assert!(html.contains("<title>shadowtap replay --compare</title>"));
    assert!(html.contains("<table class=\"run-summary\">"));
    let comparison = html.find("<section id=\"comparison\">").unwrap();
    assert!(html[comparison..].contains("<section class=\"target\" data-target="));
    assert!(html.contains("<svg class=\"chart percentiles\""));
}

#[test]
fn without_compare_the_html_report_is_the_run_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = server(1, Style::Plain);
    let out = replay(&[
        &log,
        "--target",
        &url,
        "--report",
        "html",
        "--speed",
        "max",
        "--no-progress",
    ]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>shadowtap replay</title>"));
    assert!(!html.contains("<section id=\"comparison\">"));
}
