//! Regression tests of the replay crate, one per defect, each named after
//! the bug it pins (ripgrep's `tests/regression.rs` habit). Each test failed
//! before its fix.
//!
//! Over 600 lines on purpose: one file holds every fixed defect of the replay
//! crate, one test each, so a new regression has one obvious home and the
//! list reads as the crate's defect history.

mod engine_common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine_common::{config, evenly, replay, with_request, Behaviour, Fake};
use shadowtap_format::{Flags, Reader};
use shadowtap_replay::client::{Reply, Target};
use shadowtap_replay::engine::{
    Config, Engine, Inline, Memory, Mode, RunOutcome, StopReason, Transport, Transports,
};
use shadowtap_replay::report::{Report, RunInfo};
use shadowtap_replay::rewrite::{Edits, ExtraHeader, HostLine, HostMode, Rewriter, UriRewrite};
use shadowtap_replay::schedule::Speed;
use shadowtap_replay::serve::{ServeOptions, Server};
use shadowtap_replay::stats::{DropCause, ErrorKind, SkipReason, Stats};
use shadowtap_replay::threshold::{evaluate, Threshold};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

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
            assert!(n > 0, "closed after {} of {len} body bytes", self.buf.len());
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
            let ex = reader
                .next_exchange()
                .unwrap()
                .expect("a recorded exchange");
            let resp = ex.response.expect("a response");
            assert_eq!(resp.body_len, size);
            // The record keeps the body up to its cap (1 MiB by default).
            let kept = first.len().min(1 << 20);
            assert_eq!(resp.body, first[..kept], "recorded body, size {size}");
        }
    }
}

/// A captured WebSocket handshake went out as a plain `GET /ws` (Upgrade
/// and Connection removed as hop-by-hop, Sec-WebSocket-Key kept) and
/// `skipped.upgrade` stayed 0: the rewriter only refused CONNECT, and looked
/// neither at the head's Upgrade nor at the capture's flag. A request with
/// `Upgrade` and `Connection: upgrade` is skipped and counted whatever the
/// capture flagged.
#[tokio::test(start_paused = true)]
async fn upgrade_requests_are_replayed_as_plain_gets() {
    let ws = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let h2c = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    let plain = b"GET /plain HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut flagged = with_request(2, 2, 2_000, ws.to_vec());
    flagged.flags = Flags::UPGRADE;
    let exchanges = vec![
        // As the capture leaves it when the server declined, and as tee
        // sees it (before any response): not flagged.
        (0, with_request(1, 1, 1_000, ws.to_vec())),
        (0, flagged),
        (0, with_request(3, 3, 3_000, h2c.to_vec())),
        (0, with_request(4, 4, 4_000, plain.to_vec())),
    ];
    let fake = Fake::new(Duration::ZERO);
    let out = replay(config(1), &fake, exchanges).await;
    assert_eq!(out.stats.skipped(SkipReason::Upgrade), 3);
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "only the plain request is sent");
    assert!(sent[0].bytes.starts_with(b"GET /plain "));
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.sent, 1);
}

/// A request whose lines end in a bare `\n` was sent with its rewritten
/// Host line ending in `\r\n`. Every line the rewriter writes (the target's
/// Host, the captured Host with `-shadow`, a Host added where there was
/// none, `--header`s replacing a line or appended) ends as the request's
/// own lines do.
#[tokio::test(start_paused = true)]
async fn bare_lf_requests_get_mixed_line_endings() {
    let lf = b"GET /a HTTP/1.1\nHost: captured:80\nX-Tenant: a\nAccept: */*\n\n".to_vec();
    let no_host = b"GET /b HTTP/1.1\nAccept: */*\n\n".to_vec();
    // Through the engine, with the target's Host (the default).
    let fake = Fake::new(Duration::ZERO);
    let exchanges = vec![
        (0, with_request(1, 1, 1_000, lf.clone())),
        (0, with_request(2, 2, 2_000, no_host.clone())),
    ];
    replay(config(1), &fake, exchanges).await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].bytes,
        b"GET /a HTTP/1.1\nHost: 127.0.0.1-shadow:9000\nX-Tenant: a\nAccept: */*\n\n"
    );
    assert_eq!(
        sent[1].bytes,
        b"GET /b HTTP/1.1\nHost: 127.0.0.1-shadow:9000\nAccept: */*\n\n"
    );
    // The captured Host with the suffix, and --headers in place and added.
    let extra = vec![
        ExtraHeader::parse("X-Tenant: mirror").unwrap(),
        ExtraHeader::parse("X-Shadow: 1").unwrap(),
    ];
    let mut r = Rewriter::new(
        HostMode {
            keep_captured: true,
            no_suffix: false,
        },
        extra,
    );
    let p = r.rewrite(&lf).unwrap();
    assert_eq!(
        p.bytes(),
        b"GET /a HTTP/1.1\nHost: captured-shadow:80\nX-Tenant: mirror\nAccept: */*\nX-Shadow: 1\n\n"
    );
    // CRLF requests are unchanged by this: the same lines end in CRLF.
    let crlf = b"GET /a HTTP/1.1\r\nHost: captured:80\r\nX-Tenant: a\r\nAccept: */*\r\n\r\n";
    let p = r.rewrite(crlf).unwrap();
    assert_eq!(
        p.bytes(),
        b"GET /a HTTP/1.1\r\nHost: captured-shadow:80\r\nX-Tenant: mirror\r\nAccept: */*\r\nX-Shadow: 1\r\n\r\n"
    );
    let p = Rewriter::new(HostMode::default(), Vec::new())
        .rewrite(crlf)
        .unwrap();
    assert_eq!(
        p.parts(Some(&HostLine::new(b"t"))).concat(),
        b"GET /a HTTP/1.1\r\nHost: t\r\nX-Tenant: a\r\nAccept: */*\r\n\r\n"
    );
}

