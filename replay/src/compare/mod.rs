//! Response comparison: does the candidate answer like the baseline?
//!
//! One response pair at a time, [`Comparer::compare`] lists the
//! [`Difference`]s between a baseline response (recorded, or a live
//! primary's) and a candidate's: the status, the headers by name, and the
//! body after undoing its transfer and content codings, compared by type
//! (JSON structurally, forms by key, text by line, anything else by length
//! and hash). Each difference names its [`Field`] and [`Kind`], carries
//! bounded excerpts of both values, and says whether it is known to be
//! noise ([`Noise`]): an ignore rule, a header that differs by nature
//! (`Date`, trace ids), or two values of a kind that differs by nature
//! (timestamps, UUIDs, request ids).
//!
//! Parts: [`body`] (decoding, the content type, forms and text), [`headers`],
//! [`json`] (the structural diff), [`rules`] (`--ignore` and the built-in
//! noise), [`endpoint`] (naming endpoints by template) and [`tally`] (the
//! bounded aggregation behind the report's `comparison` object).

use std::fmt;

pub mod body;
pub mod endpoint;
pub mod headers;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod pair;
pub mod rules;
pub mod tally;
pub mod text;

/// Bytes of a value kept in a difference's excerpt (cut on a character
/// boundary, marked with `…`).
pub const EXCERPT_MAX: usize = 160;

/// Where in a response a difference is. Written (and parsed back by the
/// rules) as `status`, `header:NAME` (lowercase), `headers` (their order),
/// `body` (a body compared as a whole) or `body:POINTER` (an RFC 6901 JSON
/// pointer into a JSON body, or into a form body seen as an object of keys).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// The status code.
    Status,
    /// A header field, by its lowercase name.
    Header(String),
    /// The order of the header fields.
    HeaderOrder,
    /// The body as a whole (text, binary, or a body too large to parse).
    Body,
    /// A JSON pointer into the body ("" is the whole document).
    Pointer(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Status => f.write_str("status"),
            Field::Header(name) => write!(f, "header:{name}"),
            Field::HeaderOrder => f.write_str("headers"),
            Field::Body => f.write_str("body"),
            Field::Pointer(p) => write!(f, "body:{p}"),
        }
    }
}

/// What kind of difference it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Both have the field, with other values.
    Value,
    /// Both have the field, with values of other JSON types.
    Type,
    /// The baseline has the field, the candidate does not.
    Missing,
    /// Only the candidate has the field.
    Extra,
    /// Arrays (or repeated header fields, or text bodies in lines) of other
    /// lengths.
    Length,
    /// The same elements in another order.
    Order,
}

impl Kind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Value => "value",
            Kind::Type => "type",
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Length => "length",
            Kind::Order => "order",
        }
    }
}

/// Why a difference is noise rather than a change of the candidate's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Noise {
    /// An `--ignore` rule (its text).
    Rule(String),
    /// A built-in rule: a header that differs by nature, or a value of a
    /// kind that does (its name: `timestamp`, `uuid`, `token`, ...).
    Builtin(&'static str),
}

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Noise::Rule(r) => write!(f, "rule {r}"),
            Noise::Builtin(what) => write!(f, "built-in: {what}"),
        }
    }
}

/// One difference between a baseline and a candidate response.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub field: Field,
    pub kind: Kind,
    /// The baseline's value, bounded ([`EXCERPT_MAX`]); `None` when it has
    /// none (kind `extra`).
    pub baseline: Option<String>,
    /// The candidate's value, bounded; `None` when it has none (kind
    /// `missing`).
    pub candidate: Option<String>,
    /// Known to be noise, and why; `None` for a candidate difference (which
    /// the tally may still find to be noise by its rates).
    pub noise: Option<Noise>,
}

/// `s` cut to at most [`EXCERPT_MAX`] bytes on a character boundary, with
/// `…` when it was cut.
pub fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_MAX {
        return s.to_owned();
    }
    let mut end = EXCERPT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// [`excerpt`] of bytes shown as text (invalid UTF-8 replaced).
