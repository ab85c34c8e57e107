//! `replay --compare`: the comparison options, the shared comparison the
//! engine records into, and what it adds to the report (the JSON
//! `comparison` object, the text summary, JUnit XML, comparison
//! thresholds).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use shadowtap_cli::compare::{Built, CompareArgs};
use shadowtap_cli::units;
use shadowtap_replay::client::Target;
use shadowtap_replay::compare::tally::ComparisonReport;
use shadowtap_replay::compare::{junit, text};
use shadowtap_replay::engine::{Baseline, Comparing, Copy, LiveBaseline, NotCompared};
use shadowtap_replay::report::Report;
use shadowtap_replay::threshold::{evaluate, evaluate_comparison, Evaluation, Threshold};

/// `--compare` and the comparison options (replay only).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComparisonArgs {
    /// Compare every response with its baseline: the response recorded
    /// with its request in the log, a live --primary's answer (replay), or
    /// production's own response (tee). Status, headers and decoded bodies
    /// are compared, noise classified; the report gains a `comparison`
    /// object, and comparison thresholds (`diff_rate`, `status_mismatch`,
    /// `latency_ratio_p99`, ...) apply.
    #[arg(long)]
    pub compare: bool,
    /// Compare with a live primary instead of the recording: every request
    /// also goes to URL (the current version) at the same moment as to the
    /// targets, and their answers are compared with its answers.
    #[arg(long, value_name = "URL")]
    pub primary: Option<String>,
    /// A second instance of the current version, sent every request too:
    /// what differs between it and the primary is noise, and a field counts
    /// as a candidate difference only where it differs clearly more often.
    #[arg(long, value_name = "URL")]
    pub secondary: Option<String>,
    /// Without --secondary: the first N requests of safe methods (GET,
    /// HEAD, OPTIONS) of each endpoint also go to the primary a second
    /// time, on their own connections, to measure the noise the same way;
    /// 0 turns it off. [default: 100]
    #[arg(long, value_name = "N", value_parser = units::count::<u64>)]
    pub calibrate: Option<u64>,
    #[command(flatten)]
    pub options: CompareArgs,
}

/// Calibration requests per endpoint with `--primary` and no `--secondary`.
pub const DEFAULT_CALIBRATION: u64 = 100;

impl ComparisonArgs {
    /// The comparison options given without `--compare`, by flag.
    fn given_without_compare(&self) -> Vec<&'static str> {
        let o = &self.options;
        let mut given = Vec::new();
        for (flag, set) in [
            ("--ignore", !o.ignore.is_empty()),
            ("--ignore-file", !o.ignore_file.is_empty()),
            ("--ignore-order", !o.ignore_order.is_empty()),
            ("--no-default-ignores", o.no_default_ignores),
            ("--endpoint", !o.endpoints.is_empty()),
            ("--diff-log", o.diff_log.is_some()),
            ("--junit", o.junit.is_some()),
            ("--primary", self.primary.is_some()),
        ] {
            if set && !self.compare {
                given.push(flag);
            }
        }
        given
    }
}

/// A validated comparison, before its files are opened.
pub(crate) struct ComparePlan {
    built: Built,
    /// The candidates: the engine's first targets.
    candidates: usize,
    baseline: Baseline,
    diff_log: Option<PathBuf>,
    junit: Option<PathBuf>,
}

impl std::fmt::Debug for ComparePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComparePlan")
            .field("diff_log", &self.diff_log)
            .field("junit", &self.junit)
            .finish_non_exhaustive()
    }
}

/// The comparison of `args` (`None` without `--compare`), and its
/// problems. `targets` are the candidates; a live baseline's targets are
/// added after them. A live mirror (`tee`) compares with production's own
/// responses.
pub(super) fn plan(
    args: ComparisonArgs,
    targets: &mut Vec<Target>,
    mirror: bool,
) -> (Option<ComparePlan>, Vec<String>) {
    let mut errors = Vec::new();
    if mirror {
        for (flag, given) in [
            ("--primary", args.primary.is_some()),
            ("--secondary", args.secondary.is_some()),
            ("--calibrate", args.calibrate.is_some()),
        ] {
            if given {
                errors.push(format!(
                    "{flag}: tee compares the mirror's answers with production's own (replay takes a live primary)"
                ));
            }
        }
        if !errors.is_empty() {
            return (None, errors);
        }
    }
    let stray = args.given_without_compare();
    if !stray.is_empty() {
        errors.push(format!("{} need --compare", stray.join(", ")));
    }
    if args.primary.is_none() {
        if args.secondary.is_some() {
            errors.push("--secondary needs --primary".into());
        }
        if args.calibrate.is_some() {
            errors.push("--calibrate needs --primary".into());
        }
    } else if args.secondary.is_some() && args.calibrate.is_some() {
        errors.push("--calibrate and --secondary: the secondary measures the noise already".into());
    }
    if !args.compare {
        return (None, errors);
    }
    let candidates = targets.len();
    let baseline = match live_baseline(&args, targets) {
        Ok(_) if mirror => Baseline::External,
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            Baseline::Recording
        }
    };
    match args.options.build() {
        Ok(built) => (
            Some(ComparePlan {
                built,
                candidates,
                baseline,
                diff_log: args.options.diff_log,
                junit: args.options.junit,
            }),
            errors,
        ),
        Err(e) => {
            errors.push(e);
            (None, errors)
        }
    }
}

