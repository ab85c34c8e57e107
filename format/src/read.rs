//! Reading logs, one block at a time.
//!
//! The reader distinguishes three endings: a clean end (with or without the
//! footer index), a **torn tail** (the writer was killed mid-block: a warning,
//! every complete block before it was read), and **corruption** (a checksum
//! or structure error before the end: an error naming the byte offset, or,
//! with [`ReadOptions::salvage`], skipped and counted).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::index::{decode_index_section, IndexEntry};
use crate::model::{Exchange, FileHeader};
use crate::spec::*;

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The source failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file does not start with [`FILE_MAGIC`].
    #[error("not a shadowtap log (.stlog): bad magic bytes")]
    NotStlog,
    /// The file has no bytes at all (a log is never empty: its writer puts
    /// the header down when it creates it).
    #[error("empty file: not a shadowtap log (.stlog)")]
    Empty,
    /// The file ends inside its header.
    #[error("truncated log: the file ends inside its {needed}-byte header")]
    TruncatedHeader {
        /// Bytes the header needs.
        needed: u64,
    },
    /// Written by a newer, incompatible version of the format.
    #[error(
        "log format version {major}.{minor} is newer than this reader supports ({supported}.x): upgrade shadowtap"
    )]
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
        /// Highest major version supported.
        supported: u16,
    },
    /// The file header's checksum or encoding is wrong.
    #[error("the log's file header is corrupt (checksum mismatch or bad encoding)")]
    HeaderCorrupt,
    /// Bytes where a block should start are not a block.
    #[error("corrupt log: no block at byte offset {offset} (bad block magic); --salvage skips damaged blocks")]
    BadBlockMagic {
        /// Where a block was expected.
        offset: u64,
    },
    /// A block header's checksum or fields are wrong.
    #[error("corrupt log: block header at byte offset {offset} is damaged ({reason}); --salvage skips damaged blocks")]
    BlockHeaderCorrupt {
        /// Offset of the block.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A block payload's CRC32C does not match.
    #[error("corrupt log: CRC mismatch in block at byte offset {offset} (stored {stored:#010x}, computed {computed:#010x}); --salvage skips damaged blocks")]
    BlockChecksum {
        /// Offset of the block.
        offset: u64,
        /// CRC in the header.
        stored: u32,
        /// CRC of the payload read.
        computed: u32,
    },
    /// A block whose checksum matched does not decode.
    #[error("corrupt log: block at byte offset {offset} does not decode ({reason}); --salvage skips damaged blocks")]
    BlockDecode {
        /// Offset of the block.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// The footer index is damaged.
    #[error("corrupt log: footer index at byte offset {offset} is damaged")]
    IndexCorrupt {
        /// Offset of the index.
        offset: u64,
    },
}

impl ReadError {
    /// True for errors that `--salvage` can skip (damage inside the block
    /// stream, as opposed to an unreadable file or header).
    pub fn is_block_damage(&self) -> bool {
        matches!(
            self,
            ReadError::BadBlockMagic { .. }
                | ReadError::BlockHeaderCorrupt { .. }
                | ReadError::BlockChecksum { .. }
                | ReadError::BlockDecode { .. }
                | ReadError::IndexCorrupt { .. }
        )
    }
}

/// How the stream of blocks ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte was accounted for.
    Clean {
        /// Whether the footer index was present (the writer closed cleanly).
        indexed: bool,
    },
    /// The reader reached the stop offset given to [`Reader::seek_block`].
    Stopped,
    /// The file ends inside a block or the index: the writer was stopped
    /// mid-write. Everything before `offset` was read.
    TornTail {
        /// Where the incomplete structure starts.
        offset: u64,
        /// Bytes ignored from there to the end.
        ignored_bytes: u64,
    },
}

/// What `--salvage` skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SalvageStats {
    /// Damaged blocks skipped.
    pub bad_blocks: u64,
    /// Exchanges in damaged blocks whose headers still told their count.
    pub lost_exchanges: u64,
    /// Damaged stretches whose exchange count is unknown (the block header
    /// itself was damaged).
    pub unknown_stretches: u64,
    /// Bytes skipped.
    pub skipped_bytes: u64,
}

