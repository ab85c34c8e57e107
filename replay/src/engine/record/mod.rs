//! Recording what the targets answered (`replay --record-responses`): every
//! request as sent to a target, with the response that target gave as it
//! came off the wire, into one `.stlog` log per target.
//!
//! **Who does what.** A worker sends with
//! [`Transport::send_recording`](super::Transport::send_recording): the
//! session keeps the response's head and its body bytes, bounded
//! ([`RawResponse`]). The worker turns the request and the response into an
//! [`Exchange`] whose [`origin`](Exchange::origin) is the replayed request's
//! id (the [`request_id`](crate::compare::live::request_id) that
//! `--compare` reports by) and hands it over a bounded queue to one writer
//! thread, which owns a [`LogSink`] per target (exchanges numbered 1, 2,
//! ... in the order they are written; flushed when due; finished at the
//! end). Writing never happens on a worker.
//!
//! **A full queue.** The queue holds [`RECORD_QUEUE`] exchanges and
//! [`RECORD_QUEUE_BYTES`] of their bytes at most. In real-time replay a
//! worker that finds it full does not wait (that would delay the replay):
//! the exchange is not recorded and counted in
//! [`RecordedLog::dropped`]. With `--speed max` ([`RecordOptions::wait`])
//! the worker waits for room, so the log is complete and the replay goes at
//! the disk's pace.
//!
//! **Errors.** A log that cannot be created fails [`Recording::start`],
//! before anything is sent. A write error stops that log's recording (what
//! comes after is counted in [`RecordedLog::not_written`]) but not the
//! replay; it is returned by [`Recording::finish`], which finishes every
//! log either way, so what was written stays readable (every complete block
//! reads back, `FORMAT.md` §1).
//!
//! **Times.** `req_first_ns` is the wall-clock time the session started the
//! request (connecting first when it had no open connection),
//! `req_last_ns` when it was written, the response's `first_ns` and
//! `last_ns` when its first and last bytes were read: instants of the
//! monotonic clock turned into wall-clock time from one pair of readings
//! taken at the start.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use shadowtap_format::{
    meta, Exchange, FileHeader, Flags, LogSink, Reader, SinkError, SinkOptions, WriterOptions,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::client::{RawResponse, Reply};
use crate::rewrite::Prepared;

/// Exchanges waiting for the writer thread at most.
pub const RECORD_QUEUE: usize = 1024;
/// Request and response bytes waiting for the writer thread at most (one
/// exchange larger than this still passes, alone).
pub const RECORD_QUEUE_BYTES: usize = 64 << 20;
/// How often the writer thread looks whether a log is due for a flush.
const FLUSH_TICK: Duration = Duration::from_millis(200);

/// What to record, and where.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// One log per target, in the configuration's order.
    pub paths: Vec<PathBuf>,
    /// The targets' URLs, in the same order (each log's `target` meta).
    pub targets: Vec<String>,
    /// The logs replayed, in the replay's order: each recorded log names
    /// them (`origin_log` meta, with their header's `created_ns`), so that
    /// `diff` can tell which log the origins refer to.
    pub inputs: Vec<PathBuf>,
    /// The body cap: body data bytes stored at most per response.
    pub max_body: u64,
    /// Wait for room in the queue rather than drop (`--speed max`).
    pub wait: bool,
    /// How the logs are written.
    pub writer: WriterOptions,
}

/// A log could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// A log could not be created or written.
    #[error("--record-responses: {0}")]
    Sink(#[from] SinkError),
    /// The writer thread could not be started.
    #[error("--record-responses: cannot start the writer thread")]
    Thread(#[source] std::io::Error),
    /// The writer thread panicked.
    #[error("--record-responses: the writer thread ended unexpectedly")]
    Panicked,
}

/// What was recorded for one target (the report's
/// `recorded_responses.logs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordedLog {
    /// The target's URL.
    pub target: String,
    /// The log.
    pub path: PathBuf,
    /// Exchanges written.
    pub recorded: u64,
    /// Exchanges not recorded because the queue was full (real-time replay).
    pub dropped: u64,
    /// Exchanges not written because an earlier write failed.
    pub not_written: u64,
}

/// What a run recorded (the report's `recorded_responses` object).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordSummary {
    /// Every log's `recorded` added up.
    pub recorded: u64,
    /// Every log's `dropped` added up.
    pub dropped: u64,
    /// Every log's `not_written` added up.
    pub not_written: u64,
    /// Each target's log.
    pub logs: Vec<RecordedLog>,
}

