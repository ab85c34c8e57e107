//! `shadowtap replay --compare --primary` end to end: the v1 log of the
//! test API (tests/common/api.rs) replayed to a v2 candidate and a live v1
//! primary, with a v1 secondary or a calibration copy, all in-test servers
//! on 127.0.0.1:0. Each instance adds noise no built-in rule knows
//! (`/shard`, different in every answer): only the second copy of v1 tells
//! it apart from the injected differences.

mod common;

use std::net::TcpListener;

use common::api::{assert_injected, endpoint, field};
use common::api_server::{server_noisy, Style};
use common::compare_run::{candidate_fields, compare, replay, v1_log};

/// The candidate differences the v2 API has against v1 (item 42's error
/// body lacks the item's fields).
const INJECTED: [&str; 10] = [
    "body:/price",
    "body:/stock",
    "status",
    "body:/items",
    "body:/error",
    "body:/id",
    "body:/name",
    "body:/tags",
    "body:/updated_at",
    "body:/request_id",
];

/// The `/shard` field of the items endpoint: one entry, noise by the
/// measured rates (both shown), never a candidate difference.
fn assert_shard_is_measured_noise(r: &serde_json::Value) {
    let items = endpoint(r, "GET /api/items/{id}");
    let shards: Vec<&serde_json::Value> = items["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"] == "body:/shard")
        .collect();
    assert_eq!(shards.len(), 1, "{items:#}");
    let s = shards[0];
    assert_eq!(s["noise"], true, "{s:#}");
    assert_eq!(s["count"], 100, "{s:#}");
    assert_eq!(s["noise_rate"], 1.0, "{s:#}");
    assert_eq!(s["rate"], 1.0, "{s:#}");
    for (e, p) in candidate_fields(r) {
        assert!(
            INJECTED.contains(&p.as_str()),
            "unexpected candidate difference {p} at {e}"
        );
    }
}

#[test]
fn a_secondary_tells_the_primarys_noise_from_the_candidates_differences() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let primary = server_noisy(1, Style::Plain, Some(1));
    let secondary = server_noisy(1, Style::Gzip, Some(2));
    let candidate = server_noisy(2, Style::Chunked, Some(3));
    let (code, r, stderr) = compare(
        &log,
        &candidate,
        &["--primary", &primary, "--secondary", &secondary],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let c = &r["comparison"];
    assert_eq!(c["noise_source"], "secondary", "{c:#}");
    assert_eq!(c["overall"]["compared"], 140, "{c:#}");
    assert_eq!(c["overall"]["differing"], 120, "{c:#}");
    assert_eq!(c["targets"].as_array().unwrap().len(), 1);
    assert_eq!(c["targets"][0]["target"], candidate.as_str());
    let roles: Vec<(&str, Option<&str>)> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["target"].as_str().unwrap(), t["role"].as_str()))
        .collect();
    assert_eq!(
        roles,
        [
            (candidate.as_str(), None),
            (primary.as_str(), Some("primary")),
            (secondary.as_str(), Some("secondary")),
        ]
    );
    for t in r["targets"].as_array().unwrap() {
        assert_eq!(t["completed"], 140, "{t:#}");
    }
    assert_eq!(r["config"]["compare_baseline"], "primary");
    assert_injected(&r);
    assert_shard_is_measured_noise(&r);
    // The baseline latency is the primary's, measured live.
    let lat = &endpoint(&r, "GET /api/items/{id}")["latency_us"];
    assert!(lat["baseline"]["p50"].as_u64().unwrap() > 0, "{lat:#}");
    assert!(stderr.contains("(primary)"), "{stderr}");
    assert!(stderr.contains("(secondary)"), "{stderr}");
}

