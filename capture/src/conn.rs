//! HTTP/1.x exchange extraction from the two reassembled byte streams of one
//! TCP connection.
//!
//! Each direction is in one of a few modes: waiting at a message boundary
//! (`Idle`), framing a message (`Msg`, with a [`Framer`]), looking for the
//! next message start (`Hunting`, after a mid-stream join, a gap or bytes
//! that did not frame), holding the client's bytes while an upgrade request
//! waits for its answer (`Paused`), or done (`Stopped`). When responses are
//! not kept, the server's direction passes its bytes over unread (`Unread`).
//!
//! Requests open an entry in a per-connection queue when their first byte
//! arrives; responses pair with the oldest entry that has no final response
//! yet. An entry is emitted as an [`Exchange`] once its request and its final
//! response are both complete, or when the connection ends, in request
//! order. Body bytes beyond the cap are counted, not kept; bytes missing from
//! the capture are never glued over: a message with a gap keeps the bytes
//! before it, and a gap inside a body of known length is accounted and the
//! message continues to its end so the next message is still found.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;

use shadowtap_format::http1::{redact, scan_request_line, BodyKind, Framer, Status};
use shadowtap_format::{Exchange, Flags, Response};

use crate::hunt::{Found, Hunter, Piece, Want};
use crate::reasm::{Reassembler, SegMeta};
use crate::{ExchangeSink, RequestEvent};

/// Largest amount of client bytes held while an upgrade request waits.
const MAX_PAUSED: usize = 64 * 1024;

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

/// HTTP extraction settings shared by every connection.
#[derive(Clone, Debug)]
pub(crate) struct HttpConfig {
    pub max_body: u64,
    /// Lower-case header names whose values are replaced.
    pub redact: Vec<String>,
    pub responses: bool,
    /// Give a connection up as "not HTTP" after this many bytes were
    /// skipped without any message found (None: never).
    pub give_up_after: Option<u64>,
}

/// Counters of the HTTP layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests seen complete on the wire.
    pub requests: u64,
    /// Exchanges emitted.
    pub exchanges: u64,
    /// Exchanges emitted with a part missing (incomplete, gap, no response).
    pub incomplete: u64,
    /// Responses that matched no request (the capture missed the request).
    pub orphan_responses: u64,
    /// Messages whose bytes did not frame as HTTP/1.x (a head over the
    /// bound, an unreadable start line, broken chunked framing).
    pub framing_errors: u64,
    /// Messages recorded flagged `req_malformed` or `resp_malformed` (an
    /// exchange with both counts twice): not strict HTTP/1.x, kept raw as
    /// far as they were read.
    pub malformed: u64,
    /// Bytes of tracked connections kept in no exchange: skipped while
    /// looking for a message start, empty lines before a start line, after
    /// a framing error, or a head that never completed and does not start
    /// with a request line.
    pub skipped_bytes: u64,
    /// Connections that switched protocols (CONNECT, Upgrade).
    pub upgrades: u64,
    /// Bodies longer than the body cap.
    pub capped_bodies: u64,
    /// Connections given up as not HTTP.
    pub not_http: u64,
}

impl HttpStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &HttpStats) {
        self.requests += o.requests;
        self.exchanges += o.exchanges;
        self.incomplete += o.incomplete;
        self.orphan_responses += o.orphan_responses;
        self.framing_errors += o.framing_errors;
        self.malformed += o.malformed;
        self.skipped_bytes += o.skipped_bytes;
        self.upgrades += o.upgrades;
        self.capped_bodies += o.capped_bodies;
        self.not_http += o.not_http;
    }
}

/// What connection-level code needs from the pipeline.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a HttpConfig,
    pub sink: &'a mut dyn ExchangeSink,
    pub next_id: &'a mut u64,
    pub stats: &'a mut HttpStats,
}

/// One exchange being assembled.
#[derive(Debug)]
struct Entry {
    seq: u64,
    req_start_offset: u64,
    request: Vec<u8>,
    request_len: u64,
    req_first_ns: u64,
    req_last_ns: u64,
    method: Option<Cow<'static, str>>,
    upgrade_req: bool,
    req_done: bool,
    response: Option<Response>,
    resp_done: bool,
    flags: Flags,
}

impl Entry {
    fn mem(&self) -> usize {
        self.request.len()
            + self
                .response
                .as_ref()
                .map_or(0, |r| r.head.len() + r.body.len())
    }
}

