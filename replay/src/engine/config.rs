//! What a replay is asked to do: [`Config`], its [`Mode`], and the one
//! check of it ([`Config::problems`]) that both the CLI (to report every
//! problem at once) and the engine (before anything is sent) rely on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::compare::{Baseline, Comparing};
use super::record::Recording;
use crate::client::{ClientError, ClientOptions, Target};
use crate::filter::{Filter, RuleKind};
use crate::input::{InputError, InputOptions};
use crate::rewrite::{
    Edits, ExtraHeader, HostError, HostLine, HostMode, RemoveHeader, Rewriter, UriRewrite,
};
use crate::sample::Sampler;
use crate::schedule::{RateLimit, RatePolicy, Speed, SPIN_MARGIN};

/// How long in-flight requests may still finish after a shutdown, unless
/// the configuration says otherwise ([`Config::interrupt_grace`]).
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(1);

/// Where requests come from, and so when they are due.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Logs replayed at `speed`: real time (scaled), where a target with no
    /// free slot misses the request (counted), or as fast as the slots
    /// allow ([`Speed::Max`]), where the scheduler waits for one.
    Replay {
        /// Replay speed.
        speed: Speed,
    },
    /// Live mirroring (`tee`): requests are due as they arrive, a target
    /// without a free slot drops the request (counted) instead of holding
    /// back the others, what the feed leaves out is counted at once, and
    /// the mirror delay (wire → send) is measured. There is no speed: a
    /// live request is never held back for its capture time.
    Live,
}

impl Default for Mode {
    fn default() -> Mode {
        Mode::Replay {
            speed: Speed::default(),
        }
    }
}

impl Mode {
    /// A replay at `speed`.
    pub fn replay(speed: Speed) -> Mode {
        Mode::Replay { speed }
    }

    /// True when mirroring live.
    pub fn is_live(self) -> bool {
        self == Mode::Live
    }

    /// The replay speed; live requests go out at once, as with
    /// [`Speed::Max`].
    pub fn speed(self) -> Speed {
        match self {
            Mode::Replay { speed } => speed,
            Mode::Live => Speed::Max,
        }
    }

    /// Whether the scheduler waits for a target's free slot (a closed loop
    /// at full speed) rather than dropping the request.
    pub(crate) fn waits_for_slots(self) -> bool {
        self == Mode::Replay { speed: Speed::Max }
    }
}

/// Everything a replay needs. [`Config::problems`] says whether it can run;
/// the engine refuses one that cannot.
///
/// Serialized, it is the configuration section of the report (keys and
/// values as the report documents them).
#[derive(Clone, Debug)]
pub struct Config {
    /// The logs, merged by time (replay only).
    pub inputs: Vec<PathBuf>,
    /// The per-file reorder window.
    pub input: InputOptions,
    /// The targets; each receives the whole sampled stream.
    pub targets: Vec<Target>,
    /// Replay or live mirroring.
    pub mode: Mode,
    /// Longest gap of capture time kept (`--max-gap`; replay in real time
    /// only).
    pub max_gap: Option<Duration>,
    /// Passes over the input; 0 repeats until `--duration`, `--limit` or a
    /// signal stops the replay. A live feed is one pass whatever this says.
    pub loops: u32,
    /// Stop scheduling after this long.
    pub duration: Option<Duration>,
    /// Stop after this many requests (each sent to every target).
    pub limit: Option<u64>,
    /// `--include` / `--exclude`: which exchanges are replayed at all
    /// (before sampling).
    pub filter: Filter,
    /// Which requests are replayed.
    pub sampler: Sampler,
    /// `--rate`.
    pub rate: Option<RateLimit>,
    /// Requests in flight per target (at least 1).
    pub concurrency: usize,
    /// Timeout and TLS settings.
    pub client: ClientOptions,
    /// Which Host is sent.
    pub host_mode: HostMode,
    /// `--header`s.
    pub headers: Vec<ExtraHeader>,
    /// `--rewrite-uri` and `--remove-header`.
    pub edits: Edits,
    /// How long before a due time the scheduler stops sleeping on tokio's
    /// (millisecond) timer and waits with a precise one instead
    /// ([`SPIN_MARGIN`]; zero in paused-clock tests: tokio's timer alone).
    pub spin: Duration,
    /// After the shutdown future completed, how long requests in flight may
    /// still finish before they are abandoned ([`INTERRUPT_GRACE`] by
    /// default; `replay` gives them `--timeout`, `tee`, whose shutdown
    /// future already includes its drain, none).
    pub interrupt_grace: Duration,
    /// `--compare`: every candidate response is compared with the one
    /// recorded with its request (replay only; see
    /// [`compare`](super::compare)). `None`: responses are read and
    /// discarded, nothing is kept.
    pub compare: Option<Arc<Comparing>>,
    /// `--record-responses`: every request sent and the response each
    /// target gave go into one log per target (replay only; see
    /// [`record`](super::record)). `None`: nothing is recorded.
    pub record: Option<Arc<Recording>>,
}

