//! Tests of the built-in noise: headers, value shapes, keys.

use super::*;
use crate::compare::Kind;

fn builtin(field: Field, a: &str, b: &str) -> Option<Noise> {
    let r = Rules::new(&[], &[], true).unwrap();
    let d = Difference {
        field,
        kind: Kind::Value,
        baseline: Some(a.into()),
        candidate: Some(b.into()),
        noise: None,
    };
    r.noise(&d)
}

fn h(name: &str) -> Field {
    Field::Header(name.into())
}

fn p(pointer: &str) -> Field {
    Field::Pointer(pointer.into())
}

const DATE_A: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const DATE_B: &str = "Wed, 06 Dec 2026 10:00:00 GMT";

#[test]
fn value_shapes_are_named() {
    let cases: &[(&str, Option<&str>)] = &[
        // RFC 3339 / ISO 8601 date-times, quoted (JSON) or raw (headers).
        ("\"2026-12-06T10:00:00Z\"", Some("timestamp")),
        ("2026-12-06T10:00:00Z", Some("timestamp")),
        ("\"2026-12-06T10:00:00.123456Z\"", Some("timestamp")),
        ("\"2026-12-06t10:00:00z\"", Some("timestamp")),
        ("\"2026-12-06 10:00:00+01:00\"", Some("timestamp")),
        ("\"2026-12-06T10:00:00,5-0800\"", Some("timestamp")),
        ("\"2026-12-06T10:00+05\"", Some("timestamp")),
        ("\"2026-12-06T10:00:00\"", Some("timestamp")),
        ("\"2026-13-06T10:00:00Z\"", None),
        ("\"2026-12-06T24:00:00Z\"", None),
        ("\"2026-12-06T10:00:00.Z\"", None),
        ("\"2026-12-06T10:00:00Zjunk\"", None),
        ("\"2026-12-06T10:00:00+1:00\"", None),
        // Plain dates are compared.
        ("\"2026-12-06\"", None),
        // IMF-fixdate.
        (DATE_A, Some("timestamp")),
        ("\"Sun, 06 Nov 1994 08:49:37 GMT\"", Some("timestamp")),
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("Sunday, 06-Nov-94 08:49:37 GMT", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        // Epoch numbers: unquoted JSON numbers in 2000..2100.
        ("1765015200", Some("epoch timestamp")),
        ("1765015200.25", Some("epoch timestamp")),
        ("1765015200123", Some("epoch timestamp")),
        ("946684799", None),
        ("4102444801", None),
        ("\"1765015200\"", None),
        ("-1765015200", None),
        ("1.765015200e9", None),
        ("12", None),
        // UUIDs, any version, one case.
        ("\"123e4567-e89b-12d3-a456-426614174000\"", Some("uuid")),
        ("123E4567-E89B-12D3-A456-426614174000", Some("uuid")),
        ("\"018f3a2b-7c4d-7e5f-8a9b-0c1d2e3f4a5b\"", Some("uuid")),
        // Not UUIDs, but still opaque strings of letters and digits.
        (
            "\"123e4567-E89B-12d3-a456-426614174000\"",
            Some("random token"),
        ),
        (
            "\"123e4567e89b-12d3-a456-426614174000-\"",
            Some("random token"),
        ),
        (
            "\"123e4567-e89b-12d3-a456-42661417400g\"",
            Some("random token"),
        ),
        // Hex tokens: 16+ hex digits with letters and digits.
        ("\"9f86d081884c7d659a2feaa0c55ad015\"", Some("hex token")),
        ("9F86D081884C7D65", Some("hex token")),
        ("\"9f86d081884c7d6\"", None),
        ("\"1234567890123456\"", None),
        ("\"deadbeefdeadbeef\"", None),
        ("\"9f86d081884C7D659a2f\"", Some("random token")),
        // Random tokens: base64 / base64url / JWT, letters and digits.
        ("\"dGhpcyBpcyBhIHRva2VuIQ==\"", Some("random token")),
        ("\"Zm9vYmFyMTIzNDU2Nzg5MA\"", Some("random token")),
        ("\"a1b2c3d4e5f6g7h8-_\"", Some("random token")),
        ("\"ab\\/cd12ef34gh56ij78\"", Some("random token")),
        (
            "\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz\"",
            Some("random token"),
        ),
        ("\"tGzv3JOkF0XG5Qx2TlKWIA…", Some("random token")),
        ("\"abcdefghijklmnopqrstuvwxyz\"", None),
        ("\"a1b2c3d4e5f6g7h\"", None),
        ("\"a1b2c3d4=e5f6g7h8\"", None),
        ("\"a1b2c3d4 e5f6g7h8\"", None),
        ("\"user@example.com12\"", None),
        // Ordinary words and numbers.
        ("\"alice\"", None),
        ("\"2.5\"", None),
        ("13", None),
        ("true", None),
        ("null", None),
        ("", None),
        ("\"unterminated", None),
    ];
    for (excerpt, want) in cases {
        assert_eq!(value_shape(excerpt), *want, "{excerpt:?}");
    }
}

#[test]
fn builtin_headers_are_named_and_checked() {
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("date", DATE_A, DATE_B, Some("date header")),
        ("expires", DATE_A, DATE_B, Some("date header")),
        ("last-modified", DATE_A, DATE_B, Some("date header")),
        ("date", DATE_A, "garbage", None),
        ("expires", "0", DATE_B, None),
        ("date", DATE_A, "2026-12-06T10:00:00Z", None),
        ("age", "12", "340", Some("age header")),
        ("age", "12", "soon", None),
        (
            "server-timing",
            "db;dur=53",
            "db;dur=47.2, app;dur=3",
            Some("timing header"),
        ),
        ("x-response-time", "12ms", "15ms", Some("timing header")),
        ("x-runtime", "0.012", "0.020", Some("timing header")),
        (
            "x-envoy-upstream-service-time",
            "5",
            "9",
            Some("timing header"),
        ),
        ("etag", "\"abc\"", "\"def\"", Some("etag header")),
        ("etag", "W/\"abc\"", "W/\"def\"", Some("etag header")),
        ("etag", "W/\"abc\"", "\"abc\"", None),
        (
            "set-cookie",
            "sid=a1B2c3D4e5F6g7H8; Path=/; HttpOnly",
            "sid=Z9y8X7w6V5u4T3s2; Path=/; HttpOnly",
            Some("cookie header"),
        ),
        (
            "set-cookie",
            "sid=a1B2c3D4e5F6g7H8; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure",
            "sid=Z9y8X7w6V5u4T3s2; expires=Wed, 06 Dec 2026 10:00:00 GMT; Secure",
            Some("cookie header"),
        ),
        (
            "set-cookie",
            "sid=a1B2c3D4e5F6g7H8; Path=/; HttpOnly",
            "sid=Z9y8X7w6V5u4T3s2; Path=/",
            None,
        ),
        (
            "set-cookie",
            "sid=a1B2c3D4e5F6g7H8; Path=/",
            "sid=Z9y8X7w6V5u4T3s2; Path=/api",
            None,
        ),
        (
            "set-cookie",
            "sid=a1B2c3D4e5F6g7H8",
            "tok=Z9y8X7w6V5u4T3s2",
            None,
        ),
        ("set-cookie", "lang=en; Path=/", "lang=fr; Path=/", None),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-1bf7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01",
            Some("trace header"),
        ),
        (
            "x-b3-traceid",
            "80f198ee56343ba864fe8b2a57d3eff7",
            "90f198ee56343ba864fe8b2a57d3eff7",
            Some("trace header"),
        ),
        ("x-b3-sampled", "1", "0", Some("trace header")),
        ("uber-trace-id", "a:b:0:1", "c:d:0:1", Some("trace header")),
        (
            "x-amzn-trace-id",
            "Root=1-a",
            "Root=1-b",
            Some("trace header"),
        ),
        ("x-datadog-trace-id", "123", "456", Some("trace header")),
        ("x-request-id", "abc", "def", Some("request id header")),
        ("x-request-id", "abc", "", None),
        (
            "cf-ray",
            "8f1c2a3b4c5d6e7f-FRA",
            "8f1d2a3b4c5d6e7f-AMS",
            Some("request id header"),
        ),
        ("x-amz-id-2", "x", "y", Some("request id header")),
        ("x-correlation-id", "1", "2", Some("request id header")),
        // Other headers: by shape only.
        (
            "x-build-time",
            "2026-12-06T10:00:00Z",
            "2026-12-07T11:00:00Z",
            Some("timestamp"),
        ),
        (
            "x-session",
            "123e4567-e89b-12d3-a456-426614174000",
            "018f3a2b-7c4d-7e5f-8a9b-0c1d2e3f4a5b",
            Some("uuid"),
        ),
        ("x-ratelimit-reset", "1765015200", "1765015260", None),
        ("content-length", "12", "13", None),
        ("content-type", "application/json", "text/html", None),
        ("server", "nginx/1.25", "nginx/1.27", None),
    ];
    for (name, a, b, want) in cases {
        assert_eq!(
            builtin(h(name), a, b),
            want.map(Noise::Builtin),
            "{name}: {a:?} -> {b:?}"
        );
    }
}

