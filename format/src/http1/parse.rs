//! Reading a complete head: strictly with httparse, or by the lenient scan
//! of [`super::head`]'s rules; and what a head says about its body.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::ops::Range;

use super::head::{fields, find_head_end, is_tchar, leading_empty_lines, trim};
use super::FramingError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
    /// The connection stops carrying HTTP/1.x after this head (CONNECT, a
    /// 101 response).
    Tunnel,
}

/// A parsed message head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Start line, headers and blank line, in bytes.
    pub len: usize,
    /// Request method (the common ones without an allocation).
    pub method: Option<Cow<'static, str>>,
    /// Where the request target lies in the head bytes (see [`Head::uri`]).
    pub(super) uri: Option<Range<usize>>,
    /// Where the first Host header value lies, trimmed (see [`Head::host`]).
    pub(super) host: Option<Range<usize>>,
    /// Response status code.
    pub status: Option<u16>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// How the body is delimited.
    pub body: BodyKind,
    /// Whether the connection stays open after this message.
    pub keep_alive: bool,
    /// The request carries `Expect: 100-continue`.
    pub expect_continue: bool,
    /// Request: CONNECT, or Upgrade with `Connection: upgrade`. Response: 101,
    /// or a 2xx answer to CONNECT.
    pub upgrade: bool,
    /// The head is not strict HTTP/1.x: httparse rejected it, or its
    /// Content-Length or Transfer-Encoding could not be read. A lenient
    /// framer (see [`Framer::lenient`](super::Framer::lenient)) read it
    /// with its own scan.
    pub malformed: bool,
}

impl Head {
    /// The request target. `head` is the message starting with this head
    /// (the bytes it was parsed from).
    pub fn uri<'a>(&self, head: &'a [u8]) -> Option<&'a str> {
        // The span was cut from a `&str` of the same bytes.
        std::str::from_utf8(head.get(self.uri.clone()?)?).ok()
    }

    /// The first Host header value, trimmed, invalid UTF-8 replaced. `head`
    /// is the message starting with this head.
    pub fn host<'a>(&self, head: &'a [u8]) -> Option<Cow<'a, str>> {
        Some(String::from_utf8_lossy(head.get(self.host.clone()?)?))
    }

    /// An interim response (1xx other than 101): the final response follows.
    pub fn is_interim(&self) -> bool {
        matches!(self.status, Some(s) if (100..200).contains(&s) && s != 101)
    }
}

/// Why a byte stream is not HTTP/1.x.
/// Which side sent a message, and (for a response) what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Request,
    Response { head_request: bool, connect: bool },
}

/// Parses a request head found at the start of `raw` (a stored request).
pub fn parse_request_head(raw: &[u8]) -> Option<Head> {
    let end = find_head_end(raw, 0)?;
    parse_head(&raw[..end], Role::Request).ok()
}

/// Parses a request head found at the start of `raw` as a lenient
/// [`Framer`](super::Framer) does: a head httparse rejects is read by the
/// lenient scan (see [`Framer::lenient`](super::Framer::lenient)) and comes
/// out with [`Head::malformed`] set.
/// For reading what a recorded request holds; a sender should use the
/// strict [`parse_request_head`].
pub fn parse_request_head_lenient(raw: &[u8]) -> Option<Head> {
    let end = find_head_end(raw, 0)?;
    let head = &raw[..end];
    parse_head(head, Role::Request)
        .ok()
        .or_else(|| parse_lax(head, Role::Request))
}

/// Parses a response head found at the start of `raw` (as an answer to a GET).
pub fn parse_response_head(raw: &[u8]) -> Option<Head> {
    let end = find_head_end(raw, 0)?;
    parse_head(
        &raw[..end],
        Role::Response {
            head_request: false,
            connect: false,
        },
    )
    .ok()
}

pub(super) const INLINE_HEADERS: usize = 128;
const MAX_HEADERS: usize = 4096;

