//! Streaming input: one or more logs merged by request time.
//!
//! A log stores exchanges in completion order, so `req_first_ns` is nearly,
//! not strictly, sorted inside a file (a slow request is stored after faster
//! ones that started later). Each file goes through a **reorder window**: a
//! min-heap on `req_first_ns` that holds at most
//! [`InputOptions::reorder_max`] exchanges and releases its oldest exchange
//! as soon as the newest one read is [`InputOptions::reorder_window`] of
//! capture time ahead of it (or the heap is full, or the file ended). An
//! exchange that arrives later than the window can fix is released in file
//! order and counted in [`InputStats::out_of_order`]; the scheduler sends it
//! with the request before it. The files are then merged by timestamp (ties
//! in argument order, then file order).
//!
//! Memory is bounded by one block per file (the format's reader) plus the
//! window: responses are dropped as soon as an exchange is read (unless
//! [`InputOptions::keep_responses`], for `replay --compare`), so the window
//! holds `reorder_max` requests at most.
//!
//! A torn tail (the writer was killed mid-block) is a warning
//! ([`InputWarning::TornTail`]): everything before it is replayed. Any other
//! read error stops the input ([`InputError`]), unless
//! [`InputOptions::salvage`] skips damaged blocks; what they held is then
//! counted in an [`InputWarning::Salvaged`] at the end of the file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shadowtap_format::{End, Exchange, ReadError, ReadOptions, Reader, SalvageStats};

/// Bounds of the per-file reorder window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputOptions {
    /// Most exchanges held per file.
    pub reorder_max: usize,
    /// Capture time the window spans.
    pub reorder_window: Duration,
    /// Skip damaged blocks instead of stopping at the first one.
    pub salvage: bool,
    /// Keep each exchange's recorded response (`replay --compare`). Off,
    /// responses are dropped as soon as an exchange is read; on, the window
    /// holds up to `reorder_max` responses per file too.
    pub keep_responses: bool,
    /// Keep each exchange's recorded status (for `--include status:...`)
    /// when the response itself is not kept: the response's head and body
    /// are freed as soon as the exchange is read, its status stays.
    pub keep_status: bool,
}

impl Default for InputOptions {
    fn default() -> InputOptions {
        InputOptions {
            reorder_max: 4096,
            reorder_window: Duration::from_secs(10),
            salvage: false,
            keep_responses: false,
            keep_status: false,
        }
    }
}

/// A log that cannot be read. Its message is the path; the cause is its
/// [`source`](std::error::Error::source), said once by whoever prints the
/// chain (`{:#}` of anyhow).
#[derive(Debug, thiserror::Error)]
#[error("{}", path.display())]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: ReadError,
}

/// Something worth telling the user that does not stop the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputWarning {
    /// The file ends inside a block: the writer was stopped mid-write.
    TornTail {
        /// The file.
        path: PathBuf,
        /// Where the incomplete block starts.
        offset: u64,
        /// Bytes ignored.
        ignored_bytes: u64,
    },
    /// With [`InputOptions::salvage`], damaged blocks of the file were
    /// skipped.
    Salvaged {
        /// The file.
        path: PathBuf,
        /// What was skipped and lost.
        stats: SalvageStats,
    },
}

impl std::fmt::Display for InputWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputWarning::TornTail {
                path,
                offset,
                ignored_bytes,
            } => write!(
                f,
                "{}: torn tail at byte {offset} ({ignored_bytes} bytes ignored): the writer was stopped mid-block; everything before it is replayed",
                path.display()
            ),
            InputWarning::Salvaged { path, stats } => {
                write!(
                    f,
                    "{}: skipped {} damaged block(s): {} exchanges lost",
                    path.display(),
                    stats.bad_blocks,
                    stats.lost_exchanges
                )?;
                if stats.unknown_stretches > 0 {
                    write!(
                        f,
                        " plus {} stretch(es) of unknown size",
                        stats.unknown_stretches
                    )?;
                }
                write!(f, ", {} bytes skipped", stats.skipped_bytes)
            }
        }
    }
}

/// Counters of an input pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Exchanges read.
    pub read: u64,
    /// Exchanges released with a timestamp older than one released before
    /// (out of order by more than the reorder window).
    pub out_of_order: u64,
}

/// An exchange held by the window, ordered by time then file position.
struct Lookahead {
    ts: u64,
    seq: u64,
    /// Boxed: heap sifts then move 24 bytes, not a whole exchange.
    ex: Box<Exchange>,
}

impl PartialEq for Lookahead {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl Eq for Lookahead {}
impl PartialOrd for Lookahead {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Lookahead {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(other.ts, other.seq))
    }
}

