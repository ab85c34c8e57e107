//! Comparing every candidate response with its request's baseline
//! (`replay --compare`): the response recorded with the request, a live
//! primary's answer to the same request (`--primary`), or one given from
//! outside (tee: production's own response).
//!
//! **Who does what.** The feed (on the input thread) makes one
//! [`Recorded`] per request, shared by the request's jobs (one per
//! target): its id, method, URI and endpoint name (named once per
//! request, not per target), and, against the recording, the recorded
//! response and latency. A worker sends with
//! [`Transport::send_keeping`](super::Transport::send_keeping): the
//! session keeps the final response's head and decodes its body as it
//! arrives ([`Kept`]). Against the recording, the worker then decodes the
//! recorded body (once per request: the first target's worker to get
//! there), compares the two outside any lock, and records the comparison
//! into the one shared [`Tally`] (a short step under its lock: per-worker
//! tallies would each hold two latency histograms per endpoint), and a line
//! into the diff log when they differ. With a live baseline the two answers
//! meet in the request's [`live`] slot, whichever comes first.
//!
//! **What is counted.** A candidate that fails (transport error, timeout)
//! is an error of its endpoint, not a difference. A request whose
//! baseline has no response (none recorded; the primary failed, or never
//! answered) is not compared, and counted in [`NotCompared`], once per
//! candidate it was sent to, as comparisons are. Requests not sent
//! (dropped, an invalid Host) are neither. Latencies: the recorded
//! baseline's is the recorded one (the response's last byte − the
//! request's first), a live one's and the candidate's the replay's service
//! time (from the actual send to the response's last byte).
//!
//! Without `--compare` none of this exists: jobs carry no recording and
//! sessions keep nothing.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use serde::Serialize;
use shadowtap_format::http1::scan_request_line;
use shadowtap_format::{Exchange, Response};

use crate::client::{Kept, Reply};
use crate::compare::body::{self, Decoded};
use crate::compare::endpoint::Endpoints;
use crate::compare::live::{request_id, DiffLine, LineContext};
use crate::compare::tally::{ComparisonReport, NoiseSource, Tally, TallyConfig, OTHER};
use crate::compare::{Comparer, Comparison, Decoded as Side};
use crate::rewrite::Prepared;

pub mod live;

pub use live::{Answer, Baseline, Copy, LiveBaseline, MAX_PARKED};
use live::{Role, Slot};

/// The diff log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the diff log")]
pub struct DiffLogError(#[source] pub io::Error);

/// Candidate responses that were not compared, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NotCompared {
    /// Responses to requests whose recording has no response (one per
    /// target the request was sent to).
    pub no_recorded_response: u64,
    /// Responses the transport did not keep (a transport without
    /// [`Transport::send_keeping`](super::Transport::send_keeping): never
    /// the network's).
    pub not_kept: u64,
    /// Live baseline: responses whose request the baseline answered with
    /// an error (a transport error, a timeout).
    pub baseline_failed: u64,
    /// Live baseline: responses whose request the baseline never answered
    /// (not sent to it: it had no free slot, or the run stopped first; or
    /// production's response was not captured).
    pub no_baseline: u64,
    /// Live baseline: responses that arrived while [`MAX_PARKED`] others
    /// were already waiting for their baseline.
    pub waiting_full: u64,
}

/// The counters behind [`NotCompared`], shared with the live slots (a
/// slot dropped with responses still waiting counts them).
#[derive(Debug, Default)]
pub(crate) struct Counts {
    no_recorded_response: AtomicU64,
    not_kept: AtomicU64,
    baseline_failed: AtomicU64,
    no_baseline: AtomicU64,
    waiting_full: AtomicU64,
    /// Responses waiting for their baseline now.
    parked: AtomicU64,
}

impl Counts {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A recorded response's latency: its last byte − the request's first
/// (`req_first_ns`).
fn recorded_latency(r: &Response, req_first_ns: u64) -> Duration {
    Duration::from_nanos(r.last_ns.saturating_sub(req_first_ns))
}

/// What a request's comparison needs of its recording; shared by the
/// request's jobs (one per target).
pub struct Recorded {
    response: Option<Response>,
    /// The recorded response's last byte − the request's first.
    latency: Duration,
    id: u64,
    method: String,
    uri: String,
    endpoint: String,
    /// The recorded body, decoded by the first worker that needs it.
    baseline: OnceLock<Decoded>,
    /// Live baseline: where the answers meet.
    live: Option<Slot>,
    /// Also sent to the calibration copy.
    calibrate: bool,
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("has_response", &self.response.is_some())
            .field("live", &self.live.is_some())
            .field("calibrate", &self.calibrate)
            .finish_non_exhaustive()
    }
}

impl Recorded {
    /// Whether there is a recorded response to compare with.
    pub fn has_response(&self) -> bool {
        self.response.is_some()
    }

