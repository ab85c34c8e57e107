//! Link layers, truncated frames and files, and frames that are not TCP/IP.

use super::*;

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