/// A small HTTP/1.0-minded server: records each request head and counts
/// connections. A request that asks for keep-alive gets a Content-Length
/// response on a persistent connection; any other gets an HTTP/1.0
/// response delimited by the close of the connection, as a 1.0 server
/// answers.
struct Http10Server {
    url: String,
    heads: Arc<Mutex<Vec<Vec<u8>>>>,
    connections: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Http10Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Http10Server {
    async fn start() -> Http10Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (h, c) = (heads.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(Self::serve(sock, h.clone()));
            }
        });
        Http10Server {
            url,
            heads,
            connections,
            task,
        }
    }

    async fn serve(mut sock: TcpStream, heads: Arc<Mutex<Vec<Vec<u8>>>>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Bounded: a test connection carries at most this many requests.
        for _ in 0..1_000 {
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if buf.len() > 64 * 1024 {
                    return;
                }
            };
            let head: Vec<u8> = buf.drain(..end).collect();
            let keep = String::from_utf8_lossy(&head)
                .to_ascii_lowercase()
                .contains("\r\nconnection: keep-alive\r\n");
            heads.lock().unwrap().push(head);
            if keep {
                let reply =
                    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
                if sock.write_all(reply).await.is_err() {
                    return;
                }
            } else {
                let _ = sock
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
                    .await;
                let _ = sock.shutdown().await;
                return;
            }
        }
    }
}

fn real_config(url: &str) -> Config {
    let mut c = Config::new(Vec::new(), vec![Target::parse(url).unwrap()]);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 1;
    c.client.timeout = Duration::from_secs(5);
    c.host_mode = HostMode {
        keep_captured: true,
        no_suffix: true,
    };
    c
}

async fn run_real(
    config: Config,
    exchanges: Vec<(usize, shadowtap_format::Exchange)>,
) -> shadowtap_replay::engine::RunOutcome {
    let engine = Engine::new(config).await.unwrap();
    let feed = engine.feed(Memory::new(exchanges));
    tokio::time::timeout(
        Duration::from_secs(60),
        engine.run(Inline(feed), std::future::pending()),
    )
    .await
    .expect("the replay finishes")
}

