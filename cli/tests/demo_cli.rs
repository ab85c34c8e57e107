//! `shadowtap demo`, the README's first command, runs anywhere and passes.

use std::process::Command;

#[test]
fn demo_replays_the_sample_and_passes_its_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["demo", "--speed", "max", "--json"])
        // Not from the repository: the sample is built into the binary.
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("thresholds: 2 passed, 0 failed"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = report["overall"]["sent"].as_u64().unwrap();
    // Half of the connections, sampled with a fixed seed: deterministic.
    assert!(sent > 1000 && sent < 2100, "{sent}");
    assert_eq!(report["overall"]["completed"].as_u64().unwrap(), sent);
    assert!(
        stderr.contains(&format!("the target answered {sent} requests")),
        "{stderr}"
    );
}
