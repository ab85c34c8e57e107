//! `shadowtap tee`: flags into a validated [`TeeConfig`] and mirror plan,
//! then [`tee::run`] (the machinery is library code, `shadowtap_cli::tee`),
//! then the summary lines, the report and the exit code.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use shadowtap_capture::PacketSource;
use shadowtap_cli::priority::{make_current_thread_idle, MirrorPriority};
use shadowtap_cli::tee::{self, Event, QueueSize, TeeConfig, TeeOutcome, TeeProgress, MAX_QUEUE};

use shadowtap_cli::shutdown::Shutdown;

use crate::cmd_capture::{config_from, CaptureOpts};
use crate::cmd_replay::{execute, ComparisonArgs, MirrorArgs, Plan, ReportArgs};
use crate::{exit, units};

/// Options of `shadowtap tee`.
#[derive(clap::Args, Debug)]
pub struct TeeArgs {
    /// Capture live on this interface (needs root or CAP_NET_RAW).
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: String,
    /// Also record every captured exchange, sampled or not, to this log
    /// (replayable later); rotation options apply.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Requests waiting between the capture and the mirror. When it is full,
    /// further requests are dropped for the mirror and counted; the capture
    /// never waits.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub queue: usize,
    /// CPU priority of the threads that rewrite and send mirror requests.
    /// `idle` (Linux SCHED_IDLE) gives them only CPU time nothing else
    /// wants, so a busy host serves production first and drops (and counts)
    /// mirror requests; the capture itself always keeps normal priority.
    #[arg(long, value_enum, value_name = "P", default_value = "idle")]
    pub mirror_priority: MirrorPriority,
    #[command(flatten, next_help_heading = "Capture")]
    pub capture: CaptureOpts,
    #[command(flatten, next_help_heading = "Mirror")]
    pub mirror: MirrorArgs,
    #[command(flatten, next_help_heading = "Report")]
    pub report: ReportArgs,
    /// Compare each mirror answer with production's own response to the
    /// request (captured too, with or without --record); the comparison
    /// options of `replay --compare` apply, but for --primary.
    #[command(flatten, next_help_heading = "Comparison")]
    pub comparison: ComparisonArgs,
}

/// The report's configuration keys for tee's input (the engine's
/// configuration follows: live, it shows no files, speed nor loops).
#[derive(serde::Serialize)]
struct TeeShown {
    mode: &'static str,
    interface: String,
    filter: String,
    queue: usize,
    record: Option<String>,
}

pub fn run(args: TeeArgs) -> anyhow::Result<u8> {
    let Ok(queue) = QueueSize::new(args.queue) else {
        return exit::usage(format!("--queue must be between 1 and {MAX_QUEUE}"));
    };
    let capture = config_from(
        PacketSource::Interface(args.interface.clone()),
        args.record.clone(),
        &args.capture,
    )?;
    let mut config = TeeConfig::new(capture, queue, args.mirror_priority);
    if args.comparison.compare {
        config = config.keep_responses();
    }
    let mut plan = Plan::live(args.mirror, args.report, args.comparison)?;
    let drain = plan.config.client.timeout;
    // The shutdown future below already waits --timeout after the signal:
    // what is still in flight then is abandoned at once (unanswered).
    plan.config.interrupt_grace = Duration::ZERO;
    let shown = TeeShown {
        mode: "tee",
        interface: args.interface,
        filter: config.filter(),
        queue: args.queue,
        record: args.record.as_ref().map(|p| p.display().to_string()),
    };
    let shutdown = Shutdown::install().context("installing the signal handlers")?;

    let idle = config.idle();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("shadowtap-tee")
        .on_thread_start(move || {
            if idle {
                // Checked on the main thread (`tee::run`), where it is
                // reported.
                let _ = make_current_thread_idle();
            }
        })
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(execute(plan, shown, |engine| async move {
        let on_event: tee::OnEvent = Arc::new(show);
        let outcome = tee::run(
            config,
            engine,
            shutdown.clone(),
            drained_after_stop(&shutdown, drain),
            on_event,
        )
        .await?;
        say!("{}", summary_line(&outcome));
        crate::cmd_capture::print_sessions(&outcome.capture);
        for w in &outcome.capture.warnings {
            say!("shadowtap: warning: {w}");
        }
        Ok(outcome.mirror)
    }))
}

/// What tee tells the user while it runs.
fn show(event: Event<'_>) {
    match event {
        // On the capture thread: lock-free lines.
        Event::Capture(n) => crate::stderr::notice(n),
        Event::Progress(p) => say!("{}", progress_line(&p)),
        Event::NormalPriority(e) => {
            say!("shadowtap: warning: mirror threads keep normal priority: {e}")
        }
        _ => {}
    }
}

/// The line every `--stats-interval`.
fn progress_line(p: &TeeProgress) -> String {
    format!(
        "shadowtap tee: captured={} mirrored={} completed={} errors={} dropped={} queue_full={} queue={} in_flight={}",
        p.captured, p.mirrored, p.completed, p.errors, p.dropped, p.queue_full, p.queued, p.in_flight
    )
}

/// The line once the capture stopped.
fn summary_line(outcome: &TeeOutcome) -> String {
    let summary = &outcome.capture;
    let tap = &outcome.tap;
    format!(
        "shadowtap tee: captured {} requests; {} dropped because the queue was full; \
         {} dropped at the capture because no target had a free slot; kernel drops {}{}{}",
        tap.captured,
        tap.queue_full,
        tap.no_slot,
        summary.kernel_drops + summary.if_drops,
        match summary.paced_wait {
            Some(wait) if summary.paced_waits > 0 => format!(
                "; the capture paused its reads {} times ({} ms each) while the mirror was behind",
                summary.paced_waits,
                wait.as_millis()
            ),
            _ => String::new(),
        },
        if summary.files.is_empty() {
            String::new()
        } else {
            format!(
                "; recorded {} exchanges to {}",
                summary.exchanges_written,
                summary
                    .files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )
}

/// Resolves `grace` after the first signal, or at once when a second
/// arrives meanwhile, as in `replay`.
fn drained_after_stop(shutdown: &Shutdown, grace: Duration) -> impl Future<Output = ()> + Send {
    let (first, second) = (shutdown.first(), shutdown.nth(2));
    async move {
        first.await;
        say!(
            "shadowtap tee: stopping: the mirror gets at most {} for its queue and \
             requests in flight (interrupt again to stop at once)",
            humantime::format_duration(grace)
        );
        tokio::select! {
            _ = second => {}
            _ = tokio::time::sleep(grace) => {}
        }
    }
}
