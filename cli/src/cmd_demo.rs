//! `shadowtap demo`: the bundled sample replayed at 10x, with sampling and
//! CI thresholds, against the built-in target, in one process. No root, no
//! network beyond loopback, nothing to install.

use anyhow::Context as _;
use shadowtap_cli::shutdown::Shutdown;
use shadowtap_replay::serve::{ServeOptions, Server};

use crate::cmd_replay::{
    replay, MirrorArgs, Plan, ReplayArgs, ReportArgs, ReportFormat, TimingArgs,
    DEFAULT_CONCURRENCY, DEFAULT_RATE_POLICY, DEFAULT_TIMEOUT,
};
use crate::units;

/// The sample log, built into the binary so `demo` runs from anywhere. Its
/// provenance is in `samples/README.md`.
const SAMPLE: &[u8] = include_bytes!("../../samples/api-mix.stlog");

/// Options of `shadowtap demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Replay speed factor.
    #[arg(long, default_value = "10x", allow_hyphen_values = true)]
    pub speed: String,
    /// Percentage of the sample's connections to replay.
    #[arg(long, default_value = "50", allow_negative_numbers = true)]
    pub sample: String,
    /// Seed of the sampling (the same seed replays the same requests).
    #[arg(
        long,
        default_value_t = 7,
        allow_negative_numbers = true,
        value_parser = units::count::<u64>,
    )]
    pub seed: u64,
    /// Print the JSON report on stdout as well.
    #[arg(long)]
    pub json: bool,
}

/// The demo's pass/fail checks, as `--threshold` takes them.
const THRESHOLDS: [&str; 2] = ["p(99)<250ms", "error_rate<1%"];

pub fn run(args: DemoArgs) -> anyhow::Result<u8> {
    let shutdown = Shutdown::install().context("installing the signal handlers")?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let log = dir.path().join("api-mix.stlog");
    std::fs::write(&log, SAMPLE).context("writing the sample log")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(ServeOptions {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            ..ServeOptions::default()
        })
        .context("starting the built-in target")?;
        let target = format!("http://{}", server.local_addr());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.run(async {
            let _ = stop_rx.await;
        }));

        let replay_args = ReplayArgs {
            files: vec![log.clone()],
            salvage: false,
            timing: TimingArgs {
                speed: args.speed.clone(),
                // `replay`'s defaults: one pass, no cut-off.
                max_gap: None,
                loops: 1,
                duration: None,
                limit: None,
            },
            mirror: MirrorArgs {
                targets: vec![target.clone()],
                sample: args.sample.clone(),
                sample_by: "connection".into(),
                seed: Some(args.seed),
                headers: vec!["X-Shadowtap-Demo: 1".into()],
                // `replay`'s defaults.
                rate: None,
                burst: None,
                rate_policy: DEFAULT_RATE_POLICY.into(),
                concurrency: DEFAULT_CONCURRENCY,
                timeout: units::duration(DEFAULT_TIMEOUT).map_err(anyhow::Error::msg)?,
                insecure: false,
                no_shadow_suffix: false,
                keep_host: false,
                include: Vec::new(),
                exclude: Vec::new(),
                rewrite_uri: Vec::new(),
                remove_headers: Vec::new(),
            },
            output: ReportArgs {
                report: if args.json {
                    ReportFormat::Json
                } else {
                    ReportFormat::Text
                },
                thresholds: THRESHOLDS.map(String::from).to_vec(),
                report_file: None,
                hdr_log: None,
                no_progress: false,
            },
            // The demo does not compare responses.
            comparison: Default::default(),
            record: Default::default(),
        };
        // Validated before the run is described: a bad value is said alone.
        let plan = Plan::from_args(replay_args)?;
        let (exchanges, span_s) = sample_extent()?;
        say!(
            "shadowtap demo: replaying the bundled sample ({} KiB, {} exchanges over {} s of capture time)\n\
             \x20 to a built-in target at {target}, at {} with {}% of connections sampled, Host rewritten with -shadow,\n\
             \x20 thresholds {}.\n\
             \x20 The same run as a command: shadowtap replay samples/api-mix.stlog --target {target} --speed {} \
             --sample {} --sample-by connection --seed {} {}\n",
            SAMPLE.len() / 1024,
            thousands(exchanges),
            span_s,
            args.speed,
            args.sample,
            THRESHOLDS.join(" and "),
            args.speed,
            args.sample,
            args.seed,
            THRESHOLDS.map(|t| format!("--threshold '{t}'")).join(" ")
        );
        let code = replay(plan, &shutdown).await;
        let _ = stop_tx.send(());
        let summary = served
            .await
            .context("the built-in target stopped unexpectedly")?
            .context("the built-in target failed")?;
        say!(
            "the target answered {} requests on {} connections",
            summary.requests, summary.connections
        );
        code
    })
}

/// How many exchanges the sample holds and how many seconds of capture time
/// they span, read from the sample itself.
fn sample_extent() -> anyhow::Result<(u64, u64)> {
    let reader = shadowtap_format::Reader::new(std::io::Cursor::new(SAMPLE))
        .context("reading the bundled sample")?;
    let (mut n, mut first, mut last) = (0u64, u64::MAX, 0u64);
    for ex in reader {
        let ex = ex.context("reading the bundled sample")?;
        n += 1;
        first = first.min(ex.req_first_ns);
        last = last.max(ex.req_last_ns);
    }
    let span_s = (last.saturating_sub(first.min(last)) + 500_000_000) / 1_000_000_000;
    Ok((n, span_s))
}

/// `3043` as `3,043`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_described_by_what_it_holds() {
        let (n, span) = sample_extent().unwrap();
        assert!(n > 0 && span > 0, "{n} {span}");
        assert_eq!(thousands(3043), "3,043");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(0), "0");
    }
}
