//! `inspect --headers` and `--body`: a recorded message's header fields and
//! body, for people (curl `-v` style, `>` for the request, `<` for the
//! response) and for `--json`.
//!
//! A body is shown as on the wire (chunked framing kept) unless `--decode`
//! asks for it with its framing and `Content-Encoding` undone (the
//! comparison's decoder, bounded the same way). Text (UTF-8 without control
//! characters other than tab, CR and LF) is printed as it is, with any
//! escape sequence written out; anything else as base64, with its length.

use std::borrow::Cow;
use std::io::{self, Write};

use base64::Engine as _;
use serde::Serialize;
use shadowtap_format::http1::find_head_end;
use shadowtap_format::Exchange;
use shadowtap_replay::compare::body::{self, Content};

/// Bodies decoded (`--decode`) at most; past it the body is shown as on
/// the wire.
const MAX_DECODED: usize = 16 << 20;

/// What `inspect` shows beyond its one line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Show {
    pub headers: bool,
    pub body: bool,
    pub decode: bool,
}

/// One side of an exchange: its head and its body bytes as recorded.
struct Message<'a> {
    head: &'a [u8],
    body: &'a [u8],
    body_len: u64,
}

fn request(ex: &Exchange) -> Message<'_> {
    let end = find_head_end(&ex.request, 0).unwrap_or(ex.request.len());
    let (head, body) = ex.request.split_at(end);
    Message {
        head,
        body,
        body_len: ex.request_len.saturating_sub(end as u64),
    }
}

fn response(ex: &Exchange) -> Option<Message<'_>> {
    ex.response.as_ref().map(|r| Message {
        head: &r.head,
        body: &r.body,
        body_len: r.body_len,
    })
}

/// The header fields of `head` (start line left out), in order, names and
/// values as text (invalid UTF-8 replaced); an obs-fold line continues the
/// field before it.
pub fn fields(head: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        out.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).trim().to_owned(),
        ));
    }
    out
}

/// A body as shown: decoded when asked and possible.
#[derive(Debug, Serialize, PartialEq)]
pub struct Body {
    /// `utf8` or `base64`.
    pub encoding: &'static str,
    pub data: String,
    /// Bytes shown (before base64).
    pub len: usize,
    /// The body's length on the wire.
    pub wire_len: u64,
    /// Framing and coding were undone.
    pub decoded: bool,
    /// The bytes shown are all of it (not cut by a cap or a gap).
    pub complete: bool,
}

fn is_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    (!s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')))
    .then_some(s)
}

fn body_of(m: &Message<'_>, method: &str, decode: bool) -> Body {
    let mut decoded = None;
    if decode {
        let d = body::decode(m.head, method, m.body, m.body_len, MAX_DECODED);
        if let Content::Bytes(bytes) = d.content {
            if d.undecoded.is_none() {
                decoded = Some((bytes, d.complete));
            }
        }
    }
    let (bytes, complete, was_decoded): (Cow<'_, [u8]>, bool, bool) = match decoded {
        Some((b, complete)) => (Cow::Owned(b), complete, true),
        None => (
            Cow::Borrowed(m.body),
            m.body.len() as u64 >= m.body_len,
            false,
        ),
    };
    let (encoding, data) = match is_text(&bytes) {
        Some(s) => ("utf8", s.to_owned()),
        None => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        ),
    };
    Body {
        encoding,
        data,
        len: bytes.len(),
        wire_len: m.body_len,
        decoded: was_decoded,
        complete,
    }
}

