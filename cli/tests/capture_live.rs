//! Live capture on the loopback interface. The tests that need root are
//! `#[ignore]`d with that reason and fail when run without it (see
//! `capture/tests/support/gate.rs`).
//!
//! A small HTTP/1.1 server in this test records the raw bytes of every
//! request it receives; curl sends keep-alive GETs, POST bodies, a chunked
//! upload and an `Expect: 100-continue` upload; `shadowtap capture
//! --interface lo` records them and `tcpdump -w` writes the same traffic to
//! a pcap. After SIGINT, every request the server received must be in the
//! log exactly once, byte-identical, with its response; importing the
//! tcpdump pcap with `--pcap` must give the same exchanges.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::{Exchange, Reader};

mod common;
use common::*;

/// Starts the recording server on 127.0.0.1:0; returns its port and the
/// requests it received (raw bytes), in arrival order.
fn start_server() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let rec = Arc::clone(&rec);
            std::thread::spawn(move || serve_conn(conn, rec));
        }
    });
    (port, seen)
}

fn serve_conn(mut conn: TcpStream, rec: Arc<Mutex<Vec<Vec<u8>>>>) {
    conn.set_read_timeout(Some(WAIT)).ok();
    let mut framer = Framer::request();
    let mut cur = Vec::new();
    let mut sent_continue = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut input = &buf[..n];
        while !input.is_empty() {
            let Ok(p) = framer.feed(input) else { return };
            cur.extend_from_slice(&input[..p.consumed]);
            input = &input[p.consumed..];
            let expect = framer.head().is_some_and(|h| h.expect_continue);
            if expect && !sent_continue && p.status == Status::Partial {
                sent_continue = true;
                if conn
                    .write_all(b"HTTP/1.1 100 Go Ahead Then\r\n\r\n")
                    .is_err()
                {
                    return;
                }
            }
            if p.status == Status::Complete {
                let body = format!("got {} bytes\n", cur.len());
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                rec.lock().unwrap().push(std::mem::take(&mut cur));
                if conn.write_all(resp.as_bytes()).is_err() {
                    return;
                }
                framer = Framer::request();
                sent_continue = false;
            }
        }
    }
}

fn curl(args: &[&str]) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_log(path: &Path) -> Vec<Exchange> {
    let r = Reader::open(path).unwrap();
    r.map(|e| e.unwrap()).collect()
}

/// (request, status, response head, response body).
type Canon = (Vec<u8>, u16, Vec<u8>, Vec<u8>);

