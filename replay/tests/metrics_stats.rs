//! Stats: percentiles on known distributions, coordinated-omission
//! correction, counters, merging.

use std::time::Duration;

use shadowtap_replay::report::Summary;
use shadowtap_replay::stats::{
    DropCause, ErrorKind, Outcome, SkipReason, Stats, TargetStats, HIST_HIGH_US,
};

fn us(v: u64) -> Duration {
    Duration::from_micros(v)
}

fn ok(target: usize, intended: u64, sent: u64, done: u64, status: u16) -> Outcome {
    Outcome {
        target,
        intended: us(intended),
        sent: us(sent),
        done: us(done),
        result: Ok(status),
        bytes_sent: 100,
        bytes_received: 1000,
    }
}

/// Within HdrHistogram's precision (3 significant digits: 0.1%).
fn close(actual: u64, expected: u64) -> bool {
    let tol = (expected as f64 * 0.001).max(1.0);
    (actual as f64 - expected as f64).abs() <= tol
}

fn assert_close(what: &str, actual: u64, expected: u64) {
    assert!(
        close(actual, expected),
        "{what}: {actual} not within 0.1% of {expected}"
    );
}

#[test]
fn uniform_distribution_percentiles() {
    let mut stats = Stats::new(&["t".to_owned()]);
    for v in 1..=100_000u64 {
        stats.record(&ok(0, 0, 0, v, 200));
    }
    let t = stats.target(0).unwrap();
    let s = Summary::of(&t.latency);
    assert_eq!(s.count, 100_000);
    assert_eq!(s.min, 1);
    assert_close("p50", s.p50, 50_000);
    assert_close("p90", s.p90, 90_000);
    assert_close("p99", s.p99, 99_000);
    assert_close("p999", s.p999, 99_900);
    assert_close("max", s.max, 100_000);
    assert!(
        (s.mean - 50_000.5).abs() / 50_000.5 < 0.001,
        "mean {}",
        s.mean
    );
    // Sent on time: service time equals latency, lag is zero.
    assert_eq!(Summary::of(&t.service_time), s);
    let lag = Summary::of(&t.schedule_lag);
    assert_eq!((lag.count, lag.max), (100_000, 0));
}

#[test]
fn bimodal_distribution_percentiles() {
    // 99% at 1 ms, 1% at 1 s: p50/p90 fast, p99.9 and max slow.
    let mut stats = Stats::new(&["t".to_owned()]);
    for i in 0..10_000u64 {
        let v = if i % 100 == 0 { 1_000_000 } else { 1_000 };
        stats.record(&ok(0, 0, 0, v, 200));
    }
    let s = Summary::of(&stats.target(0).unwrap().latency);
    assert_close("p50", s.p50, 1_000);
    assert_close("p90", s.p90, 1_000);
    assert_close("p99", s.p99, 1_000);
    assert_close("p999", s.p999, 1_000_000);
    assert_close("max", s.max, 1_000_000);
}

#[test]
fn latency_is_measured_from_the_intended_send() {
    // Sends intended every 1 ms; the target stalls for 1 s, so the first
    // 1000 sends all go out at t = 1 s and each is served in 1 ms.
    let mut stats = Stats::new(&["t".to_owned()]);
    for i in 0..1_000u64 {
        let intended = i * 1_000;
        let sent = 1_000_000;
        stats.record(&ok(0, intended, sent, sent + 1_000, 200));
    }
    let t = stats.target(0).unwrap();
    let service = Summary::of(&t.service_time);
    let latency = Summary::of(&t.latency);
    let lag = Summary::of(&t.schedule_lag);
    assert_close("service p99", service.p99, 1_000);
    assert_close("latency p50", latency.p50, 501_000);
    assert_close("latency max", latency.max, 1_001_000);
    assert_close("lag p50", lag.p50, 500_000);
    assert_close("lag max", lag.max, 1_000_000);
}

#[test]
fn early_send_counts_as_zero_lag_and_huge_values_clamp() {
    let mut stats = Stats::new(&["t".to_owned()]);
    stats.record(&ok(0, 5_000, 4_000, 6_000, 200));
    stats.record(&Outcome {
        done: Duration::from_secs(10 * 3600),
        ..ok(0, 0, 0, 0, 200)
    });
    let t = stats.target(0).unwrap();
    assert_eq!(t.schedule_lag.max(), 0);
    assert!(close(t.latency.max(), HIST_HIGH_US));
}

