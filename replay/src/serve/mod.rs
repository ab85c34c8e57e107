//! `shadowtap serve`: a fast HTTP/1.1 target for demos, tests and CI, which
//! can record every request it receives as a `.stlog`.
//!
//! Each connection is one task: it reads into a fixed buffer, delimits each
//! request with
//! [`Framer::request`](shadowtap_format::http1::Framer::request)
//! (Content-Length, chunked, pipelining, keep-alive, `Connection: close`,
//! `Expect: 100-continue`), waits the configured delay (a timer of that task
//! only: other connections are not affected), and answers with the
//! configured status and a body of the configured size. Pipelined requests
//! are answered in order.
//!
//! Bounds: a request head is at most [`ServeOptions::max_head`] bytes (431
//! otherwise); bodies are streamed through the framer and never buffered,
//! except, when recording, the first [`ServeOptions::record_body_cap`] bytes
//! (the exchange then carries
//! [`Flags::REQ_BODY_CAPPED`](shadowtap_format::Flags::REQ_BODY_CAPPED) and
//! the true `request_len`); at most [`ServeOptions::max_connections`]
//! connections are served at once (further ones wait in the kernel's
//! backlog); a connection idle for [`ServeOptions::idle_timeout`] is closed.
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

mod handler;
mod record;
mod responses;

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shadowtap_format::http1::DEFAULT_MAX_HEAD;
use shadowtap_format::{FileHeader, LogSink, SinkOptions, WriteError};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use handler::Handler;
use record::Recorder;
pub use responses::reason_phrase;
use responses::Responses;

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

struct Shared {
    opts: ServeOptions,
    responses: Responses,
    counters: Counters,
}
