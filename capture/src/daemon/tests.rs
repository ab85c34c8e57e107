//! Unit tests of the capture daemon that need libpcap or the whole loop.

use std::os::fd::AsRawFd as _;
use std::path::PathBuf;
use std::time::Duration;

use shadowtap_format::{Exchange, FileHeader, Writer, WriterOptions};

use super::filter::is_loopback;
use super::source::{wait_readable, LiveReader};
use super::test_gate as gate;
use super::*;

/// What the capture stores of an exchange at the largest body cap, with
/// heads and chunked framing at their bounds on both sides, is written
/// into one log block. With a framing room as large as the cap, such an
/// exchange was over the block limit and skipped with only a warning.
#[test]
fn an_exchange_at_the_largest_body_cap_fits_in_one_block() {
    use shadowtap_format::http1::DEFAULT_MAX_HEAD;
    use shadowtap_format::{Flags, Response};

    let head = DEFAULT_MAX_HEAD;
    let body = (MAX_BODY_LIMIT + crate::conn::framing_room(MAX_BODY_LIMIT)) as usize;
    let response = Response {
        body_len: u64::MAX,
        ..Response::new(200, u64::MAX, u64::MAX, vec![b'h'; head], vec![b'b'; body])
    };
    let ex = Exchange {
        flags: Flags::REQ_BODY_CAPPED | Flags::RESP_BODY_CAPPED,
        request_len: u64::MAX,
        ..Exchange::new(
            0,
            0,
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:8080".parse().unwrap(),
            u64::MAX,
            vec![b'q'; head + body],
        )
    }
    .with_response(response);
    let opts = WriterOptions {
        codec: shadowtap_format::Codec::None,
        ..WriterOptions::default()
    };
    let mut w = Writer::new(Vec::new(), &FileHeader::default(), opts).unwrap();
    w.append(&ex).expect("the largest exchange fits in a block");
    assert!(w.finish().unwrap().len() > 2 * body);
}

/// On loopback the kernel hands each packet over once, not once as
/// sent and again as received (libpcap's statistics count every copy
/// that passed the kernel filter), and nothing is lost on the way: the
/// connection's first packet, which lands in the buffer libpcap
/// re-filters in user space, included.
#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn loopback_capture_copies_each_packet_once() {
    gate::require_root();
    assert!(is_loopback("lo"));
    for block_timeout in [None, Some(Duration::from_millis(1))] {
        // The kernel's count includes what reached the socket before its
        // filter was set (libpcap filters that in user space): other
        // loopback traffic at that moment adds to it. Up to three tries,
        // so a busy loopback does not fail the test; a capture that copies
        // each packet twice fails every one.
        let mut tries = Vec::new();
        let (seen, received, first_flags) = loop {
            let (seen, received, flags) = one_loopback_connection(block_timeout);
            tries.push((seen, received));
            if received == seen || tries.len() == 3 {
                break (seen, received, flags);
            }
        };
        // Handshake, request, response and both FINs, with their ACKs.
        assert!(seen >= 7, "{block_timeout:?}: {seen} packets");
        assert_eq!(
            received, seen,
            "{block_timeout:?}: (seen, received) {tries:?}"
        );
        assert_eq!(
            first_flags, 0x02,
            "{block_timeout:?}: the first packet is the SYN"
        );
    }
}

/// Captures one short HTTP exchange on lo: packets read, packets the
/// kernel passed, TCP flags of the first packet.
fn one_loopback_connection(block_timeout: Option<Duration>) -> (u32, u32, u8) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = CaptureConfig::new(PacketSource::Interface("lo".into()), PathBuf::new());
    cfg.pipeline.ports = vec![addr.port()];
    cfg.block_timeout = block_timeout;
    let mut live = LiveReader::open(&cfg, "lo").unwrap();
    assert_eq!(live.applied, format!("inbound and ({})", cfg.filter()));
    let cap = live.capture();

    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(server.read(&mut buf).unwrap() > 0);
    server
        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
        .unwrap();
    assert!(client.read(&mut buf).unwrap() > 0);
    drop(client);
    drop(server);

    // Read until the capture has been quiet for 300 ms (bounded).
    let fd = cap.as_raw_fd();
    let (mut seen, mut first_flags) = (0u32, None);
    for _ in 0..1000 {
        match cap.next_packet() {
            Ok(p) => {
                seen += 1;
                // Ethernet (14) + IPv4 (20) + TCP flags at 13.
                first_flags.get_or_insert(p.data.get(47).copied().unwrap_or(0));
            }
            Err(pcap::Error::TimeoutExpired) => {
                if !wait_readable(fd, 300) {
                    break;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    (
        seen,
        cap.stats().unwrap().received,
        first_flags.unwrap_or(0),
    )
}
