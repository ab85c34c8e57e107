//! The built-in target: framing (pipelining, chunked, keep-alive, close,
//! Expect: 100-continue), delays that hold up only their own connection,
//! bounds, and byte-exact recording read back with the format's Reader.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::{End, Exchange, Flags, Reader};
use shadowtap_replay::serve::{ServeError, ServeOptions, ServeSummary, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(20);

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<ServeSummary, ServeError>>,
}

impl Running {
    async fn stop(self) -> ServeSummary {
        let _ = self.stop.send(());
        tokio::time::timeout(LIMIT, self.handle)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server result")
    }
}

fn start(opts: ServeOptions) -> Running {
    let server = Server::bind(opts).expect("bind");
    let addr = server.local_addr();
    let (stop, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running { addr, stop, handle }
}

fn recording(dir: &Path) -> (ServeOptions, PathBuf) {
    let path = dir.join("rec.stlog");
    let opts = ServeOptions {
        record: Some(path.clone()),
        ..ServeOptions::default()
    };
    (opts, path)
}

fn read_log(path: &Path) -> Vec<Exchange> {
    let mut r = Reader::open(path).expect("open log");
    let mut out = Vec::new();
    while let Some(ex) = r.next_exchange().expect("read exchange") {
        out.push(ex);
        assert!(out.len() < 100_000);
    }
    assert!(matches!(r.end(), Some(End::Clean { .. })), "{:?}", r.end());
    out
}

/// A client connection that reads responses with the format's framer.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
}

struct Resp {
    status: u16,
    raw: Vec<u8>,
    head_len: usize,
    keep_alive: bool,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let sock = tokio::time::timeout(LIMIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Client {
            sock,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).await.unwrap();
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(LIMIT, self.sock.read(&mut chunk))
            .await
            .expect("read in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one response to a request with `method`.
    async fn response(&mut self, method: &str) -> Resp {
        let mut framer = Framer::response(method);
        let mut raw = Vec::new();
        for _ in 0..10_000 {
            let p = framer.feed(&self.buf).expect("valid response");
            raw.extend_from_slice(&self.buf[..p.consumed]);
            self.buf.drain(..p.consumed);
            if p.status == Status::Complete {
                let head = framer.head().unwrap();
                return Resp {
                    status: head.status.unwrap(),
                    head_len: head.len,
                    keep_alive: head.keep_alive,
                    raw,
                };
            }
            if self.fill().await == 0 {
                panic!(
                    "connection closed mid-response: {:?}",
                    String::from_utf8_lossy(&raw)
                );
            }
        }
        panic!("response never completed");
    }

    /// True when the server closed the connection (after any buffered bytes).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill().await == 0
    }
}

#[tokio::test]
async fn pipelined_keep_alive_and_chunked_requests_are_recorded_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(ServeOptions {
        body_size: 5,
        ..opts
    });
    let reqs: Vec<&[u8]> = vec![
        b"GET /a?x=1&y=%20 HTTP/1.1\r\nHost: example\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
        b"POST /b HTTP/1.1\r\nHost: example\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":[1,2]}",
        b"PUT /c HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nTrailer-A: t\r\n\r\n",
        b"DELETE /d HTTP/1.1\r\nHost: example\r\n\r\n",
    ];
    let mut c = Client::connect(srv.addr).await;
    // Three requests in one write: pipelined.
    c.send(&reqs[..3].concat()).await;
    for method in ["GET", "POST", "PUT"] {
        let r = c.response(method).await;
        assert_eq!(r.status, 200);
        assert!(r.keep_alive);
        assert_eq!(&r.raw[r.head_len..], b"shado");
    }
    // Same connection again: keep-alive.
    c.send(reqs[3]).await;
    assert_eq!(c.response("DELETE").await.status, 200);
    let client_addr = c.sock.local_addr().unwrap();
    let server_addr = srv.addr;
    drop(c);
    let summary = srv.stop().await;
    assert_eq!(summary.requests, 4);
    assert_eq!(summary.connections, 1);
    assert_eq!(summary.recorded, 4);

    let log = read_log(&path);
    assert_eq!(log.len(), 4);
    for (ex, req) in log.iter().zip(&reqs) {
        assert_eq!(
            ex.request,
            *req,
            "byte-exact: {}",
            String::from_utf8_lossy(&ex.request)
        );
        assert_eq!(ex.request_len, req.len() as u64);
        assert_eq!(ex.flags, Flags::empty());
        assert_eq!(ex.conn, log[0].conn);
        assert_eq!(ex.client, client_addr);
        assert_eq!(ex.server, server_addr);
        assert!(ex.req_first_ns <= ex.req_last_ns);
        let resp = ex.response.as_ref().unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.head.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(resp.head.ends_with(b"\r\n\r\n"));
        assert_eq!(resp.body, b"shado");
        assert_eq!(resp.body_len, 5);
        assert!(resp.first_ns >= ex.req_last_ns);
    }
    let ids: Vec<u64> = log.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[tokio::test]
