//! Offline import of hand-built pcaps: each test builds a conversation
//! with `common::Conv`, writes it to a pcap file, imports it through
//! `read_pcap` (libpcap, then the pipeline) and checks the exact bytes of
//! what was recorded.

mod common;

use common::*;
use shadowtap_capture::PipelineConfig;
use shadowtap_format::{Exchange, Flags};

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";
const GET_B: &[u8] = b"GET /b?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n";
const RESP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const RESP_404: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

fn head_of(r: &[u8]) -> &[u8] {
    let end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    &r[..end]
}

fn body_of(r: &[u8]) -> &[u8] {
    &r[head_of(r).len()..]
}

/// Checks one exchange against the request and response bytes.
fn check(ex: &Exchange, req: &[u8], resp: &[u8], status: u16) {
    assert_eq!(
        String::from_utf8_lossy(&ex.request),
        String::from_utf8_lossy(req)
    );
    assert_eq!(ex.request_len, req.len() as u64);
    let r = ex.response.as_ref().expect("response");
    assert_eq!(r.status, status);
    assert_eq!(r.head, head_of(resp));
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(body_of(resp))
    );
    assert_eq!(r.body_len, body_of(resp).len() as u64);
}

#[test]
fn keep_alive_exchanges_in_order_with_latency() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.c(GET_B);
    c.s(RESP_404);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    check(&ex[0], GET_A, RESP_OK, 200);
    check(&ex[1], GET_B, RESP_404, 404);
    assert_eq!(ex[0].flags, Flags::empty());
    assert_eq!((ex[0].id, ex[1].id), (1, 2));
    assert_eq!(ex[0].conn, ex[1].conn);
    assert_eq!(ex[0].client, "10.0.0.1:40000".parse().unwrap());
    assert_eq!(ex[0].server, "10.0.0.2:80".parse().unwrap());
    assert_eq!(ex[0].latency_ns(), Some(c.step_ns));
    assert_eq!(stats.http.exchanges, 2);
    assert_eq!(stats.flows_closed, 1);
    assert_eq!(stats.flows_active, 0);
}

#[test]
fn out_of_order_segments() {
    let req = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c_at(20, &req[20..40]);
    c.c_at(40, &req[40..]);
    c.c_at(0, &req[..20]);
    c.c_off = req.len() as u32;
    c.s(RESP_OK);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], req, RESP_OK, 200);
    assert_eq!(ex[0].flags, Flags::empty());
    assert!(stats.reasm.out_of_order_segments >= 2);
}

#[test]
fn retransmission_with_different_boundaries() {
    let req = b"POST /r HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\nabcdefghijklmnopqrst";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c_at(0, &req[..30]);
    c.c_at(30, &req[30..50]);
    // Retransmissions re-cut differently, overlapping both originals.
    c.c_at(10, &req[10..45]);
    c.c_at(25, &req[25..]);
    c.c_at(0, req);
    c.c_off = req.len() as u32;
    c.s(RESP_OK);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    check(&ex[0], req, RESP_OK, 200);
    assert!(stats.reasm.duplicate_bytes > 0);
}

#[test]
fn overlap_first_copy_wins() {
    let req = b"POST /o HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\nAAAABBBB";
    let n = req.len() as u32;
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    // The tail arrives first; a later overlapping copy carries other bytes.
    c.c_at(n - 8, b"AAAABBBB");
    let mut other = req.to_vec();
    other[req.len() - 8..].copy_from_slice(b"xxxxyyyy");
    c.c_at(0, &other);
    c.c_off = n;
    c.s(RESP_OK);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], req, RESP_OK, 200);
}

#[test]
fn pipelined_requests_in_one_segment() {
    let mut both = GET_A.to_vec();
    both.extend_from_slice(GET_B);
    let mut resps = RESP_OK.to_vec();
    resps.extend_from_slice(RESP_404);
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(&both);
    c.s(&resps);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2);
    check(&ex[0], GET_A, RESP_OK, 200);
    check(&ex[1], GET_B, RESP_404, 404);
}

