//! `shadowtap diff`: the responses of two logs of the same requests,
//! compared offline.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use shadowtap_cli::compare::CompareArgs;
use shadowtap_format::http1::scan_request_line;
use shadowtap_format::{Exchange, ReadOptions, Reader};
use shadowtap_replay::compare::live::{DiffLine, LineContext};
use shadowtap_replay::compare::pair::{
    LogOrigins, PairBy, PairCounts, Pairer, Side, DEFAULT_MAX_PENDING,
};
use shadowtap_replay::compare::tally::{ComparisonReport, Tally};
use shadowtap_replay::compare::{html, junit, text, Comparison, Side as Response};
use shadowtap_replay::threshold::{evaluate_comparison, Threshold, ThresholdResult};

use crate::cmd_replay::{write_report, ReportFormat};
use crate::exit;

/// Options of `shadowtap diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The baseline: a log whose responses are the reference.
    pub baseline: PathBuf,
    /// The candidate: a log of the same requests, answered by the version
    /// under test.
    pub candidate: PathBuf,
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Report format: the text summary always goes to stderr; `json` also
    /// writes the JSON report (stdout, or --report-file).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub report: ReportFormat,
    /// Write the report (in --report's format) to this file instead of
    /// stdout.
    #[arg(long, value_name = "PATH")]
    pub report_file: Option<PathBuf>,
    /// Pass/fail check on the comparison: `diff_rate<0.1%`,
    /// `status_mismatch==0`, `latency_ratio_p99<1.2`, each optionally
    /// scoped `diff_rate{endpoint="GET /api/items/{id}"}<1%`; any failure
    /// exits 99. Repeatable.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Requests waiting for their partner in the other log at most.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PENDING, value_parser = crate::units::count::<usize>)]
    pub max_pending: usize,
}

/// The JSON report of `diff`.
#[derive(Serialize)]
struct DiffReport<'a> {
    tool: &'static str,
    version: &'static str,
    command: &'static str,
    baseline: &'a Path,
    candidate: &'a Path,
    /// How the exchanges were paired.
    pair_by: PairBy,
    pairs: PairCounts,
    /// Pairs where one side has no response recorded.
    without_response: WithoutResponse,
    comparison: ComparisonReport,
    thresholds: &'a [ThresholdResult],
}

#[derive(Serialize, Default)]
struct WithoutResponse {
    baseline: u64,
    candidate: u64,
}

fn open(path: &Path) -> anyhow::Result<Reader<std::io::BufReader<File>>> {
    Reader::open_with(path, ReadOptions::default())
        .with_context(|| format!("cannot read {}", path.display()))
}

/// The request's first to the response's last byte.
fn latency(ex: &Exchange) -> Option<Duration> {
    let r = ex.response.as_ref()?;
    Some(Duration::from_nanos(
        r.last_ns.saturating_sub(ex.req_first_ns),
    ))
}

