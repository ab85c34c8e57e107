//! The sans-IO pipeline used directly (no pcap): the request-complete
//! event, and end-to-end properties under arbitrary segmentation.

mod common;

use common::*;
use proptest::prelude::*;
use shadowtap_capture::{
    ExchangeSink, LinkType, Pipeline, PipelineConfig, PipelineStats, RequestEvent,
};
use shadowtap_format::{Exchange, Flags};

#[derive(Default)]
struct Events {
    log: Vec<String>,
    requests: Vec<Vec<u8>>,
    exchanges: Vec<Exchange>,
}

impl ExchangeSink for Events {
    fn request(&mut self, r: &RequestEvent<'_>) {
        self.log.push(format!("request {} {}", r.conn, r.index));
        self.requests.push(r.request.to_vec());
    }
    fn exchange(&mut self, ex: Exchange) {
        self.log.push(format!("exchange {}", ex.id));
        self.exchanges.push(ex);
    }
    fn answered(&mut self, index: u64, ex: &Exchange) {
        self.log.push(format!("answered {} {index}", ex.conn));
    }
}

fn run(frames: &[Frame], cfg: PipelineConfig) -> Events {
    run_checked(frames, cfg, LinkType::Ethernet).0
}

/// Runs the frames through a pipeline and checks what must hold whatever
/// the input: every frame is counted once by what became of it; the
/// exchange and request counters match what the sink received; what is
/// stored never exceeds what was on the wire; ids are unique and rising;
/// after `finish` no flow and no byte is held.
fn run_checked(frames: &[Frame], cfg: PipelineConfig, link: LinkType) -> (Events, PipelineStats) {
    let mut p = Pipeline::new(cfg, link);
    let mut ev = Events::default();
    for f in frames {
        p.process(f.ts_ns, &f.data, f.orig_len, &mut ev);
    }
    p.finish(&mut ev);
    let s = p.stats();
    assert_eq!(s.packets, frames.len() as u64);
    assert_eq!(
        s.packets,
        s.tcp_packets + s.not_ip + s.not_tcp + s.fragments + s.truncated_headers + s.malformed,
        "every frame counted once by what became of it: {s:?}"
    );
    assert!(s.filtered + s.snaplen_cut <= 2 * s.tcp_packets);
    assert_eq!(s.http.exchanges, ev.exchanges.len() as u64, "{s:?}");
    assert_eq!(s.http.requests, ev.requests.len() as u64, "{s:?}");
    assert!(s.http.incomplete <= s.http.exchanges);
    let flagged: u64 = ev
        .exchanges
        .iter()
        .map(|e| {
            u64::from(e.flags.contains(Flags::REQ_MALFORMED))
                + u64::from(e.flags.contains(Flags::RESP_MALFORMED))
        })
        .sum();
    assert_eq!(s.http.malformed, flagged, "{s:?}");
    assert_eq!(s.flows_active, 0, "flows left after finish: {s:?}");
    assert_eq!(s.buffered_bytes, 0, "bytes held after finish: {s:?}");
    assert!(s.flows_created >= s.flows_closed + s.evicted(), "{s:?}");
    for w in ev.exchanges.windows(2) {
        assert!(w[0].id < w[1].id, "ids rise");
    }
    for e in &ev.exchanges {
        assert!(e.request.len() as u64 <= e.request_len, "{e:?}");
        if let Some(r) = &e.response {
            assert!(r.body.len() as u64 <= r.body_len, "{e:?}");
        }
        let incomplete = Flags::REQ_INCOMPLETE.0 | Flags::REQ_GAP.0;
        if e.flags.0 & incomplete == 0 && !e.flags.contains(Flags::REQ_BODY_CAPPED) {
            assert_eq!(e.request.len() as u64, e.request_len, "{e:?}");
        }
    }
    (ev, s)
}

