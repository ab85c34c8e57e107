//! What is missing or evicted: resets, the end of the capture, and the flow
//! and byte bounds.

use super::*;

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
