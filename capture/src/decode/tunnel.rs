//! Tunnels and label stacks: VXLAN, GENEVE, GRE, ERSPAN, MPLS, IP in IP,
//! PPPoE; which of them to decode ([`Decap`]) and what a frame went
//! through ([`Layers`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use etherparse::{ether_type, ip_number, IpNumber, UdpSlice};

use super::link::{decoded_ether_type, TEB};
use super::{Skip, TcpPacket, Walk};

/// The IANA port of VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// The IANA port of GENEVE.
pub const GENEVE_PORT: u16 = 6081;

/// GRE protocol types beyond EtherTypes.
const GRE_ERSPAN_2: u16 = 0x88be;
const GRE_ERSPAN_3: u16 = 0x22eb;
const GRE_PPP: u16 = 0x880b;

/// Most MPLS labels in one stack.
const MAX_LABELS: usize = 16;

/// A kind of encapsulation around the packets of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Encap {
    /// VXLAN over UDP (RFC 7348): AWS VPC Traffic Mirroring, Azure
    /// virtual network TAP.
    Vxlan,
    /// GENEVE over UDP (RFC 8926): AWS Gateway Load Balancer.
    Geneve,
    /// GRE (RFC 2784, 2890; version 1 is PPTP's).
    Gre,
    /// ERSPAN types I, II and III (inside GRE): switch port mirrors.
    Erspan,
    /// An MPLS label stack.
    Mpls,
    /// IPv4 or IPv6 inside IPv4 or IPv6 (IP protocols 4 and 41).
    IpInIp,
    /// PPPoE session (EtherType 0x8864).
    Pppoe,
    /// PPP framing (link type, PPTP).
    Ppp,
    /// Cisco HDLC framing.
    CiscoHdlc,
    /// Linux NFLOG.
    Nflog,
}

impl Encap {
    /// Every kind, in counter order ([`Encap::index`]).
    pub const ALL: [Encap; 10] = [
        Encap::Vxlan,
        Encap::Geneve,
        Encap::Gre,
        Encap::Erspan,
        Encap::Mpls,
        Encap::IpInIp,
        Encap::Pppoe,
        Encap::Ppp,
        Encap::CiscoHdlc,
        Encap::Nflog,
    ];

    /// The kind's position in [`Encap::ALL`] (and in counter arrays).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind's name in the stats line, metrics and `--encap`.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Gre => "gre",
            Encap::Erspan => "erspan",
            Encap::Mpls => "mpls",
            Encap::IpInIp => "ipip",
            Encap::Pppoe => "pppoe",
            Encap::Ppp => "ppp",
            Encap::CiscoHdlc => "chdlc",
            Encap::Nflog => "nflog",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Encap`] kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EncapSet(u16);

impl EncapSet {
    /// Every kind.
    pub const ALL: EncapSet = EncapSet((1 << Encap::ALL.len()) - 1);

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Encap) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: Encap) {
        self.0 |= kind.bit();
    }

    /// True when no kind is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in [`Encap::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Encap> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let at = bits.trailing_zeros() as usize;
            let kind = *Encap::ALL.get(at)?;
            bits &= bits - 1;
            Some(kind)
        })
    }
}

/// The endpoints of the outermost tunnel a packet came through: a mirror
/// session, as seen by the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OuterSession {
    /// The tunnel's kind.
    pub encap: Encap,
    /// The outer IP source (the mirror source).
    pub src: IpAddr,
    /// The outer IP destination (the collector).
    pub dst: IpAddr,
}

/// What one frame's decoding went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layers {
    /// The encapsulations entered.
    pub seen: EncapSet,
    /// The outermost tunnel carried by IP, if any.
    pub outer: Option<OuterSession>,
}

/// Which encapsulations to decode, and on which UDP ports.
///
/// Link-layer framings given by the capture's link type (PPP, Cisco HDLC,
/// NFLOG) are always decoded; the kinds here are the tunnels found inside
/// packets. Written as `auto`, `none`, or a comma-separated list of
/// `vxlan[:PORT]`, `geneve[:PORT]`, `gre`, `erspan`, `mpls`, `ipip`,
/// `pppoe` ([`FromStr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decap {
    kinds: EncapSet,
    vxlan_port: u16,
    geneve_port: u16,
}

impl Default for Decap {
    fn default() -> Self {
        Decap::auto()
    }
}

