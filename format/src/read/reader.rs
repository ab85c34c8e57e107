//! Decoding: the preamble checked, then blocks loaded, checked and decoded
//! record by record, the footer index read at the end.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::index::{decode_index_section, IndexEntry};
use crate::model::{decode_exchange, Exchange, FileHeader};
use crate::spec::*;

use super::wire::{parse_block_header, read_preamble, read_varint};
use super::{BlockInfo, End, ReadError, ReadOptions, Reader, SalvageStats};

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

    pub(super) fn read_next(&mut self) -> Result<Option<Exchange>, ReadError> {
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
    pub(super) fn next_record(&mut self) -> Result<Option<Exchange>, ReadError> {
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
        let ex = decode_exchange(body, self.version.1).map_err(|e| bad(&e.to_string()))?;
        Ok(Some(ex))
    }

    /// Reads the next block (or the index, or the end) into `raw`.
    pub(super) fn load_block(&mut self) -> Result<(), ReadError> {
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

    pub(super) fn decode_payload(&mut self, info: &BlockInfo) -> Result<(), ReadError> {
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

    pub(super) fn load_index(&mut self, offset: u64) -> Result<(), ReadError> {
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
    pub(super) fn read_index_section(&mut self, offset: u64) -> Result<IndexRead, ReadError> {
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

    pub(super) fn torn(&mut self, offset: u64, ignored_bytes: u64) -> Result<(), ReadError> {
        self.end = Some(End::TornTail {
            offset,
            ignored_bytes,
        });
        Ok(())
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

pub(super) enum IndexRead {
    Valid(Vec<IndexEntry>),
    Torn(u64),
    Invalid(Vec<u8>),
}
