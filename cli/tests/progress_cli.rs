//! The progress line of `replay` and `capture --pcap`: drawn on a terminal
//! only. Under a pseudo-terminal (util-linux's `script`, which gives the
//! command a pty for stdin, stdout and stderr and copies what it writes)
//! a line with a percentage appears and the summary after it is whole;
//! with stderr piped, as every other test runs the binary, nothing of it
//! is written.
//!
//! The pty tests need `script` and are `#[ignore]`d with that reason; run
//! without it they fail (see `capture/tests/support/gate.rs`).

use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::*;

// The capture tests' own pcap builder (etherparse frames, classic pcap).
#[path = "../../capture/tests/common/mod.rs"]
mod pcapgen;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/api-mix.stlog");

/// Runs `shadowtap ARGS` under a pseudo-terminal; what it wrote there
/// (stdout and stderr together) and its exit code.
fn on_a_terminal(args: &[&str]) -> (String, i32) {
    on_a_terminal_of(args, "xterm")
}

/// [`on_a_terminal`] with `TERM` set to `term`, whatever the test
/// runner's is.
fn on_a_terminal_of(args: &[&str], term: &str) -> (String, i32) {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--flush", "--command"])
        .arg(quoted.join(" "))
        .arg("/dev/null")
        .env("TERM", term)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(&mut child);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// Whether `out` holds an `N%` of the progress line.
fn has_percentage(out: &str) -> bool {
    out.split('%').rev().skip(1).any(|before| {
        before
            .trim_end()
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// A pcap of `n` short conversations to port 80, in `dir`.
fn pcap(dir: &Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("import.pcap");
    let frames = pcapgen::many_conversations(n, 64, 1_000_000);
    pcapgen::write_pcap(&path, pcapgen::Link::Ethernet.linktype(), &frames);
    path
}

#[test]
#[ignore = "needs script (util-linux)"]
fn replay_on_a_terminal_shows_the_line_and_the_whole_summary() {
    require_tool("script");
    let (_serve, url) = common::serve(&[]);
    let (out, code) = on_a_terminal(&["replay", SAMPLE, "--target", &url, "--speed", "max"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/3,043 exchanges"), "{out}");
    assert!(has_percentage(&out), "{out}");
    // The summary comes after the line was cleared, each line whole.
    let summary = out
        .find("shadowtap replay: 3043 requests to 1 target")
        .unwrap_or_else(|| panic!("no summary: {out}"));
    let after = &out[summary..];
    assert!(!after.contains("exchanges "), "{after}");
    assert!(after.contains("sent 3043  completed 3043"), "{after}");
    assert!(after.contains("status    2xx 3043"), "{after}");
}

#[test]
#[ignore = "needs script (util-linux)"]
fn a_pcap_import_on_a_terminal_shows_the_line_and_the_summary() {
    require_tool("script");
    let dir = tempfile::tempdir().unwrap();
    let input = pcap(dir.path(), 2000);
    let log = dir.path().join("out.stlog");
    let (out, code) = on_a_terminal(&[
        "capture",
        "--pcap",
        input.to_str().unwrap(),
        "--port",
        "80",
        "-o",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("packets/s"), "{out}");
    assert!(has_percentage(&out), "{out}");
    assert!(out.contains("shadowtap: importing "), "{out}");
    let wrote = out
        .find("shadowtap: wrote 2000 exchanges")
        .unwrap_or_else(|| panic!("no summary: {out}"));
    assert!(!out[wrote..].contains("packets/s"), "{out}");
}

#[test]
fn with_stderr_piped_no_line_is_drawn() {
    let (_serve, url) = common::serve(&[]);
    let out = run(&["replay", SAMPLE, "--target", &url, "--speed", "max"]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("shadowtap replay: 3043 requests"), "{err}");
    assert!(!err.contains(" exchanges ") && !err.contains('\r'), "{err}");
    assert!(!err.contains('\x1b'), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let input = pcap(dir.path(), 20);
    let log = dir.path().join("out.stlog");
    let out = run(&[
        "capture",
        "--pcap",
        input.to_str().unwrap(),
        "--port",
        "80",
        "-o",
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("packets/s") && !err.contains('\r'), "{err}");
    assert!(err.contains("shadowtap: wrote 20 exchanges"), "{err}");
}

#[test]
#[ignore = "needs script (util-linux)"]
fn no_progress_and_a_dumb_terminal_draw_nothing() {
    require_tool("script");
    let (_serve, url) = common::serve(&[]);
    let args = ["replay", SAMPLE, "--target", &url, "--speed", "max"];
    let quiet = [&args[..], &["--no-progress"]].concat();
    for (out, code) in [on_a_terminal(&quiet), on_a_terminal_of(&args, "dumb")] {
        assert_eq!(code, 0, "{out}");
        assert!(!out.contains("exchanges "), "{out}");
        assert!(out.contains("shadowtap replay: 3043 requests"), "{out}");
    }
}
