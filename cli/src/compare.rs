//! The comparison options `replay`, `tee` and `diff` share, and the
//! comparer, endpoint namer and tally they build.

use std::path::PathBuf;

use shadowtap_replay::compare::endpoint::Endpoints;
use shadowtap_replay::compare::rules::Rules;
use shadowtap_replay::compare::tally::TallyConfig;
use shadowtap_replay::compare::{Comparer, Options};

use crate::units;

/// Options of a comparison.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CompareArgs {
    /// Treat differences that match RULE as noise: `status`, `header:NAME`,
    /// `headers`, `body`, `json:/pointer` (`*` one segment, `**` any),
    /// optionally `~REGEX` on both values, or `json:/p within=X[%]` for
    /// numbers. Repeatable.
    #[arg(long = "ignore", value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Read more --ignore rules from FILE, one per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Vec<PathBuf>,
    /// Compare the arrays at this JSON pointer (`*`, `**` allowed) as sets.
    /// Repeatable.
    #[arg(long, value_name = "POINTER")]
    pub ignore_order: Vec<String>,
    /// Do not classify the built-in noise (Date, trace and request-id
    /// headers, timestamps, UUIDs, tokens) as noise.
    #[arg(long)]
    pub no_default_ignores: bool,
    /// Name endpoints by hand: `'GET /api/items/{id}'` (`{name}` one path
    /// segment, a final `{name*}` the rest, `*` any method). Repeatable;
    /// the first match wins, before the automatic templates.
    #[arg(long = "endpoint", value_name = "'METHOD /path'")]
    pub endpoints: Vec<String>,
    /// Endpoints tracked at most; more are counted as `other`.
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = units::count::<usize>)]
    pub max_endpoints: usize,
    /// Bodies larger than this (decoded) compare by length and hash.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = units::size)]
    pub compare_max_body: u64,
    /// Write one JSON line per request with differences to FILE.
    #[arg(long, value_name = "FILE.jsonl")]
    pub diff_log: Option<PathBuf>,
    /// Write the comparison as JUnit XML: a test case per endpoint, failed
    /// when it differs beyond noise (and one per threshold).
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

/// What a comparison is made with.
pub struct Built {
    pub comparer: Comparer,
    pub endpoints: Endpoints,
    pub tally: TallyConfig,
}

impl CompareArgs {
    /// The comparer, endpoint namer and tally configuration; an error
    /// names the bad rule, endpoint or file.
    pub fn build(&self) -> Result<Built, String> {
        let mut rules = self.ignore.clone();
        for f in &self.ignore_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read --ignore-file {}: {e}", f.display()))?;
            rules.extend(Rules::lines_of_file(&text));
        }
        let rules = Rules::new(&rules, &self.ignore_order, !self.no_default_ignores)
            .map_err(|e| e.to_string())?;
        let endpoints = Endpoints::new(&self.endpoints).map_err(|e| e.to_string())?;
        if self.max_endpoints == 0 {
            return Err("--max-endpoints must be at least 1".into());
        }
        // 0 compares every body by length and hash.
        let options = Options {
            max_body: usize::try_from(self.compare_max_body).unwrap_or(usize::MAX),
            ..Options::default()
        };
        Ok(Built {
            comparer: Comparer::new(rules, options),
            endpoints,
            tally: TallyConfig {
                max_endpoints: self.max_endpoints,
                ..TallyConfig::default()
            },
        })
    }
}
