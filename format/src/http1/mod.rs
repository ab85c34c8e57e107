//! HTTP/1.x on the wire: every scan of HTTP/1 bytes in shadowtap lives here.
//!
//! - `head.rs`: the one set of rules for reading raw head bytes (where a
//!   head ends, lines and field lines, header values, trimming; see
//!   [`find_head_end`] and [`fields`]);
//! - `parse.rs`: a complete head read strictly (httparse) or leniently, and
//!   what it says about the body ([`Head`], [`BodyKind`]);
//! - `frame.rs`: the incremental [`Framer`];
//! - `redact.rs`: header-value redaction as a recorder applies it.
//!
//! HTTP/2 framing can sit beside this module (`http2/`) with the same shape:
//! bytes in, events out, no I/O.
//!
//! A [`Framer`] is fed the bytes of one direction of a connection, in pieces
//! of any size, and says how many of them belong to the current message and
//! whether it is complete. It never buffers a body: only the head (bounded by
//! `max_head`) is kept, to parse it with httparse. Chunked bodies are tracked
//! by a byte-level state machine, so a chunk size, an extension, a CRLF or a
//! trailer may be split anywhere.
//!
//! ```
//! use shadowtap_format::http1::{Framer, Status};
//!
//! let mut f = Framer::request();
//! let p = f.feed(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r").unwrap();
//! assert_eq!(p.status, Status::Partial);
//! let p = f.feed(b"\nabc\r\n0\r\n\r\nGET /next").unwrap();
//! assert_eq!(p.status, Status::Complete);
//! assert_eq!(p.consumed, 11); // "GET /next" belongs to the next message
//! ```

mod frame;
mod head;
mod parse;
mod redact;
#[cfg(test)]
mod tests;

pub use frame::{Framer, Progress, Status};
pub use head::{
    blank_line_start, field_at, fields, fields_start, find_head_end, header_value, is_tchar,
    leading_empty_lines, trim, Field,
};
pub use parse::{
    parse_request_head, parse_request_head_lenient, parse_response_head, scan_request_line,
    BodyKind, Head, RequestLine,
};
pub use redact::redact;

/// Default bound of a message head (start line and headers).
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;

/// Why a byte stream is not HTTP/1.x.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The head is longer than the bound.
    #[error("message head longer than {max} bytes")]
    HeadTooLarge {
        /// The bound.
        max: usize,
    },
    /// httparse rejected the head.
    #[error("invalid message head: {0}")]
    InvalidHead(httparse::Error),
    /// Content-Length is not a number, or two of them differ.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A request with a Transfer-Encoding whose last coding is not chunked.
    #[error("request Transfer-Encoding does not end in chunked")]
    InvalidTransferEncoding,
    /// Chunked framing is broken.
    #[error("invalid chunked encoding: {0}")]
    InvalidChunk(&'static str),
}
