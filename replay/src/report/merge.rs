//! [`Report::merge`]: reports of concurrent runs added up.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Report, ReportError, RunInfo, Timeline, REPORT_VERSION};
use crate::stats::TargetStats;

impl Report {
    /// Adds reports from several runs (several machines driving targets at
    /// the same time): targets with the same name are added, histograms are
    /// decoded and added, and every percentile is recomputed from the sums.
    pub fn merge(reports: &[Report]) -> Result<Report, ReportError> {
        let first = reports.first().ok_or(ReportError::Empty)?;
        let mut names: Vec<String> = Vec::new();
        let mut per_target: Vec<TargetStats> = Vec::new();
        let mut sampled_out = 0u64;
        let mut filtered_out = 0u64;
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        let mut elapsed = Duration::ZERO;
        let mut interrupted = false;
        let mut sources = 0u32;
        let mut seed = first.seed;
        for r in reports {
            if r.version > REPORT_VERSION {
                return Err(ReportError::UnsupportedVersion {
                    found: r.version,
                    supported: REPORT_VERSION,
                });
            }
            for t in &r.targets {
                let decoded = t.to_stats()?;
                match names.iter().position(|n| *n == t.target) {
                    Some(i) => per_target[i].merge(&decoded),
                    None => {
                        names.push(t.target.clone());
                        per_target.push(decoded);
                    }
                }
            }
            sampled_out = sampled_out.saturating_add(r.sampled_out);
            filtered_out = filtered_out.saturating_add(r.filtered_out);
            for (k, v) in &r.skipped {
                let n = skipped.entry(k.clone()).or_insert(0);
                *n = n.saturating_add(*v);
            }
            elapsed = elapsed.max(r.duration());
            interrupted |= r.interrupted;
            sources = sources.saturating_add(r.sources.max(1));
            if r.seed != seed {
                seed = None;
            }
        }
        let mut overall = TargetStats::new();
        for t in &per_target {
            overall.merge(t);
        }
        let run = RunInfo {
            config: first.config.clone(),
            seed,
            elapsed,
            interrupted,
        };
        let mut merged = Report::build(
            &names,
            &per_target,
            &overall,
            (sampled_out, filtered_out),
            skipped,
            &run,
            sources,
        );
        // A timeline only when every run has one: part of the runs drawn
        // over time would show less load than there was.
        let timelines: Option<Vec<&Timeline>> =
            reports.iter().map(|r| r.timeline.as_ref()).collect();
        if let Some(timelines) = timelines {
            merged.timeline = Timeline::merge(&timelines, &names)?;
        }
        Ok(merged)
    }
}
