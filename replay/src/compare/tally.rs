//! The bounded aggregation of comparisons: per target, per endpoint, per
//! field, with the noise each field shows between two copies of the same
//! version.
//!
//! **Counting requests.** A compared request is `equal` (no difference),
//! `noise_only` (every difference is noise) or `differing`. Whether a
//! field is noise is only known at the end when it rests on rates (a field
//! differs between the candidate and the baseline clearly more often than
//! between two copies of the baseline), so each request is kept as its
//! *signature*, the set of fields it differed in that are not noise by a
//! rule, counted per distinct set; the verdict per request is made when
//! the report is built. Signatures are bounded per endpoint
//! ([`MAX_SIGNATURES`]); a request whose set is new past the bound counts
//! as differing (the conservative side), and the report says how many.
//!
//! **The noise rule** (Diffy's, with its defaults): a field that differs
//! between two copies of the baseline (a secondary, or a calibration pass)
//! is a candidate difference only when it differs between candidate and
//! baseline more often by a relative margin (20%) and an absolute one
//! (0.03% of the requests compared): `rate > noise_rate × (1 + relative)`
//! and `rate − noise_rate > absolute`. Otherwise the whole field is noise,
//! shown as such with both rates.
//!
//! **Bounds.** Endpoints per target ([`TallyConfig::max_endpoints`], then
//! `other`), fields per endpoint ([`MAX_FIELDS`], then counted as
//! dropped), examples per field ([`MAX_EXAMPLES`], excerpts already
//! bounded), histograms per endpoint (two, created on first use).

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Comparison, Difference, Field, Kind, Noise};

mod report;

pub use report::*;

/// Distinct field sets counted per endpoint.
pub const MAX_SIGNATURES: usize = 1024;
/// Fields tracked per endpoint.
pub const MAX_FIELDS: usize = 256;
/// Examples kept per field.
pub const MAX_EXAMPLES: usize = 3;
/// The endpoint past the bound.
pub const OTHER: &str = "other";

/// How the tally decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TallyConfig {
    pub max_endpoints: usize,
    /// The noise rule's relative margin (0.2 = 20%).
    pub noise_relative: f64,
    /// The noise rule's absolute margin, a fraction of requests compared.
    pub noise_absolute: f64,
}

impl Default for TallyConfig {
    fn default() -> TallyConfig {
        TallyConfig {
            max_endpoints: 200,
            noise_relative: 0.2,
            noise_absolute: 0.0003,
        }
    }
}

/// One example of a field's difference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Example {
    pub request_id: u64,
    pub kind: Kind,
    pub baseline: Option<String>,
    pub candidate: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct FieldTally {
    /// Requests where it differed and the rules did not know the
    /// difference as noise.
    real: Part,
    /// Requests where the rules knew it as noise.
    known: Part,
    /// The first rule that did.
    reason: Option<Noise>,
}

/// The requests of one field's differences of one sort.
#[derive(Clone, Debug, Default)]
struct Part {
    count: u64,
    kinds: [u64; 6],
    examples: Vec<Example>,
}

impl Part {
    fn add(&mut self, request_id: u64, d: &Difference) {
        self.count += 1;
        self.kinds[kind_index(d.kind)] += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(example(request_id, d));
        }
    }

    fn merge(&mut self, other: &Part) {
        self.count += other.count;
        for (a, b) in self.kinds.iter_mut().zip(other.kinds) {
            *a += b;
        }
        for e in &other.examples {
            if self.examples.len() < MAX_EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }
}

fn kind_index(k: Kind) -> usize {
    match k {
        Kind::Value => 0,
        Kind::Type => 1,
        Kind::Missing => 2,
        Kind::Extra => 3,
        Kind::Length => 4,
        Kind::Order => 5,
    }
}

const KINDS: [Kind; 6] = [
    Kind::Value,
    Kind::Type,
    Kind::Missing,
    Kind::Extra,
    Kind::Length,
    Kind::Order,
];

/// Latency in microseconds, 1 µs to an hour, two significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

#[derive(Clone, Debug, Default)]
struct EndpointTally {
    compared: u64,
    equal: u64,
    /// Requests whose every difference the rules knew as noise.
    known_noise_only: u64,
    status_mismatch: u64,
    errors: u64,
    uncompared: u64,
    fields: Vec<(Field, FieldTally)>,
    index: HashMap<Field, u16>,
    fields_dropped: u64,
    /// Field sets (indexes into `fields`, sorted) of requests with
    /// differences not known as noise; `u16::MAX` marks listed-out ones.
    signatures: HashMap<Vec<u16>, u64>,
    unsigned: u64,
    latency: Option<Box<(Histogram<u64>, Histogram<u64>)>>,
}

