//! The footer index: where each run of blocks starts and what time range and
//! exchanges it holds, so readers can seek by time and split a file into
//! shards without decoding it.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use crate::read::{parse_block_header, read_full, ReadError};
use crate::spec::*;

/// One entry of the index: a run of `block_count` consecutive blocks starting
/// at byte `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Byte offset of the first block of the run.
    pub offset: u64,
    /// Id of the first exchange of the run.
    pub first_id: u64,
    /// Smallest `req_first_ns` in the run.
    pub min_ts_ns: u64,
    /// Largest `req_first_ns` in the run.
    pub max_ts_ns: u64,
    /// Records in the run.
    pub record_count: u32,
    /// Blocks in the run.
    pub block_count: u32,
}

impl IndexEntry {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.first_id.to_le_bytes());
        out.extend_from_slice(&self.min_ts_ns.to_le_bytes());
        out.extend_from_slice(&self.max_ts_ns.to_le_bytes());
        out.extend_from_slice(&self.record_count.to_le_bytes());
        out.extend_from_slice(&self.block_count.to_le_bytes());
    }

    pub(crate) fn decode(b: &[u8; INDEX_ENTRY_LEN]) -> IndexEntry {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        IndexEntry {
            offset: u64_at(0),
            first_id: u64_at(8),
            min_ts_ns: u64_at(16),
            max_ts_ns: u64_at(24),
            record_count: u32_at(32),
            block_count: u32_at(36),
        }
    }

    /// Folds the next run into this one.
    pub(crate) fn absorb(&mut self, next: &IndexEntry) {
        self.min_ts_ns = self.min_ts_ns.min(next.min_ts_ns);
        self.max_ts_ns = self.max_ts_ns.max(next.max_ts_ns);
        self.record_count = self.record_count.saturating_add(next.record_count);
        self.block_count = self.block_count.saturating_add(next.block_count);
    }
}

/// Reads the footer index of a cleanly closed log. `Ok(None)` when the file
/// has no trailer (the writer did not close it); use [`scan_blocks`] then.
pub fn read_index<R: Read + Seek>(r: &mut R) -> Result<Option<Vec<IndexEntry>>, ReadError> {
    let len = r.seek(SeekFrom::End(0))?;
    if len < (PREAMBLE_LEN + TRAILER_LEN) as u64 {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(len - TRAILER_LEN as u64))?;
    let mut trailer = [0u8; TRAILER_LEN];
    r.read_exact(&mut trailer)?;
    if trailer[16..24] != TRAILER_MAGIC {
        return Ok(None);
    }
    let index_offset = u64::from_le_bytes(trailer[0..8].try_into().expect("8 bytes"));
    let index_len = u32::from_le_bytes(trailer[8..12].try_into().expect("4 bytes"));
    let index_crc = u32::from_le_bytes(trailer[12..16].try_into().expect("4 bytes"));
    let corrupt = ReadError::IndexCorrupt {
        offset: index_offset,
    };
    let max_len = (INDEX_HEADER_LEN + MAX_INDEX_ENTRIES * INDEX_ENTRY_LEN) as u32;
    if index_len > max_len
        || (index_len as usize) < INDEX_HEADER_LEN
        || index_offset.checked_add(u64::from(index_len)) != Some(len - TRAILER_LEN as u64)
    {
        return Err(corrupt);
    }
    r.seek(SeekFrom::Start(index_offset))?;
    let mut section = vec![0u8; index_len as usize];
    r.read_exact(&mut section)?;
    decode_index_section(&section, index_crc)
        .ok_or(corrupt)
        .map(Some)
}

/// Decodes a whole index section (magic, count, entries) whose CRC32C must be
/// `crc`. `None` when anything does not add up.
pub(crate) fn decode_index_section(section: &[u8], crc: u32) -> Option<Vec<IndexEntry>> {
    if crc32c::crc32c(section) != crc || section.len() < INDEX_HEADER_LEN {
        return None;
    }
    if section[0..4] != INDEX_MAGIC {
        return None;
    }
    let count = u32::from_le_bytes(section[4..8].try_into().ok()?) as usize;
    if count > MAX_INDEX_ENTRIES || section.len() != INDEX_HEADER_LEN + count * INDEX_ENTRY_LEN {
        return None;
    }
    Some(
        section[INDEX_HEADER_LEN..]
            .chunks_exact(INDEX_ENTRY_LEN)
            .map(|c| IndexEntry::decode(c.try_into().expect("exact chunk")))
            .collect(),
    )
}

