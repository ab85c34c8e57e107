//! The capture daemon: a packet source (live interface or pcap/pcapng
//! file) driving a [`Pipeline`] whose exchanges go to `.stlog` files, with
//! rotation, periodic stats on stderr, Prometheus metrics, and clean stops.
//!
//! libpcap is used only here (and in [`read_pcap`]); everything it hands
//! over goes through the sans-IO [`Pipeline`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::os::fd::AsRawFd as _;

use pcap::{Activated, Capture, Precision};
use shadowtap_format::{meta, Exchange, FileHeader, WriteError, Writer, WriterOptions};

use crate::metrics::{Metrics, MetricsServer};
use crate::{ExchangeSink, LinkType, Pipeline, PipelineConfig, RequestEvent, Stats};

/// Largest body cap accepted: a record (request and response) must fit in
/// one block of the log format.
pub const MAX_BODY_LIMIT: u64 = 16 << 20;

/// Default kernel capture buffer. libpcap's own default (2 MB) holds only a
/// few dozen frames at a 256 KiB snap length in immediate mode, and a burst
/// of new connections then loses packets in the kernel.
pub const DEFAULT_BUFFER: u32 = 32 << 20;

/// How long a live read waits before the loop looks at its flags.
const READ_TIMEOUT_MS: i32 = 100;

/// Default [`CaptureConfig::block_timeout`]: the kernel hands packets over
/// in blocks, at the latest this long after the first packet of a block.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_millis(50);

/// A server's TCP segment carrying SYN, FIN or RST. libpcap's `tcp[]`
/// addresses only IPv4, so IPv6 reads the flags byte at its fixed offset
/// (40-byte header; the outer `tcp` already requires TCP as the next header).
const SERVER_CONTROL: &str =
    "((ip and tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0) or (ip6 and ip6[53] & 7 != 0))";

/// The housekeeping clock (flushing, stats, `--duration`) is read once
/// every this many packets, and whenever the source is idle.
const CLOCK_EVERY: u32 = 64;

/// Longest time spent reading packets already buffered when a live
/// capture is asked to stop.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// While draining, the capture stops after this long without a packet.
const DRAIN_QUIET_MS: i32 = 300;

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A live capture on this interface.
    Interface(String),
    /// A pcap or pcapng file.
    Pcap(PathBuf),
}

/// Everything `shadowtap capture` needs, validated.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// Packet source.
    pub source: Source,
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
}

/// How long a paced reader waits, once the kernel buffer is empty, before
/// it reads again (instead of waking for every block the kernel retires).
pub const PACED_WAIT: Duration = Duration::from_millis(10);

/// How long the reader stays paced after it last saw a report of
/// [`Pacing::fell_behind`] (it looks whenever the kernel buffer is empty).
pub const PACED_HOLD: Duration = Duration::from_secs(1);

/// Size of libpcap's TPACKET_V3 blocks on Linux: its largest snap length
/// (256 KiB), whatever the snap length asked for.
const LIBPCAP_V3_BLOCK: u32 = 256 << 10;

/// libpcap's kernel buffer when none is asked for.
const LIBPCAP_DEFAULT_BUFFER: u32 = 2 << 20;

/// A signal from the consumer of [`RequestEvent`]s to the live reader.
///
/// `tee` calls [`Pacing::fell_behind`] when its mirror queue is full: the
/// mirror threads (idle priority) got no CPU for as long as it took to fill
/// the queue, so the host is busy, and requests already wait in the queue
/// far longer than a block timeout. It calls it too while no mirror target
/// has a free slot for a run of requests: they are dropped at once, and
/// reading them sooner buys nothing. Waking for every block the kernel
/// retires (every millisecond with `tee`'s default) would then cost the busy
/// host CPU time and buy the mirror nothing. While the signal is recent
/// (within [`PACED_HOLD`]), the reader empties the kernel buffer, then
/// sleeps up to [`PACED_WAIT`] instead of waiting for the next block;
/// [`Pacing::caught_up`] ends that at once.
///
/// The kernel retires a block that holds any packet every block timeout, so
/// a sleep uses up to one block per timeout: the wait is cut to what a
/// quarter of the ring holds, and there is no pacing when that is no longer
/// than the block timeout itself (a small `buffer_size`), nor in immediate
/// mode, whose ring holds only a few hundred packets.
#[derive(Clone, Debug, Default)]
pub struct Pacing {
    /// The last report not yet seen by the reader: [`NO_REPORT`],
    /// [`FELL_BEHIND`] or [`CAUGHT_UP`].
    signal: Arc<AtomicU8>,
}

const NO_REPORT: u8 = 0;
const FELL_BEHIND: u8 = 1;
const CAUGHT_UP: u8 = 2;

impl Pacing {
    /// The consumer could not take a request.
    pub fn fell_behind(&self) {
        if self.signal.load(Ordering::Relaxed) != FELL_BEHIND {
            self.signal.store(FELL_BEHIND, Ordering::Relaxed);
        }
    }

    /// The consumer can take requests again: pacing, if any, ends at the
    /// reader's next look instead of a [`PACED_HOLD`] after the last report.
    pub fn caught_up(&self) {
        self.signal.store(CAUGHT_UP, Ordering::Relaxed);
    }

    /// Whether a report of falling behind is waiting for the reader to see
    /// it.
    pub fn pending(&self) -> bool {
        self.signal.load(Ordering::Relaxed) == FELL_BEHIND
    }

