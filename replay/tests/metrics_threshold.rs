//! The threshold grammar (valid and invalid inputs, typed errors) and the
//! evaluation rules (per target, no samples fails).

use std::time::Duration;

use shadowtap_replay::report::{Report, RunInfo};
use shadowtap_replay::stats::{DropCause, ErrorKind, Outcome, Stats};
use shadowtap_replay::threshold::{
    evaluate, Aggregate, Metric, Op, Series, Threshold, ThresholdErrorKind,
};

fn parse(s: &str) -> Threshold {
    match Threshold::parse(s) {
        Ok(t) => t,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn err(s: &str) -> ThresholdErrorKind {
    match Threshold::parse(s) {
        Ok(t) => panic!("{s:?} should not parse, got {t:?}"),
        Err(e) => {
            assert_eq!(e.expr, s);
            e.kind
        }
    }
}

fn lat(agg: Aggregate) -> Metric {
    Metric::Time(Series::Latency, agg)
}

#[test]
fn valid_table() {
    use Aggregate::*;
    let cases: &[(&str, Metric, Op, f64)] = &[
        ("p(99)<250ms", lat(Percentile(99.0)), Op::Lt, 250_000.0),
        ("p(50)<=20ms", lat(Percentile(50.0)), Op::Le, 20_000.0),
        ("p(99.9)<1s", lat(Percentile(99.9)), Op::Lt, 1_000_000.0),
        ("p(95) < 200", lat(Percentile(95.0)), Op::Lt, 200_000.0),
        (
            "  p( 90 )  >  5 ms ",
            lat(Percentile(90.0)),
            Op::Gt,
            5_000.0,
        ),
        ("avg<100ms", lat(Avg), Op::Lt, 100_000.0),
        ("mean<100us", lat(Avg), Op::Lt, 100.0),
        ("max<2s", lat(Max), Op::Lt, 2_000_000.0),
        ("min>=1µs", lat(Min), Op::Ge, 1.0),
        ("min>=1μs", lat(Min), Op::Ge, 1.0),
        ("med==3ms", lat(Percentile(50.0)), Op::Eq, 3_000.0),
        ("max<1m", lat(Max), Op::Lt, 60_000_000.0),
        ("max<500ns", lat(Max), Op::Lt, 0.5),
        ("max<1h", lat(Max), Op::Lt, 3_600_000_000.0),
        ("p99<1s", lat(Percentile(99.0)), Op::Lt, 1_000_000.0),
        ("p999<1s", lat(Percentile(99.9)), Op::Lt, 1_000_000.0),
        ("p9999<1s", lat(Percentile(99.99)), Op::Lt, 1_000_000.0),
        ("p50<1s", lat(Percentile(50.0)), Op::Lt, 1_000_000.0),
        ("p100<1s", lat(Percentile(100.0)), Op::Lt, 1_000_000.0),
        ("p(0)>=0", lat(Percentile(0.0)), Op::Ge, 0.0),
        ("p(100)<1s", lat(Percentile(100.0)), Op::Lt, 1_000_000.0),
        ("latency_p99<5ms", lat(Percentile(99.0)), Op::Lt, 5_000.0),
        (
            "lag_p99<5ms",
            Metric::Time(Series::ScheduleLag, Percentile(99.0)),
            Op::Lt,
            5_000.0,
        ),
        (
            "lag_max<=1s",
            Metric::Time(Series::ScheduleLag, Max),
            Op::Le,
            1_000_000.0,
        ),
        (
            "schedule_lag_p(99.9)<5ms",
            Metric::Time(Series::ScheduleLag, Percentile(99.9)),
            Op::Lt,
            5_000.0,
        ),
        (
            "service_p(90)<50ms",
            Metric::Time(Series::ServiceTime, Percentile(90.0)),
            Op::Lt,
            50_000.0,
        ),
        (
            "service_time_avg<1ms",
            Metric::Time(Series::ServiceTime, Avg),
            Op::Lt,
            1_000.0,
        ),
        ("error_rate<1%", Metric::ErrorRate, Op::Lt, 0.01),
        ("error_rate<0.01", Metric::ErrorRate, Op::Lt, 0.01),
        ("error_rate <= 100 %", Metric::ErrorRate, Op::Le, 1.0),
        ("drop_rate==0", Metric::DropRate, Op::Eq, 0.0),
        ("rate>=900/s", Metric::Rate, Op::Ge, 900.0),
        ("rate>=900", Metric::Rate, Op::Ge, 900.0),
        ("rate>=600/m", Metric::Rate, Op::Ge, 10.0),
        ("rate > 3600/h", Metric::Rate, Op::Gt, 1.0),
        ("sent>=1000", Metric::Sent, Op::Ge, 1000.0),
        ("completed>0", Metric::Completed, Op::Gt, 0.0),
        ("errors==0", Metric::Errors, Op::Eq, 0.0),
        ("dropped<=5", Metric::Dropped, Op::Le, 5.0),
        ("max<1.5e3ms", lat(Max), Op::Lt, 1_500_000.0),
    ];
    for (expr, metric, op, limit) in cases {
        let t = parse(expr);
        assert_eq!(&t.metric, metric, "{expr}");
        assert_eq!(t.op, *op, "{expr}");
        assert!(
            (t.limit - limit).abs() <= limit.abs() * 1e-12,
            "{expr}: limit {} != {limit}",
            t.limit
        );
        assert_eq!(t.expr, expr.trim());
    }
}

#[test]
fn invalid_table() {
    use ThresholdErrorKind as K;
    assert_eq!(err(""), K::Empty);
    assert_eq!(err("   "), K::Empty);
    assert_eq!(err("p(99)"), K::MissingOperator);
    assert_eq!(err("p(99) 250ms"), K::MissingOperator);
    assert!(matches!(err("p(99)=250ms"), K::BadOperator { op } if op == "="));
    assert!(matches!(err("p(99)=<250ms"), K::BadOperator { op } if op == "=<"));
    assert!(matches!(err("p(99)<<250ms"), K::BadOperator { op } if op == "<<"));
    assert!(matches!(err("p(99)!=250ms"), K::BadOperator { op } if op == "!="));
    assert!(matches!(err("p(99)≤250ms"), K::BadOperator { op } if op == "≤"));
    assert!(matches!(err("p(99)===250ms"), K::BadOperator { .. }));
    assert!(matches!(err("latency<250ms"), K::UnknownMetric { metric } if metric == "latency"));
    assert!(matches!(err("p95x<1s"), K::BadPercentile { .. }));
    assert!(matches!(
        err("http_req_duration<1s"),
        K::UnknownMetric { .. }
    ));
    assert!(matches!(err("errors_rate<1%"), K::UnknownMetric { .. }));
    assert!(matches!(err("lag_foo<1ms"), K::UnknownMetric { metric } if metric == "lag_foo"));
    assert!(matches!(err("<250ms"), K::UnknownMetric { .. }));
    assert!(matches!(err("p(101)<1s"), K::BadPercentile { text } if text == "p(101)"));
    assert!(matches!(err("p(-1)<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p(abc)<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p()<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p(99<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p(9.9.9)<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p101<1s"), K::BadPercentile { .. }));
    assert!(matches!(err("p(99)<250xs"), K::BadUnit { unit, .. } if unit == "xs"));
    assert!(matches!(err("p(99)<250 sec"), K::BadUnit { unit, .. } if unit == "sec"));
    assert!(matches!(err("p(99)<250%"), K::BadUnit { .. }));
    assert!(matches!(err("error_rate<5ms"), K::BadUnit { .. }));
    assert!(matches!(err("rate>=900/x"), K::BadUnit { .. }));
    assert!(matches!(err("rate>=900ms"), K::BadUnit { .. }));
    assert!(matches!(err("sent>10/s"), K::BadUnit { .. }));
    assert!(matches!(err("p(99)<"), K::BadNumber { .. }));
    assert!(matches!(err("p(99)<ms"), K::BadNumber { .. }));
    assert!(matches!(err("p(99)<-5ms"), K::BadNumber { .. }));
    assert!(matches!(err("p(99)<1.2.3ms"), K::BadNumber { .. }));
    assert!(matches!(err("error_rate<5"), K::OutOfRange { .. }));
    assert!(matches!(err("error_rate<101%"), K::OutOfRange { .. }));
}

#[test]
fn parse_all_reports_every_error() {
    let errors = Threshold::parse_all(&["p(99)<1s", "bogus<1", "p(99)<1q"]).unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(matches!(
        errors[0].kind,
        ThresholdErrorKind::UnknownMetric { .. }
    ));
    assert!(matches!(errors[1].kind, ThresholdErrorKind::BadUnit { .. }));
    let ok = Threshold::parse_all(&["p(99)<1s", "rate>1"]).unwrap();
    assert_eq!(ok.len(), 2);
}

#[test]
fn error_messages_name_the_problem() {
    let e = Threshold::parse("latncy<1s").unwrap_err().to_string();
    assert!(e.contains("latncy") && e.contains("unknown metric"), "{e}");
    let e = Threshold::parse("p(99)<1q").unwrap_err().to_string();
    assert!(e.contains("bad unit") && e.contains("\"q\""), "{e}");
}

fn outcome(target: usize, latency_ms: u64, result: Result<u16, ErrorKind>) -> Outcome {
    let intended = Duration::from_millis(10);
    Outcome {
        target,
        intended,
        sent: intended,
        done: intended + Duration::from_millis(latency_ms),
        result,
        bytes_sent: 10,
        bytes_received: 20,
    }
}

fn report(stats: &Stats, secs: u64) -> Report {
    Report::from_stats(
        stats,
        &RunInfo {
            config: serde_json::json!({}),
            seed: Some(1),
            elapsed: Duration::from_secs(secs),
            interrupted: false,
        },
    )
}

fn thresholds(exprs: &[&str]) -> Vec<Threshold> {
    exprs.iter().map(|e| parse(e)).collect()
}

#[test]
fn evaluation_pass_fail_and_observed_values() {
    let mut stats = Stats::new(&["http://a".to_owned()]);
    for i in 1..=100u64 {
        stats.record(&outcome(0, i, Ok(200)));
    }
    stats.record(&outcome(0, 0, Err(ErrorKind::Timeout)));
    stats.record(&outcome(0, 5, Ok(503)));
    let r = report(&stats, 1);
    let ev = evaluate(
        &thresholds(&[
            "p(50)<60ms",
            "p(99)<50ms",
            "max<=200ms",
            "error_rate<5%",
            "error_rate<1%",
            "rate>=100/s",
            "errors==1",
            "dropped==0",
        ]),
        &r,
    )
    .unwrap();
    let passed: Vec<bool> = ev.results.iter().map(|r| r.passed).collect();
    assert_eq!(
        passed,
        [true, false, true, true, false, true, true, true],
        "{}",
        ev.table()
    );
    assert!(!ev.passed());
    assert_eq!(ev.failures(), 2);
    // error_rate: 1 timeout + 1 5xx over 102 sent.
    let er = ev.results[3].observed.unwrap();
    assert!((er - 2.0 / 102.0).abs() < 1e-12);
    assert_eq!(ev.results[5].observed, Some(102.0));
    let table = ev.table();
    assert!(
        table.contains("FAIL") && table.contains("p(99)<50ms"),
        "{table}"
    );
}

#[test]
fn no_samples_fails() {
    let stats = Stats::new(&["http://a".to_owned()]);
    let r = report(&stats, 1);
    let ev = evaluate(
        &thresholds(&[
            "p(99)<1h",
            "avg<1h",
            "error_rate<=100%",
            "rate>=0",
            "dropped==0",
        ]),
        &r,
    )
    .unwrap();
    assert!(ev.results.iter().all(|r| !r.passed && r.observed.is_none()));
    assert!(ev.table().contains("no samples"));

    // Only errors: latency has no samples, error_rate does.
    let mut stats = Stats::new(&["http://a".to_owned()]);
    stats.record(&outcome(0, 1, Err(ErrorKind::Refused)));
    let ev = evaluate(
        &thresholds(&["p(99)<1h", "error_rate<=100%"]),
        &report(&stats, 1),
    )
    .unwrap();
    assert!(!ev.results[0].passed);
    assert!(ev.results[1].passed);
}

#[test]
fn every_target_must_pass() {
    let mut stats = Stats::new(&["http://fast".to_owned(), "http://slow".to_owned()]);
    for _ in 0..10 {
        stats.record(&outcome(0, 1, Ok(200)));
        stats.record(&outcome(1, 900, Ok(200)));
    }
    stats.record_drop(1, DropCause::Concurrency);
    let ev = evaluate(
        &thresholds(&["p(99)<100ms", "dropped==0"]),
        &report(&stats, 1),
    )
    .unwrap();
    assert_eq!(ev.results.len(), 4);
    let rows: Vec<(&str, &str, bool)> = ev
        .results
        .iter()
        .map(|r| (r.threshold.as_str(), r.target.as_str(), r.passed))
        .collect();
    assert_eq!(
        rows,
        [
            ("p(99)<100ms", "http://fast", true),
            ("p(99)<100ms", "http://slow", false),
            ("dropped==0", "http://fast", true),
            ("dropped==0", "http://slow", false),
        ]
    );
    assert!(!ev.passed());
    assert!(evaluate(&[], &report(&stats, 1)).unwrap().passed());
}

#[test]
fn comparison_metrics_and_endpoint_scopes() {
    let t = parse("diff_rate<0.1%");
    assert_eq!(
        (t.metric, t.op, t.endpoint.as_deref()),
        (Metric::DiffRate, Op::Lt, None)
    );
    assert!((t.limit - 0.001).abs() < 1e-12);
    let t = parse("status_mismatch==0");
    assert_eq!((t.metric, t.limit), (Metric::StatusMismatch, 0.0));
    let t = parse("latency_ratio_p99 < 1.2");
    assert_eq!((t.metric, t.limit), (Metric::LatencyRatio(99), 1.2));
    let t = parse(r#"diff_rate{endpoint="GET /api/items/{id}"} <= 1%"#);
    assert_eq!(t.endpoint.as_deref(), Some("GET /api/items/{id}"));
    assert_eq!((t.metric, t.op, t.limit), (Metric::DiffRate, Op::Le, 0.01));
    let t = parse(r#"latency_ratio_p50{ endpoint = "POST /q?a=\"b\"" }<2"#);
    assert_eq!(t.endpoint.as_deref(), Some(r#"POST /q?a="b""#));
    assert_eq!(t.metric, Metric::LatencyRatio(50));
    assert!(matches!(
        err(r#"p99{endpoint="GET /"}<1s"#),
        ThresholdErrorKind::BadScope { .. }
    ));
    assert!(matches!(
        err(r#"diff_rate{endpoint="GET /}<1%"#),
        ThresholdErrorKind::BadScope { .. }
    ));
    assert!(matches!(
        err(r#"diff_rate{path="GET /"}<1%"#),
        ThresholdErrorKind::BadScope { .. }
    ));
    assert!(matches!(
        err("latency_ratio_p99<1.2ms"),
        ThresholdErrorKind::BadUnit { .. }
    ));
    assert!(matches!(
        err("diff_rate<2"),
        ThresholdErrorKind::OutOfRange { .. }
    ));
    assert!(matches!(
        err("latency_ratio_p95<1"),
        ThresholdErrorKind::UnknownMetric { .. }
    ));
}

#[test]
fn comparison_thresholds_are_checked_per_target_and_endpoint() {
    use shadowtap_replay::compare::tally::{Tally, TallyConfig};
    use shadowtap_replay::compare::{Comparison, Difference, Field, Kind};
    use shadowtap_replay::threshold::evaluate_comparison;

    let differs = Comparison {
        differences: vec![Difference {
            field: Field::Status,
            kind: Kind::Value,
            baseline: Some("200".into()),
            candidate: Some("500".into()),
            noise: None,
        }],
        ..Comparison::default()
    };
    let mut t = Tally::new(&["http://c".into()], TallyConfig::default());
    let ms = Duration::from_millis;
    for i in 0..10 {
        let c = if i == 0 {
            differs.clone()
        } else {
            Comparison::default()
        };
        t.record(0, "GET /a", i, &c, Some((ms(10), ms(30))));
        t.record(
            0,
            "GET /b",
            100 + i,
            &Comparison::default(),
            Some((ms(10), ms(10))),
        );
    }
    let report = t.report();
    let ths = thresholds(&[
        "diff_rate<1%",
        r#"diff_rate{endpoint="GET /b"}==0"#,
        "status_mismatch==0",
        "latency_ratio_p99<1.5",
        r#"latency_ratio_p99{endpoint="GET /b"}<1.5"#,
        r#"diff_rate{endpoint="GET /none"}<1%"#,
        "p99<1s",
    ]);
    let e = evaluate_comparison(&ths, &report);
    let got: Vec<(&str, bool, &str)> = e
        .results
        .iter()
        .map(|r| (r.threshold.as_str(), r.passed, r.observed_text.as_str()))
        .collect();
    // 30 ms over 10 ms, within the histograms' two significant digits.
    let ratio = e.results[3].observed.unwrap();
    assert!((2.95..3.05).contains(&ratio), "{ratio}");
    let mut got = got;
    got[3].2 = "≈3";
    assert_eq!(
        got,
        vec![
            ("diff_rate<1%", false, "5.000%"),
            (r#"diff_rate{endpoint="GET /b"}==0"#, true, "0.000%"),
            ("status_mismatch==0", false, "1"),
            ("latency_ratio_p99<1.5", false, "≈3"),
            (r#"latency_ratio_p99{endpoint="GET /b"}<1.5"#, true, "1.000"),
            (r#"diff_rate{endpoint="GET /none"}<1%"#, false, "no samples"),
        ]
    );
    assert!(e.results.iter().all(|r| r.target == "http://c"));
}
