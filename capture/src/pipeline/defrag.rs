//! IPv4 and IPv6 fragment reassembly, bounded: fragments per datagram,
//! bytes per datagram, datagrams in flight, bytes in all of them, and a
//! timeout in packet time. A datagram a bound or the timeout drops is
//! counted as evicted; its fragments are lost, as in a kernel whose
//! reassembly queue overflows.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::decode::Fragment;

/// Most fragments one datagram may arrive in.
pub const MAX_FRAGMENTS: u16 = 64;
/// Most datagrams being reassembled at once.
pub const MAX_DATAGRAMS: usize = 1024;
/// Most payload bytes of one datagram (IPv6's largest without jumbograms).
const MAX_DATAGRAM_BYTES: u32 = 65_535;
/// Most bytes held by all datagrams together.
pub const MAX_TOTAL_BYTES: usize = 16 << 20;
/// A datagram whose first fragment is older than this (packet time) is
/// dropped: Linux's default `ipfrag_time`.
pub const TIMEOUT_NS: u64 = 30_000_000_000;

/// Reassembly counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Datagrams reassembled from their fragments.
    pub reassembled: u64,
    /// Datagrams dropped unfinished: timed out, over a bound, or with
    /// fragments that disagree (two different ends, a fragment cut by the
    /// snap length).
    pub evicted: u64,
}

/// A datagram being put together, identified as RFC 791 and RFC 8200 say
/// (source, destination, protocol, identification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

#[derive(Debug)]
struct Datagram {
    first_ns: u64,
    data: Vec<u8>,
    /// The byte ranges received, sorted, disjoint and not touching.
    have: Vec<(u32, u32)>,
    /// The payload's length, once the last fragment came.
    end: Option<u32>,
    fragments: u16,
}

/// What a completed datagram is.
#[derive(Debug)]
pub(super) struct Whole {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub payload: Vec<u8>,
}

/// The datagrams in flight.
#[derive(Debug, Default)]
pub(super) struct Defrag {
    datagrams: HashMap<Key, Datagram>,
    bytes: usize,
    last_sweep_ns: u64,
}

impl Defrag {
    /// Adds one fragment seen at `ts_ns`; the datagram when it is whole.
    pub(super) fn add(
        &mut self,
        f: &Fragment<'_>,
        ts_ns: u64,
        stats: &mut DefragStats,
    ) -> Option<Whole> {
        if ts_ns.saturating_sub(self.last_sweep_ns) >= 1_000_000_000 {
            self.sweep(ts_ns, stats);
        }
        let key = Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: f.proto,
        };
        let len = u32::try_from(f.payload.len()).unwrap_or(u32::MAX);
        let end_here = f.offset.saturating_add(len);
        let bad = f.cut
            || end_here > MAX_DATAGRAM_BYTES
            // Every fragment but the last carries a multiple of 8 bytes.
            || (f.more && len % 8 != 0);
        if !self.datagrams.contains_key(&key) {
            if bad {
                stats.evicted += 1;
                return None;
            }
            while self.datagrams.len() >= MAX_DATAGRAMS
                || self.bytes + f.payload.len() > MAX_TOTAL_BYTES
            {
                if !self.evict_oldest(stats) {
                    break;
                }
            }
            self.datagrams.insert(
                key,
                Datagram {
                    first_ns: ts_ns,
                    data: Vec::new(),
                    have: Vec::new(),
                    end: None,
                    fragments: 0,
                },
            );
        }
        let d = self.datagrams.get_mut(&key)?;
        d.fragments = d.fragments.saturating_add(1);
        let conflicting_end = match (d.end, f.more) {
            (Some(e), false) => e != end_here,
            (Some(e), true) => end_here > e,
            (None, false) => d.have.last().is_some_and(|r| r.1 > end_here),
            (None, true) => false,
        };
        if bad || conflicting_end || d.fragments > MAX_FRAGMENTS {
            self.remove(&key);
            stats.evicted += 1;
            return None;
        }
        if !f.more {
            d.end = Some(end_here);
        }
        let before = d.data.len();
        insert_first_copy_wins(d, f.offset, f.payload);
        self.bytes += d.data.len() - before;
        let whole = d
            .end
            .is_some_and(|e| d.have.as_slice() == [(0, e)] || e == 0);
        if !whole {
            if self.bytes > MAX_TOTAL_BYTES {
                self.evict_oldest(stats);
            }
            return None;
        }
        let d = self.remove(&key)?;
        stats.reassembled += 1;
        let mut payload = d.data;
        payload.truncate(d.end.unwrap_or(0) as usize);
        Some(Whole {
            src: key.src,
            dst: key.dst,
            proto: key.proto,
            payload,
        })
    }

    /// Drops the datagrams begun before `now_ns - TIMEOUT_NS`.
    fn sweep(&mut self, now_ns: u64, stats: &mut DefragStats) {
        self.last_sweep_ns = now_ns;
        let deadline = now_ns.saturating_sub(TIMEOUT_NS);
        let old: Vec<Key> = self
            .datagrams
            .iter()
            .filter(|(_, d)| d.first_ns < deadline)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.remove(&k);
            stats.evicted += 1;
        }
    }

    fn evict_oldest(&mut self, stats: &mut DefragStats) -> bool {
        let Some(k) = self
            .datagrams
            .iter()
            .min_by_key(|(_, d)| d.first_ns)
            .map(|(k, _)| *k)
        else {
            return false;
        };
        self.remove(&k);
        stats.evicted += 1;
        true
    }

    fn remove(&mut self, k: &Key) -> Option<Datagram> {
        let d = self.datagrams.remove(k)?;
        self.bytes -= d.data.len();
        Some(d)
    }

    /// Bytes held right now.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams in flight right now.
    pub(super) fn len(&self) -> usize {
        self.datagrams.len()
    }
}