pub fn excerpt_bytes(b: &[u8]) -> String {
    let cut = &b[..b.len().min(EXCERPT_MAX + 4)];
    let s = String::from_utf8_lossy(cut);
    if b.len() > cut.len() {
        let e = excerpt(&s);
        if e.ends_with('…') {
            e
        } else {
            format!("{e}…")
        }
    } else {
        excerpt(&s)
    }
}

/// The bounds of one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Decoded bodies larger than this compare by length and hash
    /// (`--compare-max-body`).
    pub max_body: usize,
    /// Differences listed per response pair; more are counted, not listed.
    pub max_differences: usize,
}

/// `--compare-max-body`'s default.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

impl Default for Options {
    fn default() -> Options {
        Options {
            max_body: DEFAULT_MAX_BODY,
            max_differences: 64,
        }
    }
}

/// One side of a comparison: a response as captured or received.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    pub status: u16,
    /// Status line and fields, with the blank line.
    pub head: &'a [u8],
    /// The body as on the wire (framing and codings kept); may be cut.
    pub body: &'a [u8],
    /// The body's length on the wire.
    pub body_len: u64,
}

impl<'a> From<&'a shadowtap_format::Response> for Side<'a> {
    fn from(r: &'a shadowtap_format::Response) -> Side<'a> {
        Side {
            status: r.status,
            head: &r.head,
            body: &r.body,
            body_len: r.body_len,
        }
    }
}

/// One side of a comparison with its body decoded.
#[derive(Clone, Copy, Debug)]
pub struct Decoded<'a> {
    pub status: u16,
    /// Status line and fields, with the blank line.
    pub head: &'a [u8],
    pub body: &'a body::Decoded,
}

/// Why bodies were not compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Uncompared {
    /// The baseline's body is not all there (the capture's body cap, or a
    /// cut connection).
    BaselineCut,
    /// The candidate's body is not all there.
    CandidateCut,
}

/// The differences of one response pair.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// In order: status, headers, body.
    pub differences: Vec<Difference>,
    /// Differences beyond [`Options::max_differences`], not listed.
    pub more: usize,
    /// Set when the bodies were not compared.
    pub uncompared: Option<Uncompared>,
}

impl Comparison {
    /// No difference at all.
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty() && self.more == 0
    }
}

/// Compares response pairs by a run's rules.
#[derive(Debug)]
pub struct Comparer {
    rules: rules::Rules,
    options: Options,
}

impl Comparer {
    pub fn new(rules: rules::Rules, options: Options) -> Comparer {
        Comparer { rules, options }
    }

    pub fn options(&self) -> Options {
        self.options
    }

    /// The differences between `baseline` and `candidate`, responses to a
    /// request with `method`, each marked as noise where the rules know it
    /// to be.
    pub fn compare(&self, method: &str, baseline: &Side<'_>, candidate: &Side<'_>) -> Comparison {
        let max = self.options.max_body;
        let a = body::decode(baseline.head, method, baseline.body, baseline.body_len, max);
        let b = body::decode(
            candidate.head,
            method,
            candidate.body,
            candidate.body_len,
            max,
        );
        self.compare_decoded(
            &Decoded {
                status: baseline.status,
                head: baseline.head,
                body: &a,
            },
            &Decoded {
                status: candidate.status,
                head: candidate.head,
                body: &b,
            },
        )
    }

    /// [`compare`](Comparer::compare) of responses whose bodies were
    /// decoded already (by a [`body::Decoder`] fed as they arrived, with
    /// this comparer's [`Options::max_body`]).
    pub fn compare_decoded(&self, baseline: &Decoded<'_>, candidate: &Decoded<'_>) -> Comparison {
        let mut c = Comparison::default();
        let out = &mut c.differences;
        out.extend(headers::diff_status(baseline.status, candidate.status));
        headers::diff(baseline.head, candidate.head, out);
        let (a, b) = (baseline.body, candidate.body);
        if !a.complete {
            c.uncompared = Some(Uncompared::BaselineCut);
        } else if !b.complete {
            c.uncompared = Some(Uncompared::CandidateCut);
        } else {
            let room = self.options.max_differences.saturating_sub(out.len());
            c.more += self.diff_bodies(baseline.head, &a.content, &b.content, room, out);
        }
        let max = self.options.max_differences;
        if out.len() > max {
            c.more += out.len() - max;
            out.truncate(max);
        }
        for d in out.iter_mut().filter(|d| d.noise.is_none()) {
            d.noise = self.rules.noise(d);
        }
        c
    }