/// The `--json` fields `show` adds: `request_headers`, `response_headers`
/// (`[name, value]` pairs), `request_body`, `response_body`.
#[derive(Serialize, Default)]
pub struct Extra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<Vec<(String, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<Vec<(String, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Body>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Body>,
}

impl Show {
    /// Whether anything is shown beyond the line.
    pub fn any(self) -> bool {
        self.headers || self.body
    }

    /// The extra fields of `ex` (a request of `method`).
    pub fn extra(self, ex: &Exchange, method: &str) -> Extra {
        let req = request(ex);
        let resp = response(ex);
        Extra {
            request_headers: self.headers.then(|| fields(req.head)),
            response_headers: self
                .headers
                .then(|| resp.as_ref().map(|r| fields(r.head)))
                .flatten(),
            request_body: self.body.then(|| body_of(&req, method, self.decode)),
            response_body: self
                .body
                .then(|| resp.as_ref().map(|r| body_of(r, method, self.decode)))
                .flatten(),
        }
    }

    /// The text lines of `ex` after its summary line.
    pub fn write_text(
        self,
        out: &mut impl Write,
        ex: &Exchange,
        method: &str,
        printable: fn(&str) -> Cow<'_, str>,
    ) -> io::Result<()> {
        let e = self.extra(ex, method);
        let side = |out: &mut dyn Write,
                    mark: &str,
                    headers: &Option<Vec<(String, String)>>,
                    body: &Option<Body>|
         -> io::Result<()> {
            if let Some(h) = headers {
                for (n, v) in h {
                    writeln!(out, "  {mark} {}: {}", printable(n), printable(v))?;
                }
            }
            if let Some(b) = body {
                if b.wire_len == 0 && b.len == 0 {
                    return Ok(());
                }
                let what = match (b.decoded, b.complete) {
                    (true, true) => "decoded",
                    (true, false) => "decoded, cut",
                    (false, true) => "as on the wire",
                    (false, false) => "as on the wire, cut",
                };
                writeln!(
                    out,
                    "  {mark} [body: {} bytes of {} on the wire, {what}{}]",
                    b.len,
                    b.wire_len,
                    if b.encoding == "base64" {
                        ", base64"
                    } else {
                        ""
                    }
                )?;
                if b.encoding == "base64" {
                    for chunk in b.data.as_bytes().chunks(76) {
                        writeln!(out, "  {mark} {}", String::from_utf8_lossy(chunk))?;
                    }
                } else {
                    for line in b.data.split('\n') {
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        writeln!(out, "  {mark} {}", printable(line))?;
                    }
                }
            }
            Ok(())
        };
        side(out, ">", &e.request_headers, &e.request_body)?;
        side(out, "<", &e.response_headers, &e.response_body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order_with_folds_and_odd_lines() {
        let head =
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\nnocolon\r\nA:b\r\n\r\nbody";
        assert_eq!(
            fields(head),
            [
                ("Host".into(), "a".into()),
                ("X-Long".into(), "one two".into()),
                ("nocolon".into(), String::new()),
                ("A".into(), "b".into()),
            ]
        );
    }

    #[test]
    fn text_is_text_and_the_rest_base64() {
        let m = Message {
            head: b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            body: b"a\x00b",
            body_len: 3,
        };
        let b = body_of(&m, "GET", false);
        assert_eq!((b.encoding, b.data.as_str(), b.len), ("base64", "YQBi", 3));
        let m = Message {
            body: b"{\"a\":1}\n",
            body_len: 8,
            ..m
        };
        let b = body_of(&m, "GET", false);
        assert_eq!((b.encoding, b.data.as_str()), ("utf8", "{\"a\":1}\n"));
        assert!(b.complete && !b.decoded);
    }

    #[test]
    fn decode_undoes_chunking_and_gzip() {
        // "hi" gzipped by hand: a stored deflate block.
        let gz: &[u8] = &[
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2, 0, 0xfd, 0xff, b'h', b'i', 0xac, 0x2a,
            0x93, 0xd8, 2, 0, 0, 0,
        ];
        let mut wire = format!("{:x}\r\n", gz.len()).into_bytes();
        wire.extend_from_slice(gz);
        wire.extend_from_slice(b"\r\n0\r\n\r\n");
        let m = Message {
            head:
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
            body: &wire,
            body_len: wire.len() as u64,
        };
        let b = body_of(&m, "GET", true);
        assert_eq!(
            (b.encoding, b.data.as_str(), b.decoded),
            ("utf8", "hi", true)
        );
        let raw = body_of(&m, "GET", false);
        assert_eq!(
            (raw.encoding, raw.len, raw.decoded),
            ("base64", wire.len(), false)
        );
    }
}
