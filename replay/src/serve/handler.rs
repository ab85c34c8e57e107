//! One connection of the server: reads requests into a [`RequestBuf`],
//! delimits them with the framer, answers them in order and hands finished
//! exchanges to the recorder.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shadowtap_format::http1::{self, Framer, FramingError, Status};
use shadowtap_format::{Exchange, Flags, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::record::RecordTx;
use super::responses::reason_phrase;
use super::{now_ns, Shared, READ_CHUNK};

/// Responses whose body is at most this size go out in one write (head and
/// body copied into one buffer); larger bodies are written pattern by pattern.
const PREPARED_MAX: u64 = 64 * 1024;

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

pub(super) struct Handler {
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    pub(super) shared: Arc<Shared>,
    pub(super) record: Option<RecordTx>,
    pub(super) stop: watch::Receiver<bool>,
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

    pub(super) async fn serve(mut self, mut sock: TcpStream) {
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
