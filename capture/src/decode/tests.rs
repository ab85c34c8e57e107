//! Unit tests of the `decode` module.

use super::tunnel::VXLAN_PORT;
use super::*;
use etherparse::PacketBuilder;

/// Frames around the fast path's edges: flags, payload sizes, IPv4
/// options, Ethernet padding, lying length fields, fragments, other
/// protocols; then thousands of single-byte mutations of their headers.
#[test]
fn fast_path_agrees_with_the_general_path() {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for (i, payload) in [&b""[..], b"x", b"GET / HTTP/1.1\r\n\r\n", &[7u8; 1400]]
        .iter()
        .enumerate()
    {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000 + i as u16, 80, 1000, 65535);
        let b = match i {
            0 => b.syn(),
            1 => b.fin().ack(5),
            2 => b.psh().ack(9),
            _ => b.rst(),
        };
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        frames.push(f);
    }
    // IPv4 options (one NOP word): ihl 6, total length + 4.
    let mut opt = frames[2].clone();
    opt.splice(34..34, [1u8, 1, 1, 1]);
    opt[14] = 0x46;
    let total = u16::from_be_bytes([opt[16], opt[17]]) + 4;
    opt[16..18].copy_from_slice(&total.to_be_bytes());
    frames.push(opt);
    // Ethernet padding after a short packet.
    let mut padded = frames[0].clone();
    padded.extend_from_slice(&[0; 6]);
    frames.push(padded);
    // Total length 0 (TSO), too large, smaller than the headers.
    for total in [0u16, 9000, 30] {
        let mut f = frames[2].clone();
        f[16..18].copy_from_slice(&total.to_be_bytes());
        frames.push(f);
    }
    // More fragments; a fragment offset.
    let mut f = frames[2].clone();
    f[20] |= 0x20;
    frames.push(f);
    let mut f = frames[2].clone();
    f[21] = 8;
    frames.push(f);
    let base = frames.clone();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut f = base[(rng % base.len() as u64) as usize].clone();
        let at = ((rng >> 8) % 60.min(f.len() as u64)) as usize;
        f[at] = (rng >> 32) as u8;
        frames.push(f);
    }
    let mut fast = 0;
    for f in &frames {
        let general = decode_general(LinkType::Ethernet, f, f.len() as u32);
        if let Some(p) = fast_ethernet_ipv4_tcp(f) {
            fast += 1;
            assert_eq!(Ok(p), general, "{f:02x?}");
        }
        assert_eq!(decode(LinkType::Ethernet, f, f.len() as u32), general);
    }
    assert!(
        fast > frames.len() / 4,
        "the fast path answered {fast} times"
    );
}