/// A field index standing for "differences beyond those listed".
const UNLISTED: u16 = u16::MAX;

impl EndpointTally {
    fn field(&mut self, f: &Field) -> Option<u16> {
        if let Some(&i) = self.index.get(f) {
            return Some(i);
        }
        if self.fields.len() >= MAX_FIELDS {
            self.fields_dropped += 1;
            return None;
        }
        let i = self.fields.len() as u16;
        self.fields.push((f.clone(), FieldTally::default()));
        self.index.insert(f.clone(), i);
        Some(i)
    }

    fn record(&mut self, request_id: u64, c: &Comparison) {
        self.compared += 1;
        if c.uncompared.is_some() {
            self.uncompared += 1;
        }
        if c.is_equal() {
            self.equal += 1;
            return;
        }
        let mut signature: Vec<u16> = Vec::new();
        let mut seen: Vec<u16> = Vec::new();
        for d in &c.differences {
            let Some(i) = self.field(&d.field) else {
                signature.push(UNLISTED);
                continue;
            };
            if d.field == Field::Status && d.noise.is_none() {
                self.status_mismatch += 1;
            }
            let t = &mut self.fields[usize::from(i)].1;
            // A field counts once per request.
            if !seen.contains(&i) {
                seen.push(i);
                match &d.noise {
                    Some(n) => {
                        t.known.add(request_id, d);
                        if t.reason.is_none() {
                            t.reason = Some(n.clone());
                        }
                    }
                    None => {
                        t.real.add(request_id, d);
                        signature.push(i);
                    }
                }
            } else if d.noise.is_none() && !signature.contains(&i) {
                signature.push(i);
            }
        }
        if c.more > 0 {
            signature.push(UNLISTED);
        }
        if signature.is_empty() {
            self.known_noise_only += 1;
            return;
        }
        signature.sort_unstable();
        signature.dedup();
        if let Some(n) = self.signatures.get_mut(&signature) {
            *n += 1;
        } else if self.signatures.len() < MAX_SIGNATURES {
            self.signatures.insert(signature, 1);
        } else {
            self.unsigned += 1;
        }
    }

    fn record_latency(&mut self, baseline: Duration, candidate: Duration) {
        let h = self
            .latency
            .get_or_insert_with(|| Box::new((latency_histogram(), latency_histogram())));
        let us = |d: Duration| (d.as_micros() as u64).clamp(1, 3_600_000_000);
        h.0.saturating_record(us(baseline));
        h.1.saturating_record(us(candidate));
    }

    fn merge(&mut self, other: &EndpointTally) {
        self.compared += other.compared;
        self.equal += other.equal;
        self.known_noise_only += other.known_noise_only;
        self.status_mismatch += other.status_mismatch;
        self.errors += other.errors;
        self.uncompared += other.uncompared;
        self.fields_dropped += other.fields_dropped;
        self.unsigned += other.unsigned;
        // Field indexes differ between tallies: map theirs to ours.
        let mut map = Vec::with_capacity(other.fields.len());
        for (f, t) in &other.fields {
            match self.field(f) {
                Some(i) => {
                    let mine = &mut self.fields[usize::from(i)].1;
                    mine.real.merge(&t.real);
                    mine.known.merge(&t.known);
                    if mine.reason.is_none() {
                        mine.reason = t.reason.clone();
                    }
                    map.push(i);
                }
                None => map.push(UNLISTED),
            }
        }
        for (sig, n) in &other.signatures {
            let mut s: Vec<u16> = sig
                .iter()
                .map(|&i| {
                    if i == UNLISTED {
                        UNLISTED
                    } else {
                        map[usize::from(i)]
                    }
                })
                .collect();
            s.sort_unstable();
            s.dedup();
            if let Some(m) = self.signatures.get_mut(&s) {
                *m += n;
            } else if self.signatures.len() < MAX_SIGNATURES {
                self.signatures.insert(s, *n);
            } else {
                self.unsigned += n;
            }
        }
        if let Some(h) = &other.latency {
            let mine = self
                .latency
                .get_or_insert_with(|| Box::new((latency_histogram(), latency_histogram())));
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.0.add(&h.0);
            let _ = mine.1.add(&h.1);
        }
    }
}

