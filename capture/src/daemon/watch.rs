//! A view of a running capture from another thread (a progress line): how
//! far into its file an import has read, and the counters the capture loop
//! already publishes for `--metrics`.
//!
//! Nothing here runs on the capture thread per packet. The counters are the
//! [`Metrics`] the loop stores at every housekeeping step (every 100 ms of
//! reading); the position is the file offset of the descriptor libpcap
//! reads through, asked of the kernel (`lseek(fd, 0, SEEK_CUR)`) by the
//! watcher itself, on a duplicate of that descriptor so it can never name
//! another file once libpcap closed its own. libpcap reads a file through
//! stdio, so the kernel's offset runs ahead of the packets handed over by
//! at most one stdio buffer (a few KiB): close enough for a progress line,
//! exact at the end.

use std::os::fd::{AsRawFd as _, OwnedFd};
use std::sync::{Arc, OnceLock};

use crate::metrics::Metrics;

/// Where a capture's watcher looks; cheap to clone. Put one in
/// [`CaptureConfig::watch`](super::CaptureConfig::watch) and read it from
/// any thread while the capture runs.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    inner: Arc<Attached>,
}

#[derive(Debug, Default)]
struct Attached {
    metrics: OnceLock<Arc<Metrics>>,
    file: OnceLock<FilePosition>,
}

/// What a [`Watch`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchSnapshot {
    /// Frames read so far.
    pub packets: u64,
    /// Exchanges written to the log so far.
    pub exchanges_written: u64,
    /// Bytes of the file read so far, when the source is a file whose
    /// offset the kernel can tell.
    pub bytes_read: Option<u64>,
    /// The file's size when it was opened (0 for a live capture).
    pub file_size: u64,
}

impl Watch {
    /// A watch attached to nothing yet: the capture attaches it once its
    /// source is open.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Whether the capture attached it (its source is open).
    pub fn attached(&self) -> bool {
        self.inner.metrics.get().is_some()
    }

    /// The counters now, or `None` before the capture attached it.
    pub fn snapshot(&self) -> Option<WatchSnapshot> {
        let metrics = self.inner.metrics.get()?;
        let file = self.inner.file.get();
        Some(WatchSnapshot {
            packets: metrics.packets(),
            exchanges_written: metrics.exchanges_written(),
            bytes_read: file.and_then(FilePosition::offset),
            file_size: file.map_or(0, |f| f.size),
        })
    }

    /// Called by the capture once its source is open (the first call wins).
    pub(super) fn attach(&self, metrics: Arc<Metrics>, file: Option<FilePosition>) {
        if let Some(f) = file {
            let _ = self.inner.file.set(f);
        }
        let _ = self.inner.metrics.set(metrics);
    }
}

/// The read position of an opened file: a duplicate of its descriptor.
#[derive(Debug)]
pub(super) struct FilePosition {
    fd: OwnedFd,
    size: u64,
}

impl FilePosition {
    /// `fd` duplicated (the caller keeps its own), with the file's size.
    pub(super) fn of(fd: std::os::fd::BorrowedFd<'_>) -> Option<FilePosition> {
        let fd = fd.try_clone_to_owned().ok()?;
        let size = std::fs::File::from(fd.try_clone().ok()?)
            .metadata()
            .ok()?
            .len();
        Some(FilePosition { fd, size })
    }

    /// The kernel's offset of the file now; `None` if it cannot tell (a
    /// pipe).
    fn offset(&self) -> Option<u64> {
        // SAFETY: lseek on a descriptor this value owns; SEEK_CUR with 0
        // only reads the offset.
        let off = unsafe { libc::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_CUR) };
        u64::try_from(off).ok()
    }
}