fn eth_tcp(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(77)
        .psh();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

#[test]
fn ethernet_ipv4_tcp() {
    let frame = eth_tcp(b"GET / HTTP/1.1\r\n\r\n");
    let p = decode(LinkType::Ethernet, &frame, frame.len() as u32).unwrap();
    assert_eq!(p.src, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(p.dst, "10.0.0.2:80".parse().unwrap());
    assert_eq!(p.seq, 1000);
    assert_eq!(p.ack, 77);
    assert!(p.flags.ack && !p.flags.syn);
    assert_eq!(p.payload, b"GET / HTTP/1.1\r\n\r\n");
    assert!(!p.is_truncated());
}

#[test]
fn snaplen_cut_reports_wire_len() {
    let frame = eth_tcp(&[b'x'; 100]);
    let cut = &frame[..frame.len() - 40];
    let p = decode(LinkType::Ethernet, cut, frame.len() as u32).unwrap();
    assert_eq!(p.payload.len(), 60);
    assert_eq!(p.wire_len, 100);
    assert!(p.is_truncated());
    // Cut inside the TCP header.
    let cut = &frame[..14 + 20 + 10];
    assert_eq!(
        decode(LinkType::Ethernet, cut, frame.len() as u32),
        Err(Skip::Truncated)
    );
}

#[test]
fn vlan_qinq_sll_sll2_null_raw() {
    let payload = b"hello";
    let ip = {
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    };
    let check = |link, frame: &[u8]| {
        let p = decode(link, frame, frame.len() as u32).unwrap();
        assert_eq!(p.payload, payload, "{link:?}");
        assert_eq!(p.src.port(), 1);
    };
    // QinQ: 0x88a8 outer, 0x8100 inner.
    let mut f = vec![2; 6];
    f.extend([1; 6]);
    f.extend([0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x86, 0xdd]);
    f.extend(&ip);
    check(LinkType::Ethernet, &f);
    let mut f = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd];
    f.extend(&ip);
    check(LinkType::LinuxSll, &f);
    let mut f = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    f.extend(&ip);
    check(LinkType::LinuxSll2, &f);
    for af in [30u32.to_le_bytes(), 24u32.to_be_bytes()] {
        let mut f = af.to_vec();
        f.extend(&ip);
        check(LinkType::Null, &f);
    }
    let mut f = 28u32.to_be_bytes().to_vec();
    f.extend(&ip);
    check(LinkType::Loop, &f);
    check(LinkType::Raw, &ip);
    check(LinkType::Ipv6, &ip);
    assert_eq!(
        decode(LinkType::Ipv4, &ip, ip.len() as u32),
        Err(Skip::Malformed)
    );
}

#[test]
fn fragments_and_non_tcp_are_reported() {
    let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(1, 2);
    let mut udp = Vec::new();
    b.write(&mut udp, b"x").unwrap();
    assert_eq!(
        decode(LinkType::Raw, &udp, udp.len() as u32),
        Err(Skip::NotTcp)
    );
    let mut frag = eth_tcp(b"abcdefgh");
    // Set "more fragments" in the IPv4 header (byte 6 of the IP header).
    frag[14 + 6] |= 0x20;
    assert_eq!(
        decode(LinkType::Ethernet, &frag, frag.len() as u32),
        Err(Skip::Fragment)
    );
    let arp = {
        let mut f = vec![0; 12];
        f.extend([0x08, 0x06]);
        f.extend([0; 28]);
        f
    };
    assert_eq!(
        decode(LinkType::Ethernet, &arp, arp.len() as u32),
        Err(Skip::NotIp)
    );
}

/// What must hold of any decode: the payload lies inside the frame,
/// after the headers; its wire length is at least what is present.
fn check_decode(link: LinkType, data: &[u8], orig_len: u32) {
    if let Ok(p) = decode(link, data, orig_len) {
        let start = (p.payload.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        assert!(start <= data.len() && start + p.payload.len() <= data.len());
        assert!(
            p.payload.is_empty() || start >= 20,
            "payload inside the headers"
        );
        assert!(p.payload.len() as u64 <= u64::from(p.wire_len));
    }
}

#[test]
fn every_prefix_decodes_or_says_why() {
    let frames = [
        (
            LinkType::Ethernet,
            eth_tcp(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ),
        (LinkType::Raw, eth_tcp(b"x")[14..].to_vec()),
    ];
    for (link, frame) in frames {
        let mut cut_payloads = 0;
        for n in 0..=frame.len() {
            check_decode(link, &frame[..n], frame.len() as u32);
            check_decode(link, &frame[..n], n as u32);
            match decode(link, &frame[..n], frame.len() as u32) {
                Ok(p) if n < frame.len() => {
                    assert!(p.is_truncated());
                    cut_payloads += 1;
                }
                Ok(p) => assert!(!p.is_truncated()),
                Err(e) => assert_eq!(e, Skip::Truncated, "prefix {n}"),
            }
        }
        assert!(cut_payloads > 0);
    }
}

proptest::proptest! {
    #[test]
    fn random_bytes_decode_or_say_why(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200), dlt in 0i32..300) {
        if let Some(link) = LinkType::from_dlt(dlt) {
            check_decode(link, &data, data.len() as u32);
            check_decode(link, &data, u32::MAX);
        }
    }
}

/// VXLAN frames around the VXLAN fast path's edges, and single-byte
/// mutations of their headers: wherever it answers, the general path
/// answers the same, with the same layers.
#[test]
fn vxlan_fast_path_agrees_with_the_general_path() {
    let inner = eth_tcp(b"GET / HTTP/1.1\r\n\r\n");
    let vxlan = |sport: u16, dport: u16, frame: &[u8]| {
        let mut payload = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        payload.extend_from_slice(frame);
        let mut f = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 99, 0, 1], [10, 99, 0, 254], 64)
            .udp(sport, dport)
            .write(&mut f, &payload)
            .unwrap();
        f
    };
    let mut base = vec![
        vxlan(50000, 4789, &inner),
        vxlan(4789, 50000, &inner),
        vxlan(50000, 4790, &inner),
    ];
    let mut padded = base[0].clone();
    padded.extend([0; 8]);
    base.push(padded);
    let mut frames = base.clone();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut f = base[(rng % base.len() as u64) as usize].clone();
        let at = ((rng >> 8) % 110.min(f.len() as u64)) as usize;
        f[at] = (rng >> 32) as u8;
        frames.push(f);
    }
    let mut fast = 0;
    for f in &frames {
        let mut general_layers = Layers::default();
        let mut walk = Walk {
            truncated: false,
            depth: 0,
            decap: &Decap::auto(),
            layers: &mut general_layers,
            fragment: None,
            keep_fragment: false,
        };
        let general = walk.link(LinkType::Ethernet, f);
        let mut layers = Layers::default();
        if let Some(p) = fast_vxlan(f, VXLAN_PORT, &mut layers) {
            fast += 1;
            assert_eq!(Ok(p), general, "{f:02x?}");
            assert_eq!(layers, general_layers, "{f:02x?}");
        }
        let mut layers = Layers::default();
        let all = decode_with(
            LinkType::Ethernet,
            f,
            f.len() as u32,
            &Decap::auto(),
            &mut layers,
        );
        assert_eq!(all, general);
        assert_eq!(layers, general_layers);
    }
    assert!(
        fast > frames.len() / 4,
        "the fast path answered {fast} times"
    );
}

