//! Reading logs, one block at a time.
//!
//! The reader distinguishes three endings: a clean end (with or without the
//! footer index), a **torn tail** (the writer was killed mid-block: a warning,
//! every complete block before it was read), and **corruption** (a checksum
//! or structure error before the end: an error naming the byte offset, or,
//! with [`ReadOptions::salvage`], skipped and counted).

mod reader;
mod salvage;
mod source;
mod wire;

use std::io;

use crate::index::IndexEntry;
use crate::model::FileHeader;

pub(crate) use wire::{parse_block_header, read_full, read_preamble};

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The source failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file does not start with [`FILE_MAGIC`](crate::spec::FILE_MAGIC).
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
    /// [`CODEC_NONE`](crate::spec::CODEC_NONE) or [`CODEC_ZSTD`](crate::spec::CODEC_ZSTD).
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
