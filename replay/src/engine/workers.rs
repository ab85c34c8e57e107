//! The workers: `--concurrency` per target, each with its own connection
//! ([`Transport`]) and its own [`Recorder`], taking [`Job`]s from the
//! target's queue (an `async_channel`, many consumers: whichever worker is
//! idle takes the next job).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::compare::{Comparing, Recorded};
use super::monitor::{Entry, Monitor, Recorder};
use super::record::{RecordTx, Recording};
use super::transport::{Transport, Transports};
use crate::client::{Kept, RawResponse};
use crate::rewrite::{HostLine, Prepared};
use crate::stats::Outcome;

/// One request for one target.
#[derive(Debug)]
pub struct Job {
    pub(crate) req: Arc<Prepared>,
    /// With `--compare`: the request's recording.
    pub(crate) recorded: Option<Arc<Recorded>>,
    pub(crate) wire_ns: u64,
    pub(crate) intended: Duration,
    pub(crate) start: Instant,
    /// The target's slot, given back when the job is dropped (done).
    pub(crate) _permit: OwnedSemaphorePermit,
}

/// The workers of every target, and each target's queue.
pub(crate) struct Workers {
    pub(crate) handles: Vec<JoinHandle<()>>,
    /// Where the scheduler puts each target's jobs.
    pub(crate) queues: Vec<async_channel::Sender<Job>>,
    /// The same queues, for counting what is left in them after an abort.
    pub(crate) leftovers: Vec<async_channel::Receiver<Job>>,
}

/// Each target's Host line (`None`: the captured one is kept).
pub(crate) type HostLines = Arc<Vec<Option<HostLine>>>;

/// Each target's path prefix (empty: none).
pub(crate) type Prefixes = Arc<Vec<Vec<u8>>>;

/// Starts `concurrency` workers per target, given each target's Host line
/// and path prefix. `live`: measure the mirror delay.
pub(crate) fn spawn<X: Transports>(
    concurrency: usize,
    transports: &X,
    (host_lines, prefixes): (&HostLines, &Prefixes),
    monitor: &Monitor,
    live: bool,
    compare: Option<Arc<Comparing>>,
    record: Option<Arc<Recording>>,
) -> Workers {
    let wall_anchor = live.then(|| {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (Instant::now(), wall)
    });
    let mut w = Workers {
        handles: Vec::new(),
        queues: Vec::new(),
        leftovers: Vec::new(),
    };
    for target in 0..host_lines.len() {
        // As many jobs as there are slots: never full (a job holds a slot).
        let (tx, rx) = async_channel::bounded(concurrency);
        for slot in 0..concurrency {
            let record = record
                .as_ref()
                .and_then(|r| Some((r.clone(), r.sender()?, RawResponse::new(r.max_body()))));
            let worker = Worker {
                target,
                transport: transports.make(target),
                host_lines: host_lines.clone(),
                prefixes: prefixes.clone(),
                assembled: Vec::new(),
                recorder: monitor.ledger.recorder(),
                queue: rx.clone(),
                wall_anchor,
                kept: compare.as_ref().map(|c| Kept::new(c.max_body())),
                compare: compare.clone(),
                line: Vec::new(),
                slot,
                record,
            };
            w.handles.push(tokio::spawn(worker.run()));
        }
        w.queues.push(tx);
        w.leftovers.push(rx);
    }
    w
}

