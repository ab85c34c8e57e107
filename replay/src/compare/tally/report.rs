//! The report's `comparison` object: what [`super::Tally::report`]
//! builds, serialized as the README documents it.

use std::collections::HashMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{EndpointTally, Example, NoiseSource, Part, Tally, KINDS, UNLISTED};
use crate::compare::{Field, Kind};

impl Tally {
    /// The report's `comparison` object.
    pub fn report(&self) -> ComparisonReport {
        let mut targets = Vec::new();
        let mut all: HashMap<String, EndpointTally> = HashMap::new();
        for (name, table) in &self.targets {
            targets.push(self.summarize(Some(name.clone()), table));
            for (ep, t) in table {
                all.entry(ep.clone()).or_default().merge(t);
            }
        }
        ComparisonReport {
            version: REPORT_VERSION,
            noise_source: self.noise_source,
            noise_relative: self.config.noise_relative,
            noise_absolute: self.config.noise_absolute,
            overall: self.summarize(None, &all),
            targets,
        }
    }

    fn summarize(
        &self,
        target: Option<String>,
        table: &HashMap<String, EndpointTally>,
    ) -> TargetReport {
        let mut endpoints: Vec<EndpointReport> = table
            .iter()
            .map(|(name, t)| self.endpoint_report(name, t))
            .collect();
        endpoints.sort_by(|a, b| {
            b.differing
                .cmp(&a.differing)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        let mut r = TargetReport {
            target,
            ..TargetReport::default()
        };
        for e in &endpoints {
            r.compared += e.compared;
            r.equal += e.equal;
            r.differing += e.differing;
            r.noise_only += e.noise_only;
            r.status_mismatch += e.status_mismatch;
            r.errors += e.errors;
            r.uncompared += e.uncompared;
        }
        r.diff_rate = rate(r.differing, r.compared);
        r.endpoints = endpoints;
        r
    }

    /// Whether a field is noise by its rates: (noise, noise rate).
    fn noise_by_rate(
        &self,
        endpoint: &str,
        field: &Field,
        count: u64,
        compared: u64,
    ) -> (bool, Option<f64>) {
        let Some(n) = self.noise.get(endpoint).filter(|n| n.compared > 0) else {
            return (false, None);
        };
        let noise_rate = n.fields.get(field).copied().unwrap_or(0) as f64 / n.compared as f64;
        let r = rate(count, compared);
        let clearly_more = r > noise_rate * (1.0 + self.config.noise_relative)
            && r - noise_rate > self.config.noise_absolute;
        (!clearly_more, Some(noise_rate))
    }

    fn endpoint_report(&self, name: &str, t: &EndpointTally) -> EndpointReport {
        let mut noise_fields = vec![false; t.fields.len()];
        let mut fields = Vec::new();
        for (i, (f, ft)) in t.fields.iter().enumerate() {
            let path = f.to_string();
            // The differences the rules did not know as noise: a candidate
            // difference unless its rate says noise.
            if ft.real.count > 0 {
                let (by_rate, noise_rate) = self.noise_by_rate(name, f, ft.real.count, t.compared);
                noise_fields[i] = by_rate;
                let reason = by_rate.then(|| match self.noise_source {
                    NoiseSource::Calibration => {
                        "differs as often between two passes of the baseline".to_owned()
                    }
                    _ => "differs as often between primary and secondary".to_owned(),
                });
                fields.push(field_report(
                    &path, &ft.real, t.compared, by_rate, reason, noise_rate,
                ));
            }
            // Those it knew, shown as noise with the rule's reason.
            if ft.known.count > 0 {
                let reason = ft.reason.as_ref().map(ToString::to_string);
                fields.push(field_report(
                    &path, &ft.known, t.compared, true, reason, None,
                ));
            }
        }
        let mut differing = t.unsigned;
        let mut noise_only = t.known_noise_only;
        for (sig, n) in &t.signatures {
            let real = sig
                .iter()
                .any(|&i| i == UNLISTED || !noise_fields[usize::from(i)]);
            if real {
                differing += n;
            } else {
                noise_only += n;
            }
        }
        fields.sort_by(|a, b| {
            a.noise
                .cmp(&b.noise)
                .then(b.count.cmp(&a.count))
                .then_with(|| a.path.cmp(&b.path))
        });
        let latency = t.latency.as_ref().map(|h| {
            let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
            let side = |h: &Histogram<u64>| Percentiles {
                p50: p(h, 0.5),
                p90: p(h, 0.9),
                p99: p(h, 0.99),
            };
            let (b, c) = (side(&h.0), side(&h.1));
            let ratio = |c: u64, b: u64| {
                if b == 0 {
                    None
                } else {
                    Some(c as f64 / b as f64)
                }
            };
            Latency {
                ratio_p50: ratio(c.p50, b.p50),
                ratio_p90: ratio(c.p90, b.p90),
                ratio_p99: ratio(c.p99, b.p99),
                baseline: b,
                candidate: c,
            }
        });
        EndpointReport {
            endpoint: name.to_owned(),
            compared: t.compared,
            equal: t.equal,
            differing,
            noise_only,
            diff_rate: rate(differing, t.compared),
            status_mismatch: t.status_mismatch,
            errors: t.errors,
            uncompared: t.uncompared,
            unclassified: t.unsigned,
            fields_dropped: t.fields_dropped,
            latency_us: latency,
            fields,
        }
    }
}

fn field_report(
    path: &str,
    part: &Part,
    compared: u64,
    noise: bool,
    noise_reason: Option<String>,
    noise_rate: Option<f64>,
) -> FieldReport {
    let top = (0..6)
        .max_by_key(|&k| (part.kinds[k], usize::MAX - k))
        .unwrap_or(0);
    FieldReport {
        path: path.to_owned(),
        kind: KINDS[top],
        kinds: KINDS
            .iter()
            .zip(part.kinds)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.as_str(), n))
            .collect(),
        count: part.count,
        rate: rate(part.count, compared),
        noise,
        noise_reason,
        noise_rate,
        examples: part.examples.clone(),
    }
}