impl Config {
    /// A configuration with the defaults for everything but the inputs and
    /// targets.
    pub fn new(inputs: Vec<PathBuf>, targets: Vec<Target>) -> Config {
        Config {
            inputs,
            input: InputOptions::default(),
            targets,
            mode: Mode::default(),
            max_gap: None,
            loops: 1,
            duration: None,
            limit: None,
            filter: Filter::default(),
            sampler: Sampler::all(),
            rate: None,
            concurrency: 64,
            client: ClientOptions::default(),
            host_mode: HostMode::default(),
            headers: Vec::new(),
            edits: Edits::default(),
            spin: SPIN_MARGIN,
            interrupt_grace: INTERRUPT_GRACE,
            compare: None,
            record: None,
        }
    }

    /// Every reason this configuration cannot run, in a stable order
    /// (targets, concurrency, each target's Host). Empty when it can.
    pub fn problems(&self) -> Vec<EngineError> {
        self.check().1
    }

    /// The Host line each target gets (`None`: the captured one is kept),
    /// and every problem found on the way.
    pub(crate) fn check(&self) -> (Vec<Option<HostLine>>, Vec<EngineError>) {
        let mut problems = Vec::new();
        if self.targets.is_empty() {
            problems.push(EngineError::NoTarget);
        }
        if self.concurrency == 0 {
            problems.push(EngineError::ZeroConcurrency);
        }
        if let Some(c) = &self.compare {
            let baseline = c.baseline();
            if self.mode.is_live() && *baseline == Baseline::Recording {
                problems.push(EngineError::Compare(
                    "a live mirror has no recorded responses".into(),
                ));
            } else if let Err(e) = baseline.check(c.targets().len(), self.targets.len()) {
                problems.push(EngineError::Compare(e));
            }
        }
        if let Some(r) = &self.record {
            if self.mode.is_live() {
                problems.push(EngineError::Record(
                    "a live mirror does not record responses",
                ));
            } else if r.paths().len() != self.targets.len() {
                problems.push(EngineError::Record(
                    "the recording is not set up for these targets",
                ));
            }
        }
        let from_target = Rewriter::new(self.host_mode, self.headers.clone()).host_from_target();
        let mut lines = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            let line = if from_target {
                match self.host_mode.target_host_line(t.authority()) {
                    Ok(line) => line,
                    Err(source) => {
                        problems.push(EngineError::TargetHost {
                            url: t.url().to_owned(),
                            source,
                        });
                        None
                    }
                }
            } else {
                None
            };
            lines.push(line);
        }
        (lines, problems)
    }
}

