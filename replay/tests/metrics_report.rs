//! Reports: JSON round trip, merging (histograms added, never percentiles
//! averaged), typed merge errors, the text summary, the HDR interval log.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use shadowtap_replay::hdrlog::HdrLog;
use shadowtap_replay::report::{Report, ReportError, RunInfo, REPORT_VERSION};
use shadowtap_replay::stats::{DropCause, ErrorKind, Outcome, SkipReason, Stats};

fn run(secs: u64) -> RunInfo {
    RunInfo {
        config: serde_json::json!({"targets": ["http://a", "http://b"], "speed": "10x", "seed": 7}),
        seed: Some(7),
        elapsed: Duration::from_secs(secs),
        interrupted: false,
    }
}

/// A deterministic pseudo-random stream of outcomes; `shift` changes the
/// latency distribution.
fn outcomes(n: u64, shift: u64, targets: usize) -> Vec<Outcome> {
    let mut x = 0x2545_f491_4f6c_dd1du64 ^ shift;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let latency = shift + x % 50_000;
            let intended = Duration::from_micros(i * 100);
            let sent = intended + Duration::from_micros(x % 300);
            Outcome {
                target: (i as usize) % targets,
                intended,
                sent,
                done: sent + Duration::from_micros(latency),
                result: match x % 50 {
                    0 => Err(ErrorKind::Timeout),
                    1 => Err(ErrorKind::Reset),
                    2 => Ok(503),
                    3 => Ok(404),
                    _ => Ok(200),
                },
                bytes_sent: 200,
                bytes_received: 1_000 + x % 100,
            }
        })
        .collect()
}

fn stats_of(targets: &[&str], outs: &[&[Outcome]]) -> Stats {
    let names: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
    let mut s = Stats::new(&names);
    for batch in outs {
        for o in *batch {
            s.record(o);
        }
    }
    s
}

/// Floats may differ in the last bit after a text round trip.
fn normalized(mut r: Report) -> Report {
    let round = |v: &mut f64| *v = (*v * 1e9).round() / 1e9;
    for t in r.targets.iter_mut().chain(std::iter::once(&mut r.overall)) {
        round(&mut t.error_rate);
        round(&mut t.drop_rate);
        round(&mut t.achieved_rate_per_s);
        for s in [
            &mut t.latency_us,
            &mut t.service_time_us,
            &mut t.schedule_lag_us,
        ]
        .into_iter()
        .chain(t.latency_by_class_us.values_mut())
        {
            round(&mut s.mean);
        }
    }
    r
}

