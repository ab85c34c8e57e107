//! `replay`'s (and `tee`'s mirror's) flags turned into a validated [`Plan`]:
//! the engine's [`Config`] plus what the report needs, every problem
//! reported at once.

use std::path::PathBuf;
use std::time::SystemTime;

use shadowtap_replay::client::Target;
use shadowtap_replay::engine::{Config, EngineError, Mode};
use shadowtap_replay::filter::{Filter, FilterRule, RuleKind};
use shadowtap_replay::rewrite::{Edits, ExtraHeader, HostMode, RemoveHeader, UriRewrite};
use shadowtap_replay::sample::{Percent, SampleBy, Sampler};
use shadowtap_replay::schedule::{Rate, RateLimit, RatePolicy, Speed};
use shadowtap_replay::threshold::Threshold;

use super::compare::{self, ComparePlan, ComparisonArgs};
use super::record::{self, RecordArgs, RecordPlan};
use super::{MirrorArgs, ReplayArgs, ReportArgs, ReportFormat, TimingArgs};
use crate::{exit, units};

/// Everything `replay` (or `tee`'s mirror) needs, validated.
pub(crate) struct Plan {
    pub(crate) config: Config,
    pub(super) thresholds: Vec<Threshold>,
    /// The `--threshold` arguments as given, for the report.
    pub(super) threshold_args: Vec<String>,
    pub(super) report: ReportFormat,
    pub(super) report_file: Option<PathBuf>,
    pub(super) hdr_log: Option<PathBuf>,
    pub(super) progress: bool,
    /// `--compare` (replay only).
    pub(super) compare: Option<ComparePlan>,
    /// `--record-responses` (replay only).
    pub(super) record: Option<RecordPlan>,
}

/// The logs `replay` reads and when it sends their requests.
struct Logs {
    files: Vec<PathBuf>,
    salvage: bool,
    timing: TimingArgs,
    record: RecordArgs,
}

impl Plan {
    /// The one conversion from flags to a validated plan: every problem is
    /// collected and reported at once.
    pub(crate) fn from_args(args: ReplayArgs) -> Result<Plan, exit::UsageError> {
        let logs = Logs {
            files: args.files,
            salvage: args.salvage,
            timing: args.timing,
            record: args.record,
        };
        Plan::new(Some(logs), args.mirror, args.output, args.comparison)
    }

    /// The plan of a live mirror (`tee`): requests are sent as they arrive,
    /// as fast as `--concurrency` allows, once each.
    pub(crate) fn live(
        mirror: MirrorArgs,
        output: ReportArgs,
        comparison: ComparisonArgs,
    ) -> Result<Plan, exit::UsageError> {
        Plan::new(None, mirror, output, comparison)
    }

