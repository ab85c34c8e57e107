//! The link layers: where each link type's frame puts its network packet,
//! and what an EtherType (or PPP protocol number) says comes next.

use etherparse::{ether_type, EtherType, LaxSlicedPacket};

use super::{ip_error, ip_version_as_declared, Encap, LinkType, Skip, TcpPacket, Walk};

/// EtherTypes of the layers decoded besides IP and VLAN tags.
pub(super) const MPLS_UNICAST: u16 = 0x8847;
pub(super) const MPLS_MULTICAST: u16 = 0x8848;
pub(super) const PPPOE_SESSION: u16 = 0x8864;
/// Transparent Ethernet bridging: an Ethernet frame follows (GRE, GENEVE).
pub(super) const TEB: u16 = 0x6558;

/// PPP protocol numbers of the packets decoded.
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_MPLS_UNICAST: u16 = 0x0281;
const PPP_MPLS_MULTICAST: u16 = 0x0283;

/// NFLOG's TLV type of the packet payload (`NFULA_PAYLOAD`).
const NFULA_PAYLOAD: u16 = 9;

/// Whether [`Walk::ether_type`] decodes what follows this EtherType.
pub(super) fn decoded_ether_type(proto: u16) -> bool {
    matches!(
        EtherType(proto),
        ether_type::IPV4
            | ether_type::IPV6
            | ether_type::VLAN_TAGGED_FRAME
            | ether_type::PROVIDER_BRIDGING
            | ether_type::VLAN_DOUBLE_TAGGED_FRAME
    ) || matches!(proto, MPLS_UNICAST | MPLS_MULTICAST | PPPOE_SESSION | TEB)
}