/// What [`Msg::feed`] did with its input.
struct Fed {
    consumed: usize,
    complete: bool,
    /// Empty lines before the start line, which the framer skips.
    skipped: usize,
}

/// A message being framed.
#[derive(Debug)]
struct Msg {
    framer: Framer,
    /// The entry: for a request its own, for a response the request it
    /// answers (None: an orphan response, framed and dropped).
    target: Option<u64>,
    bytes: Vec<u8>,
    wire: u64,
    head_len: Option<usize>,
    /// Bytes stored up to here at most (the body cap, a gap).
    store_until: u64,
    /// Bound of the stored bytes once the head is known: head, body cap and
    /// the chunked framing room. A body that goes beyond it is capped.
    store_cap: u64,
    first_ns: Option<u64>,
    last_ns: u64,
    gap: bool,
    snaplen: bool,
}

impl Msg {
    fn new(framer: Framer, target: Option<u64>) -> Msg {
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
    fn feed(
        &mut self,
        meta: SegMeta,
        input: &[u8],
        max_body: u64,
    ) -> Result<Fed, shadowtap_format::http1::FramingError> {
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
    fn skip_gap(&mut self, len: u64) -> bool {
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
    fn capped(&self) -> bool {
        self.framer.capped_at().is_some() || self.wire > self.store_cap
    }
}

/// Why a message ends before it is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abort {
    /// Bytes went missing.
    Gap,
    /// Its bytes stopped framing as HTTP/1.x.
    Framing,
    /// Its stream ended.
    End,
}

#[derive(Debug)]
enum Mode {
    Idle,
    Hunting(Hunter),
    Msg(Box<Msg>),
    Paused(Hunter),
    Stopped,
    /// Requests only: the server's bytes are passed over unread.
    Unread,
}

#[derive(Debug)]
struct Dir {
    mode: Mode,
    /// The next message of this direction was found after joining the
    /// connection mid-stream.
    midstream: bool,
    /// The direction resynchronised (mid-stream join or gap): the next
    /// response is paired only if the TCP acknowledgments allow it.
    resynced: bool,
    ended: bool,
}

/// The HTTP/1.x state of one TCP connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: u64,
    addrs: [SocketAddr; 2],
    client: Option<usize>,
    dirs: [Dir; 2],
    queue: VecDeque<Entry>,
    next_seq: u64,
    found_any: bool,
    /// Bytes skipped while no message was ever found.
    hunt_total: u64,
    /// Connection given up (not HTTP, or switched protocols).
    pub ignored: bool,
    /// The allocation of the last completed message, for the next one.
    spare: Option<Box<Msg>>,
}

impl Conn {
    /// A connection between `addrs[0]` and `addrs[1]`. `client` is the
    /// index of the side that sends requests, when known; `syn_seen` says
    /// the streams start at their first byte (otherwise the capture joined
    /// mid-stream).
    pub fn new(
        id: u64,
        addrs: [SocketAddr; 2],
        client: Option<usize>,
        syn_seen: [bool; 2],
    ) -> Conn {
        let dir = |d: usize| Dir {
            mode: if syn_seen[d] && client.is_some() {
                Mode::Idle
            } else {
                Mode::Hunting(Hunter::new(true))
            },
            midstream: !syn_seen[d],
            resynced: !syn_seen[d],
            ended: false,
        };
        Conn {
            id,
            addrs,
            client,
            dirs: [dir(0), dir(1)],
            queue: VecDeque::new(),
            next_seq: 0,
            found_any: false,
            hunt_total: 0,
            ignored: false,
            spare: None,
        }
    }

    /// The client's side (0 or 1), once known.
    pub fn client(&self) -> Option<usize> {
        self.client
    }

    /// Sets the client side when it was not known (e.g. a SYN seen late).
    pub fn set_client(&mut self, c: usize) {
        if self.client.is_none() {
            self.client = Some(c);
        }
    }

    /// Bytes held by this connection's HTTP state.
    pub fn mem(&self) -> usize {
        let dir_mem = |d: &Dir| match &d.mode {
            Mode::Hunting(h) | Mode::Paused(h) => h.len(),
            Mode::Msg(m) => m.bytes.len(),
            _ => 0,
        };
        self.queue
            .iter()
            .map(|e| e.mem() + std::mem::size_of::<Entry>())
            .sum::<usize>()
            + dir_mem(&self.dirs[0])
            + dir_mem(&self.dirs[1])
    }

