//! Link-layer, IP and TCP decoding of captured frames, through tunnels.
//!
//! [`decode`] turns one captured frame into a [`TcpPacket`] or says why it
//! was skipped ([`Skip`]). Decoding is lax: a frame cut by the capture's snap
//! length keeps the layers that decoded, and a TCP payload shorter than the
//! IP header says is reported through [`TcpPacket::wire_len`] so the
//! reassembler can account for the missing bytes instead of gluing over
//! them. No input makes it panic, and nothing is copied: the packet
//! borrows the frame, however deep inside it the TCP segment sits.
//!
//! Link types handled (by pcap `LINKTYPE_*` number, see [`LinkType::from_dlt`]):
//! Ethernet (with 802.1Q / 802.1ad / QinQ tags), Linux cooked capture v1
//! (SLL, 16-byte header) and v2 (SLL2, 20-byte header), BSD loopback
//! (`NULL`, address family in host byte order, and `LOOP`, network byte
//! order), raw IP (`RAW`, `IPV4`, `IPV6`), PPP (also in HDLC framing and
//! as pppd logs it), Cisco HDLC, Linux NFLOG and BSD pflog. IPv4 (with options) and IPv6 (with extension
//! headers) are decoded by etherparse.
//!
//! Encapsulations ([`Encap`], decoded as [`Decap`] allows, nested up to
//! [`MAX_DEPTH`] layers): VXLAN, GENEVE (with options), GRE (versions 0
//! and 1, any of checksum / key / sequence / routing) carrying Ethernet, IP,
//! MPLS, PPP or ERSPAN I/II/III, MPLS label stacks (the payload guessed by
//! its first nibble, as tshark does), IPv4/IPv6 in IPv4/IPv6, PPPoE
//! sessions; VLAN tags may appear inside any of them. The TCP segment
//! found is the innermost one: the tunnel's own addresses are reported in
//! [`Layers`], not in the packet.

mod fast;
mod link;
mod tunnel;

use fast::{fast_ethernet_ipv4_tcp, fast_vxlan};

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    ether_type, ip_number, EtherType, LaxIpSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};

pub use tunnel::{Decap, DecapParseError, Encap, EncapSet, Layers, OuterSession};

/// Most encapsulation layers decoded around one packet; a deeper one is
/// undecodable ([`Skip::Encap`]).
pub const MAX_DEPTH: u8 = 8;
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
    /// PPP, with or without the HDLC address and control bytes
    /// (`LINKTYPE_PPP`, 9).
    Ppp,
    /// PPP in HDLC-like framing, or Cisco HDLC, on a serial line
    /// (`LINKTYPE_PPP_HDLC`, 50).
    PppHdlc,
    /// Cisco HDLC: address, control, EtherType (`LINKTYPE_C_HDLC`, 104).
    CiscoHdlc,
    /// Linux NFLOG: a family byte, then TLVs, one holding the IP packet
    /// (`LINKTYPE_NFLOG`, 239).
    Nflog,
    /// PPP as pppd logs it: a direction byte instead of the HDLC address
    /// (`LINKTYPE_PPP_PPPD`, 166).
    PppPppd,
    /// BSD pf logs: a header giving its own length and the address family,
    /// then the IP packet (`LINKTYPE_PFLOG`, 117).
    Pflog,
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
            9 => LinkType::Ppp,
            50 => LinkType::PppHdlc,
            104 => LinkType::CiscoHdlc,
            239 => LinkType::Nflog,
            166 => LinkType::PppPppd,
            117 => LinkType::Pflog,
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
            LinkType::Ppp => 9,
            LinkType::PppHdlc => 50,
            LinkType::CiscoHdlc => 104,
            LinkType::Nflog => 239,
            LinkType::PppPppd => 166,
            LinkType::Pflog => 117,
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
    /// An IP fragment: [`decode_fragment`] finds it for reassembly.
    Fragment,
    /// The frame ended inside a header (snap length too small, or a torn
    /// frame): the segment cannot be placed in its stream.
    Truncated,
    /// A header that does not parse (bad version, bad lengths).
    Malformed,
    /// An encapsulation of this kind that could not be decoded: its header
    /// is bad, it carries a protocol not decoded, or it is nested deeper
    /// than [`MAX_DEPTH`].
    Encap(Encap),
}

/// Decodes one captured frame, through any encapsulation ([`Decap::auto`]).
///
/// `orig_len` is the frame's length on the wire as recorded by the capture
/// (`len` in the pcap record header); a `data` shorter than that was cut by
/// the snap length.
pub fn decode(link: LinkType, data: &[u8], orig_len: u32) -> Result<TcpPacket<'_>, Skip> {
    decode_with(link, data, orig_len, &Decap::auto(), &mut Layers::default())
}

