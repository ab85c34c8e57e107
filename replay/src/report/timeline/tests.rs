use std::time::Duration;

use super::*;
use crate::stats::{ErrorKind, Outcome};

fn ok(target: usize, at_ms: u64, latency_us: u64) -> Outcome {
    let intended = Duration::from_millis(at_ms);
    Outcome {
        target,
        intended,
        sent: intended,
        done: intended + Duration::from_micros(latency_us),
        result: Ok(200),
        bytes_sent: 10,
        bytes_received: 10,
    }
}

fn failed(target: usize) -> Outcome {
    Outcome {
        result: Err(ErrorKind::Refused),
        ..ok(target, 0, 1)
    }
}

fn names() -> Vec<String> {
    vec!["http://a".into(), "http://b".into()]
}

/// Records `secs` one-second intervals; in second `s` target 0 gets one
/// response of `(s + 1) * 1000` µs, target 1 one of 500 µs and, every
/// third second, a refused connection.
fn run(secs: u64) -> Timeline {
    run_limited(secs, MAX_TIMELINE_INTERVALS)
}

/// [`run`] with a recorder holding at most `limit` intervals.
fn run_limited(secs: u64, limit: usize) -> Timeline {
    let mut stats = Stats::new(&names());
    stats.enable_intervals();
    let mut rec = TimelineRecorder::with_limit(&names(), limit);
    for s in 0..secs {
        stats.record(&ok(0, s * 1000, (s + 1) * 1000));
        stats.record(&ok(1, s * 1000, 500));
        if s % 3 == 0 {
            stats.record(&failed(1));
        }
        rec.observe(Duration::from_secs(s), Duration::from_secs(s + 1), &stats);
        stats.reset_interval();
        rec.settle().unwrap();
    }
    rec.finish()
}

#[test]
fn one_point_per_second_per_target_and_overall() {
    let t = run(3);
    assert_eq!(t.interval_us, TIMELINE_BASE_US);
    assert_eq!(t.targets.len(), 2);
    assert_eq!(t.overall.target, "overall");
    let a = &t.targets[0].intervals;
    assert_eq!(a.len(), 3);
    assert_eq!((a[1].start_us, a[1].length_us), (1_000_000, 1_000_000));
    assert_eq!((a[1].count, a[1].errors), (1, 0));
    // 3 significant digits: 2000 µs is exact.
    assert_eq!((a[1].p50_us, a[1].p99_us, a[1].max_us), (2000, 2000, 2000));
    assert!(!a[1].histogram.is_empty());
    let b = &t.targets[1].intervals;
    assert_eq!(
        b.iter().map(|p| p.errors).collect::<Vec<_>>(),
        [1, 0, 0],
        "errors are per interval, not cumulative"
    );
    let all = &t.overall.intervals;
    assert_eq!(all.len(), 3);
    assert_eq!((all[0].count, all[0].errors, all[0].max_us), (2, 1, 1000));
    assert!(all.iter().all(|p| p.histogram.is_empty()));
}

#[test]
fn an_empty_interval_has_no_histogram() {
    let mut stats = Stats::new(&names());
    stats.enable_intervals();
    let mut rec = TimelineRecorder::new(&names());
    rec.observe(Duration::ZERO, Duration::from_millis(300), &stats);
    rec.settle().unwrap();
    let t = rec.finish();
    assert_eq!(t.len(), 1);
    let p = &t.targets[0].intervals[0];
    assert_eq!((p.count, p.p99_us, p.length_us), (0, 0, 300_000));
    assert!(p.histogram.is_empty());
}