    /// Whether the reader should pause at `now`, given when
    /// it last saw the signal (updated here).
    fn paced(&self, now: Instant, seen: &mut Option<Instant>) -> bool {
        match self.signal.swap(NO_REPORT, Ordering::Relaxed) {
            FELL_BEHIND => *seen = Some(now),
            CAUGHT_UP => *seen = None,
            _ => {}
        }
        seen.is_some_and(|t| now.saturating_duration_since(t) < PACED_HOLD)
    }
}

impl CaptureConfig {
    /// A configuration with the documented defaults.
    pub fn new(source: Source, output: PathBuf) -> CaptureConfig {
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
            metrics: None,
            extra_metrics: None,
            stats_every: Some(Duration::from_secs(5)),
            writer_name: format!("shadowtap-capture {}", env!("CARGO_PKG_VERSION")),
            log: WriterOptions::default(),
            pacing: None,
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
        let mut f = String::from("tcp");
        let ports = &self.pipeline.ports;
        if !ports.is_empty() {
            let any = |dir: &str| {
                let list: Vec<String> = ports.iter().map(|p| format!("{dir}port {p}")).collect();
                list.join(" or ")
            };
            f = if self.pipeline.responses {
                format!("tcp and ({})", any(""))
            } else {
                format!(
                    "tcp and ({} or (({}) and {SERVER_CONTROL}))",
                    any("dst "),
                    any("src ")
                )
            };
        }
        match &self.bpf {
            Some(extra) if !extra.trim().is_empty() => format!("({f}) and ({extra})"),
            _ => f,
        }
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
    /// No permission to capture.
    #[error("no permission to capture on {interface}: live capture needs root or the CAP_NET_RAW capability (setcap cap_net_raw,cap_net_admin=eip on the binary)")]
    Permission {
        /// The interface.
        interface: String,
        /// What libpcap said.
        source: pcap::Error,
    },
    /// The interface does not exist.
    #[error("no such interface {interface:?}")]
    NoInterface {
        /// The interface.
        interface: String,
        /// What libpcap said.
        source: pcap::Error,
    },
    /// Another failure opening a live capture.
    #[error("cannot capture on {interface}")]
    Live {
        /// The interface.
        interface: String,
        /// What libpcap said.
        source: pcap::Error,
    },
    /// The BPF filter did not compile.
    #[error("invalid capture filter {filter:?}")]
    Filter {
        /// The filter.
        filter: String,
        /// What libpcap said.
        source: pcap::Error,
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
pub enum StopReason {
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
    pub stats: Stats,
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
    pub stopped_by: StopReason,
    /// Times the reader paused because the request consumer had fallen
    /// behind ([`Pacing`]); each pause is [`CaptureSummary::paced_wait`].
    pub paced_waits: u64,
    /// How long a paced pause lasts with this configuration (`None`: it
    /// never paces; see [`Pacing`]).
    pub paced_wait: Option<Duration>,
}

/// Runs one pcap/pcapng file through a pipeline into `sink`, without any
/// file output: the building block for imports and tests. A file cut short
/// is processed up to the cut; the returned warning says so.
pub fn read_pcap(
    path: &Path,
    cfg: PipelineConfig,
    sink: &mut dyn ExchangeSink,
) -> Result<(Stats, Option<String>), CaptureError> {
    let mut cap = open_file(path)?;
    let link = link_of(&cap)?;
    let mut pipeline = Pipeline::new(cfg, link);
    let mut warning = None;
    loop {
        match cap.next_packet() {
            Ok(p) => {
                let ts = ts_ns(&p.header.ts, true);
                pipeline.process(ts, p.data, p.header.len, sink);
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                warning = Some(format!(
                    "{}: {e}; processed the packets before it",
                    path.display()
                ));
                break;
            }
        }
    }
    pipeline.finish(sink);
    Ok((pipeline.stats(), warning))
}

/// Why a pcap file could not be opened, said once: libpcap's own messages
/// start with the file name, which [`CaptureError::OpenPcap`] already gives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenPcapError {
    /// The file could not be opened at all (missing, no permission, ...).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// libpcap opened it but could not read it as a capture.
    #[error("{0}")]
    Libpcap(String),
}

fn open_file(path: &Path) -> Result<Capture<pcap::Offline>, CaptureError> {
    let fail = |source| CaptureError::OpenPcap {
        path: path.to_path_buf(),
        source,
    };
    // The operating system's reason is clearer than libpcap's retelling.
    std::fs::File::open(path).map_err(|e| fail(OpenPcapError::Io(e)))?;
    Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
        fail(OpenPcapError::Libpcap(libpcap_reason(
            &e,
            &path.to_string_lossy(),
        )))
    })
}

/// libpcap's message without the `libpcap error: ` prefix the crate adds,
/// nor a leading `SUBJECT: ` that repeats what the caller already says.
fn libpcap_reason(err: &pcap::Error, subject: &str) -> String {
    let msg = match err {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    };
    match msg.strip_prefix(subject).and_then(|m| m.strip_prefix(": ")) {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => msg,
    }
}

fn link_of<T: Activated + ?Sized>(cap: &Capture<T>) -> Result<LinkType, CaptureError> {
    let dl = cap.get_datalink();
    LinkType::from_dlt(dl.0).ok_or_else(|| CaptureError::LinkType {
        linktype: dl.0,
        name: dl.get_name().unwrap_or_else(|_| "unknown".into()),
    })
}

