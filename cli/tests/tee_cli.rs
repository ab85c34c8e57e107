//! `shadowtap tee` with real processes on loopback (the live tests need root:
//! `#[ignore]`d with that reason, they fail when run without it, see
//! `capture/tests/support/gate.rs`), and the CI load-simulation recipe of the README.
//!
//! Production is a `shadowtap serve`; mirrors are `shadowtap serve --record`
//! (so what arrived can be compared byte for byte), a `serve --delay` (slow)
//! and a closed port (dead). Clients are plain TCP connections from the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shadowtap_format::{Exchange, Reader};

mod common;
use common::*;

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

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_mirrors_every_request_once_byte_identical_but_the_host() {
    require_root();
    mirror_every_request_once(true, 30);
}

/// Without `--record` tee keeps no responses, and its capture filter lets
/// only the client's bytes (and the server's SYN, FIN and RST) out of the
/// kernel: the mirror must still get every request once.
#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_without_record_captures_requests_only_and_mirrors_them_all() {
    require_root();
    mirror_every_request_once(false, 300);
}

/// Sends `n` requests to production while tee mirrors them. The mirror has
/// slots for all of them: this is about capture, not about a busy target.
fn mirror_every_request_once(record: bool, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mirror_log = dir.path().join("mirror.stlog");
    let tee_log = dir.path().join("tee.stlog");
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (mirror, mirror_addr, _mirror_err) = serve(&["--record", mirror_log.to_str().unwrap()]);
    let mut args = vec![
        "--keep-host",
        "--metrics",
        "127.0.0.1:0",
        "--concurrency",
        "1000",
    ];
    if record {
        args.extend(["--record", tee_log.to_str().unwrap()]);
    }
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{mirror_addr}")],
        dir.path(),
        &args,
    );
    let port = prod_addr.port();
    // On loopback the kernel is asked for one copy of each packet.
    let filter = if record {
        format!("(filter: inbound and (tcp and (port {port})))")
    } else {
        format!("(filter: inbound and (tcp and (dst port {port} or ((src port {port}) and")
    };
    assert!(started.contains(&filter), "{started}");

    let sent = requests_for(prod_addr, n);
    for raw in &sent {
        assert!(request(prod_addr, raw).starts_with("HTTP/1.1 200"));
    }
    // The live counters reach n answered mirror requests (bounded wait).
    let answered = format!(
        "shadowtap_tee_responses_total{{target=\"http://{mirror_addr}\",class=\"2xx\"}} {n}\n"
    );
    let body = scrape_until(metrics_addr(&started), &answered);
    assert!(
        body.contains("shadowtap_tee_mirrored_total{target=\"http://"),
        "{body}"
    );
    assert_eq!(interrupt(tee), 0, "tee exits 0 after draining");
    let summary = lines_after_exit(&tee_err);
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with(&format!("shadowtap tee: {n} requests to 1 target"))),
        "{summary:?}"
    );
    assert_eq!(interrupt(mirror), 0);
    drop(prod);

    if record {
        // Production's requests, as tee recorded them, are exactly what
        // was sent.
        let recorded = read_log(&tee_log);
        let mut on_wire: Vec<&[u8]> = recorded.iter().map(|e| e.request.as_slice()).collect();
        on_wire.sort();
        let mut expected: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        expected.sort();
        assert_eq!(on_wire, expected, "tee --record holds every request once");
    }

    // The mirror received each once, byte-identical except the Host line
    // (`-shadow` inserted before the port) and the hop-by-hop Connection.
    let host = format!("Host: {prod_addr}\r\n");
    let shadow = format!("Host: 127.0.0.1-shadow:{}\r\n", prod_addr.port());
    let normalise = |raw: &[u8]| -> String {
        String::from_utf8_lossy(raw)
            .replace(&host, &shadow)
            .replace("Connection: close\r\n", "")
    };
    let mut got: Vec<String> = read_log(&mirror_log)
        .iter()
        .map(|e| normalise(&e.request))
        .collect();
    got.sort();
    let mut want: Vec<String> = sent.iter().map(|r| normalise(r)).collect();
    want.sort();
    for g in &got {
        assert!(g.contains(&shadow), "{g}");
    }
    assert_eq!(got.len(), n, "each request arrives at the mirror once");
    assert_eq!(got, want);

    let r = read_json(&report);
    assert_eq!(r["overall"]["sent"], n);
    assert_eq!(r["overall"]["errors_total"], 0);
    assert_eq!(r["overall"]["dropped_total"], 0);
    assert_eq!(r["overall"]["mirror_delay_us"]["count"], n);
    if !record {
        return;
    }

    // The recorded log is a replayable log.
    let (again, again_addr, _again_err) = serve(&[]);
    let out = Command::new(BIN)
        .args(["replay", tee_log.to_str().unwrap(), "--target"])
        .arg(format!("http://{again_addr}"))
        .args(["--speed", "max", "--report", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rr: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rr["overall"]["completed"], 30);
    drop(again);
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn dead_and_slow_mirrors_cost_counters_not_production() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (slow, slow_addr, _slow_err) = serve(&["--delay", "1s"]);
    let dead_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (tee, report, started, _tee_err) = start_tee(
        prod_addr,
        &[format!("http://{dead_addr}"), format!("http://{slow_addr}")],
        dir.path(),
        &[
            "--concurrency",
            "2",
            "--timeout",
            "3s",
            "--queue",
            "100",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let metrics_addr = metrics_addr(&started);

    let n = 60;
    for raw in requests_for(prod_addr, n) {
        assert!(
            request(prod_addr, &raw).starts_with("HTTP/1.1 200"),
            "production answers every request"
        );
    }
    // The capture hands over the last requests within a block timeout.
    let body = scrape_until(
        metrics_addr,
        &format!("shadowtap_tee_captured_requests_total {n}\n"),
    );
    // The dead target never answered.
    assert!(
        body.contains(&format!(
            "shadowtap_tee_responses_total{{target=\"http://{dead_addr}\",class=\"2xx\"}} 0\n"
        )),
        "{body}"
    );
    assert!(
        body.contains("shadowtap_tee_dropped_total{target=\"http://"),
        "{body}"
    );
    assert!(body.contains("shadowtap_tee_queue_depth"), "{body}");
    assert!(body.contains("shadowtap_capture_packets_total"), "{body}");
    let hwm = vm_hwm_kib(&tee);
    assert!(hwm < 200 * 1024, "tee peak RSS {hwm} KiB");
    let code = interrupt(tee);
    assert_eq!(code, 0);
    drop((prod, slow));

    let r = read_json(&report);
    let targets = r["targets"].as_array().unwrap();
    let dead = &targets[0];
    let slow = &targets[1];
    for t in [dead, slow] {
        let sent = t["sent"].as_u64().unwrap();
        let dropped = t["dropped_total"].as_u64().unwrap();
        assert_eq!(
            sent + dropped,
            n as u64,
            "every request is sent or counted: {t}"
        );
    }
    for t in [dead, slow] {
        // tee drained within --timeout: nothing was left over at the stop.
        assert_eq!(t["dropped"]["shutdown"], 0, "{t}");
    }
    assert_eq!(dead["errors"]["refused"], dead["sent"], "{dead}");
    assert!(dead["sent"].as_u64().unwrap() > 0);
    assert!(
        slow["dropped"]["concurrency"].as_u64().unwrap() > 0,
        "a slow mirror drops past --concurrency: {slow}"
    );
    assert_eq!(slow["errors_total"], 0, "{slow}");
}

/// `n` GETs on one keep-alive connection, each answered before the next is
/// sent; panics unless every answer is a 200.
fn keepalive_gets(addr: SocketAddr, n: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    for i in 0..n {
        let req = format!("GET /burst/{i} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        // One response: a head, then Content-Length bytes of body.
        let mut need = None;
        for _ in 0..10_000 {
            if need.is_none() {
                if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                    assert!(head.starts_with("http/1.1 200"), "{head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    need = Some(end + 4 + len);
                }
            }
            if let Some(total) = need.filter(|&t| pending.len() >= t) {
                pending.drain(..total);
                break;
            }
            let got = s.read(&mut buf).unwrap();
            assert!(got > 0, "production closed the connection");
            pending.extend_from_slice(&buf[..got]);
        }
        assert!(
            need.is_some() && pending.is_empty(),
            "response {i} incomplete"
        );
    }
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_reads_in_batches_while_the_mirror_is_behind_and_loses_nothing() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (mirror, mirror_addr, _mirror_err) = serve(&[]);
    // One request per second to the mirror, waiting for its turn: the
    // mirror's input stops taking requests once the engine's input buffer
    // (1,024) is full, and the one-slot queue then overflows.
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{mirror_addr}")],
        dir.path(),
        &[
            "--queue",
            "1",
            "--rate",
            "1/s",
            "--timeout",
            "1s",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let metrics = metrics_addr(&started);
    let n = 3000;
    keepalive_gets(prod_addr, n);
    // The capture reads every request (bounded wait).
    let captured = format!("shadowtap_tee_captured_requests_total {n}\n");
    scrape_until(metrics, &captured);
    // At one request a second the mirror cannot drain within --timeout.
    assert_eq!(interrupt(tee), 130);
    drop((prod, mirror));

    let last = &capture_summary(&tee_err, n);
    let batches: u64 = last
        .split("; the capture paused its reads ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("the capture never paused: {last}"));
    assert!(batches > 0, "{last}");

    let r = read_json(&report);
    let t = &r["targets"][0];
    let sent = t["sent"].as_u64().unwrap();
    let dropped = t["dropped_total"].as_u64().unwrap();
    assert_eq!(
        sent + dropped,
        n as u64,
        "every request sent or counted: {t}"
    );
    assert!(t["dropped"]["queue"].as_u64().unwrap() > 0, "{t}");
    // What the mirror still held when --timeout ran out is counted too: at
    // most the engine's input (1,024), the queue's slot, the request
    // waiting for the rate limit and --concurrency (64) in flight.
    let at_stop = t["dropped"]["shutdown"].as_u64().unwrap();
    assert!((1..=1024 + 1 + 1 + 64).contains(&at_stop), "{t}");
}

/// A target that accepts connections and never answers: it reads what it
/// is sent and holds every connection until the returned flag is set (or
/// WAIT passes). Returns its address and the thread.
fn silent_target() -> (
    SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        let mut held = Vec::new();
        let mut buf = [0u8; 4096];
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline && held.len() < 1000 {
            if let Ok((s, _)) = l.accept() {
                s.set_nonblocking(true).unwrap();
                held.push(s);
            }
            for s in &mut held {
                let _ = s.read(&mut buf);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (addr, done, thread)
}

/// tee's summary line, once it exited, checked to say that the capture saw
/// all `n` requests and the kernel dropped no packet.
fn capture_summary(tee_err: &mpsc::Receiver<String>, n: usize) -> String {
    let lines = lines_after_exit(tee_err);
    let last = lines
        .iter()
        .find(|l| l.starts_with("shadowtap tee: captured "))
        .unwrap_or_else(|| panic!("no summary in {lines:?}"))
        .clone();
    assert!(
        last.starts_with(&format!("shadowtap tee: captured {n} requests; ")),
        "{last}"
    );
    assert!(last.contains("kernel drops 0"), "{last}");
    last
}

/// The summary line's count before `what`, e.g. "5 dropped at the capture".
fn summary_count(line: &str, what: &str) -> u64 {
    line.split("; ")
        .find_map(|part| {
            let i = part.find(what)?;
            part[..i].rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {what:?} in {line}"))
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn a_mirror_without_free_slots_drops_at_the_capture_and_the_capture_loses_nothing() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (target, done, holder) = silent_target();
    // One slot, taken by the first request for good (the target never
    // answers within --timeout): every later request finds no free slot.
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{target}")],
        dir.path(),
        &[
            "--concurrency",
            "1",
            "--timeout",
            "5s",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let n = 3000;
    keepalive_gets(prod_addr, n);
    // The capture reads every request (bounded wait).
    let captured = format!("shadowtap_tee_captured_requests_total {n}\n");
    scrape_until(metrics_addr(&started), &captured);
    interrupt(tee);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    holder.join().unwrap();
    drop(prod);

    // The capture lost nothing while it dropped requests for the mirror.
    let last = &capture_summary(&tee_err, n);
    assert_eq!(
        summary_count(last, " dropped because the queue was full"),
        0
    );
    // All but the first request were dropped by the capture itself, never
    // queued: the first is admitted ahead of the scheduler, so no request
    // after it sees its slot as free, even in a burst read at once.
    let at_capture = summary_count(last, " dropped at the capture");
    assert_eq!(at_capture, n as u64 - 1, "{last}");
    // The run of drops made the capture read in paced batches.
    assert!(
        last.contains("; the capture paused its reads "),
        "the capture never paused: {last}"
    );

    let r = read_json(&report);
    let t = &r["targets"][0];
    let sent = t["sent"].as_u64().unwrap();
    let num = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{v} in {t}"));
    // Every captured request is accounted for, and the one sent is
    // unanswered (or timed out, had the stop come late).
    assert_eq!(sent + num(&t["dropped_total"]), n as u64, "{t}");
    assert_eq!(
        sent,
        num(&t["completed"]) + num(&t["errors_total"]) + num(&t["unanswered"]),
        "{t}"
    );
    assert_eq!(num(&t["completed"]), 0, "{t}");
    assert_eq!(sent, 1, "{t}");
    assert!(num(&t["dropped"]["concurrency"]) >= at_capture, "{t}");
    assert_eq!(num(&t["dropped"]["queue"]), 0, "{t}");
}

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
