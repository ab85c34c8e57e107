//! `shadowtap tee` with real processes on loopback (the live tests need root:
//! `#[ignore]`d with that reason, they fail when run without it, see
//! `capture/tests/support/gate.rs`), and the CI load-simulation recipe of the README.
//!
//! Production is a `shadowtap serve`; mirrors are `shadowtap serve --record`
//! (so what arrived can be compared byte for byte), a `serve --delay` (slow)
//! and a closed port (dead). Clients are plain TCP connections from the test.
//!
//! One module per topic; the helpers below are shared by all of them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shadowtap_format::{Exchange, Reader};

#[path = "../common/mod.rs"]
mod common;
use common::*;

mod backpressure;
mod command_line;
mod compare;
mod mirroring;

/// Starts `shadowtap serve` on 127.0.0.1:0 with `extra` options; returns the
/// guard, its address, and its stderr lines.
fn serve(extra: &[&str]) -> (Guard, SocketAddr, mpsc::Receiver<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).args(extra);
    let (guard, line, rx) = spawn_ready(&mut cmd, "listening on");
    let addr = line
        .rsplit(' ')
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (guard, addr, rx)
}

/// One request on its own connection; returns the status line.
fn request(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(raw).unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    // The server answers `Connection: close` requests and closes.
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&resp)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn requests_for(addr: SocketAddr, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            if i % 3 == 0 {
                let body = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i * 10));
                format!(
                    "POST /orders?i={i} HTTP/1.1\r\nHost: {addr}\r\nX-Trace: t{i}\r\ncontent-type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            } else {
                format!(
                    "GET /items/{i}?q=a%20b HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nX-Trace: t{i}\r\nx-trace: dup{i}\r\nConnection: close\r\n\r\n"
                )
                .into_bytes()
            }
        })
        .collect()
}

fn read_log(path: &Path) -> Vec<Exchange> {
    Reader::open(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn vm_hwm_kib(guard: &Guard) -> u64 {
    let pid = guard.0.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Starts tee; the returned receiver carries its stderr and must live as
/// long as the process (dropping it closes the pipe).
fn start_tee(
    prod: SocketAddr,
    targets: &[String],
    dir: &Path,
    extra: &[&str],
) -> (Guard, PathBuf, String, mpsc::Receiver<String>) {
    let report = dir.join("tee-report.json");
    let mut cmd = Command::new(BIN);
    cmd.args(["tee", "-i", "lo", "--port", &prod.port().to_string()]);
    for t in targets {
        cmd.args(["--target", t]);
    }
    cmd.args([
        "--report",
        "json",
        "--report-file",
        report.to_str().unwrap(),
    ])
    .args(["--stats-interval", "0s"])
    .args(extra);
    // With --metrics, the metrics address is printed first.
    let ready = if extra.contains(&"--metrics") {
        "metrics on"
    } else {
        "capturing on"
    };
    let (guard, mut started, rx) = spawn_ready(&mut cmd, ready);
    if ready == "metrics on" {
        for _ in 0..100 {
            let l = rx.recv_timeout(WAIT).expect("tee starts capturing");
            started.push('\n');
            started.push_str(&l);
            if l.contains("capturing on") {
                break;
            }
        }
    }
    (guard, report, started, rx)
}

/// The rest of a stopped process's stderr: ends when its pipe closes
/// (waiting at most WAIT for each line).
fn lines_after_exit(rx: &mpsc::Receiver<String>) -> Vec<String> {
    std::iter::from_fn(|| rx.recv_timeout(WAIT).ok()).collect()
}

/// A JSON report written by a finished run.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The scrape address from tee's startup lines.
fn metrics_addr(started: &str) -> SocketAddr {
    let line = started
        .lines()
        .find(|l| l.starts_with("shadowtap: metrics on http://"))
        .unwrap_or_else(|| panic!("no metrics address in {started:?}"));
    line.trim_start_matches("shadowtap: metrics on http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap()
}

/// One scrape of `/metrics`, body and all.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// Scrapes until the exposition contains `needle` (200 tries 50 ms apart,
/// and no longer than WAIT); panics with the last scrape otherwise.
fn scrape_until(addr: SocketAddr, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let mut body = scrape(addr);
    for _ in 0..200 {
        if body.contains(needle) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        body = scrape(addr);
    }
    assert!(body.contains(needle), "no {needle:?} in {body}");
    body
}
