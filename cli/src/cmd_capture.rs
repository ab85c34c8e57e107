//! `shadowtap capture`: record HTTP/1.x exchanges from an interface or a
//! pcap/pcapng file (see `shadowtap_capture::daemon`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use shadowtap_capture::daemon::{DEFAULT_BLOCK_TIMEOUT, MAX_BODY_LIMIT};
use shadowtap_capture::{CaptureConfig, CaptureSummary, PacketSource, PipelineConfig, Watch};
use shadowtap_cli::shutdown::Shutdown;
use shadowtap_format::Codec;

use crate::{exit, units};

/// Options of `shadowtap capture`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["interface", "pcap"])))]
pub struct CaptureArgs {
    /// Capture live on this interface (needs root or the CAP_NET_RAW
    /// capability). Requires --port.
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: Option<String>,
    /// Import a pcap or pcapng file instead (timestamps from the file).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// The log file to write (mode 0600). With rotation, files are named
    /// STEM-UTCTIME-SEQ.EXT next to it.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// No live progress line for --pcap (it is drawn only when stderr is a
    /// terminal).
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub opts: CaptureOpts,
}

/// Filters, bounds and output options: shared by `capture` and `tee`.
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureOpts {
    /// Server port(s), comma separated. Without it, an import recognises
    /// HTTP/1.x by content on any port.
    #[arg(long, short = 'p', value_name = "P[,P...]", value_delimiter = ',')]
    pub port: Vec<u16>,
    /// Extra BPF filter expression, and-ed with the port filter (live).
    /// On tunnelled traffic it sees the outer headers.
    #[arg(long, value_name = "EXPR")]
    pub bpf: Option<String>,
    /// Encapsulations decoded: `auto` (VXLAN on UDP 4789, GENEVE on 6081,
    /// GRE, ERSPAN, MPLS, IP in IP, PPPoE), `none`, or a comma-separated
    /// list of vxlan[:PORT], geneve[:PORT], gre, erspan, mpls, ipip, pppoe.
    /// A live capture's filter admits their carriers too (with `auto`, not
    /// on loopback), and --port applies to the inner packets.
    #[arg(long, value_name = "KINDS", default_value = "auto")]
    pub encap: shadowtap_capture::Decap,
    /// Start a new log file once the current one reaches about this size.
    #[arg(
        long,
        value_name = "SIZE",
        allow_negative_numbers = true,
        value_parser = units::size,
    )]
    pub rotate_size: Option<u64>,
    /// Start a new log file once the current one is this old.
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        allow_hyphen_values = true,
    )]
    pub rotate_every: Option<Duration>,
    /// Stop after this long (packet time for --pcap).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        allow_hyphen_values = true,
    )]
    pub duration: Option<Duration>,
    /// Stop once this many exchanges were written.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = units::count::<u64>,
    )]
    pub max_exchanges: Option<u64>,
    /// Record requests only: each is written as soon as it is complete.
    #[arg(long)]
    pub no_responses: bool,
    /// Body bytes kept per message; longer bodies keep their first bytes,
    /// their true length and a *_body_capped flag. At most 16MiB, a hard
    /// limit: an exchange (request and response) must fit in one block of
    /// the log format (64 MiB decoded).
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "1MiB",
        allow_negative_numbers = true,
    )]
    pub max_body: u64,
    /// Replace this header's value before it reaches disk (repeatable).
    #[arg(long = "redact-header", value_name = "NAME")]
    pub redact_header: Vec<String>,
    /// Live snap length in bytes; frames cut shorter are flagged.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 262_144,
        allow_negative_numbers = true,
        value_parser = units::count::<u32>,
    )]
    pub snaplen: u32,
    /// Live kernel capture buffer size (packets beyond it are dropped by
    /// the kernel and counted as kernel_drops).
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "32MiB",
        allow_negative_numbers = true,
    )]
    pub buffer: u64,
    /// Live: how long the kernel may hold captured packets to hand them
    /// over in blocks (fewer wake-ups, and a buffer that holds many more
    /// packets). Default 50ms for capture, 1ms for tee; 0s: immediate
    /// mode, each packet on its own (lowest latency, but on loopback the
    /// buffer then holds only a few hundred packets).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        allow_hyphen_values = true,
    )]
    pub block_timeout: Option<Duration>,
    /// Most TCP connections tracked at once (the least recently active is
    /// evicted).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub max_flows: usize,
    /// Most bytes one connection may buffer before it is evicted.
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "64MiB",
        allow_negative_numbers = true,
    )]
    pub max_flow_bytes: u64,
    /// Most bytes all connections together may buffer.
    #[arg(
        long,
        value_name = "SIZE",
        value_parser = units::size,
        default_value = "1GiB",
        allow_negative_numbers = true,
    )]
    pub max_total_bytes: u64,
    /// Evict connections idle this long (packet time).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        default_value = "2m",
        allow_hyphen_values = true,
    )]
    pub idle_timeout: Duration,
    /// How the log is compressed: `zstd` (level 1, the default), `zstd:LEVEL`
    /// (negative levels, down to -7 and beyond, write faster and larger
    /// files; higher ones smaller and slower) or `none`.
    #[arg(long, value_name = "CODEC", value_parser = units::compression, default_value = "zstd")]
    pub compression: (Codec, i32),
    /// Serve the counters in Prometheus text format on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// How often to print a stats line on stderr (0s: never).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        default_value = "5s",
        allow_hyphen_values = true,
    )]
    pub stats_interval: Duration,
}

