//! One HTTP/1.x message being framed: its bytes as stored (head, body up
//! to the cap and the room for chunked framing), its length on the wire, its
//! capture times, and what went missing.

use shadowtap_format::http1::{BodyKind, Framer, FramingError, Status};

use crate::reasm::SegMeta;

/// Room for chunked framing in what is stored of a body: at most
/// `max_body + framing_room(max_body)` bytes of a body are stored, data and
/// framing together, so 1-byte chunks with long extensions stay bounded too
/// (a body with more framing than that room is capped).
const MIN_FRAMING_ROOM: u64 = 64 * 1024;

/// The chunked framing stored with a body of at most `max_body` data bytes:
/// half the cap, or [`MIN_FRAMING_ROOM`] for small caps. Half, not all of
/// it: at the largest cap ([`crate::daemon::MAX_BODY_LIMIT`]) a request and
/// a response, each with its head, its data and its framing, must still fit
/// in one block of the log format (`MAX_BLOCK_RAW_LEN`), or the exchange
/// could not be written at all.
pub(crate) fn framing_room(max_body: u64) -> u64 {
    (max_body / 2).max(MIN_FRAMING_ROOM)
}

/// What [`Msg::feed`] did with its input.
pub(super) struct Fed {
    pub consumed: usize,
    pub complete: bool,
    /// Empty lines before the start line, which the framer skips.
    pub skipped: usize,
}

/// A message being framed.
#[derive(Debug)]
pub(super) struct Msg {
    pub framer: Framer,
    /// The entry: for a request its own, for a response the request it
    /// answers (None: an orphan response, framed and dropped).
    pub target: Option<u64>,
    pub bytes: Vec<u8>,
    pub wire: u64,
    pub head_len: Option<usize>,
    /// Bytes stored up to here at most (the body cap, a gap).
    pub store_until: u64,
    /// Bound of the stored bytes once the head is known: head, body cap and
    /// the chunked framing room. A body that goes beyond it is capped.
    pub store_cap: u64,
    pub first_ns: Option<u64>,
    pub last_ns: u64,
    pub gap: bool,
    pub snaplen: bool,
}

impl Msg {
    pub fn new(framer: Framer, target: Option<u64>) -> Msg {
        Msg {
            framer,
            target,
            bytes: Vec::new(),
            wire: 0,
            head_len: None,
            store_until: u64::MAX,
            store_cap: u64::MAX,
            first_ns: None,
            last_ns: 0,
            gap: false,
            snaplen: false,
        }
    }

    /// Feeds bytes; returns how many were consumed, whether the message is
    /// complete, and how many of the consumed bytes were empty lines before
    /// its start line (skipped, kept in no exchange).
    pub fn feed(
        &mut self,
        meta: SegMeta,
        input: &[u8],
        max_body: u64,
    ) -> Result<Fed, FramingError> {
        let lead_before = self.framer.leading_skipped();
        let p = self.framer.feed(input)?;
        let lead = (self.framer.leading_skipped() - lead_before).min(p.consumed);
        let body = &input[lead..p.consumed];
        if !body.is_empty() {
            // Segments reach here in stream order, not capture order: an
            // out-of-order or retransmitted segment carries an earlier or
            // later time than its neighbours, so the message spans the
            // earliest and the latest of them.
            self.first_ns = Some(self.first_ns.map_or(meta.ts_ns, |t| t.min(meta.ts_ns)));
            self.last_ns = self.last_ns.max(meta.ts_ns);
        }
        if self.head_len.is_none() {
            if let Some(h) = self.framer.head() {
                self.head_len = Some(h.len);
                self.store_cap = (h.len as u64)
                    .saturating_add(max_body)
                    .saturating_add(framing_room(max_body));
                self.store_until = self.store_until.min(self.store_cap);
            }
        }
        if let Some(at) = self.framer.capped_at() {
            // The framer counts the empty lines it skipped; `wire` does not.
            let at = at.saturating_sub(self.framer.leading_skipped() as u64);
            self.store_until = self.store_until.min(at);
        }
        let before = self.wire;
        self.wire += body.len() as u64;
        let store_end = self.wire.min(self.store_until);
        if store_end > before {
            self.bytes
                .extend_from_slice(&body[..(store_end - before) as usize]);
        }
        Ok(Fed {
            consumed: p.consumed,
            complete: p.status == Status::Complete,
            skipped: lead,
        })
    }

    /// Accounts `len` missing bytes inside a body whose framing does not
    /// depend on them (Content-Length with enough left, or read-until-close).
    /// Returns false when the gap cannot be stepped over.
    pub fn skip_gap(&mut self, len: u64) -> bool {
        let Some(head) = self.framer.head() else {
            return false;
        };
        match head.body {
            BodyKind::Length(n) if n.saturating_sub(self.framer.body_consumed()) >= len => {}
            BodyKind::UntilClose => {}
            _ => return false,
        }
        self.store_until = self.store_until.min(self.wire);
        static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(ZEROS.len() as u64) as usize;
            match self.framer.feed(&ZEROS[..n]) {
                Ok(p) if p.consumed == n => {}
                _ => return false,
            }
            left -= n as u64;
        }
        self.wire += len;
        self.gap = true;
        true
    }

    /// The body went beyond the cap: more than `max_body` body bytes
    /// (decoded chunk data), or more chunked framing than the room for it.
    pub fn capped(&self) -> bool {
        self.framer.capped_at().is_some() || self.wire > self.store_cap
    }
}