#[test]
fn counters_classes_errors_drops() {
    let targets = vec!["a".to_owned(), "b".to_owned()];
    let mut stats = Stats::new(&targets);
    stats.record(&ok(0, 0, 0, 100, 200));
    stats.record(&ok(0, 0, 0, 200, 204));
    stats.record(&ok(0, 0, 0, 300, 404));
    stats.record(&ok(0, 0, 0, 400, 503));
    stats.record(&ok(0, 0, 0, 500, 302));
    stats.record(&ok(0, 0, 0, 500, 799));
    for kind in [
        ErrorKind::Refused,
        ErrorKind::Timeout,
        ErrorKind::Timeout,
        ErrorKind::Reset,
    ] {
        stats.record(&Outcome {
            result: Err(kind),
            bytes_received: 0,
            ..ok(1, 0, 10, 20, 0)
        });
    }
    stats.record_drop(1, DropCause::Concurrency);
    stats.record_drop(1, DropCause::RateLimit);
    stats.record_drop(1, DropCause::RateLimit);
    stats.record_drop(7, DropCause::Queue); // unknown target: ignored
    stats.record(&ok(9, 0, 0, 1, 200)); // unknown target: ignored
    stats.record_sampled_out(5);
    stats.record_sampled_out(2);
    stats.record_skipped(SkipReason::Upgrade);
    stats.record_skipped(SkipReason::Incomplete);
    stats.record_skipped(SkipReason::Incomplete);

    let a: &TargetStats = stats.target(0).unwrap();
    assert_eq!((a.sent, a.completed, a.errors_total()), (6, 6, 0));
    assert_eq!((a.bytes_sent, a.bytes_received), (600, 6000));
    assert_eq!(a.status.get(&200), Some(&1));
    assert_eq!(a.status.get(&799), Some(&1));
    assert_eq!(a.class_count(1), 2); // 2xx
    assert_eq!(a.class_count(2), 1); // 3xx
    assert_eq!(a.class_count(3), 1); // 4xx
    assert_eq!(a.class_count(4), 1); // 5xx
    assert_eq!(a.latency_by_class[1].as_ref().unwrap().len(), 2);
    assert!(
        a.latency_by_class[0].is_none(),
        "1xx histogram allocated on first use only"
    );
    assert_eq!(a.latency.len(), 6, "799 has latency, just no class");

    let b = stats.target(1).unwrap();
    assert_eq!((b.sent, b.completed, b.errors_total()), (4, 0, 4));
    assert_eq!(b.errors_of(ErrorKind::Timeout), 2);
    assert_eq!(b.errors_of(ErrorKind::Refused), 1);
    assert_eq!(b.errors_of(ErrorKind::Reset), 1);
    assert_eq!(b.latency.len(), 0, "errors have no latency");
    assert_eq!(b.schedule_lag.len(), 4, "every attempt has a lag");
    assert_eq!(b.dropped_of(DropCause::RateLimit), 2);
    assert_eq!(b.dropped_total(), 3);

    assert_eq!(
        (
            stats.sent(),
            stats.completed(),
            stats.errors(),
            stats.dropped()
        ),
        (10, 6, 4, 3)
    );
    assert_eq!(stats.sampled_out(), 7);
    assert_eq!(stats.skipped(SkipReason::Incomplete), 2);
    assert_eq!(stats.skipped_total(), 3);
    assert_eq!(stats.span(), Some(us(500)));
    let all = stats.overall();
    assert_eq!((all.sent, all.completed, all.dropped_total()), (10, 6, 3));
}

#[test]
fn merge_equals_recording_everything_in_one() {
    let targets = vec!["a".to_owned(), "b".to_owned()];
    let mut one = Stats::new(&targets);
    let mut parts = [
        Stats::new(&targets),
        Stats::new(&targets),
        Stats::new(&targets),
    ];
    for i in 0..30_000u64 {
        let o = Outcome {
            result: if i % 97 == 0 {
                Err(ErrorKind::Protocol)
            } else {
                Ok(200 + (i % 3) as u16 * 100)
            },
            ..ok(
                (i % 2) as usize,
                i * 10,
                i * 10 + i % 7,
                i * 10 + 50 + (i * 7919) % 100_000,
                0,
            )
        };
        one.record(&o);
        parts[(i % 3) as usize].record(&o);
        if i % 1000 == 0 {
            one.record_drop((i % 2) as usize, DropCause::Queue);
            parts[(i % 3) as usize].record_drop((i % 2) as usize, DropCause::Queue);
        }
    }
    let mut merged = Stats::new(&targets);
    for p in &parts {
        merged.merge(p);
    }
    for i in 0..2 {
        let (x, y) = (one.target(i).unwrap(), merged.target(i).unwrap());
        assert_eq!(
            (x.sent, x.completed, x.errors, x.dropped),
            (y.sent, y.completed, y.errors, y.dropped)
        );
        assert_eq!(x.status, y.status);
        assert_eq!(x.latency, y.latency);
        assert_eq!(x.service_time, y.service_time);
        assert_eq!(x.schedule_lag, y.schedule_lag);
        for c in 0..5 {
            assert_eq!(x.latency_by_class[c], y.latency_by_class[c]);
        }
    }
    assert_eq!(one.span(), merged.span());
}

#[test]
fn interval_histograms_reset() {
    let mut stats = Stats::new(&["a".to_owned()]);
    stats.record(&ok(0, 0, 0, 10, 200));
    assert!(stats.interval_histograms().all(|(_, h)| h.is_none()));
    stats.enable_intervals();
    stats.record(&ok(0, 0, 0, 20, 200));
    stats.record(&ok(0, 0, 0, 30, 200));
    let (name, h) = stats.interval_histograms().next().unwrap();
    assert_eq!(name, "a");
    assert_eq!(h.unwrap().len(), 2);
    stats.reset_interval();
    assert_eq!(
        stats.interval_histograms().next().unwrap().1.unwrap().len(),
        0
    );
    assert_eq!(stats.target(0).unwrap().latency.len(), 3);
}
