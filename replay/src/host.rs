//! What a mirrored request looks like on the wire: the `-shadow` Host rule and
//! the rewriting of a captured request into the bytes sent to a target.
//!
//! # The `-shadow` rule
//!
//! [`shadow_host`] follows Envoy's mirror policy: `-shadow` is inserted
//! before the port, or appended when there is no port. The port starts at the
//! last `:` unless a `]` follows it (a bracketed IPv6 literal). Case is kept,
//! nothing is validated or de-duplicated (`foo-shadow` becomes
//! `foo-shadow-shadow`). Where Envoy would produce garbage this returns a
//! [`HostError`] instead: an empty Host, an unbracketed IPv6 literal (`::1`)
//! and an unclosed bracket (`[::1`).
//!
//! # Which Host is sent
//!
//! [`HostMode`] combines two independent choices:
//! - the base: the target's authority from `--target` (default) or the
//!   captured request's Host (`--keep-host`);
//! - the suffix: `-shadow` inserted by the rule (default) or not
//!   (`--no-shadow-suffix`).
//!
//! So `--keep-host` alone sends exactly what Envoy/Istio send to a mirror,
//! and `--keep-host --no-shadow-suffix` leaves the captured Host line
//! untouched. A captured Host that the rule rejects (empty, missing,
//! unbracketed IPv6) is an error for that request only ([`Unsendable::Host`]).
//!
//! # Rewriting
//!
//! [`Rewriter::prepare`] turns captured request bytes into a [`Prepared`]
//! request. Everything is kept byte for byte (request line, header order,
//! case, duplicates, line endings, body with its chunked
//! framing) except the lines below, and empty lines before the request
//! line, which are dropped. A line that replaces a captured line
//! ends as that line did; a line added where there was none ends as the
//! request line does, so a request whose lines end in a bare `\n` is sent
//! with bare `\n`s only.
//! - **Host**: the first Host line is replaced (or, when the request has
//!   none, a Host line is inserted right after the request line). Further
//!   Host lines are dropped when the Host is replaced.
//! - **Hop-by-hop headers** (RFC 9110 §7.6.1) are dropped: `Connection` and
//!   every header its value names, `Keep-Alive`, `Proxy-Connection`, `TE`,
//!   `Upgrade`, and `Proxy-Authorization` (credentials for the captured
//!   client's proxy hop, never meant for an origin). `Transfer-Encoding`,
//!   `Content-Length` and `Host` are never dropped through `Connection`, so
//!   framing stays intact. No header the client did not send is added: an
//!   HTTP/1.1 request relies on persistence by default; an HTTP/1.0 request
//!   keeps `Connection: keep-alive` (in place of its `Connection` line) only
//!   when the client asked for it. Otherwise it is sent as captured and the
//!   target closes the connection after the response, so
//!   [`Prepared::keep_alive`] tells the client to use that connection for
//!   this request only.
//! - **`--header`**: a header of the same name (case-insensitive) has its
//!   first line replaced in place by the given line and its later lines
//!   dropped; a new name is appended after the last header, in the order
//!   given. A `--header 'Host: ...'` wins over the Host mode.
//!
//! Requests that cannot be replayed faithfully are refused with
//! [`Unsendable::Skip`] and counted in the report's `skipped` map by
//! [`SkipReason`]: `incomplete` (flagged incomplete, with a gap or cut by the
//! snap length, or fewer bytes stored than were on the wire), `body_capped`,
//! `upgrade` and `unparsable`. A truncated body is never sent.
//!
//! An upgrade request is told by its head, not by the capture's flags: a
//! CONNECT, or an `Upgrade` header with `upgrade` in `Connection` (a
//! WebSocket handshake, `h2c`). After it the connection would carry another
//! protocol, which a replay cannot speak, and with the hop-by-hop headers
//! removed it would go out as a plain request that still carries the
//! protocol's own headers (`Sec-WebSocket-Key`). The capture's
//! [`Flags::UPGRADE`] also makes a request skipped, but the capture clears it
//! when the server declined the upgrade, and a live feed (`tee`) sees the
//! request before its response: the head alone decides.

use shadowtap_format::http1::{self, BodyKind};
use shadowtap_format::{Exchange, Flags};

use crate::stats::SkipReason;

/// The suffix Envoy inserts into a mirrored request's Host.
pub const SHADOW_SUFFIX: &str = "-shadow";

/// Why a Host cannot go through the `-shadow` rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The Host is empty (or the request has no Host header).
    #[error("empty Host")]
    Empty,
    /// An IPv6 literal without brackets (`::1`): the port cannot be told
    /// apart from the address.
    #[error("unbracketed IPv6 literal in Host {host:?}")]
    UnbracketedIpv6 {
        /// The Host as given.
        host: String,
    },
    /// A `[` without its `]`.
    #[error("unclosed bracket in Host {host:?}")]
    UnclosedBracket {
        /// The Host as given.
        host: String,
    },
}