/// Copies the bytes of `payload` at `offset` that the datagram does not
/// have yet (an overlap keeps the bytes that came first, as the TCP
/// reassembler does), and records the range.
fn insert_first_copy_wins(d: &mut Datagram, offset: u32, payload: &[u8]) {
    let (start, end) = (offset, offset + payload.len() as u32);
    if start == end {
        return;
    }
    if d.data.len() < end as usize {
        d.data.resize(end as usize, 0);
    }
    // The gaps of `have` inside [start, end).
    let mut at = start;
    for &(a, b) in &d.have {
        if b <= at {
            continue;
        }
        if a >= end {
            break;
        }
        if a > at {
            copy(&mut d.data, payload, offset, at, a);
        }
        at = at.max(b);
        if at >= end {
            break;
        }
    }
    if at < end {
        copy(&mut d.data, payload, offset, at, end);
    }
    // Merge the new range into `have`.
    let mut merged = Vec::with_capacity(d.have.len() + 1);
    let mut new = (start, end);
    for &(a, b) in &d.have {
        if b < new.0 || a > new.1 {
            merged.push((a, b));
        } else {
            new = (new.0.min(a), new.1.max(b));
        }
    }
    merged.push(new);
    merged.sort_unstable();
    d.have = merged;
}

fn copy(data: &mut [u8], payload: &[u8], offset: u32, from: u32, to: u32) {
    let src = &payload[(from - offset) as usize..(to - offset) as usize];
    data[from as usize..to as usize].copy_from_slice(src);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(id: u32, offset: u32, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            id,
            proto: 6,
            offset,
            more,
            payload,
            cut: false,
        }
    }

    #[test]
    fn out_of_order_and_overlapping_fragments() {
        let mut d = Defrag::default();
        let mut s = DefragStats::default();
        let whole: Vec<u8> = (0..40u8).collect();
        assert!(d
            .add(&frag(1, 32, false, &whole[32..]), 1, &mut s)
            .is_none());
        assert!(d.add(&frag(1, 0, true, &whole[..16]), 2, &mut s).is_none());
        // Fills the hole, overlapping the first fragment with other
        // bytes: the first copy wins there.
        let other = [0xeeu8; 24];
        let w = d.add(&frag(1, 8, true, &other), 3, &mut s).unwrap();
        let mut want = whole.clone();
        want[16..32].fill(0xee);
        assert_eq!(w.payload, want);
        assert_eq!((w.proto, w.src.to_string().as_str()), (6, "10.0.0.1"));
        assert_eq!(
            s,
            DefragStats {
                reassembled: 1,
                evicted: 0
            }
        );
        assert_eq!((d.len(), d.bytes()), (0, 0));
    }

    #[test]
    fn missing_fragments_time_out_and_bounds_evict() {
        let mut d = Defrag::default();
        let mut s = DefragStats::default();
        let bytes = [1u8; 16];
        assert!(d.add(&frag(1, 0, true, &bytes), 0, &mut s).is_none());
        // 31 s later, in packet time: the first datagram is gone.
        assert!(d
            .add(&frag(2, 0, true, &bytes), 31_000_000_000, &mut s)
            .is_none());
        assert_eq!((s.evicted, d.len()), (1, 1));
        // Its last fragment alone does not complete anything.
        assert!(d
            .add(&frag(1, 16, false, &bytes), 31_000_000_001, &mut s)
            .is_none());
        // Two ends that disagree.
        assert!(d.add(&frag(3, 16, false, &bytes), 1, &mut s).is_none());
        assert!(d.add(&frag(3, 8, false, &bytes[..8]), 2, &mut s).is_none());
        assert_eq!(s.evicted, 2);
        // A middle fragment not a multiple of 8 bytes.
        assert!(d.add(&frag(4, 0, true, &bytes[..5]), 3, &mut s).is_none());
        assert_eq!(s.evicted, 3);
        // The datagram count bound.
        let mut d = Defrag::default();
        let mut s = DefragStats::default();
        for id in 0..MAX_DATAGRAMS as u32 + 10 {
            assert!(d.add(&frag(id, 0, true, &bytes), 1, &mut s).is_none());
        }
        assert_eq!((d.len(), s.evicted), (MAX_DATAGRAMS, 10));
        // Too many fragments for one datagram.
        let mut d = Defrag::default();
        let mut s = DefragStats::default();
        for i in 0..=u32::from(MAX_FRAGMENTS) {
            d.add(&frag(9, 8 * i, true, &bytes[..8]), 1, &mut s);
        }
        assert_eq!((d.len(), s.evicted), (0, 1));
    }
}