fn ts_ns(tv: &libc::timeval, nano: bool) -> u64 {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let frac = u64::try_from(tv.tv_usec).unwrap_or(0);
    let frac_ns = if nano {
        frac
    } else {
        frac.saturating_mul(1000)
    };
    secs.saturating_mul(1_000_000_000).saturating_add(frac_ns)
}

/// The filter handed to the kernel for a live capture on `iface`.
///
/// On a loopback interface the kernel delivers every packet to a packet
/// socket twice, once as sent and once as received, and libpcap throws the
/// sent copy away only after it has been copied into the ring. Asking the
/// kernel for inbound packets only selects the same packets at half the
/// copying, on the producers' own CPU time (loopback delivery runs in the
/// sender's context).
fn kernel_filter(filter: &str, loopback: bool) -> String {
    if loopback {
        format!("inbound and ({filter})")
    } else {
        filter.to_string()
    }
}

/// Whether libpcap lists `iface` as a loopback interface.
fn is_loopback(iface: &str) -> bool {
    pcap::Device::list()
        .ok()
        .and_then(|all| all.into_iter().find(|d| d.name == iface))
        .is_some_and(|d| d.flags.is_loopback())
}

/// Replaces the kernel filter of a packet socket with `prog`; false when
/// the kernel refused it (the socket keeps its previous filter).
#[cfg(target_os = "linux")]
fn attach_socket_filter(fd: std::os::fd::RawFd, prog: &pcap::BpfProgram) -> bool {
    // libpcap's `struct bpf_insn` is the kernel's `struct sock_filter`; the
    // pcap crate shows its fields only through Display ("code jt jf k").
    let mut insns = Vec::new();
    for insn in prog.get_instructions() {
        let text = insn.to_string();
        let mut f = text.split(' ').map(|x| x.parse::<u32>().ok());
        let (Some(Some(code)), Some(Some(jt)), Some(Some(jf)), Some(Some(k))) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        let (Ok(code), Ok(jt), Ok(jf)) = (u16::try_from(code), u8::try_from(jt), u8::try_from(jf))
        else {
            return false;
        };
        insns.push(libc::sock_filter { code, jt, jf, k });
    }
    let Ok(len) = u16::try_from(insns.len()) else {
        return false;
    };
    let fprog = libc::sock_fprog {
        len,
        filter: insns.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `len` initialised instructions that outlive
    // the call; the kernel copies and validates them.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::from_ref(&fprog).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::sock_fprog>()).unwrap_or(0),
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn attach_socket_filter(_fd: std::os::fd::RawFd, _prog: &pcap::BpfProgram) -> bool {
    false
}

/// Opens a live capture; also returns the filter the kernel applies.
fn open_live(
    cfg: &CaptureConfig,
    iface: &str,
) -> Result<(Capture<pcap::Active>, String), CaptureError> {
    let classify = |source: pcap::Error| {
        let msg = source.to_string();
        let lower = msg.to_ascii_lowercase();
        if lower.contains("permission") || lower.contains("not permitted") {
            CaptureError::Permission {
                interface: iface.to_string(),
                source,
            }
        } else if lower.contains("no such device") || lower.contains("doesn't exist") {
            CaptureError::NoInterface {
                interface: iface.to_string(),
                source,
            }
        } else {
            CaptureError::Live {
                interface: iface.to_string(),
                source,
            }
        }
    };
    let mut inactive = Capture::from_device(iface)
        .map_err(classify)?
        .promisc(true)
        .snaplen(i32::try_from(cfg.snaplen).unwrap_or(i32::MAX));
    inactive = match cfg.block_timeout {
        // libpcap's read timeout is the kernel's block retire timeout in
        // TPACKET_V3 mode (at least 1 ms: 0 would mean "never").
        Some(t) => inactive.immediate_mode(false).timeout(block_timeout_ms(t)),
        None => inactive.immediate_mode(true).timeout(READ_TIMEOUT_MS),
    };
    if let Some(b) = cfg.buffer_size {
        inactive = inactive.buffer_size(i32::try_from(b).unwrap_or(i32::MAX));
    }
    let mut cap = inactive.open().map_err(classify)?;
    let filter = cfg.filter();
    cap.filter(&filter, true)
        .map_err(|source| CaptureError::Filter {
            filter: filter.clone(),
            source,
        })?;
    // A narrower kernel filter is attached to the socket directly, not
    // through libpcap: after a filter change libpcap re-filters the packets
    // already buffered in user space, where its interpreter cannot read a
    // packet's direction and would reject them all. Its own (plain) filter
    // stays in place for that, which selects the same packets there.
    let narrower = kernel_filter(&filter, is_loopback(iface));
    let applied = if narrower != filter
        && cap
            .compile(&narrower, true)
            .is_ok_and(|prog| attach_socket_filter(cap.as_raw_fd(), &prog))
    {
        narrower
    } else {
        filter
    };
    // Non-blocking reads plus our own poll() with a timeout: libpcap's read
    // timeout is not honoured in immediate mode on every platform, and it
    // restarts its own poll() after a signal.
    Ok((cap.setnonblock().map_err(classify)?, applied))
}

fn block_timeout_ms(t: Duration) -> i32 {
    i32::try_from(t.as_millis()).unwrap_or(i32::MAX).max(1)
}

enum Src {
    Live(Capture<pcap::Active>),
    File(Capture<pcap::Offline>),
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
    let (mut src, desc, announce) = match &cfg.source {
        Source::Interface(i) => {
            let (cap, applied) = open_live(cfg, i)?;
            let announce = format!("capturing on {i} (filter: {applied})");
            (Src::Live(cap), (meta::INTERFACE, i.clone()), announce)
        }
        Source::Pcap(p) => (
            Src::File(open_file(p)?),
            (meta::PCAP, p.display().to_string()),
            format!("importing {}", p.display()),
        ),
    };
    let link = match &src {
        Src::Live(c) => link_of(c)?,
        Src::File(c) => link_of(c)?,
    };
    let live = matches!(src, Src::Live(_));
    let mut header_meta = vec![
        (
            meta::SOURCE.to_string(),
            if live { "capture" } else { "import" }.to_string(),
        ),
        (desc.0.to_string(), desc.1.clone()),
    ];
    if live {
        header_meta.push((meta::FILTER.to_string(), cfg.filter()));
    }
    if let Some(h) = hostname() {
        header_meta.push((meta::HOSTNAME.to_string(), h));
    }
    let metrics = Arc::new(Metrics::with_extra(cfg.extra_metrics.clone()));
    let server = match cfg.metrics {
        Some(addr) => {
            let server = MetricsServer::start(addr, Arc::clone(&metrics))
                .map_err(|source| CaptureError::Metrics { addr, source })?;
            // The bound address (port 0 resolved), for scripts and tests.
            on_notice(Notice::Metrics(server.addr));
            Some(server)
        }
        None => None,
    };
    let mut out = LogSink::new(cfg, header_meta, on_request);
    if cfg.rotate_size.is_none() && cfg.rotate_every.is_none() {
        // A single file exists from the start, even if nothing arrives.
        out.open(0);
    }
    let mut pipeline = Pipeline::new(cfg.pipeline.clone(), link);
    if let Some(e) = out.error.take() {
        return Err(e);
    }
    on_notice(Notice::Started(&announce));
    metrics.set_up(true);

    let started = Instant::now();
    let mut first_ts: Option<u64> = None;
    let mut last_housekeeping = Instant::now();
    let mut last_stats = Instant::now();
    let mut drops = (0u64, 0u64);
    let mut warnings = Vec::new();
    let mut n: u64 = 0;
    let mut drain_until: Option<Instant> = None;
    // While draining, stop once nothing came for this long: more than a
    // block timeout, or the last partly filled block would be left behind.
    let drain_quiet_ms = DRAIN_QUIET_MS.max(cfg.block_timeout.map_or(0, |t| {
        block_timeout_ms(t).saturating_mul(2).saturating_add(100)
    }));
    // The clock is read once every CLOCK_EVERY packets and after every
    // idle read, not per packet.
    let mut since_clock: u32 = 0;
    let mut clock_due = true;
    let paced_wait = paced_wait(cfg).filter(|_| live);
    let pacing = cfg.pacing.as_ref().zip(paced_wait);
    let mut behind_seen = None;
    let mut paced_waits: u64 = 0;
    let stopped_by = loop {
        if drain_until.is_none() && stop.load(Ordering::Relaxed) {
            if !live {
                break StopReason::Signal;
            }
            // Packets already in the kernel buffer were on the wire before
            // the signal: read them, for a bounded time.
            drain_until = Some(Instant::now() + DRAIN_MAX);
        }
        if clock_due {
            let now = Instant::now();
            if drain_until.is_some_and(|t| now >= t) {
                break StopReason::Signal;
            }
            if live && cfg.duration.is_some_and(|d| now - started >= d) {
                break StopReason::Duration;
            }
        }
        if out.limit_reached() {
            break StopReason::MaxExchanges;
        }
        if let Some(e) = out.error.take() {
            metrics.set_up(false);
            drop(server);
            return Err(e);
        }
        let next = match &mut src {
            Src::Live(c) => c.next_packet().map(|p| (ts_ns(&p.header.ts, false), p)),
            Src::File(c) => c.next_packet().map(|p| (ts_ns(&p.header.ts, true), p)),
        };
        let mut done = None;
        match next {
            Ok((ts, p)) => {
                n += 1;
                since_clock += 1;
                clock_due = since_clock >= CLOCK_EVERY;
                let first = *first_ts.get_or_insert(ts);
                if !live
                    && cfg
                        .duration
                        .is_some_and(|d| ts.saturating_sub(first) >= d.as_nanos() as u64)
                {
                    done = Some(StopReason::Duration);
                } else {
                    out.now_ns = out.now_ns.max(ts);
                    pipeline.process(ts, p.data, p.header.len, &mut out);
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                clock_due = true;
                if let Src::Live(c) = &src {
                    // Nothing to read: wait for the kernel to hand over the
                    // next packet or block. Draining: stop once nothing
                    // comes for a whole wait.
                    let wait = if drain_until.is_some() {
                        drain_quiet_ms
                    } else {
                        READ_TIMEOUT_MS
                    };
                    let pause = pacing
                        .filter(|_| drain_until.is_none())
                        .filter(|(p, _)| p.paced(Instant::now(), &mut behind_seen));
                    if let Some((_, pause)) = pause {
                        paced_waits += 1;
                        std::thread::sleep(pause);
                    } else if !wait_readable(c.as_raw_fd(), wait) && drain_until.is_some() {
                        done = Some(StopReason::Signal);
                    }
                }
            }
            Err(pcap::Error::NoMorePackets) => done = Some(StopReason::EndOfFile),
            Err(e) => {
                if live {
                    metrics.set_up(false);
                    return Err(CaptureError::Read(e));
                }
                let w = format!("{}: {e}; processed the {n} packets before it", desc.1);
                on_notice(Notice::Warning(&w));
                warnings.push(w);
                done = Some(StopReason::EndOfFile);
            }
        }
        if let Some(reason) = done {
            break reason;
        }
        if !clock_due {
            continue;
        }
        since_clock = 0;
        // Housekeeping on the wall clock: flushing, stats, metrics.
        if last_housekeeping.elapsed() >= Duration::from_millis(100) {
            last_housekeeping = Instant::now();
            out.flush_if_due();
            if let Src::Live(c) = &mut src {
                if let Ok(s) = c.stats() {
                    drops = (u64::from(s.dropped), u64::from(s.if_dropped));
                }
            }
            let stats = pipeline.stats();
            metrics.update(&stats, drops.0 + drops.1, out.written, out.bytes_written());
            if let Some(every) = cfg.stats_every {
                if last_stats.elapsed() >= every {
                    last_stats = Instant::now();
                    let line =
                        stats_line(&stats, drops.0 + drops.1, out.written, out.bytes_written());
                    on_notice(Notice::Stats(&line));
                }
            }
        }
    };
    pipeline.finish(&mut out);
    if let Src::Live(c) = &mut src {
        if let Ok(s) = c.stats() {
            drops = (u64::from(s.dropped), u64::from(s.if_dropped));
        }
    }
    let stats = pipeline.stats();
    out.finish_all();
    metrics.update(&stats, drops.0 + drops.1, out.written, out.bytes_written());
    metrics.set_up(false);
    drop(server);
    if let Some(e) = out.error.take() {
        return Err(e);
    }
    warnings.append(&mut out.warnings);
    let summary = CaptureSummary {
        stats,
        kernel_drops: drops.0,
        if_drops: drops.1,
        exchanges_written: out.written,
        bytes_written: out.bytes_written(),
        files: out.files.clone(),
        warnings,
        stopped_by,
        paced_waits,
        paced_wait,
    };
    if cfg.stats_every.is_some() {
        let line = stats_line(&stats, drops.0 + drops.1, out.written, out.bytes_written());
        on_notice(Notice::Stats(&line));
    }
    Ok(summary)
}

/// The one-line stats summary printed on stderr.
pub fn stats_line(s: &Stats, drops: u64, exchanges_written: u64, bytes_written: u64) -> String {
    format!(
        "shadowtap: packets={} bytes={} kernel_drops={} exchanges={} written={} incomplete={} evicted={} \
         fragments={} malformed={} gaps={} http_malformed={} framing_errors={} skipped_bytes={} \
         flows={} buffered={} bytes_written={}",
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
    )
}

/// How long a paced live reader pauses (see [`Pacing`]): [`PACED_WAIT`],
/// cut to what a quarter of the kernel ring holds at one block per block
/// timeout; `None` in immediate mode or when that is no longer than the
/// block timeout.
fn paced_wait(cfg: &CaptureConfig) -> Option<Duration> {
    let timeout = Duration::from_millis(u64::try_from(block_timeout_ms(cfg.block_timeout?)).ok()?);
    let blocks = cfg.buffer_size.unwrap_or(LIBPCAP_DEFAULT_BUFFER) / LIBPCAP_V3_BLOCK;
    let wait = PACED_WAIT.min(timeout.saturating_mul(blocks / 4));
    (wait > timeout).then_some(wait)
}

/// Waits until `fd` is readable, a signal arrives, or `timeout_ms` passes.
/// Returns false when the wait timed out with nothing to read.
fn wait_readable(fd: std::os::fd::RawFd, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; the result is
    // only a hint (errors, EINTR included, just end the wait).
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    rc != 0
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success (and we stop at the first NUL regardless).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end]).ok().map(str::to_string)
}

/// Writes exchanges to the current log file, rotating as configured.
struct LogSink<'a> {
    on_request: &'a mut dyn FnMut(&RequestEvent<'_>),
    output: Option<PathBuf>,
    rotate: bool,
    rotate_size: Option<u64>,
    rotate_every_ns: Option<u64>,
    limit: Option<u64>,
    header: FileHeader,
    options: WriterOptions,
    writer: Option<(Writer<std::fs::File>, PathBuf, u64)>,
    seq: u32,
    files: Vec<PathBuf>,
    /// Packet clock.
    now_ns: u64,
    written: u64,
    closed_bytes: u64,
    error: Option<CaptureError>,
    warnings: Vec<String>,
}

