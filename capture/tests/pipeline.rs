//! The sans-IO pipeline used directly (no pcap): the request-complete
//! event, and end-to-end properties under arbitrary segmentation.

mod common;

use common::*;
use proptest::prelude::*;
use shadowtap_capture::{ExchangeSink, LinkType, Pipeline, PipelineConfig, RequestEvent};
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
}

fn run(frames: &[Frame], cfg: PipelineConfig) -> Events {
    let mut p = Pipeline::new(cfg, LinkType::Ethernet);
    let mut ev = Events::default();
    for f in frames {
        p.process(f.ts_ns, &f.data, f.orig_len, &mut ev);
    }
    p.finish(&mut ev);
    ev
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
    assert_eq!(ev.log, vec!["request 1 0", "exchange 1"]);
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

    /// Arbitrary bytes as frames of any link type never panic.
    #[test]
    fn random_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..30), dlt in prop_oneof![Just(0), Just(1), Just(101), Just(113), Just(276)]) {
        let link = LinkType::from_dlt(dlt).unwrap();
        let mut p = Pipeline::new(PipelineConfig::default(), link);
        let mut ev = Events::default();
        for (i, f) in frames.iter().enumerate() {
            p.process(i as u64, f, f.len() as u32, &mut ev);
        }
        p.finish(&mut ev);
    }
}

#[test]
fn random_payloads_on_a_real_flow_never_panic() {
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
        let _ = run(&c.frames, port80());
        let _ = run(&c.frames, PipelineConfig::default());
    }
}
