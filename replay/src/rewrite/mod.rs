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
//! - **`--rewrite-uri`** rewrites the request target's path and query, and
//!   **`--remove-header`** drops header lines ([`Edits`], see
//!   [`edit`](self::edit)'s docs); the rest of the request line is kept.
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

use shadowtap_format::http1::{self, field_at, fields_start, trim, BodyKind, Field};
use shadowtap_format::{Exchange, Flags};

use crate::stats::SkipReason;

mod edit;
mod shadow;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_edit;

pub use edit::{EditArgError, Edits, RemoveHeader, UriRewrite};

use shadow::shadow_host_into;
pub use shadow::{shadow_host, HostError, HostLine, HostMode, LineEnding, SHADOW_SUFFIX};

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
        if name.is_empty() || !name.bytes().all(http1::is_tchar) {
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
    /// Where a target's path prefix goes: the start of the request target's
    /// path (`None`: an asterisk-form or unusual target, sent as is).
    path_at: Option<usize>,
    /// How the per-target Host line ends.
    host_ending: LineEnding,
    method_len: usize,
    keep_alive: bool,
    /// The id of the request in the replay (see
    /// [`request_id`](crate::compare::live::request_id)), set by the feed.
    origin: u64,
}

impl Prepared {
    /// The id of the recorded request this one replays: the id
    /// `--compare` reports it by, and the origin `--record-responses`
    /// writes (0 until the feed sets it).
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Sets [`Prepared::origin`].
    pub(crate) fn set_origin(&mut self, origin: u64) {
        self.origin = origin;
    }

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

    /// Where a target's path prefix is inserted, if anywhere.
    pub fn path_at(&self) -> Option<usize> {
        self.path_at
    }

    /// Writes into `out` (cleared first) the bytes to send to a target whose
    /// Host line is `host_line` and whose URL has the path prefix `prefix`
    /// (see [`Target`](crate::client::Target)): [`Prepared::parts`] with
    /// `prefix` put before the request's path.
    pub fn write_with_prefix(
        &self,
        host_line: Option<&HostLine>,
        prefix: &[u8],
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let parts = self.parts(host_line);
        out.reserve(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        // The prefix is in the request line, before any Host line: in the
        // first part.
        match self.path_at.filter(|&at| at <= parts[0].len()) {
            Some(at) if !prefix.is_empty() => {
                out.extend_from_slice(&parts[0][..at]);
                out.extend_from_slice(prefix);
                out.extend_from_slice(&parts[0][at..]);
            }
            _ => out.extend_from_slice(parts[0]),
        }
        out.extend_from_slice(parts[1]);
        out.extend_from_slice(parts[2]);
    }
}

/// Rewrites captured requests (see the module docs). Holds reusable scratch
/// space: one rewriter per thread.
#[derive(Debug)]
pub struct Rewriter {
    mode: HostMode,
    extra: Vec<ExtraHeader>,
    /// `--rewrite-uri`, `--remove-header`.
    edits: Edits,
    /// `--header` Host, which wins over the mode.
    extra_host: bool,
    /// Reused: the `Connection` header lines.
    conn_values: Vec<Field>,
    /// Reused: which extra headers already replaced a line.
    extra_done: Vec<bool>,
    /// Reused output buffer (swapped with the request buffer it consumed).
    scratch: Vec<u8>,
}

impl Rewriter {
    /// A rewriter for a Host mode and `--header`s.
    pub fn new(mode: HostMode, extra: Vec<ExtraHeader>) -> Rewriter {
        let extra_host = extra.iter().any(|h| h.name.eq_ignore_ascii_case("host"));
        let n = extra.len();
        Rewriter {
            mode,
            extra,
            edits: Edits::default(),
            extra_host,
            conn_values: Vec::new(),
            extra_done: vec![false; n],
            scratch: Vec::new(),
        }
    }

