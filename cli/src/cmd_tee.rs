//! `shadowtap tee`: live capture mirrored to targets as it happens.
//!
//! Two engines, composed: the capture daemon (`shadowtap_capture::run_with`)
//! runs on its own thread and hands every request to a bounded queue the
//! moment it is complete on the wire; the replay engine, in live mode, reads
//! that queue and sends each request to every target at once. The capture
//! never waits for the mirror: when the queue is full the request is dropped
//! for the mirror and counted (`dropped.queue`), and a target without a free
//! slot drops it and counts it (`dropped.concurrency`), so a dead or slow
//! target costs counters, not memory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use shadowtap_capture::metrics::ExtraMetrics;
use shadowtap_capture::{RequestEvent, Source};
use shadowtap_format::{Exchange, Response};
use shadowtap_replay::engine::{Exchanges, Monitor, Threaded};
use shadowtap_replay::input::{InputError, InputWarning};
use shadowtap_replay::stats::{DropCause, ErrorKind};

use crate::cmd_capture::{config_from, install_signal_handlers, CaptureOpts, STOP};
use crate::cmd_replay::{execute, MirrorArgs, Plan, ReplayArgs, ReportArgs, TimingArgs};
use crate::exit;

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
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub queue: usize,
    #[command(flatten, next_help_heading = "Capture")]
    pub capture: CaptureOpts,
    #[command(flatten, next_help_heading = "Mirror")]
    pub mirror: MirrorArgs,
    #[command(flatten, next_help_heading = "Report")]
    pub report: ReportArgs,
}

/// Upper bound of `--queue`: a queued request holds at most one capped
/// request, so this bounds the queue's memory.
const MAX_QUEUE: usize = 1_000_000;

/// Counters shared by the capture thread, the mirror and the reporting.
#[derive(Default)]
struct Counters {
    /// Requests complete on the wire.
    captured: AtomicU64,
    /// Requests dropped because the queue was full.
    queue_full: AtomicU64,
    /// Requests in the queue now.
    queued: AtomicU64,
}

/// The mirror side of the queue: the replay engine's input.
struct Queue {
    rx: Receiver<Exchange>,
    counters: Arc<Counters>,
}

impl Exchanges for Queue {
    fn start_pass(&mut self, _pass: u32) -> Result<(), InputError> {
        Ok(())
    }

    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        // Blocks the engine's input thread until the capture hands over a
        // request; `None` once the capture has stopped and the queue is empty.
        let ex = self.rx.recv().ok();
        if ex.is_some() {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(ex.map(|ex| (0, ex)))
    }

    fn take_warnings(&mut self) -> Vec<InputWarning> {
        Vec::new()
    }
}

/// The capture side of the queue.
struct Tap {
    tx: SyncSender<Exchange>,
    next_id: u64,
    counters: Arc<Counters>,
}

impl Tap {
    fn offer(&mut self, req: &RequestEvent<'_>) -> bool {
        self.next_id += 1;
        self.counters.captured.fetch_add(1, Ordering::Relaxed);
        let ex = Exchange {
            id: self.next_id,
            conn: req.conn,
            client: req.client,
            server: req.server,
            req_first_ns: req.first_ns,
            req_last_ns: req.last_ns,
            flags: req.flags,
            request: req.request.to_vec(),
            request_len: req.request_len,
            response: None::<Response>,
        };
        // Counted before the send, so the mirror never sees it negative.
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(ex) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                false
            }
            // The mirror stopped (interrupted): nothing more to do.
            Err(TrySendError::Disconnected(_)) => {
                self.counters.queued.fetch_sub(1, Ordering::Relaxed);
                false
            }
        }
    }
}

