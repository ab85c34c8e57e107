//! The capture targets: `decode` (one frame, every link type and the
//! tunnels behind it) and `pipeline` (frame sequences through the whole
//! sans-IO capture).

use shadowtap_capture::decode::{decode as decode_frame, decode_with, Decap, Layers, TcpPacket};
use shadowtap_capture::{ExchangeSink, LinkType, Pipeline, PipelineConfig, RequestEvent};
use shadowtap_format::Exchange;

use super::{cap, split_first};

// --------------------------------------------------------------- decode --

/// Every link type the decoder reads; Ethernet, where tunnels and mirrors
/// arrive, twice as often.
const LINKS: [LinkType; 16] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ethernet,
    LinkType::Ppp,
    LinkType::PppHdlc,
    LinkType::CiscoHdlc,
    LinkType::Nflog,
    LinkType::PppPppd,
    LinkType::Pflog,
    LinkType::Raw,
];

/// The link type a settings byte names: its low 3 bits, and bit 7 for the
/// second eight (the first eight are the layout of older inputs).
fn link_index(settings: u8) -> usize {
    usize::from(settings & 7) | usize::from((settings & 0x80) >> 4)
}

/// `inner` (an Ethernet frame) as AWS VPC Traffic Mirroring delivers it:
/// Ethernet, IPv4 and UDP to port 4789, a VXLAN header, then the frame.
fn vxlan_wrapped(inner: &[u8]) -> Vec<u8> {
    let udp_len = (8 + 8 + inner.len()) as u16;
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(50 + inner.len());
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[10, 9, 0, 1, 10, 9, 0, 2]);
    f.extend_from_slice(&[
        0xc0,
        0x01,
        0x12,
        0xb5,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 42, 0]);
    f.extend_from_slice(inner);
    f
}

fn check_packet(p: &TcpPacket<'_>, frame: &[u8]) {
    let f = frame.as_ptr_range();
    let s = p.payload.as_ptr_range();
    assert!(
        p.payload.is_empty() || (f.start <= s.start && s.end <= f.end),
        "payload outside the frame"
    );
    assert!(p.payload.len() <= frame.len());
}

/// The packet decoder (`capture::decode`) for every link type it supports.
///
/// Input: link byte (type: bits 0-2 and 7; how much the snap length cut:
/// bits 3-6), then the frame. An Ethernet frame carrying IPv4 must decode
/// as the same TCP segment as the IPv4 packet given alone (Ethernet has a
/// fast path of its own), and an Ethernet frame without tunnels as the same
/// segment inside VXLAN.
pub fn decode(data: &[u8]) {
    let data = cap(data);
    let (settings, frame) = split_first(data);
    let link = LINKS[link_index(settings)];
    let cut = u32::from((settings >> 3) & 0x0f) * 97;
    let orig_len = frame.len() as u32 + cut;
    let _ = LinkType::from_dlt(link.linktype() as i32).expect("round trip of the link type");
    let got = decode_frame(link, frame, orig_len);
    if let Ok(p) = &got {
        check_packet(p, frame);
        if cut == 0 {
            assert!(!p.is_truncated() || u64::from(p.wire_len) > p.payload.len() as u64);
        }
    }
    if link == LinkType::Ethernet && frame.len() >= 14 && frame[12..14] == [0x08, 0x00] {
        let alone = decode_frame(LinkType::Ipv4, &frame[14..], orig_len - 14);
        assert_eq!(
            got, alone,
            "Ethernet and raw IPv4 decode the same packet differently"
        );
    }
    // An Ethernet frame without tunnels of its own decodes to the same
    // segment inside VXLAN (the outer layers' length counts in the cut).
    if link == LinkType::Ethernet && frame.len() <= 60_000 {
        let mut layers = Layers::default();
        let alone = decode_with(link, frame, orig_len, &Decap::auto(), &mut layers);
        if layers.seen.is_empty() {
            let outer = vxlan_wrapped(frame);
            let mut wrapped_layers = Layers::default();
            let wrapped = decode_with(
                link,
                &outer,
                orig_len + 50,
                &Decap::auto(),
                &mut wrapped_layers,
            );
            if let (Ok(a), Ok(b)) = (&alone, &wrapped) {
                assert_eq!(a, b, "a frame decodes otherwise inside VXLAN");
            } else {
                assert_eq!(alone.is_ok(), wrapped.is_ok(), "{alone:?} / {wrapped:?}");
            }
        }
    }
}

