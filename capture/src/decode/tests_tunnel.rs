//! Unit tests of the rarer tunnel and link layouts, built byte by byte.

use super::*;
use etherparse::PacketBuilder;

/// An IPv4 packet from 10.0.0.1:40000 to 10.0.0.2:80 carrying `payload`.
fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 7, 1000)
        .ack(1)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// Ethernet (IPv4) / IPv4 protocol `proto` from 192.0.2.1 to 192.0.2.2
/// around `payload`, checksum left zero (not verified).
fn eth_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend([0x45, 0]);
    f.extend(u16::try_from(20 + payload.len()).unwrap().to_be_bytes());
    f.extend([0, 0, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    f.extend_from_slice(payload);
    f
}

fn tcp_of(link: LinkType, f: &[u8]) -> Result<(Vec<u8>, Layers), Skip> {
    let mut layers = Layers::default();
    decode_with(link, f, f.len() as u32, &Decap::auto(), &mut layers)
        .map(|p| (p.payload.to_vec(), layers))
}

#[test]
fn gre_with_routing_entries() {
    // Flags C+R (0xc0), version 0, protocol IPv4; checksum + offset; one
    // source route entry (family 0x0800, offset 0, length 4, 4 bytes);
    // the null entry (family 0, offset 0, length 0).
    let mut g = vec![0xc0, 0x00, 0x08, 0x00, 0, 0, 0, 0];
    g.extend([0x08, 0x00, 0x00, 0x04, 10, 0, 0, 9]);
    g.extend([0x00, 0x00, 0x00, 0x00]);
    g.extend(ipv4_tcp(b"routed"));
    let (payload, layers) = tcp_of(LinkType::Ethernet, &eth_ipv4(47, &g)).unwrap();
    assert_eq!(payload, b"routed");
    assert_eq!(
        layers.outer.map(|o| (o.encap, o.src.to_string())),
        Some((Encap::Gre, "192.0.2.1".into()))
    );
}

#[test]
fn pptp_gre_version_1_carries_ppp() {
    // Flags K+S (0x30), A and version 1 (0x81), protocol PPP (0x880b);
    // key (payload length, call id), sequence, acknowledgment; PPP with
    // address and control, then the protocol compressed to one byte.
    let ip = ipv4_tcp(b"pptp");
    let mut g = vec![0x30, 0x81, 0x88, 0x0b];
    g.extend(u16::try_from(ip.len() + 3).unwrap().to_be_bytes());
    g.extend([0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0]);
    g.extend([0xff, 0x03, 0x21]);
    g.extend(&ip);
    let (payload, layers) = tcp_of(LinkType::Ethernet, &eth_ipv4(47, &g)).unwrap();
    assert_eq!(payload, b"pptp");
    assert!(layers.seen.contains(Encap::Gre) && layers.seen.contains(Encap::Ppp));
    // Version 1 without the key is not PPTP.
    g[0] = 0x10;
    assert_eq!(
        tcp_of(LinkType::Ethernet, &eth_ipv4(47, &g)),
        Err(Skip::Encap(Encap::Gre))
    );
}

#[test]
fn erspan_3_carrying_ip() {
    // GRE with sequence, protocol 0x22eb; ERSPAN III: version 2, session
    // 3, timestamp, SGT, frame type 2 (IP) in byte 10, O clear.
    let mut g = vec![0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1];
    g.extend([0x20, 0x00, 0x00, 0x03, 0, 0, 0, 9, 0, 0, 2 << 2, 0x00]);
    g.extend(ipv4_tcp(b"ft=ip"));
    let (payload, layers) = tcp_of(LinkType::Ethernet, &eth_ipv4(47, &g)).unwrap();
    assert_eq!(payload, b"ft=ip");
    assert_eq!(layers.outer.map(|o| o.encap), Some(Encap::Erspan));
}

#[test]
fn geneve_carrying_ipv4_directly() {
    // Version 0, no options, protocol 0x0800, VNI 5.
    let mut g = vec![0x00, 0x00, 0x08, 0x00, 0, 0, 5, 0];
    g.extend(ipv4_tcp(b"l3"));
    let mut udp = vec![0xc0, 0x00, 0x17, 0xc1];
    udp.extend(u16::try_from(8 + g.len()).unwrap().to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(&g);
    let (payload, _) = tcp_of(LinkType::Ethernet, &eth_ipv4(17, &udp)).unwrap();
    assert_eq!(payload, b"l3");
}

#[test]
fn nflog_in_either_byte_order_and_cisco_hdlc_on_ppp_links() {
    let ip = ipv4_tcp(b"logged");
    for big_endian in [false, true] {
        let put = |x: u16| {
            if big_endian {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        // AF_INET, version 0, resource 0; a prefix TLV (type 10, "abc\0"),
        // then the payload TLV (type 9), padded.
        let mut f = vec![2, 0, 0, 0];
        f.extend(put(8));
        f.extend(put(10));
        f.extend(b"abc\0");
        f.extend(put(u16::try_from(4 + ip.len()).unwrap()));
        f.extend(put(9));
        f.extend(&ip);
        f.resize(f.len().next_multiple_of(4), 0);
        let (payload, _) = tcp_of(LinkType::Nflog, &f).unwrap();
        assert_eq!(payload, b"logged", "big endian {big_endian}");
    }
    // No payload TLV: not IP.
    assert_eq!(
        tcp_of(LinkType::Nflog, &[2, 0, 0, 0, 8, 0, 10, 0, 0, 0, 0, 0]),
        Err(Skip::NotIp)
    );
    // A PPP serial link carrying Cisco HDLC frames.
    let mut f = vec![0x8f, 0x00, 0x08, 0x00];
    f.extend(&ip);
    let (payload, layers) = tcp_of(LinkType::PppHdlc, &f).unwrap();
    assert_eq!(payload, b"logged");
    assert!(layers.seen.contains(Encap::CiscoHdlc));
    // Cisco HDLC keepalives (SLARP) are not IP.
    assert_eq!(
        tcp_of(LinkType::CiscoHdlc, &[0x8f, 0x00, 0x80, 0x35, 0, 0, 0, 2]),
        Err(Skip::NotIp)
    );
}

#[test]
fn pppoe_padding_and_control_traffic() {
    let ip = ipv4_tcp(b"dsl");
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x64];
    f.extend([0x11, 0x00, 0x12, 0x34]);
    f.extend(u16::try_from(2 + ip.len()).unwrap().to_be_bytes());
    f.extend([0x00, 0x21]);
    f.extend(&ip);
    f.extend([0; 10]);
    let (payload, _) = tcp_of(LinkType::Ethernet, &f).unwrap();
    assert_eq!(payload, b"dsl");
    // LCP (0xc021) in a session is not IP.
    let n = f.len();
    let lcp_at = n - 10 - ip.len() - 2;
    f[lcp_at..lcp_at + 2].copy_from_slice(&[0xc0, 0x21]);
    assert_eq!(tcp_of(LinkType::Ethernet, &f), Err(Skip::NotIp));
}

#[test]
fn nesting_is_bounded() {
    // IPv4 in IPv4, eight times: decoded; nine: one layer too many.
    let mut packet = ipv4_tcp(b"deep");
    for depth in 1..=9u8 {
        let mut outer = eth_ipv4(4, &packet)[14..].to_vec();
        outer[15] = depth;
        packet = outer;
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend(&packet);
        let got = tcp_of(LinkType::Ethernet, &f);
        if depth <= MAX_DEPTH {
            let (payload, layers) = got.unwrap();
            assert_eq!(payload, b"deep");
            // The outermost tunnel is the one reported.
            assert_eq!(
                layers.outer.map(|o| o.src.to_string()),
                Some(format!("192.0.2.{depth}"))
            );
        } else {
            assert_eq!(got, Err(Skip::Encap(Encap::IpInIp)));
        }
    }
}

#[test]
fn pppd_and_pflog_link_types() {
    let ip = ipv4_tcp(b"links");
    // pppd: direction out, control, protocol IPv4.
    let mut f = vec![0x01, 0x03, 0x00, 0x21];
    f.extend(&ip);
    assert_eq!(tcp_of(LinkType::PppPppd, &f).unwrap().0, b"links");
    assert_eq!(LinkType::from_dlt(166), Some(LinkType::PppPppd));
    // pflog: length 61, AF_INET, action, reason, then the rest of the
    // header (zeros) up to 64 bytes.
    let mut f = vec![61, 2];
    f.resize(64, 0);
    f.extend(&ip);
    assert_eq!(tcp_of(LinkType::Pflog, &f).unwrap().0, b"links");
    // IPv6 with OpenBSD's AF_INET6 (24).
    let mut v6 = Vec::new();
    PacketBuilder::ipv6([1; 16], [2; 16], 64)
        .tcp(1, 80, 1, 100)
        .write(&mut v6, b"six")
        .unwrap();
    let mut f = vec![61, 24];
    f.resize(64, 0);
    f.extend(&v6);
    assert_eq!(tcp_of(LinkType::Pflog, &f).unwrap().0, b"six");
    assert_eq!(tcp_of(LinkType::Pflog, &[61, 2, 0]), Err(Skip::Malformed));
}
