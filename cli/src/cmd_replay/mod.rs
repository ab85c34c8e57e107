//! `shadowtap replay`.
//!
//! `replay` parses its flags with clap ([`ReplayArgs`]), turns them into the
//! engine's validated [`Config`] in one conversion ([`Plan::from_args`],
//! every invalid value reported together, exit 2, before anything is sent),
//! runs the engine on a two-worker tokio runtime, then writes the report and
//! maps the outcome to an exit code: 0 ok, 1 runtime failure (the report is
//! still written; also a `--record-responses` log that could not be
//! written), 99 a threshold failed, 130 interrupted.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use shadowtap_cli::shutdown::Shutdown;
use shadowtap_replay::engine::{Config, Engine, EngineError, RunOutcome};
use shadowtap_replay::hdrlog::HdrLog;
use shadowtap_replay::report::{html, Report, RunInfo, TimelineRecorder};

use crate::{exit, units};

mod alarm;
mod compare;
mod intervals;
mod plan;
mod progress;
mod record;

pub use self::compare::ComparisonArgs;
pub(crate) use self::plan::Plan;
pub use self::record::RecordArgs;

/// Report formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// The human summary only (always printed on stderr).
    Text,
    /// The JSON report, on stdout or in `--report-file`.
    Json,
    /// One self-contained HTML page (no network), on stdout or in
    /// `--report-file`: the run report (with the comparison when there is
    /// one) for `replay`, `tee` and `report merge`; the comparison for
    /// `diff`.
    Html,
}

/// Writes a run's report in `format` to `file`, or stdout without one:
/// `json` and `html` make the document when it is asked for (`html` None:
/// nothing to write); `text` goes only to a file, as the summary is on
/// stderr already. Plain io errors, so a closed pipe (`| head`) counts as
/// success.
pub(crate) fn write_report(
    format: ReportFormat,
    file: Option<&mut File>,
    summary: &str,
    json: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    html: impl FnOnce() -> Option<String>,
) -> anyhow::Result<()> {
    let bytes = match format {
        ReportFormat::Json => json()?,
        ReportFormat::Text if file.is_none() => return Ok(()),
        ReportFormat::Text => summary.as_bytes().to_vec(),
        ReportFormat::Html => match html() {
            Some(page) => page.into_bytes(),
            None => return Ok(()),
        },
    };
    match file {
        Some(f) => f.write_all(&bytes).context("writing the report file"),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).context("writing the report")?;
            out.flush().context("writing the report")
        }
    }
}

/// Options of `shadowtap replay`.
/// `--rate-policy`, `--concurrency` and `--timeout` when not given (the
/// demo replays with them too).
pub(crate) const DEFAULT_RATE_POLICY: &str = "delay";
pub(crate) const DEFAULT_CONCURRENCY: usize = 64;
pub(crate) const DEFAULT_TIMEOUT: &str = "10s";

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Logs to replay (`.stlog`), merged by request time.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Skip damaged blocks instead of stopping at the first one, and warn
    /// how many exchanges were lost.
    #[arg(long)]
    pub salvage: bool,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
    #[command(flatten)]
    pub output: ReportArgs,
    #[command(flatten)]
    pub comparison: ComparisonArgs,
    #[command(flatten)]
    pub record: RecordArgs,
}

/// When requests are sent (replay only).
#[derive(clap::Args, Debug, Clone)]
pub struct TimingArgs {
    /// Replay speed: `1x` (the capture's pace), `2.5x`, `0.5x`, or `max`
    /// (as fast as --concurrency allows).
    #[arg(
        long,
        value_name = "SPEED",
        default_value = "1x",
        allow_hyphen_values = true
    )]
    pub speed: String,
    /// Shorten every gap of capture time longer than this.
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        allow_hyphen_values = true,
    )]
    pub max_gap: Option<Duration>,
    /// Passes over the input; 0 repeats until --duration, --limit or Ctrl-C.
    #[arg(
        long = "loop",
        value_name = "N",
        default_value_t = 1,
        allow_negative_numbers = true,
        value_parser = units::count::<u32>,
    )]
    pub loops: u32,
    /// Stop scheduling after this long.
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        allow_hyphen_values = true,
    )]
    pub duration: Option<Duration>,
    /// Stop after this many requests (each sent to every target).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = units::count::<u64>,
    )]
    pub limit: Option<u64>,
}

