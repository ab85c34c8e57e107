//! The capture daemon: a packet source (live interface or pcap/pcapng
//! file) driving a [`Pipeline`] whose exchanges go to `.stlog` files, with
//! rotation, periodic stats, Prometheus metrics, and clean stops.
//!
//! One loop (`pump`) serves both kinds of source and [`read_pcap`]: it
//! reads a packet from the `PacketReader`, feeds it to the pipeline, and
//! asks `Housekeeping`, which owns every clock, whether to stop, wait,
//! pause, flush or report. The parts:
//!
//! - `source`: the libpcap edge (open, read, drops, error causes, hostname);
//! - `filter`: the BPF expression and the loopback socket filter;
//! - `housekeeping`: the clocks (flush, stats, `--duration`, drain, pacing);
//! - `pacing`: the signal from a request consumer that fell behind;
//! - `record`: the output (the format crate's `LogSink`, request hook,
//!   metrics).
//!
//! libpcap is used only here, behind the `libpcap` feature; everything it
//! hands over goes through the sans-IO [`Pipeline`].

mod filter;
mod housekeeping;
mod pacing;
mod record;
mod source;
#[cfg(test)]
mod tests;
mod watch;

// Root- and tool-gated tests share one helper with the integration tests.
#[cfg(test)]
#[path = "../../tests/support/gate.rs"]
mod test_gate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use shadowtap_format::{meta, Exchange, WriteError, WriterOptions};

use crate::decode::{Decap, OuterSession};
use crate::metrics::{Metrics, MetricsServer};
use crate::{EncapStats, ExchangeSink, Pipeline, PipelineConfig, PipelineStats, RequestEvent};
use housekeeping::{Housekeeping, Idle};
use record::{Output, Plain, Recording};
use source::{Next, PacketReader};

pub use pacing::{Pacing, PACED_HOLD, PACED_WAIT};
pub use shadowtap_format::log_sink::utc_stamp;
pub use source::{LibpcapReason, OpenPcapError};
pub use watch::{Watch, WatchSnapshot};

/// Largest body cap accepted: a record (request and response) must fit in
/// one block of the log format.
pub const MAX_BODY_LIMIT: u64 = 16 << 20;

/// Default kernel capture buffer. libpcap's own default (2 MB) holds only a
/// few dozen frames at a 256 KiB snap length in immediate mode, and a burst
/// of new connections then loses packets in the kernel.
pub const DEFAULT_BUFFER: u32 = 32 << 20;

/// Default [`CaptureConfig::block_timeout`]: the kernel hands packets over
/// in blocks, at the latest this long after the first packet of a block.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_millis(50);

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketSource {
    /// A live capture on this interface.
    Interface(String),
    /// A pcap or pcapng file.
    Pcap(PathBuf),
}

