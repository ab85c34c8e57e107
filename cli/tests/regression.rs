//! Regression tests, one per defect, each named after the bug it pins
//! (ripgrep's `tests/regression.rs` habit). Each test failed before its fix.

mod common;

// ---------------------------------------------------------------------------
// replay, tee and serve: what is sent, counted and reported
// ---------------------------------------------------------------------------

mod replay_tee_serve {
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitStatus, Stdio};
    use std::sync::mpsc;

    use shadowtap_format::{Exchange, FileHeader, Flags, Writer, WriterOptions};

    use super::common::{BIN, WAIT};

    /// `n` GETs 1 ms apart.
    fn log(dir: &Path, n: u64) -> PathBuf {
        let path = dir.join(format!("in-{n}.stlog"));
        let mut w =
            Writer::create(&path, &FileHeader::default(), WriterOptions::default()).unwrap();
        for i in 0..n {
            let request =
                format!("GET /item/{i} HTTP/1.1\r\nHost: shop.example\r\n\r\n").into_bytes();
            let ts = 1_700_000_000_000_000_000 + i * 1_000_000;
            w.append(&Exchange {
                id: i,
                conn: i,
                client: "10.0.0.1:40000".parse().unwrap(),
                server: "10.0.0.2:80".parse().unwrap(),
                req_first_ns: ts,
                req_last_ns: ts,
                flags: Flags::empty(),
                request_len: request.len() as u64,
                request,
                response: None,
            })
            .unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// A target that accepts connections and holds them, never answering.
    /// Each accepted connection is announced on the channel.
    fn hanging_target() -> (String, mpsc::Receiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                held.push(stream);
                if tx.send(()).is_err() || held.len() > 10_000 {
                    return;
                }
            }
        });
        (url, rx)
    }

    /// A running `shadowtap replay`: its stderr lines on a channel, its
    /// stdout read to the end on a thread, and its exit on another.
    struct Replay {
        pid: u32,
        stderr: mpsc::Receiver<String>,
        stdout: std::thread::JoinHandle<Vec<u8>>,
        exited: mpsc::Receiver<ExitStatus>,
        /// Every stderr line seen so far.
        lines: Vec<String>,
    }

    impl Replay {
        fn start(args: &[&str]) -> Replay {
            let mut child = Command::new(BIN)
                .arg("replay")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let pid = child.id();
            let err = child.stderr.take().unwrap();
            let (tx, stderr) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut out = child.stdout.take().unwrap();
            let stdout = std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = out.read_to_end(&mut v);
                v
            });
            let (tx, exited) = mpsc::channel();
            std::thread::spawn(move || {
                if let Ok(status) = child.wait() {
                    let _ = tx.send(status);
                }
            });
            Replay {
                pid,
                stderr,
                stdout,
                exited,
                lines: Vec::new(),
            }
        }

        fn signal(&self, sig: libc::c_int) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(self.pid as libc::pid_t, sig) };
        }

        /// Waits (bounded) for a stderr line containing `what`.
        fn wait_line(&mut self, what: &str) {
            loop {
                match self.stderr.recv_timeout(WAIT) {
                    Ok(line) => {
                        let found = line.contains(what);
                        self.lines.push(line);
                        if found {
                            return;
                        }
                    }
                    Err(e) => {
                        self.signal(libc::SIGKILL);
                        panic!("no stderr line with {what:?} ({e}): {:?}", self.lines);
                    }
                }
            }
        }

        /// Waits (bounded) for the exit; returns the code, stdout and stderr.
        fn finish(mut self) -> (Option<i32>, Vec<u8>, String) {
            let status = match self.exited.recv_timeout(WAIT) {
                Ok(s) => s,
                Err(_) => {
                    self.signal(libc::SIGKILL);
                    panic!("the replay did not end in time: {:?}", self.lines);
                }
            };
            let stdout = self.stdout.join().unwrap();
            while let Ok(line) = self.stderr.recv_timeout(WAIT) {
                self.lines.push(line);
            }
            (status.code(), stdout, self.lines.join("\n"))
        }
    }

    /// Waits (bounded) for `n` connections to the target.
    fn accepted(rx: &mpsc::Receiver<()>, n: usize) {
        for i in 0..n {
            rx.recv_timeout(WAIT)
                .unwrap_or_else(|e| panic!("connection {} of {n} not made: {e}", i + 1));
        }
    }

    fn report(stdout: &[u8], stderr: &str) -> serde_json::Value {
        serde_json::from_slice(stdout)
            .unwrap_or_else(|e| panic!("a JSON report ({e}); stderr: {stderr}"))
    }

    /// Ctrl-C was ignored once every request had been sent: with a target
    /// that never answers, `--limit 10 --speed max`, SIGINT at +1 s was
    /// ignored and the run exited 0 at its timeout, not marked interrupted.
    /// Now the first signal gives the requests in flight at most
    /// `--timeout`, then the run exits 130 with `interrupted: true`; a
    /// second signal ends it at once.
    #[test]
    fn ctrl_c_is_ignored_once_every_request_has_been_sent() {
        let dir = tempfile::tempdir().unwrap();
        let input = log(dir.path(), 100);
        let input = input.to_str().unwrap();

        // One signal: the 10 requests time out (2 s), then exit 130.
        let (target, conns) = hanging_target();
        let run = Replay::start(&[
            input,
            "--target",
            &target,
            "--limit",
            "10",
            "--speed",
            "max",
            "--timeout",
            "2s",
            "--report",
            "json",
        ]);
        accepted(&conns, 10);
        run.signal(libc::SIGINT);
        let (code, stdout, stderr) = run.finish();
        assert_eq!(code, Some(130), "{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        let r = report(&stdout, &stderr);
        assert_eq!(r["interrupted"], true);
        let t = &r["targets"][0];
        assert_eq!(t["sent"], 10, "{t}");
        // Each request's own deadline and the grace end together: a request
        // is a timeout or, when the grace ended first, unanswered.
        let n = |v: &serde_json::Value| v.as_u64().unwrap();
        assert_eq!(n(&t["errors"]["timeout"]) + n(&t["unanswered"]), 10, "{t}");

        // Two signals, with a timeout far beyond every wait of this test:
        // the second ends the run at once, the 10 requests unanswered.
        let (target, conns) = hanging_target();
        let mut run = Replay::start(&[
            input,
            "--target",
            &target,
            "--limit",
            "10",
            "--speed",
            "max",
            "--timeout",
            "10m",
            "--report",
            "json",
        ]);
        accepted(&conns, 10);
        run.signal(libc::SIGINT);
        run.wait_line("interrupt again to stop at once");
        run.signal(libc::SIGTERM);
        let (code, stdout, stderr) = run.finish();
        assert_eq!(code, Some(130), "{stderr}");
        let r = report(&stdout, &stderr);
        assert_eq!(r["interrupted"], true);
        let t = &r["targets"][0];
        assert_eq!(
            (t["sent"].as_u64(), t["unanswered"].as_u64()),
            (Some(10), Some(10)),
            "{t}"
        );
    }

    /// Requests in flight at an interrupt vanished from the report: `--loop
    /// 0` to a target that never answers, then SIGINT: 64 requests written
    /// on 64 connections, and the report said `sent 0, errors 0`. Every one
    /// is sent now, and counted `unanswered` (JSON and text), so that sent =
    /// completed + errors + unanswered.
    #[test]
    fn requests_in_flight_at_an_interrupt_vanish_from_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let input = log(dir.path(), 5);
        let (target, conns) = hanging_target();
        let mut run = Replay::start(&[
            input.to_str().unwrap(),
            "--target",
            &target,
            "--loop",
            "0",
            "--speed",
            "max",
            "--timeout",
            "10m",
            "--report",
            "json",
        ]);
        accepted(&conns, 64);
        run.signal(libc::SIGINT);
        run.wait_line("interrupted");
        run.signal(libc::SIGINT);
        let (code, stdout, stderr) = run.finish();
        assert_eq!(code, Some(130), "{stderr}");
        let r = report(&stdout, &stderr);
        for t in [&r["targets"][0], &r["overall"]] {
            let n = |k: &str| t[k].as_u64().unwrap();
            assert_eq!(n("sent"), 64, "{t}");
            assert_eq!(n("unanswered"), 64, "{t}");
            assert_eq!(
                n("sent"),
                n("completed") + n("errors_total") + n("unanswered")
            );
        }
        assert!(
            stderr.contains("sent 64  completed 0  errors 0  unanswered 64"),
            "{stderr}"
        );
    }
}

// (end of the replay section)

// ---------------------------------------------------------------------------
// the command line: output streams, error messages, hints and limits
// ---------------------------------------------------------------------------

// (end of the command-line section)
