//! Test support: wrapping captured frames in the tunnels and framings
//! mirrors deliver them in, byte by byte (each layout spelled out below).
//!
//! [`wrap`] takes one Ethernet frame as `Conv` builds it (Ethernet II,
//! possibly VLAN tagged, then IPv4 or IPv6) and returns the frame a
//! collector would capture: the same frame (or its IP packet) inside the
//! encapsulation, with the outer link type given by [`Wrap::linktype`].

use super::Frame;

/// One way of delivering a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// Ethernet / IPv4 / UDP dst 4789 / VXLAN / the frame.
    Vxlan,
    /// The same on another UDP port (as with `--encap vxlan:PORT`).
    VxlanOn(u16),
    /// Ethernet / VLAN 7 / IPv4 / UDP 4789 / VXLAN / the frame with a
    /// VLAN tag 300 added after its MAC addresses.
    VlanVxlanVlan,
    /// Ethernet / IPv4 / UDP dst 6081 / GENEVE with 8 bytes of options,
    /// protocol 0x6558 / the frame.
    Geneve,
    /// Ethernet / IPv4 / GRE (no options), protocol 0x6558 / the frame.
    GreTeb,
    /// Ethernet / IPv4 / GRE with checksum, key and sequence number,
    /// protocol 0x0800 or 0x86dd / the IP packet.
    GreKeySeqIp,
    /// Ethernet / IPv4 / GRE, protocol 0x88be, no sequence number
    /// (ERSPAN type I) / the frame.
    Erspan1,
    /// Ethernet / IPv4 / GRE with sequence number, protocol 0x88be /
    /// ERSPAN type II header / the frame.
    Erspan2,
    /// Ethernet / IPv4 / GRE with sequence number, protocol 0x22eb /
    /// ERSPAN type III header with the optional platform subheader / the
    /// frame.
    Erspan3,
    /// Ethernet (0x8847) / three MPLS labels / the IP packet.
    Mpls3,
    /// Ethernet (0x8847) / two MPLS labels / pseudowire control word /
    /// the frame.
    MplsPw,
    /// Ethernet / IPv4, protocol 4 or 41 / the IP packet (IP in IP, 6in4).
    IpIn4,
    /// Ethernet / IPv6, next header 4 or 41 / the IP packet (4in6, 6in6).
    IpIn6,
    /// Ethernet (0x8864) / PPPoE session / PPP / the IP packet.
    Pppoe,
    /// Link type PPP (9): address, control, protocol / the IP packet.
    Ppp,
    /// Link type Cisco HDLC (104): address, control, EtherType / the IP
    /// packet.
    CiscoHdlc,
    /// Link type NFLOG (239): header, a hardware-protocol TLV, the
    /// payload TLV holding the IP packet.
    Nflog,
}

impl Wrap {
    /// Every way, for tests that try them all.
    pub const ALL: [Wrap; 17] = [
        Wrap::Vxlan,
        Wrap::VxlanOn(8472),
        Wrap::VlanVxlanVlan,
        Wrap::Geneve,
        Wrap::GreTeb,
        Wrap::GreKeySeqIp,
        Wrap::Erspan1,
        Wrap::Erspan2,
        Wrap::Erspan3,
        Wrap::Mpls3,
        Wrap::MplsPw,
        Wrap::IpIn4,
        Wrap::IpIn6,
        Wrap::Pppoe,
        Wrap::Ppp,
        Wrap::CiscoHdlc,
        Wrap::Nflog,
    ];

    /// The link type of the wrapped frames.
    pub fn linktype(self) -> u32 {
        match self {
            Wrap::Ppp => 9,
            Wrap::CiscoHdlc => 104,
            Wrap::Nflog => 239,
            _ => 1,
        }
    }
}

/// The outer Ethernet header: destination 02:00:00:00:00:aa, source
/// 02:00:00:00:00:bb, EtherType.
fn eth(ether_type: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb];
    f.extend(ether_type.to_be_bytes());
    f
}