#[test]
fn builtin_values_are_noise_only_when_alike() {
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "/created_at",
            "\"2026-12-06T10:00:00Z\"",
            "\"2026-12-08T09:30:00Z\"",
            Some("timestamp"),
        ),
        (
            "/a/0",
            "\"2026-12-06T10:00:00.1Z\"",
            "\"2026-12-06T10:00:00.123Z\"",
            Some("timestamp"),
        ),
        (
            "/a",
            "\"2026-12-06T10:00:00Z\"",
            "\"2026-12-06T10:00:00+00:00\"",
            None,
        ),
        (
            "/a",
            "\"2026-12-06T10:00:00Z\"",
            "\"2026-12-06T10:00:00.5Z\"",
            None,
        ),
        ("/a", "\"2026-12-06T10:00:00Z\"", "\"soon\"", None),
        (
            "/a",
            "\"2026-12-06T10:00:00Z\"",
            "\"123e4567-e89b-12d3-a456-426614174000\"",
            None,
        ),
        ("/a", "\"2026-12-06\"", "\"2026-12-07\"", None),
        (
            "/created_at",
            "1765015200",
            "1765015260",
            Some("epoch timestamp"),
        ),
        (
            "/updatedAt",
            "1765015200123",
            "1765015260456",
            Some("epoch timestamp"),
        ),
        (
            "/ts",
            "1765015200.25",
            "1765015201.5",
            Some("epoch timestamp"),
        ),
        ("/exp", "1765015200", "1765101599", Some("epoch timestamp")),
        ("/exp", "1765015200", "1765101601", None),
        ("/ts", "1765015200", "1765015200123", None),
        (
            "/starts_at",
            "1765015200",
            "1765015260",
            Some("epoch timestamp"),
        ),
        (
            "/seenAt",
            "1765015200",
            "1765015260",
            Some("epoch timestamp"),
        ),
        (
            "/event-time",
            "1765015200",
            "1765015260",
            Some("epoch timestamp"),
        ),
        ("/t", "1765015200", "1765015260", Some("epoch timestamp")),
        ("/format", "1765015200", "1765015260", None),
        ("/uptime", "1765015200", "1765015260", None),
        ("/size", "1765015200", "1765015260", None),
        ("/items/3", "1765015200", "1765015260", None),
        ("/candidate", "1765015200", "1765015260", None),
        (
            "/id",
            "\"123e4567-e89b-12d3-a456-426614174000\"",
            "\"018f3a2b-7c4d-7e5f-8a9b-0c1d2e3f4a5b\"",
            Some("uuid"),
        ),
        (
            "/id",
            "\"123e4567-e89b-12d3-a456-426614174000\"",
            "\"123E4567-E89B-12D3-A456-426614174000\"",
            None,
        ),
        (
            "/sha",
            "\"9f86d081884c7d659a2feaa0c55ad015\"",
            "\"1a79a4d60de6718e8e5b326e338ae533\"",
            Some("hex token"),
        ),
        (
            "/sha",
            "\"9f86d081884c7d659a2feaa0c55ad015\"",
            "\"9f86d081884c7d659a2feaa0c55ad016\"",
            None,
        ),
        (
            "/sha",
            "\"9f86d081884c7d659a2feaa0c55ad015\"",
            "\"9F86D081884C7D659A2FEAA0C55AD015\"",
            None,
        ),
        (
            "/sha",
            "\"9f86d081884c7d659a2feaa0c55ad015\"",
            "\"1a79a4d60de6718e\"",
            None,
        ),
        (
            "/token",
            "\"dGhpcyBpcyBhIHRva2VuIQ==\"",
            "\"Q2hhbmdlZCAxMjMgdG9rZW4=\"",
            Some("random token"),
        ),
        (
            "/token",
            "\"sess_a1B2c3D4e5F6g7H8\"",
            "\"sess_Z9y8X7w6V5u4T3s2\"",
            Some("random token"),
        ),
        (
            "/token",
            "\"sess_a1B2c3D4e5F6g7H8\"",
            "\"sess_a1B2c3D4e5F6g7H9\"",
            None,
        ),
        (
            "/sku",
            "\"product_sku_12345\"",
            "\"product_sku_12346\"",
            None,
        ),
        (
            "/order",
            "\"ORDER-2026-000123\"",
            "\"ORDER-2026-000124\"",
            None,
        ),
        // Keys that name a per-request value.
        (
            "/request_id",
            "\"abc\"",
            "\"def\"",
            Some("request id field"),
        ),
        ("/meta/requestId", "17", "18", Some("request id field")),
        ("/Trace-ID", "\"x\"", "\"y\"", Some("request id field")),
        (
            "/spans/0/span_id",
            "\"a\"",
            "\"b\"",
            Some("request id field"),
        ),
        ("/nonce", "\"n1\"", "\"n2\"", Some("request id field")),
        (
            "/correlation_id",
            "\"a\"",
            "\"b\"",
            Some("request id field"),
        ),
        ("/request_id", "\"abc\"", "\"\"", None),
        ("/request_id", "\"abc\"", "17", None),
        ("/request_id", "null", "true", None),
        ("/requests_id", "\"abc\"", "\"def\"", None),
        ("/parent_id", "\"abc\"", "\"def\"", None),
        // Ordinary values are changes.
        ("/name", "\"alice\"", "\"bob\"", None),
        ("/count", "12", "13", None),
        ("/ratio", "\"2.5\"", "\"3.1\"", None),
        ("/flag", "true", "false", None),
    ];
    for (pointer, a, b, want) in cases {
        assert_eq!(
            builtin(p(pointer), a, b),
            want.map(Noise::Builtin),
            "{pointer}: {a:?} -> {b:?}"
        );
    }
}

#[test]
fn builtin_noise_needs_two_values_of_a_value_difference() {
    let r = Rules::new(&[], &[], true).unwrap();
    let mk = |field: Field, kind, a: Option<&str>, b: Option<&str>| Difference {
        field,
        kind,
        baseline: a.map(str::to_owned),
        candidate: b.map(str::to_owned),
        noise: None,
    };
    let cases = [
        mk(h("date"), Kind::Missing, Some(DATE_A), None),
        mk(h("x-request-id"), Kind::Extra, None, Some("abc")),
        mk(h("set-cookie"), Kind::Length, Some("a=1"), Some("a=1, b=2")),
        mk(p("/request_id"), Kind::Type, Some("\"abc\""), Some("17")),
        mk(Field::Status, Kind::Value, Some("200"), Some("500")),
        mk(Field::Body, Kind::Value, Some(DATE_A), Some(DATE_B)),
        mk(
            Field::HeaderOrder,
            Kind::Order,
            Some("date,server"),
            Some("server,date"),
        ),
    ];
    for d in &cases {
        assert_eq!(r.noise(d), None, "{d:?}");
    }
}