/// Where requests go and which: shared by `replay` and `tee`.
#[derive(clap::Args, Debug, Clone)]
pub struct MirrorArgs {
    /// A target (`http://host[:port][/prefix]` or `https://...`); repeat
    /// for several. A path is put before every request's path.
    /// Every target receives the whole sampled stream.
    #[arg(long = "target", value_name = "URL", required = true)]
    pub targets: Vec<String>,
    /// Percentage of the input to replay, full precision: `10`, `0.5%`,
    /// `0.01` (0 to 100).
    #[arg(
        long,
        value_name = "PCT",
        default_value = "100",
        allow_negative_numbers = true
    )]
    pub sample: String,
    /// What sampling keeps together: `request`, `connection` (whole client
    /// connections) or `header:NAME` (all requests with the same NAME value;
    /// requests without it are sampled one by one).
    #[arg(long, value_name = "KEY", default_value = "request")]
    pub sample_by: String,
    /// Seed of the sampling hash (the same seed keeps the same requests);
    /// random when not given, and printed in the report.
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = units::count::<u64>,
    )]
    pub seed: Option<u64>,
    /// Rate limit: `500/s`, `30/m` (`/min`), `3600/h`, `0.5/s`. A bare number
    /// is per second: `--rate 10` is `10/s`.
    #[arg(long, value_name = "N/s", allow_negative_numbers = true)]
    pub rate: Option<String>,
    /// With --rate: requests that may go out back to back (default 1).
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = units::count::<u32>,
    )]
    pub burst: Option<u32>,
    /// With --rate: `delay` (wait; the lag is reported) or `drop` (count).
    #[arg(long, value_name = "POLICY", default_value = DEFAULT_RATE_POLICY)]
    pub rate_policy: String,
    /// Requests in flight per target. Beyond it, real-time replay drops
    /// (counted); `--speed max` waits.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_CONCURRENCY,
        allow_negative_numbers = true,
        value_parser = units::count::<usize>,
    )]
    pub concurrency: usize,
    /// Deadline of one request: connect, TLS, write and response. After
    /// SIGINT/SIGTERM, also the most that requests still in flight (and
    /// tee's queue) get before the run ends (a second signal ends it at
    /// once).
    #[arg(
        long,
        value_name = "DUR",
        value_parser = units::duration,
        default_value = DEFAULT_TIMEOUT,
        allow_hyphen_values = true,
    )]
    pub timeout: Duration,
    /// Accept any TLS certificate (self-signed test targets).
    #[arg(long)]
    pub insecure: bool,
    /// Do not insert `-shadow` into the Host.
    #[arg(long)]
    pub no_shadow_suffix: bool,
    /// Send the captured Host (with `-shadow` inserted unless
    /// --no-shadow-suffix) instead of the target's.
    #[arg(long)]
    pub keep_host: bool,
    /// Add or override a header: `--header 'X-Mirror: 1'`; repeatable.
    #[arg(long = "header", value_name = "'Name: value'")]
    pub headers: Vec<String>,
    /// Rewrite the request target's path and query: every match of REGEX
    /// is replaced (`$1` for groups); repeatable, applied in order.
    #[arg(long = "rewrite-uri", value_name = "'REGEX=>REPLACEMENT'")]
    pub rewrite_uri: Vec<String>,
    /// Remove every line of this header; repeatable (--header still adds).
    #[arg(long = "remove-header", value_name = "NAME")]
    pub remove_headers: Vec<String>,
    /// Replay only exchanges matching `FIELD:REGEX`; repeatable (all must
    /// match). FIELD: `method`, `path`, `uri`, `host`, `header.NAME`,
    /// `status` (`5xx`, `404` or a regex; replay only).
    #[arg(long = "include", value_name = "FIELD:REGEX")]
    pub include: Vec<String>,
    /// Leave out exchanges matching `FIELD:REGEX` (fields as --include);
    /// repeatable (any match leaves it out).
    #[arg(long = "exclude", value_name = "FIELD:REGEX")]
    pub exclude: Vec<String>,
}