/// Everything `shadowtap capture` needs, validated.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Packet source.
    pub source: PacketSource,
    /// Extra BPF expression, and-ed with the port filter (live only).
    pub bpf: Option<String>,
    /// The log to write; with rotation, the pattern of the rotated names.
    /// `None` writes no log (`tee` without `--record`): exchanges are only
    /// counted.
    pub output: Option<PathBuf>,
    /// Start a new file once the current one reaches about this size.
    pub rotate_size: Option<u64>,
    /// Start a new file once the current one is this old (packet time).
    pub rotate_every: Option<Duration>,
    /// Stop after this long (wall clock for live capture, packet time for
    /// files).
    pub duration: Option<Duration>,
    /// Stop once this many exchanges were written.
    pub max_exchanges: Option<u64>,
    /// Live snap length.
    pub snaplen: u32,
    /// Live kernel buffer size in bytes (None: libpcap's default).
    pub buffer_size: Option<u32>,
    /// Live capture: how long the kernel may hold packets to hand them
    /// over in blocks (TPACKET_V3 on Linux). Blocks pack packets densely,
    /// so the kernel buffer holds many more of them, and the capture wakes
    /// up once per block instead of once per packet. `None`: immediate
    /// mode, every packet handed over on its own (lowest latency; on Linux
    /// the buffer is then cut into fixed frames of up to the snap length or
    /// the interface MTU, a few hundred of them on loopback).
    pub block_timeout: Option<Duration>,
    /// Reassembly and HTTP settings.
    pub pipeline: PipelineConfig,
    /// The encapsulations decoded (`--encap`); a live capture's filter
    /// also admits their carriers, the server ports then being checked on
    /// the inner packets.
    pub encap: Decap,
    /// Serve Prometheus metrics here.
    pub metrics: Option<SocketAddr>,
    /// More exposition text for every scrape (`tee`'s mirror counters).
    pub extra_metrics: Option<crate::metrics::ExtraMetrics>,
    /// Print a stats line on stderr this often (None: never).
    pub stats_every: Option<Duration>,
    /// Name and version of the program, for the file header.
    pub writer_name: String,
    /// How the log is written (codec, zstd level, block size, sync).
    pub log: WriterOptions,
    /// A consumer of the request hook that can fall behind (`tee`'s
    /// mirror) reports it here, and the reader then wakes less often.
    pub pacing: Option<Pacing>,
    /// Attached once the source is open, for a watcher on another thread
    /// (a progress line): see [`Watch`].
    pub watch: Option<Watch>,
}

impl CaptureConfig {
    /// A configuration with the documented defaults.
    pub fn new(source: PacketSource, output: PathBuf) -> CaptureConfig {
        CaptureConfig {
            source,
            bpf: None,
            output: Some(output),
            rotate_size: None,
            rotate_every: None,
            duration: None,
            max_exchanges: None,
            snaplen: 262_144,
            buffer_size: Some(DEFAULT_BUFFER),
            block_timeout: Some(DEFAULT_BLOCK_TIMEOUT),
            pipeline: PipelineConfig::default(),
            encap: Decap::auto(),
            metrics: None,
            extra_metrics: None,
            stats_every: Some(Duration::from_secs(5)),
            writer_name: format!("shadowtap-capture {}", env!("CARGO_PKG_VERSION")),
            log: WriterOptions::default(),
            pacing: None,
            watch: None,
        }
    }

    /// The BPF filter a live capture installs.
    ///
    /// When responses are not kept and the server ports are known, the
    /// kernel hands over only what requests need: every packet to a server
    /// port, and from the server side only its SYN, FIN and RST (for the
    /// client's initial sequence number and for closing the flow). Response
    /// bytes are then never copied out of the kernel at all.
    pub fn filter(&self) -> String {
        filter::capture_filter(self)
    }
}

/// Why capture failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The pcap file could not be opened.
    #[error("cannot open {}", path.display())]
    OpenPcap {
        /// The file.
        path: PathBuf,
        /// Why: the operating system's reason, or libpcap's.
        source: OpenPcapError,
    },
    /// No permission to capture (libpcap's retelling of that is left out:
    /// the cause is said once).
    #[error("no permission to capture on {interface}: live capture needs root or the CAP_NET_RAW capability (setcap cap_net_raw,cap_net_admin=eip on the binary)")]
    Permission {
        /// The interface.
        interface: String,
    },
    /// The interface does not exist.
    #[error("no such interface {interface:?}")]
    NoInterface {
        /// The interface.
        interface: String,
    },
    /// Another failure opening a live capture.
    #[error("cannot capture on {interface}")]
    Live {
        /// The interface.
        interface: String,
        /// What libpcap said (without the interface name it starts with).
        source: LibpcapReason,
    },
    /// The BPF filter did not compile.
    #[error("invalid capture filter {filter:?}")]
    Filter {
        /// The filter.
        filter: String,
        /// What libpcap said.
        source: LibpcapReason,
    },
    /// The link type is not one shadowtap decodes.
    #[error("unsupported link type {linktype} ({name}); supported: Ethernet, Linux cooked (SLL, SLL2), BSD loopback, raw IP")]
    LinkType {
        /// The LINKTYPE_ number.
        linktype: i32,
        /// Its name, when libpcap knows it.
        name: String,
    },
    /// Reading packets from a live capture failed.
    #[error("reading packets failed")]
    Read(#[source] pcap::Error),
    /// A log file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: WriteError,
    },
    /// The metrics listener could not be set up.
    #[error("cannot serve metrics on {addr}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
}