/// The baseline `args` ask for; a live one's targets are pushed onto
/// `targets`: the primary, then the secondary or the calibration copy.
fn live_baseline(args: &ComparisonArgs, targets: &mut Vec<Target>) -> Result<Baseline, String> {
    let Some(primary) = &args.primary else {
        return Ok(Baseline::Recording);
    };
    let primary = Target::parse(primary).map_err(|e| format!("--primary: {e}"))?;
    let at = targets.len();
    targets.push(primary.clone());
    let copy = match &args.secondary {
        Some(s) => {
            targets.push(Target::parse(s).map_err(|e| format!("--secondary: {e}"))?);
            Some(Copy::Secondary(at + 1))
        }
        None => match args.calibrate.unwrap_or(DEFAULT_CALIBRATION) {
            0 => None,
            requests => {
                targets.push(primary);
                Some(Copy::Calibration {
                    target: at + 1,
                    requests,
                })
            }
        },
    };
    Ok(Baseline::Live(LiveBaseline { primary: at, copy }))
}

impl ComparePlan {
    /// What each engine target is to the report: `None` for a candidate,
    /// else `primary`, `secondary` or `calibration`.
    pub(super) fn roles(&self, targets: usize) -> Vec<Option<&'static str>> {
        let mut roles = vec![None; targets];
        if let Baseline::Live(l) = &self.baseline {
            if let Some(r) = roles.get_mut(l.primary) {
                *r = Some("primary");
            }
            match l.copy {
                Some(Copy::Secondary(t)) => roles[t] = Some("secondary"),
                Some(Copy::Calibration { target, .. }) => roles[target] = Some("calibration"),
                None => {}
            }
        }
        roles
    }
}

/// The comparison of a run, with its JUnit file open.
pub(super) struct Live {
    pub(super) comparing: Arc<Comparing>,
    junit: Option<(PathBuf, File)>,
}

impl ComparePlan {
    /// Opens the diff log and the JUnit file (a bad path fails before
    /// anything is sent) and sets up the comparison of the engine's
    /// `targets` (the candidates first).
    pub(super) fn open(self, targets: &[String]) -> anyhow::Result<Live> {
        let candidates = &targets[..self.candidates.min(targets.len())];
        let diff_log: Option<Box<dyn Write + Send>> = match &self.diff_log {
            Some(p) => {
                Some(Box::new(File::create(p).with_context(|| {
                    format!("creating the diff log {}", p.display())
                })?))
            }
            None => None,
        };
        let junit = match self.junit {
            Some(p) => {
                let f = File::create(&p)
                    .with_context(|| format!("creating the JUnit file {}", p.display()))?;
                Some((p, f))
            }
            None => None,
        };
        let Built {
            comparer,
            endpoints,
            tally,
        } = self.built;
        Ok(Live {
            comparing: Arc::new(
                Comparing::new(comparer, endpoints, tally, candidates, diff_log)
                    .against(self.baseline),
            ),
            junit,
        })
    }
}

/// The report's `comparison` object.
#[derive(Serialize)]
struct ComparisonJson<'a> {
    #[serde(flatten)]
    report: &'a ComparisonReport,
    not_compared: NotCompared,
}

/// What a run's comparison came to, added to its report.
pub(super) struct Outcome {
    pub(super) report: ComparisonReport,
    pub(super) not_compared: NotCompared,
}

impl Live {
    /// The comparison found: into the JSON report's `comparison` object.
    pub(super) fn finish(&self, report: &mut Report) -> anyhow::Result<Outcome> {
        let outcome = Outcome {
            report: self.comparing.report(),
            not_compared: self.comparing.not_compared(),
        };
        let json = serde_json::to_value(ComparisonJson {
            report: &outcome.report,
            not_compared: outcome.not_compared,
        })
        .context("encoding the comparison")?;
        report.comparison = Some(json);
        Ok(outcome)
    }

    /// Writes the JUnit file, then flushes the diff log; an I/O error of
    /// either is the run's error.
    pub(super) fn write_files(
        &mut self,
        outcome: &Outcome,
        evaluation: &Evaluation,
    ) -> anyhow::Result<()> {
        let diff_log = self.comparing.finish_diff_log();
        if let Some((path, f)) = self.junit.as_mut() {
            f.write_all(junit::render(&outcome.report, &evaluation.results).as_bytes())
                .and_then(|()| f.flush())
                .with_context(|| format!("writing the JUnit file {}", path.display()))?;
        }
        diff_log.context("the comparison's --diff-log")?;
        Ok(())
    }
}

impl Outcome {
    /// The comparison's part of the text summary.
    pub(super) fn summary(&self) -> String {
        let mut s = text::summary(&self.report);
        let n = self.not_compared;
        for (count, why) in [
            (
                n.no_recorded_response,
                "their request has no recorded response",
            ),
            (n.not_kept, "not kept by the transport"),
            (
                n.baseline_failed,
                "the primary answered their request with an error",
            ),
            (
                n.no_baseline,
                "the primary never answered their request (no free slot, or the run ended)",
            ),
            (
                n.waiting_full,
                "too many responses were waiting for the primary's",
            ),
        ] {
            if count > 0 {
                s.push_str(&format!("  {count} responses not compared: {why}\n"));
            }
        }
        s
    }
}

/// Every threshold in the order given, each against what it is about:
/// the replay's measurements, or (with `--compare`) the comparison.
pub(super) fn evaluate_all(
    thresholds: &[Threshold],
    report: &Report,
    comparison: Option<&ComparisonReport>,
) -> anyhow::Result<Evaluation> {
    let mut all = Evaluation::default();
    for th in thresholds {
        let one = std::slice::from_ref(th);
        let e = match (th.metric.is_comparison(), comparison) {
            (true, Some(c)) => evaluate_comparison(one, c),
            // Refused when planned: nothing to check it against.
            (true, None) => Evaluation::default(),
            (false, _) => evaluate(one, report).context("evaluating thresholds")?,
        };
        all.results.extend(e.results);
    }
    Ok(all)
}
