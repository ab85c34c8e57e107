//! Helpers shared by the engine tests: exchanges, a fake transport for the
//! paused clock, and small HTTP/1.1 servers on 127.0.0.1:0.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::Exchange;
use shadowtap_replay::client::{Reply, Target};
use shadowtap_replay::engine::{Config, Engine, Inline, Memory, RunOutcome, Transport, Transports};
use shadowtap_replay::stats::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

pub const MS: u64 = 1_000_000;

/// A GET exchange captured at `ts_ns`.
pub fn get(id: u64, conn: u64, ts_ns: u64) -> Exchange {
    with_request(
        id,
        conn,
        ts_ns,
        format!("GET /r/{id} HTTP/1.1\r\nHost: captured\r\nX-Id: {id}\r\n\r\n").into_bytes(),
    )
}

pub fn with_request(id: u64, conn: u64, ts_ns: u64, request: Vec<u8>) -> Exchange {
    Exchange::new(
        id,
        conn,
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        ts_ns,
        request,
    )
}

/// `n` GETs `gap_ms` apart, starting at a realistic epoch time.
pub fn evenly(n: u64, gap_ms: u64) -> Vec<(usize, Exchange)> {
    let base = 1_700_000_000_000 * MS;
    (0..n)
        .map(|i| (0, get(i, i, base + i * gap_ms * MS)))
        .collect()
}

pub fn targets(n: usize) -> Vec<Target> {
    (0..n)
        .map(|i| Target::parse(&format!("http://127.0.0.1:{}", 9000 + i)).unwrap())
        .collect()
}

/// One send seen by the fake transport.
#[derive(Clone, Debug)]
pub struct Sent {
    pub target: usize,
    pub at: Instant,
    pub bytes: Vec<u8>,
}

/// A transport that records what it is asked to send, waits `delay` (on
/// tokio's clock), and answers `result`.
#[derive(Clone)]
pub struct Fake {
    pub log: Arc<Mutex<Vec<Sent>>>,
    pub delay: Duration,
    pub result: Result<u16, ErrorKind>,
}

impl Fake {
    pub fn new(delay: Duration) -> Fake {
        Fake {
            log: Arc::new(Mutex::new(Vec::new())),
            delay,
            result: Ok(200),
        }
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }
}

pub struct FakeConn {
    fake: Fake,
    target: usize,
}

impl Transport for FakeConn {
    async fn send(&mut self, parts: [&[u8]; 3], _method: &str, _keep_alive: bool) -> Reply {
        let started = Instant::now();
        let bytes = parts.concat();
        let n = bytes.len() as u64;
        self.fake.log.lock().unwrap().push(Sent {
            target: self.target,
            at: started,
            bytes,
        });
        tokio::time::sleep(self.fake.delay).await;
        Reply {
            result: self.fake.result,
            bytes_sent: n,
            bytes_received: 10,
            tls_reason: None,
            started,
            done: Instant::now(),
        }
    }
}

impl Transports for Fake {
    type T = FakeConn;
    fn make(&self, target: usize) -> FakeConn {
        FakeConn {
            fake: self.clone(),
            target,
        }
    }
}

/// A config for the paused clock: no spinning.
pub fn config(ntargets: usize) -> Config {
    let mut c = Config::new(Vec::new(), targets(ntargets));
    c.spin = Duration::ZERO;
    c
}

/// Runs a replay of in-memory exchanges through a fake transport.
pub async fn replay(config: Config, fake: &Fake, exchanges: Vec<(usize, Exchange)>) -> RunOutcome {
    replay_until(config, fake, exchanges, std::future::pending()).await
}

pub async fn replay_until(
    config: Config,
    fake: &Fake,
    exchanges: Vec<(usize, Exchange)>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> RunOutcome {
    let engine = Engine::with_transports(config, fake.clone()).unwrap();
    let feed = engine.feed(Memory::new(exchanges));
    engine.run(Inline(feed), shutdown).await
}

/// How a test server answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `200 OK` with a small body, keep-alive.
    Ok,
    /// Waits this long before answering.
    Slow(Duration),
    /// Reads the request, then resets the connection (SO_LINGER 0).
    Reset,
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Answers `100 Continue`, then a chunked 201 response.
    InterimThenChunked,
    /// Answers with `Connection: close` and closes.
    Close,
    /// Answers a keep-alive response, then closes without saying so (an
    /// idle timeout on the server side).
    CloseSilently,
}

/// A small HTTP/1.1 server on 127.0.0.1:0 that records every request it
/// receives (raw bytes) and counts connections.
pub struct Server {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Vec<u8>>>>,
    pub connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicU64::new(0));
        let (r, c) = (requests.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                c.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_conn(stream, behaviour, r.clone()));
            }
        });
        Server {
            url,
            requests,
            connections,
            task,
        }
    }

    pub fn received(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve_conn(mut stream: TcpStream, behaviour: Behaviour, log: Arc<Mutex<Vec<Vec<u8>>>>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    // Bounded: a test connection carries at most this many requests.
    for _ in 0..100_000 {
        let mut framer = Framer::request();
        let mut request = Vec::new();
        // Feed what is left from the previous read first.
        let mut input = std::mem::take(&mut pending);
        loop {
            if !input.is_empty() {
                let Ok(p) = framer.feed(&input) else { return };
                request.extend_from_slice(&input[..p.consumed]);
                if p.status == Status::Complete {
                    pending = input[p.consumed..].to_vec();
                    break;
                }
            }
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            input = buf[..n].to_vec();
        }
        log.lock().unwrap().push(request);
        let reply: &[u8] = match behaviour {
            Behaviour::Ok => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Behaviour::Slow(d) => {
                tokio::time::sleep(d).await;
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            }
            Behaviour::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Behaviour::Garbage => b"SSH-2.0-OpenSSH\r\n\r\n",
            Behaviour::InterimThenChunked => {
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            }
            Behaviour::Close => b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            Behaviour::CloseSilently => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        };
        if stream.write_all(reply).await.is_err() {
            return;
        }
        if matches!(
            behaviour,
            Behaviour::Close | Behaviour::Garbage | Behaviour::CloseSilently
        ) {
            return;
        }
    }
}

/// A port with nothing listening: bind, then drop the listener.
pub async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
