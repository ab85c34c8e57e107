//! Keeping a response as it came off the wire (`replay --record-responses`):
//! its head, its body bytes with their chunked framing up to a cap, and
//! when its bytes were written and read.
//!
//! A [`RawResponse`] handed to
//! [`Session::send_recording`](super::Session::send_recording) is fed from
//! the same read path as [`Kept`](super::Kept): each stretch of bytes the
//! session's framer consumed. It keeps the final response's head (an
//! interim 1xx response is forgotten once complete, and noted) and the body
//! as on the wire, bounded the way a capture bounds it (`FORMAT.md` §6):
//! the cap counts body data (decoded chunk data; the chunked framing does
//! not count), a body with more is stored up to its first byte beyond the
//! cap and flagged `resp_body_capped`, and what is stored of a body, data
//! and framing together, stays within the cap plus
//! [`framing_room`]. Memory per session is that bound plus the head's.

use std::net::SocketAddr;

use shadowtap_format::http1::Framer;
use shadowtap_format::spec::framing_room;
use shadowtap_format::{Flags, Response};
use tokio::time::Instant;

use super::head::FinalHead;

/// The connection a request went out on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connection {
    /// The session's connections counted from 1 (0: none was opened).
    pub serial: u64,
    /// The local end, when the socket told it.
    pub local: Option<SocketAddr>,
    /// The target's end.
    pub peer: Option<SocketAddr>,
}