    /// `logs` is `None` for a live mirror.
    fn new(
        logs: Option<Logs>,
        mirror: MirrorArgs,
        output: ReportArgs,
        comparison: ComparisonArgs,
    ) -> Result<Plan, exit::UsageError> {
        let live = logs.is_none();
        let timing = logs.as_ref().map(|l| &l.timing);
        let max_gap = timing.and_then(|t| t.max_gap);
        let duration = timing.and_then(|t| t.duration);
        let limit = timing.and_then(|t| t.limit);
        let loops = timing.map_or(1, |t| t.loops);
        let mut errors: Vec<String> = Vec::new();
        let mut check = |r: Result<(), String>| {
            if let Err(e) = r {
                errors.push(e);
            }
        };

        let mut targets = Vec::new();
        for t in &mirror.targets {
            match Target::parse(t) {
                Ok(t) => targets.push(t),
                Err(e) => check(Err(format!("--target: {e}"))),
            }
        }
        let speed = match timing {
            Some(t) => t
                .speed
                .parse::<Speed>()
                .map_err(|e| format!("--speed: {e}")),
            None => Ok(Speed::Max),
        };
        let pct = if is_negative(&mirror.sample) {
            Err(format!("--sample {}: {}", mirror.sample, units::NEGATIVE))
        } else {
            mirror
                .sample
                .parse::<Percent>()
                .map_err(|e| format!("--sample: {e}"))
        };
        let by = mirror
            .sample_by
            .parse::<SampleBy>()
            .map_err(|e| format!("--sample-by: {e}"));
        let rate = match mirror.rate.as_deref() {
            Some(r) if is_negative(r) => Err(format!("--rate {r}: {}", units::NEGATIVE)),
            r => r
                .map(str::parse::<Rate>)
                .transpose()
                .map_err(|e| format!("--rate: {e}")),
        };
        let policy = mirror
            .rate_policy
            .parse::<RatePolicy>()
            .map_err(|e| format!("--rate-policy: {e}"));
        let burst = match mirror.burst {
            None => Ok(std::num::NonZeroU32::MIN),
            Some(b) => {
                std::num::NonZeroU32::new(b).ok_or_else(|| "--burst must be at least 1".to_owned())
            }
        };
        let mut headers = Vec::new();
        for h in &mirror.headers {
            match ExtraHeader::parse(h) {
                Ok(h) => headers.push(h),
                Err(e) => check(Err(format!("--header: {e}"))),
            }
        }
        let mut edits = Edits::default();
        for a in &mirror.rewrite_uri {
            match UriRewrite::parse(a) {
                Ok(r) => edits.uri.push(r),
                Err(e) => check(Err(e.to_string())),
            }
        }
        for a in &mirror.remove_headers {
            match RemoveHeader::parse(a) {
                Ok(r) => edits.remove.push(r),
                Err(e) => check(Err(e.to_string())),
            }
        }
        let mut rules = Vec::new();
        let args = (mirror.include.iter().map(|a| (RuleKind::Include, a)))
            .chain(mirror.exclude.iter().map(|a| (RuleKind::Exclude, a)));
        for (kind, arg) in args {
            match FilterRule::parse(kind, arg) {
                Ok(r) => rules.push(r),
                Err(e) => check(Err(e.to_string())),
            }
        }
        let filter = Filter::new(rules);
        if live && filter.uses_status() {
            check(Err(
                "--include/--exclude status: tee mirrors a request before its response exists"
                    .to_owned(),
            ));
        }
        let thresholds = match Threshold::parse_all(&output.thresholds) {
            Ok(t) => t,
            Err(errs) => {
                for e in errs {
                    check(Err(format!("--threshold: {e}")));
                }
                Vec::new()
            }
        };
        let comparing = comparison.compare;
        for t in thresholds.iter().filter(|t| t.metric.is_comparison()) {
            if !comparing {
                check(Err(format!(
                    "--threshold {:?}: a comparison metric; it needs --compare (or shadowtap diff on two logs)",
                    t.expr
                )));
            }
        }
        let (compare, problems) = compare::plan(comparison, &mut targets, live);
        for e in problems {
            check(Err(e));
        }
        let (record, problems) = match &logs {
            Some(l) => record::plan(l.record.clone(), &l.files, targets.len()),
            None => (None, Vec::new()),
        };
        for e in problems {
            check(Err(e));
        }
        // The engine's own check of targets, concurrency and Host lines,
        // its problems reported here with the others.
        let (files, salvage) = logs.map_or((Vec::new(), false), |l| (l.files, l.salvage));
        let mut config = Config::new(files, targets);
        config.concurrency = mirror.concurrency;
        config.host_mode = HostMode {
            keep_captured: mirror.keep_host,
            no_suffix: mirror.no_shadow_suffix,
        };
        config.headers = headers;
        config.filter = filter;
        config.edits = edits;
        let mut host_problems = Vec::new();
        for problem in config.problems() {
            match problem {
                EngineError::TargetHost { url, source } => {
                    host_problems.push(format!("--target {url}: {source}"));
                }
                // Said by the --target errors already.
                EngineError::NoTarget => {}
                e => check(Err(e.to_string())),
            }
        }
        if mirror.timeout.is_zero() {
            check(Err("--timeout must be more than 0".into()));
        }
        if limit == Some(0) {
            check(Err("--limit must be at least 1".into()));
        }
        if duration.is_some_and(|d| d.is_zero()) {
            check(Err("--duration must be more than 0".into()));
        }
        if max_gap.is_some_and(|d| d.is_zero()) {
            check(Err("--max-gap must be more than 0".into()));
        }
        if mirror.rate.is_none() && (mirror.burst.is_some() || mirror.rate_policy != "delay") {
            check(Err("--burst and --rate-policy need --rate".into()));
        }
        errors.extend(host_problems);
        let (speed, pct, by, rate, policy, burst) = match (speed, pct, by, rate, policy, burst) {
            (Ok(s), Ok(p), Ok(b), Ok(r), Ok(po), Ok(bu)) if errors.is_empty() => {
                (s, p, b, r, po, bu)
            }
            (s, p, b, r, po, bu) => {
                let mut all = errors;
                all.extend(
                    [s.err(), p.err(), b.err(), r.err(), po.err(), bu.err()]
                        .into_iter()
                        .flatten(),
                );
                return Err(exit::UsageError(all.join("\n  ")));
            }
        };
        let seed = mirror.seed.unwrap_or_else(random_seed);

        config.mode = if live {
            Mode::Live
        } else {
            Mode::replay(speed)
        };
        config.max_gap = max_gap;
        config.input.salvage = salvage;
        config.loops = loops;
        config.duration = duration;
        config.limit = limit;
        config.sampler = Sampler::new(pct, by, seed);
        config.rate = rate.map(|rate| RateLimit {
            rate,
            burst,
            policy,
        });
        config.client.timeout = mirror.timeout;
        // After SIGINT/SIGTERM, requests in flight get at most their own
        // deadline; a second signal ends the run at once.
        config.interrupt_grace = mirror.timeout;
        config.client.insecure = mirror.insecure;
        Ok(Plan {
            config,
            thresholds,
            threshold_args: output.thresholds,
            report: output.report,
            report_file: output.report_file,
            hdr_log: output.hdr_log,
            progress: crate::progress::wanted(output.no_progress),
            compare,
            record,
        })
    }
}

/// A value that starts with a minus sign.
fn is_negative(s: &str) -> bool {
    s.trim_start().starts_with('-')
}

/// A seed when none is given: different each run, printed in the report.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
