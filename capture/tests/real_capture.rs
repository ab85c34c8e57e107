//! The differential test on a real capture: curl talking to nginx on
//! loopback, recorded by tcpdump, then re-wrapped packet by packet into
//! every encapsulation (`common::encap`): each import must give exactly
//! the exchanges of the plain capture. Needs root, nginx, curl and
//! tcpdump (ignored otherwise, failing under `--include-ignored` when one
//! is missing).

mod common;
#[path = "support/gate.rs"]
mod gate;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::encap::{wrap_all, Wrap};
use common::*;
use shadowtap_capture::{read_pcap_with, Decap, PipelineConfig};
use shadowtap_format::Exchange;

/// Kills the child when dropped (a failing test leaves no server behind).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_nginx(dir: &std::path::Path, port: u16) -> Reaped {
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 64; }}\nhttp {{\n access_log off;\n\
         client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n server {{\n  listen 127.0.0.1:{port};\n\
         location / {{ return 200 'hello from nginx\\n'; }}\n\
         location = /post {{ return 201 'created\\n'; }}\n }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Reaped(child)
}

fn curl(args: &[&str]) {
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10"])
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "curl {args:?}");
}

/// Requests and responses, by what matters to a comparison.
fn requests(ex: &[Exchange]) -> Vec<String> {
    ex.iter()
        .map(|e| {
            let line = e.request.split(|b| *b == b'\r').next().unwrap_or_default();
            format!(
                "{} -> {:?}",
                String::from_utf8_lossy(line),
                e.response.as_ref().map(|r| r.status)
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root, nginx, curl and tcpdump"]
fn a_real_capture_rewrapped_imports_the_same_exchanges() {
    gate::require_root();
    for tool in ["nginx", "curl", "tcpdump"] {
        gate::require_tool(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nginx = start_nginx(dir.path(), port);
    let pcap = dir.path().join("real.pcap");
    // Immediate mode: packets handed over one by one, so none is still in
    // a kernel block when tcpdump is told to stop. `-Z root`: it writes
    // into the test's private directory.
    let mut tcpdump = Command::new("tcpdump")
        .args([
            "-i",
            "lo",
            "-n",
            "-s",
            "0",
            "-U",
            "--immediate-mode",
            "-Z",
            "root",
            "-w",
        ])
        .arg(&pcap)
        .arg(format!("tcp port {port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump starts");
    let mut err = BufReader::new(tcpdump.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("listening on") {
        line.clear();
    }
    let tcpdump = Reaped(tcpdump);
    let base = format!("http://127.0.0.1:{port}");
    curl(&[&format!("{base}/a"), &format!("{base}/b?x=1")]);
    curl(&["-d", "payload=1", &format!("{base}/post")]);
    curl(&["-H", "X-Test: yes", &format!("{base}/c/%7Eescaped")]);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(tcpdump.0.id() as i32, libc::SIGINT) };
    let mut tcpdump = tcpdump;
    let _ = tcpdump.0.wait();
    drop(tcpdump);
    drop(nginx);

    let mut cap = pcap::Capture::from_file(&pcap).unwrap();
    assert_eq!(cap.get_datalink(), pcap::Linktype::ETHERNET);
    let mut frames = Vec::new();
    while let Ok(p) = cap.next_packet() {
        let ts = p.header.ts;
        frames.push(Frame {
            ts_ns: ts.tv_sec as u64 * 1_000_000_000 + ts.tv_usec as u64 * 1000,
            orig_len: p.header.len,
            data: p.data.to_vec(),
        });
    }
    assert!(frames.len() >= 20, "{} frames captured", frames.len());
    let cfg = PipelineConfig {
        ports: vec![port],
        ..PipelineConfig::default()
    };
    let import = |linktype: u32, frames: &[Frame], decap: Decap| {
        let path = dir.path().join("wrapped.pcap");
        write_pcap(&path, linktype, frames);
        let mut out: Vec<Exchange> = Vec::new();
        let (_, warning) = read_pcap_with(&path, cfg.clone(), decap, &mut out).unwrap();
        assert_eq!(warning, None);
        out
    };
    let plain = import(1, &frames, Decap::auto());
    assert_eq!(
        requests(&plain),
        [
            "GET /a HTTP/1.1 -> Some(200)",
            "GET /b?x=1 HTTP/1.1 -> Some(200)",
            "POST /post HTTP/1.1 -> Some(201)",
            "GET /c/%7Eescaped HTTP/1.1 -> Some(200)",
        ]
    );
    for w in Wrap::ALL {
        let decap = match w {
            Wrap::VxlanOn(p) => format!("vxlan:{p}").parse().unwrap(),
            _ => Decap::auto(),
        };
        let got = import(w.linktype(), &wrap_all(w, 1, &frames), decap);
        assert_eq!(got, plain, "{w:?}");
    }
}
