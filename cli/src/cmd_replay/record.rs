//! `replay --record-responses`: the flags, their check, and what the
//! recording adds to the report (the JSON `recorded_responses` object and
//! the text summary's lines).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shadowtap_replay::engine::{Config, Mode, RecordOptions, RecordSummary, Recording};
use shadowtap_replay::schedule::Speed;

use crate::units;

/// What `{target}` in `--record-responses` is replaced by.
const TARGET_PLACEHOLDER: &str = "{target}";

/// The largest `--record-max-body`: as the capture's `--max-body`, an
/// exchange must fit in one block of the log format.
const MAX_RECORD_BODY: u64 = 16 << 20;

/// The body cap of recorded responses when not given.
const DEFAULT_RECORD_BODY: u64 = 1 << 20;

/// `--record-responses` and its option (replay only).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RecordArgs {
    /// Record every request sent and the response each target gave (as
    /// received: status, head, body, times) into this .stlog log, each
    /// exchange with the id of the request it replays, so that `shadowtap
    /// diff` can compare them offline. With several targets FILE must
    /// contain `{target}`, replaced by each target's index (from 0).
    #[arg(long, value_name = "FILE.stlog")]
    pub record_responses: Option<PathBuf>,
    /// Body bytes kept per recorded response (as capture's --max-body:
    /// longer bodies keep their first bytes, their true length and the
    /// resp_body_capped flag); at most 16MiB. Default 1MiB.
    #[arg(long, value_name = "SIZE", value_parser = units::size, allow_negative_numbers = true)]
    pub record_max_body: Option<u64>,
}

/// A checked `--record-responses`.
#[derive(Debug)]
pub(crate) struct RecordPlan {
    /// One log per target.
    paths: Vec<PathBuf>,
    max_body: u64,
}

/// The same file, whether or not the paths are spelled alike.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// The recording `args` asks for with `targets` targets, replaying
/// `inputs` (`None` without `--record-responses`), and its problems.
pub(super) fn plan(
    args: RecordArgs,
    inputs: &[PathBuf],
    targets: usize,
) -> (Option<RecordPlan>, Vec<String>) {
    let mut errors = Vec::new();
    let Some(file) = args.record_responses else {
        if args.record_max_body.is_some() {
            errors.push("--record-max-body needs --record-responses".to_owned());
        }
        return (None, errors);
    };
    let max_body = args.record_max_body.unwrap_or(DEFAULT_RECORD_BODY);
    if max_body > MAX_RECORD_BODY {
        errors.push(format!(
            "--record-max-body is at most {} MiB (an exchange must fit in one block of the log)",
            MAX_RECORD_BODY >> 20
        ));
    }
    let text = file.to_string_lossy();
    let placeholder = text.contains(TARGET_PLACEHOLDER);
    if targets > 1 && !placeholder {
        errors.push(format!(
            "--record-responses {}: with several targets (a --primary and its copy count) \
             the name must contain {TARGET_PLACEHOLDER} (replaced by each target's index, from 0)",
            file.display()
        ));
        return (None, errors);
    }
    let paths: Vec<PathBuf> = (0..targets.max(1))
        .map(|i| {
            if placeholder {
                PathBuf::from(text.replace(TARGET_PLACEHOLDER, &i.to_string()))
            } else {
                file.clone()
            }
        })
        .collect();
    for p in &paths {
        if let Some(input) = inputs.iter().find(|i| same_file(i, p)) {
            errors.push(format!(
                "--record-responses {}: that is the log replayed ({})",
                p.display(),
                input.display()
            ));
        }
    }
    if !errors.is_empty() {
        return (None, errors);
    }
    (Some(RecordPlan { paths, max_body }), errors)
}

impl RecordPlan {
    /// Creates the logs (a bad path fails before anything is sent) and
    /// starts the recording of `config`'s run.
    pub(super) fn start(self, config: &Config) -> anyhow::Result<Arc<Recording>> {
        let recording = Recording::start(RecordOptions {
            paths: self.paths,
            targets: config.targets.iter().map(|t| t.url().to_owned()).collect(),
            inputs: config.inputs.clone(),
            max_body: self.max_body,
            // At full speed the replay waits for the disk rather than drop.
            wait: config.mode == Mode::replay(Speed::Max),
            writer: Default::default(),
        })?;
        Ok(Arc::new(recording))
    }
}

/// The recording's part of the text summary.
pub(super) fn summary(s: &RecordSummary) -> String {
    let mut out = String::new();
    for log in &s.logs {
        out.push_str(&format!(
            "recorded {} exchanges with {} in {}",
            log.recorded,
            log.target,
            log.path.display()
        ));
        if log.dropped > 0 {
            out.push_str(&format!(
                ", {} not recorded (the writer's queue was full)",
                log.dropped
            ));
        }
        if log.not_written > 0 {
            out.push_str(&format!(
                ", {} not written after a write error",
                log.not_written
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: &str) -> RecordArgs {
        RecordArgs {
            record_responses: Some(file.into()),
            record_max_body: None,
        }
    }

    #[test]
    fn one_log_per_target_by_its_index() {
        let (p, errors) = plan(args("out/r-{target}.stlog"), &[], 3);
        assert!(errors.is_empty(), "{errors:?}");
        let p = p.unwrap();
        assert_eq!(
            p.paths,
            ["out/r-0.stlog", "out/r-1.stlog", "out/r-2.stlog"].map(PathBuf::from)
        );
        assert_eq!(p.max_body, 1 << 20);
        let (p, _) = plan(args("r.stlog"), &[], 1);
        assert_eq!(p.unwrap().paths, [PathBuf::from("r.stlog")]);
    }

    #[test]
    fn what_cannot_be_recorded_is_refused() {
        let (p, errors) = plan(args("r.stlog"), &[], 2);
        assert!(p.is_none());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("must contain {target}"), "{errors:?}");
        let (_, errors) = plan(args("in.stlog"), &[PathBuf::from("in.stlog")], 1);
        assert_eq!(
            errors,
            ["--record-responses in.stlog: that is the log replayed (in.stlog)"]
        );
        let (_, errors) = plan(
            RecordArgs {
                record_max_body: Some(17 << 20),
                ..args("r.stlog")
            },
            &[],
            1,
        );
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("--record-max-body is at most 16 MiB"));
        let (_, errors) = plan(
            RecordArgs {
                record_responses: None,
                record_max_body: Some(1),
            },
            &[],
            1,
        );
        assert_eq!(errors, ["--record-max-body needs --record-responses"]);
    }
}
