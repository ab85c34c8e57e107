//! Requirements of tests that cannot run everywhere: root (live capture
//! needs CAP_NET_RAW) or a tool on PATH (curl, tcpdump, tshark, setpriv).
//!
//! Such a test is marked `#[ignore = "needs root (CAP_NET_RAW)"]` (or
//! `"needs tshark"`), so a plain `cargo test` lists it as ignored, with its
//! reason, instead of counting it as passed without running it. Its first
//! line calls [`require_root`] or [`require_tool`]: run with
//! `--include-ignored` (`test.sh` does so in CI and as root) a missing
//! requirement fails the test with the reason, never skips it quietly.
//!
//! One file for the whole workspace, included with `#[path]` by each crate's
//! tests. The crate including it must depend on `libc`.
#![allow(dead_code)]

use std::path::Path;

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when `tool` is an executable file in a directory of PATH.
pub fn have(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        Path::new(&dir)
            .join(tool)
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Fails the calling test unless it runs as root.
pub fn require_root() {
    if !is_root() {
        panic!(
            "this test needs root (CAP_NET_RAW for live capture) and cannot run: \
             run the tests as root (test.sh), or leave out --include-ignored to skip it"
        );
    }
}

/// Fails the calling test unless `tool` is on PATH.
pub fn require_tool(tool: &str) {
    if !have(tool) {
        panic!(
            "this test needs {tool} on PATH and cannot run: install it \
             (test.sh does as root), or leave out --include-ignored to skip it"
        );
    }
}