/// Applies Envoy's `-shadow` rule to a Host value (see the module docs).
///
/// ```
/// use shadowtap_replay::host::shadow_host;
/// assert_eq!(shadow_host("cluster1:8000").unwrap(), "cluster1-shadow:8000");
/// assert_eq!(shadow_host("[::1]").unwrap(), "[::1]-shadow");
/// assert!(shadow_host("::1").is_err());
/// ```
pub fn shadow_host(host: &str) -> Result<String, HostError> {
    let (name, port) = split_port(host.as_bytes())?;
    // Both parts are slices of a str split at ASCII bytes.
    let (name, port) = (
        &host[..name.len()],
        &host[name.len()..name.len() + port.len()],
    );
    Ok(format!("{name}{SHADOW_SUFFIX}{port}"))
}

/// [`shadow_host`] appending to `out` (which is left unchanged on error).
fn shadow_host_into(host: &[u8], out: &mut Vec<u8>) -> Result<(), HostError> {
    let (name, port) = split_port(host)?;
    out.extend_from_slice(name);
    out.extend_from_slice(SHADOW_SUFFIX.as_bytes());
    out.extend_from_slice(port);
    Ok(())
}

/// Splits a Host into the part before the port and the port with its `:`
/// (empty when there is no port).
fn split_port(host: &[u8]) -> Result<(&[u8], &[u8]), HostError> {
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    let lossy = || String::from_utf8_lossy(host).into_owned();
    if host[0] == b'[' {
        let Some(close) = host.iter().rposition(|&b| b == b']') else {
            return Err(HostError::UnclosedBracket { host: lossy() });
        };
        return Ok(match host[close..].iter().position(|&b| b == b':') {
            Some(i) => host.split_at(close + i),
            None => (host, &[][..]),
        });
    }
    let colons = host.iter().filter(|&&b| b == b':').count();
    if colons > 1 {
        return Err(HostError::UnbracketedIpv6 { host: lossy() });
    }
    Ok(match host.iter().position(|&b| b == b':') {
        Some(i) => host.split_at(i),
        None => (host, &[][..]),
    })
}

/// How the lines of a request head end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    /// `\r\n`, as RFC 9112 asks.
    #[default]
    CrLf,
    /// A bare `\n`, which servers accept (RFC 9112 §2.2).
    Lf,
}

impl LineEnding {
    /// The ending of the line `line` (which ends in `\n`).
    fn of(line: &[u8]) -> LineEnding {
        if line.ends_with(b"\r\n") {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    /// The bytes that end a line.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::CrLf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// The Host line a target gets ([`HostMode::target_host_line`]), in both
/// line endings: each request takes the one its own lines use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLine {
    crlf: Vec<u8>,
    lf: Vec<u8>,
}

impl HostLine {
    /// `Host: VALUE` with each ending.
    pub fn new(value: &[u8]) -> HostLine {
        let mut lf = b"Host: ".to_vec();
        lf.extend_from_slice(value);
        let mut crlf = lf.clone();
        crlf.extend_from_slice(b"\r\n");
        lf.push(b'\n');
        HostLine { crlf, lf }
    }

    /// The line with `ending`.
    pub fn bytes(&self, ending: LineEnding) -> &[u8] {
        match ending {
            LineEnding::CrLf => &self.crlf,
            LineEnding::Lf => &self.lf,
        }
    }
}

/// Where the Host of a mirrored request comes from and whether it gets the
/// `-shadow` suffix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostMode {
    /// Take the captured request's Host instead of the target's authority
    /// (`--keep-host`).
    pub keep_captured: bool,
    /// Insert `-shadow` by the rule (default on; off with
    /// `--no-shadow-suffix`).
    pub no_suffix: bool,
}

impl HostMode {
    /// The Host line (`Host: VALUE`) for a target authority, when the
    /// Host comes from the target. `None` when the Host comes from the
    /// captured request.
    pub fn target_host_line(&self, authority: &str) -> Result<Option<HostLine>, HostError> {
        if self.keep_captured {
            return Ok(None);
        }
        let mut value = Vec::new();
        if self.no_suffix {
            if authority.is_empty() {
                return Err(HostError::Empty);
            }
            value.extend_from_slice(authority.as_bytes());
        } else {
            shadow_host_into(authority.as_bytes(), &mut value)?;
        }
        Ok(Some(HostLine::new(&value)))
    }
}

/// A header given with `--header 'Name: value'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraHeader {
    name: String,
    /// The argument as given (for the report).
    arg: String,
    /// The line as sent, without its ending (the request's): `Name: value`.
    line: Vec<u8>,
}

/// Why a `--header` argument is not a header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderArgError {
    /// No `:` separates name and value.
    #[error("header {arg:?} has no ':' (expected 'Name: value')")]
    NoColon {
        /// The argument as given.
        arg: String,
    },
    /// The name is empty or has characters a header name cannot have.
    #[error("invalid header name in {arg:?}")]
    InvalidName {
        /// The argument as given.
        arg: String,
    },
    /// The value has a CR, LF or NUL.
    #[error("invalid header value in {arg:?} (CR, LF and NUL are not allowed)")]
    InvalidValue {
        /// The argument as given.
        arg: String,
    },
}