impl<'a> LogSink<'a> {
    fn new(
        cfg: &CaptureConfig,
        meta: Vec<(String, String)>,
        on_request: &'a mut dyn FnMut(&RequestEvent<'_>),
    ) -> LogSink<'a> {
        LogSink {
            on_request,
            output: cfg.output.clone(),
            rotate: cfg.rotate_size.is_some() || cfg.rotate_every.is_some(),
            rotate_size: cfg.rotate_size,
            rotate_every_ns: cfg
                .rotate_every
                .map(|d| d.as_nanos().min(u128::from(u64::MAX)) as u64),
            limit: cfg.max_exchanges,
            header: FileHeader {
                writer: cfg.writer_name.clone(),
                created_ns: 0,
                meta,
            },
            options: cfg.log.clone(),
            writer: None,
            seq: 0,
            files: Vec::new(),
            now_ns: 0,
            written: 0,
            closed_bytes: 0,
            error: None,
            warnings: Vec::new(),
        }
    }

    fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|l| self.written >= l)
    }

    fn bytes_written(&self) -> u64 {
        self.closed_bytes + self.writer.as_ref().map_or(0, |w| w.0.bytes_written())
    }

    fn path_for(&self, output: &Path, ts_ns: u64) -> PathBuf {
        if !self.rotate {
            return output.to_path_buf();
        }
        let stem = output
            .file_stem()
            .map_or_else(|| "capture".into(), |s| s.to_string_lossy().into_owned());
        let ext = output
            .extension()
            .map_or_else(|| "stlog".into(), |s| s.to_string_lossy().into_owned());
        let name = format!("{stem}-{}-{:05}.{ext}", utc_stamp(ts_ns), self.seq);
        output.with_file_name(name)
    }

    fn open(&mut self, ts_ns: u64) {
        let Some(output) = self.output.clone() else {
            return;
        };
        let ts = if ts_ns == 0 { wall_ns() } else { ts_ns };
        self.seq += 1;
        let path = self.path_for(&output, ts);
        self.header.created_ns = wall_ns();
        match Writer::create(&path, &self.header, self.options.clone()) {
            Ok(w) => {
                self.files.push(path.clone());
                self.writer = Some((w, path, ts));
            }
            Err(source) => self.error = Some(CaptureError::Write { path, source }),
        }
    }

    fn close_current(&mut self) {
        if let Some((w, path, _)) = self.writer.take() {
            let bytes = w.bytes_written();
            match w.finish() {
                Ok(_) => {}
                Err(source) => {
                    if self.error.is_none() {
                        self.error = Some(CaptureError::Write { path, source });
                    }
                }
            }
            // What finish added (index, last block) is not counted exactly;
            // the file size is.
            let size = self
                .files
                .last()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(bytes, |m| m.len());
            self.closed_bytes += size;
        }
    }

    fn flush_if_due(&mut self) {
        if let Some((w, path, _)) = self.writer.as_mut() {
            if let Err(source) = w.flush_if_due() {
                if self.error.is_none() {
                    self.error = Some(CaptureError::Write {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
    }

    fn finish_all(&mut self) {
        if self.output.is_some()
            && self.writer.is_none()
            && self.files.is_empty()
            && self.error.is_none()
        {
            // Nothing arrived: still leave one valid (empty) log behind.
            self.open(self.now_ns);
        }
        self.close_current();
    }
}

impl ExchangeSink for LogSink<'_> {
    fn request(&mut self, req: &RequestEvent<'_>) {
        (self.on_request)(req);
    }

    fn exchange(&mut self, ex: Exchange) {
        if self.output.is_none() {
            // No log: count, so --max-exchanges still stops.
            self.written += 1;
            return;
        }
        if self.error.is_some() || self.limit_reached() {
            return;
        }
        if let (Some(every), Some((_, _, started))) = (self.rotate_every_ns, &self.writer) {
            if self.now_ns.saturating_sub(*started) >= every {
                self.close_current();
            }
        }
        if self.writer.is_none() {
            self.open(self.now_ns);
        }
        let Some((w, path, _)) = self.writer.as_mut() else {
            return;
        };
        match w.append(&ex) {
            Ok(()) => self.written += 1,
            Err(WriteError::RecordTooLarge { id, len, max }) => {
                self.warnings.push(format!(
                    "exchange {id} skipped: {len} bytes encoded, more than the {max}-byte limit"
                ));
            }
            Err(source) => {
                self.error = Some(CaptureError::Write {
                    path: path.clone(),
                    source,
                });
                return;
            }
        }
        if let Some(size) = self.rotate_size {
            if w.bytes_written() + w.pending_bytes() as u64 >= size {
                self.close_current();
            }
        }
    }
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC, for file names that sort by time.
pub fn utc_stamp(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let millis = (ts_ns / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// Root- and tool-gated tests share one helper with the integration tests.
#[cfg(test)]
#[path = "../tests/support/gate.rs"]
mod test_gate;

#[cfg(test)]
mod tests {
    use super::test_gate as gate;
    use super::*;

    /// What the capture stores of an exchange at the largest body cap, with
    /// heads and chunked framing at their bounds on both sides, is written
    /// into one log block. With a framing room as large as the cap, such an
    /// exchange was over the block limit and skipped with only a warning.
    #[test]
    fn an_exchange_at_the_largest_body_cap_fits_in_one_block() {
        use shadowtap_format::http1::DEFAULT_MAX_HEAD;
        use shadowtap_format::{Flags, Response};

        let head = DEFAULT_MAX_HEAD;
        let body = (MAX_BODY_LIMIT + crate::conn::framing_room(MAX_BODY_LIMIT)) as usize;
        let ex = Exchange {
            id: 0,
            conn: 0,
            client: "[2001:db8::1]:40000".parse().unwrap(),
            server: "[2001:db8::2]:8080".parse().unwrap(),
            req_first_ns: u64::MAX,
            req_last_ns: u64::MAX,
            flags: Flags::REQ_BODY_CAPPED | Flags::RESP_BODY_CAPPED,
            request: vec![b'q'; head + body],
            request_len: u64::MAX,
            response: Some(Response {
                first_ns: u64::MAX,
                last_ns: u64::MAX,
                status: 200,
                head: vec![b'h'; head],
                body: vec![b'b'; body],
                body_len: u64::MAX,
            }),
        };
        let opts = WriterOptions {
            codec: shadowtap_format::Codec::None,
            ..WriterOptions::default()
        };
        let mut w = Writer::new(Vec::new(), &FileHeader::default(), opts).unwrap();
        w.append(&ex).expect("the largest exchange fits in a block");
        assert!(w.finish().unwrap().len() > 2 * body);
    }

    #[test]
    fn stamps_sort_and_are_right() {
        assert_eq!(utc_stamp(0), "19700101T000000.000Z");
        assert_eq!(utc_stamp(1_700_000_000_123_000_000), "20231114T221320.123Z");
        assert_eq!(utc_stamp(951_782_400_000_000_000), "20000229T000000.000Z");
        assert!(utc_stamp(1_700_000_000_000_000_000) < utc_stamp(1_700_000_001_000_000_000));
    }

    #[test]
    fn pacing_lasts_a_hold_after_the_last_report() {
        let p = Pacing::default();
        let mut seen = None;
        let t0 = Instant::now();
        assert!(!p.paced(t0, &mut seen), "not paced before any report");
        p.fell_behind();
        p.fell_behind();
        assert!(p.pending());
        assert!(p.paced(t0, &mut seen));
        assert!(!p.pending(), "the reader took the report");
        assert!(p.paced(t0 + PACED_HOLD - Duration::from_millis(1), &mut seen));
        assert!(
            !p.paced(t0 + PACED_HOLD, &mut seen),
            "over once the hold passed"
        );
        // A new report starts a new hold from when the reader sees it.
        p.fell_behind();
        let t1 = t0 + 3 * PACED_HOLD;
        assert!(p.paced(t1, &mut seen));
        assert!(p.paced(t1 + PACED_HOLD / 2, &mut seen));
        assert!(!p.paced(t1 + PACED_HOLD, &mut seen));
    }

    #[test]
    fn caught_up_ends_pacing_at_the_next_look() {
        let p = Pacing::default();
        let mut seen = None;
        let t0 = Instant::now();
        p.fell_behind();
        assert!(p.paced(t0, &mut seen));
        p.caught_up();
        assert!(!p.pending(), "catching up is no report of falling behind");
        assert!(
            !p.paced(t0 + Duration::from_millis(1), &mut seen),
            "not paced once caught up, well within the hold"
        );
        assert!(!p.paced(t0 + Duration::from_millis(2), &mut seen));
        // Falling behind again paces again; the last report wins.
        p.caught_up();
        p.fell_behind();
        assert!(p.paced(t0 + Duration::from_millis(3), &mut seen));
        p.fell_behind();
        p.caught_up();
        assert!(!p.paced(t0 + Duration::from_millis(4), &mut seen));
    }

    #[test]
    fn a_paced_pause_fits_the_kernel_ring() {
        let mut cfg = CaptureConfig::new(Source::Interface("lo".into()), "x.stlog".into());
        let ms = Duration::from_millis;
        cfg.block_timeout = Some(ms(1));
        // 32 MiB: 128 blocks, a quarter of them last 32 ms.
        assert_eq!(paced_wait(&cfg), Some(PACED_WAIT));
        // 4 MiB: 16 blocks, a quarter last 4 ms.
        cfg.buffer_size = Some(4 << 20);
        assert_eq!(paced_wait(&cfg), Some(ms(4)));
        // 1 MiB: 4 blocks, a quarter is one block timeout: no pacing.
        cfg.buffer_size = Some(1 << 20);
        assert_eq!(paced_wait(&cfg), None);
        cfg.buffer_size = Some(6000);
        assert_eq!(paced_wait(&cfg), None);
        // libpcap's default buffer (2 MiB, 8 blocks).
        cfg.buffer_size = None;
        assert_eq!(paced_wait(&cfg), Some(ms(2)));
        // Blocks that retire as slowly as the pause: nothing to save.
        cfg.buffer_size = Some(DEFAULT_BUFFER);
        cfg.block_timeout = Some(PACED_WAIT);
        assert_eq!(paced_wait(&cfg), None);
        cfg.block_timeout = Some(ms(5));
        assert_eq!(paced_wait(&cfg), Some(PACED_WAIT));
        // Immediate mode never pauses.
        cfg.block_timeout = None;
        assert_eq!(paced_wait(&cfg), None);
    }

    #[test]
    fn only_loopback_asks_the_kernel_for_one_direction() {
        assert_eq!(kernel_filter("tcp", false), "tcp");
        assert_eq!(
            kernel_filter("tcp or udp", true),
            "inbound and (tcp or udp)"
        );
    }

    /// On loopback the kernel hands each packet over once, not once as
    /// sent and again as received (libpcap's statistics count every copy
    /// that passed the kernel filter), and nothing is lost on the way: the
    /// connection's first packet, which lands in the buffer libpcap
    /// re-filters in user space, included.
    #[test]
    #[ignore = "needs root (CAP_NET_RAW)"]
    fn loopback_capture_copies_each_packet_once() {
        gate::require_root();
        assert!(is_loopback("lo"));
        for block_timeout in [None, Some(Duration::from_millis(1))] {
            let (seen, received, first_flags) = one_loopback_connection(block_timeout);
            // Handshake, request, response and both FINs, with their ACKs.
            assert!(seen >= 7, "{block_timeout:?}: {seen} packets");
            assert_eq!(received, seen, "{block_timeout:?}");
            assert_eq!(
                first_flags, 0x02,
                "{block_timeout:?}: the first packet is the SYN"
            );
        }
    }

    /// Captures one short HTTP exchange on lo: packets read, packets the
    /// kernel passed, TCP flags of the first packet.
    fn one_loopback_connection(block_timeout: Option<Duration>) -> (u32, u32, u8) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = CaptureConfig::new(Source::Interface("lo".into()), PathBuf::new());
        cfg.pipeline.ports = vec![addr.port()];
        cfg.block_timeout = block_timeout;
        let (mut cap, applied) = open_live(&cfg, "lo").unwrap();
        assert_eq!(applied, format!("inbound and ({})", cfg.filter()));

        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(server.read(&mut buf).unwrap() > 0);
        server
            .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .unwrap();
        assert!(client.read(&mut buf).unwrap() > 0);
        drop(client);
        drop(server);

        // Read until the capture has been quiet for 300 ms (bounded).
        let fd = cap.as_raw_fd();
        let (mut seen, mut first_flags) = (0u32, None);
        for _ in 0..1000 {
            match cap.next_packet() {
                Ok(p) => {
                    seen += 1;
                    // Ethernet (14) + IPv4 (20) + TCP flags at 13.
                    first_flags.get_or_insert(p.data.get(47).copied().unwrap_or(0));
                }
                Err(pcap::Error::TimeoutExpired) => {
                    if !wait_readable(fd, 300) {
                        break;
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
        (
            seen,
            cap.stats().unwrap().received,
            first_flags.unwrap_or(0),
        )
    }

    #[test]
    fn filter_from_ports_and_bpf() {
        let mut c = CaptureConfig::new(Source::Interface("lo".into()), "x.stlog".into());
        assert_eq!(c.filter(), "tcp");
        c.pipeline.ports = vec![80, 8080];
        assert_eq!(c.filter(), "tcp and (port 80 or port 8080)");
        c.bpf = Some("host 10.0.0.1".into());
        assert_eq!(
            c.filter(),
            "(tcp and (port 80 or port 8080)) and (host 10.0.0.1)"
        );
    }

    /// The requests-only filter, run by libpcap's own BPF compiler and
    /// interpreter on hand-built IPv4 and IPv6 frames: everything towards
    /// the server port, and from it only SYN, FIN and RST.
    #[test]
    fn requests_only_filter_keeps_client_bytes_and_server_control() {
        use etherparse::PacketBuilder;
        use pcap::{Capture, Linktype};

        // What each frame is: (from the server?, flags, payload).
        #[derive(Clone, Copy)]
        enum F {
            Syn,
            SynAck,
            PshAck,
            Ack,
            Fin,
            Rst,
        }
        fn frame(v6: bool, from_server: bool, port: u16, f: F, payload: &[u8]) -> Vec<u8> {
            let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
            let (sp, dp) = if from_server {
                (port, 40000)
            } else {
                (40000, port)
            };
            let b = if v6 {
                eth.ipv6([1; 16], [2; 16], 64).tcp(sp, dp, 1000, 65535)
            } else {
                eth.ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                    .tcp(sp, dp, 1000, 65535)
            };
            let b = match f {
                F::Syn => b.syn(),
                F::SynAck => b.syn().ack(1),
                F::PshAck => b.psh().ack(1),
                F::Ack => b.ack(1),
                F::Fin => b.fin().ack(1),
                F::Rst => b.rst(),
            };
            let mut out = Vec::new();
            b.write(&mut out, payload).unwrap();
            out
        }

        let mut c = CaptureConfig::new(Source::Interface("lo".into()), "x.stlog".into());
        c.pipeline.ports = vec![80, 8080];
        let full = Capture::dead(Linktype::ETHERNET)
            .unwrap()
            .compile(&c.filter(), true)
            .unwrap();
        c.pipeline.responses = false;
        assert_eq!(
            c.filter(),
            format!(
                "tcp and (dst port 80 or dst port 8080 or \
                 ((src port 80 or src port 8080) and {SERVER_CONTROL}))"
            )
        );
        let reqs = Capture::dead(Linktype::ETHERNET)
            .unwrap()
            .compile(&c.filter(), true)
            .unwrap();

        let body = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        for v6 in [false, true] {
            for port in [80, 8080] {
                for f in [F::Syn, F::SynAck, F::PshAck, F::Ack, F::Fin, F::Rst] {
                    let to_server = frame(v6, false, port, f, b"GET / HTTP/1.1\r\n\r\n");
                    assert!(reqs.filter(&to_server) && full.filter(&to_server));
                    let from_server = frame(v6, true, port, f, body);
                    let control = !matches!(f, F::PshAck | F::Ack);
                    assert_eq!(reqs.filter(&from_server), control, "v6 {v6} port {port}");
                    assert!(full.filter(&from_server));
                }
            }
            // Other ports pass neither filter.
            for from_server in [false, true] {
                let other = frame(v6, from_server, 81, F::Fin, b"");
                assert!(!reqs.filter(&other) && !full.filter(&other));
            }
        }
    }
}
