//! `--ignore` rules and the built-in noise (stub: being written).

use super::json::{JsonPolicy, Tolerance};
use super::{Difference, Noise};

/// Why a rule did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad rule {rule:?}: {why}")]
pub struct RuleError {
    pub rule: String,
    pub why: String,
}

/// The ignore rules of a run, with or without the built-in ones.
#[derive(Debug, Default)]
pub struct Rules {}

impl Rules {
    /// Rules from `--ignore` texts and `--ignore-order` pointers; `builtin`
    /// false is `--no-default-ignores`.
    pub fn new(
        ignore: &[String],
        ignore_order: &[String],
        builtin: bool,
    ) -> Result<Rules, RuleError> {
        let _ = (ignore, ignore_order, builtin);
        Ok(Rules {})
    }

    /// The rules of an `--ignore-file`: one per line, `#` comments and
    /// blank lines skipped.
    pub fn lines_of_file(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// Whether a difference is noise, and why.
    pub fn noise(&self, d: &Difference) -> Option<Noise> {
        let _ = d;
        None
    }
}

impl JsonPolicy for Rules {
    fn unordered(&self, _: &str) -> bool {
        false
    }
    fn tolerance(&self, _: &str) -> Option<Tolerance> {
        None
    }
}