impl ExtraHeader {
    /// Parses `Name: value` (whitespace around the value is trimmed).
    pub fn parse(arg: &str) -> Result<ExtraHeader, HeaderArgError> {
        let Some((name, value)) = arg.split_once(':') else {
            return Err(HeaderArgError::NoColon { arg: arg.into() });
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(HeaderArgError::InvalidName { arg: arg.into() });
        }
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(HeaderArgError::InvalidValue { arg: arg.into() });
        }
        let line = format!("{name}: {value}").into_bytes();
        Ok(ExtraHeader {
            name: name.to_owned(),
            arg: arg.to_owned(),
            line,
        })
    }

    /// The header name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `--header` argument it was parsed from.
    pub fn arg(&self) -> &str {
        &self.arg
    }
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why a captured request yields no [`Prepared`] request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsendable {
    /// Cannot be replayed faithfully: skipped and counted.
    #[error("request skipped: {}", .0.as_str())]
    Skip(SkipReason),
    /// The captured Host does not go through the `-shadow` rule: an error
    /// for this request, counted per target as `invalid_host`.
    #[error(transparent)]
    Host(HostError),
}

/// The flags that make a captured request incomplete.
const INCOMPLETE: Flags = Flags::REQ_INCOMPLETE
    .union(Flags::REQ_GAP)
    .union(Flags::REQ_SNAPLEN);

/// A request ready to send: the rewritten bytes, and where each target's
/// Host line goes when the Host comes from the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    bytes: Vec<u8>,
    host_at: Option<usize>,
    /// How the per-target Host line ends.
    host_ending: LineEnding,
    method_len: usize,
    keep_alive: bool,
}

impl Prepared {
    /// The method (needed to frame the response: HEAD has no body).
    pub fn method(&self) -> &str {
        // The head parsed, so the method is a token (ASCII).
        std::str::from_utf8(&self.bytes[..self.method_len]).unwrap_or("GET")
    }

    /// The bytes to send to a target whose Host line (from
    /// [`HostMode::target_host_line`]) is `host_line`, as up to three
    /// slices to write in order.
    pub fn parts<'a>(&'a self, host_line: Option<&'a HostLine>) -> [&'a [u8]; 3] {
        match (self.host_at, host_line) {
            (Some(at), Some(line)) => [
                &self.bytes[..at],
                line.bytes(self.host_ending),
                &self.bytes[at..],
            ],
            _ => [&self.bytes[..], &[], &[]],
        }
    }

    /// Whether the connection can carry another request after this one's
    /// response: false for an HTTP/1.0 request that did not ask for
    /// keep-alive (or a `--header 'Connection: close'`), which the target
    /// answers and then closes.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Total length when sent with `host_line`.
    pub fn len_with(&self, host_line: Option<&HostLine>) -> usize {
        self.parts(host_line).iter().map(|p| p.len()).sum()
    }

    /// The rewritten bytes without a per-target Host line.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where a per-target Host line is inserted, if any.
    pub fn host_at(&self) -> Option<usize> {
        self.host_at
    }
}

/// Rewrites captured requests (see the module docs). Holds reusable scratch
/// space: one rewriter per thread.
#[derive(Debug)]
pub struct Rewriter {
    mode: HostMode,
    extra: Vec<ExtraHeader>,
    /// `--header` Host, which wins over the mode.
    extra_host: bool,
    /// Reused: byte ranges of `Connection` header values.
    conn_values: Vec<(usize, usize)>,
    /// Reused: which extra headers already replaced a line.
    extra_done: Vec<bool>,
    /// Reused output buffer (swapped with the request buffer it consumed).
    scratch: Vec<u8>,
}

/// One header line of a head: `[start, end)` including its line ending and
/// any obs-folded continuation lines; the name is `[start, name_end)`.
#[derive(Clone, Copy, Debug)]
struct Line {
    start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
    end: usize,
}

impl Rewriter {
    /// A rewriter for a Host mode and `--header`s.
    pub fn new(mode: HostMode, extra: Vec<ExtraHeader>) -> Rewriter {
        let extra_host = extra.iter().any(|h| h.name.eq_ignore_ascii_case("host"));
        let n = extra.len();
        Rewriter {
            mode,
            extra,
            extra_host,
            conn_values: Vec::new(),
            extra_done: vec![false; n],
            scratch: Vec::new(),
        }
    }

    /// True when every target gets its own Host line.
    pub fn host_from_target(&self) -> bool {
        !self.mode.keep_captured && !self.extra_host
    }