#[test]
fn without_a_secondary_a_calibration_copy_measures_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let primary = server_noisy(1, Style::Plain, Some(1));
    let candidate = server_noisy(2, Style::Plain, Some(3));
    let (code, r, stderr) = compare(&log, &candidate, &["--primary", &primary]);
    assert_eq!(code, Some(0), "{stderr}");
    let c = &r["comparison"];
    assert_eq!(c["noise_source"], "calibration", "{c:#}");
    assert_eq!(c["overall"]["compared"], 140, "{c:#}");
    let calibration = &r["targets"][2];
    assert_eq!(calibration["role"], "calibration");
    assert_eq!(calibration["target"], primary.as_str());
    // Every request is a GET, and no endpoint has more than the default
    // 100.
    assert_eq!(calibration["sent"], 140, "{calibration:#}");
    assert_injected(&r);
    assert_shard_is_measured_noise(&r);

    // Fewer calibration requests: only those of each endpoint go to the
    // copy (30 items, and the 20 list pages and 20 health checks).
    let (code, r, stderr) = compare(
        &log,
        &candidate,
        &["--primary", &primary, "--calibrate", "30"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r["targets"][2]["sent"], 70, "{:#}", r["targets"][2]);
    assert_eq!(r["targets"][2]["dropped_total"], 0);
    assert_eq!(r["comparison"]["overall"]["compared"], 140);
}

#[test]
fn without_any_copy_the_primarys_noise_is_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let primary = server_noisy(1, Style::Plain, Some(1));
    let candidate = server_noisy(2, Style::Plain, Some(3));
    let (code, r, stderr) = compare(
        &log,
        &candidate,
        &["--primary", &primary, "--calibrate", "0"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(r["comparison"]["noise_source"], "rules");
    assert_eq!(r["targets"].as_array().unwrap().len(), 2);
    let shard = field(endpoint(&r, "GET /api/items/{id}"), "body:/shard");
    assert_eq!(
        (shard["noise"].as_bool(), shard["count"].as_u64()),
        (Some(false), Some(100)),
        "{shard:#}"
    );
    assert_injected(&r);
}

#[test]
fn a_primary_that_is_down_leaves_every_response_uncompared() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let candidate = server_noisy(2, Style::Plain, None);
    // The primary's errors are not the candidate's: the threshold holds.
    let (code, r, stderr) = compare(
        &log,
        &candidate,
        &[
            "--primary",
            &down,
            "--calibrate",
            "0",
            "--timeout",
            "5s",
            "--threshold",
            "error_rate<1%",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let c = &r["comparison"];
    assert_eq!(c["overall"]["compared"], 0, "{c:#}");
    assert_eq!(c["not_compared"]["baseline_failed"], 140, "{c:#}");
    assert_eq!(r["targets"][1]["errors_total"], 140);
    assert_eq!(r["targets"][0]["errors_total"], 0);
    let th = r["thresholds"].as_array().unwrap();
    assert_eq!(th.len(), 1, "only the candidate is judged: {th:#?}");
    assert_eq!(th[0]["target"], candidate.as_str());
    assert!(
        stderr.contains(
            "140 responses not compared: the primary answered their request with an error"
        ),
        "{stderr}"
    );
}

#[test]
fn live_baseline_flags_are_checked_together() {
    let dir = tempfile::tempdir().unwrap();
    let log = v1_log(dir.path());
    let url = "http://127.0.0.1:9";
    for (bad, says) in [
        (vec!["--primary", url], "--primary need --compare"),
        (
            vec!["--compare", "--secondary", url],
            "--secondary needs --primary",
        ),
        (
            vec!["--compare", "--calibrate", "5"],
            "--calibrate needs --primary",
        ),
        (
            vec![
                "--compare",
                "--primary",
                url,
                "--secondary",
                url,
                "--calibrate",
                "5",
            ],
            "--calibrate and --secondary",
        ),
        (vec!["--compare", "--primary", "ftp://x"], "--primary: "),
    ] {
        let mut args = vec![log.as_str(), "--target", url];
        args.extend(bad.iter().copied());
        let out = replay(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains(says), "{bad:?}: {err}");
    }
}
