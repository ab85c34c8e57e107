//! TCP reassembly: order, retransmission, overlap, wrap, gaps and a capture
//! that starts mid-connection.

use super::*;

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