#[test]
fn json_round_trip_and_fields() {
    let outs = outcomes(5_000, 1_000, 2);
    let mut stats = stats_of(&["http://a", "http://b"], &[&outs]);
    stats.record_drop(0, DropCause::RateLimit);
    stats.record_sampled_out(12);
    stats.record_skipped(SkipReason::Upgrade);
    let report = Report::from_stats(&stats, &run(5));
    let json = serde_json::to_string_pretty(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(normalized(back.clone()), normalized(report.clone()));

    // The documented field names, with units.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], REPORT_VERSION);
    assert_eq!(v["seed"], 7);
    assert_eq!(v["config"]["speed"], "10x");
    assert_eq!(v["sampled_out"], 12);
    assert_eq!(v["skipped"]["upgrade"], 1);
    let a = &v["targets"][0];
    assert_eq!(a["target"], "http://a");
    for key in [
        "sent",
        "completed",
        "errors",
        "dropped",
        "achieved_rate_per_s",
        "status",
    ] {
        assert!(!a[key].is_null(), "missing {key}");
    }
    for key in ["latency_us", "service_time_us", "schedule_lag_us"] {
        for p in ["p50", "p90", "p99", "p999", "max", "min", "mean", "count"] {
            assert!(a[key][p].is_number(), "missing {key}.{p}");
        }
    }
    assert_eq!(a["dropped"]["rate_limit"], 1);
    assert_eq!(a["errors"]["invalid_host"], 0, "every kind is listed");
    assert!(a["status"]["200"].as_u64().unwrap() > 0);
    assert!(a["status_classes"]["5xx"].as_u64().unwrap() > 0);
    assert!(a["histograms"]["latency"].as_str().unwrap().len() > 10);
    assert_eq!(v["overall"]["sent"], 5_000);
    let rate = v["overall"]["achieved_rate_per_s"].as_f64().unwrap();
    assert!((rate - 1_000.0).abs() < 1e-9);

    // Decoding gives back exactly the stats.
    let decoded = back.to_stats().unwrap();
    for i in 0..2 {
        assert_eq!(
            decoded.target(i).unwrap().latency,
            stats.target(i).unwrap().latency
        );
        assert_eq!(
            decoded.target(i).unwrap().status,
            stats.target(i).unwrap().status
        );
    }
}

#[test]
fn merge_equals_report_of_combined_samples() {
    let fast = outcomes(20_000, 1_000, 2);
    let slow = outcomes(5_000, 400_000, 1);
    let a = Report::from_stats(&stats_of(&["http://a", "http://b"], &[&fast]), &run(10));
    let b = Report::from_stats(&stats_of(&["http://a"], &[&slow]), &run(12));
    // Through JSON text, as `report merge` reads them.
    let a: Report = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    let b: Report = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    let merged = Report::merge(&[a.clone(), b.clone()]).unwrap();

    let combined_stats = stats_of(&["http://a", "http://b"], &[&fast, &slow]);
    let mut combined = Report::from_stats(&combined_stats, &run(12));
    combined.sources = 2;
    assert_eq!(normalized(merged.clone()), normalized(combined));

    // Percentiles were recomputed, not averaged.
    let pa = a.targets[0].latency_us.p99;
    let pb = b.targets[0].latency_us.p99;
    let pm = merged.targets[0].latency_us.p99;
    assert_ne!(pm, (pa + pb) / 2);
    assert!(pm > pa && pm <= pb);
    assert_eq!(
        merged.targets[0].sent,
        a.targets[0].sent + b.targets[0].sent
    );
    assert_eq!(merged.duration_us, 12_000_000);
    assert_eq!(merged.sources, 2);

    // Merging a merged report with a third counts every run.
    let again = Report::merge(&[merged, a]).unwrap();
    assert_eq!(again.sources, 3);
}

#[test]
fn merge_matches_targets_by_name() {
    let outs = outcomes(100, 10, 1);
    let a = Report::from_stats(&stats_of(&["http://x"], &[&outs]), &run(1));
    let b = Report::from_stats(&stats_of(&["http://y", "http://x"], &[&outs]), &run(1));
    let m = Report::merge(&[a, b]).unwrap();
    let names: Vec<&str> = m.targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(names, ["http://x", "http://y"]);
    assert_eq!(m.targets[0].sent, 100);
    assert_eq!(m.targets[1].sent, 100);
    assert_eq!(m.overall.sent, 200);
}

#[test]
fn merge_errors_are_typed() {
    assert!(matches!(Report::merge(&[]), Err(ReportError::Empty)));
    let good = Report::from_stats(&stats_of(&["http://a"], &[&outcomes(10, 1, 1)]), &run(1));

    let mut newer = good.clone();
    newer.version = REPORT_VERSION + 1;
    assert!(matches!(
        Report::merge(&[good.clone(), newer]),
        Err(ReportError::UnsupportedVersion { found, .. }) if found == REPORT_VERSION + 1
    ));

    let mut bad = good.clone();
    bad.targets[0].histograms.latency = "not base64!".to_owned();
    assert!(
        matches!(Report::merge(&[bad]), Err(ReportError::Base64 { field, .. }) if field == "latency")
    );

    let mut bad = good.clone();
    bad.targets[0].histograms.service_time =
        base64::engine::general_purpose::STANDARD.encode(b"definitely not a histogram");
    // Not a histogram header: refused before the deserializer reads it.
    assert!(matches!(
        Report::merge(&[bad]),
        Err(ReportError::HistogramHeader { field, .. }) if field == "service_time"
    ));

    let mut bad = good.clone();
    bad.targets[0].histograms.encoding = "gzip".to_owned();
    assert!(matches!(
        Report::merge(&[bad]),
        Err(ReportError::UnknownEncoding(_))
    ));

    let mut bad = good;
    bad.targets[0].status.insert("abc".to_owned(), 1);
    assert!(matches!(
        Report::merge(&[bad]),
        Err(ReportError::BadStatusCode { .. })
    ));
}

#[test]
fn unknown_error_kinds_survive_a_merge() {
    let mut r = Report::from_stats(&stats_of(&["http://a"], &[&outcomes(10, 1, 1)]), &run(1));
    r.targets[0].errors.insert("from_the_future".to_owned(), 3);
    let m = Report::merge(&[r.clone(), r]).unwrap();
    assert_eq!(m.targets[0].errors["from_the_future"], 6);
}

#[test]
fn text_summary_is_short_and_complete() {
    let outs = outcomes(2_000, 1_000, 2);
    let mut stats = stats_of(&["http://a", "http://b"], &[&outs]);
    stats.record_drop(1, DropCause::Concurrency);
    let text = Report::from_stats(&stats, &run(2)).summary_text();
    for needle in [
        "http://a",
        "http://b",
        "overall",
        "sent 1000",
        "latency",
        "service",
        "lag",
        "p99",
        "2xx",
        "timeout",
        "dropped 1",
        "rate 500.0/s",
        "(seed 7)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(text.lines().count() <= 1 + 3 * 7, "{text}");
    assert_eq!(text.matches("warning").count(), 1, "{text}");
}

#[test]
fn empty_report_is_valid() {
    let r = Report::from_stats(&Stats::new(&["http://a".to_owned()]), &run(0));
    assert_eq!(r.overall.latency_us.count, 0);
    assert_eq!(r.targets[0].achieved_rate_per_s, 0.0);
    let m = Report::merge(&[r.clone(), r]).unwrap();
    assert_eq!(m.targets[0].sent, 0);
    assert!(m.summary_text().contains("no samples"));
}

fn decode(b64: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Deserializer::new().deserialize(&mut &bytes[..]).unwrap()
}

#[test]
fn hdr_interval_log() {
    let names = vec!["http://a:8080/x".to_owned(), "http://b".to_owned()];
    let mut stats = Stats::new(&names);
    stats.enable_intervals();
    let mut log = HdrLog::new(
        Vec::new(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
    .unwrap();
    for o in outcomes(100, 1_000, 2) {
        stats.record(&o);
    }
    log.write_stats_interval(Duration::ZERO, Duration::from_secs(1), &mut stats)
        .unwrap();
    for o in outcomes(30, 1_000, 1) {
        stats.record(&o);
    }
    log.write_stats_interval(Duration::from_secs(1), Duration::from_secs(2), &mut stats)
        .unwrap();
    assert_eq!(log.intervals_written(), 6);
    let text = log.finish().unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
    assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");

    let mut intervals = Vec::new();
    for entry in IntervalLogIterator::new(text.as_bytes()) {
        if let LogEntry::Interval(h) = entry.unwrap() {
            intervals.push((
                h.tag().map(|t| t.as_str().to_owned()),
                h.start_timestamp(),
                h.duration(),
                decode(h.encoded_histogram()).len(),
            ));
        }
    }
    let ok_a = outcomes(100, 1_000, 2)
        .iter()
        .filter(|o| o.target == 0 && o.result.is_ok())
        .count() as u64;
    let ok_b = outcomes(100, 1_000, 2)
        .iter()
        .filter(|o| o.target == 1 && o.result.is_ok())
        .count() as u64;
    let ok_2 = outcomes(30, 1_000, 1)
        .iter()
        .filter(|o| o.result.is_ok())
        .count() as u64;
    assert_eq!(
        intervals,
        vec![
            (None, Duration::ZERO, Duration::from_secs(1), ok_a + ok_b),
            (
                Some("http://a:8080/x".to_owned()),
                Duration::ZERO,
                Duration::from_secs(1),
                ok_a
            ),
            (
                Some("http://b".to_owned()),
                Duration::ZERO,
                Duration::from_secs(1),
                ok_b
            ),
            (None, Duration::from_secs(1), Duration::from_secs(1), ok_2),
            (
                Some("http://a:8080/x".to_owned()),
                Duration::from_secs(1),
                Duration::from_secs(1),
                ok_2
            ),
            (
                Some("http://b".to_owned()),
                Duration::from_secs(1),
                Duration::from_secs(1),
                0
            ),
        ]
    );
}

#[test]
fn mirror_delay_is_reported_only_when_measured_and_survives_a_merge() {
    let plain = Report::from_stats(&stats_of(&["http://a"], &[&outcomes(10, 0, 1)]), &run(1));
    let json = serde_json::to_value(&plain).unwrap();
    assert!(json["overall"].get("mirror_delay_us").is_none());
    assert!(json["overall"]["histograms"].get("mirror_delay").is_none());

    let mut s = stats_of(&["http://a"], &[&outcomes(10, 0, 1)]);
    for ms in 1..=100u64 {
        s.record_mirror_delay(0, Duration::from_millis(ms));
    }
    let r = Report::from_stats(&s, &run(1));
    let m = r.overall.mirror_delay_us.as_ref().unwrap();
    assert_eq!(m.count, 100);
    assert!(m.p99.abs_diff(99_000) < 1_000, "{}", m.p99);
    assert!(r.summary_text().contains("mirror"));
    let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    let merged = Report::merge(&[back.clone(), back]).unwrap();
    assert_eq!(merged.overall.mirror_delay_us.as_ref().unwrap().count, 200);
}

#[test]
fn filtered_out_is_reported_merged_and_read_as_0_from_older_reports() {
    let outs = outcomes(100, 1_000, 1);
    let mut stats = stats_of(&["http://a"], &[&outs]);
    stats.record_filtered_out(4);
    stats.record_sampled_out(2);
    let report = Report::from_stats(&stats, &run(1));
    assert_eq!(report.filtered_out, 4);
    let merged = Report::merge(&[report.clone(), report.clone()]).unwrap();
    assert_eq!((merged.filtered_out, merged.sampled_out), (8, 4));
    assert_eq!(merged.to_stats().unwrap().filtered_out(), 8);
    assert!(report
        .summary_text()
        .contains("input: 4 filtered out, 2 sampled out, 0 not replayable"));
    // A report written before filters existed has no `filtered_out`.
    let mut v = serde_json::to_value(&report).unwrap();
    v.as_object_mut().unwrap().remove("filtered_out");
    let old: Report = serde_json::from_value(v).unwrap();
    assert_eq!(old.filtered_out, 0);
}