/// Phase two of `capture`'s options: the validated configuration.
pub(crate) fn config(args: &CaptureArgs) -> anyhow::Result<CaptureConfig> {
    let source = match (&args.interface, &args.pcap) {
        (Some(i), None) => PacketSource::Interface(i.clone()),
        (None, Some(p)) => PacketSource::Pcap(p.clone()),
        // clap's `source` group already holds to this.
        _ => return exit::usage("give exactly one of --interface and --pcap"),
    };
    // A log tolerates delay; a full buffer loses packets.
    validated(
        source,
        Some(args.output.clone()),
        &args.opts,
        CAPTURE_BLOCK_TIMEOUT,
    )
}

/// Kernel block timeout of `capture` (see `--block-timeout`): at full
/// speed blocks fill long before it, so it only delays quiet traffic.
const CAPTURE_BLOCK_TIMEOUT: Duration = DEFAULT_BLOCK_TIMEOUT;

/// Kernel block timeout of `tee`, whose mirror delay counts.
const TEE_BLOCK_TIMEOUT: Duration = Duration::from_millis(1);

/// `tee`'s capture configuration (see [`validated`]); `output: None` writes
/// no log.
pub(crate) fn config_from(
    source: PacketSource,
    output: Option<PathBuf>,
    opts: &CaptureOpts,
) -> anyhow::Result<CaptureConfig> {
    validated(source, output, opts, TEE_BLOCK_TIMEOUT)
}

