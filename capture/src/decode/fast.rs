//! The fast paths: the most common frames decoded on their own, without
//! the general slicer. Each answers `None` for anything it does not take,
//! and tests check that wherever it answers, the general path answers the
//! same.

use etherparse::{ether_type, ip_number};

use super::{tcp_packet, Encap, Layers, OuterSession, TcpPacket};

/// The common case on its own, without building a whole
/// `LaxSlicedPacket`: Ethernet II, IPv4 (options allowed) neither fragmented
/// nor cut, TCP. `None` for anything else, which the general path decodes
/// (a test checks both paths agree wherever this one answers).
pub(super) fn fast_ethernet_ipv4_tcp(data: &[u8]) -> Option<TcpPacket<'_>> {
    const ETH: usize = 14;
    if data.get(12..ETH)? != ether_type::IPV4.0.to_be_bytes() {
        return None;
    }
    let packet = &data[ETH..];
    let ip = etherparse::Ipv4HeaderSlice::from_slice(packet).ok()?;
    if ip.is_fragmenting_payload() || ip.protocol() != ip_number::TCP {
        return None;
    }
    let total = usize::from(ip.total_len());
    let ip_len = ip.slice().len();
    // A length field that disagrees with the frame (TSO's zero, a cut
    // packet) is the general path's business.
    if total > packet.len() || total < ip_len {
        return None;
    }
    let tcp = etherparse::TcpSlice::from_slice(&packet[ip_len..total]).ok()?;
    let wire_len = u32::try_from(tcp.payload().len()).ok()?;
    let (src, dst) = (ip.source_addr().into(), ip.destination_addr().into());
    Some(tcp_packet(&tcp, src, dst, wire_len))
}

/// VXLAN as mirrors send it, on its own like [`fast_ethernet_ipv4_tcp`]:
/// Ethernet II, IPv4 neither fragmented nor cut, UDP on `port` whose
/// length agrees with IPv4's, VXLAN, then a frame the plain fast path
/// decodes. `None` for anything else (a test checks it agrees with the
/// general path).
pub(super) fn fast_vxlan<'a>(
    data: &'a [u8],
    port: u16,
    layers: &mut Layers,
) -> Option<TcpPacket<'a>> {
    const ETH: usize = 14;
    if data.get(12..ETH)? != ether_type::IPV4.0.to_be_bytes() {
        return None;
    }
    let packet = &data[ETH..];
    let ip = etherparse::Ipv4HeaderSlice::from_slice(packet).ok()?;
    if ip.is_fragmenting_payload() || ip.protocol() != ip_number::UDP {
        return None;
    }
    let total = usize::from(ip.total_len());
    let ip_len = ip.slice().len();
    if total > packet.len() || total < ip_len + 8 + 8 {
        return None;
    }
    let udp = &packet[ip_len..total];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let dport = u16::from_be_bytes([udp[2], udp[3]]);
    if (dport != port && sport != port)
        || usize::from(u16::from_be_bytes([udp[4], udp[5]])) != udp.len()
    {
        return None;
    }
    let p = fast_ethernet_ipv4_tcp(&udp[16..])?;
    layers.seen.insert(Encap::Vxlan);
    if layers.outer.is_none() {
        layers.outer = Some(OuterSession {
            encap: Encap::Vxlan,
            src: ip.source_addr().into(),
            dst: ip.destination_addr().into(),
        });
    }
    Some(p)
}
