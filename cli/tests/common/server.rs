//! The server of the comparison tests: version 1 or 2 of the JSON API of
//! [`api`](super::api) over keep-alive HTTP/1.1 on 127.0.0.1:0, in several
//! framings and codings.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::api::{answer, rid};

/// How the server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// `Content-Length`, identity.
    Plain,
    /// `Content-Encoding: gzip`, `Content-Length`.
    Gzip,
    /// `Transfer-Encoding: chunked`, identity, small chunks.
    Chunked,
    /// gzip, then chunked.
    GzipChunked,
    /// As `Plain`, after 30 ms.
    Slow,
}

/// A keep-alive HTTP/1.1 server answering as version `v` of the API, with
/// noise of its own (another day in `Date`, other request ids and
/// timestamps). Runs on threads (one per connection) until the test
/// process ends; returns its `http://` URL.
pub fn server(v: u8, style: Style) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counter = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || serve(stream, v, style, &counter));
        }
    });
    url
}

/// Answers the GETs of one connection until it closes.
fn serve(mut stream: TcpStream, v: u8, style: Style, counter: &AtomicU64) {
    // Bounds every read: a stuck client ends the connection.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for _ in 0..100_000 {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 {
                return;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let Some(path) = head.split(' ').nth(1) else {
            return;
        };
        let c = counter.fetch_add(1, Ordering::SeqCst);
        let (status, body) = answer(v, path, c, 2);
        if style == Style::Slow {
            // The server's own pace, not a wait of the test's.
            std::thread::sleep(Duration::from_millis(30));
        }
        let fields = format!(
            "Date: Mon, 07 Dec 2026 11:{:02}:{:02} GMT\r\nContent-Type: application/json\r\nX-Request-Id: {}\r\n",
            c / 60 % 60,
            c % 60,
            rid(1_000_000 + c)
        );
        let (coding, payload) = match style {
            Style::Gzip | Style::GzipChunked => {
                ("Content-Encoding: gzip\r\n", gzip(body.as_bytes()))
            }
            _ => ("", body.into_bytes()),
        };
        let mut out = format!("HTTP/1.1 {status} X\r\n{fields}{coding}").into_bytes();
        match style {
            Style::Chunked | Style::GzipChunked => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in payload.chunks(7) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
            _ => {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", payload.len()).as_bytes(),
                );
                out.extend_from_slice(&payload);
            }
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

/// CRC-32 (IEEE), as gzip's trailer has it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks: a valid
/// stream any inflater reads, made without a compression library.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(65_535).collect()
    };
    for (i, b) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(b);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}