/// Reader settings.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Skip damaged blocks (counting them in [`SalvageStats`]) instead of
    /// failing.
    pub salvage: bool,
}

/// A decoded block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// [`CODEC_NONE`] or [`CODEC_ZSTD`].
    pub codec: u8,
    /// Records in the block.
    pub record_count: u32,
    /// Decoded payload length.
    pub raw_len: u32,
    /// Stored payload length.
    pub stored_len: u32,
    /// Id of the first exchange.
    pub first_id: u64,
    /// Smallest `req_first_ns`.
    pub min_ts_ns: u64,
    /// Largest `req_first_ns`.
    pub max_ts_ns: u64,
    /// CRC32C of the stored payload.
    pub payload_crc: u32,
}

/// Reads a log with constant memory (one block at a time).
pub struct Reader<R> {
    src: R,
    /// Bytes read back by salvage scanning, consumed before `src`.
    pushback: Vec<u8>,
    /// File offset of the next byte `next_bytes` returns.
    offset: u64,
    header: FileHeader,
    version: (u16, u16),
    opts: ReadOptions,
    stored: Vec<u8>,
    raw: Vec<u8>,
    pos: usize,
    left_in_block: u32,
    block: Option<BlockInfo>,
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
    end: Option<End>,
    index: Option<Vec<IndexEntry>>,
    salvage: SalvageStats,
    stop: Option<u64>,
    /// An error was returned: the reader is done.
    failed: bool,
}

impl Reader<BufReader<File>> {
    /// Opens a log file.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Reader::new(BufReader::with_capacity(256 << 10, File::open(path)?))
    }

    /// Opens a log file with options.
    pub fn open_with(path: &Path, opts: ReadOptions) -> Result<Self, ReadError> {
        Reader::with_options(BufReader::with_capacity(256 << 10, File::open(path)?), opts)
    }
}

impl<R: Read> Reader<R> {
    /// Reads and checks the file header.
    pub fn new(src: R) -> Result<Self, ReadError> {
        Reader::with_options(src, ReadOptions::default())
    }