/// An HTTP/1.0 request without a Connection header was sent with
/// `Connection: keep-alive` added. Now nothing the client did not send is
/// added: it goes out as captured, the target answers and closes (a
/// close-delimited response), and the next request gets a fresh
/// connection. A 1.0 request that asked for keep-alive keeps it, and its
/// connection is reused.
#[tokio::test]
async fn http10_requests_gain_connection_keep_alive() {
    let bare = b"GET /old HTTP/1.0\r\nHost: a\r\nUser-Agent: w3m\r\n\r\n".to_vec();
    let asked = b"GET /ka HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n".to_vec();

    let server = Http10Server::start().await;
    let exchanges = (0..3)
        .map(|i| (0, with_request(i, i, 1_000 + i, bare.clone())))
        .collect();
    let out = run_real(real_config(&server.url), exchanges).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.errors_total()), (3, 3, 0));
    assert_eq!(t.status.get(&200), Some(&3));
    let heads = server.heads.lock().unwrap().clone();
    assert_eq!(heads, vec![bare.clone(); 3], "sent as captured");
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);

    let server = Http10Server::start().await;
    let exchanges = (0..3)
        .map(|i| (0, with_request(i, i, 1_000 + i, asked.clone())))
        .collect();
    let out = run_real(real_config(&server.url), exchanges).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.errors_total()), (3, 3, 0));
    assert_eq!(server.heads.lock().unwrap().clone(), vec![asked.clone(); 3]);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1, "reused");

    // A server that keeps every connection open (and says nothing of it)
    // still gets one connection per non-persistent HTTP/1.0 request: the
    // client does not reuse what the request did not ask to keep.
    let server = engine_common::Server::start(Behaviour::Ok).await;
    let exchanges = (0..3)
        .map(|i| (0, with_request(i, i, 1_000 + i, bare.clone())))
        .collect();
    let out = run_real(real_config(&server.url), exchanges).await;
    assert_eq!(out.stats.target(0).unwrap().completed, 3);
    assert_eq!(server.received(), vec![bare; 3]);
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
}

/// Per target: every request sent is completed, an error or unanswered, and
/// every request dispatched to it is sent or dropped.
fn assert_adds_up(stats: &Stats, dispatched: u64) {
    for (i, t) in stats.per_target().iter().enumerate() {
        assert_eq!(
            t.sent,
            t.completed + t.errors_total() + t.unanswered,
            "target {i}: sent = completed + errors + unanswered ({t:?})"
        );
        assert_eq!(
            t.sent + t.dropped_total(),
            dispatched,
            "target {i}: sent + dropped = dispatched"
        );
    }
}

/// A transport that answers by request number (the `/r/ID` of
/// [`engine_common::get`]): ID % 3 == 0 a 200 after 10 ms, 1 a reset after
/// 10 ms, 2 never.
#[derive(Clone)]
struct Mixed;

struct MixedConn;

impl Transport for MixedConn {
    async fn send(&mut self, parts: [&[u8]; 3], _method: &str, _keep_alive: bool) -> Reply {
        let started = Instant::now();
        let bytes = parts.concat();
        let text = String::from_utf8_lossy(&bytes);
        let id: u64 = text
            .split("/r/")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("a numbered request");
        let result = match id % 3 {
            0 => Ok(200),
            1 => Err(ErrorKind::Reset),
            _ => std::future::pending().await,
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        Reply {
            result,
            bytes_sent: bytes.len() as u64,
            bytes_received: 10,
            started,
            done: Instant::now(),
            tls_reason: None,
        }
    }
}

impl Transports for Mixed {
    type T = MixedConn;
    fn make(&self, _target: usize) -> MixedConn {
        MixedConn
    }
}

async fn run_mixed(
    config: Config,
    exchanges: Vec<(usize, shadowtap_format::Exchange)>,
    shutdown_at: Duration,
) -> RunOutcome {
    let engine = Engine::with_transports(config, Mixed).unwrap();
    let feed = engine.feed(Memory::new(exchanges));
    engine
        .run(Inline(feed), tokio::time::sleep(shutdown_at))
        .await
}

/// Ctrl-C was ignored once every request had been sent: the engine watched
/// the shutdown future only while scheduling, then waited for the requests
/// in flight until their own timeout, and the run was not marked
/// interrupted. Now a shutdown at any time before the end gives them the
/// grace period at most, and an abort (a second signal) ends it at once.
#[tokio::test(start_paused = true)]
async fn ctrl_c_is_ignored_once_every_request_has_been_sent() {
    // Ten requests, all sent at once to a target that never answers within
    // the 15 s timeout; SIGINT at 1 s, a 4 s grace.
    let fake = Fake::new(Duration::from_secs(3_600));
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.limit = Some(10);
    c.client.timeout = Duration::from_secs(15);
    c.interrupt_grace = Duration::from_secs(4);
    let started = Instant::now();
    let engine = Engine::with_transports(c.clone(), fake.clone()).unwrap();
    let feed = engine.feed(Memory::new(evenly(100, 1)));
    let out = engine
        .run(Inline(feed), tokio::time::sleep(Duration::from_secs(1)))
        .await;
    assert_eq!(fake.sent().len(), 10);
    assert_eq!(
        out.stop,
        StopReason::Limit,
        "scheduling had ended by itself"
    );
    assert!(out.interrupted, "the report is marked interrupted");
    assert_eq!(Instant::now() - started, Duration::from_secs(5));
    assert_eq!(out.abandoned, 10);
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.unanswered), (10, 10));
    assert_adds_up(&out.stats, 10);

    // A second signal ends the grace at once.
    c.interrupt_grace = Duration::from_secs(60);
    let fake = Fake::new(Duration::from_secs(3_600));
    let started = Instant::now();
    let engine = Engine::with_transports(c, fake.clone()).unwrap();
    let feed = engine.feed(Memory::new(evenly(100, 1)));
    let out = engine
        .run_until(
            Inline(feed),
            tokio::time::sleep(Duration::from_secs(1)),
            tokio::time::sleep(Duration::from_secs(2)),
        )
        .await;
    assert!(out.interrupted);
    assert_eq!(Instant::now() - started, Duration::from_secs(2));
    assert_eq!(out.stats.target(0).unwrap().unanswered, 10);

    // Without a signal nothing changes: the requests end by themselves.
    let fake = Fake::new(Duration::from_secs(3));
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.limit = Some(10);
    let out = replay(c, &fake, evenly(100, 1)).await;
    assert!(!out.interrupted);
    assert_eq!(out.stats.target(0).unwrap().completed, 10);
}

