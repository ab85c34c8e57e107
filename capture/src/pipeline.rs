//! The sans-IO core: frames in, exchanges out.
//!
//! [`Pipeline::process`] takes one captured frame with its capture time and
//! original length; it decodes it, finds or creates the TCP flow, feeds the
//! reassembler of the sending direction, lets the connection's HTTP state
//! turn the bytes into messages, and hands finished work to an
//! [`ExchangeSink`]: [`ExchangeSink::request`] as soon as a request is
//! complete on the wire, [`ExchangeSink::exchange`] once its response is
//! (or once the connection ended). The same pipeline serves pcap files,
//! live capture and mirroring; it never reads the clock: idle expiry uses
//! the packet timestamps.

mod defrag;
mod encap;
mod flows;

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::conn::{Conn, Ctx, HttpConfig, HttpStats};
use crate::decode::{
    decode_fragment, decode_reassembled, decode_with, Decap, Layers, LinkType, OuterSession, Skip,
    TcpPacket,
};
use crate::reasm::{ReasmStats, Reassembler, SegMeta, StreamSink};
use crate::ExchangeSink;
use defrag::Defrag;
pub use defrag::DefragStats;
use encap::Sessions;
pub use encap::{EncapStats, MAX_SESSIONS};
use flows::{AgeIndex, Flow, FlowHashState};

/// Most exchanges one connection may hold waiting for responses (pipelined
/// requests nobody answers); beyond it the flow is evicted.
const MAX_QUEUED: usize = 4096;

/// How often (in packet time) idle flows are looked for.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// Requests only: how long (packet time) a hole in the client's stream may
/// hold back the bytes after it. Without the server's acknowledgments
/// nothing else proves the missing bytes lost; a segment the network lost
/// is normally retransmitted well within this.
const HOLE_TIMEOUT_NS: u64 = 1_000_000_000;

/// Settings of a [`Pipeline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Server ports. Empty: any port, HTTP recognised by content.
    pub ports: Vec<u16>,
    /// Body bytes kept per message; the true length is always recorded.
    pub max_body: u64,
    /// Header names (any case) whose values are replaced before they leave
    /// the pipeline.
    pub redact_headers: Vec<String>,
    /// Track responses (false: emit each request as soon as it is complete).
    pub responses: bool,
    /// Most TCP flows tracked at once; the least recently active is evicted
    /// to make room.
    pub max_flows: usize,
    /// Most bytes one flow may hold (out-of-order buffers and messages
    /// being assembled); a flow over it is evicted.
    pub max_flow_bytes: usize,
    /// Most bytes all flows together may hold; the least recently active
    /// flows are evicted above it.
    pub max_total_bytes: usize,
    /// A flow with no packet for this long (packet time) is evicted.
    pub idle_timeout_ns: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            ports: Vec::new(),
            max_body: 1 << 20,
            redact_headers: Vec::new(),
            responses: true,
            max_flows: 100_000,
            max_flow_bytes: 64 << 20,
            max_total_bytes: 1 << 30,
            idle_timeout_ns: 120_000_000_000,
        }
    }
}

/// Counters of a [`Pipeline`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Frames seen.
    pub packets: u64,
    /// Bytes of those frames on the wire (original lengths).
    pub bytes: u64,
    /// TCP segments decoded.
    pub tcp_packets: u64,
    /// Frames that were not IPv4/IPv6.
    pub not_ip: u64,
    /// IP packets that were not TCP.
    pub not_tcp: u64,
    /// Frames holding an IP fragment (each counted here; the datagrams
    /// they make are counted in `defrag`, and the TCP segments in those
    /// are not counted in `tcp_packets`).
    pub fragments: u64,
    /// Frames whose headers did not parse.
    pub malformed: u64,
    /// Frames cut by the snap length inside their headers (skipped).
    pub truncated_headers: u64,
    /// TCP segments whose payload was cut by the snap length.
    pub snaplen_cut: u64,
    /// TCP segments not on a configured port.
    pub filtered: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows tracked right now.
    pub flows_active: u64,
    /// Flows that ended (FIN, RST).
    pub flows_closed: u64,
    /// Flows evicted after the idle timeout.
    pub evicted_idle: u64,
    /// Flows evicted because the flow table was full.
    pub evicted_flow_limit: u64,
    /// Flows evicted by the per-flow or total byte bound.
    pub evicted_memory: u64,
    /// Bytes held by all flows right now.
    pub buffered_bytes: u64,
    /// Reassembly counters (finished flows plus active ones).
    pub reasm: ReasmStats,
    /// HTTP counters.
    pub http: HttpStats,
    /// Encapsulations the frames came in.
    pub encap: EncapStats,
    /// IP fragment reassembly.
    pub defrag: DefragStats,
}

