//! Tunnelled and mirrored traffic: each conversation is imported plain
//! and wrapped frame by frame in every encapsulation (`common::encap`),
//! and both imports must record exactly the same exchanges.

use super::*;
use common::encap::{wrap, wrap_all, Wrap};
use shadowtap_capture::decode::{decode_with, Decap, Encap, Layers, Skip};
use shadowtap_capture::{LinkType, Pipeline, PipelineStats};

/// Imports `frames` of link type `linktype` through a pipeline decoding
/// `decap`.
fn import_with(
    linktype: u32,
    frames: &[Frame],
    decap: Decap,
) -> (Vec<Exchange>, PipelineStats, Pipeline) {
    let link = LinkType::from_dlt(linktype as i32).unwrap();
    let mut p = Pipeline::new(port80(), link);
    p.set_decap(decap);
    let mut out = Vec::new();
    for f in frames {
        p.process(f.ts_ns, &f.data, f.orig_len, &mut out);
    }
    p.finish(&mut out);
    let s = p.stats();
    (out, s, p)
}

/// Two requests with responses on one connection, then a second
/// connection, over `link` between `client` and `server`.
fn conversation(client: &str, server: &str, link: Link) -> Vec<Frame> {
    let mut c = Conv::new(client, server).link(link);
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.c_segments(GET_B, 20);
    c.s(RESP_404);
    c.close();
    let mut frames = c.frames;
    let mut c = Conv::new(client, server).link(link);
    c.ts_ns = frames.last().unwrap().ts_ns;
    c.client.set_port(c.client.port() + 1);
    c.handshake();
    c.c(GET_B);
    c.s(RESP_OK);
    c.close();
    frames.extend(c.frames);
    frames
}

/// The kind a wrap is counted as (its outermost tunnel).
fn kind_of(w: Wrap) -> Encap {
    match w {
        Wrap::Vxlan | Wrap::VxlanOn(_) | Wrap::VlanVxlanVlan => Encap::Vxlan,
        Wrap::Geneve => Encap::Geneve,
        Wrap::GreTeb | Wrap::GreKeySeqIp => Encap::Gre,
        Wrap::Erspan1 | Wrap::Erspan2 | Wrap::Erspan3 => Encap::Erspan,
        Wrap::Mpls3 | Wrap::MplsPw => Encap::Mpls,
        Wrap::IpIn4 | Wrap::IpIn6 => Encap::IpInIp,
        Wrap::Pppoe => Encap::Pppoe,
        Wrap::Ppp => Encap::Ppp,
        Wrap::CiscoHdlc => Encap::CiscoHdlc,
        Wrap::Nflog => Encap::Nflog,
    }
}

fn decap_for(w: Wrap) -> Decap {
    match w {
        Wrap::VxlanOn(port) => format!("vxlan:{port}").parse().unwrap(),
        _ => Decap::auto(),
    }
}

#[test]
fn every_encapsulation_imports_the_same_exchanges_as_plain() {
    let inner_links = [
        ("10.0.0.1:40000", "10.0.0.2:80", Link::Ethernet),
        ("10.0.0.1:40000", "10.0.0.2:80", Link::Vlan(12)),
        ("[2001:db8::1]:40000", "[2001:db8::2]:80", Link::Ethernet),
    ];
    for (client, server, link) in inner_links {
        let plain = conversation(client, server, link);
        let (want, want_stats) = import_frames(link, &plain, port80());
        assert_eq!(want.len(), 3);
        assert_eq!(want_stats.encap.total_packets(), 0);
        check(&want[0], GET_A, RESP_OK, 200);
        check(&want[1], GET_B, RESP_404, 404);
        check(&want[2], GET_B, RESP_OK, 200);
        for w in Wrap::ALL {
            let wrapped = wrap_all(w, 1, &plain);
            let (got, s, p) = import_with(w.linktype(), &wrapped, decap_for(w));
            let what = format!("{w:?} around {link:?} {client}");
            assert_eq!(got, want, "{what}");
            if decap_for(w) == Decap::auto() {
                // The same through a pcap file and libpcap.
                let (from_file, _) = import_dlt(w.linktype(), &wrapped, port80());
                assert_eq!(from_file, want, "{what} from a file");
            }
            let n = plain.len() as u64;
            assert_eq!(s.tcp_packets, n, "{what}: {s:?}");
            assert_eq!(s.encap.packets(kind_of(w)), n, "{what}: {s:?}");
            assert_eq!(s.encap.total_undecodable(), 0, "{what}");
            assert_eq!(s.malformed + s.not_ip + s.not_tcp, 0, "{what}");
            // Mirror sessions carried by IP list their outer endpoints.
            let by_ip = !matches!(
                w,
                Wrap::Mpls3
                    | Wrap::MplsPw
                    | Wrap::Pppoe
                    | Wrap::Ppp
                    | Wrap::CiscoHdlc
                    | Wrap::Nflog
            );
            assert_eq!(p.outer_sessions().len(), usize::from(by_ip), "{what}");
            if let Some(o) = p.outer_sessions().first() {
                assert_eq!(o.encap, kind_of(w), "{what}");
                let src = o.src.to_string();
                assert!(src == "10.99.0.1" || src == "fd99::1", "{what}: {o:?}");
            }
        }
    }
}

