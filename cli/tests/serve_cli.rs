//! `shadowtap serve` as a process: port 0 announced on stderr, requests
//! answered, SIGINT exits 0 with a finished log; plus `shadowtap report
//! merge` on reports written by the library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use shadowtap_format::{End, Flags, Reader};

const LIMIT: Duration = Duration::from_secs(30);

fn shadowtap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
}

/// Waits for the child, killing it if it takes longer than `LIMIT`.
fn wait_bounded(mut child: Child) -> (ExitStatus, String) {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = tx.send((child.wait(), err));
    });
    match rx.recv_timeout(LIMIT) {
        Ok((status, err)) => (status.expect("wait"), err),
        Err(_) => {
            // SAFETY: plain syscall on the pid of our own child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("shadowtap did not exit within {LIMIT:?}");
        }
    }
}

/// Sends raw requests on one connection and reads until `n` responses
/// (counted by status lines; bodies here are small and contain no `HTTP/1.1 `).
fn exchange(addr: SocketAddr, raw: &[u8], expect_close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    if expect_close {
        s.read_to_end(&mut out).unwrap();
    } else {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serve_records_and_exits_0_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("served.stlog");
    let mut child = shadowtap()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--body-size",
            "3",
            "--status",
            "201",
        ])
        .arg("--record")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // First stderr line: "listening on ADDR".
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0);

    let pipelined = b"GET /one?q=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: test\r\n\r\n\
        POST /two HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
        3\r\nabc\r\n0\r\n\r\n";
    let reply = exchange(addr, pipelined, true);
    assert_eq!(
        reply.matches("HTTP/1.1 201 Created\r\n").count(),
        2,
        "{reply}"
    );
    assert!(reply.ends_with("\r\n\r\nsha"), "{reply}");
    let reply = exchange(addr, b"GET /three HTTP/1.1\r\nHost: t\r\n\r\n", false);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");

    // SAFETY: plain syscall on the pid of our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    child.stderr = Some(stderr.into_inner());
    let (status, rest) = wait_bounded(child);
    assert_eq!(status.code(), Some(0), "stderr: {rest}");
    assert!(
        rest.contains("served 3 requests") && rest.contains("recorded 3"),
        "{rest}"
    );

    let mut r = Reader::open(&log).unwrap();
    let mut requests = Vec::new();
    while let Some(ex) = r.next_exchange().unwrap() {
        assert_eq!(ex.flags, Flags::empty());
        assert_eq!(ex.response.as_ref().unwrap().status, 201);
        requests.push(ex.request);
    }
    assert!(matches!(r.end(), Some(End::Clean { .. })));
    assert_eq!(r.header().get("source"), Some("serve"));
    requests.sort();
    let split = pipelined.windows(4).position(|w| w == b"POST").unwrap();
    let mut expected = vec![
        pipelined[..split].to_vec(),
        pipelined[split..].to_vec(),
        b"GET /three HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
    ];
    expected.sort();
    assert_eq!(requests, expected);
}

#[test]
fn serve_rejects_bad_options_with_exit_2() {
    for args in [
        &["serve", "--listen", "127.0.0.1:0", "--status", "99"][..],
        &["serve", "--listen", "not-an-address"][..],
        &["serve", "--listen", "127.0.0.1:0", "--delay", "soon"][..],
    ] {
        let child = shadowtap()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, err) = wait_bounded(child);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
    }
}

#[test]
fn report_merge_adds_histograms_and_checks_thresholds() {
    use shadowtap_replay::report::{Report, RunInfo};
    use shadowtap_replay::stats::{Outcome, Stats};

    let dir = tempfile::tempdir().unwrap();
    let targets = vec!["http://t".to_owned()];
    let mut paths = Vec::new();
    for (i, latency_ms) in [(0, 1u64), (1, 100)] {
        let mut stats = Stats::new(&targets);
        for k in 0..100u64 {
            let intended = Duration::from_millis(k);
            stats.record(&Outcome {
                target: 0,
                intended,
                sent: intended,
                done: intended + Duration::from_millis(latency_ms),
                result: Ok(200),
                bytes_sent: 1,
                bytes_received: 1,
            });
        }
        let report = Report::from_stats(
            &stats,
            &RunInfo {
                config: serde_json::json!({"machine": i}),
                seed: Some(1),
                elapsed: Duration::from_secs(1),
                interrupted: false,
            },
        );
        let path = dir.path().join(format!("r{i}.json"));
        std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
        paths.push(path);
    }
    let out = dir.path().join("merged.json");
    let run = |extra: &[&str]| {
        let child = shadowtap()
            .args(["report", "merge"])
            .args(&paths)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_bounded(child)
    };
    let (status, err) = run(&["--threshold", "p(99)<200ms", "--threshold", "rate>=200/s"]);
    assert_eq!(status.code(), Some(0), "{err}");
    let merged: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(merged.sources, 2);
    assert_eq!(merged.overall.sent, 200);
    // Half the samples at 1 ms, half at 100 ms: p50 from the added
    // histograms is ~1 ms, p90 ~100 ms (averaging percentiles would give ~50 ms).
    assert!(
        merged.targets[0].latency_us.p50 < 1_100,
        "{:?}",
        merged.targets[0].latency_us
    );
    assert!(merged.targets[0].latency_us.p90 > 99_000);
    assert_eq!(merged.thresholds.len(), 2);

    let (status, err) = run(&["--threshold", "p(90)<50ms"]);
    assert_eq!(status.code(), Some(99), "{err}");
    assert!(err.contains("FAIL"), "{err}");

    let (status, err) = run(&["--threshold", "p(90)<50parsecs"]);
    assert_eq!(status.code(), Some(2), "{err}");
}