/// Requests in flight at an interrupt vanished from the report (64
/// written, `sent 0, errors 0`): aborted workers recorded nothing. Every
/// request handed to the transport is now sent, and those without an answer
/// at the stop are `unanswered`, so sent = completed + errors + unanswered,
/// in the JSON report and the text summary too.
#[tokio::test(start_paused = true)]
async fn requests_in_flight_at_an_interrupt_vanish_from_the_report() {
    // --loop 0 to a target that never answers, SIGINT at 1 s.
    let fake = Fake::new(Duration::from_secs(3_600));
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.loops = 0;
    c.concurrency = 64;
    c.interrupt_grace = Duration::from_secs(1);
    let out = engine_common::replay_until(
        c,
        &fake,
        evenly(10, 1),
        tokio::time::sleep(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(out.stop, StopReason::Interrupted);
    assert_eq!(fake.sent().len(), 64);
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.errors_total()), (64, 0, 0));
    assert_eq!(t.unanswered, 64);
    assert_adds_up(&out.stats, 64);

    let report = Report::from_stats(
        &out.stats,
        &RunInfo {
            config: serde_json::json!({}),
            seed: None,
            elapsed: out.elapsed,
            interrupted: out.interrupted,
        },
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["targets"][0]["unanswered"], 64);
    assert_eq!(json["overall"]["unanswered"], 64);
    assert_eq!(json["targets"][0]["sent"], 64);
    let text = report.summary_text();
    assert!(
        text.contains("sent 64  completed 0  errors 0  unanswered 64"),
        "{text}"
    );
    // Merging keeps the count.
    let merged = Report::merge(&[report.clone(), report]).unwrap();
    assert_eq!(merged.overall.unanswered, 128);

    // Answers, errors and silence mixed, closed loop: the counts add up.
    let mut c = config(2);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 4;
    c.interrupt_grace = Duration::from_millis(500);
    let out = run_mixed(c, evenly(30, 1), Duration::from_secs(1)).await;
    let dispatched = out.scheduled;
    assert!(out.interrupted);
    let t = out.stats.target(0).unwrap();
    assert_eq!(
        t.unanswered, 4,
        "every slot ends up held by a silent request"
    );
    assert!(t.completed > 0 && t.errors_total() > 0);
    assert_adds_up(&out.stats, dispatched);

    // Real time, where a full target drops: still adds up.
    let mut c = config(1);
    c.concurrency = 2;
    c.interrupt_grace = Duration::from_millis(500);
    let out = run_mixed(c, evenly(30, 5), Duration::from_millis(100)).await;
    let t = out.stats.target(0).unwrap();
    assert!(t.dropped_of(DropCause::Concurrency) > 0, "{t:?}");
    assert_eq!(t.unanswered, 2);
    assert_adds_up(&out.stats, out.scheduled);

    // Live mode (tee), 30 requests arriving at once for 3 slots: one of
    // each kind is sent, the rest dropped.
    let mut c = config(1);
    c.mode = Mode::Live;
    c.concurrency = 3;
    c.interrupt_grace = Duration::ZERO;
    let out = run_mixed(c, evenly(30, 0), Duration::from_millis(100)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.unanswered), (3, 1, 1));
    assert_eq!(t.sent, t.completed + t.errors_total() + t.unanswered);
    assert_eq!(t.sent + t.dropped_total(), 30);
}

