//! The one log sink: what every recorder of exchanges shares (`capture`,
//! `tee --record`, `serve --record`).
//!
//! A [`LogSink`] owns the `.stlog` files of one recording: it numbers the
//! exchanges (or keeps the ids they carry), opens the files (mode 0600, by
//! [`Writer::create`]), rotates them by size or age, stops at a number of
//! exchanges, flushes when the writer's flush interval is due, and finishes
//! every file it opened, leaving one valid (empty) log behind when nothing
//! arrived. It is synchronous and reads the wall clock only for the file
//! header's creation time; rotation by age and rotated names follow the clock
//! its caller passes in (a capture's packet time).
//!
//! Rotated files are named `STEM-YYYYMMDDTHHMMSS.mmmZ-NNNNN.EXT` (UTC, so the
//! names sort by time, then by sequence number) after [`SinkOptions::output`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Exchange, FileHeader, WriteError, Writer, WriterOptions};

/// How a [`LogSink`] records.
#[derive(Clone, Debug, Default)]
pub struct SinkOptions {
    /// The log to write; with rotation, the pattern of the rotated names.
    /// `None` writes nothing: exchanges are only counted.
    pub output: Option<PathBuf>,
    /// Start a new file once the current one reaches about this size.
    pub rotate_size: Option<u64>,
    /// Start a new file once the current one is this old (caller's clock).
    pub rotate_every: Option<Duration>,
    /// Take no more exchanges once this many were written.
    pub max_exchanges: Option<u64>,
    /// Number the exchanges 1, 2, ... in the order they arrive; otherwise
    /// they keep the ids they carry.
    pub number: bool,
    /// How each file is written (codec, zstd level, block size, sync).
    pub writer: WriterOptions,
}

/// A log file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct SinkError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    #[source]
    pub source: WriteError,
}

/// What a finished [`LogSink`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Exchanges written (counted, when there is no output).
    pub written: u64,
    /// Bytes written to the files (their sizes once finished).
    pub bytes: u64,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
}

/// The file being written.
struct Current {
    writer: Writer<std::fs::File>,
    path: PathBuf,
    /// The caller's clock when it was opened (rotation by age).
    opened_ns: u64,
}

/// Writes exchanges to `.stlog` files: see the [module](self) docs.
pub struct LogSink {
    opts: SinkOptions,
    header: FileHeader,
    current: Option<Current>,
    /// Sequence number of the last file opened.
    seq: u32,
    files: Vec<PathBuf>,
    next_id: u64,
    written: u64,
    closed_bytes: u64,
    /// A write failed: nothing more is written.
    failed: bool,
    warnings: Vec<String>,
}

impl LogSink {
    /// A sink writing files with `header` (its `created_ns` is set as each
    /// file is opened). No file is opened yet: see [`LogSink::start`].
    pub fn new(opts: SinkOptions, header: FileHeader) -> LogSink {
        LogSink {
            opts,
            header,
            current: None,
            seq: 0,
            files: Vec::new(),
            next_id: 1,
            written: 0,
            closed_bytes: 0,
            failed: false,
            warnings: Vec::new(),
        }
    }

    /// Whether the files rotate (by size or age).
    pub fn rotates(&self) -> bool {
        self.opts.rotate_size.is_some() || self.opts.rotate_every.is_some()
    }

    /// Opens the log at once when it is a single file, so that it exists
    /// (and a path that cannot be written fails) before anything arrives.
    /// Rotated files are opened as exchanges come.
    pub fn start(&mut self) -> Result<(), SinkError> {
        if self.rotates() || self.current.is_some() {
            return Ok(());
        }
        self.open(0)
    }

    /// Whether [`SinkOptions::max_exchanges`] were written.
    pub fn limit_reached(&self) -> bool {
        self.opts.max_exchanges.is_some_and(|l| self.written >= l)
    }

    /// Exchanges written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes written so far (closed files by their size).
    pub fn bytes_written(&self) -> u64 {
        self.closed_bytes
            + self
                .current
                .as_ref()
                .map_or(0, |c| c.writer.bytes_written())
    }