#[test]
fn chunked_request_split_everywhere() {
    let req: &[u8] = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n5\r\n01234\r\n0\r\nX-Trailer: t\r\n\r\n";
    let head_len = head_of(req).len();
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(&req[..head_len + 1]); // chunk size "1a" split after "1"
    let zero = req.len() - b"0\r\nX-Trailer: t\r\n\r\n".len();
    c.c(&req[head_len + 1..zero]);
    c.c(&req[zero..zero + 3]); // "0\r\n" then the trailer in its own segment
    c.c(&req[zero + 3..]);
    c.s(RESP_OK);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    check(&ex[0], req, RESP_OK, 200);
}

#[test]
fn chunked_response_last_chunk_on_segment_boundary() {
    let resp: &[u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(resp);
    c.s(b"0\r\n");
    c.s(b"\r\n");
    c.c(GET_B);
    c.s(RESP_404);
    c.close();
    let mut full = resp.to_vec();
    full.extend_from_slice(b"0\r\n\r\n");
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    check(&ex[0], GET_A, &full, 200);
    assert_eq!(ex[0].flags, Flags::empty());
    check(&ex[1], GET_B, RESP_404, 404);

    // And "0\r\n\r\n" as a segment of its own.
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(resp);
    c.s(b"0\r\n\r\n");
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], GET_A, &full, 200);
}

#[test]
fn expect_100_continue_odd_reason_and_empty_acks() {
    let head: &[u8] =
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 6\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(head);
    c.s_ack();
    c.s(b"HTTP/1.1 100 Carry On, Friend\r\n\r\n");
    c.c_ack();
    c.c(b"abc");
    c.s_ack();
    c.c(b"def");
    let resp = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    c.s(resp);
    c.close();
    let mut req = head.to_vec();
    req.extend_from_slice(b"abcdef");
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    check(&ex[0], &req, resp, 201);
    assert_eq!(ex[0].flags, Flags::INTERIM);
}

#[test]
fn close_delimited_response() {
    let resp_head: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(b"GET /old HTTP/1.0\r\n\r\n");
    c.s(resp_head);
    c.s(b"first part, ");
    c.s(b"second part");
    c.s_fin();
    c.c_fin();
    c.s_ack();
    let mut full = resp_head.to_vec();
    full.extend_from_slice(b"first part, second part");
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], b"GET /old HTTP/1.0\r\n\r\n", &full, 200);
    assert_eq!(ex[0].flags, Flags::empty());
}

#[test]
fn sequence_numbers_wrap() {
    let body = vec![b'z'; 3000];
    let mut req = b"POST /w HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80").isn(u32::MAX - 100, u32::MAX - 10);
    c.handshake();
    for part in req.chunks(700) {
        c.c(part);
    }
    c.s(RESP_OK);
    c.c(GET_A);
    c.s(RESP_404);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2);
    check(&ex[0], &req, RESP_OK, 200);
    check(&ex[1], GET_A, RESP_404, 404);
}

#[test]
fn link_types_and_ipv6() {
    for (link, client, server) in [
        (Link::Ethernet, "[2001:db8::1]:40000", "[2001:db8::2]:80"),
        (Link::Vlan(10), "10.0.0.1:40000", "10.0.0.2:80"),
        (
            Link::QinQ(100, 20),
            "[2001:db8::1]:40000",
            "[2001:db8::2]:80",
        ),
        (Link::Sll, "127.0.0.1:40000", "127.0.0.1:80"),
        (Link::Sll2, "[::1]:40000", "[::1]:80"),
        (Link::Null, "127.0.0.1:40000", "127.0.0.1:80"),
        (Link::Raw, "[2001:db8::1]:40000", "[2001:db8::2]:80"),
    ] {
        let mut c = Conv::new(client, server).link(link);
        c.handshake();
        c.c(GET_A);
        c.s(RESP_OK);
        c.close();
        let (ex, _) = import(&c, port80());
        assert_eq!(ex.len(), 1, "{link:?}");
        check(&ex[0], GET_A, RESP_OK, 200);
        assert_eq!(ex[0].client, client.parse().unwrap(), "{link:?}");
    }
}