    /// Whether a response to this request is compared (and so kept): with
    /// a recorded response, or a live baseline.
    pub fn wants_response(&self) -> bool {
        self.response.is_some() || self.live.is_some()
    }

    /// The request's id (see [`request_id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The request's endpoint name.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the request also goes to the calibration copy.
    pub fn calibrates(&self) -> bool {
        self.calibrate
    }
}

struct DiffLog {
    out: BufWriter<Box<dyn Write + Send>>,
    /// The first write error; nothing more is written after it.
    error: Option<io::Error>,
}

/// A run's comparison: how responses are compared and named, and what
/// was found (shared by the feed, the workers and the caller, who reads
/// it once the run ended).
pub struct Comparing {
    comparer: Comparer,
    endpoints: Endpoints,
    /// The candidates' URLs: engine targets `0..targets.len()`.
    targets: Vec<String>,
    baseline: Baseline,
    /// Calibration: the requests chosen so far per endpoint (as many
    /// endpoints as the tally tracks, then one count for the rest).
    calibrated: Mutex<HashMap<String, u64>>,
    /// The tally's bound of endpoints.
    max_endpoints: usize,
    tally: Mutex<Tally>,
    counts: Arc<Counts>,
    diff_log: Option<Mutex<DiffLog>>,
}

impl fmt::Debug for Comparing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Comparing")
            .field("comparer", &self.comparer)
            .field("targets", &self.targets)
            .field("baseline", &self.baseline)
            .field("diff_log", &self.diff_log.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Comparing {
    /// A comparison of the responses of the candidate `targets` (their
    /// URLs: the engine's first targets, in its order) by `comparer`,
    /// endpoints named by `endpoints`, against the recording; with
    /// `diff_log`, one JSON line per response that differs goes there
    /// (buffered; see [`Comparing::finish_diff_log`]).
    pub fn new(
        comparer: Comparer,
        endpoints: Endpoints,
        tally: TallyConfig,
        targets: &[String],
        diff_log: Option<Box<dyn Write + Send>>,
    ) -> Comparing {
        let max_endpoints = tally.max_endpoints;
        let tally = Tally::new(targets, tally);
        Comparing {
            comparer,
            endpoints,
            targets: targets.to_vec(),
            baseline: Baseline::Recording,
            calibrated: Mutex::default(),
            max_endpoints,
            tally: Mutex::new(tally),
            counts: Arc::default(),
            diff_log: diff_log.map(|out| {
                Mutex::new(DiffLog {
                    out: BufWriter::new(out),
                    error: None,
                })
            }),
        }
    }

    /// The same comparison against `baseline` instead of the recording.
    /// A live baseline's targets are engine targets after the candidates'
    /// ([`Baseline::check`] says whether the numbers fit).
    pub fn against(mut self, baseline: Baseline) -> Comparing {
        let source = match &baseline {
            Baseline::Live(LiveBaseline {
                copy: Some(Copy::Secondary(_)),
                ..
            }) => NoiseSource::Secondary,
            Baseline::Live(LiveBaseline {
                copy: Some(Copy::Calibration { .. }),
                ..
            }) => NoiseSource::Calibration,
            _ => NoiseSource::Rules,
        };
        lock(&self.tally).set_noise_source(source);
        self.baseline = baseline;
        self
    }

    /// The candidate targets compared.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Where the baselines come from.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Decoded bodies kept at most per response.
    pub fn max_body(&self) -> usize {
        self.comparer.options().max_body
    }

    /// The comparison so far (the report's `comparison` object).
    pub fn report(&self) -> ComparisonReport {
        lock(&self.tally).report()
    }

    /// The responses not compared so far.
    pub fn not_compared(&self) -> NotCompared {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NotCompared {
            no_recorded_response: get(&c.no_recorded_response),
            not_kept: get(&c.not_kept),
            baseline_failed: get(&c.baseline_failed),
            no_baseline: get(&c.no_baseline),
            waiting_full: get(&c.waiting_full),
        }
    }

    /// Flushes the diff log; its first write error if any. Call once the
    /// run ended.
    pub fn finish_diff_log(&self) -> Result<(), DiffLogError> {
        let Some(log) = &self.diff_log else {
            return Ok(());
        };
        let mut log = lock(log);
        if let Some(e) = log.error.take() {
            return Err(DiffLogError(e));
        }
        log.out.flush().map_err(DiffLogError)
    }

    /// Whether engine target `target` is sent the request recorded as
    /// `rec` (the calibration copy only gets the requests chosen for it).
    pub(crate) fn sends_to(&self, target: usize, rec: Option<&Recorded>) -> bool {
        match self.role(target) {
            Role::Copy if self.baseline.calibrates() => rec.is_some_and(|r| r.calibrate),
            _ => true,
        }
    }

    fn role(&self, target: usize) -> Role {
        self.baseline.role(target, self.targets.len())
    }

    /// The recording of exchange `ex` of input file `file`, whose request
    /// was prepared as `prepared`; against the recording its response is
    /// taken out. (The feed makes one per request.)
    pub fn recorded(&self, file: usize, ex: &mut Exchange, prepared: &Prepared) -> Recorded {
        let response = match self.baseline {
            Baseline::Recording => ex.response.take(),
            _ => None,
        };
        let latency = response
            .as_ref()
            .map_or(Duration::ZERO, |r| recorded_latency(r, ex.req_first_ns));
        // The prepared bytes start with the request line as sent (after
        // --rewrite-uri; a target's path prefix is not in it): endpoints are
        // named by what the candidates were asked.
        let line = scan_request_line(prepared.parts(None)[0]);
        let method = line.as_ref().map_or(prepared.method(), |l| l.method);
        let uri = line
            .as_ref()
            .and_then(|l| l.uri)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let endpoint = self.endpoints.name(method, &uri);
        let calibrate = self.calibrates(method, &endpoint);
        Recorded {
            endpoint,
            method: method.to_owned(),
            uri: uri.into_owned(),
            response,
            latency,
            id: request_id(file, ex.id),
            baseline: OnceLock::new(),
            live: (!matches!(self.baseline, Baseline::Recording))
                .then(|| Slot::new(self.counts.clone())),
            calibrate,
        }
    }

    /// Whether a request of `method` to `endpoint` goes to the calibration
    /// copy: the first requests of safe methods of each endpoint.
    fn calibrates(&self, method: &str, endpoint: &str) -> bool {
        let Baseline::Live(LiveBaseline {
            copy: Some(Copy::Calibration { requests, .. }),
            ..
        }) = &self.baseline
        else {
            return false;
        };
        if !matches!(method, "GET" | "HEAD" | "OPTIONS") {
            return false;
        }
        let mut chosen = lock(&self.calibrated);
        let max = self.max_endpoints;
        let key = if chosen.contains_key(endpoint) || chosen.len() < max {
            endpoint
        } else {
            OTHER
        };
        let n = chosen.entry(key.to_owned()).or_default();
        if *n >= *requests {
            return false;
        }
        *n += 1;
        true
    }

    /// A worker of engine target `target` got `reply` to the request
    /// recorded as `rec`, the response kept in `kept` (when it kept one).
    /// `line` is the worker's buffer for the diff log's lines.
    pub(crate) fn settle(
        &self,
        target: usize,
        rec: &Recorded,
        reply: &Reply,
        kept: Option<&mut Kept>,
        line: &mut Vec<u8>,
    ) {
        if rec.live.is_some() {
            return self.settle_live(target, rec, reply, kept, line);
        }
        let Some(recorded) = &rec.response else {
            Counts::add(&self.counts.no_recorded_response, 1);
            return;
        };
        let status = match reply.result {
            Ok(status) => status,
            Err(_) => {
                lock(&self.tally).record_error(target, &rec.endpoint);
                return;
            }
        };
        let Some((kept, candidate)) = kept.and_then(|k| k.take_body().map(|b| (k, b))) else {
            Counts::add(&self.counts.not_kept, 1);
            return;
        };
        let max = self.max_body();
        let baseline = rec.baseline.get_or_init(|| {
            body::decode(
                &recorded.head,
                &rec.method,
                &recorded.body,
                recorded.body_len,
                max,
            )
        });
        let c = self.comparer.compare_decoded(
            &Side {
                status: recorded.status,
                head: &recorded.head,
                body: baseline,
            },
            &Side {
                status,
                head: kept.head(),
                body: &candidate,
            },
        );
        let service = reply.done.saturating_duration_since(reply.started);
        self.record(target, rec, &c, rec.latency, service, line);
    }

    /// Candidate `target`'s comparison `c` of the request recorded as
    /// `rec`, with both latencies: into the tally, and the diff log when
    /// it differs.
    fn record(
        &self,
        target: usize,
        rec: &Recorded,
        c: &Comparison,
        baseline: Duration,
        candidate: Duration,
        line: &mut Vec<u8>,
    ) {
        lock(&self.tally).record(
            target,
            &rec.endpoint,
            rec.id,
            c,
            Some((baseline, candidate)),
        );
        let Some(log) = &self.diff_log else { return };
        if c.is_equal() {
            return;
        }
        line.clear();
        let cx = LineContext {
            baseline_id: rec.id,
            candidate_id: rec.id,
            target: Some(self.targets.get(target).map_or("", String::as_str)),
            endpoint: &rec.endpoint,
            method: &rec.method,
            uri: &rec.uri,
        };
        DiffLine::new(cx, c).write_to(line);
        let mut log = lock(log);
        if log.error.is_none() {
            if let Err(e) = log.out.write_all(line) {
                log.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod tests;
