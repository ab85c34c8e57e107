//! Capture filters: the BPF expression a live capture installs, and the
//! narrower program attached to the packet socket itself on loopback.

use super::{CaptureConfig, PacketSource};
use crate::decode::{Decap, Encap};

/// A server's TCP segment carrying SYN, FIN or RST. libpcap's `tcp[]`
/// addresses only IPv4, so IPv6 reads the flags byte at its fixed offset
/// (40-byte header; the outer `tcp` already requires TCP as the next header).
pub(super) const SERVER_CONTROL: &str =
    "((ip and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or (ip6 and ip6[53] & 7 != 0))";

/// The BPF filter of [`CaptureConfig::filter`]: the plain TCP filter, or
/// the carriers of the encapsulations decoded (their inner ports are
/// checked by the pipeline), and-ed with the extra expression. On a
/// loopback interface `auto` admits no carrier (mirrors are not delivered
/// there); naming the encapsulation does.
pub(super) fn capture_filter(cfg: &CaptureConfig) -> String {
    let loopback = match &cfg.source {
        PacketSource::Interface(i) => is_loopback(i),
        PacketSource::Pcap(_) => false,
    };
    let plain = plain_filter(cfg);
    let carriers = if loopback && cfg.encap == Decap::auto() {
        None
    } else {
        carrier_filter(&cfg.encap)
    };
    let f = match carriers {
        Some(c) => format!("({plain}) or ({c})"),
        None => plain,
    };
    match &cfg.bpf {
        Some(extra) if !extra.trim().is_empty() => format!("({f}) and ({extra})"),
        _ => f,
    }
}

/// What carries the encapsulations `decap` decodes, as a BPF expression
/// (none when it decodes none). MPLS and PPPoE are matched by EtherType,
/// not with libpcap's `mpls` / `pppoes` keywords, which would move the
/// offsets of everything after them in the expression.
pub(super) fn carrier_filter(decap: &Decap) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(p) = decap.vxlan_port() {
        parts.push(format!("udp port {p}"));
    }
    if let Some(p) = decap.geneve_port() {
        if decap.vxlan_port() != Some(p) {
            parts.push(format!("udp port {p}"));
        }
    }
    if decap.allows(Encap::Gre) || decap.allows(Encap::Erspan) {
        parts.push("ip proto 47 or ip6 proto 47".into());
    }
    if decap.allows(Encap::IpInIp) {
        parts.push("ip proto 4 or ip proto 41 or ip6 proto 4 or ip6 proto 41".into());
    }
    if decap.allows(Encap::Mpls) {
        parts.push("ether proto 0x8847 or ether proto 0x8848".into());
    }
    if decap.allows(Encap::Pppoe) {
        parts.push("ether proto 0x8864".into());
    }
    (!parts.is_empty()).then(|| parts.join(" or "))
}

/// The filter on plain TCP: the server ports, or in requests-only mode
/// what requests need.
fn plain_filter(cfg: &CaptureConfig) -> String {
    let mut f = String::from("tcp");
    let ports = &cfg.pipeline.ports;
    if !ports.is_empty() {
        let any = |dir: &str| {
            let list: Vec<String> = ports.iter().map(|p| format!("{dir}port {p}")).collect();
            list.join(" or ")
        };
        f = if cfg.pipeline.responses {
            format!("tcp and ({})", any(""))
        } else {
            format!(
                "tcp and ({} or (({}) and {SERVER_CONTROL}))",
                any("dst "),
                any("src ")
            )
        };
    }
    f
}

/// The filter handed to the kernel for a live capture on `iface`.
///
/// On a loopback interface the kernel delivers every packet to a packet
/// socket twice, once as sent and once as received, and libpcap throws the
/// sent copy away only after it has been copied into the ring. Asking the
/// kernel for inbound packets only selects the same packets at half the
/// copying, on the producers' own CPU time (loopback delivery runs in the
/// sender's context).
pub(super) fn kernel_filter(filter: &str, loopback: bool) -> String {
    if loopback {
        format!("inbound and ({filter})")
    } else {
        filter.to_string()
    }
}

