//! HTTP/1 framing over reassembled streams: keep-alive, pipelining, chunked,
//! `100 Continue`, close-delimited and body-less responses, upgrades, and
//! recognition by content.

use super::*;

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
