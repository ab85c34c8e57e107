//! The flow table's parts: its entries, the hashing of their keys, and the
//! order of their ages that makes evicting the least recent one cheap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher, RandomState};

use super::FlowKey;
use crate::conn::Conn;
use crate::reasm::Reassembler;

/// Flows ordered by when they were last seen, so that evicting one under a
/// flood of new flows costs O(log n), not a scan of the table.
///
/// A min-heap with one entry per flow, pushed when it is created and not
/// touched per packet: an entry's time is at most its flow's `last_ns`.
/// Popping the least entry finds either a flow gone (or its key reused by
/// a newer connection: dropped), a flow seen since (pushed back with its
/// time now), or the flow seen longest ago: every other entry's time is at
/// least its own, and no flow was seen earlier than its entry says. Entries
/// of ended flows are dropped when met, and all of them once they outnumber
/// the live flows, so the heap stays within twice the table.
#[derive(Default)]
pub(super) struct AgeIndex {
    heap: BinaryHeap<Reverse<(u64, u64, FlowKey)>>,
}

impl AgeIndex {
    pub fn push(&mut self, last_ns: u64, conn: u64, key: FlowKey) {
        self.heap.push(Reverse((last_ns, conn, key)));
    }

    pub fn least_recent(
        &mut self,
        flows: &HashMap<FlowKey, Flow, FlowHashState>,
    ) -> Option<FlowKey> {
        if self.heap.len() > 2 * flows.len() + 64 {
            self.heap = flows
                .iter()
                .map(|(k, f)| Reverse((f.last_ns, f.conn.id, *k)))
                .collect();
        }
        while let Some(Reverse((ts, conn, key))) = self.heap.pop() {
            let Some(flow) = flows.get(&key).filter(|f| f.conn.id == conn) else {
                continue;
            };
            if flow.last_ns > ts {
                self.push(flow.last_ns, conn, key);
                continue;
            }
            // Still the flow's entry: it stays in the heap until the flow
            // is gone, which the caller is about to make so.
            self.push(ts, conn, key);
            return Some(key);
        }
        None
    }
}

/// Hashing of flow keys: a multiply-fold per word instead of SipHash's
/// rounds (the flow table is looked up twice per packet). Keys come from
/// the network, so the seeds are random per table, drawn from std's
/// `RandomState`: which keys collide cannot be known in advance.
#[derive(Clone, Debug)]
pub(super) struct FlowHashState {
    seed: u64,
    key: u64,
}

impl FlowHashState {
    pub fn new() -> FlowHashState {
        let rs = RandomState::new();
        FlowHashState {
            seed: rs.hash_one(0x5eed_u64),
            // Odd, so the multiply never loses the low bits.
            key: rs.hash_one(0x006b_6579_u64) | 1,
        }
    }
}

impl BuildHasher for FlowHashState {
    type Hasher = FlowHasher;

    fn build_hasher(&self) -> FlowHasher {
        FlowHasher {
            h: self.seed,
            key: self.key,
        }
    }
}

pub(super) struct FlowHasher {
    h: u64,
    key: u64,
}

/// The high and low halves of the 128-bit product, xor-ed.
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl FlowHasher {
    fn add(&mut self, word: u64) {
        self.h = fold_mul(self.h ^ word, self.key);
    }
}

impl Hasher for FlowHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // One more round, so the last word is mixed into every bit.
        fold_mul(self.h, self.key.rotate_left(32) | 1)
    }
}

/// One TCP connection of the table.
pub(super) struct Flow {
    pub conn: Conn,
    pub reasm: [Reassembler; 2],
    pub syn_seq: [Option<u32>; 2],
    pub last_ns: u64,
    pub mem: usize,
    /// Requests only: the server sent its FIN (its bytes are not followed).
    pub server_fin: bool,
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn hash(state: &FlowHashState, key: &FlowKey) -> u64 {
        state.hash_one(key)
    }

    #[test]
    fn flow_hash_is_stable_per_table_and_spreads_keys() {
        let state = FlowHashState::new();
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut seen = std::collections::HashSet::new();
        for port in 1024..(1024 + 4096u16) {
            let client = SocketAddr::from(([127, 0, 0, 1], port));
            let key = (client, server);
            assert_eq!(hash(&state, &key), hash(&state, &key));
            seen.insert(hash(&state, &key));
        }
        // Keys differing in one port must not collide in bulk.
        assert_eq!(seen.len(), 4096);
        // Buckets come from the low bits: they must spread too.
        let buckets: std::collections::HashSet<u64> = seen.iter().map(|h| h & 1023).collect();
        assert!(
            buckets.len() > 900,
            "{} of 1024 buckets used",
            buckets.len()
        );
        // IPv4 and IPv6 keys, and each table its own seeds.
        let v6: FlowKey = ("[::1]:1024".parse().unwrap(), "[::1]:8080".parse().unwrap());
        assert_ne!(hash(&state, &v6), hash(&state, &(v6.1, v6.0)));
        let other = FlowHashState::new();
        let k = (SocketAddr::from(([10, 0, 0, 1], 5000)), server);
        assert_ne!(hash(&state, &k), hash(&other, &k));
    }
}
