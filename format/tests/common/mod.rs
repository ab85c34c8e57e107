//! Shared builders for the format tests.
#![allow(dead_code)]

use std::net::SocketAddr;

use shadowtap_format::{Codec, Exchange, FileHeader, Flags, Response, Writer, WriterOptions};

pub fn header() -> FileHeader {
    FileHeader {
        writer: "shadowtap-format tests".into(),
        created_ns: 1_700_000_000_000_000_000,
        meta: vec![
            ("source".into(), "test".into()),
            ("interface".into(), "lo".into()),
        ],
    }
}

/// A deterministic exchange `i`: alternating IPv4/IPv6, some with bodies and
/// responses.
pub fn exchange(i: u64) -> Exchange {
    let (client, server): (SocketAddr, SocketAddr) = if i.is_multiple_of(3) {
        (
            format!("[2001:db8::{:x}]:{}", i % 7 + 1, 40000 + i % 1000)
                .parse()
                .unwrap(),
            "[::1]:8080".parse().unwrap(),
        )
    } else {
        (
            format!("10.0.{}.{}:{}", i % 5, i % 200 + 1, 30000 + i % 1000)
                .parse()
                .unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        )
    };
    let body: Vec<u8> = (0..(i % 5) * 37).map(|k| (k * 7 + i) as u8).collect();
    let mut request = format!(
        "POST /api/items/{i}?q={} HTTP/1.1\r\nHost: api.example\r\nContent-Length: {}\r\n\r\n",
        i * 3,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let ts = 1_700_000_000_000_000_000 + i * 1_000_000;
    let response = (i % 4 != 3).then(|| {
        Response::new(
            [200, 201, 404, 500][(i % 4) as usize],
            ts + 900_000,
            ts + 950_000,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".to_vec(),
            b"ok".to_vec(),
        )
    });
    Exchange {
        req_last_ns: ts + 500_000,
        flags: if i % 10 == 9 {
            Flags::RESP_MISSING
        } else {
            Flags::empty()
        },
        response,
        ..Exchange::new(i, i / 3, client, server, ts, request)
    }
}

/// Small blocks so a few exchanges span several blocks.
pub fn small_blocks(codec: Codec) -> WriterOptions {
    WriterOptions {
        codec,
        block_target: 600,
        sync: false,
        ..WriterOptions::default()
    }
}

pub fn write_all(exchanges: &[Exchange], opts: WriterOptions) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), &header(), opts).unwrap();
    for ex in exchanges {
        w.append(ex).unwrap();
    }
    w.finish().unwrap()
}
