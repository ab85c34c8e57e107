//! The `.stlog` capture log format of shadowtap.
//!
//! A log is a file header followed by a stream of checksummed, optionally
//! zstd-compressed **blocks** of postcard-encoded records, and, when the
//! writer closed cleanly, a footer **index** of the blocks. The byte layout is
//! specified in `FORMAT.md` next to this crate; every magic number and limit
//! there is a named constant in [`spec`].
//!
//! ```
//! use shadowtap_format::{Exchange, FileHeader, Reader, Writer, WriterOptions};
//!
//! let header = FileHeader { writer: "doc".into(), created_ns: 1, meta: vec![] };
//! let mut w = Writer::new(Vec::new(), &header, WriterOptions::default()).unwrap();
//! let request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
//! let (client, server) = ("127.0.0.1:50000".parse().unwrap(), "127.0.0.1:80".parse().unwrap());
//! w.append(&Exchange {
//!     req_last_ns: 20,
//!     ..Exchange::new(1, 7, client, server, 10, request)
//! })
//! .unwrap();
//! let bytes = w.finish().unwrap();
//!
//! let mut r = Reader::new(&bytes[..]).unwrap();
//! let ex = r.next_exchange().unwrap().unwrap();
//! assert_eq!(ex.conn, 7);
//! assert!(r.next_exchange().unwrap().is_none());
//! ```

pub mod http1;
pub mod index;
pub mod log_sink;
mod model;
mod read;
pub mod spec;
mod write;

pub use log_sink::{LogSink, SinkError, SinkOptions, SinkSummary};
pub use model::{Exchange, FileHeader, Flags, Response};
pub use read::{BlockInfo, End, ReadError, ReadOptions, Reader, SalvageStats};
pub use write::{zstd_levels, Codec, Sink, WriteError, Writer, WriterOptions};

/// Well-known keys of [`FileHeader::meta`].
pub mod meta {
    /// The interface a live capture read from.
    pub const INTERFACE: &str = "interface";
    /// The pcap/pcapng file an import read from.
    pub const PCAP: &str = "pcap";
    /// The BPF filter in force.
    pub const FILTER: &str = "filter";
    /// The host name of the machine that captured.
    pub const HOSTNAME: &str = "hostname";
    /// The encapsulations a capture decoded (`--encap`: `auto`, `none`, or
    /// the kinds, as given).
    pub const ENCAP: &str = "encap";
    /// What produced the exchanges (`capture`, `import`, `serve`, `tee`,
    /// `replay`, ...).
    pub const SOURCE: &str = "source";
    /// A log recorded by a replay: the target that answered (its URL).
    pub const TARGET: &str = "target";
    /// A log recorded by a replay: one entry per log replayed, in the
    /// replay's order (the index that [`Exchange::origin`](crate::Exchange::origin)
    /// carries in its top 16 bits), each `CREATED_NS PATH`: that log's
    /// header `created_ns`, a space, and its path as given.
    pub const ORIGIN_LOG: &str = "origin_log";
}