/// The one conversion of capture options into a validated configuration,
/// for `capture` and `tee`, each with its own default block timeout.
fn validated(
    source: PacketSource,
    output: Option<PathBuf>,
    opts: &CaptureOpts,
    default_block_timeout: Duration,
) -> anyhow::Result<CaptureConfig> {
    if matches!(source, PacketSource::Interface(_)) && opts.port.is_empty() {
        return exit::usage("live capture needs --port (the BPF filter is built from it)");
    }
    if opts.port.contains(&0) {
        return exit::usage("--port 0 is not a port");
    }
    if opts.max_body > MAX_BODY_LIMIT {
        return exit::usage(format!(
            "--max-body is at most {} MiB (an exchange must fit in one block of the log)",
            MAX_BODY_LIMIT >> 20
        ));
    }
    if opts.snaplen < 128 {
        return exit::usage("--snaplen must be at least 128");
    }
    if opts.max_flows == 0 {
        return exit::usage("--max-flows must be at least 1");
    }
    if opts.max_exchanges == Some(0) {
        return exit::usage("--max-exchanges must be at least 1");
    }
    if opts.rotate_size.is_some_and(|s| s < 64 * 1024) {
        return exit::usage("--rotate-size must be at least 64KiB");
    }
    if opts
        .rotate_every
        .is_some_and(|d| d < Duration::from_secs(1))
    {
        return exit::usage("--rotate-every must be at least 1s");
    }
    if opts.idle_timeout.is_zero() {
        return exit::usage("--idle-timeout must be more than 0s");
    }
    if let Some(h) = opts
        .redact_header
        .iter()
        .find(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
    {
        return exit::usage(format!("--redact-header {h:?} is not a header name"));
    }
    let as_usize = |v: u64, name: &str| {
        usize::try_from(v).map_err(|_| exit::UsageError(format!("{name} is too large")))
    };
    let mut ports = opts.port.clone();
    ports.sort_unstable();
    ports.dedup();
    let mut cfg = CaptureConfig::new(source, PathBuf::new());
    cfg.output = output;
    cfg.bpf = opts.bpf.clone();
    cfg.encap = opts.encap;
    cfg.rotate_size = opts.rotate_size;
    cfg.rotate_every = opts.rotate_every;
    cfg.duration = opts.duration;
    cfg.max_exchanges = opts.max_exchanges;
    cfg.snaplen = opts.snaplen;
    if opts.buffer < u64::from(opts.snaplen) * 4 {
        return exit::usage("--buffer must hold at least 4 frames of --snaplen bytes");
    }
    cfg.buffer_size = Some(
        u32::try_from(opts.buffer)
            .ok()
            .filter(|b| *b <= i32::MAX as u32)
            .ok_or_else(|| exit::UsageError("--buffer is at most 2GiB".into()))?,
    );
    cfg.block_timeout = match opts.block_timeout {
        None => Some(default_block_timeout),
        Some(t) if t.is_zero() => None,
        Some(t) if t > Duration::from_secs(10) => {
            return exit::usage("--block-timeout is at most 10s")
        }
        Some(t) if t < Duration::from_millis(1) => {
            return exit::usage("--block-timeout is 0s (immediate) or at least 1ms")
        }
        Some(t) => Some(t),
    };
    cfg.metrics = opts.metrics;
    (cfg.log.codec, cfg.log.zstd_level) = opts.compression;
    cfg.stats_every = (!opts.stats_interval.is_zero()).then_some(opts.stats_interval);
    cfg.writer_name = format!("shadowtap {}", env!("CARGO_PKG_VERSION"));
    cfg.pipeline = PipelineConfig {
        ports,
        max_body: opts.max_body,
        redact_headers: opts.redact_header.clone(),
        responses: !opts.no_responses,
        max_flows: opts.max_flows,
        max_flow_bytes: as_usize(opts.max_flow_bytes, "--max-flow-bytes")?,
        max_total_bytes: as_usize(opts.max_total_bytes, "--max-total-bytes")?,
        idle_timeout_ns: u64::try_from(opts.idle_timeout.as_nanos()).unwrap_or(u64::MAX),
    };
    Ok(cfg)
}

pub fn run(args: CaptureArgs) -> anyhow::Result<u8> {
    let mut cfg = config(&args)?;
    let shutdown = Shutdown::install().context("installing the signal handler")?;
    // An import's progress line; a live capture has no end to show, and its
    // lines on stderr must take no lock (stderr.rs).
    let ticker = match &cfg.source {
        PacketSource::Pcap(_) if crate::progress::wanted(args.no_progress) => {
            let watch = Watch::new();
            cfg.watch = Some(watch.clone());
            Some(import_progress(watch))
        }
        _ => None,
    };
    let summary = if ticker.is_some() {
        // The capture thread is not racing a kernel buffer here: its lines
        // may wait for the bar to step aside.
        shadowtap_capture::run_with(&cfg, shutdown.flag(), &mut |_| {}, &mut |n| {
            crate::progress::suspend(|| crate::stderr::notice(n))
        })
    } else {
        shadowtap_capture::run_with(
            &cfg,
            shutdown.flag(),
            &mut |_| {},
            &mut crate::stderr::notice,
        )
    };
    if let Some(t) = ticker {
        t.finish();
    }
    let summary = summary?;
    print_summary(&summary);
    Ok(exit_code(&cfg, &summary))
}

/// The line of a `--pcap` import: bytes of the file read out of its size
/// (the file offset, see [`Watch`]), packets per second and exchanges
/// written. The time left is estimated from the byte rate.
fn import_progress(watch: Watch) -> crate::progress::Ticker {
    use indicatif::HumanCount;
    // The bar takes what the text leaves of the terminal's width (the
    // message padded, so the bar keeps its width as the numbers change).
    const TEMPLATE: &str =
        "[{wide_bar}] {binary_bytes}/{binary_total_bytes} {percent:>3}%  {msg:<44}";
    let bar = crate::progress::bar(Some(0), TEMPLATE);
    let started = std::time::Instant::now();
    crate::progress::Ticker::start(bar, move |bar| {
        let Some(s) = watch.snapshot() else {
            return;
        };
        if bar.length() != Some(s.file_size) {
            bar.set_length(s.file_size);
        }
        crate::progress::show(bar);
        // The kernel's offset may be a stdio buffer ahead: never past the end.
        bar.set_position(s.bytes_read.unwrap_or(0).min(s.file_size));
        let secs = started.elapsed().as_secs_f64();
        let pps = if secs > 0.0 {
            s.packets as f64 / secs
        } else {
            0.0
        };
        let mut msg = format!(
            "{} packets/s  {} exchanges",
            HumanCount(pps as u64),
            HumanCount(s.exchanges_written)
        );
        if s.bytes_read.is_some() && bar.position() > 0 {
            msg.push_str(&format!("  ETA {}", crate::progress::clock(bar.eta())));
        }
        bar.set_message(msg);
    })
}

fn print_summary(summary: &CaptureSummary) {
    let files: Vec<String> = summary
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    say!(
        "shadowtap: wrote {} exchanges ({} bytes) to {}",
        summary.exchanges_written,
        summary.bytes_written,
        files.join(", ")
    );
    print_sessions(summary);
}

/// The tunnels' outer endpoints the packets came through, if any.
pub(crate) fn print_sessions(summary: &CaptureSummary) {
    if summary.outer_sessions.is_empty() {
        return;
    }
    let list: Vec<String> = summary
        .outer_sessions
        .iter()
        .map(|o| format!("{} {} > {}", o.encap, o.src, o.dst))
        .collect();
    let more = if summary.stats.encap.sessions_unlisted > 0 {
        " (and more, not listed)"
    } else {
        ""
    };
    say!("shadowtap: tunnel sessions: {}{more}", list.join(", "));
}

/// A live capture is meant to end by a signal (0); an import stopped by
/// one did not finish (130).
fn exit_code(cfg: &CaptureConfig, summary: &CaptureSummary) -> u8 {
    if matches!(cfg.source, PacketSource::Pcap(_))
        && summary.stopped_by == shadowtap_capture::CaptureEnd::Signal
    {
        exit::INTERRUPTED
    } else {
        exit::OK
    }
}
