//! A real browser for the HTML pages' tests: Debian's `chromium`,
//! headless, on a file written by the test. One file for the workspace's
//! tests, included with `#[path]` (`replay/tests/html_report.rs`,
//! `cli/tests/report_html_cli.rs`).
//!
//! Without `chromium` (or `chromium-browser`) on PATH a test calling
//! [`browser`] skips with a message, except in CI (`CI` set, and not
//! `false` or `0`), where it fails: in CI nothing passes without having
//! run. Every browser run is bounded by coreutils' `timeout`, which kills
//! the browser's whole process group, and by a backstop on the wait for
//! its output.
#![allow(dead_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one browser run may take before it is killed.
pub const BROWSER_LIMIT: Duration = Duration::from_secs(60);
/// Bytes of the browser's output kept (the page is far smaller).
pub const OUTPUT_MAX: u64 = 16 << 20;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The first of `names` that is an executable file on PATH.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

/// The browser, or `None` after saying why the test is skipped (outside
/// CI); in CI a missing browser fails the test.
pub fn browser() -> Option<PathBuf> {
    if let Some(p) = on_path(&["chromium", "chromium-browser"]) {
        return Some(p);
    }
    let why = "no chromium (or chromium-browser) on PATH: install Debian's `chromium` package";
    if in_ci() {
        panic!("{why} (CI is set: this test must run)");
    }
    eprintln!("skipped: {why}");
    None
}

/// A `file:` URL for an absolute path, bytes outside the safe set encoded.
pub fn file_url(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut url = String::from("file://");
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Runs the browser headless on `url` with `args`, its profile and caches
/// in `dir`, killed (with its whole process group) after [`BROWSER_LIMIT`].
pub fn run_browser(browser: &Path, dir: &Path, args: &[String], url: &str) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("--kill-after=5s")
        .arg(format!("{}s", BROWSER_LIMIT.as_secs()))
        .arg(browser)
        .args([
            "--headless=new",
            // The sandbox cannot start as root or in most containers; the
            // page is the test's own, and its policy forbids scripts.
            "--no-sandbox",
            "--disable-gpu",
            // Containers often have a small /dev/shm.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(url)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run timeout (coreutils) {}: {e}", browser.display()));
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = Vec::new();
        let errs = std::thread::spawn(move || {
            let _ = (&mut err).take(OUTPUT_MAX).read_to_end(&mut stderr);
            stderr
        });
        let mut stdout = Vec::new();
        let _ = (&mut out).take(OUTPUT_MAX).read_to_end(&mut stdout);
        let stderr = errs.join().unwrap_or_default();
        let status = child.wait();
        let _ = tx.send(status.map(|status| Output {
            status,
            stdout,
            stderr,
        }));
    });
    // `timeout` ends it all within the limit and 5 s; this is a backstop
    // should something keep the pipes open past that.
    let output = rx
        .recv_timeout(BROWSER_LIMIT + Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("the browser did not finish within {BROWSER_LIMIT:?}"))
        .expect("wait for the browser");
    assert!(
        output.status.success(),
        "browser failed ({}; 124 is a timeout): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Text as the browser serializes it in the DOM (text nodes escape `&`,
/// `<`, `>` and no-break spaces).
pub fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// The width and height of a PNG, from its IHDR chunk (after the
/// signature and the chunk's length and type), big-endian; `None` for
/// anything else.
pub fn png_size(data: &[u8]) -> Option<(u32, u32)> {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") || data.len() < 24 {
        return None;
    }
    let dim = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    Some((dim(16), dim(20)))
}

/// A screenshot of `url` at `width`×`height`, as PNG bytes (checked to be
/// one of that size); `dir` holds the browser's profile and the file.
pub fn screenshot(browser: &Path, dir: &Path, url: &str, (width, height): (u32, u32)) -> Vec<u8> {
    let png = dir.join(format!("shot-{}.png", std::process::id()));
    let _ = std::fs::remove_file(&png);
    let args = [
        format!("--screenshot={}", png.display()),
        format!("--window-size={width},{height}"),
    ];
    run_browser(browser, dir, &args, url);
    let data = std::fs::read(&png).expect("the screenshot");
    let _ = std::fs::remove_file(&png);
    assert_eq!(
        png_size(&data),
        Some((width, height)),
        "not a PNG of that size"
    );
    data
}