    /// Prepares a captured exchange's request, consuming its request buffer
    /// (which is kept as scratch space for the next call).
    pub fn prepare(&mut self, ex: &mut Exchange) -> Result<Prepared, Unsendable> {
        if ex.flags.contains(Flags::REQ_BODY_CAPPED) {
            return Err(Unsendable::Skip(SkipReason::BodyCapped));
        }
        if ex.flags.intersects(INCOMPLETE) || (ex.request.len() as u64) < ex.request_len {
            return Err(Unsendable::Skip(SkipReason::Incomplete));
        }
        if ex.flags.contains(Flags::UPGRADE) {
            return Err(Unsendable::Skip(SkipReason::Upgrade));
        }
        let prepared = self.rewrite(&ex.request)?;
        // Keep the consumed request's buffer as the next scratch space.
        std::mem::swap(&mut self.scratch, &mut ex.request);
        self.scratch.clear();
        Ok(prepared)
    }

    /// Rewrites raw request bytes (see the module docs).
    pub fn rewrite(&mut self, raw: &[u8]) -> Result<Prepared, Unsendable> {
        // Empty lines before the request line are not part of the message
        // (RFC 9112 §2.2: the capture's framer skips them too); kept, they
        // would be taken for the request line. They are not sent.
        let lead = raw
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let raw = &raw[lead..];
        let Some(head) = http1::parse_request_head(raw) else {
            return Err(Unsendable::Skip(SkipReason::Unparsable));
        };
        // CONNECT, or Upgrade with `Connection: upgrade` (see the module
        // docs).
        if head.upgrade {
            return Err(Unsendable::Skip(SkipReason::Upgrade));
        }
        let head_len = head.len.min(raw.len());
        let msg_end = match head.body {
            BodyKind::None => head_len,
            BodyKind::Length(n) => {
                let end = u64::try_from(head_len)
                    .ok()
                    .and_then(|h| h.checked_add(n))
                    .and_then(|e| usize::try_from(e).ok());
                match end {
                    Some(end) if end <= raw.len() => end,
                    _ => return Err(Unsendable::Skip(SkipReason::Incomplete)),
                }
            }
            // The capture stored the message; chunked framing is kept as is.
            BodyKind::Chunked | BodyKind::UntilClose | BodyKind::Tunnel => raw.len(),
        };
        // An HTTP/1.0 request persists only when it asked to.
        let http10_keep_alive = (head.minor_version == 0).then_some(head.keep_alive);
        let method_len = raw.iter().position(|&b| b == b' ').unwrap_or(0);
        self.rewrite_head(raw, head_len, msg_end, http10_keep_alive, method_len)
    }

    fn rewrite_head(
        &mut self,
        raw: &[u8],
        head_len: usize,
        msg_end: usize,
        http10_keep_alive: Option<bool>,
        method_len: usize,
    ) -> Result<Prepared, Unsendable> {
        let h = &raw[..head_len];
        let Some(req_line_end) = h.iter().position(|&b| b == b'\n').map(|i| i + 1) else {
            return Err(Unsendable::Skip(SkipReason::Unparsable));
        };
        // The blank line that ends the head.
        let blank_start = if h.ends_with(b"\r\n\r\n") {
            head_len - 2
        } else if h.ends_with(b"\n\n") {
            head_len - 1
        } else {
            return Err(Unsendable::Skip(SkipReason::Unparsable));
        };

        self.conn_values.clear();
        let mut pos = req_line_end;
        while let Some(line) = next_line(h, pos, blank_start) {
            if name_is(h, &line, "connection") {
                self.conn_values.push((line.value_start, line.value_end));
            }
            pos = line.end;
        }

        // Added lines end as the request line does.
        let ending = LineEnding::of(&h[..req_line_end]);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.reserve(msg_end + 64 + self.extra.iter().map(|e| e.line.len() + 2).sum::<usize>());
        out.extend_from_slice(&h[..req_line_end]);
        self.extra_done.iter_mut().for_each(|d| *d = false);
        let extra_connection = self
            .extra
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case("connection"));
        let mut connection_kept = false;