/// Why the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureEnd {
    /// The pcap file ended (or was cut short: see the warnings).
    EndOfFile,
    /// The stop flag was set (SIGINT/SIGTERM).
    Signal,
    /// `--duration` elapsed.
    Duration,
    /// `--max-exchanges` were written.
    MaxExchanges,
}

/// What a finished capture did.
#[derive(Clone, Debug)]
pub struct CaptureSummary {
    /// Pipeline counters.
    pub stats: PipelineStats,
    /// Packets the kernel dropped (live capture).
    pub kernel_drops: u64,
    /// Packets the interface or driver dropped (live capture).
    pub if_drops: u64,
    /// Exchanges written to the log files.
    pub exchanges_written: u64,
    /// Bytes written to the log files.
    pub bytes_written: u64,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// Non-fatal problems (a truncated pcap file, records too large).
    pub warnings: Vec<String>,
    /// Why it stopped.
    pub stopped_by: CaptureEnd,
    /// Times the reader paused because the request consumer had fallen
    /// behind ([`Pacing`]); each pause is [`CaptureSummary::paced_wait`].
    pub paced_waits: u64,
    /// How long a paced pause lasts with this configuration (`None`: it
    /// never paces; see [`Pacing`]).
    pub paced_wait: Option<Duration>,
    /// The tunnels' outer endpoints (mirror sessions) the packets came
    /// through, first seen first, at most [`crate::pipeline::MAX_SESSIONS`].
    pub outer_sessions: Vec<OuterSession>,
}

/// Runs one pcap/pcapng file through a pipeline into `sink`, without any
/// file output: the building block for imports and tests. A file cut short
/// is processed up to the cut; the returned warning says so.
pub fn read_pcap(
    path: &Path,
    cfg: PipelineConfig,
    sink: &mut dyn ExchangeSink,
) -> Result<(PipelineStats, Option<String>), CaptureError> {
    read_pcap_with(path, cfg, Decap::auto(), sink)
}

/// [`read_pcap`] decoding only the encapsulations `decap` allows.
pub fn read_pcap_with(
    path: &Path,
    cfg: PipelineConfig,
    decap: Decap,
    sink: &mut dyn ExchangeSink,
) -> Result<(PipelineStats, Option<String>), CaptureError> {
    let mut src = source::FileReader::open(path)?;
    let mut pipeline = Pipeline::new(cfg, src.link());
    pipeline.set_decap(decap);
    let mut clocks = Housekeeping::file_only();
    let mut out = Plain(sink);
    let ended = pump(
        &mut src,
        &mut pipeline,
        &mut out,
        &mut clocks,
        &AtomicBool::new(false),
    )?;
    let warning = ended
        .cut
        .map(|why| format!("{}: {why}; processed the packets before it", path.display()));
    pipeline.finish(&mut out);
    Ok((pipeline.stats(), warning))
}

/// Runs the capture until the source ends, `stop` is set, `--duration`
/// elapses or `--max-exchanges` are written; then flushes everything still
/// held and closes the log cleanly.
pub fn run(cfg: &CaptureConfig, stop: &AtomicBool) -> Result<CaptureSummary, CaptureError> {
    run_with(cfg, stop, &mut |_| {}, &mut |_| {})
}

