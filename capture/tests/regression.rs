//! One test per defect found in the capture, named after the bug (issue 12).
//! Every fixture is built here, frame by frame (see `common`).

mod common;

use common::*;
use shadowtap_capture::{PipelineConfig, PipelineStats};
use shadowtap_format::http1::scan_request_line;
use shadowtap_format::{Exchange, Flags};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
const GET_NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

/// One connection: each request answered by its response, then closed.
fn conversation(pairs: &[(&[u8], &[u8])], cfg: PipelineConfig) -> (Vec<Exchange>, PipelineStats) {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    for (req, resp) in pairs {
        c.c_segments(req, 32 * 1024);
        if !resp.is_empty() {
            c.s_segments(resp, 32 * 1024);
        }
    }
    c.close();
    import(&c, cfg)
}

fn method_and_uri(raw: &[u8]) -> (String, String) {
    let l = scan_request_line(raw).expect("a request line");
    (
        l.method.to_string(),
        String::from_utf8_lossy(l.uri.unwrap_or_default()).into_owned(),
    )
}

/// Issue 12 item 7: a request whose head httparse rejects vanished from the
/// capture, with `exchanges=0 incomplete=0 malformed=0`.
#[test]
fn request_with_control_bytes_in_the_uri_is_recorded_not_dropped() {
    let req: &[u8] = b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: a\r\n\r\n";
    let (ex, stats) = conversation(&[(req, OK), (GET_NEXT, NOT_FOUND)], port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    assert_eq!(ex[0].request, req);
    assert_eq!(ex[0].request_len, req.len() as u64);
    assert_eq!(ex[0].flags, Flags::REQ_MALFORMED);
    assert_eq!(ex[0].response.as_ref().unwrap().status, 200);
    assert_eq!(
        method_and_uri(&ex[0].request),
        ("GET".into(), "/esc\x1b[31mRED".into())
    );
    assert_eq!(ex[1].request, GET_NEXT);
    assert_eq!(ex[1].response.as_ref().unwrap().status, 404);
    assert_eq!(stats.http.exchanges, 2);
    assert_eq!(stats.http.malformed, 1);
    assert_eq!(stats.http.skipped_bytes, 0);
}

#[test]
fn request_with_an_obs_fold_header_is_recorded_not_dropped() {
    let req: &[u8] =
        b"POST /fold HTTP/1.1\r\nHost: b\r\nX-Folded: one\r\n  two\r\nContent-Length: 3\r\n\r\nabc";
    let (ex, stats) = conversation(&[(req, OK), (GET_NEXT, NOT_FOUND)], port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    // The body length was read by the lenient scan: the next request frames.
    assert_eq!(ex[0].request, req);
    assert_eq!(ex[0].flags, Flags::REQ_MALFORMED);
    assert_eq!(ex[1].request, GET_NEXT);
    assert_eq!(stats.http.malformed, 1);
}

/// Request lines that are unusual but real: each is recorded raw, with its
/// method and target as far as they can be read.
#[test]
fn unusual_request_lines_are_recorded_raw_with_method_and_uri() {
    let cases: &[(&[u8], &str, &str, bool)] = &[
        // (request, method, target, framed by the lenient scan)
        (b"GET /nover\r\nHost: c\r\n\r\n", "GET", "/nover", true),
        (b"GET / HTTP/1.2\r\nHost: d\r\n\r\n", "GET", "/", true),
        (b"GET /two HTTP/2.0\r\nHost: e\r\n\r\n", "GET", "/two", true),
        (b"GET /foo FOO/1.1\r\nHost: f\r\n\r\n", "GET", "/foo", true),
        (
            b"GET  /spaces   HTTP/1.1\r\nHost: g\r\n\r\n",
            "GET",
            "/spaces",
            true,
        ),
        (
            b"GET\t/tab\tHTTP/1.1\r\nHost: l\r\n\r\n",
            "GET",
            "/tab",
            true,
        ),
        (b"GET /sp HTTP/1.1 \r\nHost: m\r\n\r\n", "GET", "/sp", true),
        (
            b"GET /ctl\x01 HTTP/1.1\r\nHost: p\r\n\r\n",
            "GET",
            "/ctl\x01",
            true,
        ),
        (
            b"GET /x HTTP/1.1\r\nBad Header: v\r\nHost: n\r\n\r\n",
            "GET",
            "/x",
            true,
        ),
        // Strict HTTP/1.1 already, kept as such.
        (
            b"BREW /pot HTTP/1.1\r\nHost: i\r\n\r\n",
            "BREW",
            "/pot",
            false,
        ),
        (
            b"get /lower HTTP/1.1\r\nHost: j\r\n\r\n",
            "get",
            "/lower",
            false,
        ),
    ];
    for (req, method, uri, lax) in cases {
        let (ex, stats) = conversation(&[(req, OK), (GET_NEXT, NOT_FOUND)], port80());
        let name = String::from_utf8_lossy(req);
        assert_eq!(ex.len(), 2, "{name}: {ex:#?}");
        assert_eq!(ex[0].request, *req, "{name}");
        assert_eq!(ex[0].flags.contains(Flags::REQ_MALFORMED), *lax, "{name}");
        assert!(!ex[0].flags.contains(Flags::REQ_INCOMPLETE), "{name}");
        assert_eq!(
            method_and_uri(&ex[0].request),
            (method.to_string(), uri.to_string()),
            "{name}"
        );
        assert_eq!(ex[0].response.as_ref().unwrap().status, 200, "{name}");
        assert_eq!(ex[1].request, GET_NEXT, "{name}");
        assert_eq!(stats.http.skipped_bytes, 0, "{name}");
    }
}

/// An HTTP/0.9 simple request has no blank line: it is kept, incomplete,
/// when the connection ends; its response has no status line and is
/// counted as skipped bytes.
#[test]
fn http09_simple_request_is_recorded_as_incomplete() {
    let body = b"<html>nine</html>";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(b"GET /nine\r\n");
    c.s(body);
    c.s_fin();
    c.c_fin();
    c.s_ack();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    assert_eq!(ex[0].request, b"GET /nine\r\n");
    assert!(
        ex[0].flags.contains(Flags::REQ_INCOMPLETE),
        "{:?}",
        ex[0].flags
    );
    assert_eq!(
        method_and_uri(&ex[0].request),
        ("GET".into(), "/nine".into())
    );
    assert_eq!(stats.http.skipped_bytes, body.len() as u64);
}

/// A head that the connection's end cut short vanished (no exchange, no
/// counter).
#[test]
fn request_head_cut_by_the_end_of_the_stream_is_kept_as_incomplete() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(b"GET /cut HTTP/1.1\r\nHost: a\r\n");
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    assert_eq!(ex[0].request, b"GET /cut HTTP/1.1\r\nHost: a\r\n");
    assert!(ex[0]
        .flags
        .contains(Flags::REQ_INCOMPLETE | Flags::RESP_MISSING));
}

/// Bytes on a tracked connection that never frame as a request are kept
/// in no exchange: they must be counted.
#[test]
fn bytes_that_never_frame_are_counted_in_skipped_bytes() {
    let junk = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 no blank line";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(junk);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert!(ex.is_empty(), "{ex:#?}");
    assert_eq!(stats.http.skipped_bytes, junk.len() as u64);
}

/// A request line cut by the snap length still yields its method and URI,
/// and the method frames its response (a HEAD answer has no body).
#[test]
fn request_line_cut_by_the_snap_length_keeps_method_and_uri() {
    let uri = format!("/{}", "u".repeat(300));
    let req = format!("HEAD {uri} HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    // 54 bytes of Ethernet, IP and TCP headers, then 100 of the request.
    c.snaplen = Some(54 + 100);
    c.c(req.as_bytes());
    c.snaplen = None;
    c.s(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    c.c(GET_NEXT);
    c.s(NOT_FOUND);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    assert_eq!(ex[0].request, &req.as_bytes()[..100]);
    assert!(ex[0].flags.contains(Flags::REQ_SNAPLEN | Flags::REQ_GAP));
    let (m, u) = method_and_uri(&ex[0].request);
    assert_eq!(m, "HEAD");
    assert_eq!(u, &uri[..100 - 5]);
    let resp = ex[0].response.as_ref().unwrap();
    assert_eq!((resp.status, resp.body_len), (200, 0));
    assert_eq!(ex[1].request, GET_NEXT);
    assert_eq!(ex[1].response.as_ref().unwrap().status, 404);
}

/// A request whose Content-Length cannot be read: the rest of the client's
/// stream is its body, kept raw and flagged.
#[test]
fn request_with_an_unreadable_length_keeps_the_rest_of_the_stream() {
    let req: &[u8] = b"POST /cl HTTP/1.1\r\nHost: o\r\nContent-Length: abc\r\n\r\nbody";
    let (ex, stats) = conversation(&[(req, OK), (GET_NEXT, NOT_FOUND)], port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    let mut all = req.to_vec();
    all.extend_from_slice(GET_NEXT);
    assert_eq!(ex[0].request, all);
    assert!(ex[0].flags.contains(Flags::REQ_MALFORMED));
    assert_eq!(stats.http.malformed, 1);
    // The second response answered a request the capture could not frame.
    assert_eq!(stats.http.orphan_responses, 1);
}

fn cap(max_body: u64) -> PipelineConfig {
    PipelineConfig {
        max_body,
        ..port80()
    }
}

/// A chunked body of `data` bytes in chunks of at most `chunk`, with its
/// framing.
fn chunked(data: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = data;
    while left > 0 {
        let n = left.min(chunk);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.resize(out.len() + n, b'd');
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Issue 12 item 11: a chunked body of exactly the cap was flagged capped,
/// because its chunked framing counted against the cap.
#[test]
fn chunked_body_of_exactly_the_cap_is_not_capped() {
    let max = 1 << 20; // the default cap
    let mut req = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend(chunked(max, 16 * 1024));
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    resp.extend(chunked(max, 16 * 1024));
    let (ex, stats) = conversation(&[(&req, &resp)], PipelineConfig::default());
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].flags, Flags::empty());
    assert_eq!(ex[0].request, req);
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!(r.body.len() as u64, r.body_len);
    assert_eq!(stats.http.capped_bodies, 0);
}

/// At the cap exactly and one byte over, chunked and Content-Length,
/// request and response: the cap counts body bytes (decoded chunk data);
/// what is stored keeps its framing and stops right before the first body
/// byte beyond the cap.
#[test]
fn body_cap_counts_body_bytes_not_framing() {
    let max = 1000u64;
    for data in [max as usize, max as usize + 1] {
        let over = data as u64 > max;
        for chunk in [None, Some(1), Some(7), Some(4096)] {
            let (hdr, body) = match chunk {
                None => (format!("Content-Length: {data}\r\n"), vec![b'd'; data]),
                Some(c) => (
                    "Transfer-Encoding: chunked\r\n".to_string(),
                    chunked(data, c),
                ),
            };
            let req = [
                format!("POST /up HTTP/1.1\r\nHost: h\r\n{hdr}\r\n").as_bytes(),
                &body,
            ]
            .concat();
            let resp = [format!("HTTP/1.1 200 OK\r\n{hdr}\r\n").as_bytes(), &body].concat();
            let (ex, stats) = conversation(&[(&req, &resp), (GET_NEXT, NOT_FOUND)], cap(max));
            let name = format!("data {data}, chunk {chunk:?}");
            assert_eq!(ex.len(), 2, "{name}");
            let flags = ex[0].flags;
            assert_eq!(flags.contains(Flags::REQ_BODY_CAPPED), over, "{name}");
            assert_eq!(flags.contains(Flags::RESP_BODY_CAPPED), over, "{name}");
            assert_eq!(ex[0].request_len, req.len() as u64, "{name}");
            let r = ex[0].response.as_ref().unwrap();
            assert_eq!(r.body_len, body.len() as u64, "{name}");
            // Stored: everything up to the first body byte beyond the cap.
            let head_len = req.len() - body.len();
            let keep = if over {
                stored_until_cap(&body, max)
            } else {
                body.len()
            };
            assert_eq!(ex[0].request, &req[..head_len + keep], "{name}");
            assert_eq!(r.body, &body[..keep], "{name}");
            assert_eq!(stats.http.capped_bodies, if over { 2 } else { 0 }, "{name}");
            assert_eq!(ex[1].request, GET_NEXT, "{name}");
        }
    }
}

/// The wire offset, in a body of `d` bytes (plain or chunked with `d`
/// data bytes), of the first data byte beyond `max`: found by decoding.
fn stored_until_cap(body: &[u8], max: u64) -> usize {
    if body.iter().all(|&b| b == b'd') {
        return max as usize;
    }
    let mut i = 0;
    let mut data = 0u64;
    loop {
        let lf = i + body[i..].iter().position(|&b| b == b'\n').unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[i..lf - 1]).unwrap(), 16).unwrap();
        let start = lf + 1;
        if data + size as u64 > max {
            return start + (max - data) as usize;
        }
        data += size as u64;
        i = start + size + 2;
    }
}

/// The framing stored with a body is bounded too: 1-byte chunks with long
/// extensions, few data bytes, much framing.
#[test]
fn chunked_framing_stored_with_a_body_is_bounded() {
    let max = 1000u64;
    let mut body = Vec::new();
    for _ in 0..max {
        body.extend_from_slice(format!("1;{}\r\nd\r\n", "e".repeat(100)).as_bytes());
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let req = [&head[..], &body].concat();
    let (ex, _) = conversation(&[(&req, OK), (GET_NEXT, NOT_FOUND)], cap(max));
    assert_eq!(ex.len(), 2);
    assert!(
        ex[0].flags.contains(Flags::REQ_BODY_CAPPED),
        "{:?}",
        ex[0].flags
    );
    let bound = head.len() + max as usize + 64 * 1024;
    assert_eq!(ex[0].request, &req[..bound]);
    assert_eq!(ex[0].request_len, req.len() as u64);
    assert_eq!(ex[1].request, GET_NEXT);
}

type Segments = Vec<Vec<u8>>;

/// The rule behind issue 12 item 7, checked byte for byte: every byte the
/// capture saw on a tracked connection is in an exchange (counted at its
/// wire length) or in `skipped_bytes`.
#[test]
fn every_byte_is_in_an_exchange_or_counted() {
    let big_head = {
        let mut h = b"GET /big HTTP/1.1\r\nX: ".to_vec();
        h.resize(70 * 1024, b'a');
        h
    };
    // (name, client segments, server segments)
    let cases: Vec<(&str, Segments, Segments)> = vec![
        (
            "control bytes, obs-fold",
            vec![
                b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                b"GET /f HTTP/1.1\r\nX: one\r\n  two\r\n\r\n".to_vec(),
            ],
            vec![OK.to_vec(), NOT_FOUND.to_vec()],
        ),
        (
            "junk after a request",
            vec![GET_NEXT.to_vec(), b"\x16\x03\x01\x00\x05hello".to_vec()],
            vec![OK.to_vec()],
        ),
        (
            "broken chunked framing",
            vec![
                b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".to_vec(),
                b"zz\r\nmore bytes\r\n".to_vec(),
            ],
            vec![OK.to_vec()],
        ),
        (
            "head over the bound",
            big_head.chunks(8 * 1024).map(<[u8]>::to_vec).collect(),
            vec![],
        ),
        (
            "unreadable length",
            vec![
                b"POST /cl HTTP/1.1\r\nContent-Length: x\r\n\r\nab".to_vec(),
                GET_NEXT.to_vec(),
            ],
            vec![OK.to_vec()],
        ),
        (
            "response head cut short",
            vec![GET_NEXT.to_vec()],
            vec![b"HTTP/1.1 200 OK\r\nContent-Le".to_vec()],
        ),
        (
            "empty lines between and after requests",
            vec![
                GET_NEXT.to_vec(),
                b"\r\n\r\n".to_vec(),
                b"\n".to_vec(),
                GET_NEXT.to_vec(),
                b"\r\n".to_vec(),
            ],
            vec![OK.to_vec(), OK.to_vec()],
        ),
        (
            "http/0.9",
            vec![b"GET /nine\r\n".to_vec()],
            vec![b"<html>nine</html>".to_vec()],
        ),
    ];
    for (name, client, server) in cases {
        let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
        c.handshake();
        for piece in &client {
            c.c(piece);
        }
        for piece in &server {
            c.s(piece);
        }
        c.close();
        let (ex, stats) = import(&c, port80());
        let sent: u64 = client.iter().chain(&server).map(|p| p.len() as u64).sum();
        let kept: u64 = ex
            .iter()
            .map(|e| {
                e.request_len
                    + e.response
                        .as_ref()
                        .map_or(0, |r| r.head.len() as u64 + r.body_len)
            })
            .sum();
        assert!(!ex.is_empty(), "{name}: {stats:?}");
        assert_eq!(
            kept + stats.http.skipped_bytes,
            sent,
            "{name}: {ex:#?} {stats:?}"
        );
    }
}

/// Issue 12 (fuzzing): with packets out of order, the request's first byte
/// arriving last, the exchange's first time was that of the segment
/// delivered first in stream order and its last time that of the segment
/// delivered last, so `req_last_ns < req_first_ns`.
#[test]
fn out_of_order_request_ends_before_it_starts() {
    let req: &[u8] = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    let (head, tail) = req.split_at(20);
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    let at = c.frames.len();
    // The tail is captured first, then the head (a retransmission).
    c.c_at(head.len() as u32, tail);
    c.c_at(0, head);
    c.c_off = req.len() as u32;
    c.s_segments(OK, 32 * 1024);
    c.close();
    let (tail_ns, head_ns) = (c.frames[at].ts_ns, c.frames[at + 1].ts_ns);
    assert!(tail_ns < head_ns);
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    assert_eq!(ex[0].request, req);
    assert!(
        ex[0].req_first_ns <= ex[0].req_last_ns,
        "first {} > last {}",
        ex[0].req_first_ns,
        ex[0].req_last_ns
    );
    // The times span every segment of the request, whatever their order.
    assert_eq!((ex[0].req_first_ns, ex[0].req_last_ns), (tail_ns, head_ns));
}

#[test]
fn ipv4_ethertype_with_an_ipv6_header_was_not_tcp_behind_ethernet_but_malformed_alone() {
    use shadowtap_capture::decode::{decode, LinkType, Skip};
    // An IPv6-looking header (version nibble 6) under a link layer that
    // says IPv4: malformed however it arrives.
    let mut ip = vec![0x65, 0, 0, 0x5c, 0, 1, 0x40, 0, 0x40, 6];
    ip.resize(60, 0);
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x08, 0x00]);
    eth.extend_from_slice(&ip);
    let mut vlan = vec![0u8; 12];
    vlan.extend_from_slice(&[0x81, 0x00, 0, 7, 0x08, 0x00]);
    vlan.extend_from_slice(&ip);
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(&ip);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    for (link, frame) in [
        (LinkType::Ipv4, &ip),
        (LinkType::Ethernet, &eth),
        (LinkType::Ethernet, &vlan),
        (LinkType::LinuxSll, &sll),
        (LinkType::Null, &null),
    ] {
        assert_eq!(
            decode(link, frame, frame.len() as u32).err(),
            Some(Skip::Malformed),
            "{link:?}"
        );
    }
}