async fn chunked_request_sent_one_byte_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(opts);
    let req: &[u8] = b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
        a\r\n0123456789\r\n1F\r\nabcdefghijklmnopqrstuvwxyz01234\r\n0\r\n\r\n";
    let mut c = Client::connect(srv.addr).await;
    for b in req {
        c.send(std::slice::from_ref(b)).await;
    }
    assert_eq!(c.response("POST").await.status, 200);
    drop(c);
    srv.stop().await;
    let log = read_log(&path);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].request, req);
    assert_eq!(log[0].request_len, req.len() as u64);
}

#[tokio::test]
async fn expect_100_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(opts);
    let head: &[u8] =
        b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    let mut c = Client::connect(srv.addr).await;
    c.send(head).await;
    let interim = c.response("POST").await;
    assert_eq!(interim.status, 100);
    assert_eq!(interim.raw, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"body").await;
    assert_eq!(c.response("POST").await.status, 200);
    drop(c);
    srv.stop().await;
    let log = read_log(&path);
    assert_eq!(log[0].request, [head, b"body"].concat());
    assert!(log[0].flags.contains(Flags::INTERIM));
}

#[tokio::test]
async fn connection_close_and_http10() {
    let srv = start(ServeOptions::default());
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .await;
    let r = c.response("GET").await;
    assert!(!r.keep_alive);
    assert!(String::from_utf8_lossy(&r.raw).contains("Connection: close\r\n"));
    assert!(c.closed().await);

    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(!c.response("GET").await.keep_alive);
    assert!(c.closed().await);

    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n")
        .await;
    let r = c.response("GET").await;
    assert!(r.keep_alive);
    assert!(String::from_utf8_lossy(&r.raw).contains("Connection: keep-alive\r\n"));
    assert!(!c.response("GET").await.keep_alive);
    assert!(c.closed().await);
    assert_eq!(srv.stop().await.requests, 4);
}

#[tokio::test]
async fn status_body_size_and_head() {
    let srv = start(ServeOptions {
        status: 503,
        body_size: 200_000,
        ..ServeOptions::default()
    });
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\nHEAD /big HTTP/1.1\r\nHost: h\r\n\r\n")
        .await;
    let r = c.response("GET").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.raw.len() - r.head_len, 200_000);
    let h = c.response("HEAD").await;
    assert_eq!(h.status, 503);
    assert_eq!(h.raw.len(), h.head_len, "HEAD has no body");
    assert!(String::from_utf8_lossy(&h.raw).contains("Content-Length: 200000\r\n"));
    drop(c);
    srv.stop().await;

    let srv = start(ServeOptions {
        status: 204,
        body_size: 10,
        ..ServeOptions::default()
    });
    let mut c = Client::connect(srv.addr).await;
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let r = c.response("GET").await;
    assert_eq!((r.status, r.raw.len()), (204, r.head_len));
    drop(c);
    srv.stop().await;

    assert!(matches!(
        Server::bind(ServeOptions {
            status: 100,
            ..ServeOptions::default()
        }),
        Err(ServeError::InvalidStatus(100))
    ));
    assert!(matches!(
        Server::bind(ServeOptions {
            max_connections: 0,
            ..ServeOptions::default()
        }),
        Err(ServeError::InvalidOption { .. })
    ));
}