/// What the capture tells its caller while it runs: the library prints
/// nothing itself. Called on the capture thread, so a handler must not wait
/// for anything a thread of lower priority may hold (such as std's stderr
/// lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// The metrics endpoint listens here (port 0 resolved).
    Metrics(SocketAddr),
    /// The capture started; what it reads, with the filter applied.
    Started(&'a str),
    /// A problem that did not stop the capture (also in
    /// [`CaptureSummary::warnings`]).
    Warning(&'a str),
    /// The stats line ([`stats_line`]), every `stats_every` and once at the
    /// end when that is set.
    Stats(&'a str),
}

/// [`run`], calling `on_request` for each request as soon as it is
/// complete on the wire (before its response; for mirroring), and
/// `on_notice` with what a user should be told.
pub fn run_with(
    cfg: &CaptureConfig,
    stop: &AtomicBool,
    on_request: &mut dyn FnMut(&RequestEvent<'_>),
    on_notice: &mut dyn FnMut(Notice<'_>),
) -> Result<CaptureSummary, CaptureError> {
    run_observed(cfg, stop, on_request, &mut |_, _| {}, on_notice)
}

/// [`run_with`], also calling `on_exchange` with each exchange as it is
/// complete (before it is recorded), with the index its request had in its
/// [`RequestEvent`]: how a mirror pairs a request it sent with
/// production's response to it (`tee --compare`). Needs
/// [`PipelineConfig::responses`](crate::PipelineConfig) for responses.
pub fn run_observed(
    cfg: &CaptureConfig,
    stop: &AtomicBool,
    on_request: &mut dyn FnMut(&RequestEvent<'_>),
    on_exchange: &mut dyn FnMut(u64, &Exchange),
    on_notice: &mut dyn FnMut(Notice<'_>),
) -> Result<CaptureSummary, CaptureError> {
    let (mut src, announce) = source::Opened::open(cfg, &cfg.source)?;
    let live = src.live();
    let (source_key, source_name) = match &cfg.source {
        PacketSource::Interface(i) => (meta::INTERFACE, i.clone()),
        PacketSource::Pcap(p) => (meta::PCAP, p.display().to_string()),
    };
    let mut header_meta = vec![
        (
            meta::SOURCE.to_string(),
            if live { "capture" } else { "import" }.to_string(),
        ),
        (source_key.to_string(), source_name.clone()),
    ];
    if live {
        header_meta.push((meta::FILTER.to_string(), cfg.filter()));
    }
    header_meta.push((meta::ENCAP.to_string(), cfg.encap.to_string()));
    if let Some(h) = source::hostname() {
        header_meta.push((meta::HOSTNAME.to_string(), h));
    }
    let metrics = Arc::new(Metrics::with_extra(cfg.extra_metrics.clone()));
    let _server = match cfg.metrics {
        Some(addr) => {
            let server = MetricsServer::start(addr, Arc::clone(&metrics))
                .map_err(|source| CaptureError::Metrics { addr, source })?;
            // The bound address (port 0 resolved), for scripts and tests.
            on_notice(Notice::Metrics(server.addr));
            Some(server)
        }
        None => None,
    };
    let mut out = Recording::start(
        cfg,
        header_meta,
        Arc::clone(&metrics),
        on_request,
        on_exchange,
        &mut *on_notice,
    )?;
    let mut pipeline = Pipeline::new(cfg.pipeline.clone(), src.link());
    pipeline.set_decap(cfg.encap);
    if let Some(w) = &cfg.watch {
        w.attach(Arc::clone(&metrics), src.position());
    }
    (out.on_notice)(Notice::Started(&announce));
    metrics.set_up(true);

    let mut clocks = Housekeeping::new(cfg, live);
    let ended = pump(&mut src, &mut pipeline, &mut out, &mut clocks, stop);
    let ended = match ended {
        Ok(e) => e,
        Err(e) => {
            metrics.set_up(false);
            return Err(e);
        }
    };
    let mut warnings = Vec::new();
    if let Some(why) = ended.cut {
        let w = format!(
            "{source_name}: {why}; processed the {} packets before it",
            ended.packets
        );
        (out.on_notice)(Notice::Warning(&w));
        warnings.push(w);
    }
    pipeline.finish(&mut out);
    if let Some(d) = src.drops() {
        out.drops = d;
    }
    let drops = out.drops;
    let stats = pipeline.stats();
    let finished = out.finish();
    let (log, mut skipped) = match finished {
        Ok(x) => x,
        Err(e) => {
            metrics.set_up(false);
            return Err(e);
        }
    };
    metrics.update(&stats, drops.0 + drops.1, log.written, log.bytes);
    metrics.set_up(false);
    warnings.append(&mut skipped);
    let summary = CaptureSummary {
        stats,
        kernel_drops: drops.0,
        if_drops: drops.1,
        exchanges_written: log.written,
        bytes_written: log.bytes,
        files: log.files,
        warnings,
        stopped_by: ended.end,
        paced_waits: clocks.paced_waits,
        paced_wait: clocks.paced_wait,
        outer_sessions: pipeline.outer_sessions().to_vec(),
    };
    if cfg.stats_every.is_some() {
        let line = stats_line(&stats, drops.0 + drops.1, log.written, log.bytes);
        on_notice(Notice::Stats(&line));
    }
    Ok(summary)
}

/// How the capture loop ended.
struct Ended {
    end: CaptureEnd,
    /// The file was cut short here: libpcap's reason.
    cut: Option<String>,
    /// Packets read.
    packets: u64,
}

/// The one capture loop, for live sources and files alike: read a packet,
/// feed it to the pipeline, and let the clocks decide the rest.
fn pump<R: PacketReader, O: Output>(
    src: &mut R,
    pipeline: &mut Pipeline,
    out: &mut O,
    clocks: &mut Housekeeping,
    stop: &AtomicBool,
) -> Result<Ended, CaptureError> {
    let mut packets: u64 = 0;
    let ended = |end, cut, packets| Ok(Ended { end, cut, packets });
    loop {
        if let Some(end) = clocks.before_read(stop) {
            return ended(end, None, packets);
        }
        if out.limit_reached() {
            return ended(CaptureEnd::MaxExchanges, None, packets);
        }
        out.check()?;
        match src.next() {
            Next::Packet(ts, data, wire_len) => {
                packets += 1;
                if let Some(end) = clocks.on_packet(ts) {
                    return ended(end, None, packets);
                }
                out.advance(ts);
                pipeline.process(ts, data, wire_len, out.as_sink());
            }
            Next::Idle => match clocks.on_idle() {
                Idle::Pause(d) => std::thread::sleep(d),
                Idle::Wait(ms) => {
                    if !src.wait_readable(ms) {
                        if let Some(end) = clocks.on_quiet() {
                            return ended(end, None, packets);
                        }
                    }
                }
            },
            Next::End => return ended(CaptureEnd::EndOfFile, None, packets),
            Next::Cut(why) => return ended(CaptureEnd::EndOfFile, Some(why), packets),
            Next::Failed(e) => return Err(e),
        }
        if let Some(stats_due) = clocks.due() {
            let drops = src.drops();
            out.housekeep(&pipeline.stats(), drops, stats_due);
        }
    }
}

/// The one-line stats summary printed on stderr.
pub fn stats_line(
    s: &PipelineStats,
    drops: u64,
    exchanges_written: u64,
    bytes_written: u64,
) -> String {
    format!(
        "shadowtap: packets={} bytes={} kernel_drops={} exchanges={} written={} incomplete={} evicted={} \
         fragments={} malformed={} gaps={} http_malformed={} framing_errors={} skipped_bytes={} \
         flows={} buffered={} bytes_written={} encap={} encap_undecodable={} \
         reassembled={} frag_evicted={}",
        s.packets,
        s.bytes,
        drops,
        s.http.exchanges,
        exchanges_written,
        s.http.incomplete,
        s.evicted(),
        s.fragments,
        s.malformed + s.truncated_headers,
        s.reasm.gaps,
        s.http.malformed,
        s.http.framing_errors,
        s.http.skipped_bytes,
        s.flows_active,
        s.buffered_bytes,
        bytes_written,
        EncapStats::by_kind(&s.encap.packets),
        EncapStats::by_kind(&s.encap.undecodable),
        s.defrag.reassembled,
        s.defrag.evicted,
    )
}