impl Serialize for Config {
    /// The report's configuration: millisecond durations, the target URLs,
    /// the `--header` arguments as given. The keys of the input (`files`,
    /// `salvage`, `speed`, `loop`) are left out when mirroring live.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
        let mut m = s.serialize_map(None)?;
        if let Mode::Replay { speed } = self.mode {
            let files: Vec<String> = self
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            m.serialize_entry("files", &files)?;
            m.serialize_entry("salvage", &self.input.salvage)?;
            m.serialize_entry("speed", &speed.to_string())?;
            m.serialize_entry("loop", &self.loops)?;
        }
        let targets: Vec<&str> = self.targets.iter().map(Target::url).collect();
        m.serialize_entry("targets", &targets)?;
        m.serialize_entry("max_gap_ms", &ms(self.max_gap))?;
        m.serialize_entry("duration_ms", &ms(self.duration))?;
        m.serialize_entry("limit", &self.limit)?;
        m.serialize_entry("include", &self.filter.args(RuleKind::Include))?;
        m.serialize_entry("exclude", &self.filter.args(RuleKind::Exclude))?;
        m.serialize_entry("sample_pct", &self.sampler.percent().as_f64())?;
        m.serialize_entry("sample_by", &self.sampler.by().to_string())?;
        m.serialize_entry("seed", &self.sampler.seed())?;
        m.serialize_entry("rate_per_s", &self.rate.map(|r| r.rate.per_second))?;
        m.serialize_entry("burst", &self.rate.map(|r| r.burst.get()))?;
        let policy = self.rate.map(|r| match r.policy {
            RatePolicy::Delay => "delay",
            RatePolicy::Drop => "drop",
        });
        m.serialize_entry("rate_policy", &policy)?;
        m.serialize_entry("concurrency", &self.concurrency)?;
        m.serialize_entry("timeout_ms", &(self.client.timeout.as_millis() as u64))?;
        m.serialize_entry("shadow_suffix", &!self.host_mode.no_suffix)?;
        m.serialize_entry("keep_host", &self.host_mode.keep_captured)?;
        let headers: Vec<&str> = self.headers.iter().map(ExtraHeader::arg).collect();
        m.serialize_entry("headers", &headers)?;
        let rewrites: Vec<&str> = self.edits.uri.iter().map(UriRewrite::arg).collect();
        m.serialize_entry("rewrite_uri", &rewrites)?;
        let removed: Vec<&str> = self.edits.remove.iter().map(RemoveHeader::name).collect();
        m.serialize_entry("remove_headers", &removed)?;
        if let Some(c) = &self.compare {
            m.serialize_entry("compare", &true)?;
            m.serialize_entry("compare_max_body", &c.max_body())?;
            let baseline = match c.baseline() {
                Baseline::Recording => "recording",
                Baseline::Live(_) => "primary",
                Baseline::External => "production",
            };
            m.serialize_entry("compare_baseline", baseline)?;
        }
        if let Some(r) = &self.record {
            let paths: Vec<String> = r.paths().iter().map(|p| p.display().to_string()).collect();
            m.serialize_entry("record_responses", &paths)?;
            m.serialize_entry("record_max_body", &r.max_body())?;
        }
        m.end()
    }
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No input file.
    #[error("no input log given")]
    NoInput,
    /// No target.
    #[error("no --target given")]
    NoTarget,
    /// `--concurrency 0`.
    #[error("--concurrency must be at least 1")]
    ZeroConcurrency,
    /// A target's authority does not go through the `-shadow` rule.
    #[error("target {url}: its Host does not take the -shadow suffix (use --no-shadow-suffix?)")]
    TargetHost {
        /// The target URL.
        url: String,
        /// The rule's error.
        #[source]
        source: HostError,
    },
    /// `--compare` cannot be done as configured.
    #[error("--compare: {0}")]
    Compare(String),
    /// `--record-responses` cannot be done as configured.
    #[error("--record-responses: {0}")]
    Record(&'static str),
    /// A target cannot be resolved or set up.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An input log cannot be opened.
    #[error(transparent)]
    Input(#[from] InputError),
}
