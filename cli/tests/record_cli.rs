//! `shadowtap replay --record-responses` end to end, and `diff` on what it
//! recorded: the v1 log of the small JSON API (tests/common/api.rs)
//! replayed against in-test servers on 127.0.0.1:0 answering as version 2
//! or version 1 (tests/common/server.rs), the answers recorded, then
//! compared offline.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::api::{endpoint, field, write_log};
use common::api_server::{server, Style};
use shadowtap_format::{Flags, Reader};

/// `run(args)`, which must exit 0 and print a JSON report.
fn json(args: &[&str]) -> serde_json::Value {
    let out = common::run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"))
}

/// `replay LOG --target URL... --speed max --report json` and `extra`.
fn replay(log: &str, urls: &[&str], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["replay", log, "--speed", "max", "--concurrency", "8"];
    for u in urls {
        args.extend(["--target", u]);
    }
    args.extend(["--report", "json", "--no-progress"]);
    args.extend_from_slice(extra);
    json(&args)
}

/// A comparison report without what depends on timing: latencies, and
/// which requests are the examples (the first ones to be compared).
fn counts(mut v: serde_json::Value) -> serde_json::Value {
    match &mut v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !k.starts_with("latency") && k != "examples" && k != "target");
            for (_, x) in m.iter_mut() {
                *x = counts(x.take());
            }
        }
        serde_json::Value::Array(a) => {
            for x in a.iter_mut() {
                *x = counts(x.take());
            }
        }
        _ => {}
    }
    v
}

/// The origins of a recorded log's exchanges, checking that each has a
/// complete response.
fn origins(path: &Path) -> Vec<u64> {
    let r = Reader::open(path).unwrap();
    assert_eq!(r.version(), (1, 1));
    assert_eq!(r.header().get("source"), Some("replay"));
    r.map(|ex| {
        let ex = ex.unwrap();
        assert_eq!(ex.flags, Flags::empty(), "{ex:?}");
        assert!(ex.response.is_some());
        ex.origin.unwrap()
    })
    .collect()
}