#[test]
fn encap_sets_and_decap_strings() {
    let mut set = EncapSet::default();
    set.insert(Encap::Nflog);
    set.insert(Encap::Vxlan);
    set.insert(Encap::Mpls);
    assert_eq!(
        set.iter().collect::<Vec<_>>(),
        [Encap::Vxlan, Encap::Mpls, Encap::Nflog]
    );
    assert_eq!(EncapSet::ALL.iter().count(), Encap::ALL.len());
    for (i, k) in Encap::ALL.iter().enumerate() {
        assert_eq!(k.index(), i);
    }
    for (text, shown) in [
        ("auto", "auto"),
        ("none", "none"),
        ("vxlan", "vxlan:4789"),
        ("geneve:7000, vxlan:8472", "vxlan:8472,geneve:7000"),
        ("erspan", "gre,erspan"),
        ("mpls,ipip,pppoe", "mpls,ipip,pppoe"),
    ] {
        let d: Decap = text.parse().unwrap();
        assert_eq!(d.to_string(), shown, "{text}");
        assert_eq!(d.to_string().parse::<Decap>().unwrap(), d);
    }
    assert!(matches!(
        "vxlan:0".parse::<Decap>(),
        Err(DecapParseError::Port(_))
    ));
    assert!(matches!(
        "gre:47".parse::<Decap>(),
        Err(DecapParseError::Port(_))
    ));
    assert!(matches!(
        "wireguard".parse::<Decap>(),
        Err(DecapParseError::Unknown(_))
    ));
    assert_eq!(Decap::none().vxlan_port(), None);
}
