//! IP fragments: requests and responses whose packets were fragmented
//! (out of order, overlapping, one missing), plain, over IPv6, inside a
//! tunnel, and around one.

use super::*;
use common::encap::{wrap, Wrap};
use common::frag::fragments;

const BIG: usize = 600;

/// A request with a body, fragmented in pieces of 128 bytes in `order`,
/// answered plainly, then a second request not fragmented.
fn conversation(client: &str, server: &str, order: &[usize]) -> (Vec<Frame>, Vec<u8>) {
    let body = "b".repeat(BIG);
    let req = format!(
        "POST /frag HTTP/1.1\r\nHost: example.test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let mut c = Conv::new(client, server);
    c.handshake();
    c.c(&req);
    let whole = c.frames.pop().unwrap();
    for piece in fragments(&whole.data, 128, 0x4242, order) {
        c.frames.push(Frame {
            ts_ns: whole.ts_ns,
            orig_len: piece.len() as u32,
            data: piece,
        });
    }
    c.s(RESP_OK);
    c.c(GET_A);
    c.s(RESP_404);
    c.close();
    (c.frames, req)
}

#[test]
fn fragmented_requests_are_reassembled() {
    // 600 + head + 20 bytes of TCP: six pieces of 128.
    for (client, server) in [
        ("10.0.0.1:40000", "10.0.0.2:80"),
        ("[2001:db8::1]:40000", "[2001:db8::2]:80"),
    ] {
        for order in [
            &[0, 1, 2, 3, 4, 5][..],
            &[5, 3, 1, 0, 2, 4],
            // Duplicates and a repeat of the last one.
            &[0, 0, 1, 2, 5, 3, 4, 5],
        ] {
            let (frames, req) = conversation(client, server, order);
            let (got, s) = import_frames(Link::Ethernet, &frames, port80());
            let what = format!("{client} {order:?}");
            assert_eq!(got.len(), 2, "{what}");
            check(&got[0], &req, RESP_OK, 200);
            check(&got[1], GET_A, RESP_404, 404);
            assert_eq!(s.fragments, order.len() as u64, "{what}");
            // The repeat of the last fragment after the datagram was
            // whole begins another one, which never completes.
            let repeat = u64::from(order.len() == 8);
            let want = shadowtap_capture::DefragStats {
                reassembled: 1,
                evicted: repeat,
            };
            assert_eq!(s.defrag, want, "{what}");
        }
    }
}

#[test]
fn overlapping_fragments_keep_the_first_copy() {
    let (mut frames, req) = conversation("10.0.0.1:40000", "10.0.0.2:80", &[0, 1, 2, 3, 4, 5]);
    // A second copy of fragment 2 with other bytes, before the first: the
    // reassembled datagram has its bytes (first copy wins), and TCP takes
    // the segment as it is.
    let at = 3 + 2;
    let mut other = frames[at].clone();
    let n = other.data.len();
    other.data[n - 16..].fill(b'x');
    frames.insert(at, other);
    let (got, s) = import_frames(Link::Ethernet, &frames, port80());
    assert_eq!(s.defrag.reassembled, 1);
    let mut want = req.clone();
    let piece_end = 2 * 128 + 128 - 20; // IP payload offset minus the TCP header
    want[piece_end - 16..piece_end].fill(b'x');
    assert_eq!(
        String::from_utf8_lossy(&got[0].request),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn a_missing_fragment_loses_that_segment_only() {
    let (frames, _) = conversation("10.0.0.1:40000", "10.0.0.2:80", &[0, 1, 3, 4, 5]);
    let (got, s) = import_frames(Link::Ethernet, &frames, port80());
    assert_eq!(
        s.defrag,
        shadowtap_capture::DefragStats {
            reassembled: 0,
            evicted: 1
        }
    );
    // The request's only segment is lost: its response matches nothing,
    // the hole is counted, the next exchange is whole.
    assert_eq!(got.len(), 1, "{got:?}");
    check(&got[0], GET_A, RESP_404, 404);
    assert_eq!((s.http.orphan_responses, s.reasm.gaps), (1, 1), "{s:?}");
    assert_eq!(s.buffered_bytes, 0);
}

#[test]
fn fragments_inside_and_around_tunnels() {
    let (plain, req) = conversation("10.0.0.1:40000", "10.0.0.2:80", &[4, 0, 1, 2, 3, 5]);
    // Inner fragments, each carried whole by VXLAN and by GRE.
    for w in [Wrap::Vxlan, Wrap::GreKeySeqIp, Wrap::Mpls3] {
        let frames = common::encap::wrap_all(w, 1, &plain);
        let (got, s) = import_frames(Link::Ethernet, &frames, port80());
        assert_eq!(got.len(), 2, "{w:?}");
        check(&got[0], &req, RESP_OK, 200);
        assert_eq!(s.defrag.reassembled, 1, "{w:?}");
    }
    // The outer packet fragmented on its way to the collector: every
    // VXLAN packet split into 64-byte pieces, the last first.
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.close();
    let mut frames = Vec::new();
    for f in &c.frames {
        let outer = wrap(Wrap::Vxlan, 1, &f.data);
        let n = (outer.len() - 34).div_ceil(64);
        let order: Vec<usize> = std::iter::once(n - 1).chain(0..n - 1).collect();
        for piece in fragments(&outer, 64, 7, &order) {
            frames.push(Frame {
                ts_ns: f.ts_ns,
                orig_len: piece.len() as u32,
                data: piece,
            });
        }
    }
    let (got, s) = import_frames(Link::Ethernet, &frames, port80());
    assert_eq!(got.len(), 1);
    check(&got[0], GET_A, RESP_OK, 200);
    assert_eq!(s.defrag.reassembled, c.frames.len() as u64);
    assert_eq!(
        s.encap.packets(shadowtap_capture::Encap::Vxlan),
        c.frames.len() as u64
    );
}