fn canon(ex: &[Exchange]) -> Vec<Canon> {
    let mut v: Vec<_> = ex
        .iter()
        .map(|e| {
            let r = e
                .response
                .as_ref()
                .expect("every exchange has its response");
            (e.request.clone(), r.status, r.head.clone(), r.body.clone())
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs root (CAP_NET_RAW), curl and tcpdump"]
fn live_capture_on_loopback_records_every_request_once() {
    require_root();
    require_tool("curl");
    require_tool("tcpdump");
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = start_server();
    let p = port.to_string();
    let log = dir.path().join("live.stlog");
    let pcap = dir.path().join("live.pcap");

    let (cap, _cap_err) = spawn_until(
        Command::new(BIN)
            .args([
                "capture",
                "--interface",
                "lo",
                "--port",
                &p,
                "--stats-interval",
                "0s",
                "-o",
            ])
            .arg(&log),
        "capturing on lo",
    );
    let (dump, _dump_stderr) = spawn_until(
        Command::new("tcpdump")
            .args([
                "-i",
                "lo",
                "-U",
                "--immediate-mode",
                "-B",
                "32768",
                "-n",
                "-s",
                "0",
                "-w",
            ])
            .arg(&pcap)
            .args(["tcp", "port", &p]),
        "listening on",
    );

    let base = format!("http://127.0.0.1:{port}");
    let small = dir.path().join("small.bin");
    std::fs::write(&small, b"name=shadowtap&value=1&more=\x01\x02\xff").unwrap();
    let big = dir.path().join("big.bin");
    let big_body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&big, &big_body).unwrap();
    let at = |f: &Path| format!("@{}", f.display());

    // Keep-alive: several requests on one connection.
    curl(&[
        &format!("{base}/a"),
        &format!("{base}/b?x=1&y=%20"),
        &format!("{base}/k/[1-20]"),
    ]);
    // POST bodies.
    curl(&["--data-binary", &at(&small), &format!("{base}/post")]);
    curl(&["--data-binary", &at(&big), &format!("{base}/post-big")]);
    // Chunked upload.
    curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &at(&big),
        &format!("{base}/chunked"),
    ]);
    // Expect: 100-continue (the server answers with an odd reason phrase).
    curl(&[
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &at(&small),
        &format!("{base}/expect"),
    ]);
    // HTTP/1.0, one request per connection.
    curl(&["--http1.0", &format!("{base}/old")]);
    // Several connections at once.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let url = format!("{base}/par/{i}/[1-10]");
            std::thread::spawn(move || curl(&[&url]))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    assert_eq!(interrupt(cap), 0, "capture exit status");
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 2 + 20 + 5 + 40, "requests the server received");

    let live = read_log(&log);
    let mut got: Vec<Vec<u8>> = live.iter().map(|e| e.request.clone()).collect();
    let mut want = sent.clone();
    got.sort();
    want.sort();
    let first_line = |r: &Vec<u8>| String::from_utf8_lossy(&r[..r.len().min(60)]).into_owned();
    let missing: Vec<String> = want
        .iter()
        .filter(|w| !got.contains(w))
        .map(first_line)
        .collect();
    let extra: Vec<String> = got
        .iter()
        .filter(|g| !want.contains(g))
        .map(first_line)
        .collect();
    let flags: Vec<String> = live
        .iter()
        .filter(|e| !e.flags.is_empty())
        .map(|e| format!("{} {:?} {:?}", e.id, e.flags, first_line(&e.request)))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}\nflagged {flags:#?}"
    );
    assert_eq!(got.len(), want.len(), "every request exactly once");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g == w,
            "request differs:\n got {:?}\nwant {:?}",
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(w)
        );
    }
    for e in &live {
        assert!(
            e.flags.is_empty() || e.flags == shadowtap_format::Flags::INTERIM,
            "{:?}",
            e.flags
        );
        assert_eq!(e.request_len, e.request.len() as u64);
        let r = e.response.as_ref().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            format!("got {} bytes\n", e.request.len()).as_bytes()
        );
    }
    assert!(live
        .iter()
        .any(|e| e.flags == shadowtap_format::Flags::INTERIM));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    {
        // tcpdump writes as packets arrive: wait (bounded) until its file
        // holds every exchange, then stop it.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let mut got: Vec<Exchange> = Vec::new();
            let cfg = shadowtap_capture::PipelineConfig {
                ports: vec![port],
                ..Default::default()
            };
            if shadowtap_capture::read_pcap(&pcap, cfg, &mut got).is_ok()
                && got.iter().filter(|e| e.response.is_some()).count() >= sent.len()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tcpdump never wrote all the traffic"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        interrupt(dump);
        // Imports the tcpdump pcap with extra flags.
        let import = |name: &str, extra: &[&str]| {
            let path = dir.path().join(name);
            let out = Command::new(BIN)
                .args(["capture", "--pcap"])
                .arg(&pcap)
                .args(["--port", &p, "--stats-interval", "0s"])
                .args(extra)
                .arg("-o")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            read_log(&path)
        };
        let from_pcap = import("imported.stlog", &[]);
        // The other codecs hold the same exchanges.
        for codec in ["none", "zstd:-5"] {
            let other = import(
                &format!("imported-{codec}.stlog"),
                &["--compression", codec],
            );
            assert_eq!(other, from_pcap, "--compression {codec}");
        }
        let (a, b) = (canon(&from_pcap), canon(&live));
        let show = |v: &[Canon]| -> Vec<String> {
            v.iter()
                .map(|(r, s, _, _)| {
                    format!("{s} {}", String::from_utf8_lossy(&r[..r.len().min(40)]))
                })
                .collect()
        };
        assert!(
            a == b,
            "the tcpdump import differs from the live capture:\n{:#?}\n{:#?}",
            show(&a),
            show(&b)
        );
    }
}

#[test]
#[ignore = "needs root (CAP_NET_RAW) to reach the interface check"]
fn live_capture_errors_are_one_line() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "capture",
            "--interface",
            "no-such-if0",
            "--port",
            "80",
            "-o",
        ])
        .arg(dir.path().join("x.stlog"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-if0"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Runs everywhere: as root the binary runs as user nobody with no
/// capabilities (setpriv, util-linux), so one root run checks this and the
/// root-only tests above.
#[test]
fn live_capture_without_privileges_names_the_capability() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = if is_root() {
        require_tool("setpriv");
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            BIN,
        ]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args(["capture", "--interface", "lo", "--port", "80", "-o"])
        .arg(dir.path().join("x.stlog"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CAP_NET_RAW"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("x.stlog");
    for args in [
        vec!["capture", "--interface", "lo"], // live without --port
        vec!["capture", "--pcap", "a.pcap", "--max-body", "1GiB"], // cap too large
        vec!["capture", "--port", "80"],      // no source
        vec!["capture", "--pcap", "a.pcap", "--compression", "lz4"], // no such codec
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .arg("-o")
            .arg(&o)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
