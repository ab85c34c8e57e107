//! The exchanges of a connection being assembled: how a finished or
//! aborted message settles into its entry, in one place for both ways a
//! message ends, and how entries leave as [`Exchange`]s.

use std::borrow::Cow;

use shadowtap_format::http1::{redact, scan_request_line, Head};
use shadowtap_format::{Exchange, Flags, Response};

use super::msg::Msg;
use super::{response_of, set, Abort, Conn, Ctx, Mode};
use crate::hunt::Hunter;
use crate::reasm::{Reassembler, SegMeta};
use crate::RequestEvent;

/// One exchange being assembled.
#[derive(Debug)]
pub(super) struct Entry {
    pub seq: u64,
    pub req_start_offset: u64,
    pub request: Vec<u8>,
    pub request_len: u64,
    pub req_first_ns: u64,
    pub req_last_ns: u64,
    pub method: Option<Cow<'static, str>>,
    pub upgrade_req: bool,
    pub req_done: bool,
    pub response: Option<Response>,
    pub resp_done: bool,
    pub flags: Flags,
}

impl Entry {
    pub fn mem(&self) -> usize {
        self.request.len()
            + self
                .response
                .as_ref()
                .map_or(0, |r| r.head.len() + r.body.len())
    }

    /// Sets the flags of one side (`bits`: incomplete, gap, snap length,
    /// body capped, malformed) from how its message ended.
    fn mark(&mut self, bits: [Flags; 5], o: &Outcome) {
        let [incomplete, gap, snaplen, capped, malformed] = bits;
        set(&mut self.flags, incomplete, o.incomplete);
        set(&mut self.flags, gap, o.gap);
        set(&mut self.flags, snaplen, o.snaplen);
        set(&mut self.flags, capped, o.capped);
        set(&mut self.flags, malformed, o.malformed);
    }
}

const REQ_BITS: [Flags; 5] = [
    Flags::REQ_INCOMPLETE,
    Flags::REQ_GAP,
    Flags::REQ_SNAPLEN,
    Flags::REQ_BODY_CAPPED,
    Flags::REQ_MALFORMED,
];

const RESP_BITS: [Flags; 5] = [
    Flags::RESP_INCOMPLETE,
    Flags::RESP_GAP,
    Flags::RESP_SNAPLEN,
    Flags::RESP_BODY_CAPPED,
    Flags::RESP_MALFORMED,
];

/// How a message ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    /// Framed to its end.
    Complete,
    /// Cut short.
    Abort(Abort),
}

/// What the flags of a message's side say about it.
struct Outcome {
    incomplete: bool,
    /// It was cut short by missing bytes.
    cut_by_gap: bool,
    /// Bytes went missing in it.
    gap: bool,
    snaplen: bool,
    capped: bool,
    malformed: bool,
}

impl Conn {
    /// Ends the message of direction `d` (complete, or cut short by a gap,
    /// a framing error, the end of its stream) and settles it into its
    /// entry. What was read of an incomplete message is kept in its
    /// exchange, flagged; bytes that cannot be (a head that never completed
    /// and is no request line, a response head cut short) are counted in
    /// `skipped_bytes`.
    pub(super) fn end_msg(
        &mut self,
        d: usize,
        ending: Ending,
        meta: SegMeta,
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) {
        let Mode::Msg(mut boxed) = std::mem::replace(&mut self.dirs[d].mode, Mode::Idle) else {
            return;
        };
        let m = &mut *boxed;
        let head = m.framer.take_head();
        let capped = m.capped();
        let complete = ending == Ending::Complete;
        if complete && capped {
            ctx.stats.capped_bodies += 1;
        }
        let cut_by_gap = ending == Ending::Abort(Abort::Gap);
        let outcome = Outcome {
            incomplete: !complete,
            cut_by_gap,
            gap: cut_by_gap || m.gap,
            snaplen: m.snaplen,
            capped,
            malformed: ending == Ending::Abort(Abort::Framing)
                || head.as_ref().is_some_and(|h| h.malformed),
        };
        // A complete message has its first byte's time; one cut short
        // before any byte keeps what its entry had.
        let first_ns = m.first_ns.or(complete.then_some(meta.ts_ns));
        let settled = if self.is_client(d) {
            self.end_request(d, m, head.as_ref(), &outcome, first_ns, ctx)
        } else {
            let first_ns = first_ns.unwrap_or(0);
            self.end_response(m, head.as_ref(), &outcome, first_ns, peer, ctx)
        };
        if settled {
            self.spare = Some(boxed);
            self.try_emit(ctx);
        }
    }

