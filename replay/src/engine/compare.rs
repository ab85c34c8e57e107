//! Comparing every candidate response with the response recorded with its
//! request (`replay --compare`).
//!
//! **Who does what.** The feed (on the input thread) takes each request's
//! recorded response out of its exchange, with the recorded latency, the
//! request's id, method, URI and endpoint name (named once per request,
//! not per target), into one [`Recorded`] that every target's job shares.
//! A worker sends with [`Transport::send_keeping`](super::Transport::send_keeping):
//! the session keeps the final response's head and decodes its body as it
//! arrives ([`Kept`]). The worker then decodes the recorded body (once per
//! request: the first target's worker to get there), compares the two
//! outside any lock, and records the comparison into the one shared
//! [`Tally`] (a short step under its lock: per-worker tallies would each
//! hold two latency histograms per endpoint), and a line into the diff log
//! when they differ.
//!
//! **What is counted.** A candidate that fails (transport error, timeout)
//! is an error of its endpoint, not a difference. A request whose
//! recording has no response is not compared: counted in
//! [`NotCompared::no_recorded_response`], once per target it was sent to,
//! as comparisons are. Requests not sent (dropped, an invalid Host) are
//! neither. Latencies: the baseline's is the recorded one (the response's
//! last byte − the request's first), the candidate's the replay's service
//! time (from the actual send to the response's last byte).
//!
//! Without `--compare` none of this exists: jobs carry no recording and
//! sessions keep nothing.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use serde::Serialize;
use shadowtap_format::http1::scan_request_line;
use shadowtap_format::{Exchange, Response};

use crate::client::{Kept, Reply};
use crate::compare::body::{self, Decoded};
use crate::compare::endpoint::Endpoints;
use crate::compare::live::{request_id, DiffLine, LineContext};
use crate::compare::tally::{ComparisonReport, Tally, TallyConfig};
use crate::compare::{Comparer, Decoded as Side};
use crate::rewrite::Prepared;

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
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorded")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint)
            .field("has_response", &self.response.is_some())
            .finish_non_exhaustive()
    }
}

impl Recorded {
    /// Whether there is a recorded response to compare with.
    pub fn has_response(&self) -> bool {
        self.response.is_some()
    }

    /// The request's id (see [`request_id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The request's endpoint name.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
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
    targets: Vec<String>,
    tally: Mutex<Tally>,
    no_recorded_response: AtomicU64,
    not_kept: AtomicU64,
    diff_log: Option<Mutex<DiffLog>>,
}

impl fmt::Debug for Comparing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Comparing")
            .field("comparer", &self.comparer)
            .field("targets", &self.targets)
            .field("diff_log", &self.diff_log.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Comparing {
    /// A comparison of the responses of `targets` (their URLs, in the
    /// configuration's order) by `comparer`, endpoints named by
    /// `endpoints`; with `diff_log`, one JSON line per response that
    /// differs goes there (buffered; see [`Comparing::finish_diff_log`]).
    pub fn new(
        comparer: Comparer,
        endpoints: Endpoints,
        tally: TallyConfig,
        targets: &[String],
        diff_log: Option<Box<dyn Write + Send>>,
    ) -> Comparing {
        Comparing {
            comparer,
            endpoints,
            targets: targets.to_vec(),
            tally: Mutex::new(Tally::new(targets, tally)),
            no_recorded_response: AtomicU64::new(0),
            not_kept: AtomicU64::new(0),
            diff_log: diff_log.map(|out| {
                Mutex::new(DiffLog {
                    out: BufWriter::new(out),
                    error: None,
                })
            }),
        }
    }

    /// The targets compared.
    pub fn targets(&self) -> &[String] {
        &self.targets
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
        NotCompared {
            no_recorded_response: self.no_recorded_response.load(Ordering::Relaxed),
            not_kept: self.not_kept.load(Ordering::Relaxed),
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

    /// The recording of exchange `ex` of input file `file`, whose request
    /// was prepared as `prepared`; its response is taken out.
    pub(crate) fn recorded(&self, file: usize, ex: &mut Exchange, prepared: &Prepared) -> Recorded {
        let response = ex.response.take();
        let latency = response.as_ref().map_or(Duration::ZERO, |r| {
            Duration::from_nanos(r.last_ns.saturating_sub(ex.req_first_ns))
        });
        // The request line is not rewritten: the prepared bytes start with it.
        let line = scan_request_line(prepared.parts(None)[0]);
        let method = line.as_ref().map_or(prepared.method(), |l| l.method);
        let uri = line
            .as_ref()
            .and_then(|l| l.uri)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        Recorded {
            endpoint: self.endpoints.name(method, &uri),
            method: method.to_owned(),
            uri: uri.into_owned(),
            response,
            latency,
            id: request_id(file, ex.id),
            baseline: OnceLock::new(),
        }
    }

    /// A worker of `target` got `reply` to the request recorded as `rec`,
    /// the response kept in `kept` (when it kept one). `line` is the
    /// worker's buffer for the diff log's lines.
    pub(crate) fn settle(
        &self,
        target: usize,
        rec: &Recorded,
        reply: &Reply,
        kept: Option<&mut Kept>,
        line: &mut Vec<u8>,
    ) {
        let Some(recorded) = &rec.response else {
            self.no_recorded_response.fetch_add(1, Ordering::Relaxed);
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
            self.not_kept.fetch_add(1, Ordering::Relaxed);
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
        lock(&self.tally).record(
            target,
            &rec.endpoint,
            rec.id,
            &c,
            Some((rec.latency, service)),
        );
        let Some(log) = &self.diff_log else { return };
        if c.is_equal() {
            return;
        }
        line.clear();
        let cx = LineContext {
            request_id: rec.id,
            target: self.targets.get(target).map_or("", String::as_str),
            endpoint: &rec.endpoint,
            method: &rec.method,
            uri: &rec.uri,
        };
        DiffLine::new(cx, &c).write_to(line);
        let mut log = lock(log);
        if log.error.is_none() {
            if let Err(e) = log.out.write_all(line) {
                log.error = Some(e);
            }
        }
    }
}
