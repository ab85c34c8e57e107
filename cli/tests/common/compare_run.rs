//! Running `shadowtap replay --compare` in the comparison tests, and
//! reading what it reports.

use std::path::Path;
use std::process::Output;

use super::api::write_log;

/// Runs `shadowtap replay ARGS`, killed after a minute.
pub fn replay(args: &[&str]) -> Output {
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    super::run(&all)
}

/// The v1 log in `dir`.
pub fn v1_log(dir: &Path) -> String {
    let p = dir.join("v1.stlog");
    write_log(&p, 1, 1);
    p.to_str().unwrap().to_owned()
}

/// `replay LOG --target URL --compare --report json --speed max` and
/// `extra`: the exit code, the JSON report and stderr.
pub fn compare(log: &str, url: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec![
        log,
        "--target",
        url,
        "--compare",
        "--report",
        "json",
        "--speed",
        "max",
        "--concurrency",
        "8",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    let out = replay(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
    (out.status.code(), report, stderr)
}

/// The paths of candidate (not noise) differences of every endpoint.
pub fn candidate_fields(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in report["comparison"]["targets"][0]["endpoints"]
        .as_array()
        .unwrap()
    {
        for f in e["fields"].as_array().unwrap() {
            if f["noise"] == false {
                out.push((
                    e["endpoint"].as_str().unwrap().to_owned(),
                    f["path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}