    /// The files opened so far, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Problems that skipped an exchange without stopping the recording (a
    /// record too large for one block), taken.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Records `ex`, `now_ns` being the caller's clock (0: the wall clock).
    /// Nothing is written once the limit is reached or a write failed; the
    /// failing call returns the error.
    pub fn append(&mut self, mut ex: Exchange, now_ns: u64) -> Result<(), SinkError> {
        if self.opts.number {
            ex.id = self.next_id;
            self.next_id += 1;
        }
        if self.opts.output.is_none() {
            // No log: count, so a limit still stops the caller.
            self.written += 1;
            return Ok(());
        }
        if self.failed || self.limit_reached() {
            return Ok(());
        }
        if let (Some(every), Some(c)) = (self.opts.rotate_every, &self.current) {
            if now_ns.saturating_sub(c.opened_ns) >= saturating_ns(every) {
                self.close_current()?;
            }
        }
        if self.current.is_none() {
            self.open(now_ns)?;
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        match c.writer.append(&ex) {
            Ok(()) => self.written += 1,
            Err(WriteError::RecordTooLarge { id, len, max }) => {
                self.warnings.push(format!(
                    "exchange {id} skipped: {len} bytes encoded, more than the {max}-byte limit"
                ));
            }
            Err(source) => {
                let path = c.path.clone();
                return Err(self.fail(path, source));
            }
        }
        if let Some(size) = self.opts.rotate_size {
            if c.writer.bytes_written() + c.writer.pending_bytes() as u64 >= size {
                self.close_current()?;
            }
        }
        Ok(())
    }

    /// Flushes the open block if the writer's flush interval is due.
    pub fn flush_if_due(&mut self) -> Result<(), SinkError> {
        if self.failed {
            return Ok(());
        }
        let Some(c) = self.current.as_mut() else {
            return Ok(());
        };
        match c.writer.flush_if_due() {
            Ok(_) => Ok(()),
            Err(source) => {
                let path = c.path.clone();
                Err(self.fail(path, source))
            }
        }
    }

    /// Finishes the open file (index, footer). With an output and no file
    /// ever opened, first opens one at `now_ns` (0: the wall clock), so one
    /// valid, empty log is left behind.
    pub fn finish(mut self, now_ns: u64) -> Result<SinkSummary, SinkError> {
        if self.opts.output.is_some() && self.files.is_empty() && !self.failed {
            self.open(now_ns)?;
        }
        self.close_current()?;
        Ok(SinkSummary {
            written: self.written,
            bytes: self.closed_bytes,
            files: std::mem::take(&mut self.files),
        })
    }

    fn fail(&mut self, path: PathBuf, source: WriteError) -> SinkError {
        self.failed = true;
        SinkError { path, source }
    }

    fn open(&mut self, now_ns: u64) -> Result<(), SinkError> {
        let Some(output) = self.opts.output.clone() else {
            return Ok(());
        };
        let ts = if now_ns == 0 { wall_ns() } else { now_ns };
        self.seq += 1;
        let path = if self.rotates() {
            rotated_name(&output, ts, self.seq)
        } else {
            output
        };
        self.header.created_ns = wall_ns();
        match Writer::create(&path, &self.header, self.opts.writer.clone()) {
            Ok(writer) => {
                self.files.push(path.clone());
                self.current = Some(Current {
                    writer,
                    path,
                    opened_ns: ts,
                });
                Ok(())
            }
            Err(source) => Err(self.fail(path, source)),
        }
    }

    fn close_current(&mut self) -> Result<(), SinkError> {
        let Some(c) = self.current.take() else {
            return Ok(());
        };
        let bytes = c.writer.bytes_written();
        let result = c.writer.finish();
        // What finish added (index, last block) is not counted exactly; the
        // file size is.
        let size = std::fs::metadata(&c.path).map_or(bytes, |m| m.len());
        self.closed_bytes += size;
        match result {
            Ok(_) => Ok(()),
            Err(source) => Err(self.fail(c.path, source)),
        }
    }
}

fn saturating_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, saturating_ns)
}