#[test]
fn request_event_comes_when_the_request_is_on_the_wire() {
    let get = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(get);
    let n_before_response = c.frames.len();
    c.s(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let mut p = Pipeline::new(port80(), LinkType::Ethernet);
    let mut ev = Events::default();
    for f in &c.frames[..n_before_response] {
        p.process(f.ts_ns, &f.data, f.orig_len, &mut ev);
    }
    assert_eq!(ev.log, vec!["request 1 0"]);
    assert_eq!(ev.requests, vec![get.to_vec()]);
    let f = &c.frames[n_before_response];
    p.process(f.ts_ns, &f.data, f.orig_len, &mut ev);
    assert_eq!(ev.log, vec!["request 1 0", "answered 1 0", "exchange 1"]);
}

/// Each exchange names the index its request was announced with, so a
/// mirror can pair a request it sent with production's response to it.
#[test]
fn an_exchange_carries_the_index_of_its_request_event() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    c.s(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
    c.c(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    c.s(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc");
    let ev = run(&c.frames, port80());
    assert_eq!(
        ev.log,
        vec![
            "request 1 0",
            "request 1 1",
            "answered 1 0",
            "exchange 1",
            "answered 1 1",
            "exchange 2",
            "request 1 2",
            "answered 1 2",
            "exchange 3",
        ]
    );
    let bodies: Vec<&[u8]> = ev
        .exchanges
        .iter()
        .map(|e| e.response.as_ref().unwrap().body.as_slice())
        .collect();
    assert_eq!(bodies, [b"a", b"b", b"c"]);
}

proptest! {
    /// Pipelined requests (Content-Length and chunked), cut into random
    /// segments delivered in random order with random duplicates, come out
    /// byte-exact, in order, unflagged.
    #[test]
    fn random_segmentation_end_to_end(
        cuts in proptest::collection::vec(any::<u16>(), 0..30),
        order in proptest::collection::vec(any::<u32>(), 0..40),
        dups in proptest::collection::vec((any::<u16>(), 1u16..200), 0..6),
        isn in any::<u32>(),
    ) {
        let reqs: Vec<Vec<u8>> = vec![
            b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
            b"POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world".to_vec(),
            b"POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n".to_vec(),
            b"GET /four HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
        ];
        let stream: Vec<u8> = reqs.concat();
        let n = stream.len();
        let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % n).collect();
        points.extend([0, n]);
        points.sort_unstable();
        points.dedup();
        let mut segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
        for (s, l) in dups {
            let s = s as usize % n;
            segs.push((s, (s + l as usize).min(n)));
        }
        let mut keyed: Vec<(u32, (usize, usize))> = segs
            .into_iter()
            .enumerate()
            .map(|(i, s)| (order.get(i).copied().unwrap_or(u32::MAX), s))
            .collect();
        keyed.sort_by_key(|k| k.0);
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80").isn(isn, 9);
        c.handshake();
        for (_, (a, b)) in keyed {
            c.c_at(a as u32, &stream[a..b]);
        }
        c.c_off = n as u32;
        let ok = b"HTTP/1.1 204 No Content\r\n\r\n";
        let all: Vec<u8> = ok.repeat(reqs.len());
        c.s(&all);
        c.close();
        let ev = run(&c.frames, port80());
        let got: Vec<Vec<u8>> = ev.exchanges.iter().map(|e| e.request.clone()).collect();
        prop_assert_eq!(&got, &reqs);
        prop_assert!(ev.exchanges.iter().all(|e| e.flags == Flags::empty()));
        prop_assert!(ev.exchanges.iter().all(|e| e.response.as_ref().map(|r| r.status) == Some(204)));
    }

    /// Arbitrary bytes as frames of any link type: every frame accounted,
    /// nothing held after the end (see `run_checked`).
    #[test]
    fn random_frames_are_all_accounted_for(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..30), dlt in prop_oneof![Just(0), Just(1), Just(101), Just(113), Just(276)]) {
        let link = LinkType::from_dlt(dlt).unwrap();
        let frames: Vec<Frame> = frames
            .into_iter()
            .enumerate()
            .map(|(i, data)| Frame { ts_ns: i as u64, orig_len: data.len() as u32, data })
            .collect();
        run_checked(&frames, PipelineConfig::default(), link);
    }
}

#[test]
fn random_payloads_on_a_real_flow_keep_the_counters_consistent() {
    // Garbage, partial heads and bogus chunk sizes on an HTTP port.
    let mut seed = 0x1234_5678u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\n",
        b"Host: x\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"zz\r\n",
        b"\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
        b"\x00\xff\x80",
        b"Content-Length: 99999999999999999999999\r\n\r\n",
    ];
    let (mut seen_exchanges, mut seen_skipped, mut seen_malformed) = (0, 0, 0);
    for _ in 0..200 {
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
        if next() % 2 == 0 {
            c.handshake();
        }
        for _ in 0..(next() % 20) {
            let p = pieces[(next() % 8) as usize];
            if next() % 2 == 0 {
                c.c(p)
            } else {
                c.s(p)
            }
        }
        for cfg in [port80(), PipelineConfig::default()] {
            let (ev, s) = run_checked(&c.frames, cfg, LinkType::Ethernet);
            seen_exchanges += ev.exchanges.len();
            seen_skipped += s.http.skipped_bytes;
            seen_malformed += s.http.malformed;
        }
    }
    // The inputs reached the HTTP layer and exercised its loss paths.
    assert!(seen_exchanges > 0 && seen_skipped > 0 && seen_malformed > 0);
}

