//! The incremental framer: where does a message end? Fed the bytes of one
//! direction of a connection in pieces of any size, a [`Framer`] says how
//! many belong to the current message and whether it is complete.

use super::head::{find_head_end, leading_empty_lines};
use super::parse::{parse_head, parse_lax, BodyKind, Head, Role};
use super::{FramingError, DEFAULT_MAX_HEAD};

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

    /// Sets the body cap of a framer in use (`None`: no cap), as
    /// [`Framer::with_body_cap`] does; it counts from the next message on
    /// (set it between [`Framer::reset_response`] and the first byte).
    pub fn set_body_cap(&mut self, cap: Option<u64>) {
        self.body_cap = cap;
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
        self.feed_inner(input, &mut |_| {})
    }

    /// [`feed`](Framer::feed), also handing `data` the body's data as it
    /// passes, in order: without chunked framing, before any body cap.
    pub fn feed_data(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, FramingError> {
        self.feed_inner(input, data)
    }

    fn feed_inner(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<Progress, FramingError> {
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
                    data(&input[used..]);
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
                    data(&input[used..used + n as usize]);
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
                    let base = self.consumed + used as u64;
                    match self.feed_chunked(c, &input[used..], base, data) {
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
            skip = leading_empty_lines(input);
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
        data: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let mut i = 0;
        while i < input.len() {
            if let Chunk::Data(remaining) = c {
                let n = remaining.min((input.len() - i) as u64);
                data(&input[i..i + n as usize]);
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