fn rate(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// The version of the `comparison` object's schema.
pub const REPORT_VERSION: u32 = 1;

/// The report's `comparison` object.
#[derive(Clone, Debug, Serialize)]
pub struct ComparisonReport {
    pub version: u32,
    pub noise_source: NoiseSource,
    pub noise_relative: f64,
    pub noise_absolute: f64,
    pub overall: TargetReport,
    pub targets: Vec<TargetReport>,
}

/// Counts of one target (or, without a target, of all).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub compared: u64,
    pub equal: u64,
    pub differing: u64,
    pub noise_only: u64,
    pub diff_rate: f64,
    pub status_mismatch: u64,
    pub errors: u64,
    pub uncompared: u64,
    /// Most differing first.
    pub endpoints: Vec<EndpointReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EndpointReport {
    pub endpoint: String,
    pub compared: u64,
    pub equal: u64,
    pub differing: u64,
    pub noise_only: u64,
    pub diff_rate: f64,
    pub status_mismatch: u64,
    pub errors: u64,
    pub uncompared: u64,
    /// Requests past the bound of distinct field sets (counted differing).
    pub unclassified: u64,
    /// Differences in fields past the bound of fields per endpoint.
    pub fields_dropped: u64,
    pub latency_us: Option<Latency>,
    /// Candidate differences first, most frequent first; then noise. A
    /// field whose differences were partly known as noise by the rules
    /// appears twice: its other differences, then the noise.
    pub fields: Vec<FieldReport>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub baseline: Percentiles,
    pub candidate: Percentiles,
    pub ratio_p50: Option<f64>,
    pub ratio_p90: Option<f64>,
    pub ratio_p99: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FieldReport {
    pub path: String,
    /// The most frequent kind.
    pub kind: Kind,
    pub kinds: std::collections::BTreeMap<&'static str, u64>,
    /// Requests where it differed.
    pub count: u64,
    pub rate: f64,
    pub noise: bool,
    pub noise_reason: Option<String>,
    /// How often it differed between two copies of the baseline.
    pub noise_rate: Option<f64>,
    pub examples: Vec<Example>,
}