    /// Adds `--rewrite-uri` and `--remove-header` edits.
    pub fn with_edits(mut self, edits: Edits) -> Rewriter {
        self.edits = edits;
        self
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
        let raw = &raw[http1::leading_empty_lines(raw)..];
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
        // The head parsed: its start line ends, and it ends in a blank line.
        let req_line_end = fields_start(h);
        let blank_start = http1::blank_line_start(h);

        self.conn_values.clear();
        self.conn_values
            .extend(http1::fields(h).filter(|f| f.is(h, b"connection")));

        // Added lines end as the request line does.
        let ending = LineEnding::of(&h[..req_line_end]);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.reserve(msg_end + 64 + self.extra.iter().map(|e| e.line.len() + 2).sum::<usize>());
        let path_at = self.write_request_line(&mut out, &h[..req_line_end]);
        // Where the request line ends in `out`: `--rewrite-uri` may have
        // made it shorter or longer than the captured one.
        let out_line_end = out.len();
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
        while let Some(line) = field_at(h, pos) {
            pos = line.line.end;
            let line_ending = LineEnding::of(&h[line.line.clone()]);
            if let Some(i) = self
                .extra
                .iter()
                .position(|e| line.is(h, e.name.as_bytes()))
            {
                if !self.extra_done[i] {
                    self.extra_done[i] = true;
                    out.extend_from_slice(&self.extra[i].line);
                    out.extend_from_slice(line_ending.as_bytes());
                }
                continue;
            }
            if self.edits.removes(h, &line) {
                continue;
            }
            if line.is(h, b"host") {
                if !replace_host {
                    out.extend_from_slice(&h[line.line.clone()]);
                } else if !host_seen {
                    host_ending = line_ending;
                    if let Err(e) =
                        self.emit_host(&mut out, &mut host_at, Some(line.value(h)), line_ending)
                    {
                        self.scratch = out;
                        return Err(e);
                    }
                }
                host_seen = true;
                continue;
            }
            if line.is(h, b"connection")
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
            out.extend_from_slice(&h[line.line]);
        }
        if replace_host && !host_seen {
            // No Host line: insert one right after the request line.
            let mut host_line = Vec::new();
            if let Err(e) = self.emit_host(&mut host_line, &mut host_at, None, ending) {
                self.scratch = out;
                return Err(e);
            }
            let at = out_line_end;
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
                        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
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
            path_at,
            host_ending,
            method_len,
            keep_alive,
            origin: 0,
        })
    }

    /// Writes the request line, its target rewritten by `--rewrite-uri`,
    /// and returns where in `out` the target's path starts (for a target's
    /// path prefix): an origin-form target's start, an absolute-form one's
    /// path (after the authority), `None` for any other form. (The head
    /// parsed: one space after the method and one after the target.)
    fn write_request_line(&self, out: &mut Vec<u8>, line: &[u8]) -> Option<usize> {
        let start = line
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |m| m + 1);
        let len = line[start..]
            .iter()
            .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
            .unwrap_or(line.len() - start);
        let at = out.len() + start;
        let rewritten = self.edits.rewrite_target(&line[start..start + len]);
        let target = match &rewritten {
            Some(target) => {
                out.extend_from_slice(&line[..start]);
                out.extend_from_slice(target);
                out.extend_from_slice(&line[start + len..]);
                &target[..]
            }
            None => {
                out.extend_from_slice(line);
                &line[start..start + len]
            }
        };
        if target.first() == Some(&b'/') {
            return Some(at);
        }
        crate::filter::origin_start(target).map(|o| at + o)
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

    fn is_hop_by_hop(&self, h: &[u8], line: &Field) -> bool {
        let Some(name) = line.name(h) else {
            return false;
        };
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
        self.conn_values.iter().any(|c| {
            c.value(h)
                .split(|&b| b == b',')
                .any(|tok| trim(tok).eq_ignore_ascii_case(name))
        })
    }
}