/// Whether libpcap lists `iface` as a loopback interface.
pub(super) fn is_loopback(iface: &str) -> bool {
    pcap::Device::list()
        .ok()
        .and_then(|all| all.into_iter().find(|d| d.name == iface))
        .is_some_and(|d| d.flags.is_loopback())
}

// libpcap's `struct bpf_insn` is the kernel's `struct sock_filter` (u16 code,
// u8 jt, u8 jf, u32 k), and the pcap crate's `BpfInstruction` wraps it
// `#[repr(transparent)]` (pcap 2.x offers no field accessors): the program
// from `BpfProgram::get_instructions` is handed to the kernel as it is. The
// layouts are checked here, at compile time.
#[cfg(target_os = "linux")]
const _: () = {
    assert!(
        std::mem::size_of::<pcap::BpfInstruction>() == std::mem::size_of::<libc::sock_filter>()
    );
    assert!(
        std::mem::align_of::<pcap::BpfInstruction>() == std::mem::align_of::<libc::sock_filter>()
    );
};

/// Replaces the kernel filter of a packet socket with `prog`; false when
/// the kernel refused it (the socket keeps its previous filter).
#[cfg(target_os = "linux")]
pub(super) fn attach_socket_filter(fd: std::os::fd::RawFd, prog: &pcap::BpfProgram) -> bool {
    let insns = prog.get_instructions();
    let Ok(len) = u16::try_from(insns.len()) else {
        return false;
    };
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads the program (it copies it).
        filter: insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `fprog` points at `len` initialised instructions of the
    // kernel's layout (checked above) that outlive the call; the kernel
    // copies and validates them and writes nothing back.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::from_ref(&fprog).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>()).unwrap_or(0),
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
pub(super) fn attach_socket_filter(_fd: std::os::fd::RawFd, _prog: &pcap::BpfProgram) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::super::PacketSource;
    use super::*;

    #[test]
    fn only_loopback_asks_the_kernel_for_one_direction() {
        assert_eq!(kernel_filter("tcp", false), "tcp");
        assert_eq!(
            kernel_filter("tcp or udp", true),
            "inbound and (tcp or udp)"
        );
    }

    #[test]
    fn carriers_of_each_encapsulation() {
        let carriers = |s: &str| carrier_filter(&s.parse().unwrap());
        assert_eq!(carriers("none"), None);
        assert_eq!(carriers("vxlan").as_deref(), Some("udp port 4789"));
        assert_eq!(
            carriers("vxlan:8472,geneve").as_deref(),
            Some("udp port 8472 or udp port 6081")
        );
        assert_eq!(
            carriers("erspan").as_deref(),
            Some("ip proto 47 or ip6 proto 47")
        );
        assert_eq!(
            carriers("mpls").as_deref(),
            Some("ether proto 0x8847 or ether proto 0x8848")
        );
        let mut c = CaptureConfig::new(
            PacketSource::Interface("mirror-test0".into()),
            "x.stlog".into(),
        );
        c.pipeline.ports = vec![80];
        c.encap = "vxlan".parse().unwrap();
        c.bpf = Some("net 10.0.0.0/8".into());
        assert_eq!(
            c.filter(),
            "((tcp and (port 80)) or (udp port 4789)) and (net 10.0.0.0/8)"
        );
        // Not on loopback unless asked for.
        c.source = PacketSource::Interface("lo".into());
        c.bpf = None;
        c.encap = Decap::auto();
        if is_loopback("lo") {
            assert_eq!(c.filter(), "tcp and (port 80)");
        }
        c.encap = "gre".parse().unwrap();
        assert_eq!(
            c.filter(),
            "(tcp and (port 80)) or (ip proto 47 or ip6 proto 47)"
        );
    }

    /// The auto filter compiled by libpcap, run on tunnelled frames: a
    /// VXLAN frame whose inner packet is on another port passes (the
    /// pipeline checks inner ports), plain TCP on another port does not.
    #[test]
    fn auto_filter_admits_carriers() {
        use etherparse::PacketBuilder;
        use pcap::{Capture, Linktype};
        let mut c = CaptureConfig::new(
            PacketSource::Interface("mirror-test0".into()),
            "x.stlog".into(),
        );
        c.pipeline.ports = vec![80];
        let prog = Capture::dead(Linktype::ETHERNET)
            .unwrap()
            .compile(&c.filter(), true)
            .unwrap();
        let mut vx = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(50000, 4789)
            .write(&mut vx, &[0x08, 0, 0, 0, 0, 0, 1, 0])
            .unwrap();
        assert!(prog.filter(&vx));
        let mut other = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 81, 1, 100)
            .write(&mut other, b"")
            .unwrap();
        assert!(!prog.filter(&other));
        let mut mpls = vec![2u8; 12];
        mpls.extend([0x88, 0x47, 0, 1, 0x01, 64, 0x45]);
        assert!(prog.filter(&mpls));
    }

    #[test]
    fn filter_from_ports_and_bpf() {
        let mut c = CaptureConfig::new(PacketSource::Interface("lo".into()), "x.stlog".into());
        assert_eq!(c.filter(), "tcp");
        c.pipeline.ports = vec![80, 8080];
        assert_eq!(c.filter(), "tcp and (port 80 or port 8080)");
        c.bpf = Some("host 10.0.0.1".into());
        assert_eq!(
            c.filter(),
            "(tcp and (port 80 or port 8080)) and (host 10.0.0.1)"
        );
    }

    /// The requests-only filter, run by libpcap's own BPF compiler and
    /// interpreter on hand-built IPv4 and IPv6 frames: everything towards
    /// the server port, and from it only SYN, FIN and RST.
    #[test]
    fn requests_only_filter_keeps_client_bytes_and_server_control() {
        use etherparse::PacketBuilder;
        use pcap::{Capture, Linktype};

        // What each frame is: (from the server?, flags, payload).
        #[derive(Clone, Copy)]
        enum F {
            Syn,
            SynAck,
            PshAck,
            Ack,
            Fin,
            Rst,
        }
        fn frame(v6: bool, from_server: bool, port: u16, f: F, payload: &[u8]) -> Vec<u8> {
            let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
            let (sp, dp) = if from_server {
                (port, 40000)
            } else {
                (40000, port)
            };
            let b = if v6 {
                eth.ipv6([1; 16], [2; 16], 64).tcp(sp, dp, 1000, 65535)
            } else {
                eth.ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                    .tcp(sp, dp, 1000, 65535)
            };
            let b = match f {
                F::Syn => b.syn(),
                F::SynAck => b.syn().ack(1),
                F::PshAck => b.psh().ack(1),
                F::Ack => b.ack(1),
                F::Fin => b.fin().ack(1),
                F::Rst => b.rst(),
            };
            let mut out = Vec::new();
            b.write(&mut out, payload).unwrap();
            out
        }

        let mut c = CaptureConfig::new(PacketSource::Interface("lo".into()), "x.stlog".into());
        c.pipeline.ports = vec![80, 8080];
        let full = Capture::dead(Linktype::ETHERNET)
            .unwrap()
            .compile(&c.filter(), true)
            .unwrap();
        c.pipeline.responses = false;
        assert_eq!(
            c.filter(),
            format!(
                "tcp and (dst port 80 or dst port 8080 or \
                 ((src port 80 or src port 8080) and {SERVER_CONTROL}))"
            )
        );
        let reqs = Capture::dead(Linktype::ETHERNET)
            .unwrap()
            .compile(&c.filter(), true)
            .unwrap();

        let body = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        for v6 in [false, true] {
            for port in [80, 8080] {
                for f in [F::Syn, F::SynAck, F::PshAck, F::Ack, F::Fin, F::Rst] {
                    let to_server = frame(v6, false, port, f, b"GET / HTTP/1.1\r\n\r\n");
                    assert!(reqs.filter(&to_server) && full.filter(&to_server));
                    let from_server = frame(v6, true, port, f, body);
                    let control = !matches!(f, F::PshAck | F::Ack);
                    assert_eq!(reqs.filter(&from_server), control, "v6 {v6} port {port}");
                    assert!(full.filter(&from_server));
                }
            }
            // Other ports pass neither filter.
            for from_server in [false, true] {
                let other = frame(v6, from_server, 81, F::Fin, b"");
                assert!(!reqs.filter(&other) && !full.filter(&other));
            }
        }
    }
}