// ------------------------------------------------------------- pipeline --

#[derive(Default)]
struct Collect {
    requests: u64,
    exchanges: Vec<Exchange>,
}

impl ExchangeSink for Collect {
    fn request(&mut self, req: &RequestEvent<'_>) {
        self.requests += 1;
        assert!(req.first_ns <= req.last_ns, "request ends before it starts");
        assert!(req.request.len() as u64 <= req.request_len.max(req.request.len() as u64));
    }

    fn exchange(&mut self, ex: Exchange) {
        self.exchanges.push(ex);
    }
}

/// The capture pipeline (`capture::pipeline`) fed a sequence of frames
/// with times the input chooses (out of order too); its counters must add
/// up and every exchange be well formed.
///
/// Input: settings byte (link type: bits 0-2 and 7; ports: bit 3;
/// requests only: bit 4), body cap byte, then
/// frames, each `[len u16 LE][dt u8][flags u8][len bytes]`: the frame
/// comes `dt` ms after the previous one (before it with flag bit 0), and
/// was cut by the snap length with bit 1.
pub fn pipeline(data: &[u8]) {
    let data = cap(data);
    let (settings, rest) = split_first(data);
    let (max_body, mut rest) = split_first(rest);
    let link = LINKS[link_index(settings)];
    let cfg = PipelineConfig {
        ports: if settings & 0x08 != 0 {
            vec![80]
        } else {
            Vec::new()
        },
        max_body: u64::from(max_body),
        redact_headers: vec!["authorization".into()],
        responses: settings & 0x10 == 0,
        max_flows: 4,
        max_flow_bytes: 16 << 10,
        max_total_bytes: 32 << 10,
        idle_timeout_ns: 2_000_000_000,
    };
    let mut p = Pipeline::new(cfg, link);
    let mut sink = Collect::default();
    let mut ts: u64 = 1_700_000_000_000_000_000;
    let mut frames = 0u64;
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let (dt, flags) = (u64::from(rest[2]) * 1_000_000, rest[3]);
        let body = &rest[4..];
        let frame = &body[..len.min(body.len())];
        rest = &body[frame.len()..];
        ts = if flags & 1 != 0 {
            ts.saturating_sub(dt)
        } else {
            ts.saturating_add(dt)
        };
        let orig_len = frame.len() as u32 + if flags & 2 != 0 { 100 } else { 0 };
        p.process(ts, frame, orig_len, &mut sink);
        frames += 1;
        if flags & 4 != 0 {
            p.sweep(ts, &mut sink);
        }
    }
    p.finish(&mut sink);
    let s = p.stats();
    assert_eq!(s.packets, frames);
    assert_eq!(
        s.packets,
        s.tcp_packets + s.not_ip + s.not_tcp + s.fragments + s.truncated_headers + s.malformed,
        "frames do not add up: {s:#?}"
    );
    assert!(s.filtered <= s.tcp_packets);
    assert_eq!(s.flows_active, 0, "flows left after finish");
    assert_eq!(s.buffered_bytes, 0, "bytes held after finish");
    assert!(s.flows_closed + s.evicted() <= s.flows_created);
    assert_eq!(s.http.exchanges, sink.exchanges.len() as u64);
    assert_eq!(s.http.requests, sink.requests);
    assert!(s.http.incomplete <= s.http.exchanges);
    let mut ids: Vec<u64> = sink.exchanges.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), sink.exchanges.len(), "exchange ids repeat");
    for e in &sink.exchanges {
        assert!(
            e.req_first_ns <= e.req_last_ns,
            "request ends before it starts: {} > {}",
            e.req_first_ns,
            e.req_last_ns
        );
        assert!(e.request.len() as u64 <= e.request_len.max(e.request.len() as u64));
        if let Some(r) = &e.response {
            assert!(r.first_ns <= r.last_ns, "response ends before it starts");
        }
    }
}
