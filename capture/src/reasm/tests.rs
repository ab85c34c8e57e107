//! Unit tests of the `reasm` module.

use super::*;
use proptest::prelude::*;

#[derive(Default)]
struct Collect {
    bytes: Vec<u8>,
    gaps: Vec<(u64, u64, bool)>,
    offsets_ok: bool,
}

impl StreamSink for Collect {
    fn data(&mut self, _: SegMeta, offset: u64, bytes: &[u8]) {
        self.offsets_ok =
            offset == self.bytes.len() as u64 + self.gaps.iter().map(|g| g.1).sum::<u64>();
        self.bytes.extend_from_slice(bytes);
    }
    fn gap(&mut self, _: SegMeta, offset: u64, len: u64, snaplen: bool) {
        self.gaps.push((offset, len, snaplen));
    }
}

const M: SegMeta = SegMeta {
    ts_ns: 0,
    ack: None,
};

fn seg(r: &mut Reassembler, c: &mut Collect, seq: u32, data: &[u8]) {
    r.segment(M, seq, data, data.len() as u32, false, c);
}

#[test]
fn in_order_out_of_order_and_duplicates() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(99);
    seg(&mut r, &mut c, 100, b"abc");
    seg(&mut r, &mut c, 106, b"ghi");
    assert_eq!(c.bytes, b"abc");
    seg(&mut r, &mut c, 100, b"abcdef"); // retransmission, longer
    assert_eq!(c.bytes, b"abcdefghi");
    assert!(c.gaps.is_empty());
    assert_eq!(r.stats().duplicate_bytes, 3);
}

#[test]
fn first_copy_wins_on_overlap() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    seg(&mut r, &mut c, 4, b"DEF");
    seg(&mut r, &mut c, 1, b"abcdefgh");
    assert_eq!(c.bytes, b"abcDEFgh");
}

#[test]
fn sequence_wraparound() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(u32::MAX - 3);
    seg(&mut r, &mut c, u32::MAX - 2, b"abc");
    seg(&mut r, &mut c, 2, b"fg");
    seg(&mut r, &mut c, 0, b"de");
    assert_eq!(c.bytes, b"abcdefg");
    assert_eq!(r.position(), 7);
}

#[test]
fn snaplen_tail_is_a_gap_and_stream_continues() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    r.segment(M, 1, b"abc", 10, false, &mut c);
    seg(&mut r, &mut c, 11, b"xyz");
    assert_eq!(c.bytes, b"abcxyz");
    assert_eq!(c.gaps, vec![(3, 7, true)]);
}

#[test]
fn peer_ack_gives_up_missing_bytes() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    seg(&mut r, &mut c, 1, b"ab");
    seg(&mut r, &mut c, 6, b"fg");
    r.peer_ack(M, 6, &mut c);
    assert_eq!(c.gaps, vec![(2, 3, false)]);
    assert_eq!(c.bytes, b"abfg");
    // An ack for bytes never sent in this window is ignored.
    r.peer_ack(M, 5, &mut c);
    assert_eq!(c.gaps.len(), 1);
}

#[test]
fn old_holes_expire_young_ones_wait() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    let at = |ts_ns| SegMeta { ts_ns, ack: None };
    r.segment(at(10), 1, b"ab", 2, false, &mut c);
    r.segment(at(20), 6, b"fg", 2, false, &mut c); // hole [2, 5)
    r.segment(at(30), 11, b"kl", 2, false, &mut c); // hole [7, 10)
    r.expire_holes(20, &mut c);
    assert!(c.gaps.is_empty(), "the first waiting piece arrived at 20");
    r.expire_holes(21, &mut c);
    assert_eq!(c.gaps, vec![(2, 3, false)]);
    assert_eq!(c.bytes, b"abfg");
    r.expire_holes(u64::MAX, &mut c);
    assert_eq!(c.gaps, vec![(2, 3, false), (7, 3, false)]);
    assert_eq!(c.bytes, b"abfgkl");
    assert!(c.offsets_ok);
    assert_eq!((r.pending_bytes(), r.stats().forced_gaps), (0, 2));
    // Nothing buffered: nothing to give up.
    r.expire_holes(u64::MAX, &mut c);
    assert_eq!(c.gaps.len(), 2);
}

#[test]
fn bound_forces_a_gap() {
    let mut r = Reassembler::new(4);
    let mut c = Collect::default();
    r.syn(0);
    seg(&mut r, &mut c, 11, b"kl");
    seg(&mut r, &mut c, 13, b"mno");
    assert_eq!(c.gaps, vec![(0, 10, false)]);
    assert_eq!(c.bytes, b"klmno");
    assert_eq!(r.stats().forced_gaps, 1);
    assert_eq!(r.pending_bytes(), 0);
}

