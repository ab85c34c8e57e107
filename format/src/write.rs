//! Writing logs: records are gathered into a block in memory, and a block is
//! written with one `write_all` when it is full, when it is older than
//! [`WriterOptions::max_block_age`], and on close. A writer killed at any byte
//! leaves a file whose complete blocks all read back.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::index::IndexEntry;
use crate::model::{Exchange, FileHeader};
use crate::spec::*;

/// Where a [`Writer`] writes: any byte sink that can also be made durable.
pub trait Sink: Write {
    /// Makes everything written so far durable (fsync for files).
    fn sync(&mut self) -> io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl Sink for Vec<u8> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
}

/// How block payloads are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// As is.
    None,
    /// One zstd frame per block (the default). A block that does not shrink
    /// is stored as is.
    Zstd,
}

/// The zstd levels a [`Writer`] accepts: negative levels trade size for
/// speed, 1 is the default, higher levels compress harder and slower.
pub fn zstd_levels() -> std::ops::RangeInclusive<i32> {
    zstd::compression_level_range()
}

/// Tuning of a [`Writer`]. The defaults suit captures and tests alike.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Block payload codec.
    pub codec: Codec,
    /// zstd level (1 is fast and already shrinks HTTP traffic 5-10x).
    pub zstd_level: i32,
    /// Seal a block once its decoded payload reaches this many bytes.
    pub block_target: usize,
    /// Seal, write and sync a block once its first record is this old, and
    /// sync written blocks at least this often (checked every 64 appends and
    /// by [`Writer::flush_if_due`], which the owner calls from its loop).
    pub max_block_age: Duration,
    /// fsync on flush (turn off only for throwaway files and benchmarks).
    pub sync: bool,
    /// Write the footer index on [`Writer::finish`].
    pub index: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            codec: Codec::Zstd,
            zstd_level: 1,
            block_target: DEFAULT_BLOCK_TARGET,
            max_block_age: Duration::from_secs(1),
            sync: true,
            index: true,
        }
    }
}

/// Why writing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The sink failed (or, for [`Writer::create`], the file could not be
    /// created). Blocks written before the failure stay readable. Said as the
    /// operating system's reason alone: the caller names the file.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A single record larger than a block may be.
    #[error("exchange {id} encodes to {len} bytes, more than the {max}-byte block limit")]
    RecordTooLarge {
        /// Id of the exchange.
        id: u64,
        /// Its encoded size.
        len: usize,
        /// [`MAX_BLOCK_RAW_LEN`].
        max: u32,
    },
    /// Encoding failed (only for headers whose strings are too large).
    #[error("encoding failed")]
    Encode(#[from] postcard::Error),
    /// The file header is larger than [`MAX_FILE_HEADER_LEN`].
    #[error("file header of {0} bytes exceeds the limit")]
    HeaderTooLarge(usize),
    /// An earlier write failed; the writer refuses more to keep the file's
    /// complete blocks readable.
    #[error("the log writer stopped after an earlier error")]
    Poisoned,
}

/// Streams exchanges into a log with constant memory.
///
/// The writer does not assign ids: set [`Exchange::id`] unique within the
/// file.
pub struct Writer<W: Sink> {
    sink: Option<W>,
    opts: WriterOptions,
    /// Bytes written to the sink so far.
    offset: u64,
    /// Room for the block header, then the decoded payload of the open
    /// block: records are encoded straight into it, and with no compression
    /// the header is filled in place and the block leaves in one write.
    raw: Vec<u8>,
    /// Room for the block header, then the compressed payload (kept at its
    /// full length so it is zeroed once, not per block).
    packed: Vec<u8>,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    block: OpenBlock,
    index: Vec<IndexEntry>,
    exchanges: u64,
    last_sync: Instant,
    unsynced: bool,
    poisoned: bool,
    /// Appends since the clock was last read by `append`.
    since_clock: u32,
}

/// `append` reads the clock once per this many appends (and whenever it
/// seals a block); the owner's own `flush_if_due` calls keep the one-second
/// bound when appends pause.
const CLOCK_EVERY: u32 = 64;

#[derive(Default)]
struct OpenBlock {
    count: u32,
    first_id: u64,
    min_ts: u64,
    max_ts: u64,
    opened: Option<Instant>,
}

impl Writer<File> {
    /// Creates (or truncates) `path` with mode 0600 and writes the file header.
    pub fn create(
        path: &Path,
        header: &FileHeader,
        opts: WriterOptions,
    ) -> Result<Writer<File>, WriteError> {
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let file = o.open(path)?;
        // `mode` applies only when the file is created: an existing file is
        // narrowed to 0600 as well, since captures hold credentials.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        Writer::new(file, header, opts)
    }
}