#[test]
fn recorded_responses_diff_offline_as_the_live_comparison_did() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (orig, r1, r2) = (p("v1.stlog"), p("r1.stlog"), p("r2.stlog"));
    write_log(Path::new(&orig), 1, 1);
    let (v1, v2) = (server(1, Style::Chunked), server(2, Style::Plain));

    // Live: the recording compared with v2, v2's answers recorded.
    let live = replay(&orig, &[&v2], &["--compare", "--record-responses", &r2]);
    assert_eq!(live["config"]["record_responses"], serde_json::json!([r2]));
    let rec = &live["recorded_responses"];
    assert_eq!(
        (rec["recorded"].as_u64(), rec["dropped"].as_u64()),
        (Some(140), Some(0)),
        "{rec:#}"
    );
    assert_eq!(rec["logs"][0]["target"], v2.as_str());
    assert_eq!(rec["logs"][0]["path"], r2.as_str());
    // v1 (chunked answers), without --compare.
    let plain = replay(&orig, &[&v1], &["--record-responses", &r1]);
    assert_eq!(plain["recorded_responses"]["recorded"], 140);
    assert!(plain.get("comparison").is_none());

    // Every request once, by its id in the log.
    for r in [&r1, &r2] {
        let got: BTreeSet<u64> = origins(Path::new(r)).into_iter().collect();
        assert_eq!(got, (0..140).collect::<BTreeSet<u64>>());
    }

    // The log against v2's answers: the live comparison, exactly.
    let offline = json(&["diff", &orig, &r2, "--report", "json"]);
    assert_eq!(offline["pair_by"], "candidate_replays_baseline");
    assert_eq!(offline["pairs"]["paired"], 140);
    assert_eq!(
        (
            offline["pairs"]["unmatched_baseline"].as_u64(),
            offline["pairs"]["unmatched_candidate"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let (want, got) = (&live["comparison"], &offline["comparison"]);
    assert_eq!(
        counts(got["overall"].clone()),
        counts(want["overall"].clone())
    );
    assert_eq!(
        counts(got["targets"][0]["endpoints"].clone()),
        counts(want["targets"][0]["endpoints"].clone())
    );
    assert_eq!(want["overall"]["differing"], 120, "{want:#}");
    // Examples name the request by its id in the log, as the live run's.
    let status = field(endpoint(&offline, "GET /api/items/{id}"), "status");
    assert_eq!(status["examples"][0]["request_id"], 60, "{status:#}");

    // v1's answers against v2's, both recorded: paired by origin, and the
    // injected differences found (the chunked framing is no difference).
    let both = json(&["diff", &r1, &r2, "--report", "json"]);
    assert_eq!(both["pair_by"], "origin");
    assert_eq!(both["pairs"]["paired"], 140);
    let items = endpoint(&both, "GET /api/items/{id}");
    assert_eq!(
        (items["compared"].as_u64(), items["differing"].as_u64()),
        (Some(100), Some(100))
    );
    assert_eq!(field(items, "body:/price")["count"], 11);
    assert_eq!(field(items, "body:/stock")["count"], 99);
    assert_eq!(field(items, "status")["count"], 1);
    let list = endpoint(&both, "GET /api/list?page");
    assert_eq!(field(list, "body:/items")["count"], 20);
    // Both servers' noise comes from the same counter: an answer may be
    // equal, or differ only in noise, as the order of requests had it.
    let health = endpoint(&both, "GET /api/health");
    assert_eq!(health["differing"], 0, "{health:#}");
    assert_eq!(
        health["noise_only"].as_u64().unwrap() + health["equal"].as_u64().unwrap(),
        20
    );
    assert_eq!(both["comparison"]["overall"]["differing"], 120);

    // inspect shows the origin.
    let out = common::run(&["inspect", &r2, "--json", "--limit", "1"]);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(line["origin"].as_u64().is_some_and(|o| o < 140), "{line}");
}

#[test]
fn several_targets_record_one_log_each_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let orig = dir.path().join("v1.stlog");
    write_log(&orig, 1, 1);
    let orig = orig.to_str().unwrap();
    let (a, b) = (server(1, Style::Plain), server(2, Style::Gzip));
    let pattern = dir.path().join("r-{target}.stlog");
    let r = replay(
        orig,
        &[&a, &b],
        &["--record-responses", pattern.to_str().unwrap()],
    );
    let logs = r["recorded_responses"]["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(r["recorded_responses"]["recorded"], 280);
    for (i, (log, url)) in logs.iter().zip([&a, &b]).enumerate() {
        let path = dir.path().join(format!("r-{i}.stlog"));
        assert_eq!(log["path"], path.to_str().unwrap());
        assert_eq!(log["target"], url.as_str());
        assert_eq!(log["recorded"], 140);
        let reader = Reader::open(&path).unwrap();
        assert_eq!(reader.header().get("target"), Some(url.as_str()));
        assert_eq!(reader.count(), 140);
    }

    // Without {target}, or over the log replayed: a usage error, nothing
    // sent.
    let one = dir.path().join("one.stlog");
    let out = common::run(&[
        "replay",
        orig,
        "--target",
        &a,
        "--target",
        &b,
        "--record-responses",
        one.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must contain {target}"), "{stderr}");
    assert!(!one.exists());
    let out = common::run(&["replay", orig, "--target", &a, "--record-responses", orig]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("that is the log replayed"));
    assert_eq!(Reader::open(Path::new(orig)).unwrap().count(), 140);
}

#[test]
fn a_log_that_cannot_be_written_fails_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let orig = dir.path().join("v1.stlog");
    write_log(&orig, 1, 1);
    let bad = dir.path().join("no/such/dir/r.stlog");
    let url = server(1, Style::Plain);
    let out = common::run(&[
        "replay",
        orig.to_str().unwrap(),
        "--target",
        &url,
        "--record-responses",
        bad.to_str().unwrap(),
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--record-responses: cannot write") && stderr.contains("r.stlog"),
        "{stderr}"
    );
    assert!(!stderr.contains("requests to 1 target"), "{stderr}");
}

#[test]
fn an_interrupted_replay_leaves_its_recording_finished() {
    let dir = tempfile::tempdir().unwrap();
    let orig = dir.path().join("v1.stlog");
    write_log(&orig, 1, 1);
    let (rec, report) = (dir.path().join("r.stlog"), dir.path().join("report.json"));
    let url = server(1, Style::Plain);
    let child = Command::new(common::BIN)
        .args(["replay", orig.to_str().unwrap(), "--target", &url])
        .args(["--speed", "max", "--loop", "0", "--no-progress"])
        .args(["--record-responses", rec.to_str().unwrap()])
        .args([
            "--report",
            "json",
            "--report-file",
            report.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Endless: let it record a while (how long does not matter).
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(common::interrupt(common::Guard(Some(child))), 130);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    let recorded = report["recorded_responses"]["recorded"].as_u64().unwrap();
    assert!(recorded > 0, "{report:#}");
    assert_eq!(report["recorded_responses"]["dropped"], 0);
    // Finished: indexed, every exchange recorded in it.
    let mut r = Reader::open(&rec).unwrap();
    let mut n = 0;
    for ex in r.by_ref() {
        assert!(ex.unwrap().origin.is_some());
        n += 1;
    }
    assert_eq!(n, recorded);
    assert_eq!(
        r.end(),
        Some(&shadowtap_format::End::Clean { indexed: true })
    );
}
