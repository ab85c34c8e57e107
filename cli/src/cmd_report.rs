//! `shadowtap report ...`: work with JSON reports.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use shadowtap_replay::report::{html, Report};
use shadowtap_replay::threshold::{evaluate, Threshold};

use crate::exit;

/// Subcommands of `shadowtap report`.
#[derive(clap::Subcommand, Debug)]
pub enum ReportCommand {
    /// Add JSON reports from several machines: histograms are decoded and
    /// added, every percentile is recomputed (never averaged). Writes the
    /// merged report (JSON, or the HTML page with `--report html`) to
    /// stdout or `-o`, and a summary on stderr.
    Merge(MergeArgs),
}

/// Options of `shadowtap report merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The reports (`--report json` output of `shadowtap replay`).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Write the merged report here instead of stdout.
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "report-file",
        value_name = "OUT.json"
    )]
    pub output: Option<PathBuf>,
    /// Format of the merged report: `json`, or `html` (the run report's
    /// self-contained page).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "json")]
    pub report: MergeFormat,
    /// Check the merged report against a threshold (k6 grammar, e.g.
    /// `p(99)<250ms`); any failure exits 99.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
}

/// Formats of `report merge`'s output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeFormat {
    /// The merged JSON report.
    Json,
    /// The merged report's HTML page (as `replay --report html`).
    Html,
}

pub fn run(cmd: ReportCommand) -> anyhow::Result<u8> {
    match cmd {
        ReportCommand::Merge(args) => merge(args),
    }
}

fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let thresholds = match Threshold::parse_all(&args.thresholds) {
        Ok(t) => t,
        Err(errors) => {
            let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return exit::usage(msgs.join("; "));
        }
    };
    if let Some(t) = thresholds.iter().find(|t| t.metric.is_comparison()) {
        return exit::usage(format!(
            "--threshold {:?}: comparison metrics are not merged across reports yet",
            t.expr
        ));
    }
    let mut reports = Vec::with_capacity(args.reports.len());
    for path in &args.reports {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let report: Report = serde_json::from_reader(BufReader::new(file)).map_err(|e| {
            let what = if e.is_io() {
                format!("reading report {}", path.display())
            } else {
                format!(
                    "{} is not a shadowtap JSON report (the output of replay --report json)",
                    path.display()
                )
            };
            anyhow::Error::new(e).context(what)
        })?;
        reports.push(report);
    }
    let mut merged = Report::merge(&reports).context("merging reports")?;
    let evaluation = evaluate(&thresholds, &merged).context("evaluating thresholds")?;
    if !thresholds.is_empty() {
        merged.set_thresholds(&evaluation);
    }
    let document = || -> anyhow::Result<String> {
        Ok(match args.report {
            MergeFormat::Json => {
                let mut text =
                    serde_json::to_string_pretty(&merged).context("encoding the report")?;
                text.push('\n');
                text
            }
            MergeFormat::Html => html::render(&merged, None, "shadowtap report merge"),
        })
    };
    match &args.output {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = BufWriter::new(file);
            out.write_all(document()?.as_bytes())
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            let text = document()?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing the report")?;
        }
    }
    say_raw!(
        "merged {} reports ({} runs)\n{}",
        reports.len(),
        merged.sources,
        merged.summary_text()
    );
    if !thresholds.is_empty() {
        say_raw!("{}", evaluation.table());
        if !evaluation.passed() {
            return Ok(exit::THRESHOLD_FAILED);
        }
    }
    Ok(exit::OK)
}