#[tokio::test]
async fn delay_holds_up_only_its_own_connection() {
    // An hour-long delay: the first connection's request stays pending for
    // the whole test, while a second connection is read and answered.
    let srv = start(ServeOptions {
        delay: Duration::from_secs(3600),
        shutdown_grace: Duration::ZERO,
        ..ServeOptions::default()
    });
    let mut slow = Client::connect(srv.addr).await;
    slow.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n").await;

    // Interim answers are not delayed: this proves the second connection is
    // served while the first request waits.
    let mut other = Client::connect(srv.addr).await;
    other
        .send(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
        .await;
    assert_eq!(other.response("POST").await.status, 100);
    // And a complete exchange on a third connection (rejections are not
    // delayed either).
    let mut third = Client::connect(srv.addr).await;
    third.send(b"NOT HTTP AT ALL\r\n\r\n").await;
    assert_eq!(third.response("GET").await.status, 400);
    assert!(third.closed().await);

    let summary = srv.stop().await;
    assert_eq!(summary.requests, 0, "the delayed requests never completed");
    assert_eq!(summary.aborted_connections, 2);
    assert_eq!(summary.bad_requests, 1);
}

#[tokio::test]
async fn body_cap_and_true_length() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(ServeOptions {
        record_body_cap: 16,
        ..opts
    });
    let body = vec![b'z'; 100_000];
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut c = Client::connect(srv.addr).await;
    c.send(head.as_bytes()).await;
    c.send(&body).await;
    assert_eq!(c.response("POST").await.status, 200);
    drop(c);
    srv.stop().await;
    let log = read_log(&path);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].request.len(), head.len() + 16);
    assert!(log[0].request.starts_with(head.as_bytes()));
    assert_eq!(log[0].request_len, (head.len() + body.len()) as u64);
    assert!(log[0].flags.contains(Flags::REQ_BODY_CAPPED));
}

#[tokio::test]
async fn bad_and_incomplete_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(ServeOptions {
        max_head: 256,
        ..opts
    });
    // Head too large: 431 and close.
    let mut c = Client::connect(srv.addr).await;
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(1000));
    c.send(huge.as_bytes()).await;
    assert_eq!(c.response("GET").await.status, 431);
    assert!(c.closed().await);
    // Incomplete: the client gives up mid-body.
    let mut c = Client::connect(srv.addr).await;
    c.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        .await;
    c.sock.shutdown().await.unwrap();
    assert!(c.closed().await);
    let summary = srv.stop().await;
    assert_eq!(summary.bad_requests, 2);
    let log = read_log(&path);
    assert_eq!(log.len(), 2);
    let incomplete = log.iter().find(|e| e.request.starts_with(b"POST")).unwrap();
    assert_eq!(
        incomplete.request,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"
    );
    assert!(incomplete
        .flags
        .contains(Flags::REQ_INCOMPLETE | Flags::RESP_MISSING));
    assert!(incomplete.response.is_none());
    let rejected = log.iter().find(|e| e.request.starts_with(b"GET")).unwrap();
    assert_eq!(rejected.response.as_ref().unwrap().status, 431);
    assert!(rejected.flags.contains(Flags::REQ_INCOMPLETE));
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(opts);
    let mut idle = Client::connect(srv.addr).await;
    idle.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(idle.response("GET").await.status, 200);
    // The connection stays open (keep-alive) and idle; shutdown closes it.
    let summary = srv.stop().await;
    assert_eq!(summary.aborted_connections, 0);
    assert!(idle.closed().await);
    assert_eq!(read_log(&path).len(), 1);
}

#[tokio::test]
async fn many_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (opts, path) = recording(dir.path());
    let srv = start(ServeOptions {
        max_connections: 4,
        ..opts
    });
    let mut tasks = Vec::new();
    for i in 0..16 {
        let addr = srv.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            for j in 0..5 {
                c.send(format!("GET /{i}/{j} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
                    .await;
                assert_eq!(c.response("GET").await.status, 200);
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(LIMIT, t).await.unwrap().unwrap();
    }
    let summary = srv.stop().await;
    assert_eq!(
        (summary.requests, summary.connections, summary.recorded),
        (80, 16, 80)
    );
    let log = read_log(&path);
    let mut conns: Vec<u64> = log.iter().map(|e| e.conn).collect();
    conns.sort_unstable();
    conns.dedup();
    assert_eq!(conns.len(), 16);
}
