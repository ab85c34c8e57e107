//! Every magic number, layout size and limit of the `.stlog` format, named.
//! `FORMAT.md` refers to these names; a change here is a format change.
//!
//! All fixed-width integers are little-endian.

/// First 8 bytes of every log. Like PNG's signature: a high-bit byte catches
/// 7-bit transfers, CR LF and LF catch newline translation, 0x1A stops `type`
/// on DOS.
pub const FILE_MAGIC: [u8; 8] = *b"\x89STL\r\n\x1a\n";

/// The major version this crate writes and the highest it reads. A reader
/// rejects a file with a higher major version.
pub const VERSION_MAJOR: u16 = 1;
/// The minor version this crate writes. Minor versions only append fields to
/// records or add record tags; a reader accepts any minor version of its major.
/// 1.1 added [`Exchange::origin`](crate::Exchange::origin).
pub const VERSION_MINOR: u16 = 1;

/// Magic (8) + major (2) + minor (2) + header length (4).
pub const PREAMBLE_LEN: usize = 16;
/// Upper bound of the postcard-encoded file header, so a corrupt length
/// cannot make a reader allocate without bound.
pub const MAX_FILE_HEADER_LEN: u32 = 1 << 20;

/// First 4 bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"STBK";
/// Size of a block header, see `FORMAT.md` §3.
pub const BLOCK_HEADER_LEN: usize = 52;
/// Byte range of the block header covered by the header CRC.
pub const BLOCK_HEADER_CRC_COVERS: usize = 48;

/// Block payload stored as is.
pub const CODEC_NONE: u8 = 0;
/// Block payload compressed as one zstd frame.
pub const CODEC_ZSTD: u8 = 1;

/// Upper bound of a block's decoded payload (and of its stored length). A
/// header announcing more is corrupt; a writer refuses a record that would not
/// fit alone in a block.
pub const MAX_BLOCK_RAW_LEN: u32 = 64 << 20;

/// A writer seals a block once its decoded payload reaches this size.
pub const DEFAULT_BLOCK_TARGET: usize = 256 << 10;

/// The least room for chunked framing in what is stored of a capped body
/// (`FORMAT.md` §6): see [`framing_room`].
pub const MIN_FRAMING_ROOM: u64 = 64 << 10;

/// The chunked framing a writer stores with a body of at most `max_body`
/// data bytes (the body cap): half the cap, or [`MIN_FRAMING_ROOM`] for small
/// caps. What is stored of a body, data and framing together, stays within
/// `max_body + framing_room(max_body)`; a body whose framing goes beyond
/// that is flagged capped (`FORMAT.md` §6).
pub const fn framing_room(max_body: u64) -> u64 {
    let half = max_body / 2;
    if half > MIN_FRAMING_ROOM {
        half
    } else {
        MIN_FRAMING_ROOM
    }
}

/// Record tag of an [`Exchange`](crate::Exchange).
pub const RECORD_EXCHANGE: u8 = 1;

/// First 4 bytes of the footer index.
pub const INDEX_MAGIC: [u8; 4] = *b"STIX";
/// Index magic (4) + entry count (4).
pub const INDEX_HEADER_LEN: usize = 8;
/// Size of one index entry, see `FORMAT.md` §4.
pub const INDEX_ENTRY_LEN: usize = 40;
/// A writer keeps at most this many index entries in memory; past it,
/// neighbouring entries are merged pairwise (each then covers more blocks).
pub const MAX_INDEX_ENTRIES: usize = 1 << 16;

/// Last 8 bytes of a cleanly closed log.
pub const TRAILER_MAGIC: [u8; 8] = *b"STLOGEND";
/// Index offset (8) + index length (4) + index CRC (4) + trailer magic (8).
pub const TRAILER_LEN: usize = 24;
