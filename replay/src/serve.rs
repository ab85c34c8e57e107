//! `shadowtap serve`: a fast HTTP/1.1 target for demos, tests and CI, which
//! can record every request it receives as a `.stlog`.
//!
//! Each connection is one task: it reads into a fixed buffer, delimits each
//! request with [`Framer::request`] (Content-Length, chunked, pipelining,
//! keep-alive, `Connection: close`, `Expect: 100-continue`), waits the
//! configured delay (a timer of that task only: other connections are not
//! affected), and answers with the configured status and a body of the
//! configured size. Pipelined requests are answered in order.
//!
//! Bounds: a request head is at most [`ServeOptions::max_head`] bytes (431
//! otherwise); bodies are streamed through the framer and never buffered,
//! except, when recording, the first [`ServeOptions::record_body_cap`] bytes
//! (the exchange then carries [`Flags::REQ_BODY_CAPPED`] and the true
//! `request_len`); at most [`ServeOptions::max_connections`] connections are
//! served at once (further ones wait in the kernel's backlog); a connection
//! idle for [`ServeOptions::idle_timeout`] is closed.
//!
//! Recording: connections hand finished exchanges to one recorder thread
//! over a bounded channel (a slow disk slows the server instead of growing
//! memory). The recorder, a plain thread owning the format crate's
//! `LogSink`, numbers exchanges in arrival order, flushes the log
//! at least once a second and finishes it on shutdown. Request bytes are kept
//! exactly as received, from the request line on (empty lines a client sends
//! before a request line, which RFC 9112 §2.2 lets a server ignore, are not
//! kept); timestamps come from the system clock. The response record holds
//! what was sent (head, body up to the cap, true body length).
//!
//! Shutdown ([`Server::run`]'s future resolves): stop accepting, close idle
//! connections, let requests in flight finish (at most
//! [`ServeOptions::shutdown_grace`]), then finish the log.