impl<'a> Walk<'a, '_> {
    /// A frame of link type `link`.
    pub(super) fn link(&mut self, link: LinkType, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        match link {
            LinkType::Ethernet => self.ethernet(data),
            LinkType::Null => {
                let (family, rest) = self.split4(data)?;
                let le = u32::from_le_bytes(family);
                let be = u32::from_be_bytes(family);
                // The header is in the byte order of the machine that wrote
                // the file: whichever reading is a small number is the right
                // one.
                let af = if le <= 0xffff { le } else { be };
                self.ip_family(af, rest)
            }
            LinkType::Loop => {
                let (family, rest) = self.split4(data)?;
                self.ip_family(u32::from_be_bytes(family), rest)
            }
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {
                let version = data.first().map(|b| b >> 4).ok_or(self.short())?;
                match (link, version) {
                    (LinkType::Ipv4, 4) | (LinkType::Ipv6, 6) | (LinkType::Raw, 4 | 6) => {}
                    _ => return Err(Skip::Malformed),
                }
                self.ip(data)
            }
            LinkType::LinuxSll => {
                if data.len() < 16 {
                    return Err(self.short());
                }
                let proto = u16::from_be_bytes([data[14], data[15]]);
                self.ether_type(proto, &data[16..])
            }
            LinkType::LinuxSll2 => {
                if data.len() < 20 {
                    return Err(self.short());
                }
                let proto = u16::from_be_bytes([data[0], data[1]]);
                self.ether_type(proto, &data[20..])
            }
            LinkType::Ppp | LinkType::PppHdlc => {
                // Serial-line captures may hold Cisco HDLC frames too; their
                // address byte is never PPP's 0xff.
                if matches!(data.first(), Some(0x0f | 0x8f)) {
                    return self.cisco_hdlc(data);
                }
                self.ppp(data)
            }
            LinkType::CiscoHdlc => self.cisco_hdlc(data),
            LinkType::Nflog => self.nflog(data),
            LinkType::PppPppd => match data {
                // Direction (0 in, 1 out) where the address byte would be.
                [0x00 | 0x01, 0x03, rest @ ..] => {
                    self.enter(Encap::Ppp, None)?;
                    self.ppp_protocol(rest, Encap::Ppp)
                }
                [_] | [_, 0x03] | [] => Err(self.short()),
                _ => Err(Skip::Malformed),
            },
            LinkType::Pflog => {
                // Its length (61 on OpenBSD) then the family; the packet
                // starts at the length rounded up to 4 bytes.
                let (Some(&len), Some(&af)) = (data.first(), data.get(1)) else {
                    return Err(self.short());
                };
                let start = (usize::from(len) + 3) & !3;
                if len < 4 {
                    return Err(Skip::Malformed);
                }
                let Some(rest) = data.get(start..) else {
                    return Err(self.short());
                };
                self.ip_family(u32::from(af), rest)
            }
        }
    }

    fn split4(&self, data: &'a [u8]) -> Result<([u8; 4], &'a [u8]), Skip> {
        match data.split_first_chunk::<4>() {
            Some((head, rest)) => Ok((*head, rest)),
            None => Err(self.short()),
        }
    }

    /// BSD address families: `AF_INET` is 2 everywhere; `AF_INET6` is 24
    /// (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS) or 10 (Linux).
    fn ip_family(&mut self, af: u32, rest: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        match af {
            2 => self.ether_type(ether_type::IPV4.0, rest),
            10 | 24 | 28 | 30 => self.ether_type(ether_type::IPV6.0, rest),
            _ => Err(Skip::NotIp),
        }
    }

    /// An Ethernet II frame (no FCS), tried on the fast path first.
    pub(super) fn ethernet(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        if !self.truncated {
            if let Some(p) = super::fast_ethernet_ipv4_tcp(data) {
                return Ok(p);
            }
        }
        if let Some((mac, rest)) = data.split_first_chunk::<14>() {
            ip_version_as_declared(u16::from_be_bytes([mac[12], mac[13]]), rest)?;
        }
        let sliced = LaxSlicedPacket::from_ethernet(data).map_err(|_| self.short())?;
        self.sliced(&sliced)
    }

    /// An IPv4 or IPv6 packet, told apart by its version nibble.
    pub(super) fn ip(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        let sliced = LaxSlicedPacket::from_ip(data).map_err(|e| ip_error(e, self.truncated))?;
        self.sliced(&sliced)
    }

    /// What EtherType `proto` says `rest` is.
    pub(super) fn ether_type(&mut self, proto: u16, rest: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        ip_version_as_declared(proto, rest)?;
        match EtherType(proto) {
            ether_type::IPV4
            | ether_type::IPV6
            | ether_type::VLAN_TAGGED_FRAME
            | ether_type::PROVIDER_BRIDGING
            | ether_type::VLAN_DOUBLE_TAGGED_FRAME => {
                let sliced = LaxSlicedPacket::from_ether_type(EtherType(proto), rest);
                self.sliced(&sliced)
            }
            _ => self.other_ether_type(proto, rest),
        }
    }

    /// A sliced packet that ended before any network layer, with no
    /// error: behind its link header (and VLAN tags) may be an
    /// encapsulation the slicer does not know.
    pub(super) fn not_ip(&mut self, sliced: &LaxSlicedPacket<'a>) -> Result<TcpPacket<'a>, Skip> {
        let Some(inner) = sliced.ether_payload() else {
            return Err(Skip::NotIp);
        };
        let proto = inner.ether_type.0;
        match EtherType(proto) {
            // More VLAN tags than the slicer holds, or IP it did not take.
            ether_type::IPV4
            | ether_type::IPV6
            | ether_type::VLAN_TAGGED_FRAME
            | ether_type::PROVIDER_BRIDGING
            | ether_type::VLAN_DOUBLE_TAGGED_FRAME => Err(Skip::NotIp),
            _ => self.other_ether_type(proto, inner.payload),
        }
    }

    /// EtherTypes beyond IP and VLAN tags.
    fn other_ether_type(&mut self, proto: u16, rest: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        match proto {
            MPLS_UNICAST | MPLS_MULTICAST if self.decap.allows(Encap::Mpls) => self.mpls(rest),
            PPPOE_SESSION if self.decap.allows(Encap::Pppoe) => self.pppoe(rest),
            TEB => self.ethernet(rest),
            _ => Err(Skip::NotIp),
        }
    }

    /// A PPP frame: optional HDLC address and control bytes (0xff 0x03),
    /// then the protocol number.
    pub(super) fn ppp(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        self.enter(Encap::Ppp, None)?;
        let data = match data {
            [0xff, 0x03, rest @ ..] => rest,
            // Cut inside the address and control bytes.
            [0xff] => return Err(self.bad(Encap::Ppp)),
            _ => data,
        };
        self.ppp_protocol(data, Encap::Ppp)
    }

    /// A PPP protocol field (one byte when compressed: its low bit is
    /// set) and the packet after it; `kind` is the layer carrying it.
    pub(super) fn ppp_protocol(
        &mut self,
        data: &'a [u8],
        kind: Encap,
    ) -> Result<TcpPacket<'a>, Skip> {
        let (proto, rest) = match data {
            [b, rest @ ..] if b & 1 == 1 => (u16::from(*b), rest),
            [hi, lo, rest @ ..] => (u16::from_be_bytes([*hi, *lo]), rest),
            _ => return Err(self.bad(kind)),
        };
        match proto {
            PPP_IPV4 => self.ether_type(ether_type::IPV4.0, rest),
            PPP_IPV6 => self.ether_type(ether_type::IPV6.0, rest),
            PPP_MPLS_UNICAST | PPP_MPLS_MULTICAST if self.decap.allows(Encap::Mpls) => {
                self.mpls(rest)
            }
            // Link and network control protocols, compressed data, ...
            _ => Err(Skip::NotIp),
        }
    }

    /// Cisco HDLC: address (0x0f unicast, 0x8f broadcast), control, then
    /// an EtherType.
    fn cisco_hdlc(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        self.enter(Encap::CiscoHdlc, None)?;
        let Some((head, rest)) = data.split_first_chunk::<4>() else {
            return Err(self.bad(Encap::CiscoHdlc));
        };
        // SLARP keepalives, CDP, ... end up as not IP.
        self.ether_type(u16::from_be_bytes([head[2], head[3]]), rest)
    }

    /// Linux NFLOG: family, version, resource id, then TLVs (length and
    /// type in the capturing host's byte order, each padded to 4 bytes);
    /// the packet is the payload TLV's value, starting at its IP header.
    fn nflog(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        self.enter(Encap::Nflog, None)?;
        let Some((head, mut tlvs)) = data.split_first_chunk::<4>() else {
            return Err(self.bad(Encap::Nflog));
        };
        if head[1] != 0 {
            return Err(Skip::Encap(Encap::Nflog));
        }
        let family = head[0];
        // Each round consumes at least 4 bytes, so the loop ends.
        while let Some((tlv, _)) = tlvs.split_first_chunk::<4>() {
            let le = usize::from(u16::from_le_bytes([tlv[0], tlv[1]]));
            let be = usize::from(u16::from_be_bytes([tlv[0], tlv[1]]));
            let (len, kind) = if (4..=tlvs.len()).contains(&le) || !(4..=tlvs.len()).contains(&be) {
                (le, u16::from_le_bytes([tlv[2], tlv[3]]))
            } else {
                (be, u16::from_be_bytes([tlv[2], tlv[3]]))
            };
            if len < 4 {
                return Err(Skip::Encap(Encap::Nflog));
            }
            // The nested and byte-order flags of netlink attributes.
            if kind & 0x3fff == NFULA_PAYLOAD {
                let value = &tlvs[4..len.min(tlvs.len())];
                return match family {
                    2 => self.ether_type(ether_type::IPV4.0, value),
                    10 => self.ether_type(ether_type::IPV6.0, value),
                    _ => Err(Skip::NotIp),
                };
            }
            let next = (len + 3) & !3;
            if next > tlvs.len() {
                break;
            }
            tlvs = &tlvs[next..];
        }
        // No payload attribute: logged without the packet, or cut.
        if self.truncated {
            Err(Skip::Truncated)
        } else {
            Err(Skip::NotIp)
        }
    }
}