/// `serve --record` accepted a record body cap of 32 MiB: a client sending
/// a body that long to a server answering as much made an exchange (request
/// and response each up to the cap) larger than the log's 64 MiB block, the
/// write failed, the server stopped, and the log lost every exchange. Each
/// bound at its largest accepted value (head, request body, response body)
/// now makes an exchange the log keeps.
#[tokio::test]
async fn serve_record_body_cap_of_32mib_stopped_the_server_and_lost_the_log() {
    use shadowtap_replay::serve::{MAX_HEAD_LIMIT, MAX_RECORD_BODY_CAP};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.stlog");
    let cap = MAX_RECORD_BODY_CAP;
    let server = Server::bind(ServeOptions {
        body_size: cap as u64,
        record: Some(path.clone()),
        record_body_cap: cap,
        max_head: MAX_HEAD_LIMIT,
        ..ServeOptions::default()
    })
    .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let body_len = cap + 100;
    let mut request =
        format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {body_len}\r\n").into_bytes();
    request.extend_from_slice(b"X-Pad: ");
    // A head just under the largest accepted one.
    let pad = MAX_HEAD_LIMIT - request.len() - 16;
    request.resize(request.len() + pad, b'p');
    request.extend_from_slice(b"\r\n\r\n");
    let head_len = request.len();
    assert!(head_len <= MAX_HEAD_LIMIT);
    request.resize(head_len + body_len, b'b');

    let mut client = Client::connect(addr).await;
    let body = client.get(&request).await;
    assert_eq!(body.len(), cap);

    let _ = stop.send(());
    let summary = tokio::time::timeout(LIMIT, handle)
        .await
        .expect("server stops in time")
        .unwrap()
        .expect("the recording finishes");
    assert_eq!(summary.requests, 1);

    let mut reader = Reader::open(&path).unwrap();
    let ex = reader
        .next_exchange()
        .unwrap()
        .expect("the exchange is kept");
    assert_eq!(ex.request_len, request.len() as u64);
    assert_eq!(ex.request.len(), head_len + cap);
    assert!(ex.flags.contains(Flags::REQ_BODY_CAPPED));
    let resp = ex.response.expect("a response");
    assert_eq!(resp.body.len(), cap);
    assert!(reader.next_exchange().unwrap().is_none());
}