/// Decodes one captured frame through the encapsulations `decap` allows,
/// recording in `layers` which ones it went through (`layers` is only
/// added to: reset it between frames).
pub fn decode_with<'a>(
    link: LinkType,
    data: &'a [u8],
    orig_len: u32,
    decap: &Decap,
    layers: &mut Layers,
) -> Result<TcpPacket<'a>, Skip> {
    let truncated = (data.len() as u64) < u64::from(orig_len);
    if link == LinkType::Ethernet && !truncated {
        if let Some(p) = fast_ethernet_ipv4_tcp(data) {
            return Ok(p);
        }
        if let Some(port) = decap.vxlan_port() {
            if let Some(p) = fast_vxlan(data, port, layers) {
                return Ok(p);
            }
        }
    }
    let mut walk = Walk {
        truncated,
        depth: 0,
        decap,
        layers,
        fragment: None,
        keep_fragment: false,
    };
    walk.link(link, data)
}

/// One IP fragment, as [`decode_fragment`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// IP source.
    pub src: IpAddr,
    /// IP destination.
    pub dst: IpAddr,
    /// The datagram's identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// The protocol of the datagram's payload.
    pub proto: u8,
    /// Where this fragment's bytes start in the datagram's payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's bytes present in the frame.
    pub payload: &'a [u8],
    /// The frame was cut inside the fragment's bytes.
    pub cut: bool,
}

/// The innermost IP fragment in a frame that [`decode_with`] reported as
/// [`Skip::Fragment`], for reassembly; `layers` gets what it went through.
pub fn decode_fragment<'a>(
    link: LinkType,
    data: &'a [u8],
    orig_len: u32,
    decap: &Decap,
    layers: &mut Layers,
) -> Option<Fragment<'a>> {
    let mut walk = Walk {
        truncated: (data.len() as u64) < u64::from(orig_len),
        depth: 0,
        decap,
        layers,
        fragment: None,
        keep_fragment: true,
    };
    match walk.link(link, data) {
        Err(Skip::Fragment) => walk.fragment,
        _ => None,
    }
}

/// The TCP segment (or tunnel) in a reassembled datagram's payload:
/// `proto` from `src` to `dst`.
pub fn decode_reassembled<'a>(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    payload: &'a [u8],
    decap: &Decap,
    layers: &mut Layers,
) -> Result<TcpPacket<'a>, Skip> {
    let mut walk = Walk {
        truncated: false,
        depth: 0,
        decap,
        layers,
        fragment: None,
        keep_fragment: false,
    };
    match etherparse::IpNumber(proto) {
        ip_number::TCP => {
            let tcp = etherparse::TcpSlice::from_slice(payload).map_err(|_| Skip::Malformed)?;
            let wire_len = u32::try_from(tcp.payload().len()).map_err(|_| Skip::Malformed)?;
            Ok(tcp_packet(&tcp, src, dst, wire_len))
        }
        ip_number::UDP => {
            let udp = etherparse::UdpSlice::from_slice_lax(payload).map_err(|_| Skip::Malformed)?;
            walk.ip_payload(ip_number::UDP, payload, Some(&udp), (src, dst))
        }
        p => walk.ip_payload(p, payload, None, (src, dst)),
    }
}

/// Any link type, any IP version, with the lax slicer (what [`decode`]
/// does when its fast path does not answer).
#[cfg(test)]
fn decode_general(link: LinkType, data: &[u8], orig_len: u32) -> Result<TcpPacket<'_>, Skip> {
    let mut layers = Layers::default();
    let mut walk = Walk {
        truncated: (data.len() as u64) < u64::from(orig_len),
        depth: 0,
        decap: &Decap::auto(),
        layers: &mut layers,
        fragment: None,
        keep_fragment: false,
    };
    walk.link(link, data)
}

/// The state of one frame's decoding, layer by layer.
struct Walk<'a, 'c> {
    /// The frame was cut by the snap length: running out of bytes is
    /// [`Skip::Truncated`], not a malformed header.
    truncated: bool,
    /// Encapsulation layers entered so far.
    depth: u8,
    decap: &'c Decap,
    layers: &'c mut Layers,
    /// The innermost IP fragment met (kept only when asked for).
    fragment: Option<Fragment<'a>>,
    keep_fragment: bool,
}

impl Walk<'_, '_> {
    /// Out of bytes inside a header.
    fn short(&self) -> Skip {
        short(self.truncated)
    }

    /// Out of bytes, or a bad header, inside an encapsulation of `kind`.
    fn bad(&self, kind: Encap) -> Skip {
        if self.truncated {
            Skip::Truncated
        } else {
            Skip::Encap(kind)
        }
    }