    /// Appends the bodies' differences (at most `room`); returns how many
    /// more there were.
    fn diff_bodies(
        &self,
        baseline_head: &[u8],
        a: &body::Content,
        b: &body::Content,
        room: usize,
        out: &mut Vec<Difference>,
    ) -> usize {
        use body::{BodyType, Content};
        let (Content::Bytes(ab), Content::Bytes(bb)) = (a, b) else {
            out.extend(body::diff_bytes(a, b));
            return 0;
        };
        if ab == bb {
            return 0;
        }
        let ct = shadowtap_format::http1::header_value(baseline_head, "content-type");
        match BodyType::of(ct, ab) {
            BodyType::Json => self.diff_json(ab, bb, room, out),
            BodyType::Form => {
                let (fa, fb) = (body::form_as_json(ab), body::form_as_json(bb));
                self.diff_json(&fa, &fb, room, out)
            }
            BodyType::Text => {
                out.extend(body::diff_text(ab, bb));
                0
            }
            BodyType::Binary => {
                out.extend(body::diff_bytes(a, b));
                0
            }
        }
    }

    fn diff_json(&self, a: &[u8], b: &[u8], room: usize, out: &mut Vec<Difference>) -> usize {
        match json::diff(a, b, &self.rules, room, out) {
            Ok(more) => more,
            // The baseline is not JSON after all: compare as text.
            Err(json::JsonError::Baseline(_)) => {
                out.extend(body::diff_text(a, b));
                0
            }
            Err(json::JsonError::Candidate(why)) => {
                out.push(Difference {
                    field: Field::Body,
                    kind: Kind::Type,
                    baseline: Some("JSON".into()),
                    candidate: Some(excerpt(&format!("not JSON ({why}): {}", excerpt_bytes(b)))),
                    noise: None,
                });
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn comparer() -> Comparer {
        Comparer::new(
            rules::Rules::new(&[], &[], true).unwrap(),
            Options::default(),
        )
    }

    /// (head, body) of a response.
    fn resp(status: u16, fields: &str, body: &[u8]) -> (u16, Vec<u8>, Vec<u8>) {
        let head = format!(
            "HTTP/1.1 {status} X\r\n{fields}Content-Length: {}\r\n\r\n",
            body.len()
        );
        (status, head.into_bytes(), body.to_vec())
    }

    fn side(r: &(u16, Vec<u8>, Vec<u8>)) -> Side<'_> {
        Side {
            status: r.0,
            head: &r.1,
            body: &r.2,
            body_len: r.2.len() as u64,
        }
    }

    fn cmp(a: &(u16, Vec<u8>, Vec<u8>), b: &(u16, Vec<u8>, Vec<u8>)) -> Vec<(String, Kind, bool)> {
        comparer()
            .compare("GET", &side(a), &side(b))
            .differences
            .into_iter()
            .map(|d| (d.field.to_string(), d.kind, d.noise.is_some()))
            .collect()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn a_compressed_body_equals_its_plain_form() {
        let json = br#"{"a":[1,2],"b":"x"}"#;
        let plain = resp(200, "Content-Type: application/json\r\n", json);
        let zipped = resp(
            200,
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
            &gzip(json),
        );
        assert_eq!(
            cmp(&plain, &zipped),
            vec![("header:content-encoding".into(), Kind::Extra, false)]
        );
    }

    #[test]
    fn each_body_type_by_its_own_rule() {
        let j = |b: &[u8]| resp(200, "Content-Type: application/json\r\n", b);
        assert_eq!(
            cmp(
                &j(br#"{"n":1,"ts":"2026-12-06T10:00:00Z"}"#),
                &j(br#"{"n":2,"ts":"2026-12-06T10:00:01Z"}"#)
            ),
            vec![
                ("body:/n".into(), Kind::Value, false),
                ("body:/ts".into(), Kind::Value, true)
            ]
        );
        let f = |b: &[u8]| {
            resp(
                200,
                "Content-Type: application/x-www-form-urlencoded\r\n",
                b,
            )
        };
        assert_eq!(cmp(&f(b"a=1&b=2"), &f(b"b=2&a=1")), vec![]);
        assert_eq!(
            cmp(&f(b"a=1&b=2"), &f(b"a=1&b=3")),
            vec![("body:/b".into(), Kind::Value, false)]
        );
        let t = |b: &[u8]| resp(200, "Content-Type: text/plain\r\n", b);
        assert_eq!(
            cmp(&t(b"a\nb\n"), &t(b"a\nc\n")),
            vec![("body".into(), Kind::Value, false)]
        );
        let o = |b: &[u8]| resp(200, "Content-Type: image/png\r\n", b);
        assert_eq!(
            cmp(&o(b"\x89PNG1"), &o(b"\x89PNG22")),
            vec![("body".into(), Kind::Length, false)]
        );
        // A candidate that is not JSON where the baseline is.
        assert_eq!(
            cmp(&j(b"{}"), &j(b"<html>")),
            vec![("body".into(), Kind::Type, false)]
        );
        // A baseline labelled JSON that is not: compared as text.
        assert_eq!(
            cmp(&j(b"oops"), &j(b"oops!")),
            vec![("body".into(), Kind::Value, false)]
        );
    }

    #[test]
    fn status_and_headers_come_first_and_noise_is_marked() {
        let a = resp(
            200,
            "Date: Sun, 06 Dec 2026 10:00:00 GMT\r\nX-A: 1\r\n",
            b"{}",
        );
        let b = resp(
            404,
            "Date: Sun, 06 Dec 2026 10:00:05 GMT\r\nX-A: 2\r\n",
            b"{}",
        );
        assert_eq!(
            cmp(&a, &b),
            vec![
                ("status".into(), Kind::Value, false),
                ("header:date".into(), Kind::Value, true),
                ("header:x-a".into(), Kind::Value, false),
            ]
        );
    }

    #[test]
    fn a_body_the_recording_cut_is_not_compared() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec();
        let cut = Side {
            status: 200,
            head: &head,
            body: b"01234",
            body_len: 10,
        };
        let full = Side {
            status: 200,
            head: &head,
            body: b"0123456789",
            body_len: 10,
        };
        let c = comparer().compare("GET", &cut, &full);
        assert_eq!(
            (c.uncompared, c.differences.len()),
            (Some(Uncompared::BaselineCut), 0)
        );
        let c = comparer().compare("GET", &full, &cut);
        assert_eq!(c.uncompared, Some(Uncompared::CandidateCut));
    }

    #[test]
    fn differences_past_the_bound_are_counted() {
        let many_a: String = (0..100)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let many_b: String = (0..100)
            .map(|i| format!("\"k{i}\":{}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let a = resp(
            200,
            "Content-Type: application/json\r\n",
            format!("{{{many_a}}}").as_bytes(),
        );
        let b = resp(
            200,
            "Content-Type: application/json\r\n",
            format!("{{{many_b}}}").as_bytes(),
        );
        let c = comparer().compare("GET", &side(&a), &side(&b));
        assert_eq!((c.differences.len(), c.more), (64, 36));
        assert!(!c.is_equal());
    }

    #[test]
    fn fields_are_written_as_the_report_names_them() {
        assert_eq!(Field::Status.to_string(), "status");
        assert_eq!(Field::Header("x-id".into()).to_string(), "header:x-id");
        assert_eq!(Field::HeaderOrder.to_string(), "headers");
        assert_eq!(Field::Body.to_string(), "body");
        assert_eq!(
            Field::Pointer("/items/0/a~1b".into()).to_string(),
            "body:/items/0/a~1b"
        );
        assert_eq!(Field::Pointer(String::new()).to_string(), "body:");
    }

    #[test]
    fn excerpts_are_bounded_on_character_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(EXCERPT_MAX);
        let e = excerpt(&long);
        assert!(e.len() <= EXCERPT_MAX + '…'.len_utf8());
        assert!(e.ends_with('…'));
        let bytes = vec![b'a'; 10_000];
        let e = excerpt_bytes(&bytes);
        assert!(e.len() <= EXCERPT_MAX + '…'.len_utf8());
        assert!(e.ends_with('…'));
        assert_eq!(excerpt_bytes(b"\xffok"), "\u{fffd}ok");
    }
}
