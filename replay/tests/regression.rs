//! Regression tests of the replay crate, one per defect, each named after
//! the bug it pins (ripgrep's `tests/regression.rs` habit). Each test failed
//! before its fix.

use std::net::SocketAddr;
use std::time::Duration;

use shadowtap_format::Reader;
use shadowtap_replay::serve::{ServeOptions, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(10);

/// A plain client: reads a response head, then exactly Content-Length body
/// bytes, as curl does.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Every byte read from the server.
    total: u64,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let sock = tokio::time::timeout(LIMIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Client {
            sock,
            buf: Vec::new(),
            total: 0,
        }
    }

    /// Reads more bytes into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> usize {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(LIMIT, self.sock.read(&mut chunk))
            .await
            .expect("the server sends what it announced in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        self.total += n as u64;
        n
    }

    /// Sends `request` and returns the body of its response.
    async fn get(&mut self, request: &[u8]) -> Vec<u8> {
        self.sock.write_all(request).await.expect("write");
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.buf.len() < 64 * 1024, "head too long");
            assert!(self.fill().await > 0, "closed before the head");
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("Content-Length")
            .trim()
            .parse()
            .expect("a number");
        self.buf.drain(..head_end);
        while self.buf.len() < len {
            let n = self.fill().await;
            assert!(
                n > 0,
                "closed after {} of {len} body bytes",
                self.buf.len()
            );
        }
        self.buf.drain(..len).collect()
    }
}

/// `serve --body-size` between 16 KiB and 64 KiB sent a 16 KiB body after
/// the full Content-Length (the one-write path copied at most one pattern),
/// and counted the announced size in `bytes_sent`. Every size class boundary
/// is checked with a client that reads Content-Length bytes; the recorded
/// response holds the same bytes as were sent.
#[tokio::test]
async fn serve_body_size_between_16k_and_64k_sends_a_short_body() {
    let dir = tempfile::tempdir().unwrap();
    for size in [
        0u64,
        1,
        16_383,
        16_384,
        16_385,
        20_000,
        65_535,
        65_536,
        65_537,
        200_000,
        (1 << 20) + 3,
    ] {
        let path = dir.path().join(format!("rec-{size}.stlog"));
        let server = Server::bind(ServeOptions {
            body_size: size,
            record: Some(path.clone()),
            ..ServeOptions::default()
        })
        .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));

        let mut client = Client::connect(addr).await;
        let first = client.get(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").await;
        assert_eq!(first.len() as u64, size, "body of {size}");
        // The connection is still in step: the next response starts right
        // after the body, and nothing follows the last one.
        let second = client
            .get(b"GET /y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await;
        assert_eq!(second, first, "the same body twice, size {size}");
        assert!(client.buf.is_empty(), "bytes after the body, size {size}");
        assert_eq!(client.fill().await, 0, "closed after Connection: close");

        let _ = stop.send(());
        let summary = tokio::time::timeout(LIMIT, handle)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
        assert_eq!(summary.requests, 2);
        assert_eq!(summary.bytes_sent, client.total, "bytes_sent, size {size}");

        let mut reader = Reader::open(&path).unwrap();
        for _ in 0..2 {
            let ex = reader.next_exchange().unwrap().expect("a recorded exchange");
            let resp = ex.response.expect("a response");
            assert_eq!(resp.body_len, size);
            // The record keeps the body up to its cap (1 MiB by default).
            let kept = first.len().min(1 << 20);
            assert_eq!(resp.body, first[..kept], "recorded body, size {size}");
        }
    }
}