/// The final response of one request as read off the wire, bounded (see
/// the module docs).
pub struct RawResponse {
    max_body: u64,
    head: FinalHead,
    status: u16,
    body: Vec<u8>,
    /// Body bytes read, chunked framing included.
    body_len: u64,
    /// Body offset from which nothing more is stored.
    store_until: u64,
    capped: bool,
    /// An interim (1xx) response came before the final one.
    interim: bool,
    /// The final response was read to its end.
    complete: bool,
    written: Option<Instant>,
    first_byte: Option<Instant>,
    last_byte: Option<Instant>,
    connection: Connection,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("head_len", &self.head.len())
            .field("body_len", &self.body_len)
            .field("stored", &self.body.len())
            .field("capped", &self.capped)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl RawResponse {
    /// Keeps responses with bodies of up to `max_body` data bytes (the
    /// body cap).
    pub fn new(max_body: u64) -> RawResponse {
        RawResponse {
            max_body,
            head: FinalHead::default(),
            status: 0,
            body: Vec::new(),
            body_len: 0,
            store_until: 0,
            capped: false,
            interim: false,
            complete: false,
            written: None,
            first_byte: None,
            last_byte: None,
            connection: Connection::default(),
        }
    }

    /// The body cap.
    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// Forgets the last response (the buffers are kept).
    pub fn clear(&mut self) {
        self.head.clear();
        self.status = 0;
        self.body.clear();
        self.body_len = 0;
        self.store_until = 0;
        self.capped = false;
        self.interim = false;
        self.complete = false;
        self.written = None;
        self.first_byte = None;
        self.last_byte = None;
        self.connection = Connection::default();
    }

    /// Bytes kept: the head and what is stored of the body.
    pub fn stored_len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// When the request was written completely, if it was.
    pub fn written_at(&self) -> Option<Instant> {
        self.written
    }

    /// The connection the request went out on.
    pub fn connection(&self) -> Connection {
        self.connection
    }

    /// The response as the format records it, its buffers taken (the next
    /// response allocates new ones), and the flags that say what is
    /// missing of it: `None` with `resp_missing` when no final head was
    /// read; `resp_incomplete` when it ended early, `resp_body_capped`
    /// past the cap, `interim` after a 1xx. `wall` turns an instant into
    /// nanoseconds since the Unix epoch; `done` is the response's last byte
    /// when the session saw none (it failed).
    pub fn take_response(
        &mut self,
        wall: impl Fn(Instant) -> u64,
        done: Instant,
    ) -> (Option<Response>, Flags) {
        let mut flags = Flags::empty();
        if self.interim {
            flags.insert(Flags::INTERIM);
        }
        if self.head.get().is_none() {
            flags.insert(Flags::RESP_MISSING);
            return (None, flags);
        }
        if !self.complete {
            flags.insert(Flags::RESP_INCOMPLETE);
        }
        if self.capped {
            flags.insert(Flags::RESP_BODY_CAPPED);
        }
        let last = self.last_byte.unwrap_or(done);
        let first = self.first_byte.unwrap_or(last);
        let response = Response {
            first_ns: wall(first),
            last_ns: wall(last),
            status: self.status,
            head: self.head.take(),
            body: std::mem::take(&mut self.body),
            body_len: self.body_len,
        };
        (Some(response), flags)
    }

    /// The request goes out on `connection`.
    pub(crate) fn connected(&mut self, connection: Connection) {
        self.connection = connection;
    }

    /// The request was written (and flushed) at `at`.
    pub(crate) fn written(&mut self, at: Instant) {
        self.written = Some(at);
    }

    /// Response bytes arrived at `at` (only the first time counts).
    pub(crate) fn arrived(&mut self, at: Instant) {
        self.first_byte.get_or_insert(at);
    }

    /// `bytes` were consumed by `framer` in one feed; its body had consumed
    /// `body_before` bytes before it.
    pub(crate) fn consumed(&mut self, framer: &Framer, bytes: &[u8], body_before: u64) {
        let split = self.head.consumed(framer, bytes, body_before);
        if split.completed {
            self.status = framer.head().and_then(|h| h.status).unwrap_or(0);
            self.store_until = self.max_body.saturating_add(framing_room(self.max_body));
        }
        let (head_n, body_n) = (split.head, split.body);
        if body_n == 0 || self.head.get().is_none() {
            return;
        }
        if let Some(at) = framer.capped_at() {
            // A message offset: the skipped empty lines and the head first.
            let skipped = framer.leading_skipped() as u64 + self.head.len() as u64;
            self.store_until = self.store_until.min(at.saturating_sub(skipped));
            self.capped = true;
        }
        let start = body_before;
        let end = body_before.saturating_add(body_n as u64);
        if end > self.store_until {
            // Past the cap, or more chunked framing than its room.
            self.capped = true;
        }
        let keep_end = end.min(self.store_until);
        if keep_end > start {
            let n = usize::try_from(keep_end - start)
                .unwrap_or(body_n)
                .min(body_n);
            self.body.extend_from_slice(&bytes[head_n..head_n + n]);
        }
        self.body_len = end;
    }

    /// An interim (1xx) response ended: what was kept of it goes, and the
    /// final response is flagged as having had one.
    pub(crate) fn interim_done(&mut self) {
        self.head.clear();
        self.interim = true;
    }

    /// The final response ended at `at` (complete, or completed by the
    /// close).
    pub(crate) fn response_done(&mut self, at: Instant) {
        self.complete = true;
        self.last_byte = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use shadowtap_format::http1::Status;

    use super::*;

    /// `wire` fed in pieces of `step` bytes, as a session reads it (with
    /// a body cap of `cap`).
    fn read(wire: &[u8], step: usize, cap: u64) -> RawResponse {
        let mut raw = RawResponse::new(cap);
        let mut framer = Framer::response("GET");
        framer.set_body_cap(Some(cap));
        let mut off = 0;
        while off < wire.len() {
            let end = (off + step).min(wire.len());
            let mut at = off;
            while at < end {
                let before = framer.body_consumed();
                let p = framer.feed(&wire[at..end]).unwrap();
                raw.consumed(&framer, &wire[at..at + p.consumed], before);
                at += p.consumed;
                if p.status == Status::Complete {
                    if framer.head().unwrap().is_interim() {
                        framer.reset_response("GET");
                        raw.interim_done();
                        continue;
                    }
                    raw.response_done(Instant::now());
                    return raw;
                }
                if p.consumed == 0 {
                    break;
                }
            }
            off = end;
        }
        raw
    }

    fn take(raw: &mut RawResponse) -> (Response, Flags) {
        let (r, flags) = raw.take_response(|_| 7, Instant::now());
        (r.unwrap(), flags)
    }

    #[test]
    fn a_response_is_kept_as_on_the_wire() {
        let wire =
            b"\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        for step in [1, 5, wire.len()] {
            let mut raw = read(wire, step, 100);
            let (r, flags) = take(&mut raw);
            assert_eq!(flags, Flags::empty(), "step {step}");
            assert_eq!(r.status, 200);
            assert_eq!(
                r.head,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            assert_eq!(r.body, b"3\r\nabc\r\n0\r\n\r\n");
            assert_eq!(r.body_len, 13);
            assert_eq!((r.first_ns, r.last_ns), (7, 7));
        }
    }

    #[test]
    fn a_body_past_the_cap_is_cut_at_its_first_byte_beyond_it() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
        let mut raw = read(wire, 3, 4);
        let (r, flags) = take(&mut raw);
        assert_eq!(flags, Flags::RESP_BODY_CAPPED);
        assert_eq!((r.body.as_slice(), r.body_len), (&b"0123"[..], 10));
        // Chunked: the cap counts data, the framing before it is kept.
        let wire =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        let mut raw = read(wire, 2, 4);
        let (r, flags) = take(&mut raw);
        assert_eq!(flags, Flags::RESP_BODY_CAPPED);
        assert_eq!(r.body, b"3\r\nabc\r\n3\r\nd");
        assert_eq!(r.body_len, 21);
        // Exactly the cap of data is whole and not flagged.
        let mut raw = read(wire, 4, 6);
        let (r, flags) = take(&mut raw);
        assert_eq!(flags, Flags::empty());
        assert_eq!(r.body.len(), 21);
    }

    #[test]
    fn interim_responses_are_noted_not_kept() {
        let wire =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        let mut raw = read(wire, 7, 100);
        let (r, flags) = take(&mut raw);
        assert_eq!(flags, Flags::INTERIM);
        assert_eq!(r.status, 201);
        assert_eq!(r.head, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(r.body, b"ok");
    }

    #[test]
    fn what_did_not_arrive_is_flagged() {
        let mut raw = RawResponse::new(10);
        assert_eq!(
            raw.take_response(|_| 0, Instant::now()),
            (None, Flags::RESP_MISSING)
        );
        // A head and part of the body, then the connection failed.
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
        let mut raw = read(wire, 100, 100);
        let (r, flags) = take(&mut raw);
        assert_eq!(flags, Flags::RESP_INCOMPLETE);
        assert_eq!((r.body.as_slice(), r.body_len), (&b"01234"[..], 5));
        raw.clear();
        assert_eq!(
            raw.take_response(|_| 0, Instant::now()).1,
            Flags::RESP_MISSING
        );
    }
}