#[test]
fn snaplen_truncated_frames_are_flagged() {
    let body = vec![b'q'; 400];
    let mut req = b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 400\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.snaplen = Some(200);
    c.c(&req);
    c.snaplen = None;
    c.s(RESP_OK);
    c.c(GET_A);
    c.s(RESP_404);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    // 200 captured bytes = 14 Ethernet + 20 IP + 20 TCP + 146 payload.
    assert_eq!(ex[0].request, &req[..146]);
    assert_eq!(ex[0].request_len, req.len() as u64);
    assert!(
        ex[0].flags.contains(Flags::REQ_SNAPLEN | Flags::REQ_GAP),
        "{:?}",
        ex[0].flags
    );
    assert!(!ex[0].flags.contains(Flags::REQ_INCOMPLETE));
    assert_eq!(ex[0].response.as_ref().unwrap().status, 200);
    check(&ex[1], GET_A, RESP_404, 404);
    assert_eq!(stats.snaplen_cut, 1);
}

#[test]
fn capture_starting_mid_connection() {
    let body = vec![b'm'; 100];
    let mut req = b"POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(&req[..60]);
    c.c(&req[60..]);
    c.s(RESP_OK);
    c.c(GET_B);
    c.s(RESP_404);
    c.close();
    // The capture starts with the second half of the first request.
    let frames = c.frames[4..].to_vec();
    let (ex, stats) = import_frames(c.link, &frames, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    check(&ex[0], GET_B, RESP_404, 404);
    assert_eq!(ex[0].flags, Flags::MIDSTREAM);
    assert_eq!(stats.http.orphan_responses, 1);
}

#[test]
fn content_recognition_without_ports() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:8123");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.close();
    // Mid-stream too: no handshake, roles from content.
    let mut d = Conv::new("10.0.0.1:40001", "10.0.0.2:8123");
    d.c(GET_B);
    d.s(RESP_404);
    let mut frames = c.frames.clone();
    frames.extend(d.frames.clone());
    let (ex, _) = import_frames(Link::Ethernet, &frames, PipelineConfig::default());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    check(&ex[0], GET_A, RESP_OK, 200);
    check(&ex[1], GET_B, RESP_404, 404);
    assert_eq!(ex[1].flags, Flags::MIDSTREAM);
    // With a port list, other ports are filtered.
    let (ex, stats) = import_frames(Link::Ethernet, &frames, port80());
    assert!(ex.is_empty());
    assert_eq!(stats.filtered, frames.len() as u64);
}

#[test]
fn no_body_responses_head_204_304() {
    let head_req = b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n";
    let head_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
    let r204 = b"HTTP/1.1 204 No Content\r\n\r\n";
    let r304 = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(head_req);
    c.s(head_resp);
    c.c(GET_A);
    c.s(r204);
    c.c(GET_B);
    c.s(r304);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 3);
    check(&ex[0], head_req, head_resp, 200);
    check(&ex[1], GET_A, r204, 204);
    check(&ex[2], GET_B, r304, 304);
}

#[test]
fn upgrade_and_connect_stop_parsing() {
    let ws = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let r101 =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(ws);
    c.s(r101);
    c.c(b"\x81\x05GET / HTTP/1.1\r\n\r\n");
    c.s(b"\x81\x02HTTP/1.1 200 OK\r\n\r\n");
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1, "{ex:#?}");
    check(&ex[0], ws, r101, 101);
    assert_eq!(ex[0].flags, Flags::UPGRADE);

    let connect = b"CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
    let ok = b"HTTP/1.1 200 Connection Established\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    c.handshake();
    c.c(connect);
    c.s(ok);
    c.c(b"GET /not-http HTTP/1.1\r\n\r\n");
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], connect, ok, 200);
    assert_eq!(ex[0].flags, Flags::UPGRADE);

    // A declined upgrade keeps HTTP/1.x going.
    let mut c = Conv::new("10.0.0.1:40002", "10.0.0.2:80");
    c.handshake();
    c.c(ws);
    c.s(RESP_404);
    c.c(GET_A);
    c.s(RESP_OK);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    check(&ex[0], ws, RESP_404, 404);
    assert_eq!(ex[0].flags, Flags::empty());
    check(&ex[1], GET_A, RESP_OK, 200);
}

