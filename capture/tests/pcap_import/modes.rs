//! Pipeline modes: no responses, a requests-only filter, redaction and the
//! body cap.

use super::*;

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
