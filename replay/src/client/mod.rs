//! A raw HTTP/1.1 client: writes the prepared bytes as they are and reads the
//! response only far enough to know where it ends.
//!
//! General-purpose clients (hyper, reqwest) build requests from a header map:
//! they re-case names, reorder and merge duplicates, and re-frame bodies,
//! which would break the byte fidelity of a replay. This client writes the
//! request bytes untouched, then frames the response with
//! [`shadowtap_format::http1::Framer`] (interim 1xx responses, HEAD, chunked,
//! close-delimited), discards the body as it arrives through one fixed read
//! buffer, and keeps the connection for the next request when the response
//! allows it. To compare responses (`replay --compare`),
//! [`Session::send_keeping`] also keeps the final response's head and
//! decodes its body as it arrives, bounded ([`Kept`]); to record responses
//! (`replay --record-responses`), [`Session::send_recording`] keeps them
//! as they came off the wire, bounded ([`RawResponse`]); plain
//! [`Session::send`] keeps nothing and allocates nothing per response.
//!
//! A [`Session`] is one worker's connection slot: at most one connection, at
//! most one request in flight. The engine runs `--concurrency` sessions per
//! target, which together form the target's keep-alive pool. Every request
//! has one deadline (`--timeout`) covering connect, TLS handshake, write and
//! read. A pooled connection that the target closed while idle is detected
//! (the write fails, or the read ends before any response byte) and the
//! request is retried once on a fresh connection. Memory per session is one
//! read buffer ([`READ_BUF`]) and one write buffer (the largest request sent),
//! whatever the target does.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rustls::pki_types::ServerName;
use shadowtap_format::http1::{BodyKind, Framer, Status};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsConnector;

use crate::stats::{ErrorKind, TlsReason};

mod head;
mod keep;
mod raw;
mod stream;
mod target;
mod tls;

pub use self::keep::Kept;
pub use self::raw::{Connection, RawResponse};
pub use self::target::{Scheme, Target, TargetError};

use self::stream::Stream;
use self::tls::tls_config;
pub use self::tls::{classify, tls_reason};

/// Bytes read from a connection at a time (the body is discarded).
pub const READ_BUF: usize = 16 * 1024;

/// Client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Deadline of one request: connect, handshake, write and read.
    pub timeout: Duration,
    /// Accept any TLS certificate (self-signed test targets).
    pub insecure: bool,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(10),
            insecure: false,
        }
    }
}

/// A target that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The host name did not resolve.
    #[error("target {url}: cannot resolve {host:?}")]
    Resolve {
        /// The target URL.
        url: String,
        /// The host.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The host is not a valid TLS server name.
    #[error("target {url}: {host:?} is not a valid TLS server name")]
    ServerName {
        /// The target URL.
        url: String,
        /// The host.
        host: String,
    },
    /// rustls rejected the configuration.
    #[error("TLS configuration")]
    Tls(#[from] rustls::Error),
}

/// A resolved target, shared by its sessions.
pub struct Endpoint {
    target: Target,
    addrs: Vec<SocketAddr>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("target", &self.target.url)
            .field("addrs", &self.addrs)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Endpoint {
    /// Resolves a target (once: the addresses are kept for the run) and sets
    /// up TLS for `https://`.
    pub async fn new(target: Target, opts: ClientOptions) -> Result<Endpoint, ClientError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|source| ClientError::Resolve {
                url: target.url.clone(),
                host: target.host.clone(),
                source,
            })?
            .collect();
        if addrs.is_empty() {
            return Err(ClientError::Resolve {
                url: target.url.clone(),
                host: target.host.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "no address"),
            });
        }
        let tls = match target.scheme {
            Scheme::Http => None,
            Scheme::Https => {
                let name = ServerName::try_from(target.host.clone()).map_err(|_| {
                    ClientError::ServerName {
                        url: target.url.clone(),
                        host: target.host.clone(),
                    }
                })?;
                Some((TlsConnector::from(tls_config(opts.insecure)?), name))
            }
        };
        Ok(Endpoint {
            target,
            addrs,
            tls,
            timeout: opts.timeout,
        })
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn connect(&self) -> Result<Stream, Failure> {
        let mut last = ErrorKind::Refused;
        for addr in &self.addrs {
            let tcp = match TcpStream::connect(addr).await {
                Ok(tcp) => tcp,
                Err(e) => {
                    last = classify(&e);
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            return match &self.tls {
                None => Ok(Stream::Plain(tcp)),
                Some((connector, name)) => match connector.connect(name.clone(), tcp).await {
                    Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
                    Err(e) => Err(match classify(&e) {
                        kind @ (ErrorKind::Reset | ErrorKind::Timeout) => Failure::new(kind, false),
                        _ => Failure {
                            kind: ErrorKind::Tls,
                            stale: false,
                            tls: Some(tls_reason(&e).unwrap_or(TlsReason::Other)),
                        },
                    }),
                },
            };
        }
        Err(Failure::new(last, false))
    }
}

/// What one request got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Final status code, or what went wrong.
    pub result: Result<u16, ErrorKind>,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read (all attempts).
    pub bytes_received: u64,
    /// Why, when `result` is [`ErrorKind::Tls`].
    pub tls_reason: Option<TlsReason>,
    /// When the session started the request (connecting first when it had
    /// no open connection).
    pub started: Instant,
    /// When the response was read completely, or the request failed.
    pub done: Instant,
}

/// A failed exchange on one connection.
struct Failure {
    kind: ErrorKind,
    /// Nothing of a response arrived: on a reused connection the target
    /// probably closed it while idle, so a retry is safe.
    stale: bool,
    /// Why, for a TLS error.
    tls: Option<TlsReason>,
}

impl Failure {
    fn new(kind: ErrorKind, stale: bool) -> Failure {
        Failure {
            kind,
            stale,
            tls: None,
        }
    }

    /// A failed read or write: classified, with the TLS reason if any.
    fn io(e: &io::Error, stale: bool) -> Failure {
        let kind = classify(e);
        Failure {
            kind,
            stale,
            tls: if kind == ErrorKind::Tls {
                tls_reason(e)
            } else {
                None
            },
        }
    }
}

/// One connection slot of a target (see the module docs).
pub struct Session {
    endpoint: Arc<Endpoint>,
    stream: Option<Stream>,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Frames the responses; reset for each one (its buffer is kept).
    framer: Framer,
    /// The `--timeout` timer, re-armed lazily (see [`Session::send`]).
    timer: Option<Pin<Box<Sleep>>>,
    sent: u64,
    received: u64,
    /// The open connection, counted (addresses looked up only when
    /// recording responses).
    connection: Connection,
    connections: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.stream.is_some())
            .finish()
    }
}

