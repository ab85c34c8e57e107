//! Incremental HTTP/1.x message framing: where does a message end?
//!
//! A [`Framer`] is fed the bytes of one direction of a connection, in pieces
//! of any size, and says how many of them belong to the current message and
//! whether it is complete. It never buffers a body: only the head (bounded by
//! `max_head`) is kept, to parse it with httparse. Chunked bodies are tracked
//! by a byte-level state machine, so a chunk size, an extension, a CRLF or a
//! trailer may be split anywhere.
//!
//! ```
//! use shadowtap_format::http1::{Framer, Status};
//!
//! let mut f = Framer::request();
//! let p = f.feed(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r").unwrap();
//! assert_eq!(p.status, Status::Partial);
//! let p = f.feed(b"\nabc\r\n0\r\n\r\nGET /next").unwrap();
//! assert_eq!(p.status, Status::Complete);
//! assert_eq!(p.consumed, 11); // "GET /next" belongs to the next message
//! ```

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Default bound of a message head (start line and headers).
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;

/// Longest chunk extension accepted, and longest chunk-size line.
const MAX_CHUNK_LINE: usize = 4096;

/// Whether a message is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// More bytes are needed.
    Partial,
    /// The message ended within the bytes fed.
    Complete,
}

/// The result of [`Framer::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// How many of the bytes fed belong to this message.
    pub consumed: usize,
    /// Whether the message is complete.
    pub status: Status,
}

