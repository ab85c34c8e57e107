//! Wire-level pieces shared with the index: the preamble, block headers,
//! full reads and varints.

use std::io::{self, Read};

use crate::model::FileHeader;
use crate::spec::*;

use super::{BlockInfo, ReadError};

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
pub(super) fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}
