//! The comparison's HTML page in a real browser: Debian's `chromium`,
//! headless. The page is rendered to a temporary file and opened from
//! there; the DOM the browser built is checked (endpoint rows in order,
//! candidate and noise field rows, hostile values present as text only, no
//! element injected, the title untouched), and a screenshot is taken.
//!
//! Without `chromium` (or `chromium-browser`) on PATH the tests skip with
//! a message, except in CI (`CI` set, and not `false` or `0`), where they
//! fail: in CI nothing passes without having run. Every browser run is
//! bounded by coreutils' `timeout`, which kills the browser's whole process
//! group, and by a backstop on the wait for its output.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use shadowtap_replay::compare::html;
use shadowtap_replay::compare::tally::{ComparisonReport, Tally, TallyConfig};
use shadowtap_replay::compare::{Comparison, Difference, Field, Kind, Noise};
use shadowtap_replay::threshold::ThresholdResult;

/// How long one browser run may take before it is killed.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);
/// Bytes of the browser's output kept (the page is far smaller).
const OUTPUT_MAX: u64 = 16 << 20;

const TITLE: &str = "shadowtap: v2 vs v1";
/// Would change the title and add an element, if it ever ran.
const SCRIPT: &str = "</td><script>document.title='pwned';\
    document.body.insertAdjacentHTML('beforeend','<p id=pwned-script></p>')</script>";