#[test]
fn missing_segment_is_a_gap_not_glued() {
    let mut req = b"POST /g HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\n\r\n".to_vec();
    req.extend_from_slice(b"aaaaaaaaaabbbbbbbbbbcccccccccc");
    let h = head_of(&req).len() as u32;
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c_at(0, &req[..h as usize + 10]);
    // bytes [h+10, h+20) never captured
    c.c_at(h + 20, &req[h as usize + 20..]);
    c.c_off = req.len() as u32;
    c.s(RESP_OK); // acknowledges everything
    c.c(GET_A);
    c.s(RESP_404);
    c.close();
    let (ex, stats) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    assert_eq!(ex[0].request, &req[..h as usize + 10]);
    assert_eq!(ex[0].request_len, req.len() as u64);
    assert_eq!(ex[0].flags, Flags::REQ_GAP);
    assert_eq!(ex[0].response.as_ref().unwrap().status, 200);
    check(&ex[1], GET_A, RESP_404, 404);
    assert_eq!(stats.reasm.gap_bytes, 10);
}

#[test]
fn gap_in_request_head_resynchronises() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c_at(0, &GET_B[..10]);
    c.c_at(20, &GET_B[20..]);
    c.c_off = GET_B.len() as u32;
    c.s(RESP_OK);
    c.c(GET_A);
    c.s(RESP_404);
    c.close();
    let (ex, _) = import(&c, port80());
    assert_eq!(ex.len(), 2, "{ex:#?}");
    assert_eq!(ex[0].request, &GET_B[..10]);
    assert!(ex[0].flags.contains(Flags::REQ_GAP | Flags::REQ_INCOMPLETE));
    assert_eq!(ex[0].response.as_ref().unwrap().status, 200);
    check(&ex[1], GET_A, RESP_404, 404);
}

#[test]
fn no_responses_mode_emits_requests_at_once() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    // The server's bytes are not read at all: not even garbage counts.
    c.s(b"\x00\x01 not HTTP at all\r\n\r\n");
    c.c(GET_B);
    let cfg = PipelineConfig {
        responses: false,
        ..port80()
    };
    let (ex, stats) = import(&c, cfg);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].request, GET_A);
    assert_eq!(ex[1].request, GET_B);
    assert!(ex
        .iter()
        .all(|e| e.response.is_none() && e.flags.is_empty()));
    assert_eq!(stats.http.framing_errors, 0);
    assert_eq!(stats.http.skipped_bytes, 0);
    assert_eq!(stats.http.orphan_responses, 0);
}

/// What a requests-only live filter lets through: the client's segments
/// and the server's SYN-ACK and FIN, none of its bytes. Flows still close on
/// the FINs, and without the server's acknowledgments a hole in the client's
/// stream is given up after a second of packet time instead of holding the
/// requests behind it.
#[test]
fn requests_only_needs_no_server_bytes() {
    let get_c: &[u8] = b"GET /c HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let get_d: &[u8] = b"GET /d HTTP/1.1\r\nHost: example.test\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.frames.pop(); // the filter keeps no server bytes
    c.c_off += GET_B.len() as u32; // lost by the capture
    c.c(get_c);
    c.step_ns = 1_500_000_000;
    c.c(get_d);
    c.step_ns = 1_000_000;
    c.close();
    let cfg = PipelineConfig {
        responses: false,
        ..port80()
    };
    let (ex, stats) = import(&c, cfg.clone());
    let paths: Vec<&[u8]> = ex.iter().map(|e| &e.request[..6]).collect();
    assert_eq!(paths, [&b"GET /a"[..], b"GET /c", b"GET /d"]);
    assert!(ex.iter().all(|e| e.response.is_none()));
    assert_eq!(stats.reasm.forced_gaps, 1);
    assert_eq!(stats.reasm.gap_bytes, GET_B.len() as u64);
    assert_eq!(stats.flows_closed, 1, "both FINs close the flow");
    assert_eq!(stats.evicted_idle + stats.evicted_memory, 0);

    // The same hole, younger than the timeout, still waits for the FIN.
    let mut young = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    young.handshake();
    young.c(GET_A);
    young.c_off += GET_B.len() as u32;
    young.c(get_c);
    young.c(get_d);
    let (ex, stats) = import(&young, cfg);
    assert_eq!(ex.len(), 3);
    assert_eq!(stats.reasm.forced_gaps, 0);
}

