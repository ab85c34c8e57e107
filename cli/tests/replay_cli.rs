//! End to end: the built `shadowtap replay` against an in-test HTTP server on
//! 127.0.0.1:0. Checks exit codes (0, 1, 2, 99, 130), the JSON report, the
//! report and HDR log files, and what the server received.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::{Exchange, FileHeader, Writer, WriterOptions};

mod common;

use common::wait_bounded;

const BIN: &str = env!("CARGO_BIN_EXE_shadowtap");

/// A keep-alive HTTP/1.1 server answering 200 to everything, recording what
/// it receives. Runs on threads until the test process ends.
struct Server {
    addr: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    count: Arc<AtomicU64>,
    first: mpsc::Receiver<()>,
}

fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicU64::new(0));
    let (tx, first) = mpsc::channel();
    let (r, c) = (requests.clone(), count.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (r, c, tx) = (r.clone(), c.clone(), tx.clone());
            std::thread::spawn(move || serve(stream, &r, &c, &tx));
        }
    });
    Server {
        addr,
        requests,
        count,
        first,
    }
}

fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<Vec<u8>>>,
    count: &AtomicU64,
    first: &mpsc::Sender<()>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending = Vec::new();
    for _ in 0..1_000_000 {
        let mut framer = Framer::request();
        let mut request = Vec::new();
        let mut input = std::mem::take(&mut pending);
        loop {
            if !input.is_empty() {
                let Ok(p) = framer.feed(&input) else { return };
                request.extend_from_slice(&input[..p.consumed]);
                if p.status == Status::Complete {
                    pending = input[p.consumed..].to_vec();
                    break;
                }
            }
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            input = buf[..n].to_vec();
        }
        log.lock().unwrap().push(request);
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = first.send(());
        }
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// A log of `n` GETs `gap_ms` apart.
fn log(dir: &Path, n: u64, gap_ms: u64) -> PathBuf {
    let path = dir.join(format!("in-{n}-{gap_ms}.stlog"));
    let mut w = Writer::create(&path, &FileHeader::default(), WriterOptions::default()).unwrap();
    for i in 0..n {
        let request = format!("GET /item/{i} HTTP/1.1\r\nHost: shop.example\r\nX-Req: {i}\r\n\r\n")
            .into_bytes();
        w.append(&Exchange::new(
            i,
            i / 10,
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            1_700_000_000_000_000_000 + i * gap_ms * 1_000_000,
            request,
        ))
        .unwrap();
    }
    w.finish().unwrap();
    path
}

fn replay(args: &[&str]) -> Output {
    let mut all = vec!["replay"];
    all.extend_from_slice(args);
    common::run(&all)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn replay_succeeds_with_a_json_report_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path(), 30, 1);
    let s = server();
    let target = format!("http://{}", s.addr);
    let out = replay(&[
        input.to_str().unwrap(),
        "--target",
        &target,
        "--speed",
        "max",
        "--report",
        "json",
        "--header",
        "X-Mirror: 1",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "completed>=30",
        "--seed",
        "7",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["seed"], 7);
    assert_eq!(report["targets"][0]["completed"], 30);
    assert_eq!(report["targets"][0]["status"]["200"], 30);
    assert!(report["targets"][0]["latency_us"]["p99"].is_number());
    assert!(
        text(&out.stderr).contains("thresholds: 2 passed, 0 failed"),
        "{}",
        text(&out.stderr)
    );
    let received = s.requests.lock().unwrap().clone();
    assert_eq!(received.len(), 30);
    let port = s.addr.rsplit(':').next().unwrap();
    let mut seen: Vec<String> = received.iter().map(|r| text(r)).collect();
    seen.sort_by_key(|r| {
        r.split(' ')
            .nth(1)
            .and_then(|p| p.rsplit('/').next()?.parse::<u32>().ok())
    });
    assert_eq!(
        seen[3],
        format!("GET /item/3 HTTP/1.1\r\nHost: 127.0.0.1-shadow:{port}\r\nX-Req: 3\r\nX-Mirror: 1\r\n\r\n")
    );
}

#[test]
fn invalid_thresholds_exit_2_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path(), 5, 1);
    let s = server();
    let target = format!("http://{}", s.addr);
    for bad in [
        vec!["--threshold", "p(99)<<5ms"],
        vec!["--threshold", "bogus_metric<1"],
        vec!["--speed", "fast"],
        vec!["--sample", "101"],
        vec!["--header", "no colon"],
    ] {
        let mut args = vec![input.to_str().unwrap(), "--target", &target];
        args.extend(bad.iter().copied());
        let out = replay(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("error"), "{}", text(&out.stderr));
    }
    // Several problems are reported together.
    let out = replay(&[
        input.to_str().unwrap(),
        "--target",
        "ftp://x",
        "--speed",
        "0x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--target") && err.contains("--speed"), "{err}");
    assert_eq!(s.count.load(Ordering::SeqCst), 0);
}

#[test]
fn failed_thresholds_exit_99_and_reports_go_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = log(dir.path(), 20, 1);
    let s = server();
    let target = format!("http://{}", s.addr);
    let report = dir.path().join("report.json");
    let hdr = dir.path().join("latency.hlog");
    let out = replay(&[
        input.to_str().unwrap(),
        "--target",
        &target,
        "--speed",
        "max",
        "--threshold",
        "completed>=1000",
        "--report",
        "json",
        "--report-file",
        report.to_str().unwrap(),
        "--hdr-log",
        hdr.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(99), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("FAIL"), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["targets"][0]["completed"], 20);
    assert_eq!(json["thresholds"][0]["passed"], false);
    let hlog = std::fs::read_to_string(&hdr).unwrap();
    assert!(hlog.contains("StartTime"), "{hlog}");
}

#[test]
fn unreadable_input_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let s = server();
    let target = format!("http://{}", s.addr);
    let missing = dir.path().join("missing.stlog");
    let out = replay(&[missing.to_str().unwrap(), "--target", &target]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("shadowtap: error:"),
        "{}",
        text(&out.stderr)
    );
    let garbage = dir.path().join("garbage.stlog");
    std::fs::write(&garbage, b"this is not a log").unwrap();
    let out = replay(&[garbage.to_str().unwrap(), "--target", &target]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(s.count.load(Ordering::SeqCst), 0);
}

#[test]
fn sigint_stops_the_replay_writes_the_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    // 10 minutes of traffic at 1x: only a signal ends it in time.
    let input = log(dir.path(), 600, 1_000);
    let s = server();
    let target = format!("http://{}", s.addr);
    let mut child = Command::new(BIN)
        .args([
            "replay",
            input.to_str().unwrap(),
            "--target",
            &target,
            "--report",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first request arrives at once (due at 0 s).
    s.first
        .recv_timeout(Duration::from_secs(30))
        .expect("a first request");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = wait_bounded(&mut child);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["interrupted"], true);
    assert!(report["targets"][0]["completed"].as_u64().unwrap() >= 1);
}