/// An IPv4 header (20 bytes, no options) from 10.99.0.`session` to
/// 10.99.0.254 around `payload`:
///
/// ```text
/// 0x45 tos | total length | id | flags+offset (0x4000, DF) | ttl 64 |
/// protocol | header checksum | source | destination
/// ```
fn ipv4(proto: u8, session: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap();
    let mut h = vec![0x45, 0];
    h.extend(total.to_be_bytes());
    h.extend([0, 0, 0x40, 0, 64, proto, 0, 0]);
    h.extend([10, 99, 0, session, 10, 99, 0, 254]);
    let sum = super::ipv4_checksum(&h);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv6 header (40 bytes) from fd99::`session` to fd99::fe:
/// version 6, traffic class and flow label 0, payload length, next
/// header, hop limit 64, source, destination.
fn ipv6(next: u8, session: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend(u16::try_from(payload.len()).unwrap().to_be_bytes());
    h.extend([next, 64]);
    let mut src = [0u8; 16];
    src[..2].copy_from_slice(&[0xfd, 0x99]);
    src[15] = session;
    let mut dst = src;
    dst[15] = 0xfe;
    h.extend(src);
    h.extend(dst);
    h.extend_from_slice(payload);
    h
}

/// A UDP header: source port, destination port, length, checksum 0
/// (none, allowed over IPv4).
fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend(src.to_be_bytes());
    u.extend(dst.to_be_bytes());
    u.extend(u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
    u.extend([0, 0]);
    u.extend_from_slice(payload);
    u
}

/// VXLAN: flags 0x08 (VNI valid), 3 reserved bytes, VNI 0x00abcd, 1
/// reserved byte.
fn vxlan(frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0, 0x00, 0xab, 0xcd, 0];
    v.extend_from_slice(frame);
    v
}

/// The IP packet of an Ethernet frame (after its VLAN tags), and whether
/// it is IPv6.
pub fn ip_of(frame: &[u8]) -> (&[u8], bool) {
    let mut at = 12;
    while matches!(
        u16::from_be_bytes([frame[at], frame[at + 1]]),
        0x8100 | 0x88a8 | 0x9100
    ) {
        at += 4;
    }
    let v6 = u16::from_be_bytes([frame[at], frame[at + 1]]) == 0x86dd;
    (&frame[at + 2..], v6)
}

