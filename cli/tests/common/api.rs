//! A small JSON API in two versions, for the comparison tests: the
//! responses each version gives (with noise that differs between runs:
//! timestamps, request ids, `Date`), the requests, and a log of one
//! version's answers to them.
//!
//! Version 2 differs from version 1 in exactly these ways: every item
//! gains `/stock` (`extra`); items whose id ends in 3 cost `11.5` instead
//! of `10.50` (`value`: ten of the hundred); item 42 answers 500 with an
//! error body; the list's items come in reverse order (`order`). The
//! health check is the same but for its noise.

use std::path::Path;

use shadowtap_format::{Codec, Exchange, FileHeader, Response, Writer, WriterOptions};

/// A deterministic pseudo-random 32-hex-digit id.
pub fn rid(seed: u64) -> String {
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
pub fn answer(v: u8, path: &str, i: u64, salt: u64) -> (u16, String) {
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

/// The paths requested, in order: 100 items, and every fifth a list page
/// and a health check (140 requests).
pub fn requests() -> Vec<String> {
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

/// The fields of a response of request `n` with `status`, after the status
/// line and before the framing field (`Content-Length`, or what the
/// caller puts there); `salt` makes the noise differ.
pub fn fields(n: u64, salt: u64) -> String {
    format!(
        "Date: Sun, 06 Dec 2026 10:{:02}:{:02} GMT\r\nContent-Type: application/json\r\nX-Request-Id: {}\r\n",
        (n + salt) % 60,
        (n * 3 + salt) % 60,
        rid(n + salt * 7),
    )
}

/// The recorded latency of every exchange of [`write_log`]: from the
/// request's first byte to the response's last.
pub const RECORDED_LATENCY_NS: u64 = 2_000_000;

/// A log of version `v`'s answers to [`requests`], 1 ms apart.
pub fn write_log(path: &Path, v: u8, salt: u64) {
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
            "HTTP/1.1 {status} X\r\n{}Content-Length: {}\r\n\r\n",
            fields(n, salt),
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
            ts + RECORDED_LATENCY_NS,
            head.into_bytes(),
            body.into_bytes(),
        ));
        w.append(&ex).unwrap();
    }
    w.finish().unwrap();
}

/// An endpoint of the report's comparison (its first target).
pub fn endpoint<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["comparison"]["targets"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in {:#}", report["comparison"]))
}

/// The field's entry of candidate differences.
pub fn field<'a>(e: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path && f["noise"] == false)
        .unwrap_or_else(|| panic!("no field {path} in {e:#}"))
}

/// The field's entry of noise (a field partly noise has two entries).
pub fn noise_field<'a>(e: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path && f["noise"] == true)
        .unwrap_or_else(|| panic!("no noise field {path} in {e:#}"))
}

/// Every difference v2 has against v1 is in comparison report `r`, at its
/// endpoint with its kind and count, and the health check does not differ.
pub fn assert_injected(r: &serde_json::Value) {
    let items = endpoint(r, "GET /api/items/{id}");
    assert_eq!(items["compared"], 100, "{items:#}");
    assert_eq!(items["status_mismatch"], 1);
    let price = field(items, "body:/price");
    assert_eq!(
        (
            price["kinds"]["value"].as_u64(),
            price["kinds"]["missing"].as_u64()
        ),
        (Some(10), Some(1)),
        "{price:#}"
    );
    let stock = field(items, "body:/stock");
    assert_eq!(
        (stock["kind"].as_str(), stock["count"].as_u64()),
        (Some("extra"), Some(99))
    );
    let list = endpoint(r, "GET /api/list?page");
    let order = field(list, "body:/items");
    assert_eq!(
        (order["kind"].as_str(), order["count"].as_u64()),
        (Some("order"), Some(20))
    );
    let health = endpoint(r, "GET /api/health");
    assert_eq!(
        (health["compared"].as_u64(), health["differing"].as_u64()),
        (Some(20), Some(0)),
        "{health:#}"
    );
}