impl Session {
    /// A session with no connection yet (buffers are allocated on first use).
    pub fn new(endpoint: Arc<Endpoint>) -> Session {
        Session {
            endpoint,
            stream: None,
            wbuf: Vec::new(),
            rbuf: Vec::new(),
            framer: Framer::response("GET"),
            timer: None,
            sent: 0,
            received: 0,
            connection: Connection::default(),
            connections: 0,
        }
    }

    /// Whether a connection is open for the next request.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Sends one request (the concatenation of `parts`) and reads its
    /// response; `method` frames the response (HEAD has no body). With
    /// `keep_alive` false (an HTTP/1.0 request that did not ask for a
    /// persistent connection) the connection is closed after the response,
    /// whatever the response says.
    ///
    /// The deadline (`--timeout` from now) is kept by one timer per session
    /// that is not moved for every request: it is re-armed to the current
    /// deadline only when it fires before it. Deadlines only move later, so
    /// the timer never fires late; it costs nothing per request.
    pub async fn send(&mut self, parts: [&[u8]; 3], method: &str, keep_alive: bool) -> Reply {
        self.send_inner(parts, method, keep_alive, None, None).await
    }

    /// [`Session::send`], keeping the final response's head and its body
    /// decoded into `kept` (cleared first) for a comparison: see [`Kept`].
    /// The body is there ([`Kept::take_body`]) when the response was read
    /// completely.
    pub async fn send_keeping(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: &mut Kept,
    ) -> Reply {
        self.send_inner(parts, method, keep_alive, Some(kept), None)
            .await
    }

    /// [`Session::send`], keeping the final response as it came off the
    /// wire in `raw` (cleared first; see [`RawResponse`]), and with `kept`
    /// also as [`Session::send_keeping`] keeps it.
    pub async fn send_recording(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: Option<&mut Kept>,
        raw: &mut RawResponse,
    ) -> Reply {
        self.send_inner(parts, method, keep_alive, kept, Some(raw))
            .await
    }