mod record;

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shadowtap_format::http1::{self, Framer, FramingError, Status, DEFAULT_MAX_HEAD};
use shadowtap_format::{Exchange, FileHeader, Flags, LogSink, Response, SinkOptions, WriteError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use record::{RecordTx, Recorder};

/// Default cap of a recorded request body.
pub const DEFAULT_RECORD_BODY_CAP: usize = 1 << 20;
/// Largest accepted record body cap. A recorded exchange must fit in one
/// block of the log (64 MiB decoded, `MAX_BLOCK_RAW_LEN`), and it holds the
/// request's head and body and the response's body, each up to its bound:
/// at most [`MAX_HEAD_LIMIT`] + 2 x 16 MiB, with room to spare. With more,
/// one client sending a large body to a server answering as much would make
/// an exchange the log refuses, and a failed write ends the recording.
pub const MAX_RECORD_BODY_CAP: usize = 16 << 20;
/// Largest accepted [`ServeOptions::max_head`] (see [`MAX_RECORD_BODY_CAP`]).
pub const MAX_HEAD_LIMIT: usize = 1 << 20;
/// Default bound of concurrent connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Size of each socket read.
const READ_CHUNK: usize = 16 * 1024;
/// Responses whose body is at most this size go out in one write (head and
/// body copied into one buffer); larger bodies are written pattern by pattern.
const PREPARED_MAX: u64 = 64 * 1024;
/// Options of the server, validated by [`Server::bind`].
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Record every request received into this `.stlog`.
    pub record: Option<PathBuf>,
    /// Wait this long before answering each request.
    pub delay: Duration,
    /// Status code of every response (200 to 599).
    pub status: u16,
    /// Body size of every response (none for HEAD, 204 and 304).
    pub body_size: u64,
    /// Connections served at once.
    pub max_connections: usize,
    /// Longest request head accepted.
    pub max_head: usize,
    /// Request body bytes kept per recorded exchange.
    pub record_body_cap: usize,
    /// A connection with no byte received for this long is closed.
    pub idle_timeout: Duration,
    /// On shutdown, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            record: None,
            delay: Duration::ZERO,
            status: 200,
            body_size: 0,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_head: DEFAULT_MAX_HEAD,
            record_body_cap: DEFAULT_RECORD_BODY_CAP,
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Errors of the server.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The status code is not a final status (200 to 599).
    #[error("status {0} is not a final HTTP status (200 to 599)")]
    InvalidStatus(u16),
    /// An option is out of range.
    #[error("{name} must be {expected} (got {got})")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What is valid.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Creating the record file failed.
    #[error("cannot create the record file {path}")]
    RecordCreate {
        /// The file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: WriteError,
    },
    /// Writing the record file failed (the server stopped).
    #[error("writing the record file failed")]
    Record(#[source] WriteError),
    /// The runtime could not be used (no tokio runtime, thread spawn).
    #[error("server runtime error")]
    Runtime(#[source] std::io::Error),
}

/// What a server did, returned by [`Server::run`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServeSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Requests answered.
    pub requests: u64,
    /// Request bytes received.
    pub bytes_received: u64,
    /// Response bytes sent.
    pub bytes_sent: u64,
    /// Exchanges written to the record file.
    pub recorded: u64,
    /// Requests that ended before they were complete, or did not parse.
    pub bad_requests: u64,
    /// Connections cut at the end of the shutdown grace period.
    pub aborted_connections: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    bad_requests: AtomicU64,
}

/// A bound, not yet running, server.
pub struct Server {
    opts: ServeOptions,
    listener: StdTcpListener,
    local_addr: SocketAddr,
    /// The log, created at bind time.
    record: Option<LogSink>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The reason phrase of common status codes.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

impl Server {
    /// Validates the options, binds the socket and creates the record file.
    /// Works outside a tokio runtime.
    pub fn bind(opts: ServeOptions) -> Result<Server, ServeError> {
        if !(200..=599).contains(&opts.status) {
            return Err(ServeError::InvalidStatus(opts.status));
        }
        if opts.max_connections == 0 {
            return Err(ServeError::InvalidOption {
                name: "max connections",
                expected: "at least 1",
                got: opts.max_connections.to_string(),
            });
        }
        if opts.max_head < 64 {
            return Err(ServeError::InvalidOption {
                name: "max head",
                expected: "at least 64 bytes",
                got: opts.max_head.to_string(),
            });
        }
        if opts.max_head > MAX_HEAD_LIMIT {
            return Err(ServeError::InvalidOption {
                name: "max head",
                expected: "at most 1 MiB",
                got: opts.max_head.to_string(),
            });
        }
        if opts.record_body_cap > MAX_RECORD_BODY_CAP {
            return Err(ServeError::InvalidOption {
                name: "record body cap",
                expected: "at most 16 MiB",
                got: opts.record_body_cap.to_string(),
            });
        }
        let listener = StdTcpListener::bind(opts.listen).map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind {
                addr: opts.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
        let record = match &opts.record {
            None => None,
            Some(path) => {
                let header = FileHeader {
                    writer: format!("shadowtap {}", env!("CARGO_PKG_VERSION")),
                    created_ns: now_ns(),
                    meta: vec![
                        (
                            shadowtap_format::meta::SOURCE.to_owned(),
                            "serve".to_owned(),
                        ),
                        ("listen".to_owned(), local_addr.to_string()),
                    ],
                };
                let opts = SinkOptions {
                    output: Some(path.clone()),
                    // Exchanges are numbered in the order they are recorded.
                    number: true,
                    ..SinkOptions::default()
                };
                let mut sink = LogSink::new(opts, header);
                sink.start().map_err(|e| ServeError::RecordCreate {
                    path: e.path,
                    source: e.source,
                })?;
                Some(sink)
            }
        };
        Ok(Server {
            opts,
            listener,
            local_addr,
            record,
        })
    }

    /// The address the server listens on (with the real port when 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains and finishes the log.
    /// Must be called within a tokio runtime.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<ServeSummary, ServeError> {
        let Server {
            opts,
            listener,
            local_addr: _,
            record,
        } = self;
        let listener = TcpListener::from_std(listener).map_err(ServeError::Runtime)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let recorder = match record {
            Some(sink) => Some(Recorder::start(sink, stop_tx.clone())?),
            None => None,
        };
        let record_tx = recorder.as_ref().map(|r| r.tx.clone());
        let shared = Arc::new(Shared {
            responses: Responses::new(&opts),
            opts: opts.clone(),
            counters: Counters::default(),
        });
        let sem = Arc::new(Semaphore::new(opts.max_connections));
        let mut tasks = JoinSet::new();
        let mut conn_id = 0u64;
        tokio::pin!(shutdown);
        let mut stop_watch = stop_rx.clone();
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                _ = stop_watch.changed() => break,
                p = sem.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                _ = stop_watch.changed() => break,
                a = listener.accept() => a,
            };
            let (sock, peer) = match accepted {
                Ok(x) => x,
                Err(_) => {
                    // Out of descriptors or a connection reset while queued:
                    // back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            conn_id += 1;
            shared.counters.connections.fetch_add(1, Ordering::Relaxed);
            let conn = Handler {
                id: conn_id,
                peer,
                shared: shared.clone(),
                record: record_tx.clone(),
                stop: stop_rx.clone(),
            };
            tasks.spawn(async move {
                conn.serve(sock).await;
                drop(permit);
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        drop(record_tx);
        let mut aborted = 0u64;
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(opts.shutdown_grace, drain)
            .await
            .is_err()
        {
            aborted = tasks.len() as u64;
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let recorded = match recorder {
            Some(r) => r.finish().await?,
            None => 0,
        };
        let c = &shared.counters;
        Ok(ServeSummary {
            connections: c.connections.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            recorded,
            bad_requests: c.bad_requests.load(Ordering::Relaxed),
            aborted_connections: aborted,
        })
    }
}

/// Responses prepared once.
struct Responses {
    /// Body pattern, up to [`READ_CHUNK`] bytes. A body is this pattern
    /// repeated until it has the configured size ([`Responses::body_into`]),
    /// whatever the size: the pattern's length is a write size, not a bound
    /// on the body.
    pattern: Vec<u8>,
}

impl Responses {
    fn new(opts: &ServeOptions) -> Responses {
        let n = usize::try_from(opts.body_size.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let unit = b"shadowtap serve body\n";
        let pattern = unit.iter().copied().cycle().take(n).collect();
        Responses { pattern }
    }

    /// Appends the first `len` bytes of the body to `out`.
    fn body_into(&self, out: &mut Vec<u8>, len: usize) {
        if self.pattern.is_empty() {
            return;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(self.pattern.len());
            out.extend_from_slice(&self.pattern[..n]);
            left -= n;
        }
    }
}

struct Shared {
    opts: ServeOptions,
    responses: Responses,
    counters: Counters,
}

/// What a connection knows about the request being read.
struct RequestBuf {
    framer: Framer,
    bytes: Vec<u8>,
    first_ns: u64,
    started: bool,
    capped: bool,
    continue_sent: bool,
}

impl RequestBuf {
    fn new(max_head: usize) -> RequestBuf {
        RequestBuf {
            framer: Framer::request().with_max_head(max_head),
            bytes: Vec::new(),
            first_ns: 0,
            started: false,
            capped: false,
            continue_sent: false,
        }
    }

    /// The wire length of the request, leading empty lines excluded.
    fn request_len(&self) -> u64 {
        self.framer
            .consumed()
            .saturating_sub(self.framer.leading_skipped() as u64)
    }

    /// Keeps the consumed bytes for the record (head, then body up to `cap`).
    fn keep(&mut self, mut data: &[u8], cap: usize, max_head: usize) {
        if self.bytes.is_empty() {
            data = &data[http1::leading_empty_lines(data)..];
        }
        let limit = match self.framer.head() {
            Some(h) => h.len.saturating_add(cap),
            None => max_head.saturating_add(cap),
        };
        let room = limit.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.capped = true;
        }
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

struct Handler {
    id: u64,
    peer: SocketAddr,
    shared: Arc<Shared>,
    record: Option<RecordTx>,
    stop: watch::Receiver<bool>,
}

enum ReadEvent {
    Data(usize),
    Eof,
    Idle,
    Stop,
    Error,
}

impl Handler {
    async fn read_some(
        &mut self,
        sock: &mut TcpStream,
        buf: &mut [u8],
        idle_ok_to_stop: bool,
    ) -> ReadEvent {
        let timeout = self.shared.opts.idle_timeout;
        let read = tokio::time::timeout(timeout, sock.read(buf));
        if idle_ok_to_stop {
            if *self.stop.borrow() {
                return ReadEvent::Stop;
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                r = read => Self::classify(r),
                _ = stop.wait_for(|s| *s) => ReadEvent::Stop,
            }
        } else {
            Self::classify(read.await)
        }
    }

    fn classify(r: Result<std::io::Result<usize>, tokio::time::error::Elapsed>) -> ReadEvent {
        match r {
            Err(_) => ReadEvent::Idle,
            Ok(Ok(0)) => ReadEvent::Eof,
            Ok(Ok(n)) => ReadEvent::Data(n),
            Ok(Err(_)) => ReadEvent::Error,
        }
    }

    async fn serve(mut self, mut sock: TcpStream) {
        let _ = sock.set_nodelay(true);
        let local = sock.local_addr().unwrap_or(self.peer);
        let opts = self.shared.opts.clone();
        let recording = self.record.is_some();
        let mut buf = vec![0u8; READ_CHUNK];
        // Unconsumed bytes live in buf[start..end].
        let (mut start, mut end) = (0usize, 0usize);
        let mut read_ns = 0u64;
        loop {
            let mut req = RequestBuf::new(opts.max_head);
            // Read and frame one request.
            let complete = loop {
                if start == end {
                    let idle = !req.started;
                    match self.read_some(&mut sock, &mut buf, idle).await {
                        ReadEvent::Data(n) => {
                            start = 0;
                            end = n;
                            read_ns = now_ns();
                            self.shared
                                .counters
                                .bytes_received
                                .fetch_add(n as u64, Ordering::Relaxed);
                        }
                        ReadEvent::Eof | ReadEvent::Idle | ReadEvent::Error | ReadEvent::Stop => {
                            break false
                        }
                    }
                }
                let input = &buf[start..end];
                match req.framer.feed(input) {
                    Ok(p) => {
                        if !req.started
                            && req.framer.consumed() > req.framer.leading_skipped() as u64
                        {
                            req.started = true;
                            req.first_ns = read_ns;
                        }
                        if recording {
                            req.keep(&input[..p.consumed], opts.record_body_cap, opts.max_head);
                        }
                        start += p.consumed;
                        if p.status == Status::Complete {
                            break true;
                        }
                        let expects = req.framer.head().is_some_and(|h| h.expect_continue);
                        if expects && !req.continue_sent {
                            req.continue_sent = true;
                            let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
                            if sock.write_all(interim).await.is_err() {
                                break false;
                            }
                            self.shared
                                .counters
                                .bytes_sent
                                .fetch_add(interim.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        if recording {
                            req.keep(input, opts.record_body_cap, opts.max_head);
                        }
                        self.reject(&mut sock, &mut req, e, read_ns, local).await;
                        return;
                    }
                }
            };
            if !complete {
                if req.started {
                    self.shared
                        .counters
                        .bad_requests
                        .fetch_add(1, Ordering::Relaxed);
                    let mut flags = Flags::REQ_INCOMPLETE | Flags::RESP_MISSING;
                    if req.capped {
                        flags |= Flags::REQ_BODY_CAPPED;
                    }
                    self.emit_at(&mut req, read_ns, flags, None, local).await;
                }
                return;
            }
            let last_ns = read_ns;
            let (keep_alive, minor, method_head) = match req.framer.head() {
                // After a CONNECT or an Upgrade the client would speak
                // another protocol: answer, then close.
                Some(h) => (
                    h.keep_alive && !h.upgrade && !*self.stop.borrow(),
                    h.minor_version,
                    h.method.as_deref() == Some("HEAD"),
                ),
                None => (false, 1, false),
            };
            if !opts.delay.is_zero() {
                tokio::time::sleep(opts.delay).await;
            }
            let keep_alive = keep_alive && !*self.stop.borrow();
            let (head, body_len) = self.response_head(keep_alive, minor, method_head);
            let first_ns = now_ns();
            let write_ok = self.write_response(&mut sock, &head, body_len).await;
            let resp_last = now_ns();
            self.shared
                .counters
                .requests
                .fetch_add(1, Ordering::Relaxed);
            let mut flags = Flags::empty();
            if req.capped {
                flags |= Flags::REQ_BODY_CAPPED;
            }
            if req.continue_sent {
                flags |= Flags::INTERIM;
            }
            if !write_ok {
                flags |= Flags::RESP_INCOMPLETE;
            }
            if recording {
                let cap = opts
                    .record_body_cap
                    .min(usize::try_from(body_len).unwrap_or(usize::MAX));
                let body = self.body_prefix(cap);
                if body.len() as u64 != body_len {
                    flags |= Flags::RESP_BODY_CAPPED;
                }
                let resp = Response {
                    body_len,
                    ..Response::new(opts.status, first_ns, resp_last, head.clone(), body)
                };
                self.emit_at(&mut req, last_ns, flags, Some(resp), local)
                    .await;
            }
            if !write_ok || !keep_alive {
                let _ = sock.shutdown().await;
                return;
            }
        }
    }

    fn response_head(&self, keep_alive: bool, minor: u8, head_method: bool) -> (Vec<u8>, u64) {
        let opts = &self.shared.opts;
        let no_body = matches!(opts.status, 204 | 304);
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: shadowtap\r\n",
            opts.status,
            reason_phrase(opts.status)
        );
        if !no_body {
            head.push_str(&format!("Content-Length: {}\r\n", opts.body_size));
            if opts.body_size > 0 {
                head.push_str("Content-Type: text/plain\r\n");
            }
        }
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        } else if minor == 0 {
            head.push_str("Connection: keep-alive\r\n");
        }
        head.push_str("\r\n");
        let body_len = if no_body || head_method {
            0
        } else {
            opts.body_size
        };
        (head.into_bytes(), body_len)
    }

    fn body_prefix(&self, n: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(n);
        self.shared.responses.body_into(&mut body, n);
        body
    }

    async fn write_response(&self, sock: &mut TcpStream, head: &[u8], body_len: u64) -> bool {
        let pattern = &self.shared.responses.pattern;
        let ok = if body_len <= PREPARED_MAX {
            // Head and whole body in one write (the pattern may be shorter
            // than the body: it is repeated).
            let len = body_len as usize;
            let mut out = Vec::with_capacity(head.len() + len);
            out.extend_from_slice(head);
            self.shared.responses.body_into(&mut out, len);
            sock.write_all(&out).await.is_ok()
        } else {
            let mut ok = sock.write_all(head).await.is_ok();
            let mut left = body_len;
            while ok && left > 0 {
                let n = usize::try_from(left.min(pattern.len() as u64)).unwrap_or(pattern.len());
                ok = sock.write_all(&pattern[..n]).await.is_ok();
                left -= n as u64;
            }
            ok
        };
        if ok {
            self.shared
                .counters
                .bytes_sent
                .fetch_add(head.len() as u64 + body_len, Ordering::Relaxed);
        }
        ok
    }

    async fn reject(
        &mut self,
        sock: &mut TcpStream,
        req: &mut RequestBuf,
        err: FramingError,
        read_ns: u64,
        local: SocketAddr,
    ) {
        self.shared
            .counters
            .bad_requests
            .fetch_add(1, Ordering::Relaxed);
        let status = match err {
            FramingError::HeadTooLarge { .. } => 431,
            _ => 400,
        };
        let head = format!(
            "HTTP/1.1 {status} {}\r\nServer: shadowtap\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            reason_phrase(status)
        )
        .into_bytes();
        let first_ns = now_ns();
        let ok = sock.write_all(&head).await.is_ok();
        let _ = sock.shutdown().await;
        if !req.started && req.bytes.is_empty() {
            return;
        }
        if !req.started {
            req.first_ns = read_ns;
        }
        let mut flags = Flags::REQ_INCOMPLETE;
        if req.capped {
            flags |= Flags::REQ_BODY_CAPPED;
        }
        if !ok {
            flags |= Flags::RESP_INCOMPLETE;
        }
        let resp = Response::new(status, first_ns, now_ns(), head, Vec::new());
        self.emit_at(req, read_ns, flags, Some(resp), local).await;
    }

    async fn emit_at(
        &mut self,
        req: &mut RequestBuf,
        last_ns: u64,
        flags: Flags,
        resp: Option<Response>,
        local: SocketAddr,
    ) {
        let Some(tx) = &self.record else {
            return;
        };
        // After a framing error the framer may not count the bytes of the
        // failed feed, which were kept: the length is at least what we hold.
        let request_len = req.request_len().max(req.bytes.len() as u64);
        let ex = Exchange {
            req_last_ns: last_ns.max(req.first_ns),
            flags,
            request_len,
            response: resp,
            // The recorder numbers the exchanges.
            ..Exchange::new(
                0,
                self.id,
                self.peer,
                local,
                req.first_ns,
                std::mem::take(&mut req.bytes),
            )
        };
        tx.send(ex).await;
    }
}
