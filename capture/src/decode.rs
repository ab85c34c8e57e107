//! Link-layer, IP and TCP decoding of captured frames.
//!
//! [`decode`] turns one captured frame into a [`TcpPacket`] or says why it
//! was skipped ([`Skip`]). Decoding is lax: a frame cut by the capture's snap
//! length keeps the layers that decoded, and a TCP payload shorter than the
//! IP header says is reported through [`TcpPacket::wire_len`] so the
//! reassembler can account for the missing bytes instead of gluing over
//! them. No input makes it panic.
//!
//! Link types handled (by pcap `LINKTYPE_*` number, see [`LinkType::from_dlt`]):
//! Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked capture v1
//! (SLL, 16-byte header) and v2 (SLL2, 20-byte header), BSD loopback
//! (`NULL`, address family in host byte order, and `LOOP`, network byte
//! order), and raw IP (`RAW`, `IPV4`, `IPV6`). IPv4 (with options) and IPv6
//! (with extension headers) are decoded by etherparse.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    ether_type, ip_number, EtherType, LaxIpSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};

/// How frames of a capture start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkType {
    /// Ethernet II, possibly VLAN tagged (`LINKTYPE_ETHERNET`, 1).
    Ethernet,
    /// BSD loopback: a 4-byte address family in the writer's byte order
    /// (`LINKTYPE_NULL`, 0).
    Null,
    /// OpenBSD loopback: a 4-byte address family in network byte order
    /// (`LINKTYPE_LOOP`, 108).
    Loop,
    /// Raw IPv4 or IPv6, told apart by the version nibble (`LINKTYPE_RAW`,
    /// 101, and the historical DLT values 12 and 14).
    Raw,
    /// Raw IPv4 only (`LINKTYPE_IPV4`, 228).
    Ipv4,
    /// Raw IPv6 only (`LINKTYPE_IPV6`, 229).
    Ipv6,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113).
    LinuxSll,
    /// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276).
    LinuxSll2,
}

impl LinkType {
    /// The link type for a pcap link-type / DLT number, if supported.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        Some(match dlt {
            1 => LinkType::Ethernet,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// The pcap `LINKTYPE_*` number written to files for this link type.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
        }
    }
}

/// TCP control flags that matter to reassembly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK (the acknowledgment number is valid).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// A decoded TCP segment borrowing the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (of the SYN when set).
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Control flags.
    pub flags: TcpFlags,
    /// The payload bytes present in the capture.
    pub payload: &'a [u8],
    /// The payload length the segment had on the wire. Larger than
    /// `payload.len()` when the frame was cut by the snap length.
    pub wire_len: u32,
}

impl TcpPacket<'_> {
    /// True when the frame was cut by the snap length inside the payload.
    pub fn is_truncated(&self) -> bool {
        (self.payload.len() as u64) < u64::from(self.wire_len)
    }
}

/// Why a frame did not yield a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP but not TCP.
    NotTcp,
    /// An IP fragment: fragments are counted, not reassembled.
    Fragment,
    /// The frame ended inside a header (snap length too small, or a torn
    /// frame): the segment cannot be placed in its stream.
    Truncated,
    /// A header that does not parse (bad version, bad lengths).
    Malformed,
}

/// Decodes one captured frame.
///
/// `orig_len` is the frame's length on the wire as recorded by the capture
/// (`len` in the pcap record header); a `data` shorter than that was cut by
/// the snap length.
pub fn decode(link: LinkType, data: &[u8], orig_len: u32) -> Result<TcpPacket<'_>, Skip> {
    let truncated_frame = (data.len() as u64) < u64::from(orig_len);
    if link == LinkType::Ethernet && !truncated_frame {
        if let Some(p) = fast_ethernet_ipv4_tcp(data) {
            return Ok(p);
        }
    }
    decode_general(link, data, orig_len)
}