impl PipelineStats {
    /// Flows evicted for any reason.
    pub fn evicted(&self) -> u64 {
        self.evicted_idle + self.evicted_flow_limit + self.evicted_memory
    }
}

type FlowKey = (SocketAddr, SocketAddr);

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlowEnd {
    Closed,
    Evicted,
    CaptureOver,
}

/// Frames in, exchanges out. See the module docs.
pub struct Pipeline {
    cfg: PipelineConfig,
    http: HttpConfig,
    link: LinkType,
    flows: HashMap<FlowKey, Flow, FlowHashState>,
    /// The flows by when they were last seen, for eviction: see
    /// [`Pipeline::least_recent`].
    by_age: AgeIndex,
    next_conn: u64,
    next_id: u64,
    now_ns: u64,
    last_sweep_ns: u64,
    stats: PipelineStats,
    http_stats: HttpStats,
    reasm_done: ReasmStats,
    mem_total: usize,
    decap: Decap,
    sessions: Sessions,
    defrag: Defrag,
}

impl Pipeline {
    /// A pipeline for frames of link type `link`.
    pub fn new(cfg: PipelineConfig, link: LinkType) -> Pipeline {
        let http = HttpConfig {
            max_body: cfg.max_body,
            redact: cfg
                .redact_headers
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            responses: cfg.responses,
            give_up_after: if cfg.ports.is_empty() {
                Some(1 << 20)
            } else {
                None
            },
        };
        Pipeline {
            cfg,
            http,
            link,
            flows: HashMap::with_hasher(FlowHashState::new()),
            by_age: AgeIndex::default(),
            next_conn: 0,
            next_id: 0,
            now_ns: 0,
            last_sweep_ns: 0,
            stats: PipelineStats::default(),
            http_stats: HttpStats::default(),
            reasm_done: ReasmStats::default(),
            mem_total: 0,
            decap: Decap::auto(),
            sessions: Sessions::default(),
            defrag: Defrag::default(),
        }
    }

    /// Decodes the encapsulations `decap` allows (all of them unless
    /// told otherwise).
    pub fn set_decap(&mut self, decap: Decap) {
        self.decap = decap;
    }

    /// The encapsulations decoded.
    pub fn decap(&self) -> Decap {
        self.decap
    }

    /// The outer sessions (tunnel endpoints) seen so far, in order of
    /// first appearance, at most [`MAX_SESSIONS`].
    pub fn outer_sessions(&self) -> &[OuterSession] {
        self.sessions.listed()
    }

