//! The recorder of `serve --record`: one thread owning the format crate's
//! [`LogSink`] (ids in arrival order, flush when due, finish), fed by the
//! connections over a bounded channel, so a slow disk slows the server
//! instead of growing memory.

use std::sync::Arc;
use std::time::Duration;

use shadowtap_format::{Exchange, LogSink, SinkError};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::ServeError;

/// Exchanges waiting for the recorder.
const RECORD_QUEUE: usize = 1024;
/// Request and response bytes waiting for the recorder, at most (one
/// exchange larger than this still passes, alone).
const RECORD_QUEUE_BYTES: usize = 64 << 20;

/// How often the recorder looks whether the log is due for a flush.
const RECORD_FLUSH_TICK: Duration = Duration::from_millis(500);

/// An exchange on its way to the recorder, holding its place in the queue
/// and its share of the byte budget until it is written.
struct Queued {
    ex: Exchange,
    _slot: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

/// The sending side of the recorder: the channel, its slots and the byte
/// budget. Connections wait (asynchronously) for a slot and for bytes; a
/// sender holding both never blocks on the channel, which has a slot for
/// every permit.
#[derive(Clone)]
pub(super) struct RecordTx {
    tx: std::sync::mpsc::SyncSender<Queued>,
    slots: Arc<Semaphore>,
    budget: Arc<Semaphore>,
}

impl RecordTx {
    /// Hands `ex` to the recorder, once there is a slot and room in the
    /// byte budget for it. The recorder only goes away after every
    /// connection ended, or after a write error (then recording has stopped
    /// anyway): the exchange is then dropped.
    pub(super) async fn send(&self, ex: Exchange) {
        let size = ex.request.len()
            + ex.response
                .as_ref()
                .map_or(0, |r| r.head.len() + r.body.len());
        let permits = u32::try_from(size.clamp(1, RECORD_QUEUE_BYTES)).unwrap_or(u32::MAX);
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let Ok(bytes) = self.budget.clone().acquire_many_owned(permits).await else {
            return;
        };
        let _ = self.tx.send(Queued {
            ex,
            _slot: slot,
            _bytes: bytes,
        });
    }
}

/// The thread that owns the log: the format crate's [`LogSink`] (ids,
/// flush, finish), fed by the connections over a bounded channel.
pub(super) struct Recorder {
    pub(super) tx: RecordTx,
    thread: std::thread::JoinHandle<Result<u64, SinkError>>,
}

impl Recorder {
    pub(super) fn start(sink: LogSink, stop: watch::Sender<bool>) -> Result<Recorder, ServeError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Queued>(RECORD_QUEUE);
        let tx = RecordTx {
            tx,
            slots: Arc::new(Semaphore::new(RECORD_QUEUE)),
            budget: Arc::new(Semaphore::new(RECORD_QUEUE_BYTES)),
        };
        let thread = std::thread::Builder::new()
            .name("shadowtap-record".to_owned())
            .spawn(move || record(sink, &rx, &stop))
            .map_err(ServeError::Runtime)?;
        Ok(Recorder { tx, thread })
    }

    pub(super) async fn finish(self) -> Result<u64, ServeError> {
        drop(self.tx);
        let thread = self.thread;
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(n))) => Ok(n),
            Ok(Ok(Err(e))) => Err(ServeError::Record(e.source)),
            _ => Err(ServeError::Runtime(std::io::Error::other(
                "the recorder thread ended unexpectedly",
            ))),
        }
    }
}

/// The recorder thread: appends what arrives, flushes when due (looking
/// every [`RECORD_FLUSH_TICK`]), and finishes the log once every sender is
/// gone. The first write error stops the server and ends the recording.
fn record(
    mut sink: LogSink,
    rx: &std::sync::mpsc::Receiver<Queued>,
    stop: &watch::Sender<bool>,
) -> Result<u64, SinkError> {
    use std::sync::mpsc::RecvTimeoutError;
    let mut failed: Option<SinkError> = None;
    let mut next_flush = std::time::Instant::now() + RECORD_FLUSH_TICK;
    loop {
        let wait = next_flush.saturating_duration_since(std::time::Instant::now());
        let result = match rx.recv_timeout(wait) {
            Ok(q) if failed.is_none() => sink.append(q.ex, 0),
            Ok(_) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let result = result.and_then(|()| {
            if std::time::Instant::now() < next_flush || failed.is_some() {
                return Ok(());
            }
            next_flush = std::time::Instant::now() + RECORD_FLUSH_TICK;
            sink.flush_if_due()
        });
        if let Err(e) = result {
            failed.get_or_insert(e);
            let _ = stop.send(true);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    sink.finish(0).map(|s| s.written)
}