    /// Enters one more layer of `kind`, carried by `outer` (the tunnel's
    /// IP endpoints, when an IP header carries it).
    fn enter(&mut self, kind: Encap, outer: Option<(IpAddr, IpAddr)>) -> Result<(), Skip> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Skip::Encap(kind));
        }
        self.layers.seen.insert(kind);
        match (&mut self.layers.outer, outer) {
            (None, Some((src, dst))) => {
                self.layers.outer = Some(OuterSession {
                    encap: kind,
                    src,
                    dst,
                });
            }
            // A GRE session carrying ERSPAN is an ERSPAN session.
            (Some(o), Some((src, dst)))
                if kind == Encap::Erspan
                    && o.encap == Encap::Gre
                    && (o.src, o.dst) == (src, dst) =>
            {
                o.encap = Encap::Erspan;
            }
            _ => {}
        }
        Ok(())
    }
}

fn short(truncated_frame: bool) -> Skip {
    if truncated_frame {
        Skip::Truncated
    } else {
        Skip::Malformed
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

impl<'a> Walk<'a, '_> {
    /// The TCP segment of a sliced packet, or the encapsulation it
    /// carries, or why there is neither.
    fn sliced(&mut self, sliced: &LaxSlicedPacket<'a>) -> Result<TcpPacket<'a>, Skip> {
        let truncated_frame = self.truncated;
        let net = match &sliced.net {
            Some(LaxNetSlice::Ipv4(v4)) => LaxIpSlice::Ipv4(v4.clone()),
            Some(LaxNetSlice::Ipv6(v6)) => LaxIpSlice::Ipv6(v6.clone()),
            Some(LaxNetSlice::Arp(_)) => return Err(Skip::NotIp),
            None => {
                // Either not IP at all, or an IP header that did not decode.
                return Err(match &sliced.stop_err {
                    Some((etherparse::err::packet::SliceError::Len(_), _)) => {
                        short(truncated_frame)
                    }
                    Some(_) => Skip::Malformed,
                    None => return self.not_ip(sliced),
                });
            }
        };
        let payload = net.payload();
        if payload.fragmented {
            if self.keep_fragment {
                self.fragment = fragment_of(&net, payload);
            }
            return Err(Skip::Fragment);
        }
        if payload.ip_number != ip_number::TCP {
            // An IPv6 extension header chain cut short stops before TCP.
            if sliced.stop_err.is_some() {
                return Err(short(truncated_frame));
            }
            let outer = (net.source_addr(), net.destination_addr());
            let udp = match &sliced.transport {
                Some(TransportSlice::Udp(udp)) => Some(udp),
                _ => None,
            };
            return self.ip_payload(payload.ip_number, payload.payload, udp, outer);
        }
        let tcp = match &sliced.transport {
            Some(TransportSlice::Tcp(tcp)) => tcp,
            Some(_) => return Err(Skip::NotTcp),
            None => {
                return Err(match &sliced.stop_err {
                    Some((etherparse::err::packet::SliceError::Len(_), _)) => {
                        short(truncated_frame)
                    }
                    _ => Skip::Malformed,
                })
            }
        };
        tcp_of_ip(&net, payload, tcp)
    }
}

/// The fragment `net` carries, whose payload is `payload`.
fn fragment_of<'a>(
    net: &LaxIpSlice<'a>,
    payload: &etherparse::LaxIpPayloadSlice<'a>,
) -> Option<Fragment<'a>> {
    let (id, offset, more) = match net {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            (
                u32::from(h.identification()),
                h.fragments_offset().byte_offset(),
                h.more_fragments(),
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            // The extension headers are few and bounded by the packet.
            let frag = v6.extensions().clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f),
                _ => None,
            })?;
            (
                frag.identification(),
                frag.fragment_offset().byte_offset(),
                frag.more_fragments(),
            )
        }
    };
    Some(Fragment {
        src: net.source_addr(),
        dst: net.destination_addr(),
        id,
        proto: payload.ip_number.0,
        offset: u32::from(offset),
        more,
        payload: payload.payload,
        cut: payload.incomplete,
    })
}

/// The packet of a TCP segment `tcp` carried in `net`, whose payload is
/// `payload`.
fn tcp_of_ip<'a>(
    net: &LaxIpSlice<'a>,
    payload: &etherparse::LaxIpPayloadSlice<'a>,
    tcp: &etherparse::TcpSlice<'a>,
) -> Result<TcpPacket<'a>, Skip> {
    let (src_ip, dst_ip) = (net.source_addr(), net.destination_addr());
    let data = tcp.payload();
    let header_len = tcp.header_slice().len() as u64;
    // The payload length on the wire, from the IP length fields.
    let wire_len = if payload.incomplete {
        let ip_payload_wire = match net {
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

#[cfg(test)]
mod tests_tunnel;