#[test]
fn redaction_and_body_cap() {
    let mut req = b"POST /s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cr3t\r\nContent-Length: 20\r\n\r\n".to_vec();
    req.extend_from_slice(b"0123456789abcdefghij");
    let resp = b"HTTP/1.1 200 OK\r\nSet-Cookie: id=42\r\nContent-Length: 12\r\n\r\nhello world!";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(&req);
    c.s(resp);
    c.close();
    let cfg = PipelineConfig {
        max_body: 8,
        redact_headers: vec!["authorization".into(), "SET-COOKIE".into()],
        ..port80()
    };
    let (ex, _) = import(&c, cfg);
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    let expect_head = b"POST /s HTTP/1.1\r\nHost: h\r\nAuthorization: *************\r\nContent-Length: 20\r\n\r\n";
    assert_eq!(&e.request[..expect_head.len()], expect_head);
    assert_eq!(&e.request[expect_head.len()..], b"01234567");
    assert_eq!(e.request_len, req.len() as u64);
    let r = e.response.as_ref().unwrap();
    assert_eq!(
        r.head,
        b"HTTP/1.1 200 OK\r\nSet-Cookie: *****\r\nContent-Length: 12\r\n\r\n"
    );
    assert_eq!(r.body, b"hello wo");
    assert_eq!(r.body_len, 12);
    assert_eq!(
        e.flags,
        Flags::REDACTED | Flags::REQ_BODY_CAPPED | Flags::RESP_BODY_CAPPED
    );
    assert!(!String::from_utf8_lossy(&e.request).contains("s3cr3t"));
}

#[test]
fn reset_and_end_of_capture_flag_what_is_missing() {
    let resp_part = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(resp_part);
    c.rst_from_server();
    let mut d = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    d.handshake();
    d.c(GET_B); // no response before the capture ends
    let mut frames = c.frames.clone();
    frames.extend(d.frames.clone());
    let (ex, _) = import_frames(Link::Ethernet, &frames, port80());
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].request, GET_A);
    assert_eq!(ex[0].flags, Flags::RESP_INCOMPLETE);
    let r = ex[0].response.as_ref().unwrap();
    assert_eq!(r.body, b"partial");
    assert_eq!(ex[1].request, GET_B);
    assert_eq!(ex[1].flags, Flags::RESP_MISSING);
    assert!(ex[1].response.is_none());
    assert_ne!(ex[0].conn, ex[1].conn);
}