    /// The link type frames are decoded as.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        let mut s = self.stats;
        s.flows_active = self.flows.len() as u64;
        s.buffered_bytes = (self.mem_total + self.defrag.bytes()) as u64;
        s.http = self.http_stats;
        s.reasm = self.reasm_done;
        for f in self.flows.values() {
            s.reasm.add(f.reasm[0].stats());
            s.reasm.add(f.reasm[1].stats());
        }
        s
    }

    /// One captured frame: `data` as captured, `orig_len` its length on the
    /// wire, `ts_ns` its capture time in ns since the Unix epoch.
    pub fn process(&mut self, ts_ns: u64, data: &[u8], orig_len: u32, sink: &mut dyn ExchangeSink) {
        self.stats.packets += 1;
        self.stats.bytes += u64::from(orig_len.max(data.len() as u32));
        self.now_ns = self.now_ns.max(ts_ns);
        if self.now_ns.saturating_sub(self.last_sweep_ns) >= SWEEP_EVERY_NS {
            self.sweep(self.now_ns, sink);
        }
        let mut layers = Layers::default();
        let decoded = decode_with(self.link, data, orig_len, &self.decap, &mut layers);
        if !layers.seen.is_empty() {
            self.sessions.record(&layers, &mut self.stats.encap);
        }
        match decoded {
            Ok(p) => self.tcp(ts_ns, &p, sink),
            Err(Skip::NotIp) => self.stats.not_ip += 1,
            Err(Skip::NotTcp) => self.stats.not_tcp += 1,
            Err(Skip::Fragment) => {
                self.stats.fragments += 1;
                self.reassemble(ts_ns, data, orig_len, sink);
            }
            Err(Skip::Truncated) => self.stats.truncated_headers += 1,
            Err(Skip::Encap(kind)) => {
                self.stats.encap.undecodable[kind.index()] += 1;
                self.stats.malformed += 1;
            }
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// Evicts flows idle since before `now_ns - idle_timeout`.
    pub fn sweep(&mut self, now_ns: u64, sink: &mut dyn ExchangeSink) {
        self.last_sweep_ns = now_ns;
        let deadline = now_ns.saturating_sub(self.cfg.idle_timeout_ns);
        let mut idle: Vec<(u64, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_ns < deadline)
            .map(|(k, f)| (f.conn.id, *k))
            .collect();
        idle.sort_unstable();
        for (_, key) in idle {
            self.stats.evicted_idle += 1;
            self.end_flow(key, FlowEnd::Evicted, sink);
        }
    }

    /// The capture is over: every flow is closed and everything it held
    /// emitted (requests without a response are flagged `RESP_MISSING`).
    pub fn finish(&mut self, sink: &mut dyn ExchangeSink) {
        // Datagrams still missing fragments will not get them.
        self.stats.defrag.evicted += self.defrag.len() as u64;
        self.defrag = Defrag::default();
        let mut all: Vec<(u64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.conn.id, *k)).collect();
        all.sort_unstable();
        for (_, key) in all {
            self.end_flow(key, FlowEnd::CaptureOver, sink);
        }
    }

    /// One IP fragment: into the reassembly pool, and the segment of the
    /// datagram it completes (if any) into its flow.
    fn reassemble(&mut self, ts_ns: u64, data: &[u8], orig_len: u32, sink: &mut dyn ExchangeSink) {
        // The frame's layers were counted when it was decoded.
        let mut frame_layers = Layers::default();
        let Some(f) = decode_fragment(self.link, data, orig_len, &self.decap, &mut frame_layers)
        else {
            return;
        };
        let Some(whole) = self.defrag.add(&f, ts_ns, &mut self.stats.defrag) else {
            return;
        };
        let mut layers = Layers::default();
        let decoded = decode_reassembled(
            whole.proto,
            whole.src,
            whole.dst,
            &whole.payload,
            &self.decap,
            &mut layers,
        );
        if !layers.seen.is_empty() {
            self.sessions.record(&layers, &mut self.stats.encap);
        }
        if let Ok(p) = decoded {
            self.segment(ts_ns, &p, false, sink);
        }
    }

    fn tcp(&mut self, ts_ns: u64, p: &TcpPacket<'_>, sink: &mut dyn ExchangeSink) {
        self.stats.tcp_packets += 1;
        self.segment(ts_ns, p, true, sink);
    }

    /// One TCP segment, from a frame (`framed`: counted in `tcp_packets`
    /// and, when off the ports, in `filtered`) or from a reassembled
    /// datagram (counted in `defrag`).
    fn segment(
        &mut self,
        ts_ns: u64,
        p: &TcpPacket<'_>,
        framed: bool,
        sink: &mut dyn ExchangeSink,
    ) {
        let ports = &self.cfg.ports;
        let (src_srv, dst_srv) = (ports.contains(&p.src.port()), ports.contains(&p.dst.port()));
        if !ports.is_empty() && !src_srv && !dst_srv {
            self.stats.filtered += u64::from(framed);
            return;
        }
        if p.is_truncated() {
            self.stats.snaplen_cut += 1;
        }
        let (key, d) = if p.src <= p.dst {
            ((p.src, p.dst), 0)
        } else {
            ((p.dst, p.src), 1)
        };
        let f = p.flags;
        let meta = SegMeta {
            ts_ns,
            ack: f.ack.then_some(p.ack),
        };
        // A new SYN on a known flow with another ISN: the old connection is
        // gone (port reuse).
        if f.syn && !f.ack {
            if let Some(flow) = self.flows.get(&key) {
                if flow.syn_seq[d] != Some(p.seq) {
                    self.stats.flows_closed += 1;
                    self.end_flow(key, FlowEnd::Closed, sink);
                }
            }
        }
        if !self.flows.contains_key(&key) {
            if f.rst || !(f.syn || !p.payload.is_empty() || p.wire_len > 0) {
                return;
            }
            if self.flows.len() >= self.cfg.max_flows.max(1) {
                if let Some(victim) = self.least_recent() {
                    self.stats.evicted_flow_limit += 1;
                    self.end_flow(victim, FlowEnd::Evicted, sink);
                }
            }
            let client = if f.syn {
                Some(if f.ack { 1 - d } else { d })
            } else if dst_srv && !src_srv {
                Some(d)
            } else if src_srv && !dst_srv {
                Some(1 - d)
            } else {
                None
            };
            self.next_conn += 1;
            self.stats.flows_created += 1;
            let max_pending = self.cfg.max_flow_bytes;
            let flow = Flow {
                conn: Conn::new(self.next_conn, [key.0, key.1], client, [f.syn, f.syn]),
                reasm: [Reassembler::new(max_pending), Reassembler::new(max_pending)],
                syn_seq: [None, None],
                last_ns: ts_ns,
                mem: 0,
                server_fin: false,
            };
            self.by_age.push(ts_ns, self.next_conn, key);
            self.flows.insert(key, flow);
        }
        if f.rst {
            self.stats.flows_closed += 1;
            self.end_flow(key, FlowEnd::Closed, sink);
            return;
        }
        let requests_only = !self.cfg.responses;
        let (both_done, new_mem, old_mem, queued) = {
            let Pipeline {
                flows,
                http,
                next_id,
                http_stats,
                ..
            } = self;
            let Some(flow) = flows.get_mut(&key) else {
                return;
            };
            flow.last_ns = flow.last_ns.max(ts_ns);
            let mut ctx = Ctx {
                cfg: http,
                sink: &mut *sink,
                next_id,
                stats: http_stats,
            };
            if f.syn {
                flow.syn_seq[d] = Some(p.seq);
                flow.reasm[d].syn(p.seq);
                if f.ack {
                    // SYN-ACK: its ack number is the client's ISN + 1.
                    flow.reasm[1 - d].syn(p.ack.wrapping_sub(1));
                    flow.conn.set_client(1 - d);
                } else {
                    flow.conn.set_client(d);
                }
            }
            // Requests only, with the roles known: the server's stream is
            // not reassembled at all (a requests-only live filter does not
            // even capture its bytes); its FIN still ends its side.
            let server = flow.conn.client().map(|c| 1 - c);
            let unread = |dir: usize| requests_only && server == Some(dir);
            let (r0, r1) = flow.reasm.split_at_mut(1);
            let (mine, other) = if d == 0 {
                (&mut r0[0], &mut r1[0])
            } else {
                (&mut r1[0], &mut r0[0])
            };
            if unread(d) {
                flow.server_fin |= f.fin;
            } else if !p.payload.is_empty() || p.wire_len > 0 || f.fin {
                let seq = if f.syn { p.seq.wrapping_add(1) } else { p.seq };
                let mut out = DirSink {
                    conn: &mut flow.conn,
                    d,
                    peer: other,
                    ctx: &mut ctx,
                };
                mine.segment(meta, seq, p.payload, p.wire_len, f.fin, &mut out);
                if requests_only {
                    mine.expire_holes(ts_ns.saturating_sub(HOLE_TIMEOUT_NS), &mut out);
                }
            }
            if f.ack && !unread(1 - d) {
                let mut out = DirSink {
                    conn: &mut flow.conn,
                    d: 1 - d,
                    peer: mine,
                    ctx: &mut ctx,
                };
                other.peer_ack(meta, p.ack, &mut out);
            }
            let finished: [bool; 2] = std::array::from_fn(|dir| {
                flow.reasm[dir].is_finished() || (unread(dir) && flow.server_fin)
            });
            for (dir, _) in finished.iter().enumerate().filter(|(_, f)| **f) {
                flow.conn.end_dir(dir, meta, &flow.reasm[1 - dir], &mut ctx);
            }
            let both_done = finished[0] && finished[1];
            let new_mem =
                flow.reasm[0].pending_bytes() + flow.reasm[1].pending_bytes() + flow.conn.mem();
            let old_mem = std::mem::replace(&mut flow.mem, new_mem);
            (both_done, new_mem, old_mem, flow.conn.queue_len())
        };
        self.mem_total = self.mem_total - old_mem + new_mem;
        if both_done {
            self.stats.flows_closed += 1;
            self.end_flow(key, FlowEnd::Closed, sink);
        } else if new_mem > self.cfg.max_flow_bytes || queued > MAX_QUEUED {
            self.stats.evicted_memory += 1;
            self.end_flow(key, FlowEnd::Evicted, sink);
        }
        while self.mem_total > self.cfg.max_total_bytes {
            let Some(victim) = self.least_recent() else {
                break;
            };
            self.stats.evicted_memory += 1;
            self.end_flow(victim, FlowEnd::Evicted, sink);
        }
    }

    /// The flow seen longest ago (the oldest connection among equals).
    fn least_recent(&mut self) -> Option<FlowKey> {
        self.by_age.least_recent(&self.flows)
    }

    fn end_flow(&mut self, key: FlowKey, how: FlowEnd, sink: &mut dyn ExchangeSink) {
        let Some(mut flow) = self.flows.remove(&key) else {
            return;
        };
        self.mem_total -= flow.mem;
        let mut ctx = Ctx {
            cfg: &self.http,
            sink,
            next_id: &mut self.next_id,
            stats: &mut self.http_stats,
        };
        let meta = SegMeta {
            ts_ns: flow.last_ns,
            ack: None,
        };
        for d in 0..2 {
            let (r0, r1) = flow.reasm.split_at_mut(1);
            let (mine, other) = if d == 0 {
                (&mut r0[0], &r1[0])
            } else {
                (&mut r1[0], &r0[0])
            };
            let mut out = DirSink {
                conn: &mut flow.conn,
                d,
                peer: other,
                ctx: &mut ctx,
            };
            mine.finish(meta, &mut out);
        }
        flow.conn.close(
            meta,
            how == FlowEnd::Evicted,
            [&flow.reasm[0], &flow.reasm[1]],
            &mut ctx,
        );
        self.reasm_done.add(flow.reasm[0].stats());
        self.reasm_done.add(flow.reasm[1].stats());
    }
}

struct DirSink<'a, 'b> {
    conn: &'a mut Conn,
    d: usize,
    peer: &'a Reassembler,
    ctx: &'a mut Ctx<'b>,
}

impl StreamSink for DirSink<'_, '_> {
    fn data(&mut self, meta: SegMeta, offset: u64, bytes: &[u8]) {
        self.conn
            .on_data(self.d, meta, offset, bytes, self.peer, self.ctx);
    }

    fn gap(&mut self, meta: SegMeta, _offset: u64, len: u64, snaplen: bool) {
        self.conn
            .on_gap(self.d, meta, len, snaplen, self.peer, self.ctx);
    }
}