/// Reports and thresholds: shared by `replay` and `tee`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Report format: the text summary always goes to stderr; `json` also
    /// writes the JSON report, `html` the report as one self-contained page
    /// with its charts (stdout, or --report-file).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub report: ReportFormat,
    /// Write the report (in --report's format) to this file instead of
    /// stdout.
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<PathBuf>,
    /// Write latency per second in HdrHistogram's interval log format.
    #[arg(long, value_name = "PATH")]
    pub hdr_log: Option<PathBuf>,
    /// Pass/fail check in k6's grammar (`p(99)<250ms`, `error_rate<1%`,
    /// `rate>=900/s`, `lag_p99<5ms`); any failure exits 99. Repeatable.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// No live progress line (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// The whole configuration of a report: the keys of what fed the engine
/// (none for `replay`, whose input is in the engine's configuration), the
/// engine's configuration, and the thresholds.
#[derive(serde::Serialize)]
struct Shown<'a, S> {
    #[serde(flatten)]
    input: S,
    #[serde(flatten)]
    config: &'a Config,
    thresholds: &'a [String],
}

pub fn run(args: ReplayArgs) -> anyhow::Result<u8> {
    let plan = Plan::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("shadowtap-replay")
        .build()
        .context("starting the async runtime")?;
    let shutdown = Shutdown::install().context("installing the signal handlers")?;
    runtime.block_on(replay(plan, &shutdown))
}

/// Replays a plan until it ends or `shutdown` stops it: the first signal
/// gives the requests in flight their grace, the second ends the run.
pub(crate) async fn replay(plan: Plan, shutdown: &Shutdown) -> anyhow::Result<u8> {
    let grace = plan.config.interrupt_grace;
    let told = {
        let first = shutdown.first();
        tokio::spawn(async move {
            first.await;
            say!(
                "shadowtap replay: interrupted: requests in flight get at most {} \
                 (interrupt again to stop at once)",
                humantime::format_duration(grace)
            );
        })
    };
    // Its input is in the engine's configuration: no keys of its own.
    let result = execute(plan, serde_json::Map::new(), |engine| async {
        engine
            .run_files_until(shutdown.first(), shutdown.nth(2))
            .await
            .map_err(|e| match e {
                e @ EngineError::Input(_) => anyhow::Error::new(e).context("cannot read the input"),
                e => e.into(),
            })
    })
    .await;
    told.abort();
    result
}

