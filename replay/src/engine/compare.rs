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
            baseline_id: rec.id,
            candidate_id: rec.id,
            target: Some(self.targets.get(target).map_or("", String::as_str)),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shadowtap_format::http1::{Framer, Status};
    use tokio::time::Instant;

    use super::*;
    use crate::compare::rules::Rules;
    use crate::compare::Options;
    use crate::rewrite::{HostMode, Rewriter};
    use crate::stats::ErrorKind;

    /// A writer that fails every write.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn comparing(log: Option<Box<dyn Write + Send>>) -> Comparing {
        let rules = Rules::new(&[], &[], true).unwrap();
        Comparing::new(
            Comparer::new(rules, Options::default()),
            Endpoints::new(&[]).unwrap(),
            TallyConfig::default(),
            &["http://t".to_owned()],
            log,
        )
    }

    fn recorded(c: &Comparing, file: usize, body: Option<&str>) -> Recorded {
        let request = b"GET /items/7?x=1 HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
        let mut ex = Exchange::new(
            5,
            1,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            1_000,
            request.clone(),
        );
        if let Some(b) = body {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len());
            ex = ex.with_response(Response::new(
                200,
                2_000,
                3_001_000,
                head.into_bytes(),
                b.as_bytes().to_vec(),
            ));
        }
        let mut rw = Rewriter::new(HostMode::default(), Vec::new());
        let p = rw.rewrite(&request).unwrap();
        c.recorded(file, &mut ex, &p)
    }

    /// `wire` read as a session reads it, into a fresh [`Kept`].
    fn kept(wire: &[u8]) -> Kept {
        let mut k = Kept::new(1 << 20);
        let mut framer = Framer::response("GET");
        let before = framer.body_consumed();
        let p = framer.feed(wire).unwrap();
        k.consumed(&framer, &wire[..p.consumed], before, "GET");
        assert_eq!(p.status, Status::Complete);
        k.response_done();
        k
    }

    fn reply(result: Result<u16, ErrorKind>) -> Reply {
        let now = Instant::now();
        Reply {
            result,
            bytes_sent: 0,
            bytes_received: 0,
            tls_reason: None,
            started: now,
            done: now,
        }
    }

    #[test]
    fn a_recording_names_its_request_once() {
        let c = comparing(None);
        let r = recorded(&c, 1, Some("{}"));
        assert_eq!(r.id(), (1 << 48) | 5);
        assert_eq!(r.endpoint(), "GET /items/{id}?x");
        assert_eq!((r.method.as_str(), r.uri.as_str()), ("GET", "/items/7?x=1"));
        assert_eq!(r.latency, Duration::from_millis(3));
        assert!(r.has_response());
    }

    #[test]
    fn errors_and_missing_recordings_are_counted_not_compared() {
        let c = comparing(None);
        let mut line = Vec::new();
        let none = recorded(&c, 0, None);
        c.settle(0, &none, &reply(Ok(200)), None, &mut line);
        let some = recorded(&c, 0, Some(r#"{"a":1}"#));
        c.settle(0, &some, &reply(Err(ErrorKind::Timeout)), None, &mut line);
        // A transport that kept nothing.
        c.settle(
            0,
            &some,
            &reply(Ok(200)),
            Some(&mut Kept::new(10)),
            &mut line,
        );
        assert_eq!(
            c.not_compared(),
            NotCompared {
                no_recorded_response: 1,
                not_kept: 1
            }
        );
        let r = c.report();
        assert_eq!((r.overall.compared, r.overall.errors), (0, 1));
    }

    #[test]
    fn a_difference_goes_to_the_tally_and_the_diff_log() {
        let out = Shared::default();
        let c = comparing(Some(Box::new(out.clone())));
        let rec = recorded(&c, 0, Some(r#"{"a":1}"#));
        let mut line = Vec::new();
        let mut same = kept(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
        c.settle(0, &rec, &reply(Ok(200)), Some(&mut same), &mut line);
        let mut other = kept(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":2}");
        c.settle(0, &rec, &reply(Ok(200)), Some(&mut other), &mut line);
        let r = c.report();
        assert_eq!(
            (r.overall.compared, r.overall.equal, r.overall.differing),
            (2, 1, 1)
        );
        c.finish_diff_log().unwrap();
        let text = String::from_utf8(lock(&out.0).clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["differences"][0]["path"], "body:/a");
        assert_eq!(v["target"], "http://t");
        assert_eq!(v["baseline_id"], 5);
    }

    #[test]
    fn a_diff_log_that_cannot_be_written_is_an_error_at_the_end() {
        let c = comparing(Some(Box::new(Broken)));
        let rec = recorded(&c, 0, Some(r#"{"a":1}"#));
        let mut line = Vec::new();
        // More than the writer's buffer, so that a write reaches it.
        for _ in 0..200 {
            let mut k = kept(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":2}");
            c.settle(0, &rec, &reply(Ok(200)), Some(&mut k), &mut line);
        }
        let e = c.finish_diff_log().unwrap_err();
        assert_eq!(e.to_string(), "cannot write the diff log");
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "disk full"
        );
        assert_eq!(c.report().overall.differing, 200);
    }
}
