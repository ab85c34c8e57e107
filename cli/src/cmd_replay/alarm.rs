//! The summary's alarm when a target failed every request it was sent.
//!
//! A run against a target that is down, or that answers only 5xx, still
//! exits 0 without thresholds (k6's rule: the exit code judges thresholds,
//! not traffic), so the summary has to be impossible to misread instead: a
//! line per such target, and, when no `--threshold` was given, how to make
//! the run fail on errors.

use std::fmt::Write as _;

use shadowtap_replay::report::TargetReport;

/// The threshold the hint suggests (also in the README).
pub(crate) const ERROR_THRESHOLD: &str = "error_rate<1%";

/// A target every request to which failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllFailed {
    /// The target URL.
    pub target: String,
    /// Requests sent, all of them failed.
    pub sent: u64,
    /// What they failed with, nonzero only, in the report's order:
    /// transport error kinds, then `5xx`.
    pub causes: Vec<(String, u64)>,
}

/// The targets of `targets` whose every request sent ended in a transport
/// error or a 5xx. A target sent nothing is not one (nothing failed), nor
/// is one with a request still unanswered when the run stopped.
pub(crate) fn all_failed(targets: &[TargetReport]) -> Vec<AllFailed> {
    targets
        .iter()
        .filter_map(|t| {
            let server_errors = t.status_classes.get("5xx").copied().unwrap_or(0);
            let failed = t.errors_total.saturating_add(server_errors);
            if t.sent == 0 || failed < t.sent {
                return None;
            }
            let mut causes: Vec<(String, u64)> = t
                .errors
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| (k.clone(), *n))
                .collect();
            if server_errors > 0 {
                causes.push(("5xx".to_owned(), server_errors));
            }
            Some(AllFailed {
                target: t.target.clone(),
                sent: t.sent,
                causes,
            })
        })
        .collect()
}

/// The summary's lines for `failed` (empty when there is none); the hint
/// to fail on errors only when the run has no thresholds, since with them
/// the exit code already judges the run.
pub(crate) fn lines(failed: &[AllFailed], has_thresholds: bool) -> String {
    let mut out = String::new();
    for f in failed {
        let causes: Vec<String> = f.causes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  !! ALL {} REQUESTS TO {} FAILED ({})",
            f.sent,
            f.target,
            causes.join(", ")
        );
    }
    if !failed.is_empty() && !has_thresholds {
        let _ = writeln!(
            out,
            "  !! the exit code is still 0 without thresholds: add \
             --threshold '{ERROR_THRESHOLD}' to fail the run on errors"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(target: &str, sent: u64, causes: &[(&str, u64)]) -> AllFailed {
        AllFailed {
            target: target.to_owned(),
            sent,
            causes: causes.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
        }
    }

    #[test]
    fn nothing_failed_says_nothing() {
        assert_eq!(lines(&[], false), "");
        assert_eq!(lines(&[], true), "");
    }

    #[test]
    fn a_failed_target_is_named_with_its_causes_and_the_hint() {
        let f = [failed("http://127.0.0.1:9", 140, &[("refused", 140)])];
        assert_eq!(
            lines(&f, false),
            "  !! ALL 140 REQUESTS TO http://127.0.0.1:9 FAILED (refused 140)\n  \
             !! the exit code is still 0 without thresholds: add \
             --threshold 'error_rate<1%' to fail the run on errors\n"
        );
    }

    #[test]
    fn with_thresholds_the_hint_is_left_out() {
        let f = [
            failed("http://a:1", 3, &[("timeout", 1), ("5xx", 2)]),
            failed("http://b:2", 3, &[("5xx", 3)]),
        ];
        assert_eq!(
            lines(&f, true),
            "  !! ALL 3 REQUESTS TO http://a:1 FAILED (timeout 1, 5xx 2)\n  \
             !! ALL 3 REQUESTS TO http://b:2 FAILED (5xx 3)\n"
        );
    }
}