/// Runs a planned replay whose engine is fed by `run` (log files for
/// `replay`, the live capture for `tee`), then reports and maps the outcome
/// to an exit code. The report's configuration is `input`'s keys (what fed
/// the engine) and the plan's mirror keys.
pub(crate) async fn execute<S, F, Fut>(mut plan: Plan, input: S, run: F) -> anyhow::Result<u8>
where
    S: serde::Serialize,
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<RunOutcome>>,
{
    // The comparison's files first: a bad path fails before anything is
    // sent.
    let mut roles = Vec::new();
    let mut comparing = match plan.compare.take() {
        Some(c) => {
            roles = c.roles(plan.config.targets.len());
            let targets: Vec<String> = plan
                .config
                .targets
                .iter()
                .map(|t| t.url().to_owned())
                .collect();
            let live = c.open(&targets)?;
            plan.config.compare = Some(live.comparing.clone());
            Some(live)
        }
        None => None,
    };
    // The recorded responses' logs too.
    let recording = match plan.record.take() {
        Some(r) => {
            let rec = r.start(&plan.config)?;
            plan.config.record = Some(rec.clone());
            Some(rec)
        }
        None => None,
    };
    let config = serde_json::to_value(Shown {
        input,
        config: &plan.config,
        thresholds: &plan.threshold_args,
    })
    .context("encoding the configuration")?;
    // Open the output files first: a bad path fails before anything is sent.
    let mut report_out = match &plan.report_file {
        Some(p) => Some(
            File::create(p).with_context(|| format!("creating the report file {}", p.display()))?,
        ),
        None => None,
    };
    let hdr_log = match &plan.hdr_log {
        Some(p) => Some(
            HdrLog::create(p, SystemTime::now())
                .with_context(|| format!("creating {}", p.display()))?,
        ),
        None => None,
    };

    let engine = match Engine::new(plan.config.clone()).await {
        Ok(e) => e,
        Err(e) => {
            // The recorded logs are left finished (and empty).
            if let Some(r) = &recording {
                r.finish().await;
            }
            return match e {
                e @ (EngineError::NoTarget
                | EngineError::ZeroConcurrency
                | EngineError::TargetHost { .. }) => {
                    exit::usage(format!("{:#}", anyhow::Error::from(e)))
                }
                e => Err(e.into()),
            };
        }
    };
    let monitor = engine.monitor();
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    // The interval histograms feed the report's timeline always, and the
    // HDR log when asked for.
    let names: Vec<String> = monitor.with_stats(|s| {
        s.enable_intervals();
        s.targets().to_vec()
    });
    let interval_task = tokio::spawn(intervals::write_intervals(
        hdr_log,
        TimelineRecorder::new(&names),
        monitor.clone(),
        done_rx.clone(),
    ));
    let ticker = plan
        .progress
        .then(|| progress::start(&plan.config, monitor.clone()))
        .flatten();

    let result = run(engine).await;
    // Whatever the run came to, the recorded logs are finished.
    let recorded = match &recording {
        Some(r) => Some(r.finish().await),
        None => None,
    };
    let _ = done_tx.send(true);
    // Off the screen before anything else is said.
    if let Some(t) = ticker {
        t.finish();
    }
    let (hdr_result, timeline) = match interval_task.await {
        Ok(done) => done,
        Err(_) => (Ok(()), None),
    };
    let outcome: RunOutcome = result?;

    for w in &outcome.warnings {
        say!("shadowtap: warning: {w}");
    }
    let interrupted = outcome.interrupted;
    let mut report = Report::from_stats(
        &outcome.stats,
        &RunInfo {
            config,
            seed: Some(plan.config.sampler.seed()),
            elapsed: outcome.elapsed,
            interrupted,
        },
    );
    report.timeline = timeline;
    for (t, role) in report.targets.iter_mut().zip(&roles) {
        t.role = role.map(str::to_owned);
    }
    let compared = match &comparing {
        Some(c) => Some(c.finish(&mut report)?),
        None => None,
    };
    let (recorded, record_error) = match recorded {
        Some((summary, error)) => (Some(summary), error),
        None => (None, None),
    };
    if let Some(r) = &recorded {
        report.recorded_responses =
            Some(serde_json::to_value(r).context("encoding the recorded responses")?);
    }
    let evaluation = compare::evaluate_all(
        &plan.thresholds,
        &report,
        compared.as_ref().map(|c| &c.report),
    )?;
    report.set_thresholds(&evaluation);

    let mut summary = report.summary_text();
    if outcome.abandoned > 0 {
        summary.push_str(&format!(
            "  {} requests still in flight were abandoned after the interrupt\n",
            outcome.abandoned
        ));
    }
    summary.push_str(&alarm::lines(
        &alarm::all_failed(&report.targets),
        !plan.thresholds.is_empty(),
    ));
    if let Some(c) = &compared {
        summary.push_str(&c.summary());
    }
    if let Some(r) = &recorded {
        summary.push_str(&record::summary(r));
    }
    summary.push_str(&evaluation.table());
    say_raw!("{summary}");
    // Written whatever else fails; an error of theirs fails the run once
    // the report is out.
    let compare_files = match (comparing.as_mut(), &compared) {
        (Some(live), Some(c)) => live.write_files(c, &evaluation),
        _ => Ok(()),
    };

    let json = || -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        bytes.push(b'\n');
        Ok(bytes)
    };
    let title = match (plan.config.mode.is_live(), compared.is_some()) {
        (true, false) => "shadowtap tee",
        (true, true) => "shadowtap tee --compare",
        (false, false) => "shadowtap replay",
        (false, true) => "shadowtap replay --compare",
    };
    write_report(plan.report, report_out.as_mut(), &summary, json, || {
        Some(html::render(
            &report,
            compared.as_ref().map(|c| &c.report),
            title,
        ))
    })?;
    hdr_result.context("writing the HDR log")?;
    compare_files?;
    if let Some(e) = record_error {
        return Err(anyhow::Error::new(e).context("the responses were not all recorded"));
    }

    if interrupted {
        return Ok(exit::INTERRUPTED);
    }
    if let Some(e) = outcome.input_error {
        return Err(
            anyhow::Error::new(e).context("the replay stopped early: cannot read the input")
        );
    }
    Ok(if evaluation.passed() {
        exit::OK
    } else {
        exit::THRESHOLD_FAILED
    })
}