fn example(request_id: u64, d: &Difference) -> Example {
    Example {
        request_id,
        kind: d.kind,
        baseline: d.baseline.clone(),
        candidate: d.candidate.clone(),
    }
}

/// Differences between two copies of the baseline, per endpoint.
#[derive(Clone, Debug, Default)]
struct NoiseTally {
    compared: u64,
    fields: HashMap<Field, u64>,
}

impl NoiseTally {
    fn record(&mut self, c: &Comparison) {
        self.compared += 1;
        let mut seen: Vec<&Field> = Vec::new();
        for d in &c.differences {
            if !seen.contains(&&d.field) {
                seen.push(&d.field);
                if self.fields.len() < MAX_FIELDS || self.fields.contains_key(&d.field) {
                    *self.fields.entry(d.field.clone()).or_default() += 1;
                }
            }
        }
    }
}

/// Where the noise rates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSource {
    /// None measured: noise is what the rules know.
    Rules,
    /// A secondary instance of the baseline's version.
    Secondary,
    /// A calibration pass: requests sent twice to the same version.
    Calibration,
}

/// The comparisons of a run.
#[derive(Clone, Debug)]
pub struct Tally {
    config: TallyConfig,
    targets: Vec<(String, HashMap<String, EndpointTally>)>,
    noise: HashMap<String, NoiseTally>,
    noise_source: NoiseSource,
}

impl Tally {
    /// A tally of comparisons for these candidate targets.
    pub fn new(targets: &[String], config: TallyConfig) -> Tally {
        Tally {
            config,
            targets: targets
                .iter()
                .map(|t| (t.clone(), HashMap::new()))
                .collect(),
            noise: HashMap::new(),
            noise_source: NoiseSource::Rules,
        }
    }

    /// Where noise rates come from (set by whoever records them).
    pub fn set_noise_source(&mut self, s: NoiseSource) {
        self.noise_source = s;
    }

    fn endpoint(&mut self, target: usize, endpoint: &str) -> &mut EndpointTally {
        let max = self.config.max_endpoints;
        let table = &mut self.targets[target].1;
        let name = if table.contains_key(endpoint) || table.len() < max {
            endpoint
        } else {
            OTHER
        };
        table.entry(name.to_owned()).or_default()
    }

    /// A candidate's response compared with the baseline's; with both
    /// latencies when both were measured.
    pub fn record(
        &mut self,
        target: usize,
        endpoint: &str,
        request_id: u64,
        c: &Comparison,
        latency: Option<(Duration, Duration)>,
    ) {
        let e = self.endpoint(target, endpoint);
        e.record(request_id, c);
        if let Some((b, c)) = latency {
            e.record_latency(b, c);
        }
    }

    /// A candidate failed to answer (an error, not a difference).
    pub fn record_error(&mut self, target: usize, endpoint: &str) {
        self.endpoint(target, endpoint).errors += 1;
    }

    /// Two copies of the baseline's version compared (secondary against
    /// primary, or a calibration pass).
    pub fn record_noise(&mut self, endpoint: &str, c: &Comparison) {
        let max = self.config.max_endpoints;
        let name = if self.noise.contains_key(endpoint) || self.noise.len() < max {
            endpoint
        } else {
            OTHER
        };
        self.noise.entry(name.to_owned()).or_default().record(c);
    }

    /// Adds another tally of the same targets (a worker's).
    pub fn merge(&mut self, other: &Tally) {
        for ((_, mine), (_, theirs)) in self.targets.iter_mut().zip(&other.targets) {
            for (name, t) in theirs {
                let max = self.config.max_endpoints;
                let name = if mine.contains_key(name) || mine.len() < max {
                    name.as_str()
                } else {
                    OTHER
                };
                mine.entry(name.to_owned()).or_default().merge(t);
            }
        }
        for (name, n) in &other.noise {
            let mine = self.noise.entry(name.clone()).or_default();
            mine.compared += n.compared;
            for (f, c) in &n.fields {
                *mine.fields.entry(f.clone()).or_default() += c;
            }
        }
        if other.noise_source != NoiseSource::Rules {
            self.noise_source = other.noise_source;
        }
    }
}

#[cfg(test)]
mod tests;
