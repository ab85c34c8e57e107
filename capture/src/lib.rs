//! Packet capture, TCP reassembly and HTTP/1.x exchange extraction.
//!
//! The core is sans-IO: [`Pipeline`] takes captured frames with their
//! timestamps and produces [`Exchange`]s into an [`ExchangeSink`]. It builds
//! without libpcap (`--no-default-features`), which is how the fuzz targets
//! use it. The packet sources (pcap/pcapng files, live libpcap capture) and
//! the capture daemon that writes `.stlog` files are built on it, in
//! `daemon`, behind the default `libpcap` feature.
//!
//! Layers, bottom up: [`decode`] (link layer, IP, TCP), [`reasm`] (TCP
//! reassembly per direction), the HTTP/1.x extraction per connection, and
//! [`pipeline`] (flow table, bounds, events).

use std::net::SocketAddr;

use shadowtap_format::{Exchange, Flags};

mod conn;
#[cfg(feature = "libpcap")]
pub mod daemon;
pub mod decode;
mod hunt;
pub mod metrics;
pub mod pipeline;
pub mod reasm;

pub use conn::HttpStats;
#[cfg(feature = "libpcap")]
pub use daemon::{
    read_pcap, read_pcap_with, run, run_observed, run_with, CaptureConfig, CaptureEnd,
    CaptureError, CaptureSummary, Notice, OpenPcapError, Pacing, PacketSource, Watch,
    WatchSnapshot,
};
pub use decode::{Decap, Encap, LinkType, OuterSession};
pub use pipeline::{DefragStats, EncapStats, Pipeline, PipelineConfig, PipelineStats};

/// A request complete on the wire, before its response.
#[derive(Clone, Copy, Debug)]
pub struct RequestEvent<'a> {
    /// Connection id (as in [`Exchange::conn`]).
    pub conn: u64,
    /// Position of the request on its connection (0 = first seen).
    pub index: u64,
    /// The client.
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// Capture time of the request's first byte.
    pub first_ns: u64,
    /// Capture time of the request's last byte.
    pub last_ns: u64,
    /// What is known to be missing or altered so far.
    pub flags: Flags,
    /// The request bytes as they will be recorded (redacted, body capped).
    pub request: &'a [u8],
    /// The request's length on the wire.
    pub request_len: u64,
}

/// Receives what a [`Pipeline`] produces.
pub trait ExchangeSink {
    /// A request is complete on the wire (called before the exchange that
    /// will carry it). The default does nothing.
    fn request(&mut self, _req: &RequestEvent<'_>) {}
    /// An exchange is complete: its request and final response, or what
    /// was seen of them when the connection ended.
    fn exchange(&mut self, ex: Exchange);
    /// Called just before [`ExchangeSink::exchange`] with the same
    /// exchange: it carries request number `index` of its connection (as
    /// [`RequestEvent::index`] announced it, when it was announced). The
    /// default does nothing.
    fn answered(&mut self, _index: u64, _ex: &Exchange) {}
}

impl ExchangeSink for Vec<Exchange> {
    fn exchange(&mut self, ex: Exchange) {
        self.push(ex);
    }
}
