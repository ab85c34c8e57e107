//! GoReplay's file format (`.gor`), as `gor --output-file` writes it and
//! `gor --input-file` reads it: read into exchanges and written from them.
//!
//! # Layout
//!
//! A file is a sequence of payloads, each followed by [`SEPARATOR`] (a line
//! feed, the three monkeys U+1F435 U+1F648 U+1F649, a line feed). A payload
//! is a meta line ended by a line feed, then the raw HTTP message:
//!
//! ```text
//! 1 8f3a0c...e2 1700000000000000000 -1\n      <- meta: TYPE ID TIMESTAMP [LATENCY]
//! GET / HTTP/1.1\r\nHost: a\r\n\r\n           <- the request, byte for byte
//! \n🐵🙈🙉\n                                  <- separator
//! 2 8f3a0c...e2 1700000000001500000 1500000\n
//! HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
//! \n🐵🙈🙉\n
//! ```
//!
//! The meta line's fields are separated by one space:
//!
//! - TYPE: `1` a request, `2` the original response to it, `3` a response
//!   GoReplay got when it replayed the request ([`Kind`]);
//! - ID: pairs a response with its request; hex in GoReplay (24 digits in
//!   current versions, 40 in old ones), any non-empty token here;
//! - TIMESTAMP: when the message started, Unix nanoseconds;
//! - LATENCY (current versions only): nanoseconds from the request to the
//!   response; `-1` on requests, which have none (any negative number is
//!   read as none).
//!
//! GoReplay compresses with gzip when the file name ends in `.gz`; this
//! module reads and writes the uncompressed stream, and the caller wraps it.
//!
//! # Reading
//!
//! [`GorReader`] streams: one payload in memory at a time (at most
//! [`MAX_PAYLOAD`] bytes, more is an error naming the payload), plus the
//! requests still waiting for their response. GoReplay may reuse an id for
//! different requests, and writes a response after later requests, so a
//! response is paired with the earliest unanswered request of its id before
//! it in the file, not merely with the last request of its id. The waiting
//! requests are bounded ([`MAX_PENDING`] requests, [`MAX_PENDING_BYTES`]
//! bytes): past either bound the oldest leaves as an exchange without a
//! response, counted in [`GorStats::flushed`].

use std::fmt;

mod read;
mod write;

#[cfg(test)]
mod tests;

pub use read::{GorReader, GorStats, TornTail};
pub use write::{GorWriter, Skipped};

/// What ends every payload: `"\n🐵🙈🙉\n"`.
pub const SEPARATOR: &[u8] = "\n\u{1F435}\u{1F648}\u{1F649}\n".as_bytes();

/// The largest payload (meta line and message) read: twice the capture's
/// largest body cap (16 MiB, `capture --max-body`), so that a request or
/// response captured whole at that cap, head included, fits.
pub const MAX_PAYLOAD: usize = 32 << 20;

/// The longest meta line read.
pub const MAX_META: usize = 1024;

/// At most this many requests wait for their response while reading.
pub const MAX_PENDING: usize = 1 << 16;

/// At most this many request bytes wait for their response while reading.
pub const MAX_PENDING_BYTES: usize = 256 << 20;

/// Hex digits of the ids [`GorWriter`] writes, as current GoReplay does.
pub const ID_DIGITS: usize = 24;

/// The payload types of a meta line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `1`: a request.
    Request,
    /// `2`: the response the original server sent.
    Response,
    /// `3`: the response of a target GoReplay replayed the request to.
    Replayed,
}

impl Kind {
    /// The meta line's TYPE byte.
    pub fn byte(self) -> u8 {
        match self {
            Kind::Request => b'1',
            Kind::Response => b'2',
            Kind::Replayed => b'3',
        }
    }
}

/// A parsed meta line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta<'a> {
    /// What the payload holds.
    pub kind: Kind,
    /// The pairing id, as written.
    pub id: &'a [u8],
    /// When the message started, Unix nanoseconds.
    pub ts_ns: u64,
    /// The fourth field when it is there and not negative.
    pub latency_ns: Option<u64>,
}

