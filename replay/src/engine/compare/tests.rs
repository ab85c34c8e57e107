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
            not_kept: 1,
            ..NotCompared::default()
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

/// A comparison of two candidates against a live primary (engine target
/// 2), with `copy` (target 3) when given.
fn live(copy: Option<Copy>) -> Comparing {
    let rules = Rules::new(&[], &[], true).unwrap();
    Comparing::new(
        Comparer::new(rules, Options::default()),
        Endpoints::new(&[]).unwrap(),
        TallyConfig::default(),
        &["http://a".to_owned(), "http://b".to_owned()],
        None,
    )
    .against(Baseline::Live(LiveBaseline { primary: 2, copy }))
}

/// A request of `method` recorded for `c` (its response is not the
/// baseline: none is taken).
fn live_request(c: &Comparing, method: &str) -> Recorded {
    let request = format!("{method} /items/7 HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes();
    let mut ex = Exchange::new(
        9,
        1,
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        1_000,
        request.clone(),
    )
    .with_response(Response::new(
        200,
        2,
        3,
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        vec![],
    ));
    let mut rw = Rewriter::new(HostMode::default(), Vec::new());
    let p = rw.rewrite(&request).unwrap();
    let r = c.recorded(0, &mut ex, &p);
    assert!(
        ex.response.is_some(),
        "a live baseline leaves the recording"
    );
    r
}

/// A JSON response with body `b`.
fn json(b: &str) -> Kept {
    kept(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len()).as_bytes())
}

fn counts(c: &Comparing) -> (u64, u64, u64) {
    let r = c.report();
    let t = |i: usize| &r.targets[i];
    (r.overall.compared, t(0).equal, t(1).differing)
}