/// The frame with one more VLAN tag (TPID 0x8100, VLAN `id`) after its MAC
/// addresses.
fn add_vlan(frame: &[u8], id: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend([0x81, 0x00]);
    f.extend(id.to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// A GRE header: flags (C 0x80, K 0x20, S 0x10), version 0, protocol,
/// then checksum + reserved (when C), key (when K), sequence (when S).
fn gre(checksum: bool, key: bool, seq: bool, proto: u16, payload: &[u8]) -> Vec<u8> {
    let flags = (u8::from(checksum) << 7) | (u8::from(key) << 5) | (u8::from(seq) << 4);
    let mut g = vec![flags, 0];
    g.extend(proto.to_be_bytes());
    if checksum {
        // Not verified by decoders; left zero.
        g.extend([0, 0, 0, 0]);
    }
    if key {
        g.extend(0x0102_0304u32.to_be_bytes());
    }
    if seq {
        g.extend(77u32.to_be_bytes());
    }
    g.extend_from_slice(payload);
    g
}

/// `frame` as delivered by mirror session `session` (its outer source
/// address).
pub fn wrap(w: Wrap, session: u8, frame: &[u8]) -> Vec<u8> {
    let (ip, v6) = ip_of(frame);
    let (ip_et, ip_proto, ppp_proto) = if v6 {
        (0x86ddu16, 41u8, 0x0057u16)
    } else {
        (0x0800, 4, 0x0021)
    };
    let over_v4 = |proto: u8, payload: &[u8]| {
        let mut f = eth(0x0800);
        f.extend(ipv4(proto, session, payload));
        f
    };
    match w {
        Wrap::Vxlan => over_v4(17, &udp(49152 + u16::from(session), 4789, &vxlan(frame))),
        Wrap::VxlanOn(port) => over_v4(17, &udp(50000, port, &vxlan(frame))),
        Wrap::VlanVxlanVlan => {
            let inner = add_vlan(frame, 300);
            let mut f = eth(0x8100);
            // TCI: priority 0, VLAN 7; then the EtherType of what follows.
            f.extend([0x00, 0x07, 0x08, 0x00]);
            f.extend(ipv4(17, session, &udp(50001, 4789, &vxlan(&inner))));
            f
        }
        Wrap::Geneve => {
            // Version 0, option length 2 words; flags 0; protocol 0x6558;
            // VNI 0x000123; reserved. One option: class 0x0103, type 0x80,
            // length 1 word, then 4 bytes of data.
            let mut g = vec![0x02, 0x00, 0x65, 0x58, 0x00, 0x01, 0x23, 0x00];
            g.extend([0x01, 0x03, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef]);
            g.extend_from_slice(frame);
            over_v4(17, &udp(50002, 6081, &g))
        }
        Wrap::GreTeb => over_v4(47, &gre(false, false, false, 0x6558, frame)),
        Wrap::GreKeySeqIp => over_v4(47, &gre(true, true, true, ip_et, ip)),
        Wrap::Erspan1 => over_v4(47, &gre(false, false, false, 0x88be, frame)),
        Wrap::Erspan2 => {
            // Version 1 and VLAN 0; CoS 0, encapsulation 0, T 0, session
            // 0x3ff & 5; reserved and index 0.
            let mut e = vec![0x10, 0x00, 0x00, 0x05, 0, 0, 0, 0];
            e.extend_from_slice(frame);
            over_v4(47, &gre(false, false, true, 0x88be, &e))
        }
        Wrap::Erspan3 => {
            // Version 2, VLAN 0; CoS/BSO/T 0, session 9; timestamp;
            // SGT 0; P 0, frame type 0 (Ethernet), hardware id 1,
            // D 0, granularity 3, O 1 (subheader follows).
            let mut e = vec![0x20, 0x00, 0x00, 0x09];
            e.extend(0x1122_3344u32.to_be_bytes());
            e.extend([0x00, 0x00, 0x00, 0x17]);
            // Platform-specific subheader: platform id 3, ..., 8 bytes.
            e.extend([0x0c, 0, 0, 0, 0, 0, 0, 1]);
            e.extend_from_slice(frame);
            over_v4(47, &gre(false, false, true, 0x22eb, &e))
        }
        Wrap::Mpls3 => {
            let mut f = eth(0x8847);
            // label(20) tc(3) bottom(1) ttl(8): labels 16, 17, 18, the last
            // with the bottom-of-stack bit.
            for (label, bottom) in [(16u32, 0u32), (17, 0), (18, 1)] {
                f.extend(((label << 12) | (bottom << 8) | 64).to_be_bytes());
            }
            f.extend_from_slice(ip);
            f
        }
        Wrap::MplsPw => {
            let mut f = eth(0x8847);
            f.extend(((100u32 << 12) | 64).to_be_bytes());
            f.extend(((200u32 << 12) | (1 << 8) | 64).to_be_bytes());
            // Control word: first nibble 0, flags, sequence 0.
            f.extend([0, 0, 0, 0]);
            // tshark reads the bytes after the labels as an Ethernet frame
            // without control word when both addresses read that way have
            // a known vendor prefix: the inner addresses here are locally
            // administered, read either way.
            f.extend([2, 0, 0x0a, 0x0b, 0x0c, 1, 2, 0, 0x0a, 0x0b, 0x0c, 2]);
            f.extend_from_slice(&frame[12..]);
            f
        }
        Wrap::IpIn4 => over_v4(ip_proto, ip),
        Wrap::IpIn6 => {
            let mut f = eth(0x86dd);
            f.extend(ipv6(ip_proto, session, ip));
            f
        }
        Wrap::Pppoe => {
            let mut f = eth(0x8864);
            // Version 1 type 1, code 0 (session data), session id 0x0042,
            // length of the PPP frame (protocol + packet).
            f.extend([0x11, 0x00, 0x00, 0x42]);
            f.extend(u16::try_from(2 + ip.len()).unwrap().to_be_bytes());
            f.extend(ppp_proto.to_be_bytes());
            f.extend_from_slice(ip);
            f
        }
        Wrap::Ppp => {
            let mut f = vec![0xff, 0x03];
            f.extend(ppp_proto.to_be_bytes());
            f.extend_from_slice(ip);
            f
        }
        Wrap::CiscoHdlc => {
            let mut f = vec![0x0f, 0x00];
            f.extend(ip_et.to_be_bytes());
            f.extend_from_slice(ip);
            f
        }
        Wrap::Nflog => {
            // Family (AF_INET 2 / AF_INET6 10), version 0, resource id 5
            // (big-endian); then TLVs with little-endian length (header
            // included) and type, each padded to 4 bytes:
            // NFULA_PACKET_HDR (1): hardware protocol, hook, pad.
            let mut f = vec![if v6 { 10 } else { 2 }, 0, 0, 5];
            f.extend(8u16.to_le_bytes());
            f.extend(1u16.to_le_bytes());
            f.extend(ip_et.to_be_bytes());
            f.extend([1, 0]);
            // NFULA_PAYLOAD (9): the packet.
            f.extend(u16::try_from(4 + ip.len()).unwrap().to_le_bytes());
            f.extend(9u16.to_le_bytes());
            f.extend_from_slice(ip);
            f.resize(f.len().next_multiple_of(4), 0);
            f
        }
    }
}

/// Every frame wrapped, lengths adjusted.
pub fn wrap_all(w: Wrap, session: u8, frames: &[Frame]) -> Vec<Frame> {
    frames
        .iter()
        .map(|f| {
            assert_eq!(f.data.len() as u32, f.orig_len, "wrap whole frames only");
            let data = wrap(w, session, &f.data);
            Frame {
                ts_ns: f.ts_ns,
                orig_len: data.len() as u32,
                data,
            }
        })
        .collect()
}
