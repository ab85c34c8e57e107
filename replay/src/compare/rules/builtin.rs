//! The built-in noise: header fields whose values differ by nature, and
//! values that do (see [`super::value_shape`]). Only differences of kind
//! `value` (both sides present) qualify: a header or field that appears or
//! disappears is the candidate's doing, and so is a value that changes
//! shape.

use super::pattern::{glob, last_segment};
use super::shape::{looks_random, same_shape, Shape};
use crate::compare::{Difference, Field, Kind, Noise};

/// What a header that differs by nature holds, which decides how its two
/// values are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HeaderClass {
    /// A date (`Date`, `Expires`, `Last-Modified`): both values are
    /// timestamps written alike.
    Date,
    /// `Age`: both values are decimal seconds.
    Age,
    /// Timings (`Server-Timing`, `X-Response-Time`, ...): any values.
    Timing,
    /// `ETag`: both weak or both strong.
    Etag,
    /// `Set-Cookie`: the same cookie with the same attributes, only its
    /// value (and `Expires`) changed, the way random values do.
    Cookie,
    /// Trace context (`traceparent`, B3, ...): any non-empty values.
    Trace,
    /// Request ids (`X-Request-Id`, `CF-Ray`, ...): any non-empty values.
    RequestId,
}

impl HeaderClass {
    fn name(self) -> &'static str {
        match self {
            HeaderClass::Date => "date header",
            HeaderClass::Age => "age header",
            HeaderClass::Timing => "timing header",
            HeaderClass::Etag => "etag header",
            HeaderClass::Cookie => "cookie header",
            HeaderClass::Trace => "trace header",
            HeaderClass::RequestId => "request id header",
        }
    }
}

/// The headers that differ by nature, by lowercase name or glob.
/// `Last-Modified` is here: for a response generated per request it is the
/// time of the request, and for a file it is the time of the deploy; a
/// changed resource shows in the body.
const HEADERS: &[(&str, HeaderClass)] = &[
    ("date", HeaderClass::Date),
    ("expires", HeaderClass::Date),
    ("last-modified", HeaderClass::Date),
    ("age", HeaderClass::Age),
    ("server-timing", HeaderClass::Timing),
    ("x-response-time", HeaderClass::Timing),
    ("x-runtime", HeaderClass::Timing),
    ("x-processing-time", HeaderClass::Timing),
    ("x-envoy-upstream-service-time", HeaderClass::Timing),
    ("x-timer", HeaderClass::Timing),
    ("etag", HeaderClass::Etag),
    ("set-cookie", HeaderClass::Cookie),
    ("traceparent", HeaderClass::Trace),
    ("tracestate", HeaderClass::Trace),
    ("b3", HeaderClass::Trace),
    ("x-b3-*", HeaderClass::Trace),
    ("uber-trace-id", HeaderClass::Trace),
    ("x-amzn-trace-id", HeaderClass::Trace),
    ("x-cloud-trace-context", HeaderClass::Trace),
    ("x-datadog-trace-id", HeaderClass::Trace),
    ("x-datadog-parent-id", HeaderClass::Trace),
    ("sentry-trace", HeaderClass::Trace),
    ("x-trace-id", HeaderClass::Trace),
    ("x-request-id", HeaderClass::RequestId),
    ("request-id", HeaderClass::RequestId),
    ("x-correlation-id", HeaderClass::RequestId),
    ("correlation-id", HeaderClass::RequestId),
    ("x-amz-request-id", HeaderClass::RequestId),
    ("x-amz-id-2", HeaderClass::RequestId),
    ("x-amzn-requestid", HeaderClass::RequestId),
    ("x-amz-cf-id", HeaderClass::RequestId),
    ("x-ms-request-id", HeaderClass::RequestId),
    ("cf-ray", HeaderClass::RequestId),
];

/// JSON keys that name a per-request value, compared lowercase without
/// `_` and `-`.
const ID_KEYS: &[&str] = &[
    "requestid",
    "xrequestid",
    "traceid",
    "spanid",
    "parentspanid",
    "correlationid",
    "nonce",
    "traceparent",
];

/// Words of a JSON key that say it holds a time (`created_at`,
/// `updatedAt`, `ts`, `exp`): an epoch-range number is noise only under
/// such a key, since a size or a count may be in that range too.
const TIME_WORDS: &[&str] = &[
    "time",
    "timestamp",
    "ts",
    "t",
    "date",
    "datetime",
    "epoch",
    "at",
    "when",
    "since",
    "until",
    "expires",
    "expiry",
    "expiration",
    "exp",
    "iat",
    "nbf",
    "created",
    "updated",
    "modified",
    "deleted",
    "deadline",
    "stamp",
    "now",
];