#[test]
fn live_answers_meet_whichever_comes_first() {
    let c = live(None);
    let rec = live_request(&c, "GET");
    assert!(rec.wants_response() && !rec.has_response());
    let mut line = Vec::new();
    // Candidate a first: it waits for the primary.
    c.settle(
        0,
        &rec,
        &reply(Ok(200)),
        Some(&mut json(r#"{"a":1}"#)),
        &mut line,
    );
    assert_eq!(counts(&c), (0, 0, 0));
    assert_eq!(c.counts.parked.load(Ordering::Relaxed), 1);
    c.settle(
        2,
        &rec,
        &reply(Ok(200)),
        Some(&mut json(r#"{"a":1}"#)),
        &mut line,
    );
    assert_eq!(counts(&c), (1, 1, 0));
    assert_eq!(c.counts.parked.load(Ordering::Relaxed), 0);
    // Candidate b after the primary: compared at once.
    c.settle(
        1,
        &rec,
        &reply(Ok(200)),
        Some(&mut json(r#"{"a":2}"#)),
        &mut line,
    );
    assert_eq!(counts(&c), (2, 1, 1));
    let r = c.report();
    let b = &r.targets[1].endpoints[0];
    assert_eq!(b.fields[0].path, "body:/a");
    assert_eq!(c.not_compared(), NotCompared::default());
}

#[test]
fn a_failed_or_missing_primary_leaves_candidates_uncompared() {
    let c = live(None);
    let mut line = Vec::new();
    let rec = live_request(&c, "GET");
    c.settle(0, &rec, &reply(Ok(200)), Some(&mut json("{}")), &mut line);
    c.settle(
        2,
        &rec,
        &reply(Err(ErrorKind::Timeout)),
        Some(&mut Kept::new(10)),
        &mut line,
    );
    c.settle(1, &rec, &reply(Ok(200)), Some(&mut json("{}")), &mut line);
    assert_eq!(c.not_compared().baseline_failed, 2);
    // A candidate error is an error, whatever the primary did.
    c.settle(1, &rec, &reply(Err(ErrorKind::Refused)), None, &mut line);
    assert_eq!(c.report().targets[1].errors, 1);

    // Never answered (not sent to the primary): counted when the request
    // is done with.
    let rec = live_request(&c, "GET");
    c.settle(0, &rec, &reply(Ok(200)), Some(&mut json("{}")), &mut line);
    c.settle(1, &rec, &reply(Ok(200)), Some(&mut json("{}")), &mut line);
    assert_eq!(c.not_compared().no_baseline, 0);
    drop(rec);
    assert_eq!(c.not_compared().no_baseline, 2);
    assert_eq!(c.counts.parked.load(Ordering::Relaxed), 0);
    assert_eq!(c.report().overall.compared, 0);
}

#[test]
fn a_secondarys_differences_are_the_noise_rates() {
    let c = live(Some(Copy::Secondary(3)));
    assert_eq!(c.report().noise_source, NoiseSource::Secondary);
    let mut line = Vec::new();
    for i in 0..10 {
        let rec = live_request(&c, "GET");
        // The secondary first, then the candidate, then the primary.
        c.settle(
            3,
            &rec,
            &reply(Ok(200)),
            Some(&mut json(&format!(r#"{{"n":{i},"v":1}}"#))),
            &mut line,
        );
        c.settle(
            0,
            &rec,
            &reply(Ok(200)),
            Some(&mut json(&format!(r#"{{"n":{},"v":2}}"#, i + 1))),
            &mut line,
        );
        c.settle(
            2,
            &rec,
            &reply(Ok(200)),
            Some(&mut json(&format!(r#"{{"n":{},"v":1}}"#, i + 2))),
            &mut line,
        );
    }
    let r = c.report();
    let e = &r.targets[0].endpoints[0];
    assert_eq!((e.compared, e.differing), (10, 10), "{e:#?}");
    let field = |p: &str| e.fields.iter().find(|f| f.path == p).unwrap();
    // `n` differs between the two copies as often: noise.
    assert!(field("body:/n").noise);
    assert_eq!(field("body:/n").noise_rate, Some(1.0));
    // `v` never did: a difference.
    assert!(!field("body:/v").noise);
    assert_eq!(field("body:/v").noise_rate, Some(0.0));
}

#[test]
fn the_calibration_copy_gets_the_first_safe_requests_of_each_endpoint() {
    let c = live(Some(Copy::Calibration {
        target: 3,
        requests: 2,
    }));
    assert_eq!(c.report().noise_source, NoiseSource::Calibration);
    let post = live_request(&c, "POST");
    let a = live_request(&c, "GET");
    let b = live_request(&c, "GET");
    // Another endpoint (`HEAD /items/{id}`): its own count.
    let head = live_request(&c, "HEAD");
    let late = live_request(&c, "GET");
    let chosen: Vec<bool> = [&post, &a, &b, &head, &late]
        .iter()
        .map(|r| r.calibrates())
        .collect();
    assert_eq!(chosen, [false, true, true, true, false]);
    for t in 0..3 {
        assert!(c.sends_to(t, Some(&late)), "target {t}");
    }
    assert!(c.sends_to(3, Some(&a)));
    assert!(!c.sends_to(3, Some(&late)));
    assert!(!c.sends_to(3, None));
}

#[test]
fn waiting_answers_are_bounded() {
    let c = live(None);
    let mut line = Vec::new();
    let mut held = Vec::new();
    for _ in 0..=MAX_PARKED {
        let rec = live_request(&c, "GET");
        c.settle(0, &rec, &reply(Ok(200)), Some(&mut json("{}")), &mut line);
        held.push(rec);
    }
    assert_eq!(c.counts.parked.load(Ordering::Relaxed), MAX_PARKED);
    assert_eq!(c.not_compared().waiting_full, 1);
    drop(held);
    assert_eq!(c.counts.parked.load(Ordering::Relaxed), 0);
    assert_eq!(c.not_compared().no_baseline, MAX_PARKED);
}

#[test]
fn a_baseline_fits_the_engine_only_right_after_the_candidates() {
    let live = |primary, copy| Baseline::Live(LiveBaseline { primary, copy });
    assert!(Baseline::Recording.check(2, 2).is_ok());
    assert!(Baseline::Recording.check(2, 3).is_err());
    assert!(Baseline::Recording.check(0, 0).is_err());
    assert!(live(2, None).check(2, 3).is_ok());
    assert!(live(3, None).check(2, 3).is_err());
    assert!(live(2, Some(Copy::Secondary(3))).check(2, 4).is_ok());
    assert!(live(3, Some(Copy::Secondary(2))).check(2, 4).is_ok());
    assert!(live(2, Some(Copy::Secondary(2))).check(2, 4).is_err());
    assert!(live(2, Some(Copy::Secondary(3))).check(2, 3).is_err());
    assert_eq!(live(2, Some(Copy::Secondary(3))).extra_targets(), 2);
    assert_eq!(live(1, None).role(1, 1), live::Role::Primary);
    assert_eq!(live(1, None).role(5, 1), live::Role::None);
}