    async fn send_inner(
        &mut self,
        parts: [&[u8]; 3],
        method: &str,
        keep_alive: bool,
        kept: Option<&mut Kept>,
        raw: Option<&mut RawResponse>,
    ) -> Reply {
        let started = Instant::now();
        // The cap only marks where a recorded body is cut.
        self.framer.set_body_cap(raw.as_ref().map(|r| r.max_body()));
        self.wbuf.clear();
        for p in parts {
            self.wbuf.extend_from_slice(p);
        }
        if self.rbuf.len() != READ_BUF {
            self.rbuf = vec![0; READ_BUF];
        }
        self.sent = 0;
        self.received = 0;
        let deadline = started + self.endpoint.timeout;
        let mut timer = match self.timer.take() {
            Some(t) if t.deadline() <= deadline => t,
            _ => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let result = until_deadline(
            &mut timer,
            deadline,
            self.attempt(method, keep_alive, kept, raw),
        )
        .await;
        self.timer = Some(timer);
        let (result, tls_reason) = match result {
            Some(Ok(status)) => (Ok(status), None),
            Some(Err(f)) => (Err(f.kind), f.tls),
            None => {
                self.stream = None;
                (Err(ErrorKind::Timeout), None)
            }
        };
        Reply {
            result,
            bytes_sent: self.sent,
            bytes_received: self.received,
            tls_reason,
            started,
            done: Instant::now(),
        }
    }

    async fn attempt(
        &mut self,
        method: &str,
        keep_alive: bool,
        mut kept: Option<&mut Kept>,
        mut raw: Option<&mut RawResponse>,
    ) -> Result<u16, Failure> {
        let mut retried = false;
        loop {
            if let Some(k) = kept.as_deref_mut() {
                k.clear();
            }
            if let Some(r) = raw.as_deref_mut() {
                r.clear();
            }
            let reused = self.stream.is_some();
            let mut stream = match self.stream.take() {
                Some(s) => s,
                None => {
                    let s = self.endpoint.connect().await?;
                    self.connections += 1;
                    let (local, peer) = match raw {
                        Some(_) => s.addrs(),
                        None => (None, None),
                    };
                    self.connection = Connection {
                        serial: self.connections,
                        local,
                        peer,
                    };
                    s
                }
            };
            if let Some(r) = raw.as_deref_mut() {
                r.connected(self.connection);
            }
            let r = exchange(
                &mut stream,
                &self.wbuf,
                &mut self.rbuf,
                &mut self.framer,
                method,
                &mut self.sent,
                &mut self.received,
                kept.as_deref_mut(),
                raw.as_deref_mut(),
            )
            .await;
            match r {
                Ok((status, keep)) => {
                    if keep && keep_alive {
                        self.stream = Some(stream);
                    }
                    return Ok(status);
                }
                Err(f) if f.stale && reused && !retried => {
                    retried = true;
                }
                Err(f) => return Err(f),
            }
        }
    }
}

/// Runs `fut` until `deadline` (`None`: the deadline passed first).
///
/// `timer` may be set to an earlier instant (an earlier request's
/// deadline): when it fires before `deadline` it is re-armed to it, so a
/// timer is moved in tokio's wheel about once per `--timeout` rather than
/// once per request.
async fn until_deadline<F: Future>(
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(None);
            }
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await
}

/// Writes the request and reads one response (after any interim ones).
/// Returns the status and whether the connection can carry another request.
/// With `kept` (and `raw`), the bytes of the final response are shown to
/// it as they are framed.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    stream: &mut Stream,
    request: &[u8],
    rbuf: &mut [u8],
    framer: &mut Framer,
    method: &str,
    sent: &mut u64,
    received: &mut u64,
    mut kept: Option<&mut Kept>,
    mut raw: Option<&mut RawResponse>,
) -> Result<(u16, bool), Failure> {
    use tokio::io::AsyncReadExt;
    if let Err(e) = stream.write_all(request).await {
        return Err(Failure::io(&e, true));
    }
    if let Err(e) = stream.flush().await {
        return Err(Failure::io(&e, true));
    }
    *sent = request.len() as u64;
    if let Some(r) = raw.as_deref_mut() {
        r.written(Instant::now());
    }
    framer.reset_response(method);
    let mut got = 0usize;
    loop {
        let n = match stream.read(rbuf).await {
            Ok(n) => n,
            Err(e) => return Err(Failure::io(&e, got == 0)),
        };
        if n == 0 {
            if framer.finish() {
                let status = framer.head().and_then(|h| h.status).unwrap_or(0);
                if let Some(k) = kept {
                    k.response_done();
                }
                if let Some(r) = raw {
                    r.response_done(Instant::now());
                }
                return Ok((status, false));
            }
            return Err(Failure::new(ErrorKind::Reset, got == 0));
        }
        got += n;
        *received += n as u64;
        if let Some(r) = raw.as_deref_mut() {
            r.arrived(Instant::now());
        }
        let mut off = 0;
        while off < n {
            let body_before = framer.body_consumed();
            let p = framer
                .feed(&rbuf[off..n])
                .map_err(|_| Failure::new(ErrorKind::Protocol, false))?;
            if let Some(k) = kept.as_deref_mut() {
                k.consumed(framer, &rbuf[off..off + p.consumed], body_before, method);
            }
            if let Some(r) = raw.as_deref_mut() {
                r.consumed(framer, &rbuf[off..off + p.consumed], body_before);
            }
            off += p.consumed;
            if p.status == Status::Complete {
                let Some(head) = framer.head() else {
                    return Err(Failure::new(ErrorKind::Protocol, false));
                };
                if head.is_interim() {
                    framer.reset_response(method);
                    if let Some(k) = kept.as_deref_mut() {
                        k.interim_done();
                    }
                    if let Some(r) = raw.as_deref_mut() {
                        r.interim_done();
                    }
                    continue;
                }
                let status = head.status.unwrap_or(0);
                if let Some(k) = kept.as_deref_mut() {
                    k.response_done();
                }
                if let Some(r) = raw.as_deref_mut() {
                    r.response_done(Instant::now());
                }
                // Bytes after the response were not asked for: do not reuse.
                let keep = head.keep_alive
                    && off == n
                    && !head.upgrade
                    && !matches!(head.body, BodyKind::UntilClose | BodyKind::Tunnel);
                return Ok((status, keep));
            }
            if p.consumed == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
