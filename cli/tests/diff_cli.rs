//! `shadowtap diff` on two logs of the same requests answered by two
//! versions of a small JSON API (made here): every injected difference is
//! reported at its endpoint, pointer, kind and count; the noise both
//! versions add (timestamps, request ids, Date) is reported as noise.

use std::process::{Command, Output};

mod common;

use common::api::{endpoint, field, noise_field, write_log};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .output()
        .expect("run shadowtap")
}

#[test]
fn diff_reports_each_injected_difference_and_keeps_noise_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("v1.stlog"), dir.path().join("v2.stlog"));
    write_log(&a, 1, 1);
    write_log(&b, 2, 2);
    let diff_log = dir.path().join("d.jsonl");
    let out = run(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--report",
        "json",
        "--diff-log",
        diff_log.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["pairs"]["paired"], 140, "{:#}", r["pairs"]);
    assert_eq!(r["pairs"]["unmatched_baseline"], 0);

    let items = endpoint(&r, "GET /api/items/{id}");
    assert_eq!(items["compared"], 100);
    assert_eq!(items["status_mismatch"], 1);
    assert_eq!(
        items["differing"], 100,
        "every item gained /stock: {items:#}"
    );
    // A tenth of the ids changed price; id 42 answers an error body, where
    // the price is missing.
    let price = field(items, "body:/price");
    assert_eq!(
        (
            price["kind"].as_str(),
            price["count"].as_u64(),
            price["noise"].as_bool()
        ),
        (Some("value"), Some(11), Some(false))
    );
    assert_eq!(
        (
            price["kinds"]["value"].as_u64(),
            price["kinds"]["missing"].as_u64()
        ),
        (Some(10), Some(1))
    );
    // 10.50 and 10.5 are the same number: the other 89 ids do not differ.
    assert_eq!(price["examples"][0]["baseline"], "10.50");
    assert_eq!(price["examples"][0]["candidate"], "11.5");
    let stock = field(items, "body:/stock");
    assert_eq!(
        (stock["kind"].as_str(), stock["count"].as_u64()),
        (Some("extra"), Some(99))
    );
    let status = field(items, "status");
    assert_eq!(status["count"], 1);
    assert_eq!(status["examples"][0]["baseline"], "200");
    assert_eq!(status["examples"][0]["candidate"], "500");

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

    // The noise is shown as noise, never as a candidate difference.
    for (e, f) in [
        (items, "body:/updated_at"),
        (items, "body:/request_id"),
        (items, "header:date"),
        (items, "header:x-request-id"),
        (list, "body:/generated_at"),
        (health, "body:/request_id"),
    ] {
        let f = noise_field(e, f);
        assert!(f["noise_reason"].is_string(), "{f:#}");
    }
    for e in r["comparison"]["targets"][0]["endpoints"]
        .as_array()
        .unwrap()
    {
        for f in e["fields"].as_array().unwrap() {
            if f["noise"] == false {
                let p = f["path"].as_str().unwrap();
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
                assert!(
                    expected.contains(&p),
                    "unexpected candidate difference {p} at {}",
                    e["endpoint"]
                );
            }
        }
    }
    assert_eq!(r["comparison"]["overall"]["differing"], 120);

    // One diff-log line per request with a difference.
    let lines = std::fs::read_to_string(&diff_log).unwrap();
    assert_eq!(lines.lines().count(), 140);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["method"], "GET");
    assert!(first["differences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["path"] == "header:date"));

    // The text summary names the worst endpoint and its top field.
    assert!(stderr.contains("GET /api/items/{id}"), "{stderr}");
    assert!(stderr.contains("body:/stock"), "{stderr}");
}

#[test]
fn diff_with_bad_rules_or_files_exits_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, 1, 1);
    let missing = dir.path().join("missing.stlog");
    let out = run(&["diff", a.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.stlog"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = run(&[
        "diff",
        a.to_str().unwrap(),
        a.to_str().unwrap(),
        "--ignore",
        "nonsense:/x",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn diff_thresholds_fail_the_run_with_99() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("v1.stlog"), dir.path().join("v2.stlog"));
    write_log(&a, 1, 1);
    write_log(&b, 2, 2);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = run(&[
        "diff",
        a,
        b,
        "--threshold",
        r#"diff_rate{endpoint="GET /api/health"}==0"#,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "diff",
        a,
        b,
        "--threshold",
        "diff_rate<50%",
        "--threshold",
        "status_mismatch==0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(99), "{err}");
    assert!(err.contains("FAIL  status_mismatch==0"), "{err}");
    let out = run(&["diff", a, b, "--threshold", "p99<1s"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The HTML page, on stdout.
    let out = run(&["diff", a, b, "--report", "html"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains("data-endpoint=\"GET /api/list?page\""),
        "{page}"
    );
    // The same logs compared with themselves: nothing differs.
    let out = run(&[
        "diff",
        a,
        a,
        "--threshold",
        "diff_rate==0",
        "--threshold",
        "status_mismatch==0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