#[test]
fn layers_counted_along_the_way() {
    let plain = conversation("10.0.0.1:40000", "10.0.0.2:80", Link::Ethernet);
    let n = plain.len() as u64;
    // ERSPAN comes in GRE: both counted.
    let (_, s, _) = import_with(1, &wrap_all(Wrap::Erspan3, 1, &plain), Decap::auto());
    assert_eq!(
        (s.encap.packets(Encap::Gre), s.encap.packets(Encap::Erspan)),
        (n, n)
    );
    // PPPoE carries PPP framing, counted as PPPoE only.
    let (_, s, _) = import_with(1, &wrap_all(Wrap::Pppoe, 1, &plain), Decap::auto());
    assert_eq!(s.encap.packets, {
        let mut a = [0; Encap::ALL.len()];
        a[Encap::Pppoe.index()] = n;
        a
    });
}

#[test]
fn vxlan_on_another_port_needs_to_be_asked_for() {
    let plain = conversation("10.0.0.1:40000", "10.0.0.2:80", Link::Ethernet);
    let wrapped = wrap_all(Wrap::VxlanOn(8472), 1, &plain);
    let (got, s, _) = import_with(1, &wrapped, Decap::auto());
    assert!(got.is_empty());
    assert_eq!(s.not_tcp, plain.len() as u64);
    // `none` decodes no tunnel at all, not even on the standard port.
    let (got, s, _) = import_with(1, &wrap_all(Wrap::Vxlan, 1, &plain), Decap::none());
    assert!(got.is_empty());
    assert_eq!(s.not_tcp, plain.len() as u64);
    let (got, s, _) = import_with(1, &wrap_all(Wrap::GreTeb, 1, &plain), Decap::none());
    assert!(got.is_empty());
    assert_eq!(s.not_tcp, plain.len() as u64);
    // Only the kinds named are decoded.
    let only_gre: Decap = "gre".parse().unwrap();
    let (got, _, _) = import_with(1, &wrap_all(Wrap::Vxlan, 1, &plain), only_gre);
    assert!(got.is_empty());
    let (got, _, _) = import_with(1, &wrap_all(Wrap::GreKeySeqIp, 1, &plain), only_gre);
    assert_eq!(got.len(), 3);
}

/// Two mirror sessions deliver every packet of the conversation (a
/// common misconfiguration: the same traffic mirrored from both ends):
/// the copies are retransmissions of the same inner flow, and the bytes
/// are recorded once.
#[test]
fn the_same_packet_from_two_mirror_sessions_is_recorded_once() {
    let plain = conversation("10.0.0.1:40000", "10.0.0.2:80", Link::Ethernet);
    let (want, _) = import_frames(Link::Ethernet, &plain, port80());
    for (a, b) in [
        (Wrap::Vxlan, Wrap::Vxlan),
        (Wrap::Vxlan, Wrap::Erspan2),
        (Wrap::GreTeb, Wrap::Geneve),
    ] {
        let mut twice = Vec::new();
        for f in &plain {
            for (w, session) in [(a, 1), (b, 2)] {
                let data = wrap(w, session, &f.data);
                twice.push(Frame {
                    ts_ns: f.ts_ns,
                    orig_len: data.len() as u32,
                    data,
                });
            }
        }
        let (got, s, p) = import_with(1, &twice, Decap::auto());
        assert_eq!(got, want, "{a:?} + {b:?}");
        assert_eq!(s.tcp_packets, 2 * plain.len() as u64);
        assert_eq!(s.flows_created, 2);
        let sessions: Vec<String> = p
            .outer_sessions()
            .iter()
            .map(|o| format!("{} {}>{}", o.encap, o.src, o.dst))
            .collect();
        assert_eq!(
            sessions,
            [
                format!("{} 10.99.0.1>10.99.0.254", kind_of(a)),
                format!("{} 10.99.0.2>10.99.0.254", kind_of(b)),
            ],
            "{a:?} + {b:?}"
        );
    }
}