/// Why a difference is built-in noise, if it is.
pub(super) fn noise(d: &Difference) -> Option<Noise> {
    if d.kind != Kind::Value {
        return None;
    }
    let (a, b) = (d.baseline.as_deref()?, d.candidate.as_deref()?);
    match &d.field {
        Field::Header(name) => header_noise(name, a, b),
        Field::Pointer(p) => pointer_noise(p, a, b),
        _ => None,
    }
}

/// A header difference: by the header's class when it has one, else by the
/// values' shape (epoch numbers excepted: a header has no key saying so).
fn header_noise(name: &str, a: &str, b: &str) -> Option<Noise> {
    let class = HEADERS
        .iter()
        .find(|(pat, _)| glob(pat.as_bytes(), name.as_bytes(), true))
        .map(|&(_, c)| c);
    let Some(class) = class else {
        return match same_shape(a, b)? {
            Shape::Epoch { .. } => None,
            s => Some(Noise::Builtin(s.name())),
        };
    };
    let (a, b) = (a.trim(), b.trim());
    let ok = !a.is_empty()
        && !b.is_empty()
        && match class {
            HeaderClass::Date => matches!(same_shape(a, b), Some(Shape::Timestamp(_))),
            HeaderClass::Age => [a, b]
                .iter()
                .all(|v| v.len() <= 12 && v.bytes().all(|c| c.is_ascii_digit())),
            HeaderClass::Timing | HeaderClass::Trace | HeaderClass::RequestId => true,
            HeaderClass::Etag => a.starts_with("W/") == b.starts_with("W/"),
            HeaderClass::Cookie => same_cookie(a, b),
        };
    ok.then(|| Noise::Builtin(class.name()))
}

/// Two `Set-Cookie` values for the same cookie with the same attributes
/// (names case-insensitive; `Expires` may differ), whose values differ the
/// way random ones do. `lang=en` to `lang=fr`, or a dropped `HttpOnly`, is
/// a change.
fn same_cookie(a: &str, b: &str) -> bool {
    let (mut x, mut y) = (a.split(';'), b.split(';'));
    let (Some((an, av)), Some((bn, bv))) = (
        x.next().and_then(|p| p.split_once('=')),
        y.next().and_then(|p| p.split_once('=')),
    ) else {
        return false;
    };
    if an.trim() != bn.trim() || !looks_random(av.trim(), bv.trim()) {
        return false;
    }
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(p), Some(q)) => {
                let (pn, pv) = p.split_once('=').unwrap_or((p, ""));
                let (qn, qv) = q.split_once('=').unwrap_or((q, ""));
                let (pn, qn) = (pn.trim(), qn.trim());
                if !pn.eq_ignore_ascii_case(qn)
                    || (!pn.eq_ignore_ascii_case("expires") && pv.trim() != qv.trim())
                {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A body difference: under a key naming a per-request value, or by the
/// values' shape (epoch numbers only under a key naming a time).
fn pointer_noise(pointer: &str, a: &str, b: &str) -> Option<Noise> {
    let key = last_segment(pointer).unwrap_or("");
    if is_id_key(key) && same_scalar_type(a, b) {
        return Some(Noise::Builtin("request id field"));
    }
    match same_shape(a, b)? {
        Shape::Epoch { .. } if !names_a_time(key) => None,
        s => Some(Noise::Builtin(s.name())),
    }
}

/// Whether a key (escaped form) is one of [`ID_KEYS`]. Keys are short;
/// longer ones are not compared.
fn is_id_key(key: &str) -> bool {
    if key.len() > 32 {
        return false;
    }
    let mut norm = [0u8; 32];
    let mut n = 0;
    for c in key.bytes().filter(|&c| c != b'_' && c != b'-') {
        norm[n] = c.to_ascii_lowercase();
        n += 1;
    }
    ID_KEYS.iter().any(|k| k.as_bytes() == &norm[..n])
}

/// Both non-empty JSON strings, or both JSON numbers.
fn same_scalar_type(a: &str, b: &str) -> bool {
    let string = |v: &str| v.len() > 2 && v.starts_with('"');
    let number = |v: &str| v.starts_with(|c: char| c.is_ascii_digit() || c == '-');
    (string(a) && string(b)) || (number(a) && number(b))
}

/// Whether one of the words of a key (split at anything not a letter, and
/// between a lowercase and an uppercase letter: `createdAt`) is one of
/// [`TIME_WORDS`].
fn names_a_time(key: &str) -> bool {
    let b = key.as_bytes();
    let is_time = |w: &[u8]| {
        !w.is_empty()
            && TIME_WORDS
                .iter()
                .any(|t| t.as_bytes().eq_ignore_ascii_case(w))
    };
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if !c.is_ascii_alphabetic() {
            if is_time(&b[start..i]) {
                return true;
            }
            start = i + 1;
        } else if c.is_ascii_lowercase() && b.get(i + 1).is_some_and(u8::is_ascii_uppercase) {
            if is_time(&b[start..=i]) {
                return true;
            }
            start = i + 1;
        }
    }
    is_time(&b[start..])
}
