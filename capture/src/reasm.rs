//! Reassembly of one direction of a TCP connection by sequence number.
//!
//! A [`Reassembler`] turns segments, in whatever order the capture saw them,
//! into the in-order byte stream the receiver got, reported to a
//! [`StreamSink`] as [`StreamSink::data`] and [`StreamSink::gap`] calls.
//!
//! - Sequence numbers are 32-bit and wrap; positions are kept as 64-bit
//!   offsets from the start of the stream, so a stream may carry more than
//!   4 GiB and cross the wrap point any number of times.
//! - Segments ahead of the next expected byte are buffered (bounded by
//!   `max_pending` bytes); bytes already delivered or already buffered are
//!   dropped: the first copy of a byte wins, whatever the segment
//!   boundaries of the retransmission.
//! - Missing bytes are never glued over: a range that will not arrive
//!   becomes a [`StreamSink::gap`] of its exact length. A range is given up
//!   when the buffer bound is hit, when the peer acknowledges bytes the
//!   capture never saw ([`Reassembler::peer_ack`]), when a segment was cut
//!   by the snap length, or when the stream ends ([`Reassembler::finish`]).
//! - The in-order path does not allocate: a segment that continues the
//!   stream while nothing is buffered is handed to the sink as a borrowed
//!   slice.

use std::collections::BTreeMap;

/// Where the peer's acknowledgment may sit relative to the next expected
/// byte for it to count as evidence of lost bytes.
const MAX_ACK_AHEAD: i64 = 1 << 30;

/// Per-chunk metadata passed to the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegMeta {
    /// Capture time of the packet that carried the bytes, ns since the epoch.
    pub ts_ns: u64,
    /// The acknowledgment number the packet carried (the peer's stream), if
    /// its ACK flag was set.
    pub ack: Option<u32>,
}

/// Receives one direction's byte stream in order.
pub trait StreamSink {
    /// The next bytes of the stream. `offset` is the stream position of
    /// `bytes[0]` (0 = the first byte after the SYN, or the first byte seen
    /// when the capture joined mid-stream).
    fn data(&mut self, meta: SegMeta, offset: u64, bytes: &[u8]);
    /// `len` bytes at `offset` are missing from the capture. `snaplen` says
    /// they were cut by the snap length.
    fn gap(&mut self, meta: SegMeta, offset: u64, len: u64, snaplen: bool);
}

/// Counters of one or more reassemblers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasmStats {
    /// Payload bytes dropped because they were already delivered or
    /// buffered (retransmissions, overlaps).
    pub duplicate_bytes: u64,
    /// Segments that arrived ahead of the next expected byte.
    pub out_of_order_segments: u64,
    /// Ranges given up as missing.
    pub gaps: u64,
    /// Bytes given up as missing.
    pub gap_bytes: u64,
    /// Gaps forced by the buffer bound.
    pub forced_gaps: u64,
}

impl ReasmStats {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &ReasmStats) {
        self.duplicate_bytes += other.duplicate_bytes;
        self.out_of_order_segments += other.out_of_order_segments;
        self.gaps += other.gaps;
        self.gap_bytes += other.gap_bytes;
        self.forced_gaps += other.forced_gaps;
    }
}

#[derive(Clone, Copy, Debug)]
struct Next {
    seq: u32,
    abs: u64,
}

#[derive(Debug)]
enum Chunk {
    Bytes(Vec<u8>),
    /// Bytes known to exist on the wire but cut by the snap length.
    Snapped(u64),
}

#[derive(Debug)]
struct HeldSegment {
    meta: SegMeta,
    piece: Chunk,
}

impl HeldSegment {
    fn len(&self) -> u64 {
        match &self.piece {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::Snapped(n) => *n,
        }
    }
    fn mem(&self) -> usize {
        match &self.piece {
            Chunk::Bytes(b) => b.len(),
            Chunk::Snapped(_) => 0,
        }
    }
}

/// One direction of a TCP connection.
#[derive(Debug)]
pub struct Reassembler {
    next: Option<Next>,
    pending: BTreeMap<u64, HeldSegment>,
    pending_bytes: usize,
    max_pending: usize,
    fin_at: Option<u64>,
    stats: ReasmStats,
}

impl Reassembler {
    /// A reassembler buffering at most `max_pending` out-of-order bytes.
    pub fn new(max_pending: usize) -> Reassembler {
        Reassembler {
            next: None,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            max_pending,
            fin_at: None,
            stats: ReasmStats::default(),
        }
    }

    /// True once the stream has a starting point (a SYN or a first segment).
    pub fn is_started(&self) -> bool {
        self.next.is_some()
    }

    /// The stream position of the next expected byte.
    pub fn position(&self) -> u64 {
        self.next.map_or(0, |n| n.abs)
    }