pub(super) fn parse_head(buf: &[u8], role: Role) -> Result<Head, FramingError> {
    // Uninitialised slots: httparse writes only those it fills, so a head
    // costs no 4 KiB memset of empty headers.
    let mut inline = [const { MaybeUninit::uninit() }; INLINE_HEADERS];
    match parse_with(buf, role, &mut inline) {
        Err(FramingError::InvalidHead(httparse::Error::TooManyHeaders)) => {
            let mut many = Vec::with_capacity(MAX_HEADERS);
            many.resize_with(MAX_HEADERS, MaybeUninit::uninit);
            parse_with(buf, role, &mut many)
        }
        other => other,
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    role: Role,
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Head, FramingError> {
    let invalid = FramingError::InvalidHead;
    #[allow(clippy::type_complexity)]
    let (method, uri, status, version, hdrs): (
        Option<&str>,
        Option<&str>,
        Option<u16>,
        u8,
        &[httparse::Header<'_>],
    ) = match role {
        Role::Request => {
            let mut req = httparse::Request::new(&mut []);
            match req
                .parse_with_uninit_headers(buf, headers)
                .map_err(invalid)?
            {
                httparse::Status::Complete(_) => {}
                httparse::Status::Partial => {
                    return Err(invalid(httparse::Error::Token));
                }
            }
            let (m, p, v) = (req.method, req.path, req.version.unwrap_or(1));
            (m, p, None, v, req.headers)
        }
        Role::Response { .. } => {
            let mut resp = httparse::Response::new(&mut []);
            let mut cfg = httparse::ParserConfig::default();
            cfg.allow_obsolete_multiline_headers_in_responses(true);
            cfg.allow_spaces_after_header_name_in_responses(true);
            match cfg
                .parse_response_with_uninit_headers(&mut resp, buf, headers)
                .map_err(invalid)?
            {
                httparse::Status::Complete(_) => {}
                httparse::Status::Partial => {
                    return Err(invalid(httparse::Error::Token));
                }
            }
            let (c, v) = (resp.code, resp.version.unwrap_or(1));
            (None, None, c, v, resp.headers)
        }
    };

    let start = StartLine {
        method,
        uri: uri.map(str::as_bytes),
        status,
        version: Some(version),
    };
    let headers = hdrs.iter().map(|h| (h.name.as_bytes(), h.value));
    summarize(buf, start, headers, role, false)
}

/// What a start line holds, for [`summarize`].
struct StartLine<'b> {
    method: Option<&'b str>,
    uri: Option<&'b [u8]>,
    status: Option<u16>,
    /// The minor version of `HTTP/1.x`; None for any other version.
    version: Option<u8>,
}

/// The [`Head`] of a start line and headers (name, value) found in `buf`.
/// `lax`: a Content-Length or Transfer-Encoding that cannot be read makes
/// the body run to the end of the stream instead of failing.
fn summarize<'b>(
    buf: &'b [u8],
    start: StartLine<'b>,
    headers: impl Iterator<Item = (&'b [u8], &'b [u8])>,
    role: Role,
    lax: bool,
) -> Result<Head, FramingError> {
    let StartLine {
        method,
        uri,
        status,
        version,
    } = start;
    let mut host = None;
    let mut content_length: Option<u64> = None;
    let mut length_unknown = false;
    let mut chunked_last = None;
    let mut keep_alive = version.is_some_and(|v| v >= 1);
    let mut conn_upgrade = false;
    let mut has_upgrade = false;
    let mut expect_continue = false;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case(b"host") {
            if host.is_none() {
                host = Some(span_of(buf, trim(value)));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for part in value.split(|&b| b == b',') {
                let v = parse_decimal(trim(part));
                match v {
                    Some(v) if content_length.is_none_or(|c| c == v) => content_length = Some(v),
                    _ if lax => length_unknown = true,
                    _ => return Err(FramingError::InvalidContentLength),
                }
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            for coding in value.split(|&b| b == b',') {
                let coding = trim(coding);
                if !coding.is_empty() {
                    chunked_last = Some(coding.eq_ignore_ascii_case(b"chunked"));
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    conn_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            has_upgrade = true;
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
        }
    }

    let (body, upgrade) = match role {
        Role::Request => {
            let connect = method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"));
            let body = if connect {
                BodyKind::Tunnel
            } else {
                match (chunked_last, content_length) {
                    (Some(true), _) => BodyKind::Chunked,
                    (Some(false), _) if lax => BodyKind::UntilClose,
                    (Some(false), _) => return Err(FramingError::InvalidTransferEncoding),
                    (None, _) if length_unknown => BodyKind::UntilClose,
                    (None, Some(n)) => BodyKind::Length(n),
                    (None, None) => BodyKind::None,
                }
            };
            (body, connect || (has_upgrade && conn_upgrade))
        }
        Role::Response {
            head_request,
            connect,
        } => {
            let code = status.unwrap_or(0);
            if code == 101 || (connect && (200..300).contains(&code)) {
                (BodyKind::Tunnel, true)
            } else if (100..200).contains(&code) || code == 204 || code == 304 || head_request {
                (BodyKind::None, false)
            } else {
                let body = match (chunked_last, content_length) {
                    (Some(true), _) => BodyKind::Chunked,
                    (Some(false), _) => BodyKind::UntilClose,
                    (None, _) if length_unknown => BodyKind::UntilClose,
                    (None, Some(n)) => BodyKind::Length(n),
                    (None, None) => BodyKind::UntilClose,
                };
                (body, false)
            }
        }
    };
    if body == BodyKind::UntilClose {
        keep_alive = false;
    }
    Ok(Head {
        len: buf.len(),
        method: method.map(method_name),
        uri: uri.map(|u| span_of(buf, u)),
        status,
        minor_version: version.unwrap_or(0),
        host,
        body,
        keep_alive,
        expect_continue,
        upgrade,
        malformed: lax,
    })
}

/// Longest method the lenient scan reads as one.
const MAX_LAX_METHOD: usize = 32;

/// A request line read leniently, as far as it goes (see
/// [`scan_request_line`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method: a token (RFC 9110 `tchar`s, any case), at most 32 bytes.
    pub method: &'a str,
    /// The request target: the next run of bytes other than space and tab.
    pub uri: Option<&'a [u8]>,
    /// What follows the target, trimmed (`HTTP/1.1`, or anything else).
    pub version: Option<&'a [u8]>,
}

/// Reads the request line at the start of `raw` (after any empty lines)
/// leniently: the fields are split on runs of spaces and tabs, and any byte
/// other than those and CR/LF may be part of the target. A line cut short
/// (no LF: the capture's snap length, a gap) yields what it holds. None
/// when the line does not start with a method token followed by a space, a
/// tab or its end.
///
/// ```
/// use shadowtap_format::http1::scan_request_line;
///
/// let l = scan_request_line(b"GET /esc\x1b[31mRED HTTP/1.1\r\n").unwrap();
/// assert_eq!((l.method, l.uri), ("GET", Some(&b"/esc\x1b[31mRED"[..])));
/// let cut = scan_request_line(b"POST /very/long/pa").unwrap();
/// assert_eq!((cut.uri, cut.version), (Some(&b"/very/long/pa"[..]), None));
/// assert!(scan_request_line(b"\x16\x03\x01\x02").is_none());
/// ```
pub fn scan_request_line(raw: &[u8]) -> Option<RequestLine<'_>> {
    let rest = &raw[leading_empty_lines(raw)..];
    let line = match memchr::memchr(b'\n', rest) {
        Some(i) => &rest[..i],
        None => rest,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let m_len = line.iter().take_while(|b| !blank(b)).count();
    let method = &line[..m_len];
    if method.is_empty() || method.len() > MAX_LAX_METHOD || !method.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let after = &line[m_len..];
    let after = &after[after.iter().take_while(|b| blank(b)).count()..];
    let u_len = after.iter().take_while(|b| !blank(b)).count();
    let uri = (u_len > 0).then(|| &after[..u_len]);
    let version = trim_blank(&after[u_len..]);
    Some(RequestLine {
        // Token bytes are ASCII.
        method: std::str::from_utf8(method).ok()?,
        uri,
        version: (!version.is_empty()).then_some(version),
    })
}

/// RFC 9110 `tchar`.
fn trim_blank(b: &[u8]) -> &[u8] {
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let s = b.iter().take_while(|c| blank(c)).count();
    let e = b.len() - b[s..].iter().rev().take_while(|c| blank(c)).count();
    &b[s..e]
}

/// `HTTP/1.0` and `HTTP/1.1` as their minor version.
fn minor_of(version: &[u8]) -> Option<u8> {
    match version {
        b"HTTP/1.0" => Some(0),
        b"HTTP/1.1" => Some(1),
        _ => None,
    }
}

/// The lenient scan of a complete head (blank line included) that httparse
/// rejected: the start line as [`scan_request_line`] reads it (a response's
/// as `HTTP/` and a three-digit code), then the field lines by the rules of
/// [`super::head`], each line of an obs-folded value read as one more value
/// of its header, lines without a colon ignored. None when the start line
/// cannot be read.
pub(super) fn parse_lax(buf: &[u8], role: Role) -> Option<Head> {
    let lead = leading_empty_lines(buf);
    let first_end = lead + memchr::memchr(b'\n', &buf[lead..])?;
    let start = match role {
        Role::Request => {
            let l = scan_request_line(buf)?;
            StartLine {
                method: Some(l.method),
                uri: l.uri,
                status: None,
                version: l.version.and_then(minor_of),
            }
        }
        Role::Response { .. } => {
            let line = &buf[lead..first_end];
            let mut parts = line
                .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
                .filter(|p| !p.is_empty());
            let version = parts.next().filter(|v| v.starts_with(b"HTTP/"))?;
            let code = parts
                .next()
                .filter(|c| c.len() == 3 && c.iter().all(u8::is_ascii_digit))?;
            StartLine {
                method: None,
                uri: None,
                status: std::str::from_utf8(code).ok()?.parse().ok(),
                version: minor_of(version),
            }
        }
    };
    // Bounded by the head's length (itself bounded by the framer's max_head).
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    for field in fields(buf) {
        if let Some(name) = field.name(buf) {
            headers.extend(field.value_lines(buf).map(|v| (name, &buf[v])));
        }
    }
    summarize(buf, start, headers.into_iter(), role, true).ok()
}

/// Where `part`, a slice of `buf`, lies in it.
fn span_of(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    debug_assert!(start + part.len() <= buf.len(), "a slice of buf");
    start..start + part.len()
}

/// The method as parsed; the registered common ones need no allocation.
fn method_name(m: &str) -> Cow<'static, str> {
    const COMMON: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    match COMMON.iter().find(|c| **c == m) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(m.to_string()),
    }
}
fn parse_decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