pub fn run(args: DiffArgs) -> anyhow::Result<u8> {
    let built = match args.compare.build() {
        Ok(b) => b,
        Err(e) => return exit::usage(e),
    };
    let thresholds = match Threshold::parse_all(&args.thresholds) {
        Ok(t) => t,
        Err(errors) => {
            let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return exit::usage(msgs.join("; "));
        }
    };
    if let Some(t) = thresholds.iter().find(|t| !t.metric.is_comparison()) {
        return exit::usage(format!(
            "--threshold {:?}: diff checks comparison metrics only (diff_rate, status_mismatch, latency_ratio_p50/p90/p99)",
            t.expr
        ));
    }
    let mut a = open(&args.baseline)?;
    let mut b = open(&args.candidate)?;
    let mut report_out = match &args.report_file {
        Some(p) => Some(
            File::create(p).with_context(|| format!("creating the report file {}", p.display()))?,
        ),
        None => None,
    };
    let mut diff_log = match &args.compare.diff_log {
        Some(p) => {
            Some(BufWriter::new(File::create(p).with_context(|| {
                format!("creating the diff log {}", p.display())
            })?))
        }
        None => None,
    };
    let mut junit_out = match &args.compare.junit {
        Some(p) => Some(
            File::create(p).with_context(|| format!("creating the JUnit file {}", p.display()))?,
        ),
        None => None,
    };
    let mut tally = Tally::new(&[args.candidate.display().to_string()], built.tally);
    // Each log's first exchange says whether it carries origins.
    let mut a_first = a
        .next_exchange()
        .with_context(|| format!("reading {}", args.baseline.display()))?;
    let mut b_first = b
        .next_exchange()
        .with_context(|| format!("reading {}", args.candidate.display()))?;
    let by = PairBy::choose(
        &LogOrigins::new(a.header(), a_first.as_ref()),
        &LogOrigins::new(b.header(), b_first.as_ref()),
    );
    let mut pairer = Pairer::new(args.max_pending).by(by);
    let mut line_buf = Vec::new();
    let mut without = WithoutResponse::default();
    let (mut a_done, mut b_done) = (false, false);
    while !(a_done && b_done) {
        for (side, reader, first, done, path) in [
            (
                Side::Baseline,
                &mut a,
                &mut a_first,
                &mut a_done,
                &args.baseline,
            ),
            (
                Side::Candidate,
                &mut b,
                &mut b_first,
                &mut b_done,
                &args.candidate,
            ),
        ] {
            if *done {
                continue;
            }
            let next = match first.take() {
                Some(ex) => Some(ex),
                None => reader
                    .next_exchange()
                    .with_context(|| format!("reading {}", path.display()))?,
            };
            let Some(ex) = next else {
                *done = true;
                continue;
            };
            let Some((base, cand)) = pairer.push(side, ex) else {
                continue;
            };
            let line = scan_request_line(&cand.request);
            let method = line.as_ref().map_or("", |l| l.method);
            let uri = line
                .as_ref()
                .and_then(|l| l.uri)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let endpoint = built.endpoints.name(method, &uri);
            let (Some(rb), Some(rc)) = (&base.response, &cand.response) else {
                if base.response.is_none() {
                    without.baseline += 1;
                } else {
                    without.candidate += 1;
                    tally.record_error(0, &endpoint);
                }
                continue;
            };
            let c = built
                .comparer
                .compare(method, &Response::from(rb), &Response::from(rc));
            let lat = latency(&base).zip(latency(&cand));
            tally.record(0, &endpoint, by.report_id(&base, &cand), &c, lat);
            if let Some(log) = diff_log.as_mut() {
                if !c.is_equal() {
                    let cx = LineContext {
                        baseline_id: base.id,
                        candidate_id: cand.id,
                        target: None,
                        endpoint: &endpoint,
                        method,
                        uri: &uri,
                    };
                    write_line(log, cx, &c, &mut line_buf).context("writing the diff log")?;
                }
            }
        }
    }
    let pairs = pairer.finish();
    if let Some(mut log) = diff_log {
        log.flush().context("writing the diff log")?;
    }
    let comparison = tally.report();
    let mut summary = format!(
        "diff: {} pairs, {} baseline and {} candidate exchanges unmatched{}\n",
        pairs.paired,
        pairs.unmatched_baseline,
        pairs.unmatched_candidate,
        if pairs.given_up > 0 {
            format!(" ({} given up past --max-pending)", pairs.given_up)
        } else {
            String::new()
        }
    );
    summary.push_str(match by {
        PairBy::Identity => "",
        PairBy::Origin => "  paired by the id of the request replayed (both logs record replays of the same logs)\n",
        PairBy::CandidateReplaysBaseline => {
            "  paired by the id of the request replayed (the candidate records a replay of the baseline)\n"
        }
        PairBy::BaselineReplaysCandidate => {
            "  paired by the id of the request replayed (the baseline records a replay of the candidate)\n"
        }
    });
    summary.push_str(&text::summary(&comparison));
    let evaluation = evaluate_comparison(&thresholds, &comparison);
    summary.push_str(&evaluation.table());
    if let Some(f) = junit_out.as_mut() {
        f.write_all(junit::render(&comparison, &evaluation.results).as_bytes())
            .context("writing the JUnit file")?;
    }
    crate::stderr::write_all(summary.as_bytes());
    let report = DiffReport {
        tool: "shadowtap",
        version: env!("CARGO_PKG_VERSION"),
        command: "diff",
        baseline: &args.baseline,
        candidate: &args.candidate,
        pair_by: by,
        pairs,
        without_response: without,
        comparison,
        thresholds: &evaluation.results,
    };
    let json = || -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        bytes.push(b'\n');
        Ok(bytes)
    };
    write_report(args.report, report_out.as_mut(), &summary, json, || {
        Some(html::render(
            &report.comparison,
            &evaluation.results,
            "shadowtap diff",
        ))
    })?;
    Ok(if evaluation.passed() {
        exit::OK
    } else {
        exit::THRESHOLD_FAILED
    })
}

/// Appends the diff-log line of comparison `c` to `log` (`buf`: the
/// line's buffer, reused).
fn write_line(
    log: &mut impl Write,
    cx: LineContext<'_>,
    c: &Comparison,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.clear();
    DiffLine::new(cx, c).write_to(buf);
    log.write_all(buf)
}