/// The name of rotated file number `seq`, opened at `ts_ns`.
fn rotated_name(output: &Path, ts_ns: u64, seq: u32) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
    let ext = output
        .extension()
        .map_or_else(|| "stlog".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}-{}-{seq:05}.{ext}", utc_stamp(ts_ns)))
}

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC, for file names that sort by time: RFC 3339
/// (humantime's) without its separators, which are no friends of file names.
pub fn utc_stamp(ts_ns: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ts_ns);
    humantime::format_rfc3339_millis(t)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_and_are_right() {
        assert_eq!(utc_stamp(0), "19700101T000000.000Z");
        assert_eq!(utc_stamp(1_700_000_000_123_000_000), "20231114T221320.123Z");
        assert_eq!(utc_stamp(951_782_400_000_000_000), "20000229T000000.000Z");
        assert!(utc_stamp(1_700_000_000_000_000_000) < utc_stamp(1_700_000_001_000_000_000));
        // The latest time a u64 of nanoseconds holds still has a stamp.
        assert_eq!(utc_stamp(u64::MAX).len(), 20);
    }

    fn ex(id: u64) -> Exchange {
        Exchange::new(
            id,
            1,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            10,
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        )
    }

    fn read_ids(path: &Path) -> Vec<u64> {
        let mut r = crate::Reader::new(std::fs::File::open(path).unwrap()).unwrap();
        let mut ids = Vec::new();
        while let Some(e) = r.next_exchange().unwrap() {
            ids.push(e.id);
        }
        ids
    }

    #[test]
    fn numbers_in_arrival_order_and_finishes_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.stlog");
        let opts = SinkOptions {
            output: Some(out.clone()),
            number: true,
            ..SinkOptions::default()
        };
        let mut s = LogSink::new(opts, FileHeader::default());
        s.start().unwrap();
        assert!(out.exists(), "a single file exists from the start");
        for id in [7, 3, 9] {
            s.append(ex(id), 0).unwrap();
        }
        let sum = s.finish(0).unwrap();
        assert_eq!(sum.written, 3);
        assert_eq!(sum.files, vec![out.clone()]);
        assert_eq!(sum.bytes, std::fs::metadata(&out).unwrap().len());
        assert_eq!(read_ids(&out), [1, 2, 3]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn rotates_by_age_on_the_callers_clock_and_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SinkOptions {
            output: Some(dir.path().join("cap.stlog")),
            rotate_every: Some(Duration::from_secs(1)),
            max_exchanges: Some(3),
            ..SinkOptions::default()
        };
        let mut s = LogSink::new(opts, FileHeader::default());
        s.start().unwrap();
        assert!(s.files().is_empty(), "rotated files open as exchanges come");
        let sec = 1_000_000_000;
        for (id, t) in [(1, 1_700_000_000 * sec), (2, 1_700_000_000 * sec + 1)] {
            s.append(ex(id), t).unwrap();
        }
        s.append(ex(3), 1_700_000_001 * sec).unwrap();
        assert!(s.limit_reached());
        s.append(ex(4), 1_700_000_001 * sec).unwrap();
        let sum = s.finish(0).unwrap();
        assert_eq!(sum.written, 3);
        let names: Vec<String> = sum
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "cap-20231114T221320.000Z-00001.stlog",
                "cap-20231114T221321.000Z-00002.stlog"
            ]
        );
        assert_eq!(read_ids(&sum.files[0]), [1, 2]);
        assert_eq!(read_ids(&sum.files[1]), [3]);
    }

    #[test]
    fn without_output_it_only_counts() {
        let opts = SinkOptions {
            max_exchanges: Some(1),
            ..SinkOptions::default()
        };
        let mut s = LogSink::new(opts, FileHeader::default());
        s.start().unwrap();
        s.append(ex(1), 0).unwrap();
        assert!(s.limit_reached());
        let sum = s.finish(0).unwrap();
        assert_eq!((sum.written, sum.bytes), (1, 0));
        assert!(sum.files.is_empty());
    }

    #[test]
    fn an_unwritable_path_fails_once_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("missing").join("x.stlog");
        let opts = SinkOptions {
            output: Some(out.clone()),
            ..SinkOptions::default()
        };
        let mut s = LogSink::new(opts, FileHeader::default());
        let err = s.start().unwrap_err();
        assert_eq!(err.path, out);
        assert!(s.append(ex(1), 0).is_ok(), "nothing more after a failure");
        assert_eq!(s.written(), 0);
    }
}