    /// The request `m` of direction `d` ended: its entry takes it. False
    /// when there was nothing to settle.
    fn end_request(
        &mut self,
        d: usize,
        m: &mut Msg,
        head: Option<&Head>,
        o: &Outcome,
        first_ns: Option<u64>,
        ctx: &mut Ctx<'_>,
    ) -> bool {
        let Some(seq) = m.target else { return false };
        // Without a head, a request line read this far still tells how to
        // frame the response (HEAD, CONNECT).
        let line_method = if head.is_some() || !o.incomplete {
            None
        } else {
            match scan_request_line(&m.bytes) {
                Some(l) => Some(Cow::Owned(l.method.to_string())),
                None if o.cut_by_gap => None,
                None => {
                    // Bytes that never framed as a request: not an exchange.
                    ctx.stats.skipped_bytes += m.wire;
                    if self.queue.back().is_some_and(|e| e.seq == seq) {
                        self.queue.pop_back();
                    }
                    return false;
                }
            }
        };
        let (conn, addrs, client) = (self.id, self.addrs, self.client.unwrap_or(d));
        let Some(e) = self.entry_mut(seq) else {
            return false;
        };
        e.request = std::mem::take(&mut m.bytes);
        e.request_len = m.wire;
        if let Some(t) = first_ns {
            e.req_first_ns = t;
            e.req_last_ns = m.last_ns;
        }
        e.req_done = true;
        e.mark(REQ_BITS, o);
        e.method = line_method;
        if let Some(h) = head {
            e.method = h.method.clone();
            if !o.incomplete {
                e.upgrade_req = h.upgrade;
                if h.upgrade {
                    e.flags |= Flags::UPGRADE;
                }
            }
            let hl = h.len.min(e.request.len());
            if redact(&mut e.request[..hl], &ctx.cfg.redact) {
                e.flags |= Flags::REDACTED;
            }
        }
        if o.incomplete {
            return true;
        }
        ctx.stats.requests += 1;
        ctx.sink.request(&RequestEvent {
            conn,
            index: e.seq,
            client: addrs[client],
            server: addrs[1 - client],
            first_ns: e.req_first_ns,
            last_ns: e.req_last_ns,
            flags: e.flags,
            request: &e.request,
            request_len: e.request_len,
        });
        if e.upgrade_req {
            ctx.stats.upgrades += 1;
            self.dirs[d].mode = if ctx.cfg.responses {
                Mode::Paused(Hunter::new(true))
            } else {
                Mode::Stopped
            };
        }
        true
    }

    /// The response `m` ended: the request it answers takes it. False when
    /// there was nothing to settle.
    fn end_response(
        &mut self,
        m: &mut Msg,
        head: Option<&Head>,
        o: &Outcome,
        first_ns: u64,
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) -> bool {
        let Some(target) = m.target else {
            ctx.stats.orphan_responses += 1;
            return false;
        };
        if head.is_none() && !o.incomplete {
            return false;
        }
        let redact_names = &ctx.cfg.redact;
        let Some(e) = self.entry_mut(target) else {
            return false;
        };
        match head {
            Some(h) if h.is_interim() => {
                e.flags |= Flags::INTERIM;
                if !o.incomplete {
                    return false;
                }
                // An interim response cut short: the final one is missing.
                ctx.stats.skipped_bytes += m.wire;
            }
            Some(h) => e.response = Some(response_of(m, h, first_ns, redact_names, &mut e.flags)),
            // A status line and headers cut short: no response to keep.
            None => ctx.stats.skipped_bytes += m.wire,
        }
        e.resp_done = true;
        e.mark(RESP_BITS, o);
        let Some(h) = head.filter(|_| !o.incomplete) else {
            return true;
        };
        if h.upgrade {
            e.flags |= Flags::UPGRADE;
            self.ignored = true;
            for dir in &mut self.dirs {
                dir.mode = Mode::Stopped;
            }
        } else if e.upgrade_req {
            // The server declined the upgrade: HTTP/1.x goes on.
            e.flags.remove(Flags::UPGRADE);
            if let Some(c) = self.client {
                if let Mode::Paused(mut h) = std::mem::replace(&mut self.dirs[c].mode, Mode::Idle) {
                    let mut dropped = 0;
                    let held = h.take_from(0, &mut dropped);
                    for p in held {
                        self.on_data(c, p.meta, p.offset, &p.bytes, peer, ctx);
                    }
                }
            }
        }
        true
    }

    pub(super) fn try_emit(&mut self, ctx: &mut Ctx<'_>) {
        while self
            .queue
            .front()
            .is_some_and(|e| e.req_done && e.resp_done)
        {
            if let Some(e) = self.queue.pop_front() {
                self.emit(e, ctx);
            }
        }
    }

    pub(super) fn emit(&mut self, e: Entry, ctx: &mut Ctx<'_>) {
        let c = self.client.unwrap_or(0);
        let index = e.seq;
        *ctx.next_id += 1;
        let ex = Exchange {
            req_first_ns: e.req_first_ns,
            req_last_ns: e.req_last_ns,
            flags: e.flags,
            request_len: e.request_len,
            response: e.response,
            ..Exchange::new(
                *ctx.next_id,
                self.id,
                self.addrs[c],
                self.addrs[1 - c],
                0,
                e.request,
            )
        };
        ctx.stats.exchanges += 1;
        for f in [Flags::REQ_MALFORMED, Flags::RESP_MALFORMED] {
            ctx.stats.malformed += u64::from(ex.flags.contains(f));
        }
        let missing = Flags::REQ_INCOMPLETE
            | Flags::REQ_GAP
            | Flags::RESP_INCOMPLETE
            | Flags::RESP_GAP
            | Flags::RESP_MISSING;
        if ex.flags.intersects(missing) {
            ctx.stats.incomplete += 1;
        }
        ctx.sink.answered(index, &ex);
        ctx.sink.exchange(ex);
    }
}