    /// Reads and checks the file header, with options.
    pub fn with_options(mut src: R, opts: ReadOptions) -> Result<Self, ReadError> {
        let (header, version, offset) = read_preamble(&mut src)?;
        Ok(Reader {
            src,
            pushback: Vec::new(),
            offset,
            header,
            version,
            opts,
            stored: Vec::new(),
            raw: Vec::new(),
            pos: 0,
            left_in_block: 0,
            block: None,
            decompressor: None,
            end: None,
            index: None,
            salvage: SalvageStats::default(),
            stop: None,
            failed: false,
        })
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// (major, minor) format version of the file.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// How the file ended; `None` until the last exchange was returned.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The footer index, once the reader reached it.
    pub fn index(&self) -> Option<&[IndexEntry]> {
        self.index.as_deref()
    }

    /// What salvage mode skipped so far.
    pub fn salvage_stats(&self) -> &SalvageStats {
        &self.salvage
    }

    /// The header of the block the last exchange came from.
    pub fn current_block(&self) -> Option<&BlockInfo> {
        self.block.as_ref()
    }

    /// Byte offset of the next block to be read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next exchange, or `None` at the end (see [`Reader::end`]).
    ///
    /// After an error the reader is done: later calls return `Ok(None)`,
    /// and [`Reader::end`] stays `None` (the end was never reached), so a
    /// damaged file is never reported as ending cleanly.
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, ReadError> {
        if self.failed {
            return Ok(None);
        }
        let next = self.read_next();
        self.failed = next.is_err();
        next
    }

    fn read_next(&mut self) -> Result<Option<Exchange>, ReadError> {
        loop {
            if self.left_in_block > 0 {
                match self.next_record() {
                    Ok(Some(ex)) => return Ok(Some(ex)),
                    Ok(None) => continue,
                    Err(e) => {
                        if !self.opts.salvage {
                            return Err(e);
                        }
                        self.salvage.bad_blocks += 1;
                        self.salvage.lost_exchanges += u64::from(self.left_in_block);
                        self.left_in_block = 0;
                        continue;
                    }
                }
            }
            if self.end.is_some() {
                return Ok(None);
            }
            self.load_block()?;
        }
    }

    /// Decodes the next record of the loaded block; `Ok(None)` for a record
    /// of a tag this version does not know (skipped).
    fn next_record(&mut self) -> Result<Option<Exchange>, ReadError> {
        let offset = self.block.map_or(0, |b| b.offset);
        let bad = |reason: &str| ReadError::BlockDecode {
            offset,
            reason: reason.to_string(),
        };
        let rest = &self.raw[self.pos..];
        let (&tag, rest) = rest
            .split_first()
            .ok_or_else(|| bad("fewer records than its header says"))?;
        let (len, n) = read_varint(rest).ok_or_else(|| bad("bad record length"))?;
        let body_start = 1 + n;
        let len = usize::try_from(len).map_err(|_| bad("bad record length"))?;
        if len > rest.len() - n {
            return Err(bad("record runs past the block"));
        }
        let body = &self.raw[self.pos + body_start..self.pos + body_start + len];
        self.pos += body_start + len;
        self.left_in_block -= 1;
        if self.left_in_block == 0 && self.pos != self.raw.len() {
            return Err(bad("trailing bytes after the last record"));
        }
        if tag != RECORD_EXCHANGE {
            return Ok(None);
        }
        let ex: Exchange = postcard::from_bytes(body).map_err(|e| bad(&e.to_string()))?;
        Ok(Some(ex))
    }

    /// Reads the next block (or the index, or the end) into `raw`.
    fn load_block(&mut self) -> Result<(), ReadError> {
        let offset = self.offset;
        if self.stop.is_some_and(|stop| offset >= stop) {
            self.end = Some(End::Stopped);
            return Ok(());
        }
        let mut hdr = [0u8; BLOCK_HEADER_LEN];
        let got = self.read_bytes(&mut hdr[..4])?;
        if got == 0 {
            self.end = Some(End::Clean { indexed: false });
            return Ok(());
        }
        if got < 4 {
            return self.torn(offset, got as u64);
        }
        if hdr[0..4] == INDEX_MAGIC {
            return self.load_index(offset);
        }
        if hdr[0..4] != BLOCK_MAGIC {
            return self.damaged(ReadError::BadBlockMagic { offset }, &hdr[..4]);
        }
        let got = self.read_bytes(&mut hdr[4..])?;
        if got < BLOCK_HEADER_LEN - 4 {
            return self.torn(offset, 4 + got as u64);
        }
        let info = match parse_block_header(&hdr, offset) {
            Ok(info) => info,
            Err(e) => return self.damaged(e, &hdr),
        };
        let mut stored = std::mem::take(&mut self.stored);
        let got = self.read_growing(&mut stored, info.stored_len as usize);
        self.stored = stored;
        let got = got?;
        if got < info.stored_len as usize {
            return self.torn(offset, (BLOCK_HEADER_LEN + got) as u64);
        }
        let computed = crc32c::crc32c(&self.stored);
        if computed != info.payload_crc {
            return self.skip_or_fail(
                ReadError::BlockChecksum {
                    offset,
                    stored: info.payload_crc,
                    computed,
                },
                info.record_count,
            );
        }
        if let Err(e) = self.decode_payload(&info) {
            return self.skip_or_fail(e, info.record_count);
        }
        self.block = Some(info);
        self.pos = 0;
        self.left_in_block = info.record_count;
        Ok(())
    }

    fn decode_payload(&mut self, info: &BlockInfo) -> Result<(), ReadError> {
        let bad = |reason: String| ReadError::BlockDecode {
            offset: info.offset,
            reason,
        };
        match info.codec {
            CODEC_NONE => {
                if info.raw_len != info.stored_len {
                    return Err(bad("stored and raw lengths differ".into()));
                }
                std::mem::swap(&mut self.raw, &mut self.stored);
            }
            CODEC_ZSTD => {
                if self.decompressor.is_none() {
                    self.decompressor = Some(zstd::bulk::Decompressor::new()?);
                }
                let d = self.decompressor.as_mut().expect("set above");
                self.raw.clear();
                self.raw.reserve(info.raw_len as usize);
                let n = d
                    .decompress_to_buffer(&self.stored, &mut self.raw)
                    .map_err(|e| bad(format!("zstd: {e}")))?;
                if n != info.raw_len as usize {
                    return Err(bad(format!(
                        "decompressed to {n} bytes, header says {}",
                        info.raw_len
                    )));
                }
            }
            other => return Err(bad(format!("unknown codec {other}"))),
        }
        Ok(())
    }

    fn load_index(&mut self, offset: u64) -> Result<(), ReadError> {
        match self.read_index_section(offset)? {
            IndexRead::Valid(entries) => {
                // Nothing may follow the trailer.
                let mut probe = [0u8; 1];
                if self.read_bytes(&mut probe)? != 0 {
                    return self.damaged(ReadError::IndexCorrupt { offset }, &probe);
                }
                self.index = Some(entries);
                self.end = Some(End::Clean { indexed: true });
                Ok(())
            }
            IndexRead::Torn(got) => self.torn(offset, got),
            IndexRead::Invalid(bytes) => self.damaged(ReadError::IndexCorrupt { offset }, &bytes),
        }
    }

    /// Reads an index section and trailer at `offset`, its magic already
    /// consumed. On `Invalid`, the bytes read (magic included) are returned
    /// so salvage can rescan them.
    fn read_index_section(&mut self, offset: u64) -> Result<IndexRead, ReadError> {
        let mut section = INDEX_MAGIC.to_vec();
        section.resize(INDEX_HEADER_LEN, 0);
        let got = self.read_bytes(&mut section[4..])?;
        if got < 4 {
            return Ok(IndexRead::Torn(4 + got as u64));
        }
        let n = u32::from_le_bytes(section[4..8].try_into().expect("4 bytes")) as usize;
        if n > MAX_INDEX_ENTRIES {
            return Ok(IndexRead::Invalid(section));
        }
        let len = INDEX_HEADER_LEN + n * INDEX_ENTRY_LEN;
        section.resize(len + TRAILER_LEN, 0);
        let got = self.read_bytes(&mut section[INDEX_HEADER_LEN..])?;
        if got < len + TRAILER_LEN - INDEX_HEADER_LEN {
            // A complete trailer at the end of what is there means the count
            // is damaged, not that the writer stopped mid-index.
            section.truncate(INDEX_HEADER_LEN + got);
            if section.len() >= INDEX_HEADER_LEN + TRAILER_LEN && section.ends_with(&TRAILER_MAGIC)
            {
                return Ok(IndexRead::Invalid(section));
            }
            return Ok(IndexRead::Torn((INDEX_HEADER_LEN + got) as u64));
        }
        let trailer = &section[len..];
        let t_off = u64::from_le_bytes(trailer[0..8].try_into().expect("8 bytes"));
        let t_len = u32::from_le_bytes(trailer[8..12].try_into().expect("4 bytes"));
        let t_crc = u32::from_le_bytes(trailer[12..16].try_into().expect("4 bytes"));
        let entries =
            (trailer[16..24] == TRAILER_MAGIC && t_off == offset && t_len as usize == len)
                .then(|| decode_index_section(&section[..len], t_crc))
                .flatten();
        Ok(match entries {
            Some(entries) => IndexRead::Valid(entries),
            None => IndexRead::Invalid(section),
        })
    }

    fn torn(&mut self, offset: u64, ignored_bytes: u64) -> Result<(), ReadError> {
        self.end = Some(End::TornTail {
            offset,
            ignored_bytes,
        });
        Ok(())
    }

    /// A block whose header was sound but whose payload is not: skip exactly
    /// that block in salvage mode.
    fn skip_or_fail(&mut self, err: ReadError, records: u32) -> Result<(), ReadError> {
        if !self.opts.salvage {
            return Err(err);
        }
        self.salvage.bad_blocks += 1;
        self.salvage.lost_exchanges += u64::from(records);
        Ok(())
    }

    /// Structure damage: fail, or in salvage mode scan forward for the next
    /// block or index whose header checks out. `consumed` are the bytes read
    /// at the damaged position (they are scanned too, from their second byte).
    fn damaged(&mut self, err: ReadError, consumed: &[u8]) -> Result<(), ReadError> {
        if !self.opts.salvage {
            return Err(err);
        }
        let start = self.offset - consumed.len() as u64;
        self.salvage.bad_blocks += 1;
        self.salvage.unknown_stretches += 1;
        if !consumed.is_empty() {
            self.unread(&consumed[1..]);
        }
        // Slide a window one byte at a time, skipping ahead to the next
        // magic; bounded by the file's length.
        let mut win = [0u8; BLOCK_HEADER_LEN];
        loop {
            self.skip_to_magic()?;
            let at = self.offset;
            let got = self.read_bytes(&mut win[..4])?;
            if got < 4 {
                self.salvage.skipped_bytes += self.offset - start;
                self.end = Some(End::Clean { indexed: false });
                return Ok(());
            }
            if win[0..4] == INDEX_MAGIC {
                // Only an index whose trailer checks out ends the scan.
                match self.read_index_section(at)? {
                    IndexRead::Valid(entries) => {
                        self.salvage.skipped_bytes += at - start;
                        self.index = Some(entries);
                        self.end = Some(End::Clean { indexed: true });
                        return Ok(());
                    }
                    IndexRead::Torn(got) => {
                        self.salvage.skipped_bytes += at - start;
                        return self.torn(at, got);
                    }
                    IndexRead::Invalid(bytes) => {
                        self.unread(&bytes[1..]);
                        continue;
                    }
                }
            }
            if win[0..4] == BLOCK_MAGIC {
                let got = self.read_bytes(&mut win[4..])?;
                if got == BLOCK_HEADER_LEN - 4 && parse_block_header(&win, at).is_ok() {
                    self.unread(&win);
                    self.offset = at;
                    self.salvage.skipped_bytes += at - start;
                    return Ok(());
                }
                let tail = win[1..4 + got].to_vec();
                self.unread(&tail);
                continue;
            }
            let tail = win[1..4].to_vec();
            self.unread(&tail);
        }
    }

    /// Consumes the bytes before the next block or index magic (or all but
    /// the last three, which cannot hold one, at the end of the stream), a
    /// chunk at a time: salvage then pays per damaged byte a comparison,
    /// not a read and a put-back.
    fn skip_to_magic(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            let got = self.read_bytes(&mut chunk)?;
            let hit = chunk[..got]
                .windows(4)
                .position(|w| w == BLOCK_MAGIC || w == INDEX_MAGIC);
            match hit {
                Some(i) => {
                    self.unread(&chunk[i..got]);
                    return Ok(());
                }
                None => {
                    self.unread(&chunk[got.saturating_sub(3)..got]);
                    if got < chunk.len() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Puts bytes back in front of the stream.
    fn unread(&mut self, bytes: &[u8]) {
        // A stack, last byte at the bottom: putting back and taking out cost
        // what they move, however much is already put back (salvage slides
        // through up to an index section's worth, a byte at a time).
        self.pushback.extend(bytes.iter().rev());
        self.offset -= bytes.len() as u64;
    }

    /// Reads `len` bytes into `buf` (or until the source ends; returns how
    /// many, `buf` holds just those). `buf` grows only as the bytes arrive,
    /// a chunk at a time beyond what it already holds: a length field says
    /// how much to expect, not how much is there, so a damaged or torn file
    /// never makes the reader allocate the largest block for a few bytes.
    fn read_growing(&mut self, buf: &mut Vec<u8>, len: usize) -> io::Result<usize> {
        const CHUNK: usize = 1 << 20;
        let mut filled = 0;
        while filled < len {
            let end = if buf.len() > filled {
                buf.len().min(len)
            } else {
                filled.saturating_add(CHUNK).min(len)
            };
            if buf.len() < end {
                buf.resize(end, 0);
            }
            let got = self.read_bytes(&mut buf[filled..end])?;
            filled += got;
            if filled < end {
                break;
            }
        }
        buf.truncate(filled);
        Ok(filled)
    }

    /// Reads until `buf` is full or the source ends; returns bytes read.
    fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if !self.pushback.is_empty() {
            n = self.pushback.len().min(buf.len());
            let rest = self.pushback.len() - n;
            for (to, from) in buf[..n].iter_mut().zip(self.pushback[rest..].iter().rev()) {
                *to = *from;
            }
            self.pushback.truncate(rest);
        }
        n += read_full(&mut self.src, &mut buf[n..])?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Reader<R> {
    /// Continues reading at the block that starts at byte `offset` (an
    /// [`IndexEntry::offset`]), up to the block that starts at `stop`
    /// (exclusive; `None` for the end of the file). This is how a file is
    /// read by shards or from a point in time.
    pub fn seek_block(&mut self, offset: u64, stop: Option<u64>) -> Result<(), ReadError> {
        self.src.seek(SeekFrom::Start(offset))?;
        self.pushback.clear();
        self.offset = offset;
        self.left_in_block = 0;
        self.pos = 0;
        self.block = None;
        self.end = None;
        self.stop = stop;
        self.failed = false;
        Ok(())
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Exchange, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_exchange() {
            Ok(Some(ex)) => Some(Ok(ex)),
            Ok(None) => None,
            // The reader stops after an error, so `for` loops terminate.
            Err(e) => Some(Err(e)),
        }
    }
}

enum IndexRead {
    Valid(Vec<IndexEntry>),
    Torn(u64),
    Invalid(Vec<u8>),
}

/// Reads magic, version and file header. Returns the header, the version and
/// the offset of the first block.
pub(crate) fn read_preamble<R: Read>(
    r: &mut R,
) -> Result<(FileHeader, (u16, u16), u64), ReadError> {
    let mut pre = [0u8; PREAMBLE_LEN];
    let got = read_full(r, &mut pre)?;
    if got == 0 {
        return Err(ReadError::Empty);
    }
    if got < FILE_MAGIC.len() || pre[..8] != FILE_MAGIC {
        if got < FILE_MAGIC.len() && FILE_MAGIC.starts_with(&pre[..got]) {
            return Err(ReadError::TruncatedHeader {
                needed: PREAMBLE_LEN as u64,
            });
        }
        return Err(ReadError::NotStlog);
    }
    if got < PREAMBLE_LEN {
        return Err(ReadError::TruncatedHeader {
            needed: PREAMBLE_LEN as u64,
        });
    }
    let major = u16::from_le_bytes([pre[8], pre[9]]);
    let minor = u16::from_le_bytes([pre[10], pre[11]]);
    let len = u32::from_le_bytes(pre[12..16].try_into().expect("4 bytes"));
    if major > VERSION_MAJOR || major == 0 {
        // The header length field may mean something else in that version.
        return Err(ReadError::UnsupportedVersion {
            major,
            minor,
            supported: VERSION_MAJOR,
        });
    }
    if len > MAX_FILE_HEADER_LEN {
        return Err(ReadError::HeaderCorrupt);
    }
    let mut body = vec![0u8; len as usize + 4];
    let got = read_full(r, &mut body)?;
    let needed = (PREAMBLE_LEN + body.len()) as u64;
    if got < body.len() {
        return Err(ReadError::TruncatedHeader { needed });
    }
    let (body, crc) = body.split_at(len as usize);
    let mut h = crc32c::crc32c(&pre[8..]);
    h = crc32c::crc32c_append(h, body);
    if h.to_le_bytes() != crc {
        return Err(ReadError::HeaderCorrupt);
    }
    let header: FileHeader = postcard::from_bytes(body).map_err(|_| ReadError::HeaderCorrupt)?;
    Ok((header, (major, minor), needed))
}

/// Decodes and checks a block header read at `offset`.
pub(crate) fn parse_block_header(
    h: &[u8; BLOCK_HEADER_LEN],
    offset: u64,
) -> Result<BlockInfo, ReadError> {
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
    let bad = |reason| ReadError::BlockHeaderCorrupt { offset, reason };
    if crc32c::crc32c(&h[..BLOCK_HEADER_CRC_COVERS]) != u32_at(48) {
        return Err(bad("header checksum mismatch"));
    }
    let info = BlockInfo {
        offset,
        codec: h[4],
        record_count: u32_at(8),
        raw_len: u32_at(12),
        stored_len: u32_at(16),
        first_id: u64_at(20),
        min_ts_ns: u64_at(28),
        max_ts_ns: u64_at(36),
        payload_crc: u32_at(44),
    };
    if info.raw_len > MAX_BLOCK_RAW_LEN || info.stored_len > MAX_BLOCK_RAW_LEN {
        return Err(bad("block larger than the format allows"));
    }
    if info.record_count == 0 {
        return Err(bad("block without records"));
    }
    Ok(info)
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decodes an unsigned LEB128 varint of at most 10 bytes.
fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}
