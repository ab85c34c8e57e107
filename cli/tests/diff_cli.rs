//! `shadowtap diff` on two logs of the same requests answered by two
//! versions of a small JSON API (made here): every injected difference is
//! reported at its endpoint, pointer, kind and count; the noise both
//! versions add (timestamps, request ids, Date) is reported as noise.

use std::path::Path;
use std::process::{Command, Output};

use shadowtap_format::{Codec, Exchange, FileHeader, Response, Writer, WriterOptions};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .output()
        .expect("run shadowtap")
}

/// A deterministic pseudo-random 32-hex-digit id.
fn rid(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    let mut s = String::new();
    for _ in 0..2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s
}

/// The response of version `v` (1 or 2) to request `i` of `path`; `salt`
/// makes the noise differ between the two logs.
fn answer(v: u8, path: &str, i: u64, salt: u64) -> (u16, String) {
    let ts = format!(
        "2026-12-06T10:{:02}:{:02}.{:03}Z",
        (i + salt) % 60,
        (i * 7 + salt) % 60,
        salt % 1000
    );
    let req_id = rid(i * 1000 + salt);
    if path.starts_with("/api/items/") {
        let id: u64 = path.rsplit('/').next().unwrap().parse().unwrap();
        if v == 2 && id == 42 {
            return (
                500,
                format!(r#"{{"error":"boom","request_id":"{req_id}"}}"#),
            );
        }
        let price = if v == 2 && id % 10 == 3 {
            "11.5"
        } else {
            "10.50"
        };
        let stock = if v == 2 { r#","stock":5"# } else { "" };
        (
            200,
            format!(
                r#"{{"id":{id},"name":"item {id}","price":{price},"tags":["a","b"],"updated_at":"{ts}","request_id":"{req_id}"{stock}}}"#
            ),
        )
    } else if path.starts_with("/api/list") {
        let items = if v == 2 {
            r#"[{"id":3},{"id":2},{"id":1}]"#
        } else {
            r#"[{"id":1},{"id":2},{"id":3}]"#
        };
        (200, format!(r#"{{"items":{items},"generated_at":"{ts}"}}"#))
    } else {
        (200, format!(r#"{{"ok":true,"request_id":"{req_id}"}}"#))
    }
}

fn requests() -> Vec<String> {
    let mut r = Vec::new();
    for i in 0..100 {
        r.push(format!("/api/items/{i}"));
        if i % 5 == 0 {
            r.push(format!("/api/list?page={}", i / 5));
            r.push("/api/health".to_owned());
        }
    }
    r
}

fn write_log(path: &Path, v: u8, salt: u64) {
    let opts = WriterOptions {
        codec: Codec::Zstd,
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(path, &FileHeader::default(), opts).unwrap();
    for (n, p) in requests().iter().enumerate() {
        let n = n as u64;
        let (status, body) = answer(v, p, n, salt);
        let ts = 1_800_000_000_000_000_000 + n * 1_000_000;
        let head = format!(
            "HTTP/1.1 {status} X\r\nDate: Sun, 06 Dec 2026 10:{:02}:{:02} GMT\r\nContent-Type: application/json\r\nX-Request-Id: {}\r\nContent-Length: {}\r\n\r\n",
            (n + salt) % 60,
            (n * 3 + salt) % 60,
            rid(n + salt * 7),
            body.len()
        );
        let request = format!("GET {p} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes();
        let ex = Exchange::new(
            n,
            n,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
            ts,
            request,
        )
        .with_response(Response::new(
            status,
            ts + 1_000_000,
            ts + 2_000_000,
            head.into_bytes(),
            body.into_bytes(),
        ));
        w.append(&ex).unwrap();
    }
    w.finish().unwrap();
}

fn endpoint<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["comparison"]["targets"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in {:#}", report["comparison"]))
}

fn field<'a>(e: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no field {path} in {e:#}"))
}

/// The field's entry of noise (a field partly noise has two entries).
fn noise_field<'a>(e: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path && f["noise"] == true)
        .unwrap_or_else(|| panic!("no noise field {path} in {e:#}"))
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