/// One file behind its reorder window.
struct FileInput<R> {
    path: PathBuf,
    reader: Reader<R>,
    heap: BinaryHeap<Reverse<Lookahead>>,
    newest: u64,
    seq: u64,
    eof: bool,
    /// The next exchange released, peeked for the merge.
    next: Option<Exchange>,
}

impl<R: std::io::Read> FileInput<R> {
    /// The next exchange of this file in (windowed) time order.
    fn pull(
        &mut self,
        opts: &InputOptions,
        warnings: &mut Vec<InputWarning>,
    ) -> Result<Option<Exchange>, InputError> {
        let window = u64::try_from(opts.reorder_window.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let full = self.heap.len() >= opts.reorder_max.max(1);
            let ripe = self
                .heap
                .peek()
                .is_some_and(|Reverse(p)| self.newest.saturating_sub(p.ts) >= window);
            if self.eof || full || ripe {
                return Ok(self.heap.pop().map(|Reverse(p)| *p.ex));
            }
            match self.reader.next_exchange() {
                Ok(Some(mut ex)) => {
                    // Replay needs the captured response only to compare,
                    // and its status to filter on.
                    if !opts.keep_responses {
                        match ex.response.as_mut() {
                            Some(r) if opts.keep_status => {
                                r.head = Vec::new();
                                r.body = Vec::new();
                            }
                            _ => ex.response = None,
                        }
                    }
                    self.newest = self.newest.max(ex.req_first_ns);
                    self.seq += 1;
                    self.heap.push(Reverse(Lookahead {
                        ts: ex.req_first_ns,
                        seq: self.seq,
                        ex: Box::new(ex),
                    }));
                }
                Ok(None) => {
                    self.eof = true;
                    if let Some(End::TornTail {
                        offset,
                        ignored_bytes,
                    }) = self.reader.end()
                    {
                        warnings.push(InputWarning::TornTail {
                            path: self.path.clone(),
                            offset: *offset,
                            ignored_bytes: *ignored_bytes,
                        });
                    }
                    let salvaged = self.reader.salvage_stats();
                    if salvaged.bad_blocks > 0 {
                        warnings.push(InputWarning::Salvaged {
                            path: self.path.clone(),
                            stats: salvaged.clone(),
                        });
                    }
                }
                Err(source) => {
                    return Err(InputError {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
    }
}

/// Several logs merged by `req_first_ns`, read with bounded memory.
pub struct Input<R = BufReader<File>> {
    files: Vec<FileInput<R>>,
    opts: InputOptions,
    primed: bool,
    last_ts: u64,
    stats: InputStats,
    warnings: Vec<InputWarning>,
}

impl Input<BufReader<File>> {
    /// Opens every file (failing on the first that cannot be opened).
    pub fn open(paths: &[PathBuf], opts: InputOptions) -> Result<Self, InputError> {
        let readers = paths
            .iter()
            .map(|p| {
                Reader::open_with(
                    p,
                    ReadOptions {
                        salvage: opts.salvage,
                    },
                )
                .map(|r| (p.clone(), r))
                .map_err(|source| InputError {
                    path: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Input::from_readers(readers, opts))
    }
}

impl<R: std::io::Read> Input<R> {
    /// Merges already-open readers, each named by a path for messages.
    pub fn from_readers(readers: Vec<(PathBuf, Reader<R>)>, opts: InputOptions) -> Self {
        let files = readers
            .into_iter()
            .map(|(path, reader)| FileInput {
                path,
                reader,
                heap: BinaryHeap::new(),
                newest: 0,
                seq: 0,
                eof: false,
                next: None,
            })
            .collect();
        Input {
            files,
            opts,
            primed: false,
            last_ts: 0,
            stats: InputStats::default(),
            warnings: Vec::new(),
        }
    }

    /// The next exchange and the index of the file it came from.
    pub fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        if !self.primed {
            for f in &mut self.files {
                f.next = f.pull(&self.opts, &mut self.warnings)?;
            }
            self.primed = true;
        }
        let pick = self
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.next.as_ref().map(|ex| (ex.req_first_ns, i)))
            .min();
        let Some((_, i)) = pick else {
            return Ok(None);
        };
        let file = &mut self.files[i];
        let refill = file.pull(&self.opts, &mut self.warnings)?;
        let Some(ex) = std::mem::replace(&mut file.next, refill) else {
            return Ok(None);
        };
        self.stats.read += 1;
        if ex.req_first_ns < self.last_ts {
            self.stats.out_of_order += 1;
        } else {
            self.last_ts = ex.req_first_ns;
        }
        Ok(Some((i, ex)))
    }

    /// Counters so far.
    pub fn stats(&self) -> &InputStats {
        &self.stats
    }

    /// Warnings so far (drained).
    pub fn take_warnings(&mut self) -> Vec<InputWarning> {
        std::mem::take(&mut self.warnings)
    }

    /// The paths, in argument order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_format::{FileHeader, Writer, WriterOptions};

    fn ex(id: u64, ts_ms: u64) -> Exchange {
        let request = format!("GET /{id} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes();
        Exchange::new(
            id,
            id,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            ts_ms * 1_000_000,
            request,
        )
    }

    fn log(items: &[(u64, u64)]) -> Vec<u8> {
        let mut w =
            Writer::new(Vec::new(), &FileHeader::default(), WriterOptions::default()).unwrap();
        for &(id, ts) in items {
            w.append(&ex(id, ts)).unwrap();
        }
        w.finish().unwrap()
    }

    fn drain<R: std::io::Read>(input: &mut Input<R>) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        while let Some((f, e)) = input.next_exchange().unwrap() {
            out.push((f, e.id));
        }
        out
    }

    #[test]
    fn sorts_within_the_window_and_merges_files() {
        let a = log(&[(1, 0), (2, 30), (3, 10), (4, 20), (5, 40)]);
        let b = log(&[(10, 5), (11, 25), (12, 15)]);
        let readers = vec![
            (PathBuf::from("a"), Reader::new(&a[..]).unwrap()),
            (PathBuf::from("b"), Reader::new(&b[..]).unwrap()),
        ];
        let mut input = Input::from_readers(readers, InputOptions::default());
        let got = drain(&mut input);
        assert_eq!(
            got,
            [
                (0, 1),
                (1, 10),
                (0, 3),
                (1, 12),
                (0, 4),
                (1, 11),
                (0, 2),
                (0, 5)
            ]
        );
        assert_eq!(input.stats().out_of_order, 0);
        assert_eq!(input.stats().read, 8);
    }

    #[test]
    fn window_bound_is_respected_and_late_ones_counted() {
        // A window of 2 exchanges cannot sort an exchange 3 places late.
        let a = log(&[(1, 10), (2, 20), (3, 30), (4, 5), (5, 40)]);
        let opts = InputOptions {
            reorder_max: 2,
            reorder_window: Duration::from_secs(3600),
            salvage: false,
            keep_responses: false,
            keep_status: false,
        };
        let mut input = Input::from_readers(vec![("a".into(), Reader::new(&a[..]).unwrap())], opts);
        let got: Vec<u64> = drain(&mut input).into_iter().map(|(_, id)| id).collect();
        assert_eq!(got, [1, 2, 4, 3, 5]);
        assert_eq!(input.stats().out_of_order, 1);
    }

    #[test]
    fn time_window_releases_early() {
        // With a 15 ms window, exchange 1 (t=0) is released once t=20 is read.
        let a = log(&[(1, 0), (2, 20), (3, 5)]);
        let opts = InputOptions {
            reorder_max: 100,
            reorder_window: Duration::from_millis(15),
            salvage: false,
            keep_responses: false,
            keep_status: false,
        };
        let mut input = Input::from_readers(vec![("a".into(), Reader::new(&a[..]).unwrap())], opts);
        let got: Vec<u64> = drain(&mut input).into_iter().map(|(_, id)| id).collect();
        assert_eq!(got, [1, 3, 2]);
    }

    #[test]
    fn torn_tail_is_a_warning() {
        let items: Vec<(u64, u64)> = (0..50).map(|i| (i, i)).collect();
        let mut w =
            Writer::new(Vec::new(), &FileHeader::default(), WriterOptions::default()).unwrap();
        for &(id, ts) in &items[..25] {
            w.append(&ex(id, ts)).unwrap();
        }
        w.flush().unwrap();
        for &(id, ts) in &items[25..] {
            w.append(&ex(id, ts)).unwrap();
        }
        let mut bytes = w.finish().unwrap();
        // Cut into the footer/last block.
        bytes.truncate(bytes.len() - 10);
        let mut input = Input::from_readers(
            vec![("t".into(), Reader::new(&bytes[..]).unwrap())],
            InputOptions::default(),
        );
        let mut n = 0;
        loop {
            match input.next_exchange() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(n >= 25, "{n}");
        let warnings = input.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(matches!(warnings[0], InputWarning::TornTail { .. }));
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Input::open(
            &[PathBuf::from("/nonexistent/x.stlog")],
            InputOptions::default(),
        )
        .err()
        .unwrap();
        assert_eq!(err.path, PathBuf::from("/nonexistent/x.stlog"));
    }
}