        let untouched = self.mode.keep_captured && self.mode.no_suffix;
        let replace_host = !untouched && !self.extra_host;
        let mut host_seen = false;
        let mut host_at = None;
        let mut host_ending = ending;
        let mut pos = req_line_end;
        while let Some(line) = next_line(h, pos, blank_start) {
            pos = line.end;
            let line_ending = LineEnding::of(&h[line.start..line.end]);
            if let Some(i) = self
                .extra
                .iter()
                .position(|e| name_eq(&h[line.start..line.name_end], &e.name))
            {
                if !self.extra_done[i] {
                    self.extra_done[i] = true;
                    out.extend_from_slice(&self.extra[i].line);
                    out.extend_from_slice(line_ending.as_bytes());
                }
                continue;
            }
            if name_is(h, &line, "host") {
                if !replace_host {
                    out.extend_from_slice(&h[line.start..line.end]);
                } else if !host_seen {
                    host_ending = line_ending;
                    if let Err(e) = self.emit_host(
                        &mut out,
                        &mut host_at,
                        Some(trim_ows(&h[line.value_start..line.value_end])),
                        line_ending,
                    ) {
                        self.scratch = out;
                        return Err(e);
                    }
                }
                host_seen = true;
                continue;
            }
            if name_is(h, &line, "connection")
                && http10_keep_alive == Some(true)
                && !extra_connection
                && !connection_kept
            {
                // The HTTP/1.0 client asked for a persistent connection: that
                // much of its Connection header is kept, in place.
                connection_kept = true;
                out.extend_from_slice(b"Connection: keep-alive");
                out.extend_from_slice(line_ending.as_bytes());
                continue;
            }
            if self.is_hop_by_hop(h, &line) {
                continue;
            }
            out.extend_from_slice(&h[line.start..line.end]);
        }
        if replace_host && !host_seen {
            // No Host line: insert one right after the request line.
            let mut host_line = Vec::new();
            if let Err(e) = self.emit_host(&mut host_line, &mut host_at, None, ending) {
                self.scratch = out;
                return Err(e);
            }
            let at = req_line_end;
            out.splice(at..at, host_line);
            if let Some(a) = host_at.as_mut() {
                *a = at;
            }
        }
        for (i, e) in self.extra.iter().enumerate() {
            if !self.extra_done[i] {
                out.extend_from_slice(&e.line);
                out.extend_from_slice(ending.as_bytes());
            }
        }
        let keep_alive = match self
            .extra
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case("connection"))
        {
            // `--header 'Connection: ...'` decides, as the target reads it.
            Some(e) => {
                let value = &e.line[e.name.len() + 1..];
                let has = |token: &str| {
                    value
                        .split(|&b| b == b',')
                        .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
                };
                match http10_keep_alive {
                    Some(_) => has("keep-alive"),
                    None => !has("close"),
                }
            }
            None => http10_keep_alive.unwrap_or(true),
        };
        out.extend_from_slice(&raw[blank_start..msg_end]);
        self.scratch = Vec::new();
        Ok(Prepared {
            bytes: out,
            host_at,
            host_ending,
            method_len,
            keep_alive,
        })
    }

    /// Writes the Host line for the mode: a per-target slot, or the captured
    /// Host with the suffix.
    fn emit_host(
        &self,
        out: &mut Vec<u8>,
        host_at: &mut Option<usize>,
        captured: Option<&[u8]>,
        ending: LineEnding,
    ) -> Result<(), Unsendable> {
        if !self.mode.keep_captured {
            *host_at = Some(out.len());
            return Ok(());
        }
        // keep_captured with the suffix on (keep_captured without suffix
        // never replaces the Host line).
        let value = captured.unwrap_or(&[]);
        let mut line = b"Host: ".to_vec();
        shadow_host_into(value, &mut line).map_err(Unsendable::Host)?;
        line.extend_from_slice(ending.as_bytes());
        out.extend_from_slice(&line);
        Ok(())
    }

    fn is_hop_by_hop(&self, h: &[u8], line: &Line) -> bool {
        let name = &h[line.start..line.name_end];
        const ALWAYS: [&str; 6] = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "upgrade",
            "proxy-authorization",
        ];
        if ALWAYS
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            return true;
        }
        const NEVER: [&str; 3] = ["transfer-encoding", "content-length", "host"];
        if NEVER
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            return false;
        }
        self.conn_values.iter().any(|&(s, e)| {
            h[s..e]
                .split(|&b| b == b',')
                .any(|tok| trim_ows(tok).eq_ignore_ascii_case(name))
        })
    }
}

fn name_eq(name: &[u8], want: &str) -> bool {
    name.eq_ignore_ascii_case(want.as_bytes())
}

fn name_is(h: &[u8], line: &Line, want: &str) -> bool {
    name_eq(&h[line.start..line.name_end], want)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// The header line starting at `pos` (with its obs-folded continuation
/// lines), or `None` at `stop` (the blank line).
fn next_line(h: &[u8], pos: usize, stop: usize) -> Option<Line> {
    if pos >= stop {
        return None;
    }
    let mut end = pos;
    loop {
        end = match h[end..stop].iter().position(|&b| b == b'\n') {
            Some(i) => end + i + 1,
            None => stop,
        };
        // An obs-fold continuation starts with SP or HT.
        if end < stop && matches!(h[end], b' ' | b'\t') {
            continue;
        }
        break;
    }
    let name_end = h[pos..end]
        .iter()
        .position(|&b| b == b':')
        .map_or(end, |i| pos + i);
    let value_start = (name_end + 1).min(end);
    Some(Line {
        start: pos,
        name_end,
        value_start,
        value_end: end,
        end,
    })
}

/// The value of the first header `name` (case-insensitive) in a request
/// head, trimmed of whitespace. Used by header sampling.
pub fn header_value<'a>(raw: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let head_end = find_head_end(raw)?;
    let h = &raw[..head_end];
    let mut pos = h.iter().position(|&b| b == b'\n')? + 1;
    while let Some(line) = next_line(h, pos, head_end) {
        if name_is(h, &line, name) {
            return Some(trim_ows(&h[line.value_start..line.value_end]));
        }
        pos = line.end;
    }
    None
}