    /// Bytes held in the out-of-order buffer.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// True when a FIN was seen and every byte before it was delivered or
    /// given up.
    pub fn is_finished(&self) -> bool {
        matches!((self.next, self.fin_at), (Some(n), Some(f)) if n.abs >= f)
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReasmStats {
        &self.stats
    }

    /// The stream position of sequence number `seq`, if it lies within
    /// 2^30 of the next expected byte.
    pub fn offset_of(&self, seq: u32) -> Option<u64> {
        let n = self.next?;
        let rel = i64::from(seq.wrapping_sub(n.seq) as i32);
        if rel.abs() > MAX_ACK_AHEAD {
            return None;
        }
        u64::try_from(n.abs as i64 + rel).ok()
    }

    /// A SYN with sequence number `seq`: the stream starts at `seq + 1`.
    /// Ignored once the stream has started.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(Next {
                seq: seq.wrapping_add(1),
                abs: 0,
            });
        }
    }

    /// One segment: `payload` holds the captured bytes starting at `seq`;
    /// `wire_len` (≥ `payload.len()`) is the payload length on the wire.
    /// `fin` says the segment carried FIN.
    pub fn segment(
        &mut self,
        meta: SegMeta,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        fin: bool,
        out: &mut impl StreamSink,
    ) {
        let next = *self.next.get_or_insert(Next { seq, abs: 0 });
        let rel = i64::from(seq.wrapping_sub(next.seq) as i32);
        let start = next.abs as i64 + rel;
        let wire_len = u64::from(wire_len).max(payload.len() as u64);
        if start < 0 {
            // Before the start of the stream: all of it was never ours.
            let end = start + wire_len as i64;
            if end <= 0 {
                self.stats.duplicate_bytes += payload.len() as u64;
                return;
            }
            let cut = (-start) as u64;
            let skip = cut.min(payload.len() as u64) as usize;
            self.stats.duplicate_bytes += skip as u64;
            return self.segment_at(meta, 0, &payload[skip..], wire_len - cut, fin, out);
        }
        self.segment_at(meta, start as u64, payload, wire_len, fin, out);
    }

    fn segment_at(
        &mut self,
        meta: SegMeta,
        start: u64,
        payload: &[u8],
        wire_len: u64,
        fin: bool,
        out: &mut impl StreamSink,
    ) {
        let mut end = start + wire_len;
        if fin && self.fin_at.is_none() {
            self.fin_at = Some(end);
        }
        if let Some(f) = self.fin_at {
            // Nothing counts after the FIN.
            end = end.min(f.max(start));
        }
        let Some(next) = self.next else { return };
        if end <= next.abs {
            self.stats.duplicate_bytes += payload.len().min((end - start) as usize) as u64;
            return;
        }
        let first_pending = self.pending.keys().next().copied();
        if start <= next.abs && first_pending.is_none_or(|p| p >= end) {
            // The in-order path: nothing buffered in the way.
            let skip = next.abs - start;
            let data_end = (start + payload.len() as u64).min(end);
            if data_end > next.abs {
                let bytes = &payload[skip as usize..(data_end - start) as usize];
                self.stats.duplicate_bytes += skip.min(payload.len() as u64);
                self.deliver_bytes(meta, bytes, out);
            } else {
                self.stats.duplicate_bytes += payload.len() as u64;
            }
            let pos = self.position();
            if end > pos {
                self.deliver_gap(meta, end - pos, true, out);
            }
            self.drain(out);
            return;
        }
        if start > next.abs {
            self.stats.out_of_order_segments += 1;
        }
        self.insert(meta, start, payload, end, next.abs);
        self.drain(out);
        self.enforce_bound(out);
    }

    /// Buffers the parts of `[start, end)` not already buffered or
    /// delivered (first copy wins).
    fn insert(&mut self, meta: SegMeta, start: u64, payload: &[u8], end: u64, delivered: u64) {
        let data_end = (start + payload.len() as u64).min(end);
        // Covered ranges overlapping [start, end), ascending.
        let mut covered: Vec<(u64, u64)> = Vec::new();
        for (&s, p) in self.pending.range(..end).rev() {
            let e = s + p.len();
            if e <= start {
                break;
            }
            covered.push((s, e));
        }
        covered.reverse();
        let mut cursor = start.max(delivered);
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        for (s, e) in covered {
            if s > cursor {
                pieces.push((cursor, s.min(end)));
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        let mut kept = 0u64;
        for (a, b) in pieces {
            if a < data_end {
                let de = b.min(data_end);
                let bytes = payload[(a - start) as usize..(de - start) as usize].to_vec();
                kept += de - a;
                self.pending_bytes += bytes.len();
                self.pending.insert(
                    a,
                    HeldSegment {
                        meta,
                        piece: Chunk::Bytes(bytes),
                    },
                );
            }
            let ha = a.max(data_end);
            if ha < b {
                self.pending.insert(
                    ha,
                    HeldSegment {
                        meta,
                        piece: Chunk::Snapped(b - ha),
                    },
                );
            }
        }
        self.stats.duplicate_bytes += (data_end.saturating_sub(start)).saturating_sub(kept);
    }

    /// Delivers buffered pieces that now continue the stream.
    fn drain(&mut self, out: &mut impl StreamSink) {
        loop {
            let pos = self.position();
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let start = *entry.key();
            if start > pos {
                break;
            }
            let p = entry.remove();
            self.pending_bytes -= p.mem();
            let end = start + p.len();
            if end <= pos {
                continue;
            }
            let skip = pos - start;
            match p.piece {
                Chunk::Bytes(b) => self.deliver_bytes(p.meta, &b[skip as usize..], out),
                Chunk::Snapped(_) => self.deliver_gap(p.meta, end - pos, true, out),
            }
        }
    }

    fn enforce_bound(&mut self, out: &mut impl StreamSink) {
        while self.pending_bytes > self.max_pending {
            let Some((&start, p)) = self.pending.iter().next() else {
                break;
            };
            let meta = p.meta;
            let pos = self.position();
            if start > pos {
                self.stats.forced_gaps += 1;
                self.deliver_gap(meta, start - pos, false, out);
            }
            self.drain(out);
        }
    }

    fn deliver_bytes(&mut self, meta: SegMeta, bytes: &[u8], out: &mut impl StreamSink) {
        if bytes.is_empty() {
            return;
        }
        if let Some(n) = self.next.as_mut() {
            let at = n.abs;
            n.abs += bytes.len() as u64;
            n.seq = n.seq.wrapping_add(bytes.len() as u32);
            out.data(meta, at, bytes);
        }
    }

    fn deliver_gap(&mut self, meta: SegMeta, len: u64, snaplen: bool, out: &mut impl StreamSink) {
        if len == 0 {
            return;
        }
        if let Some(n) = self.next.as_mut() {
            let at = n.abs;
            n.abs += len;
            n.seq = n.seq.wrapping_add(len as u32);
            self.stats.gaps += 1;
            self.stats.gap_bytes += len;
            out.gap(meta, at, len, snaplen);
        }
    }

    /// Gives up the hole before the first buffered piece when that piece
    /// arrived before `cutoff_ns`: without the peer's acknowledgments (a
    /// capture that follows one direction only) a missing range is
    /// otherwise held until the buffer bound or the end of the stream.
    pub fn expire_holes(&mut self, cutoff_ns: u64, out: &mut impl StreamSink) {
        while let Some((&start, p)) = self.pending.iter().next() {
            if p.meta.ts_ns >= cutoff_ns {
                break;
            }
            let (meta, pos) = (p.meta, self.position());
            if start > pos {
                self.stats.forced_gaps += 1;
                self.deliver_gap(meta, start - pos, false, out);
            }
            self.drain(out);
        }
    }

    /// The peer acknowledged sequence number `ack` of this stream: bytes
    /// before it reached the peer, so any of them the capture has not seen
    /// by now never will be. They become gaps.
    pub fn peer_ack(&mut self, meta: SegMeta, ack: u32, out: &mut impl StreamSink) {
        let Some(next) = self.next else { return };
        let rel = i64::from(ack.wrapping_sub(next.seq) as i32);
        if rel <= 0 || rel > MAX_ACK_AHEAD {
            return;
        }
        let mut target = next.abs + rel as u64;
        if let Some(f) = self.fin_at {
            // The FIN takes one sequence number.
            target = target.min(f);
        }
        while self.position() < target {
            let pos = self.position();
            let hole_end = match self.pending.keys().next() {
                Some(&s) if s <= pos => {
                    self.drain(out);
                    continue;
                }
                Some(&s) => s.min(target),
                None => target,
            };
            self.deliver_gap(meta, hole_end - pos, false, out);
            self.drain(out);
        }
    }

    /// The stream ends (FIN and both sides done, RST, eviction, end of
    /// capture): buffered bytes are delivered with gaps between them, and
    /// bytes known to precede a FIN but never seen become a gap.
    pub fn finish(&mut self, meta: SegMeta, out: &mut impl StreamSink) {
        if self.next.is_none() {
            return;
        }
        while let Some((&start, p)) = self.pending.iter().next() {
            let m = p.meta;
            let pos = self.position();
            if start > pos {
                self.deliver_gap(m, start - pos, false, out);
            }
            self.drain(out);
        }
        if let Some(f) = self.fin_at {
            let pos = self.position();
            if f > pos {
                self.deliver_gap(meta, f - pos, false, out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