impl<W: Sink> Writer<W> {
    /// Writes the file header to `sink` and returns a writer ready for
    /// exchanges.
    pub fn new(mut sink: W, header: &FileHeader, opts: WriterOptions) -> Result<Self, WriteError> {
        let body = postcard::to_allocvec(header)?;
        if body.len() > MAX_FILE_HEADER_LEN as usize {
            return Err(WriteError::HeaderTooLarge(body.len()));
        }
        let mut pre = Vec::with_capacity(PREAMBLE_LEN + body.len() + 4);
        pre.extend_from_slice(&FILE_MAGIC);
        pre.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        pre.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        pre.extend_from_slice(&(body.len() as u32).to_le_bytes());
        pre.extend_from_slice(&body);
        let crc = crc32c::crc32c(&pre[8..]);
        pre.extend_from_slice(&crc.to_le_bytes());
        sink.write_all(&pre)?;
        sink.flush()?;
        if opts.sync {
            sink.sync()?;
        }
        let compressor = match opts.codec {
            Codec::Zstd => Some(zstd::bulk::Compressor::new(opts.zstd_level)?),
            Codec::None => None,
        };
        Ok(Writer {
            sink: Some(sink),
            offset: pre.len() as u64,
            raw: {
                let mut raw = Vec::with_capacity(
                    BLOCK_HEADER_LEN + opts.block_target + opts.block_target / 4,
                );
                raw.resize(BLOCK_HEADER_LEN, 0);
                raw
            },
            packed: Vec::new(),
            compressor,
            opts,
            block: OpenBlock::default(),
            index: Vec::new(),
            exchanges: 0,
            last_sync: Instant::now(),
            unsynced: false,
            poisoned: false,
            since_clock: 0,
        })
    }

    /// Adds an exchange to the open block, writing the block when it is full
    /// or old enough.
    pub fn append(&mut self, ex: &Exchange) -> Result<(), WriteError> {
        if self.poisoned {
            return Err(WriteError::Poisoned);
        }
        let len = postcard::serialize_with_flavor(ex, postcard::ser_flavors::Size::default())?;
        let record_len = 1 + varint_len(len as u64) + len;
        if record_len > MAX_BLOCK_RAW_LEN as usize {
            return Err(WriteError::RecordTooLarge {
                id: ex.id,
                len: record_len,
                max: MAX_BLOCK_RAW_LEN,
            });
        }
        if self.payload_len() + record_len > MAX_BLOCK_RAW_LEN as usize {
            self.seal()?;
        }
        self.raw.reserve(record_len);
        self.raw.push(RECORD_EXCHANGE);
        push_varint(&mut self.raw, len as u64);
        let start = self.raw.len();
        postcard::serialize_with_flavor(ex, AppendTo(&mut self.raw))?;
        debug_assert_eq!(self.raw.len() - start, len, "serialized_size agrees");
        let b = &mut self.block;
        if b.count == 0 {
            b.first_id = ex.id;
            b.min_ts = ex.req_first_ns;
            b.max_ts = ex.req_first_ns;
            b.opened = Some(Instant::now());
        } else {
            b.min_ts = b.min_ts.min(ex.req_first_ns);
            b.max_ts = b.max_ts.max(ex.req_first_ns);
        }
        b.count += 1;
        self.exchanges += 1;
        if self.payload_len() >= self.opts.block_target {
            self.seal()?;
            self.since_clock = CLOCK_EVERY;
        }
        self.since_clock += 1;
        if self.since_clock >= CLOCK_EVERY {
            self.since_clock = 0;
            self.flush_if_due()?;
        }
        Ok(())
    }