#[test]
fn a_long_run_is_coarsened_to_stay_bounded() {
    let limit = 16;
    let secs = limit as u64 * 2 + 5;
    let t = run_limited(secs, limit);
    assert!(t.len() <= limit, "{}", t.len());
    assert_eq!(t.interval_us, 4 * TIMELINE_BASE_US);
    assert!(t.targets.iter().all(|s| s.intervals.len() == t.len()));
    assert_eq!(t.overall.intervals.len(), t.len());
    // Nothing lost: every response and error is in some interval.
    let count: u64 = t.overall.intervals.iter().map(|p| p.count).sum();
    assert_eq!(count, 2 * secs);
    let errors: u64 = t.targets[1].intervals.iter().map(|p| p.errors).sum();
    assert_eq!(errors, secs.div_ceil(3));
    // The first coarse interval covers seconds 0..4: its max is 4000 µs.
    let first = &t.targets[0].intervals[0];
    assert_eq!((first.start_us, first.length_us), (0, 4_000_000));
    assert_eq!(first.count, 4);
    // 4000 µs within the histogram's 3 significant digits.
    assert!((4000..4004).contains(&first.max_us), "{}", first.max_us);
    // Consecutive intervals abut.
    for w in t.targets[0].intervals.windows(2) {
        assert_eq!(w[0].start_us + w[0].length_us, w[1].start_us);
    }
}

#[test]
fn the_limit_is_even_and_at_least_two() {
    assert_eq!(MAX_TIMELINE_INTERVALS % 2, 0);
    let t = run_limited(9, 3);
    assert_eq!((t.len(), t.interval_us), (3, 4 * TIMELINE_BASE_US));
    let t = run_limited(3, 0);
    assert_eq!((t.len(), t.interval_us), (2, 2 * TIMELINE_BASE_US));
}

#[test]
fn coarsening_merges_pairs_and_keeps_an_odd_tail() {
    let t = run(5).coarsened().unwrap();
    assert_eq!(t.interval_us, 2 * TIMELINE_BASE_US);
    assert_eq!(t.len(), 3);
    let a = &t.targets[0].intervals;
    assert_eq!(a.iter().map(|p| p.count).collect::<Vec<_>>(), [2, 2, 1]);
    assert!((4000..4004).contains(&a[1].max_us), "{}", a[1].max_us);
    assert_eq!((a[2].start_us, a[2].length_us), (4_000_000, 1_000_000));
}

#[test]
fn merge_adds_the_same_interval_and_recomputes_percentiles() {
    let one = run(4);
    let two = run(2);
    let m = Timeline::merge(&[&one, &two], &names()).unwrap().unwrap();
    assert_eq!(m.len(), 4);
    let a = &m.targets[0].intervals;
    assert_eq!(a.iter().map(|p| p.count).collect::<Vec<_>>(), [2, 2, 1, 1]);
    let all = &m.overall.intervals;
    assert_eq!(all[0].count, 4);
    assert_eq!(all[0].errors, 2);
    // A target only one run had is kept; one no run had is empty.
    let names3 = vec!["http://a".into(), "http://c".into()];
    let m = Timeline::merge(&[&one], &names3).unwrap().unwrap();
    assert_eq!(
        m.targets[1].intervals.iter().map(|p| p.count).sum::<u64>(),
        0
    );
}

#[test]
fn merge_brings_runs_to_the_coarsest_interval() {
    let fine = run(4);
    let coarse = run(4).coarsened().unwrap();
    let m = Timeline::merge(&[&fine, &coarse], &names())
        .unwrap()
        .unwrap();
    assert_eq!(m.interval_us, 2 * TIMELINE_BASE_US);
    assert_eq!(m.len(), 2);
    assert_eq!(m.targets[0].intervals[0].count, 4);
    // Lengths that do not align: no timeline rather than a wrong one.
    let mut odd = run(2);
    odd.interval_us = 3 * TIMELINE_BASE_US;
    assert_eq!(Timeline::merge(&[&fine, &odd], &names()).unwrap(), None);
    odd.interval_us = 0;
    assert_eq!(Timeline::merge(&[&odd], &names()).unwrap(), None);
}

#[test]
fn a_bad_histogram_is_an_error() {
    let mut t = run(1);
    t.targets[0].intervals[0].histogram = "not base64!".into();
    assert!(matches!(
        Timeline::merge(&[&t], &names()),
        Err(ReportError::Base64 { .. })
    ));
}
