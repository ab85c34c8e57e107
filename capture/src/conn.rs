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
//! yet. An entry is emitted as an [`Exchange`](shadowtap_format::Exchange)
//! once its request and its final response are both complete, or when the
//! connection ends, in request order. Body bytes beyond the cap are counted,
//! not kept; bytes missing from the capture are never glued over: a message
//! with a gap keeps the bytes before it, and a gap inside a body of known
//! length is accounted and the message continues to its end so the next
//! message is still found.

mod entry;
mod msg;
mod stats;

use std::collections::VecDeque;
use std::net::SocketAddr;

use shadowtap_format::http1::{leading_empty_lines, redact, Framer};
use shadowtap_format::{Flags, Response};

use crate::hunt::{Candidate, Found, Hunter, Want};
use crate::reasm::{Reassembler, SegMeta};
use crate::ExchangeSink;
use entry::{Ending, Entry};
use msg::{Fed, Msg};
pub use stats::HttpStats;

// The daemon tests check the largest exchange against the log format.
#[cfg(all(test, feature = "libpcap"))]
pub(crate) use msg::framing_room;

/// Largest amount of client bytes held while an upgrade request waits.
const MAX_PAUSED: usize = 64 * 1024;

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

/// What connection-level code needs from the pipeline.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a HttpConfig,
    pub sink: &'a mut dyn ExchangeSink,
    pub next_id: &'a mut u64,
    pub stats: &'a mut HttpStats,
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
        let mut backlog: VecDeque<Candidate> = VecDeque::new();
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
        backlog: &mut VecDeque<Candidate>,
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
                    // Empty lines between messages belong to none.
                    let n = leading_empty_lines(input);
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
                                self.end_msg(d, Ending::Complete, meta, peer, ctx);
                            }
                        }
                        Err(_) => {
                            ctx.stats.framing_errors += 1;
                            ctx.stats.skipped_bytes += input.len() as u64;
                            self.end_msg(d, Ending::Abort(Abort::Framing), meta, peer, ctx);
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
                        self.end_msg(d, Ending::Complete, meta, peer, ctx);
                    }
                } else {
                    m.snaplen |= snaplen;
                    self.end_msg(d, Ending::Abort(Abort::Gap), meta, peer, ctx);
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
                self.end_msg(d, Ending::Complete, meta, peer, ctx);
            } else {
                self.end_msg(d, Ending::Abort(Abort::End), meta, peer, ctx);
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
        body_len: m.framer.body_consumed(),
        ..Response::new(h.status.unwrap_or(0), first_ns, m.last_ns, head, body)
    }
}
