//! End to end: a replay whose every request failed says so loudly in its
//! summary and still exits 0 without thresholds (k6's rule); with
//! `--threshold 'error_rate<1%'` it exits 99.

use std::net::TcpListener;

mod common;

use common::api::write_log;
use common::run;

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn log(dir: &std::path::Path) -> String {
    let p = dir.join("in.stlog");
    write_log(&p, 1, 1);
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_target_that_refuses_everything_is_flagged_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path());
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = run(&[
        "replay",
        &log,
        "--target",
        &url,
        "--speed",
        "max",
        "--no-progress",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "!! ALL 140 REQUESTS TO {url} FAILED (refused 140)\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("add --threshold 'error_rate<1%' to fail the run on errors"),
        "{stderr}"
    );

    // The README's way to fail on errors.
    let out = run(&[
        "replay",
        &log,
        "--target",
        &url,
        "--speed",
        "max",
        "--no-progress",
        "--threshold",
        "error_rate<1%",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(99), "{stderr}");
    assert!(
        stderr.contains(&format!("!! ALL 140 REQUESTS TO {url} FAILED")),
        "{stderr}"
    );
    assert!(!stderr.contains("the exit code is still 0"), "{stderr}");
}

#[test]
fn a_target_answering_only_5xx_is_flagged_and_a_healthy_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path());
    let (_bad, bad) = common::serve(&["--status", "503"]);
    let (_good, good) = common::serve(&[]);
    let out = run(&[
        "replay",
        &log,
        "--target",
        &bad,
        "--target",
        &good,
        "--speed",
        "max",
        "--no-progress",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("!! ALL 140 REQUESTS TO {bad} FAILED (5xx 140)\n")),
        "{stderr}"
    );
    assert_eq!(stderr.matches("!! ALL").count(), 1, "{stderr}");
}
