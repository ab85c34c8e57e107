//! Usage errors, and the CI load-simulation recipe of the README.

use super::*;

#[test]
fn tee_usage_errors_exit_2() {
    for args in [
        &["tee", "-i", "lo", "--port", "80"][..],
        &["tee", "-i", "lo", "--target", "http://127.0.0.1:1"],
        &[
            "tee",
            "-i",
            "lo",
            "--port",
            "80",
            "--target",
            "http://127.0.0.1:1",
            "--queue",
            "0",
        ],
        &["tee", "-i", "lo", "--port", "80", "--target", "ftp://x"],
        &[
            "tee",
            "-i",
            "lo",
            "--port",
            "80",
            "--target",
            "http://127.0.0.1:1",
            "--threshold",
            "p(99)<<1",
        ],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The README's load-simulation recipe, against `serve`: a run within its
/// thresholds exits 0, a run against a slow service exits 99, and both leave
/// the JSON report and the HDR log behind.
#[test]
fn ci_recipe_passes_then_fails_on_a_slow_service() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/api-mix.stlog");
    let dir = tempfile::tempdir().unwrap();
    for (delay, want) in [("0s", 0), ("300ms", 99)] {
        let (svc, addr, _svc_err) = serve(&["--delay", delay]);
        let report = dir.path().join(format!("report-{delay}.json"));
        let hdr = dir.path().join(format!("latency-{delay}.hlog"));
        let out = Command::new(BIN)
            .arg("replay")
            .arg(&sample)
            .args(["--target", &format!("http://{addr}")])
            .args(["--speed", "10x", "--limit", "300", "--seed", "1"])
            .args(["--threshold", "p(99)<200ms", "--threshold", "error_rate<1%"])
            .args([
                "--report",
                "json",
                "--report-file",
                report.to_str().unwrap(),
            ])
            .args(["--hdr-log", hdr.to_str().unwrap()])
            .output()
            .unwrap();
        drop(svc);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "delay {delay}: {stderr}");
        let r = read_json(&report);
        // Real time: past --concurrency a slow service's requests are
        // dropped and counted, never queued.
        let sent = r["overall"]["sent"].as_u64().unwrap();
        let dropped = r["overall"]["dropped_total"].as_u64().unwrap();
        assert_eq!(sent + dropped, 300, "{delay}");
        assert_eq!(r["thresholds"].as_array().unwrap().len(), 2);
        assert!(std::fs::read_to_string(&hdr)
            .unwrap()
            .contains("#[StartTime"));
    }
}