    /// Exchanges held (requests seen, not yet emitted).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    fn want(&self, d: usize) -> Want {
        match self.client {
            None => Want::Either,
            Some(c) if c == d => Want::Request,
            Some(_) => Want::Response,
        }
    }

    fn is_client(&self, d: usize) -> bool {
        self.client == Some(d)
    }

    /// The next bytes of direction `d`. `peer` is the other direction's
    /// reassembler (to read acknowledgment numbers in its sequence space).
    pub fn on_data(
        &mut self,
        d: usize,
        meta: SegMeta,
        offset: u64,
        bytes: &[u8],
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) {
        if self.ignored {
            return;
        }
        let mut backlog: VecDeque<Piece> = VecDeque::new();
        self.step(d, meta, offset, bytes, &mut backlog, peer, ctx);
        while let Some(p) = backlog.pop_front() {
            if self.ignored {
                return;
            }
            self.step(d, p.meta, p.offset, &p.bytes, &mut backlog, peer, ctx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        d: usize,
        meta: SegMeta,
        mut offset: u64,
        mut input: &[u8],
        backlog: &mut VecDeque<Piece>,
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) {
        loop {
            let want = self.want(d);
            match &mut self.dirs[d].mode {
                Mode::Stopped => {
                    ctx.stats.skipped_bytes += input.len() as u64;
                    return;
                }
                Mode::Unread => return,
                Mode::Paused(h) => {
                    if h.len() + input.len() > MAX_PAUSED {
                        h.reset_at_gap(&mut ctx.stats.skipped_bytes);
                    }
                    h.push(meta, offset, input);
                    return;
                }
                Mode::Hunting(h) => {
                    h.push(meta, offset, input);
                    let before = ctx.stats.skipped_bytes;
                    let found = h.find(want, &mut ctx.stats.skipped_bytes);
                    let Some((pos, what)) = found else {
                        self.maybe_give_up(ctx, ctx.stats.skipped_bytes - before);
                        return;
                    };
                    let pieces = h.take_from(pos, &mut ctx.stats.skipped_bytes);
                    if self.client.is_none() {
                        self.client = Some(if what == Found::Request { d } else { 1 - d });
                    }
                    self.found_any = true;
                    self.dirs[d].mode = Mode::Idle;
                    for p in pieces.into_iter().rev() {
                        backlog.push_front(p);
                    }
                    return;
                }
                Mode::Idle => {
                    let n = input
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    // Empty lines between messages belong to none.
                    ctx.stats.skipped_bytes += n as u64;
                    input = &input[n..];
                    offset += n as u64;
                    if input.is_empty() {
                        return;
                    }
                    if self.client.is_none() {
                        self.dirs[d].mode = Mode::Hunting(Hunter::new(true));
                        continue;
                    }
                    self.start_msg(d, meta, offset, peer, ctx);
                }
                Mode::Msg(m) => {
                    if input.is_empty() {
                        return;
                    }
                    match m.feed(meta, input, ctx.cfg.max_body) {
                        Ok(Fed {
                            consumed: n,
                            complete,
                            skipped,
                        }) => {
                            input = &input[n..];
                            offset += n as u64;
                            ctx.stats.skipped_bytes += skipped as u64;
                            if complete {
                                self.complete_msg(d, meta, peer, ctx);
                            }
                        }
                        Err(_) => {
                            ctx.stats.framing_errors += 1;
                            ctx.stats.skipped_bytes += input.len() as u64;
                            self.abort_msg(d, Abort::Framing, ctx);
                            self.dirs[d].mode = Mode::Hunting(Hunter::new(false));
                            self.dirs[d].resynced = true;
                            return;
                        }
                    }
                }
            }
            if input.is_empty() && !matches!(self.dirs[d].mode, Mode::Hunting(_)) {
                return;
            }
        }
    }

    fn maybe_give_up(&mut self, ctx: &mut Ctx<'_>, skipped_now: u64) {
        if self.found_any {
            return;
        }
        if let Some(limit) = ctx.cfg.give_up_after {
            self.hunt_total = self.hunt_total.saturating_add(skipped_now);
            if self.hunt_total > limit {
                self.ignored = true;
                ctx.stats.not_http += 1;
                for dir in &mut self.dirs {
                    dir.mode = Mode::Stopped;
                }
            }
        }
    }

    fn start_msg(
        &mut self,
        d: usize,
        meta: SegMeta,
        offset: u64,
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) {
        if self.is_client(d) {
            let seq = self.next_seq;
            self.next_seq += 1;
            let mut flags = Flags::empty();
            if std::mem::take(&mut self.dirs[d].midstream) {
                flags |= Flags::MIDSTREAM;
            }
            self.dirs[d].resynced = false;
            self.queue.push_back(Entry {
                seq,
                req_start_offset: offset,
                request: Vec::new(),
                request_len: 0,
                req_first_ns: meta.ts_ns,
                req_last_ns: meta.ts_ns,
                method: None,
                upgrade_req: false,
                req_done: false,
                response: None,
                resp_done: !ctx.cfg.responses,
                flags,
            });
            let framer = Framer::request().lenient().with_body_cap(ctx.cfg.max_body);
            self.dirs[d].mode = Mode::Msg(self.new_msg(framer, Some(seq)));
        } else {
            self.dirs[d].midstream = false;
            if !ctx.cfg.responses {
                // Requests only: responses are neither framed nor kept.
                self.dirs[d].mode = Mode::Unread;
                return;
            }
            let mut target = self.queue.iter().find(|e| !e.resp_done);
            if std::mem::take(&mut self.dirs[d].resynced) {
                // After a resync, a response can only answer a request whose
                // first bytes the server had acknowledged.
                if let (Some(e), Some(ack)) = (target, meta.ack) {
                    match peer.offset_of(ack) {
                        Some(acked) if acked > e.req_start_offset => {}
                        Some(_) => target = None,
                        None => {}
                    }
                }
            }
            let method = target.and_then(|e| e.method.as_deref()).unwrap_or("GET");
            let framer = Framer::response(method)
                .lenient()
                .with_body_cap(ctx.cfg.max_body);
            let seq = target.map(|e| e.seq);
            self.dirs[d].mode = Mode::Msg(self.new_msg(framer, seq));
        }
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let front = self.queue.front()?.seq;
        let idx = usize::try_from(seq.checked_sub(front)?).ok()?;
        self.queue.get_mut(idx)
    }

    /// A message in the spare allocation, if there is one.
    fn new_msg(&mut self, framer: Framer, target: Option<u64>) -> Box<Msg> {
        match self.spare.take() {
            Some(mut b) => {
                *b = Msg::new(framer, target);
                b
            }
            None => Box::new(Msg::new(framer, target)),
        }
    }

    fn complete_msg(&mut self, d: usize, meta: SegMeta, peer: &Reassembler, ctx: &mut Ctx<'_>) {
        let Mode::Msg(mut boxed) = std::mem::replace(&mut self.dirs[d].mode, Mode::Idle) else {
            return;
        };
        let m = &mut *boxed;
        let capped = m.capped();
        if capped {
            ctx.stats.capped_bodies += 1;
        }
        let head = m.framer.take_head();
        if self.is_client(d) {
            let responses = ctx.cfg.responses;
            let (conn, addrs, client) = (self.id, self.addrs, self.client.unwrap_or(d));
            let Some(e) = m.target.and_then(|s| self.entry_mut(s)) else {
                return;
            };
            e.request = std::mem::take(&mut m.bytes);
            e.request_len = m.wire;
            e.req_first_ns = m.first_ns.unwrap_or(meta.ts_ns);
            e.req_last_ns = m.last_ns;
            e.req_done = true;
            set(&mut e.flags, Flags::REQ_GAP, m.gap);
            set(&mut e.flags, Flags::REQ_SNAPLEN, m.snaplen);
            set(&mut e.flags, Flags::REQ_BODY_CAPPED, capped);
            if let Some(h) = &head {
                set(&mut e.flags, Flags::REQ_MALFORMED, h.malformed);
                e.method = h.method.clone();
                e.upgrade_req = h.upgrade;
                if h.upgrade {
                    e.flags |= Flags::UPGRADE;
                }
                let hl = h.len.min(e.request.len());
                if redact(&mut e.request[..hl], &ctx.cfg.redact) {
                    e.flags |= Flags::REDACTED;
                }
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
                self.dirs[d].mode = if responses {
                    Mode::Paused(Hunter::new(true))
                } else {
                    Mode::Stopped
                };
            }
        } else {
            let Some(target) = m.target else {
                ctx.stats.orphan_responses += 1;
                return;
            };
            let Some(h) = head else { return };
            let redact_names = &ctx.cfg.redact;
            let Some(e) = self.entry_mut(target) else {
                return;
            };
            if h.is_interim() {
                e.flags |= Flags::INTERIM;
                return;
            }
            let first_ns = m.first_ns.unwrap_or(meta.ts_ns);
            e.response = Some(response_of(m, &h, first_ns, redact_names, &mut e.flags));
            e.resp_done = true;
            set(&mut e.flags, Flags::RESP_GAP, m.gap);
            set(&mut e.flags, Flags::RESP_SNAPLEN, m.snaplen);
            set(&mut e.flags, Flags::RESP_BODY_CAPPED, capped);
            set(&mut e.flags, Flags::RESP_MALFORMED, h.malformed);
            let upgrade_req = e.upgrade_req;
            if h.upgrade {
                e.flags |= Flags::UPGRADE;
                self.ignored = true;
                for dir in &mut self.dirs {
                    dir.mode = Mode::Stopped;
                }
            } else if upgrade_req {
                // The server declined the upgrade: HTTP/1.x goes on.
                e.flags.remove(Flags::UPGRADE);
                if let Some(c) = self.client {
                    if let Mode::Paused(mut h) =
                        std::mem::replace(&mut self.dirs[c].mode, Mode::Idle)
                    {
                        let mut dropped = 0;
                        let held = h.take_from(0, &mut dropped);
                        for p in held {
                            self.on_data(c, p.meta, p.offset, &p.bytes, peer, ctx);
                        }
                    }
                }
            }
        }
        self.spare = Some(boxed);
        self.try_emit(ctx);
    }

    /// Ends the message of direction `d` early (gap, framing error, end of
    /// stream). What was read of it is kept in its exchange, flagged; bytes
    /// that cannot be (a head that never completed and is no request line,
    /// a response head cut short) are counted in `skipped_bytes`.
    fn abort_msg(&mut self, d: usize, cause: Abort, ctx: &mut Ctx<'_>) {
        let Mode::Msg(m) = std::mem::replace(&mut self.dirs[d].mode, Mode::Idle) else {
            return;
        };
        let mut m = *m;
        let head = m.framer.take_head();
        let capped = m.capped();
        let gap = cause == Abort::Gap;
        let malformed = cause == Abort::Framing || head.as_ref().is_some_and(|h| h.malformed);
        if self.is_client(d) {
            let Some(seq) = m.target else { return };
            let line_method = match &head {
                Some(_) => None,
                None => match scan_request_line(&m.bytes) {
                    Some(l) => Some(Cow::Owned(l.method.to_string())),
                    None if gap => None,
                    None => {
                        // Bytes that never framed as a request: not an exchange.
                        ctx.stats.skipped_bytes += m.wire;
                        if self.queue.back().is_some_and(|e| e.seq == seq) {
                            self.queue.pop_back();
                        }
                        return;
                    }
                },
            };
            let Some(e) = self.entry_mut(seq) else { return };
            e.request = m.bytes;
            e.request_len = m.wire;
            if let Some(t) = m.first_ns {
                e.req_first_ns = t;
                e.req_last_ns = m.last_ns;
            }
            e.req_done = true;
            e.flags |= Flags::REQ_INCOMPLETE;
            set(&mut e.flags, Flags::REQ_GAP, gap || m.gap);
            set(&mut e.flags, Flags::REQ_SNAPLEN, m.snaplen);
            set(&mut e.flags, Flags::REQ_BODY_CAPPED, capped);
            set(&mut e.flags, Flags::REQ_MALFORMED, malformed);
            // A request line read this far still tells how to frame the
            // response (HEAD, CONNECT).
            e.method = line_method;
            if let Some(h) = &head {
                e.method = h.method.clone();
                let hl = h.len.min(e.request.len());
                if redact(&mut e.request[..hl], &ctx.cfg.redact) {
                    e.flags |= Flags::REDACTED;
                }
            }
        } else {
            let Some(seq) = m.target else {
                ctx.stats.orphan_responses += 1;
                return;
            };
            let redact_names = &ctx.cfg.redact;
            let Some(e) = self.entry_mut(seq) else { return };
            match &head {
                Some(h) if h.is_interim() => {
                    // An interim response cut short: the final one is missing.
                    e.flags |= Flags::INTERIM;
                    ctx.stats.skipped_bytes += m.wire;
                }
                Some(h) => {
                    let first_ns = m.first_ns.unwrap_or(0);
                    e.response = Some(response_of(&mut m, h, first_ns, redact_names, &mut e.flags));
                }
                // A status line and headers cut short: no response to keep.
                None => ctx.stats.skipped_bytes += m.wire,
            }
            e.resp_done = true;
            e.flags |= Flags::RESP_INCOMPLETE;
            set(&mut e.flags, Flags::RESP_GAP, gap || m.gap);
            set(&mut e.flags, Flags::RESP_SNAPLEN, m.snaplen);
            set(&mut e.flags, Flags::RESP_BODY_CAPPED, capped);
            set(&mut e.flags, Flags::RESP_MALFORMED, malformed);
        }
        self.try_emit(ctx);
    }

    /// `len` bytes of direction `d` are missing at this point.
    pub fn on_gap(
        &mut self,
        d: usize,
        meta: SegMeta,
        len: u64,
        snaplen: bool,
        peer: &Reassembler,
        ctx: &mut Ctx<'_>,
    ) {
        if self.ignored {
            return;
        }
        let known_role = self.client.is_some();
        match &mut self.dirs[d].mode {
            Mode::Stopped | Mode::Unread => {}
            Mode::Paused(h) | Mode::Hunting(h) => h.reset_at_gap(&mut ctx.stats.skipped_bytes),
            Mode::Idle => {
                self.dirs[d].mode = Mode::Hunting(Hunter::new(true));
                self.dirs[d].resynced = known_role;
            }
            Mode::Msg(m) => {
                if m.skip_gap(len) {
                    m.snaplen |= snaplen;
                    if m.framer.is_complete() {
                        self.complete_msg(d, meta, peer, ctx);
                    }
                } else {
                    m.snaplen |= snaplen;
                    self.abort_msg(d, Abort::Gap, ctx);
                    self.dirs[d].mode = Mode::Hunting(Hunter::new(true));
                    self.dirs[d].resynced = true;
                }
            }
        }
    }

    /// Direction `d` reached its FIN: a read-until-close body completes, any
    /// other open message is incomplete.
    pub fn end_dir(&mut self, d: usize, meta: SegMeta, peer: &Reassembler, ctx: &mut Ctx<'_>) {
        if self.dirs[d].ended {
            return;
        }
        self.dirs[d].ended = true;
        if let Mode::Msg(m) = &mut self.dirs[d].mode {
            if m.framer.finish() {
                self.complete_msg(d, meta, peer, ctx);
            } else {
                self.abort_msg(d, Abort::End, ctx);
            }
        }
        self.dirs[d].mode = Mode::Stopped;
    }

    /// The connection is gone (both FINs, RST, eviction, end of capture):
    /// everything still held is emitted, flagged with what is missing.
    pub fn close(
        &mut self,
        meta: SegMeta,
        evicted: bool,
        peer: [&Reassembler; 2],
        ctx: &mut Ctx<'_>,
    ) {
        for d in 0..2 {
            self.end_dir(d, meta, peer[1 - d], ctx);
        }
        while let Some(mut e) = self.queue.pop_front() {
            if !e.req_done {
                e.flags |= Flags::REQ_INCOMPLETE;
            }
            if !e.resp_done && e.response.is_none() {
                e.flags |= Flags::RESP_MISSING;
            }
            if evicted {
                e.flags |= Flags::EVICTED;
            }
            self.emit(e, ctx);
        }
    }

    fn try_emit(&mut self, ctx: &mut Ctx<'_>) {
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

    fn emit(&mut self, e: Entry, ctx: &mut Ctx<'_>) {
        let c = self.client.unwrap_or(0);
        *ctx.next_id += 1;
        let ex = Exchange {
            id: *ctx.next_id,
            conn: self.id,
            client: self.addrs[c],
            server: self.addrs[1 - c],
            req_first_ns: e.req_first_ns,
            req_last_ns: e.req_last_ns,
            flags: e.flags,
            request: e.request,
            request_len: e.request_len,
            response: e.response,
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
        ctx.sink.exchange(ex);
    }
}

fn set(flags: &mut Flags, f: Flags, on: bool) {
    if on {
        *flags |= f;
    }
}

/// The response a finished message holds: head (redacted; flagged when a
/// value was) and body as captured, with the body's wire length.
fn response_of(
    m: &mut Msg,
    h: &shadowtap_format::http1::Head,
    first_ns: u64,
    redact_names: &[String],
    flags: &mut Flags,
) -> Response {
    let mut head = std::mem::take(&mut m.bytes);
    let body = head.split_off(h.len.min(head.len()));
    if redact(&mut head, redact_names) {
        *flags |= Flags::REDACTED;
    }
    Response {
        first_ns,
        last_ns: m.last_ns,
        status: h.status.unwrap_or(0),
        head,
        body,
        body_len: m.framer.body_consumed(),
    }
}