/// Why a meta line did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// No line feed within [`MAX_META`] bytes.
    #[error("no meta line (no line feed in the first {MAX_META} bytes)")]
    NoMetaLine,
    /// Not `TYPE ID TIMESTAMP` or `TYPE ID TIMESTAMP LATENCY`.
    #[error("the meta line has {0} space-separated fields, not 3 or 4")]
    Fields(usize),
    /// A TYPE other than 1, 2 or 3.
    #[error("unknown payload type {0:?}")]
    Type(String),
    /// An empty ID (two spaces in a row).
    #[error("empty id")]
    EmptyId,
    /// A TIMESTAMP that is not a non-negative integer.
    #[error("bad timestamp {0:?}")]
    Timestamp(String),
    /// A LATENCY that is not an integer (a negative one is no latency).
    #[error("bad latency {0:?}")]
    Latency(String),
}

fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a meta line (without its line feed; a trailing CR is ignored).
pub fn parse_meta(line: &[u8]) -> Result<Meta<'_>, MetaError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    if fields.len() != 3 && fields.len() != 4 {
        return Err(MetaError::Fields(fields.len()));
    }
    let kind = match fields[0] {
        b"1" => Kind::Request,
        b"2" => Kind::Response,
        b"3" => Kind::Replayed,
        other => return Err(MetaError::Type(shown(other))),
    };
    if fields[1].is_empty() {
        return Err(MetaError::EmptyId);
    }
    let ts_ns = std::str::from_utf8(fields[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| MetaError::Timestamp(shown(fields[2])))?;
    // GoReplay writes signed 64-bit numbers (`-1`: no latency); the whole
    // unsigned range is read too, as a latency from [`GorWriter`] may be
    // past `i64::MAX`.
    let latency_ns = match fields.get(3) {
        None => None,
        Some(f) => {
            let text = std::str::from_utf8(f).ok();
            if let Some(l) = text.and_then(|s| s.parse::<u64>().ok()) {
                Some(l)
            } else if text.and_then(|s| s.parse::<i64>().ok()).is_some() {
                None
            } else {
                return Err(MetaError::Latency(shown(f)));
            }
        }
    };
    Ok(Meta {
        kind,
        id: fields[1],
        ts_ns,
        latency_ns,
    })
}

/// Why a `.gor` could not be read. The message names the payload; its
/// [`source`](std::error::Error::source) says what was wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GorError {
    /// The underlying reader failed (for a `.gor.gz`, corrupt gzip data).
    #[error("payload {index} at byte {offset}")]
    Io {
        /// 1-based index of the payload being read.
        index: u64,
        /// Where it starts in the (uncompressed) stream.
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// No separator within [`MAX_PAYLOAD`] bytes.
    #[error("payload {index} at byte {offset}: longer than {} MiB", MAX_PAYLOAD >> 20)]
    TooLong {
        /// 1-based index of the payload.
        index: u64,
        /// Where it starts in the (uncompressed) stream.
        offset: u64,
    },
    /// The meta line did not parse.
    #[error("payload {index} at byte {offset}")]
    Meta {
        /// 1-based index of the payload.
        index: u64,
        /// Where it starts in the (uncompressed) stream.
        offset: u64,
        #[source]
        source: MetaError,
    },
}

/// The 64-bit FNV-1a hash of `b`: a `.gor` id to a connection id, so that
/// payloads sharing an id share a connection without a table of every id.
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The status code of a response head's status line, 0 when there is none.
fn status_of(head: &[u8]) -> u16 {
    let mut parts = head.splitn(3, |&b| b == b' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return 0;
    };
    let code = code
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(b"");
    if !version.starts_with(b"HTTP/") || code.len() != 3 {
        return 0;
    }
    std::str::from_utf8(code)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Replayed => "replayed response",
        })
    }
}