pub fn run(args: TeeArgs) -> anyhow::Result<u8> {
    if args.queue == 0 || args.queue > MAX_QUEUE {
        return exit::usage(format!("--queue must be between 1 and {MAX_QUEUE}"));
    }
    let mut capture = config_from(
        Source::Interface(args.interface.clone()),
        args.record.clone(),
        &args.capture,
    )?;
    let mut plan = Plan::from_args(ReplayArgs {
        files: Vec::new(),
        timing: TimingArgs {
            speed: "max".into(),
            max_gap: None,
            loops: 1,
            duration: None,
            limit: None,
        },
        mirror: args.mirror,
        output: args.report,
    })?;
    plan.config.live = true;
    let drain = plan.config.client.timeout;
    if let Some(obj) = plan.shown.as_object_mut() {
        obj.remove("files");
        obj.remove("speed");
        obj.remove("loop");
        obj.insert("mode".into(), "tee".into());
        obj.insert("interface".into(), args.interface.clone().into());
        obj.insert("filter".into(), capture.filter().into());
        obj.insert("queue".into(), args.queue.into());
        obj.insert(
            "record".into(),
            args.record.as_ref().map(|p| p.display().to_string()).into(),
        );
    }
    install_signal_handlers()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("shadowtap-tee")
        .build()
        .context("starting the async runtime")?;
    let stats_every = capture.stats_every;
    runtime.block_on(execute(plan, |engine| async move {
        let monitor = engine.monitor();
        let targets = engine_targets(&monitor);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Exchange>(args.queue);
        let counters = Arc::new(Counters::default());
        let mut tap = Tap {
            tx,
            next_id: 0,
            counters: counters.clone(),
        };
        let (m, c) = (monitor.clone(), counters.clone());
        capture.extra_metrics = Some(ExtraMetrics(Arc::new(move || exposition(&m, &c))));
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let stats_task = stats_every.map(|every| {
            tokio::spawn(stats_lines(
                every,
                monitor.clone(),
                counters.clone(),
                done_rx,
            ))
        });
        let drop_monitor = monitor.clone();
        let capture_thread = std::thread::Builder::new()
            .name("shadowtap-capture".into())
            .spawn(move || {
                shadowtap_capture::run_with(&capture, &STOP, &mut |req| {
                    if !tap.offer(req) {
                        drop_monitor.with_stats(|s| {
                            for t in 0..targets {
                                s.record_drop(t, DropCause::Queue);
                            }
                        });
                    }
                })
                // The tap (and the queue's sender) is dropped here, which
                // ends the mirror's input once the queue is drained.
            })
            .context("starting the capture thread")?;

        let source = Threaded::spawn(engine.feed(Queue {
            rx,
            counters: counters.clone(),
        }))
        .context("starting the mirror's input thread")?;
        // A signal stops the capture (STOP); the queue then drains, for at
        // most --timeout, before requests still waiting are abandoned.
        let outcome = engine.run(source, drained_after_stop(drain)).await;
        let _ = done_tx.send(true);
        if let Some(t) = stats_task {
            let _ = t.await;
        }
        let summary = capture_thread
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread panicked"))?
            .context("capture failed")?;
        say!(
            "shadowtap tee: captured {} requests; {} dropped because the queue was full; \
             kernel drops {}{}",
            counters.captured.load(Ordering::Relaxed),
            counters.queue_full.load(Ordering::Relaxed),
            summary.kernel_drops + summary.if_drops,
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
        );
        for w in &summary.warnings {
            say!("shadowtap: warning: {w}");
        }
        Ok(outcome)
    }))
}

fn engine_targets(monitor: &Monitor) -> usize {
    monitor.with_stats(|s| s.targets().len())
}

/// The mirror's counters in Prometheus text format, per target, appended to
/// the capture's `--metrics` scrape.
fn exposition(monitor: &Monitor, c: &Counters) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        );
    };
    gauge(
        &mut out,
        "shadowtap_tee_captured_requests_total",
        "counter",
        "Requests complete on the wire, offered to the mirror.",
        c.captured.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_full_total",
        "counter",
        "Requests not mirrored because the queue was full.",
        c.queue_full.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_depth",
        "gauge",
        "Requests waiting between the capture and the mirror.",
        c.queued.load(Ordering::Relaxed),
    );
    monitor.with_stats(|s| {
        let _ = write!(
            out,
            "# HELP shadowtap_tee_mirrored_total Requests sent to a target (completed or failed).\n\
             # TYPE shadowtap_tee_mirrored_total counter\n"
        );
        for (name, t) in s.targets().iter().zip(s.per_target()) {
            let _ = writeln!(
                out,
                "shadowtap_tee_mirrored_total{{target=\"{name}\"}} {}",
                t.sent
            );
        }
        let _ = write!(
            out,
            "# HELP shadowtap_tee_errors_total Mirror requests that failed, by kind.\n\
             # TYPE shadowtap_tee_errors_total counter\n"
        );
        for (name, t) in s.targets().iter().zip(s.per_target()) {
            for kind in ErrorKind::ALL {
                let _ = writeln!(
                    out,
                    "shadowtap_tee_errors_total{{target=\"{name}\",kind=\"{}\"}} {}",
                    kind.as_str(),
                    t.errors_of(kind)
                );
            }
        }
        let _ = write!(
            out,
            "# HELP shadowtap_tee_dropped_total Requests not mirrored to a target, by cause.\n\
             # TYPE shadowtap_tee_dropped_total counter\n"
        );
        for (name, t) in s.targets().iter().zip(s.per_target()) {
            for cause in DropCause::ALL {
                let _ = writeln!(
                    out,
                    "shadowtap_tee_dropped_total{{target=\"{name}\",cause=\"{}\"}} {}",
                    cause.as_str(),
                    t.dropped_of(cause)
                );
            }
        }
    });
    out
}

/// One line on stderr every `every` while the mirror runs.
async fn stats_lines(
    every: Duration,
    monitor: Monitor,
    c: Arc<Counters>,
    mut done: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.wait_for(|d| *d) => return,
        }
        let p = monitor.progress();
        say!(
            "shadowtap tee: captured={} mirrored={} completed={} errors={} dropped={} queue_full={} queue={} in_flight={}",
            c.captured.load(Ordering::Relaxed),
            p.sent,
            p.completed,
            p.errors,
            p.dropped,
            c.queue_full.load(Ordering::Relaxed),
            c.queued.load(Ordering::Relaxed),
            p.in_flight
        );
    }
}

/// Resolves `grace` after the stop flag is set (by SIGINT/SIGTERM). The flag
/// is set from a signal handler, so it is polled, every 50 ms.
async fn drained_after_stop(grace: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while !STOP.load(Ordering::Relaxed) {
        tick.tick().await;
    }
    tokio::time::sleep(grace).await;
}