/// Any link type, any IP version, with the lax slicer.
fn decode_general(link: LinkType, data: &[u8], orig_len: u32) -> Result<TcpPacket<'_>, Skip> {
    let truncated_frame = (data.len() as u64) < u64::from(orig_len);
    let sliced = match link {
        LinkType::Ethernet => {
            if let Some((mac, rest)) = data.split_first_chunk::<14>() {
                ip_version_as_declared(u16::from_be_bytes([mac[12], mac[13]]), rest)?;
            }
            LaxSlicedPacket::from_ethernet(data).map_err(|_| short(truncated_frame))?
        }
        LinkType::Null => {
            let (family, rest) = split4(data, truncated_frame)?;
            let le = u32::from_le_bytes(family);
            let be = u32::from_be_bytes(family);
            // The header is in the byte order of the machine that wrote the
            // file: whichever reading is a small number is the right one.
            let af = if le <= 0xffff { le } else { be };
            from_ip_family(af, rest)?
        }
        LinkType::Loop => {
            let (family, rest) = split4(data, truncated_frame)?;
            from_ip_family(u32::from_be_bytes(family), rest)?
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
            let version = data.first().map(|b| b >> 4).ok_or(short(truncated_frame))?;
            match (link, version) {
                (LinkType::Ipv4, 4) | (LinkType::Ipv6, 6) | (LinkType::Raw, 4 | 6) => {}
                _ => return Err(Skip::Malformed),
            }
            LaxSlicedPacket::from_ip(data).map_err(|e| ip_error(e, truncated_frame))?
        }
        LinkType::LinuxSll => {
            if data.len() < 16 {
                return Err(short(truncated_frame));
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            from_ether_type(proto, &data[16..])?
        }
        LinkType::LinuxSll2 => {
            if data.len() < 20 {
                return Err(short(truncated_frame));
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            from_ether_type(proto, &data[20..])?
        }
    };
    tcp_from_sliced(&sliced, truncated_frame)
}

fn short(truncated_frame: bool) -> Skip {
    if truncated_frame {
        Skip::Truncated
    } else {
        Skip::Malformed
    }
}

fn split4(data: &[u8], truncated_frame: bool) -> Result<([u8; 4], &[u8]), Skip> {
    match data.split_first_chunk::<4>() {
        Some((head, rest)) => Ok((*head, rest)),
        None => Err(short(truncated_frame)),
    }
}

/// BSD address families: `AF_INET` is 2 everywhere; `AF_INET6` is 24
/// (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS) or 10 (Linux).
fn from_ip_family(af: u32, rest: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    match af {
        2 => from_ether_type(ether_type::IPV4.0, rest),
        10 | 24 | 28 | 30 => from_ether_type(ether_type::IPV6.0, rest),
        _ => Err(Skip::NotIp),
    }
}

fn from_ether_type(proto: u16, rest: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    ip_version_as_declared(proto, rest)?;
    match EtherType(proto) {
        ether_type::IPV4
        | ether_type::IPV6
        | ether_type::VLAN_TAGGED_FRAME
        | ether_type::PROVIDER_BRIDGING
        | ether_type::VLAN_DOUBLE_TAGGED_FRAME => {
            Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), rest))
        }
        _ => Err(Skip::NotIp),
    }
}

/// A packet whose link layer says IPv4 (or IPv6), behind any VLAN tags,
/// must carry that IP version: the slicer would otherwise read it by its
/// version nibble, so the same bytes would count as `not_tcp` behind a link
/// header and as `malformed` on a raw IPv4 link.
fn ip_version_as_declared(mut proto: u16, mut rest: &[u8]) -> Result<(), Skip> {
    // Each tag is 4 bytes, so the loop ends with the input.
    while matches!(
        EtherType(proto),
        ether_type::VLAN_TAGGED_FRAME
            | ether_type::PROVIDER_BRIDGING
            | ether_type::VLAN_DOUBLE_TAGGED_FRAME
    ) {
        let Some((tag, inner)) = rest.split_first_chunk::<4>() else {
            return Ok(());
        };
        proto = u16::from_be_bytes([tag[2], tag[3]]);
        rest = inner;
    }
    let want = match EtherType(proto) {
        ether_type::IPV4 => 4,
        ether_type::IPV6 => 6,
        _ => return Ok(()),
    };
    match rest.first() {
        Some(b) if b >> 4 != want => Err(Skip::Malformed),
        _ => Ok(()),
    }
}