/// Would break out of an attribute, and run when the image fails.
const ATTR: &str = "\"><img id=pwned-img src=x onerror=\"document.title='pwned'\">";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The first of `names` that is an executable file on PATH.
fn on_path(names: &[&str]) -> Option<PathBuf> {
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
fn browser() -> Option<PathBuf> {
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

fn diff(
    f: Field,
    kind: Kind,
    b: Option<&str>,
    c: Option<&str>,
    noise: Option<Noise>,
) -> Difference {
    Difference {
        field: f,
        kind,
        baseline: b.map(Into::into),
        candidate: c.map(Into::into),
        noise,
    }
}

fn cmp(ds: Vec<Difference>) -> Comparison {
    Comparison {
        differences: ds,
        ..Comparison::default()
    }
}

/// Four endpoints: `GET /items/{id}` differs in `/price` on 3 of 10
/// requests, its timestamp always noise, with latency; `GET /search`
/// differs twice with hostile values; `POST /orders` in its status once;
/// `GET /health` not at all.
fn report() -> ComparisonReport {
    let mut t = Tally::new(&["http://candidate:8080".into()], TallyConfig::default());
    for id in 0..10u64 {
        let mut ds = vec![diff(
            Field::Pointer("/ts".into()),
            Kind::Value,
            Some("2024-01-01T00:00:00Z"),
            Some("2024-01-01T00:00:01Z"),
            Some(Noise::Builtin("timestamp")),
        )];
        if id < 3 {
            ds.push(diff(
                Field::Pointer("/price".into()),
                Kind::Value,
                Some("10"),
                Some("12"),
                None,
            ));
        }
        let lat = (
            Duration::from_micros(900 + id),
            Duration::from_micros(1_800 + 2 * id),
        );
        t.record(0, "GET /items/{id}", id, &cmp(ds), Some(lat));
    }
    for id in 40..42 {
        let ds = vec![diff(
            Field::Pointer("/q".into()),
            Kind::Value,
            Some(ATTR),
            Some(SCRIPT),
            None,
        )];
        t.record(0, "GET /search", id, &cmp(ds), None);
    }
    let status = diff(Field::Status, Kind::Value, Some("200"), Some("500"), None);
    t.record(0, "POST /orders", 20, &cmp(vec![status]), None);
    t.record(0, "GET /health", 30, &cmp(vec![]), None);
    t.report()
}

fn thresholds() -> Vec<ThresholdResult> {
    vec![ThresholdResult {
        threshold: "diff_rate<1%".into(),
        target: "http://candidate:8080".into(),
        observed: Some(6.0 / 14.0),
        limit: 0.01,
        passed: false,
        observed_text: "42.857%".into(),
    }]
}

/// A `file:` URL for an absolute path, bytes outside the safe set encoded.
fn file_url(p: &Path) -> String {
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
fn run_browser(browser: &Path, dir: &Path, args: &[String], url: &str) -> Output {
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
fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

fn page(dir: &Path) -> String {
    let path = dir.join("report.html");
    std::fs::write(&path, html::render(&report(), &thresholds(), TITLE)).unwrap();
    file_url(&path)
}

#[test]
fn the_browser_builds_the_tables_and_runs_nothing_injected() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = page(dir.path());
    let out = run_browser(&browser, dir.path(), &["--dump-dom".into()], &url);
    let dom = String::from_utf8(out.stdout).expect("the DOM is UTF-8");
    let dom_len = dom.len();
    assert!(dom.starts_with("<!DOCTYPE html>"), "{dom}");

    // Nothing ran, nothing was injected.
    assert!(dom.contains(&format!("<title>{TITLE}</title>")), "{dom}");
    assert!(
        !dom.contains("pwned-script\"") && !dom.contains("id=\"pwned"),
        "{dom}"
    );
    assert!(!dom.to_lowercase().contains("<script"), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    // The hostile values are there, as text, side by side.
    let q = dom
        .find("<tr class=\"field candidate\" data-field=\"body:/q\">")
        .expect("the /q row");
    let row = &dom[q..q + dom[q..].find("</tr>").unwrap()];
    assert!(
        row.contains(&format!(
            "<div class=\"baseline\"><div class=\"side\">baseline</div><code class=\"val\">{}</code></div>\
             <div class=\"candidate\"><div class=\"side\">candidate</div><code class=\"val\">{}</code></div>",
            dom_text(ATTR),
            dom_text(SCRIPT)
        )),
        "{row}"
    );
    assert_eq!(row.matches("<div class=\"example\"").count(), 2, "{row}");

    // Endpoints, most differing first, each row as written.
    let endpoints: Vec<&str> = dom
        .match_indices("<tr class=\"endpoint\" data-endpoint=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        endpoints,
        [
            "GET /items/{id}",
            "GET /search",
            "POST /orders",
            "GET /health"
        ]
    );
    let states: Vec<&str> = dom
        .match_indices("data-state=\"")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(states, ["differing", "differing", "differing", "equal"]);
    assert!(dom.contains("<span class=\"diff-rate\">30.00%</span>"));
    assert!(dom.contains("<td class=\"n compared\">14</td>"), "{dom}");
    assert!(dom.contains("<td class=\"n differing\">6</td>"), "{dom}");
    assert!(dom.contains("<tr class=\"threshold\" data-passed=\"false\">"));

    // Fields: the candidate's first, then the noise, visibly marked.
    let price = dom
        .find("<tr class=\"field candidate\" data-field=\"body:/price\">")
        .expect("the /price row");
    let ts = dom
        .find("<tr class=\"field noise\" data-field=\"body:/ts\">")
        .expect("the /ts row");
    assert!(price < ts);
    assert!(dom[ts..].starts_with(
        "<tr class=\"field noise\" data-field=\"body:/ts\"><td class=\"path\"><code>body:/ts</code> \
         <span class=\"badge noise\">noise</span></td>"
    ));
    assert!(dom.contains("<span class=\"reason\">built-in: timestamp</span>"));
    assert_eq!(dom.matches("<tr class=\"field candidate\"").count(), 3);
    assert_eq!(dom.matches("<tr class=\"field noise\"").count(), 1);
    // Noise examples collapsed, one click away.
    assert_eq!(
        dom.matches("<details><summary>3 examples</summary>")
            .count(),
        1
    );
    // Latency side by side, for the one endpoint that has it.
    assert_eq!(dom.matches("<table class=\"latency\">").count(), 1);
    assert_eq!(
        dom.matches("<td class=\"n\">2.00×</td>").count(),
        3,
        "{dom}"
    );
    eprintln!("DOM of {dom_len} bytes checked");
}

#[test]
fn the_browser_draws_the_page() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = page(dir.path());
    let png = dir.path().join("page.png");
    let args = [
        format!("--screenshot={}", png.display()),
        "--window-size=1280,1600".into(),
    ];
    run_browser(&browser, dir.path(), &args, &url);
    let data = std::fs::read(&png).expect("the screenshot");
    assert!(data.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // IHDR: width and height, big-endian, after the signature and the
    // chunk's length and type.
    let dim = |at: usize| u32::from_be_bytes(data[at..at + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (1280, 1600));
    assert!(data.len() > 1024, "a PNG of {} bytes", data.len());
    eprintln!("screenshot of {} bytes", data.len());
}