/// Issue 12 (fuzzing): empty lines before the request line, which the
/// capture's framer skips (RFC 9112 §2.2), were taken for the request line:
/// the per-target Host line went before the real request line and the
/// method read as `"\r\nGET"`.
#[test]
fn rewrite_leading_empty_lines_put_host_before_request_line() {
    let host = HostLine::new(b"t");
    let mut r = Rewriter::new(HostMode::default(), Vec::new());
    for raw in [
        &b"\r\nGET /a HTTP/1.1\r\nAccept: */*\r\n\r\n"[..],
        b"\r\n\r\nGET /a HTTP/1.1\r\nAccept: */*\r\n\r\n",
        b"\n\rGET /a HTTP/1.1\r\nAccept: */*\r\n\r\n",
    ] {
        let p = r.rewrite(raw).unwrap();
        assert_eq!(
            p.parts(Some(&host)).concat(),
            b"GET /a HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(p.method(), "GET");
    }
    // With a captured Host kept and suffixed, the same.
    let mut r = Rewriter::new(
        HostMode {
            keep_captured: true,
            no_suffix: false,
        },
        Vec::new(),
    );
    let p = r
        .rewrite(b"\n\nPOST /b HTTP/1.1\nHost: c\nContent-Length: 2\n\nok")
        .unwrap();
    assert_eq!(
        p.bytes(),
        b"POST /b HTTP/1.1\nHost: c-shadow\nContent-Length: 2\n\nok"
    );
}

/// Issue 16 (fuzzing the edits): a request without a Host line gets the
/// target's right after its request line, but the line's end was taken from
/// the captured request, not from the line `--rewrite-uri` wrote: a shorter
/// line made the insertion point pass the end (a panic, in the replay's
/// feed), a longer one put the Host line inside the request line.
#[test]
fn rewrite_uri_put_the_target_host_where_the_captured_request_line_ended() {
    let mode = HostMode {
        keep_captured: false,
        no_suffix: true,
    };
    let line = HostLine::new(b"t.example:8080");
    let table: [(&str, &str); 3] = [
        ("\\?.*$=>", "/a"),
        (
            "^/a=>/a-much-longer-path/than-the-captured-one",
            "/a-much-longer-path/than-the-captured-one?x=1",
        ),
        ("^/z=>/y", "/a?x=1"),
    ];
    for (rule, want) in table {
        let edits = Edits {
            uri: vec![UriRewrite::parse(rule).unwrap()],
            remove: Vec::new(),
        };
        let raw = "GET /a?x=1 HTTP/1.1\r\nAccept: */*\r\nX-B: 2\r\n\r\n";
        let p = Rewriter::new(mode, Vec::new())
            .with_edits(edits)
            .rewrite(raw.as_bytes())
            .unwrap();
        let sent = String::from_utf8(p.parts(Some(&line)).concat()).unwrap();
        assert_eq!(
            sent,
            format!("GET {want} HTTP/1.1\r\nHost: t.example:8080\r\nAccept: */*\r\nX-B: 2\r\n\r\n"),
            "{rule}"
        );
    }
}

/// The report of a one-second run of one target (`http://t`) that sent
/// nothing.
fn empty_report() -> Report {
    Report::from_stats(
        &Stats::new(&["http://t".to_owned()]),
        &RunInfo {
            config: serde_json::json!({}),
            seed: None,
            elapsed: Duration::from_secs(1),
            interrupted: false,
        },
    )
}

/// Issue 16 (fuzzing `report merge`): a report from elsewhere may hold any
/// count; merging two whose counts were near `u64::MAX` overflowed (a
/// panic with overflow checks, wrapped totals without), as did its error
/// and drop rates and the thresholds judging it. Counts now saturate.
#[test]
fn report_merge_of_counts_near_the_limit_overflowed() {
    let mut report = empty_report();
    let max = u64::MAX - 1;
    for t in report.targets.iter_mut().chain([&mut report.overall]) {
        (t.sent, t.completed, t.errors_total, t.dropped_total) = (max, max, max, max);
        t.errors.values_mut().for_each(|n| *n = max);
        t.dropped.values_mut().for_each(|n| *n = max);
        t.status.insert("503".into(), max);
    }
    report.skipped.values_mut().for_each(|n| *n = max);
    let merged = Report::merge(&[report.clone(), report]).unwrap();
    let t = &merged.targets[0];
    assert_eq!((t.sent, t.errors_total), (u64::MAX, u64::MAX));
    assert_eq!(merged.skipped["incomplete"], u64::MAX);
    let thresholds = ["error_rate<1%", "drop_rate<1%"].map(|t| Threshold::parse(t).unwrap());
    let judged = evaluate(&thresholds, &merged).unwrap();
    assert!(!judged.passed());
}

/// Issue 16 (fuzzing `report merge`): HdrHistogram's deserializer
/// allocates what a histogram's header says before reading more, so a
/// report from elsewhere whose histogram claimed a 1.7 GB counts payload, or
/// a precision of 5 digits over the whole u64 range, had `report merge`
/// allocate that much. The header is now checked first.
#[test]
fn report_histogram_header_claimed_gigabytes() {
    use base64::Engine as _;
    use std::io::Write as _;
    // A V2 deflate histogram: cookie, length, then zlib of the V2 header.
    let histogram = |payload_len: u32, digits: u32, high: u64| {
        let mut v2 = Vec::new();
        v2.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
        v2.extend_from_slice(&payload_len.to_be_bytes());
        v2.extend_from_slice(&0u32.to_be_bytes());
        v2.extend_from_slice(&digits.to_be_bytes());
        v2.extend_from_slice(&1u64.to_be_bytes());
        v2.extend_from_slice(&high.to_be_bytes());
        v2.extend_from_slice(&1f64.to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&v2).unwrap();
        let z = z.finish().unwrap();
        let mut out = 0x1c84_9314u32.to_be_bytes().to_vec();
        out.extend_from_slice(&(z.len() as u32).to_be_bytes());
        out.extend_from_slice(&z);
        base64::engine::general_purpose::STANDARD.encode(out)
    };
    let report = empty_report();
    for (bad, why) in [
        (histogram(1_728_184_423, 3, 1 << 40), "counts are longer"),
        (histogram(16, 5, u64::MAX), "precision is finer"),
    ] {
        let mut r = report.clone();
        r.targets[0].histograms.latency = bad;
        let err = Report::merge(&[r.clone(), r]).unwrap_err().to_string();
        assert!(err.contains(why), "{err}");
    }
}