/// The offset of the blank line ending a head (`\r\n\r\n` or `\n\n`), or
/// `None` when the head is not complete.
fn find_head_end(raw: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(n) = raw[i..].iter().position(|&b| b == b'\n') {
        let nl = i + n;
        match raw.get(nl + 1) {
            Some(b'\n') => return Some(nl + 1),
            Some(b'\r') if raw.get(nl + 2) == Some(&b'\n') => return Some(nl + 1),
            Some(_) => i = nl + 1,
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ANCHORS §1, plus the error cases.
    #[test]
    fn shadow_rule_table() {
        let table = [
            ("cluster1", "cluster1-shadow"),
            ("cluster1:8000", "cluster1-shadow:8000"),
            ("sni.lyft.com", "sni.lyft.com-shadow"),
            ("127.0.0.1:8080", "127.0.0.1-shadow:8080"),
            ("[::1]:8080", "[::1]-shadow:8080"),
            ("[::1]", "[::1]-shadow"),
            ("[2001:db8::1]:443", "[2001:db8::1]-shadow:443"),
            ("foo-shadow", "foo-shadow-shadow"),
            ("Example.COM", "Example.COM-shadow"),
        ];
        for (input, want) in table {
            assert_eq!(shadow_host(input).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(shadow_host(""), Err(HostError::Empty));
        assert_eq!(
            shadow_host("::1"),
            Err(HostError::UnbracketedIpv6 { host: "::1".into() })
        );
        assert_eq!(
            shadow_host("2001:db8::1"),
            Err(HostError::UnbracketedIpv6 {
                host: "2001:db8::1".into()
            })
        );
        assert_eq!(
            shadow_host("[::1"),
            Err(HostError::UnclosedBracket {
                host: "[::1".into()
            })
        );
    }

    #[test]
    fn target_host_line_both_suffix_modes() {
        let on = HostMode::default();
        let off = HostMode {
            no_suffix: true,
            ..HostMode::default()
        };
        let table = [
            ("cluster1", "cluster1-shadow"),
            ("127.0.0.1:8080", "127.0.0.1-shadow:8080"),
            ("[::1]:8080", "[::1]-shadow:8080"),
            ("Example.COM", "Example.COM-shadow"),
        ];
        for (authority, shadowed) in table {
            let line = on.target_host_line(authority).unwrap().unwrap();
            let want = format!("Host: {shadowed}\r\n").into_bytes();
            assert_eq!(line.bytes(LineEnding::CrLf), want);
            assert_eq!(
                line.bytes(LineEnding::Lf),
                format!("Host: {shadowed}\n").as_bytes()
            );
            let line = off.target_host_line(authority).unwrap().unwrap();
            let want = format!("Host: {authority}\r\n").into_bytes();
            assert_eq!(line.bytes(LineEnding::CrLf), want);
        }
        let keep = HostMode {
            keep_captured: true,
            no_suffix: false,
        };
        assert_eq!(keep.target_host_line("a:1"), Ok(None));
    }

    #[test]
    fn extra_header_parsing() {
        let h = ExtraHeader::parse("X-Mirror:  yes ").unwrap();
        assert_eq!(h.line, b"X-Mirror: yes");
        assert_eq!(h.name(), "X-Mirror");
        assert!(matches!(
            ExtraHeader::parse("nocolon"),
            Err(HeaderArgError::NoColon { .. })
        ));
        assert!(matches!(
            ExtraHeader::parse(": v"),
            Err(HeaderArgError::InvalidName { .. })
        ));
        assert!(matches!(
            ExtraHeader::parse("a b: v"),
            Err(HeaderArgError::InvalidName { .. })
        ));
        assert!(matches!(
            ExtraHeader::parse("a: v\r\nx: y"),
            Err(HeaderArgError::InvalidValue { .. })
        ));
    }

    #[test]
    fn header_value_lookup() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-User:  42 \r\nx-user: 43\r\n\r\nbody";
        assert_eq!(header_value(raw, "x-user"), Some(&b"42"[..]));
        assert_eq!(header_value(raw, "HOST"), Some(&b"a"[..]));
        assert_eq!(header_value(raw, "cookie"), None);
        assert_eq!(
            header_value(b"GET / HTTP/1.1\r\nX-User: 1\r\n", "x-user"),
            None
        );
    }

    fn target_mode() -> Rewriter {
        Rewriter::new(HostMode::default(), Vec::new())
    }

    fn keep(suffix: bool) -> Rewriter {
        Rewriter::new(
            HostMode {
                keep_captured: true,
                no_suffix: !suffix,
            },
            Vec::new(),
        )
    }

    /// The bytes a target with Host line `line` receives.
    fn sent(p: &Prepared, line: Option<&HostLine>) -> Vec<u8> {
        p.parts(line).concat()
    }

    /// The target Host line `Host: VALUE`.
    fn host_line(value: &str) -> HostLine {
        HostLine::new(value.as_bytes())
    }

    #[test]
    fn order_case_duplicates_and_body_are_kept() {
        let raw = b"POST /a/b?x=1&y=%20 HTTP/1.1\r\nX-B: 2\r\nhost: orig.example\r\nx-a: 1\r\nX-A: 1bis\r\nCONTENT-length: 5\r\nCookie: a=b\r\nCookie: c=d\r\n\r\nhello";
        let p = target_mode().rewrite(raw).unwrap();
        assert_eq!(p.method(), "POST");
        let line = HostMode::default()
            .target_host_line("mirror:8080")
            .unwrap()
            .unwrap();
        assert_eq!(
            sent(&p, Some(&line)),
            b"POST /a/b?x=1&y=%20 HTTP/1.1\r\nX-B: 2\r\nHost: mirror-shadow:8080\r\nx-a: 1\r\nX-A: 1bis\r\nCONTENT-length: 5\r\nCookie: a=b\r\nCookie: c=d\r\n\r\nhello"
        );
        assert_eq!(p.len_with(Some(&line)), sent(&p, Some(&line)).len());
    }

    #[test]
    fn chunked_body_arrives_intact() {
        let raw = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, Transfer-Encoding\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
        let p = keep(false).rewrite(raw).unwrap();
        assert_eq!(
            p.bytes(),
            b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
        );
        assert_eq!(p.host_at(), None);
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Hop, close\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nX-End-To-End: 2\r\n\r\n";
        let p = keep(false).rewrite(raw).unwrap();
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.1\r\nHost: a\r\nX-End-To-End: 2\r\n\r\n"
        );
    }

    #[test]
    fn extra_headers_override_in_place_or_append() {
        let extra = vec![
            ExtraHeader::parse("x-tenant: mirror").unwrap(),
            ExtraHeader::parse("X-Shadow: 1").unwrap(),
        ];
        let mut r = Rewriter::new(
            HostMode {
                keep_captured: true,
                no_suffix: true,
            },
            extra,
        );
        let raw = b"GET / HTTP/1.1\r\nX-Tenant: a\r\nHost: h\r\nX-TENANT: b\r\nAccept: */*\r\n\r\n";
        let p = r.rewrite(raw).unwrap();
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.1\r\nx-tenant: mirror\r\nHost: h\r\nAccept: */*\r\nX-Shadow: 1\r\n\r\n"
        );
        // A --header Host wins over the mode: no per-target Host line.
        let mut r = Rewriter::new(
            HostMode::default(),
            vec![ExtraHeader::parse("Host: forced").unwrap()],
        );
        assert!(!r.host_from_target());
        let p = r.rewrite(raw).unwrap();
        assert_eq!(p.host_at(), None);
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.1\r\nX-Tenant: a\r\nHost: forced\r\nX-TENANT: b\r\nAccept: */*\r\n\r\n"
        );
    }

    #[test]
    fn host_modes() {
        let raw = b"GET / HTTP/1.1\r\nHost:   Api.Example.com:8443 \r\nHost: dup\r\nA: 1\r\n\r\n";
        // Captured Host with the suffix: Envoy's mirror Host.
        let p = keep(true).rewrite(raw).unwrap();
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.1\r\nHost: Api.Example.com-shadow:8443\r\nA: 1\r\n\r\n"
        );
        // Captured Host untouched (spacing and duplicate too).
        let p = keep(false).rewrite(raw).unwrap();
        assert_eq!(p.bytes(), &raw[..]);
        // Target Host: a slot where the first Host was, duplicates dropped.
        let p = target_mode().rewrite(raw).unwrap();
        assert_eq!(
            sent(&p, Some(&host_line("t"))),
            b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\n\r\n"
        );
    }

    #[test]
    fn captured_host_errors_are_per_request() {
        let mut r = keep(true);
        for (raw, want) in [
            (&b"GET / HTTP/1.1\r\nHost: \r\n\r\n"[..], HostError::Empty),
            (&b"GET / HTTP/1.1\r\nA: b\r\n\r\n"[..], HostError::Empty),
            (
                &b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"[..],
                HostError::UnbracketedIpv6 { host: "::1".into() },
            ),
        ] {
            assert_eq!(r.rewrite(raw), Err(Unsendable::Host(want)));
        }
        // The rewriter is still usable after an error.
        let p = r
            .rewrite(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
            .unwrap();
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.1\r\nHost: [::1]-shadow:80\r\n\r\n"
        );
    }

    #[test]
    fn missing_host_gets_one_after_the_request_line() {
        let p = target_mode()
            .rewrite(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n")
            .unwrap();
        assert_eq!(
            sent(&p, Some(&host_line("t"))),
            b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\n\r\n"
        );
    }

    #[test]
    fn http10_keeps_alive_only_when_it_asked() {
        let p = keep(false)
            .rewrite(
                b"GET / HTTP/1.0\r\nConnection: Keep-Alive, X-Hop\r\nX-Hop: 1\r\nHost: a\r\n\r\n",
            )
            .unwrap();
        assert_eq!(
            p.bytes(),
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n"
        );
        assert!(p.keep_alive());
        // Nothing added: the target closes the connection after answering.
        let p = keep(false).rewrite(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(p.bytes(), b"GET / HTTP/1.0\r\n\r\n");
        assert!(!p.keep_alive());
        // HTTP/1.1 persists unless a --header says otherwise.
        let p = keep(false)
            .rewrite(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert!(p.keep_alive());
        let mut r = Rewriter::new(
            HostMode {
                keep_captured: true,
                no_suffix: true,
            },
            vec![ExtraHeader::parse("Connection: close").unwrap()],
        );
        assert!(!r.rewrite(b"GET / HTTP/1.1\r\n\r\n").unwrap().keep_alive());
    }

    #[test]
    fn bare_lf_line_endings_are_kept() {
        let raw = b"GET / HTTP/1.1\nHost: a\nX-A: one\nConnection: close\n\n";
        let p = keep(false).rewrite(raw).unwrap();
        assert_eq!(p.bytes(), b"GET / HTTP/1.1\nHost: a\nX-A: one\n\n");
        // Obsolete line folding is rejected by the head parser (RFC 9112
        // §5.2 lets a server reject it): such a request is not replayed.
        let folded = b"GET / HTTP/1.1\r\nHost: a\r\nX-F: one\r\n two\r\n\r\n";
        assert_eq!(
            keep(false).rewrite(folded),
            Err(Unsendable::Skip(SkipReason::Unparsable))
        );
    }

    #[test]
    fn unreplayable_requests_are_skipped() {
        let mut r = keep(false);
        let good = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody".to_vec();
        let mut ex = Exchange {
            id: 1,
            conn: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            server: "127.0.0.1:2".parse().unwrap(),
            req_first_ns: 0,
            req_last_ns: 0,
            flags: Flags::empty(),
            request: good.clone(),
            request_len: good.len() as u64,
            response: None,
        };
        for (flags, want) in [
            (Flags::REQ_BODY_CAPPED, SkipReason::BodyCapped),
            (Flags::REQ_INCOMPLETE, SkipReason::Incomplete),
            (Flags::REQ_GAP, SkipReason::Incomplete),
            (Flags::REQ_SNAPLEN, SkipReason::Incomplete),
        ] {
            let mut e = ex.clone();
            e.flags = flags;
            assert_eq!(r.prepare(&mut e), Err(Unsendable::Skip(want)));
        }
        let mut e = ex.clone();
        e.request_len += 1;
        assert_eq!(
            r.prepare(&mut e),
            Err(Unsendable::Skip(SkipReason::Incomplete))
        );
        for (raw, want) in [
            (
                &b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort"[..],
                SkipReason::Incomplete,
            ),
            (
                &b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"[..],
                SkipReason::Upgrade,
            ),
            (&b"NOT HTTP\r\n\r\n"[..], SkipReason::Unparsable),
            (
                &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
                SkipReason::Unparsable,
            ),
        ] {
            assert_eq!(
                r.rewrite(raw),
                Err(Unsendable::Skip(want)),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        // Flags that do not concern the request do not matter.
        ex.flags = Flags::RESP_MISSING | Flags::MIDSTREAM;
        let p = r.prepare(&mut ex).unwrap();
        assert_eq!(p.bytes(), &good[..]);
        // Bytes after the Content-Length body are not part of the message.
        let p = r
            .rewrite(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n")
            .unwrap();
        assert_eq!(p.bytes(), b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn header() -> impl Strategy<Value = (String, String)> {
            let name = prop::sample::select(vec![
                "Accept",
                "accept",
                "X-Id",
                "x-id",
                "X-ID",
                "Cookie",
                "User-Agent",
                "Content-Type",
                "Authorization",
            ]);
            (name, "[ -~&&[^\r\n]]{0,20}").prop_map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
        }

        proptest! {
            /// Whatever the end-to-end headers (order, case, duplicates) and
            /// the body, the target receives the captured bytes with only the
            /// Host line changed.
            #[test]
            fn only_the_host_line_changes(
                headers in prop::collection::vec(header(), 0..12),
                host_pos in 0usize..12,
                body in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let mut lines: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
                let pos = host_pos.min(lines.len());
                lines.insert(pos, "Host: captured\r\n".into());
                lines.push(format!("Content-Length: {}\r\n", body.len()));
                let head = format!("PUT /p HTTP/1.1\r\n{}\r\n", lines.concat());
                let mut raw = head.clone().into_bytes();
                raw.extend_from_slice(&body);

                let kept = keep(false).rewrite(&raw).unwrap();
                prop_assert_eq!(kept.bytes(), &raw[..]);

                let p = target_mode().rewrite(&raw).unwrap();
                let want = head.replacen("Host: captured\r\n", "Host: t-shadow\r\n", 1);
                let mut want = want.into_bytes();
                want.extend_from_slice(&body);
                prop_assert_eq!(sent(&p, Some(&host_line("t-shadow"))), want);
            }
        }
    }
}