#[test]
fn finish_flushes_with_gaps_and_fin() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    seg(&mut r, &mut c, 1, b"a");
    seg(&mut r, &mut c, 3, b"c");
    r.segment(M, 5, b"e", 1, true, &mut c);
    assert!(!r.is_finished());
    r.finish(M, &mut c);
    assert_eq!(c.bytes, b"ace");
    assert_eq!(c.gaps, vec![(1, 1, false), (3, 1, false)]);
    assert!(r.is_finished());
}

#[test]
fn data_after_fin_is_ignored() {
    let mut r = Reassembler::new(1 << 20);
    let mut c = Collect::default();
    r.syn(0);
    r.segment(M, 1, b"ab", 2, true, &mut c);
    seg(&mut r, &mut c, 3, b"zz");
    assert_eq!(c.bytes, b"ab");
    assert!(r.is_finished());
}

proptest! {
    /// Any segmentation, reordering and duplication of a stream
    /// (retransmissions with their own boundaries) reassembles to the
    /// same bytes, wherever the sequence numbers start.
    #[test]
    fn any_segmentation_reassembles(
        data in proptest::collection::vec(any::<u8>(), 1..2000),
        cuts in proptest::collection::vec(any::<u16>(), 0..40),
        dups in proptest::collection::vec((any::<u16>(), 1u16..300), 0..10),
        order in proptest::collection::vec(any::<u32>(), 0..60),
        isn in prop_oneof![Just(u32::MAX - 500), any::<u32>()],
    ) {
        let n = data.len();
        let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % n).collect();
        points.push(0);
        points.push(n);
        points.sort_unstable();
        points.dedup();
        let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
        for (s, l) in dups {
            let s = s as usize % n;
            segs.push((s, (s + l as usize).min(n)));
        }
        // Shuffle deterministically by the random keys.
        let mut keyed: Vec<(u32, (usize, usize))> = segs
            .into_iter()
            .enumerate()
            .map(|(i, s)| (order.get(i).copied().unwrap_or(i as u32), s))
            .collect();
        keyed.sort_by_key(|k| k.0);
        let mut r = Reassembler::new(1 << 20);
        let mut c = Collect::default();
        r.syn(isn);
        for (_, (a, b)) in keyed {
            let seq = isn.wrapping_add(1).wrapping_add(a as u32);
            r.segment(M, seq, &data[a..b], (b - a) as u32, false, &mut c);
            prop_assert!(c.bytes.is_empty() || c.offsets_ok);
        }
        prop_assert!(c.gaps.is_empty());
        prop_assert_eq!(&c.bytes, &data);
        prop_assert_eq!(r.pending_bytes(), 0);
    }

    /// Dropping segments yields gaps of exactly the missing lengths,
    /// and the bytes around them are exact.
    #[test]
    fn missing_segments_are_exact_gaps(
        data in proptest::collection::vec(any::<u8>(), 1..1000),
        cuts in proptest::collection::vec(any::<u16>(), 1..20),
        drop_mask in any::<u32>(),
    ) {
        let n = data.len();
        let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % n).collect();
        points.push(0);
        points.push(n);
        points.sort_unstable();
        points.dedup();
        let mut r = Reassembler::new(1 << 20);
        let mut c = Collect::default();
        r.syn(7);
        let mut expect = Vec::new();
        let mut missing = 0u64;
        for (i, w) in points.windows(2).enumerate().rev() {
            let (a, b) = (w[0], w[1]);
            // Always keep the last segment so the FIN position is known.
            let last = b == n;
            if !last && drop_mask & (1 << (i % 32)) != 0 {
                continue;
            }
            r.segment(M, 8 + a as u32, &data[a..b], (b - a) as u32, last, &mut c);
        }
        r.finish(M, &mut c);
        for w in points.windows(2).enumerate() {
            let (i, w) = w;
            let (a, b) = (w[0], w[1]);
            if b != n && drop_mask & (1 << (i % 32)) != 0 {
                missing += (b - a) as u64;
            } else {
                expect.extend_from_slice(&data[a..b]);
            }
        }
        prop_assert_eq!(&c.bytes, &expect);
        prop_assert_eq!(c.gaps.iter().map(|g| g.1).sum::<u64>(), missing);
        prop_assert!(r.is_finished());
    }
}