/// An exchange on its way to the writer, holding its place in the queue
/// and its share of the byte budget until it is written.
struct Queued {
    target: usize,
    ex: Exchange,
    _slot: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// A worker's end of the queue.
pub(crate) struct RecordTx(SyncSender<Queued>);

/// What the writer thread came to.
struct Written {
    recorded: Vec<u64>,
    not_written: Vec<u64>,
    error: Option<SinkError>,
}

/// A run's recording: the writer thread and its queue (shared by the
/// workers and the caller, who finishes it once the run ended).
pub struct Recording {
    tx: Mutex<Option<SyncSender<Queued>>>,
    slots: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    wait: bool,
    max_body: u64,
    /// (monotonic, wall-clock ns) read at the same moment.
    anchor: (Instant, u64),
    dropped: Vec<AtomicU64>,
    /// Set by `finish`: the writer ends once the queue is empty.
    closing: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<Written>>>,
    paths: Vec<PathBuf>,
    targets: Vec<String>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("paths", &self.paths)
            .field("max_body", &self.max_body)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

fn wall_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Recording {
    /// Creates every log (a path that cannot be written fails here, before
    /// anything is sent) and starts the writer thread.
    pub fn start(opts: RecordOptions) -> Result<Recording, RecordError> {
        let mut origin_logs = Vec::with_capacity(opts.inputs.len());
        for path in &opts.inputs {
            // An input that cannot be read fails the replay anyway.
            let created = Reader::open(path).map_or(0, |r| r.header().created_ns);
            origin_logs.push((
                meta::ORIGIN_LOG.to_owned(),
                format!("{created} {}", path.display()),
            ));
        }
        let mut sinks = Vec::with_capacity(opts.paths.len());
        for (i, path) in opts.paths.iter().enumerate() {
            let mut m = vec![
                (meta::SOURCE.to_owned(), "replay".to_owned()),
                (
                    meta::TARGET.to_owned(),
                    opts.targets.get(i).cloned().unwrap_or_default(),
                ),
            ];
            m.extend(origin_logs.iter().cloned());
            let header = FileHeader {
                writer: format!("shadowtap {}", env!("CARGO_PKG_VERSION")),
                created_ns: wall_now(),
                meta: m,
            };
            let mut sink = LogSink::new(
                SinkOptions {
                    output: Some(path.clone()),
                    // Numbered in the order they are written.
                    number: true,
                    writer: opts.writer.clone(),
                    ..SinkOptions::default()
                },
                header,
            );
            sink.start()?;
            sinks.push(sink);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Queued>(RECORD_QUEUE);
        let closing = Arc::new(AtomicBool::new(false));
        let thread = {
            let closing = closing.clone();
            std::thread::Builder::new()
                .name("shadowtap-record".to_owned())
                .spawn(move || write(sinks, &rx, &closing))
                .map_err(RecordError::Thread)?
        };
        Ok(Recording {
            tx: Mutex::new(Some(tx)),
            slots: Arc::new(Semaphore::new(RECORD_QUEUE)),
            budget: Arc::new(Semaphore::new(RECORD_QUEUE_BYTES)),
            wait: opts.wait,
            max_body: opts.max_body,
            anchor: (Instant::now(), wall_now()),
            dropped: opts.paths.iter().map(|_| AtomicU64::new(0)).collect(),
            closing,
            thread: Mutex::new(Some(thread)),
            paths: opts.paths,
            targets: opts.targets,
        })
    }

    /// The body cap.
    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// The logs, one per target.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// A worker's end of the queue; `None` once finished.
    pub(crate) fn sender(&self) -> Option<RecordTx> {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .map(RecordTx)
    }

    /// `t` in nanoseconds since the Unix epoch.
    fn wall(&self, t: Instant) -> u64 {
        let (at, wall) = self.anchor;
        if t >= at {
            wall.saturating_add(u64::try_from((t - at).as_nanos()).unwrap_or(u64::MAX))
        } else {
            wall.saturating_sub(u64::try_from((at - t).as_nanos()).unwrap_or(u64::MAX))
        }
    }

    /// Records what worker `slot` of `target` sent (`parts` of `req`) and
    /// got (`reply`, the response in `raw`, whose buffers are taken), over
    /// `tx`: waits for room in the queue or counts a drop (see the module
    /// docs).
    pub(crate) async fn record(
        &self,
        tx: &RecordTx,
        (target, slot): (usize, usize),
        (req, parts): (&Prepared, [&[u8]; 3]),
        reply: &Reply,
        raw: &mut RawResponse,
    ) {
        let size = parts.iter().map(|p| p.len()).sum::<usize>() + raw.stored_len();
        let permits = u32::try_from(size.clamp(1, RECORD_QUEUE_BYTES)).unwrap_or(u32::MAX);
        let permits = if self.wait {
            let slot = self.slots.clone().acquire_owned().await;
            let bytes = self.budget.clone().acquire_many_owned(permits).await;
            slot.ok().zip(bytes.ok())
        } else {
            let slot = self.slots.clone().try_acquire_owned();
            let bytes = self.budget.clone().try_acquire_many_owned(permits);
            slot.ok().zip(bytes.ok())
        };
        let Some((slot_permit, bytes_permit)) = permits else {
            if let Some(d) = self.dropped.get(target) {
                d.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let ex = self.exchange(slot, req, parts, reply, raw);
        // A slot for every permit: never full. Closed only after the run.
        let _ = tx.0.try_send(Queued {
            target,
            ex,
            _slot: slot_permit,
            _bytes: bytes_permit,
        });
    }

    /// The exchange of a request and its response.
    fn exchange(
        &self,
        slot: usize,
        req: &Prepared,
        parts: [&[u8]; 3],
        reply: &Reply,
        raw: &mut RawResponse,
    ) -> Exchange {
        let unknown = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        let connection = raw.connection();
        let written = raw.written_at();
        let (response, mut flags) = raw.take_response(|t| self.wall(t), reply.done);
        if written.is_none() {
            flags.insert(Flags::REQ_INCOMPLETE);
        }
        let request = parts.concat();
        Exchange {
            id: 0,
            // The worker in the high half, its connection in the low half.
            conn: (slot as u64) << 32 | (connection.serial & 0xFFFF_FFFF),
            client: connection.local.unwrap_or(unknown),
            server: connection.peer.unwrap_or(unknown),
            req_first_ns: self.wall(reply.started),
            req_last_ns: self.wall(written.unwrap_or(reply.started)),
            flags,
            request_len: request.len() as u64,
            request,
            response,
            origin: Some(req.origin()),
        }
    }

    /// Ends the recording once the run ended: what is queued is written,
    /// every log is finished (also after a write error), and the counts
    /// come back with the first error, if any.
    pub async fn finish(&self) -> (RecordSummary, Option<RecordError>) {
        self.closing.store(true, Ordering::Relaxed);
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let written = match thread {
            Some(t) => match tokio::task::spawn_blocking(move || t.join()).await {
                Ok(Ok(w)) => Ok(w),
                _ => Err(RecordError::Panicked),
            },
            None => Err(RecordError::Panicked),
        };
        let (written, error) = match written {
            Ok(w) => {
                let error = w.error.map(RecordError::Sink);
                (Some((w.recorded, w.not_written)), error)
            }
            Err(e) => (None, Some(e)),
        };
        let mut summary = RecordSummary::default();
        for (i, path) in self.paths.iter().enumerate() {
            let get = |v: &Vec<u64>| v.get(i).copied().unwrap_or(0);
            let log = RecordedLog {
                target: self.targets.get(i).cloned().unwrap_or_default(),
                path: path.clone(),
                recorded: written.as_ref().map_or(0, |(r, _)| get(r)),
                dropped: self.dropped.get(i).map_or(0, |d| d.load(Ordering::Relaxed)),
                not_written: written.as_ref().map_or(0, |(_, n)| get(n)),
            };
            summary.recorded += log.recorded;
            summary.dropped += log.dropped;
            summary.not_written += log.not_written;
            summary.logs.push(log);
        }
        (summary, error)
    }
}

/// The writer thread: appends what arrives to its target's log, flushes
/// when due, and finishes every log once the queue is closed (or, after
/// `closing`, empty).
fn write(mut sinks: Vec<LogSink>, rx: &Receiver<Queued>, closing: &AtomicBool) -> Written {
    let mut recorded = vec![0; sinks.len()];
    let mut not_written = vec![0; sinks.len()];
    let mut error: Option<SinkError> = None;
    let mut next_flush = std::time::Instant::now() + FLUSH_TICK;
    loop {
        match rx.recv_timeout(FLUSH_TICK) {
            Ok(q) => {
                let Some(sink) = sinks.get_mut(q.target) else {
                    continue;
                };
                if error.is_some() {
                    not_written[q.target] += 1;
                } else if let Err(e) = sink.append(q.ex, 0) {
                    not_written[q.target] += 1;
                    error = Some(e);
                } else {
                    recorded[q.target] = sink.written();
                }
            }
            Err(RecvTimeoutError::Timeout) if closing.load(Ordering::Relaxed) => break,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if error.is_none() && std::time::Instant::now() >= next_flush {
            next_flush = std::time::Instant::now() + FLUSH_TICK;
            for sink in &mut sinks {
                if let Err(e) = sink.flush_if_due() {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    for (i, sink) in sinks.into_iter().enumerate() {
        recorded[i] = sink.written();
        if let Err(e) = sink.finish(0) {
            error.get_or_insert(e);
        }
    }
    Written {
        recorded,
        not_written,
        error,
    }
}

#[cfg(test)]
mod tests;