impl Decap {
    /// Every encapsulation, VXLAN and GENEVE on their IANA ports.
    pub fn auto() -> Decap {
        Decap {
            kinds: EncapSet::ALL,
            vxlan_port: VXLAN_PORT,
            geneve_port: GENEVE_PORT,
        }
    }

    /// No tunnel: only the link layer, VLAN tags, IP and TCP.
    pub fn none() -> Decap {
        Decap {
            kinds: EncapSet::default(),
            ..Decap::auto()
        }
    }

    /// Whether packets inside `kind` are decoded.
    pub fn allows(&self, kind: Encap) -> bool {
        self.kinds.contains(kind)
    }

    /// The tunnel kinds decoded.
    pub fn kinds(&self) -> EncapSet {
        self.kinds
    }

    /// The UDP port decoded as VXLAN, when VXLAN is.
    pub fn vxlan_port(&self) -> Option<u16> {
        self.allows(Encap::Vxlan).then_some(self.vxlan_port)
    }

    /// The UDP port decoded as GENEVE, when GENEVE is.
    pub fn geneve_port(&self) -> Option<u16> {
        self.allows(Encap::Geneve).then_some(self.geneve_port)
    }
}

/// A `--encap` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecapParseError {
    /// Not a kind of encapsulation.
    #[error("unknown encapsulation {0:?} (auto, none, vxlan[:PORT], geneve[:PORT], gre, erspan, mpls, ipip, pppoe)")]
    Unknown(String),
    /// A port that is not a number from 1 to 65535, or on a kind without one.
    #[error("bad port in {0:?}")]
    Port(String),
}

impl FromStr for Decap {
    type Err = DecapParseError;

    fn from_str(s: &str) -> Result<Decap, DecapParseError> {
        let s = s.trim();
        match s {
            "auto" | "all" => return Ok(Decap::auto()),
            "none" => return Ok(Decap::none()),
            _ => {}
        }
        let mut d = Decap::none();
        for item in s.split(',').map(str::trim) {
            let (name, port) = match item.split_once(':') {
                Some((n, p)) => {
                    let port = p
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| DecapParseError::Port(item.to_string()))?;
                    (n, Some(port))
                }
                None => (item, None),
            };
            let kind = match name {
                "vxlan" => Encap::Vxlan,
                "geneve" => Encap::Geneve,
                "gre" => Encap::Gre,
                "erspan" => Encap::Erspan,
                "mpls" => Encap::Mpls,
                "ipip" => Encap::IpInIp,
                "pppoe" => Encap::Pppoe,
                _ => return Err(DecapParseError::Unknown(item.to_string())),
            };
            match (kind, port) {
                (Encap::Vxlan, Some(p)) => d.vxlan_port = p,
                (Encap::Geneve, Some(p)) => d.geneve_port = p,
                (_, Some(_)) => return Err(DecapParseError::Port(item.to_string())),
                _ => {}
            }
            d.kinds.insert(kind);
            // ERSPAN arrives inside GRE.
            if kind == Encap::Erspan {
                d.kinds.insert(Encap::Gre);
            }
        }
        Ok(d)
    }
}

impl fmt::Display for Decap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Decap::auto() {
            return f.write_str("auto");
        }
        if self.kinds.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for k in self.kinds.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match k {
                Encap::Vxlan => write!(f, "vxlan:{}", self.vxlan_port)?,
                Encap::Geneve => write!(f, "geneve:{}", self.geneve_port)?,
                k => f.write_str(k.name())?,
            }
        }
        Ok(())
    }
}