fn ip_error(e: etherparse::err::ip::LaxHeaderSliceError, truncated_frame: bool) -> Skip {
    match e {
        etherparse::err::ip::LaxHeaderSliceError::Len(_) => short(truncated_frame),
        _ => Skip::Malformed,
    }
}

/// The common case on its own, without building a whole
/// `LaxSlicedPacket`: Ethernet II, IPv4 (options allowed) neither fragmented
/// nor cut, TCP. `None` for anything else, which the general path decodes
/// (a test checks both paths agree wherever this one answers).
fn fast_ethernet_ipv4_tcp(data: &[u8]) -> Option<TcpPacket<'_>> {
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

/// The packet a TCP segment from `src` to `dst` makes.
fn tcp_packet<'a>(
    tcp: &etherparse::TcpSlice<'a>,
    src: IpAddr,
    dst: IpAddr,
    wire_len: u32,
) -> TcpPacket<'a> {
    TcpPacket {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload: tcp.payload(),
        wire_len,
    }
}

fn tcp_from_sliced<'a>(
    sliced: &LaxSlicedPacket<'a>,
    truncated_frame: bool,
) -> Result<TcpPacket<'a>, Skip> {
    let net = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => LaxIpSlice::Ipv4(v4.clone()),
        Some(LaxNetSlice::Ipv6(v6)) => LaxIpSlice::Ipv6(v6.clone()),
        Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotIp),
        None => {
            // Either not IP at all, or an IP header that did not decode.
            return Err(match &sliced.stop_err {
                Some((etherparse::err::packet::SliceError::Len(_), _)) => short(truncated_frame),
                Some(_) => Skip::Malformed,
                None => Skip::NotIp,
            });
        }
    };
    let payload = net.payload();
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    if payload.ip_number != ip_number::TCP {
        // An IPv6 extension header chain cut short stops before TCP.
        if sliced.stop_err.is_some() {
            return Err(short(truncated_frame));
        }
        return Err(Skip::NotTcp);
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        Some(_) => return Err(Skip::NotTcp),
        None => {
            return Err(match &sliced.stop_err {
                Some((etherparse::err::packet::SliceError::Len(_), _)) => short(truncated_frame),
                _ => Skip::Malformed,
            })
        }
    };
    let (src_ip, dst_ip) = (net.source_addr(), net.destination_addr());
    let data = tcp.payload();
    let header_len = tcp.header_slice().len() as u64;
    // The payload length on the wire, from the IP length fields.
    let wire_len = if payload.incomplete {
        let ip_payload_wire = match &net {
            LaxIpSlice::Ipv4(v4) => {
                let hdr = v4.header();
                let before_payload =
                    payload.payload.as_ptr() as usize - hdr.slice().as_ptr() as usize;
                u64::from(hdr.total_len()).saturating_sub(before_payload as u64)
            }
            LaxIpSlice::Ipv6(v6) => {
                let hdr = v6.header();
                let before_payload =
                    payload.payload.as_ptr() as usize - hdr.slice().as_ptr() as usize;
                (u64::from(hdr.payload_length()) + 40).saturating_sub(before_payload as u64)
            }
        };
        ip_payload_wire
            .saturating_sub(header_len)
            .max(data.len() as u64)
    } else {
        data.len() as u64
    };
    let wire_len = u32::try_from(wire_len).map_err(|_| Skip::Malformed)?;
    Ok(tcp_packet(tcp, src_ip, dst_ip, wire_len))
}

#[cfg(test)]
mod tests;