/// Every prefix of every wrapped frame decodes to the same segment (cut)
/// or says it is truncated; a frame whose capture length is its length
/// never panics and never reads outside it.
#[test]
fn cut_tunnelled_frames_are_truncated_not_malformed() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    let full = c.frames.last().unwrap().data.clone();
    for w in Wrap::ALL {
        let frame = wrap(w, 1, &full);
        let link = LinkType::from_dlt(w.linktype() as i32).unwrap();
        let decap = decap_for(w);
        let whole = decode_with(
            link,
            &frame,
            frame.len() as u32,
            &decap,
            &mut Layers::default(),
        )
        .unwrap_or_else(|e| panic!("{w:?}: {e:?}"));
        assert_eq!(whole.payload, GET_A, "{w:?}");
        let start = whole.payload.as_ptr() as usize - frame.as_ptr() as usize;
        assert_eq!(&frame[start..start + GET_A.len()], GET_A, "zero copy");
        for n in 0..frame.len() {
            let cut = &frame[..n];
            match decode_with(
                link,
                cut,
                frame.len() as u32,
                &decap,
                &mut Layers::default(),
            ) {
                Ok(p) => {
                    assert!(n >= start, "{w:?} prefix {n}");
                    assert_eq!(p.payload, &GET_A[..n - start], "{w:?} prefix {n}");
                    assert_eq!(p.wire_len, GET_A.len() as u32, "{w:?} prefix {n}");
                }
                Err(e) => assert_eq!(e, Skip::Truncated, "{w:?} prefix {n}"),
            }
            // Not marked as cut: whatever it says, it does not panic.
            let _ = decode_with(link, cut, n as u32, &decap, &mut Layers::default());
        }
    }
}

/// Single-byte mutations of every wrapped frame: no panic, and what
/// decodes lies inside the frame.
#[test]
fn mutated_tunnel_headers_never_panic() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    let full = c.frames.last().unwrap().data.clone();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for w in Wrap::ALL {
        let frame = wrap(w, 1, &full);
        let link = LinkType::from_dlt(w.linktype() as i32).unwrap();
        for _ in 0..3000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut f = frame.clone();
            let at = (rng % (f.len() - GET_A.len()) as u64) as usize;
            f[at] = (rng >> 32) as u8;
            let mut layers = Layers::default();
            if let Ok(p) = decode_with(link, &f, f.len() as u32, &Decap::auto(), &mut layers) {
                let start = (p.payload.as_ptr() as usize).wrapping_sub(f.as_ptr() as usize);
                assert!(start + p.payload.len() <= f.len(), "{w:?}");
            }
        }
    }
}

#[test]
fn undecodable_encapsulations_are_counted_by_kind() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    let syn = c.frames[0].data.clone();
    let count = |frame: Vec<u8>| {
        let (_, s, _) = import_with(
            1,
            &[Frame {
                ts_ns: 1,
                orig_len: frame.len() as u32,
                data: frame,
            }],
            Decap::auto(),
        );
        assert_eq!(s.malformed, 1, "{s:?}");
        s.encap.undecodable
    };
    let only = |kind: Encap| {
        let mut a = [0; Encap::ALL.len()];
        a[kind.index()] = 1;
        a
    };
    // GRE carrying protocol 0x1234.
    let mut f = wrap(Wrap::GreTeb, 1, &syn);
    f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&[0x12, 0x34]);
    assert_eq!(count(f), only(Encap::Gre));
    // GRE version 3.
    let mut f = wrap(Wrap::GreTeb, 1, &syn);
    f[14 + 20 + 1] = 3;
    assert_eq!(count(f), only(Encap::Gre));
    // ERSPAN III with frame type 5.
    let mut f = wrap(Wrap::Erspan3, 1, &syn);
    f[14 + 20 + 8 + 10] = 5 << 2;
    assert_eq!(count(f), only(Encap::Erspan));
    // GENEVE version 1.
    let mut f = wrap(Wrap::Geneve, 1, &syn);
    f[14 + 20 + 8] |= 0x40;
    assert_eq!(count(f), only(Encap::Geneve));
    // A VXLAN header and nothing after it.
    let mut f = wrap(Wrap::Vxlan, 1, &syn);
    f.truncate(14 + 20 + 8 + 8);
    let ip_len = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&16u16.to_be_bytes());
    let (_, s, _) = import_with(
        1,
        &[Frame {
            ts_ns: 1,
            orig_len: f.len() as u32,
            data: f,
        }],
        Decap::auto(),
    );
    assert_eq!(s.malformed, 1);
    // IP in IP nested nine times: one layer too many.
    let (ip, _) = common::encap::ip_of(&syn);
    let mut packet = ip.to_vec();
    for _ in 0..9 {
        packet = wrap(Wrap::IpIn4, 1, &{
            let mut e = vec![0; 12];
            e.extend([0x08, 0x00]);
            e.extend(&packet);
            e
        })[14..]
            .to_vec();
    }
    let mut f = vec![0; 12];
    f.extend([0x08, 0x00]);
    f.extend(&packet);
    assert_eq!(count(f.clone()), only(Encap::IpInIp));
    // Eight is fine.
    let mut layers = Layers::default();
    let inner8 = &f[14 + 20..];
    let mut g = vec![0; 12];
    g.extend([0x08, 0x00]);
    g.extend(inner8);
    let p = decode_with(
        LinkType::Ethernet,
        &g,
        g.len() as u32,
        &Decap::auto(),
        &mut layers,
    )
    .unwrap();
    assert!(p.flags.syn);
}