/// One connection slot of one target.
struct Worker<T> {
    target: usize,
    transport: T,
    host_lines: Arc<Vec<Option<HostLine>>>,
    /// Each target's path prefix (empty: none).
    prefixes: Arc<Vec<Vec<u8>>>,
    /// Reused: a request with this target's path prefix, when it has one
    /// (the shared [`Prepared`] bytes are the same for every target).
    assembled: Vec<u8>,
    recorder: Recorder,
    queue: async_channel::Receiver<Job>,
    /// (monotonic, wall-clock ns) at the same moment, when the mirror delay
    /// is measured.
    wall_anchor: Option<(Instant, u64)>,
    /// `--compare`: the run's comparison, where this worker's response
    /// is kept, and its buffer for diff-log lines.
    compare: Option<Arc<Comparing>>,
    kept: Option<Kept>,
    line: Vec<u8>,
    /// This worker's number among its target's.
    slot: usize,
    /// `--record-responses`: the recording, this worker's end of its
    /// queue, and where the session keeps the response.
    record: Option<(Arc<Recording>, RecordTx, RawResponse)>,
}

/// Records a request as unanswered when it is dropped armed: its worker was
/// aborted (the grace period after a shutdown ended) while the request was
/// with the transport.
struct InFlight<'a> {
    recorder: &'a Recorder,
    target: usize,
    intended: Duration,
    sent: Duration,
    armed: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.recorder
                .record(Entry::Unanswered(self.target, self.intended, self.sent));
        }
    }
}

impl<T: Transport> Worker<T> {
    async fn run(mut self) {
        while let Ok(job) = self.queue.recv().await {
            let mut in_flight = InFlight {
                recorder: &self.recorder,
                target: self.target,
                intended: job.intended,
                sent: Instant::now().saturating_duration_since(job.start),
                armed: true,
            };
            let host_line = self.host_lines.get(self.target).and_then(Option::as_ref);
            let prefix = self
                .prefixes
                .get(self.target)
                .map_or(&[][..], Vec::as_slice);
            let parts = if prefix.is_empty() || job.req.path_at().is_none() {
                job.req.parts(host_line)
            } else {
                job.req
                    .write_with_prefix(host_line, prefix, &mut self.assembled);
                [&self.assembled[..], &[][..], &[][..]]
            };
            let method = job.req.method();
            // The response is kept only when there is one to compare it with.
            let keep = job.recorded.as_ref().is_some_and(|r| r.wants_response());
            let kept = self.kept.as_mut().filter(|_| keep);
            let reply = match (kept, self.record.as_mut()) {
                (kept, Some((_, _, raw))) => {
                    self.transport
                        .send_recording(parts, method, job.req.keep_alive(), kept, raw)
                        .await
                }
                (Some(kept), None) => {
                    self.transport
                        .send_keeping(parts, method, job.req.keep_alive(), kept)
                        .await
                }
                (None, None) => {
                    self.transport
                        .send(parts, method, job.req.keep_alive())
                        .await
                }
            };
            in_flight.armed = false;
            drop(in_flight);
            if let Some((at, wall_ns)) = self.wall_anchor {
                // The send's wall-clock time, from one anchor pair taken at
                // start (the monotonic clock carries the rest).
                let sent_ns =
                    wall_ns + reply.started.saturating_duration_since(at).as_nanos() as u64;
                let delay = Duration::from_nanos(sent_ns.saturating_sub(job.wire_ns));
                self.recorder.record(Entry::MirrorDelay(self.target, delay));
            }
            self.recorder.record(Entry::Outcome(Outcome {
                target: self.target,
                intended: job.intended,
                sent: reply.started.saturating_duration_since(job.start),
                done: reply.done.saturating_duration_since(job.start),
                result: reply.result,
                bytes_sent: reply.bytes_sent,
                bytes_received: reply.bytes_received,
            }));
            if let Some(reason) = reply.tls_reason {
                self.recorder.record(Entry::TlsReason(self.target, reason));
            }
            if let (Some(cmp), Some(rec)) = (&self.compare, &job.recorded) {
                cmp.settle(self.target, rec, &reply, self.kept.as_mut(), &mut self.line);
            }
            if let Some((recording, tx, raw)) = self.record.as_mut() {
                let at = (self.target, self.slot);
                recording
                    .record(tx, at, (&job.req, parts), &reply, raw)
                    .await;
            }
            // The job (and its slot) is released only now.
            drop(job);
        }
    }
}