/// How a message's body is delimited.
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
    uri: Option<Range<usize>>,
    /// Where the first Host header value lies, trimmed (see [`Head::host`]).
    host: Option<Range<usize>>,
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
    /// framer (see [`Framer::lenient`]) read it with its own scan.
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
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The head is longer than the bound.
    #[error("message head longer than {max} bytes")]
    HeadTooLarge {
        /// The bound.
        max: usize,
    },
    /// httparse rejected the head.
    #[error("invalid message head: {0}")]
    InvalidHead(httparse::Error),
    /// Content-Length is not a number, or two of them differ.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A request with a Transfer-Encoding whose last coding is not chunked.
    #[error("request Transfer-Encoding does not end in chunked")]
    InvalidTransferEncoding,
    /// Chunked framing is broken.
    #[error("invalid chunked encoding: {0}")]
    InvalidChunk(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Request,
    Response { head_request: bool, connect: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    Chunk(Chunk),
    UntilClose,
    Done,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Hex digits of a chunk size (`digits` read so far).
    Size {
        value: u64,
        digits: u8,
    },
    /// After the size: an extension, until CR or LF.
    Ext {
        value: u64,
        len: u16,
    },
    /// CR seen after the size line; LF expected.
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    TrailerLine,
    FinalLf,
}

/// Frames one HTTP/1.x message. Make a new one for the next message.
#[derive(Clone, Debug)]
pub struct Framer {
    role: Role,
    max_head: usize,
    /// Heads httparse rejects are read by the lenient scan.
    lenient: bool,
    /// Body bytes allowed before [`Framer::capped_at`] is set.
    body_cap: Option<u64>,
    /// Body bytes (chunk data, not chunked framing) consumed so far.
    body_data: u64,
    /// Message offset of the first body byte beyond `body_cap`.
    capped_at: Option<u64>,
    head_buf: Vec<u8>,
    head: Option<Head>,
    state: State,
    error: Option<FramingError>,
    consumed: u64,
    body_consumed: u64,
    leading: usize,
    trailer_bytes: usize,
}

impl Framer {
    /// Frames a request.
    pub fn request() -> Framer {
        Framer::new(Role::Request)
    }

    /// Frames a response to a request with method `request_method` (HEAD
    /// responses have no body; a 2xx to CONNECT opens a tunnel).
    pub fn response(request_method: &str) -> Framer {
        Framer::new(Role::Response {
            head_request: request_method.eq_ignore_ascii_case("HEAD"),
            connect: request_method.eq_ignore_ascii_case("CONNECT"),
        })
    }

    fn new(role: Role) -> Framer {
        Framer {
            role,
            max_head: DEFAULT_MAX_HEAD,
            lenient: false,
            body_cap: None,
            body_data: 0,
            capped_at: None,
            head_buf: Vec::new(),
            head: None,
            state: State::Head,
            error: None,
            consumed: 0,
            body_consumed: 0,
            leading: 0,
            trailer_bytes: 0,
        }
    }

    /// Makes this framer ready for the next request on the same stream,
    /// keeping its buffer (no allocation per message on a hot path).
    pub fn reset_request(&mut self) {
        self.reset(Role::Request);
    }

    /// Makes this framer ready for the next response (to a request with
    /// `request_method`) on the same stream, keeping its buffer.
    pub fn reset_response(&mut self, request_method: &str) {
        self.reset(Role::Response {
            head_request: request_method.eq_ignore_ascii_case("HEAD"),
            connect: request_method.eq_ignore_ascii_case("CONNECT"),
        });
    }

    fn reset(&mut self, role: Role) {
        self.role = role;
        self.head_buf.clear();
        self.head = None;
        self.state = State::Head;
        self.error = None;
        self.consumed = 0;
        self.body_consumed = 0;
        self.body_data = 0;
        self.capped_at = None;
        self.leading = 0;
        self.trailer_bytes = 0;
    }

    /// Sets the bound of the head (and of chunked trailers).
    pub fn with_max_head(mut self, max: usize) -> Framer {
        self.max_head = max;
        self
    }

    /// Reads heads that are not strict HTTP/1.x with a lenient scan instead
    /// of failing: a recorder keeps what a strict peer would refuse (control
    /// bytes in the target, obs-fold lines, odd versions, unreadable
    /// lengths). The start line must still be readable (a method token, or
    /// `HTTP/` and a status code); such a head comes out with
    /// [`Head::malformed`] set, and a body whose length cannot be known runs
    /// to the end of the stream ([`BodyKind::UntilClose`], requests too).
    pub fn lenient(mut self) -> Framer {
        self.lenient = true;
        self
    }

    /// Counts body bytes against `cap` (decoded chunk data for a chunked
    /// body: the chunked framing does not count); see
    /// [`Framer::capped_at`]. Kept across [`Framer::reset_request`].
    pub fn with_body_cap(mut self, cap: u64) -> Framer {
        self.body_cap = Some(cap);
        self
    }

    /// Where, as an offset into this message's bytes (the same count as
    /// [`Framer::consumed`]), lies the first body byte beyond the body cap;
    /// None while the body fits in it (or with no cap set). Bytes before it
    /// are the head, `cap` body bytes and their chunked framing.
    pub fn capped_at(&self) -> Option<u64> {
        self.capped_at
    }

    /// Body bytes consumed so far: the decoded chunk data of a chunked body
    /// (its framing not counted), otherwise the same as
    /// [`Framer::body_consumed`].
    pub fn body_data(&self) -> u64 {
        self.body_data
    }

    /// The parsed head, once complete.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Takes the parsed head out (for a caller done with this framer).
    pub fn take_head(&mut self) -> Option<Head> {
        self.head.take()
    }

    /// Whether the message is complete.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes of this message consumed so far, including any empty lines
    /// skipped before the start line (see [`Framer::leading_skipped`]).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Body bytes consumed so far (chunked framing included).
    pub fn body_consumed(&self) -> u64 {
        self.body_consumed
    }

    /// Empty lines (CR/LF bytes) skipped before the start line; RFC 9112 §2.2
    /// lets a server ignore them. They count in `consumed`.
    pub fn leading_skipped(&self) -> usize {
        self.leading
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, FramingError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut used = 0;
        let result = loop {
            match self.state {
                State::Done => break Ok(Status::Complete),
                State::Failed => break Err(self.error.clone().expect("failed state has an error")),
                State::UntilClose => {
                    let n = (input.len() - used) as u64;
                    self.count_data(self.consumed + used as u64, n);
                    self.body_consumed += n;
                    used = input.len();
                    break Ok(Status::Partial);
                }
                _ if used == input.len() => break Ok(Status::Partial),
                State::Head => match self.feed_head(&input[used..]) {
                    Ok(n) => used += n,
                    Err(e) => break Err(e),
                },
                State::Length(remaining) => {
                    let n = remaining.min((input.len() - used) as u64);
                    self.count_data(self.consumed + used as u64, n);
                    used += n as usize;
                    self.body_consumed += n;
                    self.state = if n == remaining {
                        State::Done
                    } else {
                        State::Length(remaining - n)
                    };
                }
                State::Chunk(c) => {
                    match self.feed_chunked(c, &input[used..], self.consumed + used as u64) {
                        Ok(n) => {
                            used += n;
                            self.body_consumed += n as u64;
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        self.consumed += used as u64;
        match result {
            Ok(status) => Ok(Progress {
                consumed: used,
                status,
            }),
            Err(e) => {
                self.state = State::Failed;
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The stream ended. Returns true when that completes the message (a
    /// close-delimited body, or a message already complete).
    pub fn finish(&mut self) -> bool {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                true
            }
            _ => false,
        }
    }

    /// Consumes head bytes; parses the head once its blank line arrived.
    fn feed_head(&mut self, input: &[u8]) -> Result<usize, FramingError> {
        let mut skip = 0;
        if self.head_buf.is_empty() {
            skip = input
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.leading += skip;
            if skip == input.len() {
                return Ok(skip);
            }
        }
        let input = &input[skip..];
        let old = self.head_buf.len();
        // Where the blank line may still start: up to three bytes back.
        let mut scan_from = old.saturating_sub(3);
        if old == 0 {
            // The common case: the whole head arrives in one piece. It is
            // parsed where it lies, not copied into `head_buf` first.
            let window = &input[..input.len().min(self.max_head)];
            if let Some(end) = find_head_end(window, 0) {
                self.start_body(self.parse(&window[..end])?);
                return Ok(skip + end);
            }
            // Not in this piece (the same bytes `head_buf` gathers next).
            scan_from = window.len();
        }
        // Only look at what could complete the blank line.
        let room = self.max_head.saturating_sub(old);
        let take = input.len().min(room);
        self.head_buf.extend_from_slice(&input[..take]);
        match find_head_end(&self.head_buf, scan_from) {
            Some(end) => {
                let from_input = end - old;
                self.head_buf.truncate(end);
                let head = self.parse(&self.head_buf)?;
                self.head_buf.clear();
                self.start_body(head);
                Ok(skip + from_input)
            }
            None if self.head_buf.len() >= self.max_head => {
                Err(FramingError::HeadTooLarge { max: self.max_head })
            }
            None => Ok(skip + take),
        }
    }

    /// Parses a complete head: strictly, then (when lenient) by the
    /// lenient scan.
    fn parse(&self, head: &[u8]) -> Result<Head, FramingError> {
        match parse_head(head, self.role) {
            Err(e) if self.lenient => parse_lax(head, self.role).ok_or(e),
            other => other,
        }
    }

    /// The head is complete: on to its body.
    fn start_body(&mut self, head: Head) {
        self.state = match head.body {
            BodyKind::None | BodyKind::Tunnel => State::Done,
            BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Chunk(Chunk::Size {
                value: 0,
                digits: 0,
            }),
            BodyKind::UntilClose => State::UntilClose,
        };
        self.head = Some(head);
    }

    /// `n` body data bytes start at message offset `at`.
    fn count_data(&mut self, at: u64, n: u64) {
        if let Some(cap) = self.body_cap {
            // While nothing is capped, `body_data <= cap`.
            if self.capped_at.is_none() && self.body_data + n > cap {
                self.capped_at = Some(at + (cap - self.body_data));
            }
        }
        self.body_data += n;
    }

    /// Advances the chunked state machine over `input`, which starts at
    /// message offset `base`; returns bytes used.
    fn feed_chunked(
        &mut self,
        mut c: Chunk,
        input: &[u8],
        base: u64,
    ) -> Result<usize, FramingError> {
        let mut i = 0;
        while i < input.len() {
            if let Chunk::Data(remaining) = c {
                let n = remaining.min((input.len() - i) as u64);
                self.count_data(base + i as u64, n);
                i += n as usize;
                c = if n == remaining {
                    Chunk::DataCr
                } else {
                    Chunk::Data(remaining - n)
                };
                continue;
            }
            let b = input[i];
            i += 1;
            c = match c {
                Chunk::Size { value, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 16 {
                            return Err(FramingError::InvalidChunk("chunk size too large"));
                        }
                        let d = (b as char).to_digit(16).expect("hex digit") as u64;
                        Chunk::Size {
                            value: value << 4 | d,
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => {
                        return Err(FramingError::InvalidChunk("missing chunk size"))
                    }
                    b';' | b' ' | b'\t' => Chunk::Ext { value, len: 0 },
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => after_size_line(value),
                    _ => return Err(FramingError::InvalidChunk("bad chunk size")),
                },
                Chunk::Ext { value, len } => match b {
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => after_size_line(value),
                    _ if usize::from(len) >= MAX_CHUNK_LINE => {
                        return Err(FramingError::InvalidChunk("chunk extension too long"))
                    }
                    _ => Chunk::Ext {
                        value,
                        len: len + 1,
                    },
                },
                Chunk::SizeLf { value } => match b {
                    b'\n' => after_size_line(value),
                    _ => return Err(FramingError::InvalidChunk("CR without LF after chunk size")),
                },
                Chunk::Data(_) => unreachable!("handled above"),
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    b'\n' => Chunk::Size {
                        value: 0,
                        digits: 0,
                    },
                    _ => return Err(FramingError::InvalidChunk("missing CRLF after chunk data")),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::Size {
                        value: 0,
                        digits: 0,
                    },
                    _ => return Err(FramingError::InvalidChunk("missing LF after chunk data")),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::FinalLf,
                    b'\n' => {
                        self.state = State::Done;
                        return Ok(i);
                    }
                    _ => self.trailer_byte()?,
                },
                Chunk::TrailerLine => match b {
                    b'\n' => Chunk::TrailerStart,
                    _ => self.trailer_byte()?,
                },
                Chunk::FinalLf => match b {
                    b'\n' => {
                        self.state = State::Done;
                        return Ok(i);
                    }
                    _ => return Err(FramingError::InvalidChunk("CR without LF after trailers")),
                },
            };
        }
        self.state = State::Chunk(c);
        Ok(i)
    }

    fn trailer_byte(&mut self) -> Result<Chunk, FramingError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > self.max_head {
            return Err(FramingError::HeadTooLarge { max: self.max_head });
        }
        Ok(Chunk::TrailerLine)
    }
}

fn after_size_line(value: u64) -> Chunk {
    if value == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data(value)
    }
}

/// End (exclusive) of the head: just past the first empty line at or after
/// `from`. Accepts CRLF and bare LF line ends.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..])
        .map(|i| from + i)
        .find_map(|i| match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        })
}

/// Parses a request head found at the start of `raw` (a stored request).
pub fn parse_request_head(raw: &[u8]) -> Option<Head> {
    let end = find_head_end(raw, 0)?;
    parse_head(&raw[..end], Role::Request).ok()
}

/// Parses a request head found at the start of `raw` as a lenient
/// [`Framer`] does: a head httparse rejects is read by the lenient scan
/// (see [`Framer::lenient`]) and comes out with [`Head::malformed`] set.
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

const INLINE_HEADERS: usize = 128;
const MAX_HEADERS: usize = 4096;

fn parse_head(buf: &[u8], role: Role) -> Result<Head, FramingError> {
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
                    Some(v) if content_length.map_or(true, |c| c == v) => content_length = Some(v),
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
    let lead = raw
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let rest = &raw[lead..];
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
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

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
/// as `HTTP/` and a three-digit code), then one header per line split at
/// its first colon, a line that starts with a space or tab continuing the
/// previous header (obs-fold), lines without a colon ignored. None when the
/// start line cannot be read.
fn parse_lax(buf: &[u8], role: Role) -> Option<Head> {
    let lead = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
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
    let mut prev: Option<&[u8]> = None;
    for line in buf[first_end + 1..].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(name) = prev {
                headers.push((name, trim(line)));
            }
            continue;
        }
        prev = match memchr::memchr(b':', line) {
            Some(c) => {
                let name = trim(&line[..c]);
                headers.push((name, trim(&line[c + 1..])));
                Some(name)
            }
            None => None,
        };
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

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

fn parse_decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every position and checks the framer always
    /// ends at `expect_len` with `Complete`.
    fn frames_at(mut make: impl FnMut() -> Framer, input: &[u8], expect_len: usize) {
        for split in 0..=input.len() {
            let mut f = make();
            let a = f.feed(&input[..split]).unwrap();
            let total = if a.status == Status::Complete {
                a.consumed
            } else {
                assert_eq!(a.consumed, split, "split {split}");
                let b = f.feed(&input[split..]).unwrap();
                assert_eq!(b.status, Status::Complete, "split {split}");
                split + b.consumed
            };
            assert_eq!(total, expect_len, "split {split}");
            assert!(f.is_complete());
        }
    }

    /// Feeds one byte at a time.
    fn bytewise(mut f: Framer, input: &[u8]) -> (usize, Framer) {
        for (i, b) in input.iter().enumerate() {
            let p = f.feed(std::slice::from_ref(b)).unwrap();
            if p.status == Status::Complete {
                return (i + p.consumed, f);
            }
        }
        (usize::MAX, f)
    }

    #[test]
    fn content_length_request_any_split() {
        let msg =
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
        frames_at(Framer::request, msg, msg.len() - 16);
    }

    #[test]
    fn chunked_with_extensions_and_trailers_any_split() {
        let msg = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        frames_at(Framer::request, msg, msg.len() - 4);
        let (n, f) = bytewise(Framer::request(), msg);
        assert_eq!(n, msg.len() - 4);
        assert_eq!(f.head().unwrap().body, BodyKind::Chunked);
    }

    #[test]
    fn last_chunk_on_boundary() {
        let mut f = Framer::request();
        let p = f
            .feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .unwrap();
        assert_eq!(p.status, Status::Partial);
        let p = f.feed(b"0\r\n\r\n").unwrap();
        assert_eq!(
            p,
            Progress {
                consumed: 5,
                status: Status::Complete
            }
        );
    }

    #[test]
    fn pipelined_requests() {
        let two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut f = Framer::request();
        let p = f.feed(two).unwrap();
        assert_eq!(p.status, Status::Complete);
        assert_eq!(p.consumed, two.len() / 2);
        assert_eq!(f.head().unwrap().uri(two), Some("/a"));
        let mut g = Framer::request();
        let p = g.feed(&two[two.len() / 2..]).unwrap();
        assert_eq!(p.status, Status::Complete);
        assert_eq!(g.head().unwrap().uri(&two[two.len() / 2..]), Some("/b"));
    }

    #[test]
    fn response_no_body_cases() {
        for (method, head) in [
            (
                "HEAD",
                &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"[..],
            ),
            ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
            (
                "GET",
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            ),
            ("POST", b"HTTP/1.1 100 Whatever You Like\r\n\r\n"),
        ] {
            let mut f = Framer::response(method);
            let p = f.feed(head).unwrap();
            assert_eq!(p.status, Status::Complete, "{method} {head:?}");
            assert_eq!(p.consumed, head.len());
        }
        let mut f = Framer::response("POST");
        f.feed(b"HTTP/1.1 100 Go Ahead Please\r\n\r\n").unwrap();
        assert!(f.head().unwrap().is_interim());
    }

    #[test]
    fn close_delimited_response() {
        let mut f = Framer::response("GET");
        let p = f.feed(b"HTTP/1.0 200 OK\r\n\r\nsome body").unwrap();
        assert_eq!(p.status, Status::Partial);
        assert_eq!(p.consumed, 28);
        assert!(!f.head().unwrap().keep_alive);
        assert!(f.finish());
        assert!(f.is_complete());
        assert_eq!(f.body_consumed(), 9);
    }

    #[test]
    fn tunnels() {
        let mut f = Framer::request();
        let p = f
            .feed(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03")
            .unwrap();
        assert_eq!(p.status, Status::Complete);
        assert!(f.head().unwrap().upgrade);
        let mut f = Framer::response("CONNECT");
        f.feed(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        assert_eq!(f.head().unwrap().body, BodyKind::Tunnel);
        let mut f = Framer::request();
        f.feed(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .unwrap();
        assert!(f.head().unwrap().upgrade);
        let mut f = Framer::response("GET");
        f.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
        assert!(f.is_complete());
        assert_eq!(f.head().unwrap().body, BodyKind::Tunnel);
    }

    #[test]
    fn reset_frames_the_next_message() {
        let mut f = Framer::response("HEAD");
        f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            .unwrap();
        assert!(f.is_complete());
        f.reset_response("GET");
        let p = f
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        assert_eq!(p.status, Status::Complete);
        assert_eq!(f.body_consumed(), 5);
        f.reset_request();
        assert!(f.head().is_none());
        let p = f.feed(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(p.status, Status::Complete);
        assert_eq!(f.consumed(), 18);
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let mut f = Framer::request();
        let p = f.feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(p.status, Status::Complete);
        assert_eq!(f.leading_skipped(), 4);
        assert_eq!(f.head().unwrap().len, 18);
    }

    #[test]
    fn errors() {
        type Check = fn(&FramingError) -> bool;
        let bad: &[(&[u8], Check)] = &[
            (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", |e| {
                *e == FramingError::InvalidContentLength
            }),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                |e| *e == FramingError::InvalidContentLength,
            ),
            (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", |e| {
                *e == FramingError::InvalidTransferEncoding
            }),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                |e| matches!(e, FramingError::InvalidChunk(_)),
            ),
            (b"\x16\x03\x01 binary junk\r\n\r\n", |e| {
                matches!(e, FramingError::InvalidHead(_))
            }),
        ];
        for (input, check) in bad {
            let err = Framer::request().feed(input).unwrap_err();
            assert!(check(&err), "{input:?}: {err:?}");
        }
    }

    #[test]
    fn head_bound() {
        let mut f = Framer::request().with_max_head(64);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 100));
        assert_eq!(
            f.feed(&big).unwrap_err(),
            FramingError::HeadTooLarge { max: 64 }
        );
        // At the bound exactly: the same in one piece (parsed in place) and
        // byte by byte (gathered first); one byte over fails both ways.
        let at = |n: usize| {
            let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
            h.resize(n - 4, b'a');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let fits = at(64);
        let whole = Framer::request().with_max_head(64).feed(&fits).unwrap();
        assert_eq!((whole.consumed, whole.status), (64, Status::Complete));
        let (n, f) = bytewise(Framer::request().with_max_head(64), &fits);
        assert_eq!((n, f.head().unwrap().len), (64, 64));
        let over = at(65);
        assert!(Framer::request().with_max_head(64).feed(&over).is_err());
        let mut f = Framer::request().with_max_head(64);
        let err = over
            .iter()
            .find_map(|b| f.feed(std::slice::from_ref(b)).err());
        assert_eq!(err, Some(FramingError::HeadTooLarge { max: 64 }));
    }

    #[test]
    fn heads_with_more_headers_than_the_inline_slots() {
        let mut raw = b"GET /many HTTP/1.1\r\n".to_vec();
        for i in 0..INLINE_HEADERS + 10 {
            raw.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"Host: late\r\nContent-Length: 2\r\n\r\nok");
        let h = parse_request_head(&raw).unwrap();
        assert_eq!(h.host(&raw).as_deref(), Some("late"));
        assert_eq!(h.body, BodyKind::Length(2));
        let mut f = Framer::request();
        let p = f.feed(&raw).unwrap();
        assert_eq!((p.status, p.consumed), (Status::Complete, raw.len()));
    }

    #[test]
    fn duplicate_equal_content_lengths_are_fine() {
        let mut f = Framer::request();
        let p = f
            .feed(b"PUT / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok")
            .unwrap();
        assert_eq!(p.status, Status::Complete);
    }

    #[test]
    fn stored_request_summary() {
        let raw = b"GET /p?q=1 HTTP/1.1\r\nhOsT: Example.COM\r\n\r\n";
        let h = parse_request_head(raw).unwrap();
        assert_eq!(h.method.as_deref(), Some("GET"));
        assert!(matches!(h.method, Some(Cow::Borrowed(_))), "no allocation");
        assert_eq!(h.uri(raw), Some("/p?q=1"));
        assert_eq!(h.host(raw).as_deref(), Some("Example.COM"));
        // Leading blank lines, padded and non-UTF-8 values, other methods.
        let raw = b"\r\nPURGE /x HTTP/1.1\r\nX: y\r\nHost:  a\xffb \r\nHost: second\r\n\r\n";
        let h = parse_request_head(raw).unwrap();
        assert_eq!(h.method.as_deref(), Some("PURGE"));
        assert_eq!(h.uri(raw), Some("/x"));
        assert_eq!(h.host(raw).as_deref(), Some("a\u{fffd}b"));
        let h = parse_request_head(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(h.host(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert!(parse_request_head(b"GET / HTTP/1.1\r\n").is_none());
    }

    /// What a framer says about one input, fed whole or in two pieces.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Done {
            consumed: usize,
            status: Status,
            head: Option<Head>,
            data: u64,
            capped_at: Option<u64>,
        },
        Failed(FramingError),
    }

    /// Feeds `pieces` in order and checks the framer's contract on the way:
    /// nothing consumed beyond what was fed, `Complete` only with a head,
    /// spans inside the head, data within the body, the error latched.
    fn run_checked(mut f: Framer, pieces: &[&[u8]]) -> Outcome {
        let mut total = 0;
        let mut status = Status::Partial;
        for piece in pieces {
            match f.feed(piece) {
                Ok(p) => {
                    assert!(p.consumed <= piece.len(), "consumed more than fed");
                    total += p.consumed;
                    status = p.status;
                    if p.status == Status::Complete {
                        break;
                    }
                    assert_eq!(p.consumed, piece.len(), "a partial message takes all");
                }
                Err(e) => {
                    assert_eq!(f.feed(b"more").unwrap_err(), e, "the error is latched");
                    assert!(f.consumed() as usize <= pieces.iter().map(|p| p.len()).sum());
                    return Outcome::Failed(e);
                }
            }
        }
        assert_eq!(f.consumed(), total as u64);
        assert_eq!(status == Status::Complete, f.is_complete());
        if let Some(h) = f.head() {
            assert!(
                h.len + f.leading_skipped() <= total,
                "head beyond the bytes consumed"
            );
            for span in [&h.uri, &h.host].into_iter().flatten() {
                assert!(
                    span.start <= span.end && span.end <= h.len,
                    "span {span:?} outside the head"
                );
            }
            let body = f.body_consumed();
            assert_eq!(body, (total - h.len - f.leading_skipped()) as u64);
            assert!(f.body_data() <= body);
        } else {
            assert_eq!(status, Status::Partial, "complete without a head");
            assert_eq!(f.body_consumed(), 0);
        }
        if let Some(at) = f.capped_at() {
            assert!(at < total as u64, "capped beyond the bytes consumed");
            assert!(f.body_data() > 4);
        } else {
            assert!(f.body_data() <= 4);
        }
        Outcome::Done {
            consumed: total,
            status,
            head: f.take_head(),
            data: f.body_data(),
            capped_at: f.capped_at(),
        }
    }

    #[test]
    fn random_bytes_keep_the_framing_contract() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"GET / HTTP/1.1\r\n:0123456789abcdefTransfer-Encoding: chunked\x1b\t Content-Length: 3\r\n\r\n";
        let (mut completes, mut errors) = (0, 0);
        for _ in 0..2000 {
            let len = next() % 200;
            let buf: Vec<u8> = (0..len)
                .map(|_| alphabet[next() as usize % alphabet.len()])
                .collect();
            let split = next() as usize % (buf.len() + 1);
            let makers: [fn() -> Framer; 4] = [
                Framer::request,
                || Framer::response("GET"),
                || Framer::request().lenient(),
                || Framer::response("HEAD").lenient(),
            ];
            for make in makers {
                let whole = run_checked(make().with_body_cap(4), &[&buf]);
                let pieces = run_checked(make().with_body_cap(4), &[&buf[..split], &buf[split..]]);
                match &whole {
                    Outcome::Done {
                        status: Status::Complete,
                        ..
                    } => completes += 1,
                    Outcome::Failed(_) => errors += 1,
                    _ => {}
                }
                // A message split anywhere frames the same.
                assert_eq!(
                    whole,
                    pieces,
                    "{:?} split at {split}",
                    String::from_utf8_lossy(&buf)
                );
            }
        }
        assert!(
            completes > 0 && errors > 0,
            "{completes} complete, {errors} errors"
        );
    }
}