    /// Writes the open block (if any) and makes everything written durable.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if self.poisoned {
            return Err(WriteError::Poisoned);
        }
        self.seal()?;
        if self.unsynced {
            let sink = self.sink.as_mut().ok_or(WriteError::Poisoned)?;
            let r = sink
                .flush()
                .and_then(|()| if self.opts.sync { sink.sync() } else { Ok(()) });
            if let Err(e) = r {
                self.poisoned = true;
                return Err(e.into());
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Flushes when the open block or the oldest unsynced write is older than
    /// `max_block_age`. Returns whether it flushed. Call it at least once per
    /// `max_block_age` from the owner's loop when appends may pause.
    pub fn flush_if_due(&mut self) -> Result<bool, WriteError> {
        let age = self.opts.max_block_age;
        let now = Instant::now();
        let block_due = self
            .block
            .opened
            .is_some_and(|t| now.saturating_duration_since(t) >= age);
        let sync_due = self.unsynced && now.saturating_duration_since(self.last_sync) >= age;
        if block_due || sync_due {
            self.flush()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Flushes, writes the footer index (unless disabled) and returns the sink.
    pub fn finish(mut self) -> Result<W, WriteError> {
        self.finish_in_place()?;
        self.sink.take().ok_or(WriteError::Poisoned)
    }

    /// Bytes written to the sink so far (the file size once flushed).
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Exchanges appended so far (including those in the open block).
    pub fn exchanges_written(&self) -> u64 {
        self.exchanges
    }

    /// Bytes appended but not yet written (the open block).
    pub fn pending_bytes(&self) -> usize {
        self.payload_len()
    }

    fn payload_len(&self) -> usize {
        self.raw.len() - BLOCK_HEADER_LEN
    }

    fn finish_in_place(&mut self) -> Result<(), WriteError> {
        self.flush()?;
        if self.opts.index {
            let mut section = Vec::with_capacity(
                INDEX_HEADER_LEN + self.index.len() * INDEX_ENTRY_LEN + TRAILER_LEN,
            );
            section.extend_from_slice(&INDEX_MAGIC);
            section.extend_from_slice(&(self.index.len() as u32).to_le_bytes());
            for e in &self.index {
                e.encode(&mut section);
            }
            let crc = crc32c::crc32c(&section);
            let len = section.len() as u32;
            section.extend_from_slice(&self.offset.to_le_bytes());
            section.extend_from_slice(&len.to_le_bytes());
            section.extend_from_slice(&crc.to_le_bytes());
            section.extend_from_slice(&TRAILER_MAGIC);
            self.write_out(&section)?;
            self.flush()?;
        }
        Ok(())
    }

    /// Encodes the open block and writes it (no sync).
    fn seal(&mut self) -> Result<(), WriteError> {
        if self.block.count == 0 {
            return Ok(());
        }
        let raw_len = self.payload_len();
        let mut stored_len = raw_len;
        let mut codec = CODEC_NONE;
        if let Some(c) = self.compressor.as_mut() {
            let need = BLOCK_HEADER_LEN + zstd::zstd_safe::compress_bound(raw_len);
            if self.packed.len() < need {
                self.packed.resize(need, 0);
            }
            let n = c.compress_to_buffer(
                &self.raw[BLOCK_HEADER_LEN..],
                &mut self.packed[BLOCK_HEADER_LEN..],
            )?;
            // A block that does not shrink is stored as is.
            if n < raw_len {
                codec = CODEC_ZSTD;
                stored_len = n;
            }
        }
        // The buffer that leaves: header room, then the stored payload.
        let mut out = if codec == CODEC_ZSTD {
            std::mem::take(&mut self.packed)
        } else {
            std::mem::take(&mut self.raw)
        };
        let len = BLOCK_HEADER_LEN + stored_len;
        let (hdr, stored) = out[..len].split_at_mut(BLOCK_HEADER_LEN);
        let b = &self.block;
        let mut h = &mut hdr[..];
        for field in [
            &BLOCK_MAGIC[..],
            &[codec, 0],
            &0u16.to_le_bytes(),
            &b.count.to_le_bytes(),
            &(raw_len as u32).to_le_bytes(),
            &(stored_len as u32).to_le_bytes(),
            &b.first_id.to_le_bytes(),
            &b.min_ts.to_le_bytes(),
            &b.max_ts.to_le_bytes(),
            &crc32c::crc32c(stored).to_le_bytes(),
        ] {
            let (dst, rest) = h.split_at_mut(field.len());
            dst.copy_from_slice(field);
            h = rest;
        }
        let hcrc = crc32c::crc32c(&hdr[..BLOCK_HEADER_CRC_COVERS]);
        hdr[BLOCK_HEADER_CRC_COVERS..].copy_from_slice(&hcrc.to_le_bytes());
        let entry = IndexEntry {
            offset: self.offset,
            first_id: b.first_id,
            min_ts_ns: b.min_ts,
            max_ts_ns: b.max_ts,
            record_count: b.count,
            block_count: 1,
        };
        let r = self.write_out(&out[..len]);
        if codec == CODEC_ZSTD {
            self.packed = out;
        } else {
            self.raw = out;
        }
        r?;
        self.push_index(entry);
        self.raw.truncate(BLOCK_HEADER_LEN);
        self.block = OpenBlock::default();
        Ok(())
    }

    fn write_out(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let sink = self.sink.as_mut().ok_or(WriteError::Poisoned)?;
        if let Err(e) = sink.write_all(bytes) {
            self.poisoned = true;
            return Err(e.into());
        }
        if !self.unsynced {
            self.last_sync = Instant::now();
        }
        self.unsynced = true;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn push_index(&mut self, entry: IndexEntry) {
        // Coarsen pairwise when full, so the index stays bounded.
        if self.index.len() == MAX_INDEX_ENTRIES {
            let old = std::mem::take(&mut self.index);
            self.index = old
                .chunks(2)
                .map(|pair| {
                    let mut e = pair[0];
                    if let Some(next) = pair.get(1) {
                        e.absorb(next);
                    }
                    e
                })
                .collect();
        }
        // Keep neighbouring runs the same width after coarsening.
        let width = self.index.first().map_or(1, |e| e.block_count);
        match self.index.last_mut() {
            Some(last) if last.block_count < width => last.absorb(&entry),
            _ => self.index.push(entry),
        }
    }
}

impl<W: Sink> Drop for Writer<W> {
    fn drop(&mut self) {
        if self.sink.is_some() && !self.poisoned {
            let _ = self.finish_in_place();
        }
    }
}

/// A postcard flavor that appends to a `Vec` with `extend_from_slice`.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }

    fn try_extend(&mut self, b: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(b);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

pub(crate) fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub(crate) fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