#[test]
fn bounds_evict_and_flag() {
    // Two interleaved connections with room for one flow.
    let mut a = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    let mut b = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    a.handshake();
    a.c(GET_A);
    b.handshake();
    b.c(GET_B);
    b.s(RESP_OK);
    let mut frames = a.frames.clone();
    frames.extend(b.frames.clone());
    for (i, f) in frames.iter_mut().enumerate() {
        f.ts_ns = 1_700_000_000_000_000_000 + i as u64;
    }
    let cfg = PipelineConfig {
        max_flows: 1,
        ..port80()
    };
    let (ex, stats) = import_frames(Link::Ethernet, &frames, cfg);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].request, GET_A);
    assert_eq!(ex[0].flags, Flags::RESP_MISSING | Flags::EVICTED);
    check(&ex[1], GET_B, RESP_OK, 200);
    assert_eq!(stats.evicted_flow_limit, 1);

    // Idle timeout, by packet time: a request whose connection goes quiet.
    let mut a = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    a.handshake();
    a.c(GET_A);
    let mut b = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    b.ts_ns = a.ts_ns + 10_000_000_000;
    b.handshake();
    b.c(GET_B);
    b.s(RESP_OK);
    let mut frames = a.frames.clone();
    frames.extend(b.frames.clone());
    let cfg = PipelineConfig {
        idle_timeout_ns: 5_000_000_000,
        ..port80()
    };
    let (ex, stats) = import_frames(Link::Ethernet, &frames, cfg);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].request, GET_A);
    assert!(ex[0].flags.contains(Flags::EVICTED | Flags::RESP_MISSING));
    assert_eq!(stats.evicted_idle, 1);
}

#[test]
fn truncated_pcap_file_processes_what_is_there() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    c.c(GET_B);
    c.s(RESP_404);
    let bytes = pcap_bytes(1, &c.frames);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    let mut out: Vec<Exchange> = Vec::new();
    let (_, warning) = shadowtap_capture::read_pcap(&path, port80(), &mut out).unwrap();
    assert!(warning.is_some(), "a cut file must be reported");
    assert_eq!(out.len(), 2);
    check(&out[0], GET_A, RESP_OK, 200);
    assert_eq!(out[1].request, GET_B);
    assert_eq!(out[1].flags, Flags::RESP_MISSING);
}

#[test]
fn garbage_and_malformed_frames_are_counted() {
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    c.c(GET_A);
    c.s(RESP_OK);
    let mut frames = c.frames.clone();
    frames.insert(
        3,
        Frame {
            ts_ns: frames[2].ts_ns,
            data: vec![0xff; 7],
            orig_len: 7,
        },
    );
    let mut bad_ip = frames[4].data.clone();
    bad_ip[14] = 0x35; // IPv4 with IHL 5? no: version 3
    frames.insert(
        4,
        Frame {
            ts_ns: frames[3].ts_ns,
            data: bad_ip.clone(),
            orig_len: bad_ip.len() as u32,
        },
    );
    let (ex, stats) = import_frames(Link::Ethernet, &frames, port80());
    assert_eq!(ex.len(), 1);
    check(&ex[0], GET_A, RESP_OK, 200);
    assert_eq!(stats.malformed + stats.not_ip, 2, "{stats:?}");
}

#[test]
fn byte_bounds_evict_and_flag() {
    let body = "b".repeat(500);
    let one = format!("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n{body}");
    // Per flow: unanswered pipelined requests pile up past the bound.
    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    for _ in 0..10 {
        c.c(one.as_bytes());
    }
    let cfg = PipelineConfig {
        max_flow_bytes: 2000,
        ..port80()
    };
    let (ex, stats) = import(&c, cfg);
    assert!(stats.evicted_memory >= 1, "{stats:?}");
    assert!(!ex.is_empty());
    assert!(ex.iter().all(|e| e.request == one.as_bytes()));
    assert!(ex[0].flags.contains(Flags::EVICTED | Flags::RESP_MISSING));
    // In total: the least recently active flow goes first.
    let mut a = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    a.handshake();
    a.c(one.as_bytes());
    let mut b = Conv::new("10.0.0.1:40002", "10.0.0.2:80");
    b.ts_ns = a.ts_ns + 1_000;
    b.handshake();
    b.c(one.as_bytes());
    let mut frames = a.frames.clone();
    frames.extend(b.frames.clone());
    let cfg = PipelineConfig {
        max_total_bytes: 1000,
        ..port80()
    };
    let (ex, stats) = import_frames(Link::Ethernet, &frames, cfg);
    assert_eq!(stats.evicted_memory, 1);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].client.port(), 40001);
    assert!(ex[0].flags.contains(Flags::EVICTED));
    assert!(!ex[1].flags.contains(Flags::EVICTED));
}