/// The flow evicted at the flow limit is the one seen longest ago (the
/// oldest connection among equals), whatever the order flows were created
/// and touched in: checked against a scan of every flow, over a
/// deterministic pseudo-random schedule of 40 connections at a limit of 8.
#[test]
fn the_flow_evicted_at_the_limit_is_the_one_seen_longest_ago() {
    const LIMIT: usize = 8;
    let mut convs: Vec<Conv> = (0..40)
        .map(|i| Conv::new(&format!("10.0.0.1:{}", 20000 + i), "10.0.0.2:80"))
        .collect();
    // The schedule: each step opens a connection or sends a request line
    // piece on one already open, each frame 1 µs after the previous one.
    let mut rng = 0x9e37_79b9_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut opened = 0usize;
    // The model: (conn index, last seen) of the flows the pipeline holds.
    let mut live: Vec<(usize, u64)> = Vec::new();
    let mut expected_evictions = Vec::new();
    let mut ts = 1_700_000_000_000_000_000u64;
    for _ in 0..400 {
        let open_new = opened < convs.len() && (live.is_empty() || next() % 3 == 0);
        let i = if open_new {
            opened += 1;
            opened - 1
        } else {
            live[(next() % live.len() as u64) as usize].0
        };
        let c = &mut convs[i];
        let first = c.frames.len();
        if open_new {
            c.handshake();
            c.c(format!("GET /c{i} HTTP/1.1\r\n").as_bytes());
        } else {
            c.c(b"X-More: 1\r\n");
        }
        for f in &mut c.frames[first..] {
            ts += 1_000;
            f.ts_ns = ts;
        }
        frames.extend(c.frames[first..].iter().cloned());
        if open_new {
            if live.len() >= LIMIT {
                let (at, _) = live
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (conn, seen))| (*seen, *conn))
                    .unwrap();
                expected_evictions.push(live.remove(at).0);
            }
            live.push((i, ts));
        } else if let Some(entry) = live.iter_mut().find(|(conn, _)| *conn == i) {
            entry.1 = ts;
        }
    }
    let cfg = PipelineConfig {
        max_flows: LIMIT,
        ..port80()
    };
    let (ex, stats) = import_frames(Link::Ethernet, &frames, cfg);
    let evicted: Vec<usize> = ex
        .iter()
        .filter(|e| e.flags.contains(Flags::EVICTED))
        .map(|e| {
            let line = String::from_utf8_lossy(&e.request).into_owned();
            let uri = line.split(' ').nth(1).unwrap_or_default();
            uri.strip_prefix("/c")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line:?}"))
        })
        .collect();
    assert!(expected_evictions.len() > 10, "{expected_evictions:?}");
    assert_eq!(stats.evicted_flow_limit, expected_evictions.len() as u64);
    assert_eq!(evicted, expected_evictions);
}