impl<'a> Walk<'a, '_> {
    /// The payload of an IP packet that is not TCP: a tunnel, or not TCP.
    pub(super) fn ip_payload(
        &mut self,
        proto: IpNumber,
        payload: &'a [u8],
        udp: Option<&UdpSlice<'a>>,
        outer: (IpAddr, IpAddr),
    ) -> Result<TcpPacket<'a>, Skip> {
        let d = self.decap;
        match proto {
            ip_number::IPV4 | ip_number::IPV6 if d.allows(Encap::IpInIp) => {
                self.enter(Encap::IpInIp, Some(outer))?;
                let want = if proto == ip_number::IPV4 { 4 } else { 6 };
                match payload.first() {
                    Some(b) if b >> 4 == want => self.ip(payload),
                    Some(_) => Err(Skip::Encap(Encap::IpInIp)),
                    None => Err(self.bad(Encap::IpInIp)),
                }
            }
            ip_number::GRE if d.allows(Encap::Gre) => {
                self.enter(Encap::Gre, Some(outer))?;
                self.gre(payload, outer)
            }
            ip_number::UDP => {
                let Some(udp) = udp else {
                    return Err(Skip::NotTcp);
                };
                let on = |port: Option<u16>| {
                    port.is_some_and(|p| udp.destination_port() == p || udp.source_port() == p)
                };
                if on(d.vxlan_port()) {
                    self.enter(Encap::Vxlan, Some(outer))?;
                    self.vxlan(udp.payload())
                } else if on(d.geneve_port()) {
                    self.enter(Encap::Geneve, Some(outer))?;
                    self.geneve(udp.payload())
                } else {
                    Err(Skip::NotTcp)
                }
            }
            _ => Err(Skip::NotTcp),
        }
    }

    /// VXLAN: flags, reserved, VNI, reserved (8 bytes), then an Ethernet
    /// frame. The I flag is not required (tshark does not either).
    fn vxlan(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        match data.get(8..) {
            Some(frame) => self.ethernet(frame),
            None => Err(self.bad(Encap::Vxlan)),
        }
    }

    /// GENEVE: version (2 bits, 0) and option length (6 bits, in 4-byte
    /// words), flags, protocol type, VNI, reserved, then the options and
    /// the packet the protocol type names.
    fn geneve(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        let Some((head, _)) = data.split_first_chunk::<8>() else {
            return Err(self.bad(Encap::Geneve));
        };
        if head[0] >> 6 != 0 {
            return Err(Skip::Encap(Encap::Geneve));
        }
        let start = 8 + usize::from(head[0] & 0x3f) * 4;
        let proto = u16::from_be_bytes([head[2], head[3]]);
        let Some(rest) = data.get(start..) else {
            return Err(self.bad(Encap::Geneve));
        };
        if !decoded_ether_type(proto) {
            return Err(Skip::Encap(Encap::Geneve));
        }
        self.ether_type(proto, rest)
    }

    /// GRE: flags and version, protocol type, then the optional fields
    /// the flags announce, then the payload. Version 0 (RFC 2784 and
    /// 2890, with RFC 1701's routing) and version 1 (PPTP's enhanced GRE).
    fn gre(&mut self, data: &'a [u8], outer: (IpAddr, IpAddr)) -> Result<TcpPacket<'a>, Skip> {
        let Some((head, _)) = data.split_first_chunk::<4>() else {
            return Err(self.bad(Encap::Gre));
        };
        let (f0, f1) = (head[0], head[1]);
        let proto = u16::from_be_bytes([head[2], head[3]]);
        let (checksum, routing, key, seq) = (
            f0 & 0x80 != 0,
            f0 & 0x40 != 0,
            f0 & 0x20 != 0,
            f0 & 0x10 != 0,
        );
        let mut at = 4;
        match f1 & 0x07 {
            0 => {
                at += 4 * (usize::from(checksum || routing) + usize::from(key) + usize::from(seq));
                if routing {
                    at = self.gre_routing(data, at)?;
                }
            }
            1 => {
                // PPTP: the key (payload length, call id) is mandatory;
                // an acknowledgment number may follow the sequence number.
                if !key || checksum || routing || proto != GRE_PPP {
                    return Err(Skip::Encap(Encap::Gre));
                }
                let ack = f1 & 0x80 != 0;
                at += 4 * (1 + usize::from(seq) + usize::from(ack));
            }
            _ => return Err(Skip::Encap(Encap::Gre)),
        }
        let Some(rest) = data.get(at..) else {
            return Err(self.bad(Encap::Gre));
        };
        match proto {
            TEB => self.ethernet(rest),
            GRE_ERSPAN_2 | GRE_ERSPAN_3 if self.decap.allows(Encap::Erspan) => {
                self.enter(Encap::Erspan, Some(outer))?;
                match (proto, seq) {
                    // Type I: no sequence number, no ERSPAN header.
                    (GRE_ERSPAN_2, false) => self.ethernet(rest),
                    (GRE_ERSPAN_2, true) => self.erspan2(rest),
                    _ => self.erspan3(rest),
                }
            }
            GRE_PPP => self.ppp(rest),
            p if decoded_ether_type(p) => self.ether_type(p, rest),
            _ => Err(Skip::Encap(Encap::Gre)),
        }
    }

    /// RFC 1701 source routing entries from `at`: address family,
    /// offset, length, then `length` bytes, up to an entry with family 0
    /// and length 0. The offset after them.
    fn gre_routing(&self, data: &[u8], mut at: usize) -> Result<usize, Skip> {
        // Each entry takes at least 4 bytes, so the loop ends.
        loop {
            let Some(sre) = data.get(at..at + 4) else {
                return Err(self.bad(Encap::Gre));
            };
            let len = usize::from(sre[3]);
            at += 4 + len;
            if sre[0] == 0 && sre[1] == 0 && len == 0 {
                return Ok(at);
            }
        }
    }

    /// ERSPAN type II: version (1) and VLAN, CoS / encapsulation /
    /// truncation / session id, reserved and index (8 bytes), then the
    /// mirrored Ethernet frame.
    fn erspan2(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        let Some((head, rest)) = data.split_first_chunk::<8>() else {
            return Err(self.bad(Encap::Erspan));
        };
        if head[0] >> 4 != 1 {
            return Err(Skip::Encap(Encap::Erspan));
        }
        self.ethernet(rest)
    }

    /// ERSPAN type III: version (2) and VLAN, CoS / BSO / T / session id,
    /// timestamp, SGT, then P, frame type (5 bits), hardware id, D,
    /// granularity and O (12 bytes); O announces an 8-byte
    /// platform-specific subheader. Frame type 0 is Ethernet, 2 is IP.
    fn erspan3(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        let Some((head, _)) = data.split_first_chunk::<12>() else {
            return Err(self.bad(Encap::Erspan));
        };
        if head[0] >> 4 != 2 {
            return Err(Skip::Encap(Encap::Erspan));
        }
        let start = if head[11] & 0x01 != 0 { 20 } else { 12 };
        let Some(rest) = data.get(start..) else {
            return Err(self.bad(Encap::Erspan));
        };
        match (head[10] >> 2) & 0x1f {
            0 => self.ethernet(rest),
            2 => match rest.first() {
                Some(b) if matches!(b >> 4, 4 | 6) => self.ip(rest),
                Some(_) => Err(Skip::Encap(Encap::Erspan)),
                None => Err(self.bad(Encap::Erspan)),
            },
            _ => Err(Skip::Encap(Encap::Erspan)),
        }
    }

    /// An MPLS label stack (4 bytes a label, the last with the
    /// bottom-of-stack bit), then what the first nibble suggests, as
    /// tshark guesses it: 4 is IPv4, 6 is IPv6, 0 a pseudowire control
    /// word before an Ethernet frame, anything else an Ethernet frame.
    pub(super) fn mpls(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        self.enter(Encap::Mpls, None)?;
        let mut at = 0;
        loop {
            let Some(label) = data.get(at..at + 4) else {
                return Err(self.bad(Encap::Mpls));
            };
            at += 4;
            if label[2] & 0x01 != 0 {
                break;
            }
            if at >= 4 * MAX_LABELS {
                return Err(Skip::Encap(Encap::Mpls));
            }
        }
        let rest = &data[at..];
        match rest.first().map(|b| b >> 4) {
            Some(4) => self.ether_type(ether_type::IPV4.0, rest),
            Some(6) => self.ether_type(ether_type::IPV6.0, rest),
            Some(0) => match rest.get(4..) {
                Some(frame) => self.ethernet(frame),
                None => Err(self.bad(Encap::Mpls)),
            },
            Some(_) => self.ethernet(rest),
            None => Err(self.bad(Encap::Mpls)),
        }
    }

    /// A PPPoE session frame: version and type (0x11), code (0), session
    /// id, length, then a PPP protocol field and the packet.
    pub(super) fn pppoe(&mut self, data: &'a [u8]) -> Result<TcpPacket<'a>, Skip> {
        self.enter(Encap::Pppoe, None)?;
        let Some((head, rest)) = data.split_first_chunk::<6>() else {
            return Err(self.bad(Encap::Pppoe));
        };
        if head[0] != 0x11 || head[1] != 0 {
            return Err(Skip::Encap(Encap::Pppoe));
        }
        // The length field leaves out Ethernet padding.
        let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
        let rest = &rest[..len.min(rest.len())];
        self.ppp_protocol(rest, Encap::Pppoe)
    }
}