/// Walks the block headers of a log (seeking over payloads, decoding nothing)
/// and returns one entry per complete block. Works on files without an index
/// and on files with a torn tail; stops at the first damaged block header.
pub fn scan_blocks<R: Read + Seek>(r: &mut R) -> Result<Vec<IndexEntry>, ReadError> {
    let len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let (_, _, mut offset) = crate::read::read_preamble(r)?;
    let mut out = Vec::new();
    let mut hdr = [0u8; BLOCK_HEADER_LEN];
    loop {
        r.seek(SeekFrom::Start(offset))?;
        if read_full(r, &mut hdr)? < BLOCK_HEADER_LEN || hdr[0..4] != BLOCK_MAGIC {
            return Ok(out);
        }
        let Ok(info) = parse_block_header(&hdr, offset) else {
            return Ok(out);
        };
        let end = offset + (BLOCK_HEADER_LEN as u64) + u64::from(info.stored_len);
        if end > len {
            return Ok(out);
        }
        out.push(IndexEntry {
            offset,
            first_id: info.first_id,
            min_ts_ns: info.min_ts_ns,
            max_ts_ns: info.max_ts_ns,
            record_count: info.record_count,
            block_count: 1,
        });
        offset = end;
    }
}

/// Splits `entries` into at most `n` contiguous ranges holding about the same
/// number of records each (never an empty range).
pub fn shards(entries: &[IndexEntry], n: usize) -> Vec<Range<usize>> {
    if entries.is_empty() || n == 0 {
        return Vec::new();
    }
    let total: u64 = entries.iter().map(|e| u64::from(e.record_count)).sum();
    let n = n.min(entries.len()) as u64;
    let mut out = Vec::with_capacity(n as usize);
    let mut start = 0;
    let mut acc = 0u64;
    for (i, e) in entries.iter().enumerate() {
        acc += u64::from(e.record_count);
        let shard_no = out.len() as u64 + 1;
        let remaining_entries = entries.len() - (i + 1);
        let remaining_shards = (n - shard_no) as usize;
        if shard_no < n && (acc * n >= total * shard_no || remaining_entries == remaining_shards) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    out.push(start..entries.len());
    out
}

/// Index of the first entry that may hold exchanges at or after `ts_ns`
/// (its `max_ts_ns >= ts_ns`); `entries.len()` when none does.
pub fn first_at_or_after(entries: &[IndexEntry], ts_ns: u64) -> usize {
    entries
        .iter()
        .position(|e| e.max_ts_ns >= ts_ns)
        .unwrap_or(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(records: u32) -> IndexEntry {
        IndexEntry {
            offset: 0,
            first_id: 0,
            min_ts_ns: 0,
            max_ts_ns: 0,
            record_count: records,
            block_count: 1,
        }
    }

    #[test]
    fn shards_balance_and_cover() {
        let entries: Vec<_> = (0..10).map(|_| entry(100)).collect();
        let s = shards(&entries, 3);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].start, 0);
        assert_eq!(s.last().unwrap().end, 10);
        for w in s.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert!(s.iter().all(|r| !r.is_empty()));
    }

    #[test]
    fn more_shards_than_entries() {
        let entries: Vec<_> = (0..2).map(|_| entry(5)).collect();
        let s = shards(&entries, 8);
        assert_eq!(s, vec![0..1, 1..2]);
    }

    #[test]
    fn uneven_records() {
        let entries = vec![entry(1000), entry(1), entry(1), entry(1000)];
        let s = shards(&entries, 2);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|r| !r.is_empty()));
        assert_eq!(s.last().unwrap().end, 4);
    }
}
