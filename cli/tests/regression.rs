//! Regression tests, one per defect, each named after the bug it pins
//! (ripgrep's `tests/regression.rs` habit). Each test failed before its fix.
//!
//! Over 600 lines on purpose: one file holds every fixed defect of the CLI, one
//! test each, so a new regression has one obvious home and the list reads as
//! the project's defect history; the two sections are modules of their own.

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

    use shadowtap_format::{Exchange, FileHeader, Writer, WriterOptions};

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
            w.append(&Exchange::new(
                i,
                i,
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap(),
                ts,
                request,
            ))
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

    /// tee ignored a second SIGINT: after the first, the mirror's queue and
    /// the requests in flight get at most `--timeout`, and a second signal
    /// changed nothing, so with a target that never answers Ctrl-C twice
    /// still waited the whole `--timeout`. As in `replay`, the second signal
    /// now ends the run at once: exit 130, the requests in flight
    /// `unanswered`.
    #[test]
    #[ignore = "needs root (CAP_NET_RAW)"]
    fn tee_ignored_a_second_interrupt_and_waited_the_whole_timeout() {
        use std::io::Write;
        super::common::require_root();
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let mut serve = Command::new(BIN);
        serve.args(["serve", "--listen", "127.0.0.1:0"]);
        let (_prod, line, _prod_err) = super::common::spawn_ready(&mut serve, "listening on");
        let prod: std::net::SocketAddr = line
            .rsplit(' ')
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let (target, conns) = hanging_target();
        let mut tee = Command::new(BIN);
        tee.args(["tee", "-i", "lo", "--port", &prod.port().to_string()])
            .args(["--target", &target, "--timeout", "10m"])
            .args([
                "--stats-interval",
                "0s",
                "--report",
                "json",
                "--report-file",
            ])
            .arg(&report);
        let (mut guard, tee_err) = super::common::spawn_until(&mut tee, "capturing on");
        for i in 0..3 {
            let mut s = TcpStream::connect(prod).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            write!(
                s,
                "GET /r/{i} HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut resp = Vec::new();
            s.read_to_end(&mut resp).unwrap();
            assert!(resp.starts_with(b"HTTP/1.1 200"));
        }
        accepted(&conns, 3);
        let pid = guard.0.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let mut seen = Vec::new();
        loop {
            let line = tee_err
                .recv_timeout(WAIT)
                .unwrap_or_else(|e| panic!("no stop line ({e}): {seen:?}"));
            let found = line.contains("interrupt again to stop at once");
            seen.push(line);
            if found {
                break;
            }
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let mut child = guard.0.take().unwrap();
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let Ok(status) = exited.recv_timeout(WAIT) else {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("tee did not end at the second signal: {seen:?}");
        };
        let status = status.unwrap();
        assert_eq!(status.code(), Some(130), "{seen:?}");
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let t = &r["targets"][0];
        assert_eq!(
            (t["sent"].as_u64(), t["unanswered"].as_u64()),
            (Some(3), Some(3)),
            "{t}"
        );
    }
}

// (end of the replay section)

// ---------------------------------------------------------------------------
// the command line: output streams, error messages, hints and limits
// ---------------------------------------------------------------------------

// In a module of its own: names and imports here cannot collide with the
// other section's.
mod command_line {
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    use super::common;

    /// Which of the child's output streams is a pipe whose read end is closed
    /// before the child writes to it.
    #[derive(Clone, Copy, Debug)]
    enum Closed {
        Stdout,
        Stderr,
    }

    fn sample_log() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/api-mix.stlog")
    }

    /// Waits (bounded) for a child; returns its exit code (-1 for a signal).
    fn wait_code(mut child: Child) -> i32 {
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(common::WAIT) {
            Ok(status) => status.unwrap().code().unwrap_or(-1),
            Err(_) => {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                panic!(
                    "shadowtap (pid {pid}) did not exit within {:?}",
                    common::WAIT
                );
            }
        }
    }

    /// Runs shadowtap with `closed` a pipe nobody reads (its read end is closed
    /// right after the spawn, before the child can write), the other stream
    /// discarded; returns the exit code.
    fn exit_code_with_closed(closed: Closed, args: &[OsString]) -> i32 {
        let mut cmd = Command::new(common::BIN);
        cmd.args(args).stdin(Stdio::null());
        match closed {
            Closed::Stdout => cmd.stdout(Stdio::piped()).stderr(Stdio::null()),
            Closed::Stderr => cmd.stdout(Stdio::null()).stderr(Stdio::piped()),
        };
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        wait_code(child)
    }

    /// Runs shadowtap to the end (bounded); returns (exit code, stdout, stderr).
    fn run(args: &[OsString]) -> (i32, String, String) {
        let child = Command::new(common::BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(common::WAIT) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                // SAFETY: kill(2) on our own child's pid.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                panic!("shadowtap {args:?} did not exit within {:?}", common::WAIT);
            }
        };
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A copy of the sample log with one byte flipped inside its first block's
    /// payload (a CRC mismatch).
    fn crc_damaged_log(dir: &Path) -> PathBuf {
        let mut bytes = std::fs::read(sample_log()).unwrap();
        bytes[400] ^= 0xff;
        let path = dir.join("damaged.stlog");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn closed_stderr_panicked_with_exit_101() {
        // A missing file: the error line meets a closed stderr; exit stays 1.
        let code = exit_code_with_closed(Closed::Stderr, &os(&["inspect", "nosuch.stlog"]));
        assert_eq!(code, 1, "inspect of a missing file with stderr closed");
        let code = exit_code_with_closed(Closed::Stderr, &os(&["stats", "nosuch.stlog"]));
        assert_eq!(code, 1, "stats of a missing file with stderr closed");

        // Replaying a corrupt log: the summary and the error meet a closed stderr.
        let dir = tempfile::tempdir().unwrap();
        let damaged = crc_damaged_log(dir.path());
        let (_serve, target) = common::serve(&[]);
        let mut args = os(&["replay", "--speed", "max", "--target", &target]);
        args.push(damaged.into());
        assert_eq!(exit_code_with_closed(Closed::Stderr, &args), 1);
    }

    #[test]
    fn closed_stdout_broke_json_output_with_exit_1() {
        let log = sample_log();
        for cmd in [
            &["inspect"][..],
            &["inspect", "--json"],
            &["stats"],
            &["stats", "--json"],
        ] {
            let mut args = os(cmd);
            args.push(log.clone().into());
            assert_eq!(exit_code_with_closed(Closed::Stdout, &args), 0, "{cmd:?}");
        }

        let (_serve, target) = common::serve(&[]);
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let replay = |extra: &[OsString]| {
            let mut args = os(&[
                "replay", "--speed", "max", "--limit", "50", "--target", &target,
            ]);
            args.extend_from_slice(extra);
            args.push(log.clone().into());
            args
        };
        let args = replay(&os(&["--report", "json"]));
        assert_eq!(
            exit_code_with_closed(Closed::Stdout, &args),
            0,
            "replay --report json"
        );

        let args = replay(&[
            "--report".into(),
            "json".into(),
            "--report-file".into(),
            report.clone().into(),
        ]);
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let args = ["report".into(), "merge".into(), report.into_os_string()];
        assert_eq!(
            exit_code_with_closed(Closed::Stdout, &args),
            0,
            "report merge"
        );
    }

    /// The one line of stderr starting with "shadowtap: error: ".
    fn error_line(stderr: &str) -> &str {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("shadowtap: error: "))
            .collect();
        assert_eq!(lines.len(), 1, "one error line in {stderr:?}");
        lines[0]
    }

    #[test]
    fn errors_repeated_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        let enoent = "No such file or directory (os error 2)";

        // A missing file, through each reader.
        let missing = dir.path().join("nosuch.stlog");
        let m = missing.display();
        for (cmd, context) in [
            ("inspect", "cannot read"),
            ("stats", "cannot read"),
            ("replay", "cannot read the input:"),
        ] {
            let mut args = os(&[cmd]);
            if cmd == "replay" {
                args.extend(os(&["--target", "http://127.0.0.1:9"]));
            }
            args.push(missing.clone().into());
            let (code, _, stderr) = run(&args);
            assert_eq!(code, 1, "{cmd}: {stderr}");
            assert_eq!(
                error_line(&stderr),
                format!("shadowtap: error: {context} {m}: {enoent}"),
                "{cmd}"
            );
        }

        // Bad magic.
        let bad = dir.path().join("bad.stlog");
        std::fs::write(&bad, b"this is not a shadowtap log at all").unwrap();
        let b = bad.display();
        let (code, _, stderr) = run(&[OsString::from("inspect"), bad.clone().into()]);
        assert_eq!(code, 1);
        assert_eq!(
            error_line(&stderr),
            format!(
                "shadowtap: error: cannot read {b}: not a shadowtap log (.stlog): bad magic bytes"
            )
        );
        let mut args = os(&["replay", "--target", "http://127.0.0.1:9"]);
        args.push(bad.clone().into());
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 1);
        assert_eq!(
            error_line(&stderr),
            format!(
                "shadowtap: error: cannot read the input: {b}: not a shadowtap log (.stlog): bad magic bytes"
            )
        );

        // CRC damage: the cause is said once, after the path.
        let damaged = crc_damaged_log(dir.path());
        let d = damaged.display();
        let (code, _, stderr) = run(&[OsString::from("inspect"), damaged.clone().into()]);
        assert_eq!(code, 1);
        let line = error_line(&stderr);
        let prefix = format!("shadowtap: error: reading {d}: ");
        let cause = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}"));
        assert!(
            cause.starts_with("corrupt log: CRC mismatch in block at byte offset "),
            "{cause}"
        );
        assert_eq!(stderr.matches("CRC mismatch").count(), 1, "{stderr}");
        let (_serve, target) = common::serve(&[]);
        let mut args = os(&["replay", "--speed", "max", "--target", &target]);
        args.push(damaged.clone().into());
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            error_line(&stderr),
            format!(
                "shadowtap: error: the replay stopped early: cannot read the input: {d}: {cause}"
            )
        );
        assert_eq!(stderr.matches("CRC mismatch").count(), 1, "{stderr}");

        // A port in use.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let (code, _, stderr) = run(&os(&["serve", "--listen", &addr]));
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "shadowtap: error: cannot listen on {addr}: Address already in use (os error 98)\n"
            )
        );
    }

    /// `capture --pcap PCAP --output LOG`.
    fn import_args(pcap: &Path, log: &Path) -> Vec<OsString> {
        let mut args = os(&["capture", "--pcap"]);
        args.push(pcap.into());
        args.push("--output".into());
        args.push(log.into());
        args
    }

    #[test]
    fn pcap_import_errors_repeated_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.stlog");
        let missing = dir.path().join("nosuch.pcap");
        let garbage = dir.path().join("garbage.pcap");
        std::fs::write(&garbage, b"this is not a capture file at all").unwrap();
        for (pcap, cause) in [
            (&missing, "No such file or directory (os error 2)"),
            (&garbage, "unknown file format"),
        ] {
            let (code, _, stderr) = run(&import_args(pcap, &out));
            assert_eq!(code, 1, "{stderr}");
            assert_eq!(
                error_line(&stderr),
                format!("shadowtap: error: cannot open {}: {cause}", pcap.display())
            );
        }
        assert!(
            !out.exists(),
            "no log is left for an import that never began"
        );
    }

    #[test]
    fn a_log_in_a_missing_directory_said_writing_the_log_failed() {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("empty.pcap");
        // A classic pcap file header (LINKTYPE_ETHERNET) and no packets.
        let mut header = Vec::new();
        for word in [0xa1b2_c3d4_u32, 0x0004_0002, 0, 0, 65535, 1] {
            header.extend_from_slice(&word.to_le_bytes());
        }
        std::fs::write(&pcap, &header).unwrap();
        let log = dir.path().join("no/such/dir/x.stlog");
        let enoent = "No such file or directory (os error 2)";

        let (code, _, stderr) = run(&import_args(&pcap, &log));
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            error_line(&stderr),
            format!("shadowtap: error: cannot write {}: {enoent}", log.display())
        );

        let mut args = os(&["serve", "--listen", "127.0.0.1:0", "--record"]);
        args.push(log.clone().into());
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(
            error_line(&stderr),
            format!(
                "shadowtap: error: cannot create the record file {}: {enoent}",
                log.display()
            )
        );
    }

    #[test]
    fn salvage_hint_named_a_flag_replay_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let damaged = crc_damaged_log(dir.path());
        let (_serve, target) = common::serve(&[]);

        // Without --salvage: the hint names a flag replay accepts.
        let mut args = os(&["replay", "--speed", "max", "--target", &target]);
        args.push(damaged.clone().into());
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 1, "{stderr}");
        assert!(error_line(&stderr).ends_with("--salvage skips damaged blocks"));

        // The same exchanges inspect --salvage keeps are replayed.
        let (code, kept, stderr) =
            run(&["inspect".into(), "--salvage".into(), damaged.clone().into()]);
        assert_eq!(code, 0, "{stderr}");
        let kept = kept.lines().count() as u64;
        let lost: u64 = stderr
            .split(" exchanges lost")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no loss count in {stderr:?}"));
        assert!(kept > 0 && lost > 0, "kept {kept}, lost {lost}");

        let mut args = os(&[
            "replay",
            "--salvage",
            "--speed",
            "max",
            "--report",
            "json",
            "--target",
            &target,
        ]);
        args.push(damaged.clone().into());
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let warning = format!(
            "shadowtap: warning: {}: skipped 1 damaged block(s): {lost} exchanges lost",
            damaged.display()
        );
        assert!(stderr.contains(&warning), "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["targets"][0]["sent"], kept, "{stdout}");
    }

    #[test]
    fn report_merge_of_a_non_report_said_expected_ident() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notalog.txt");
        std::fs::write(&text, "not json\n").unwrap();
        let other = dir.path().join("other.json");
        std::fs::write(&other, "{\"a\": 1}\n").unwrap();
        for path in [&text, &other] {
            let (code, stdout, stderr) = run(&["report".into(), "merge".into(), path.into()]);
            assert_eq!(code, 1, "{stderr}");
            assert!(stdout.is_empty());
            let line = error_line(&stderr);
            let want = format!(
                "shadowtap: error: {} is not a shadowtap JSON report (the output of replay --report json): ",
                path.display()
            );
            assert!(line.starts_with(&want), "{line}");
        }
    }

    #[test]
    fn negative_sample_got_clap_advice_to_write_dashes() {
        let log = sample_log();
        for (flag, value, cmd) in [
            ("--sample", "-5", "replay"),
            ("--rate", "-5", "replay"),
            ("--limit", "-5", "replay"),
            ("--concurrency", "-1", "replay"),
            ("--sample", "-5", "demo"),
            ("--limit", "-1", "inspect"),
            ("--top", "-3", "stats"),
            ("--body-size", "-5", "serve"),
            ("--max-body", "-1", "capture"),
        ] {
            let mut args = os(&[cmd, flag, value]);
            match cmd {
                "replay" => {
                    args.extend(os(&["--target", "http://127.0.0.1:9"]));
                    args.push(log.clone().into());
                }
                "inspect" | "stats" => args.push(log.clone().into()),
                "capture" => {
                    args.extend(os(&["--pcap", "none.pcap", "-o"]));
                    args.push(std::env::temp_dir().join("never-written.stlog").into());
                }
                _ => {}
            }
            let (code, _, stderr) = run(&args);
            assert_eq!(code, 2, "{cmd} {flag} {value}: {stderr}");
            assert!(!stderr.contains("-- -"), "{cmd} {flag} {value}: {stderr}");
            assert!(
                stderr.contains("negative values are not allowed"),
                "{cmd} {flag} {value}: {stderr}"
            );
        }
    }

    #[test]
    fn bare_rate_and_max_body_limit_were_undocumented() {
        for cmd in ["replay", "tee"] {
            let (code, help, _) = run(&os(&[cmd, "--help"]));
            assert_eq!(code, 0);
            let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains("A bare number is per second: `--rate 10` is `10/s`"),
                "{cmd} --help: {help}"
            );
        }
        for cmd in ["capture", "tee"] {
            let (code, help, _) = run(&os(&[cmd, "--help"]));
            assert_eq!(code, 0);
            let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                flat.contains("At most 16MiB, a hard limit: an exchange"),
                "{cmd} --help: {help}"
            );
        }
        // The documented bare rate is what the report shows.
        let (_serve, target) = common::serve(&[]);
        let mut args = os(&[
            "replay", "--speed", "max", "--limit", "3", "--rate", "10", "--report", "json",
            "--target", &target,
        ]);
        args.push(sample_log().into());
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["config"]["rate_per_s"], 10.0, "{stdout}");
    }

    /// A keep-alive HTTPS server on 127.0.0.1:0 (rustls, the self-signed
    /// certificate of `tests/data/tls`) answering 200 to every request.
    fn tls_target() -> String {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tls");
        let cert = CertificateDer::from(std::fs::read(data.join("self-signed.cert.der")).unwrap());
        let key = PrivateKeyDer::try_from(std::fs::read(data.join("self-signed.key.der")).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let config = config.clone();
                std::thread::spawn(move || serve_tls(tcp, config));
            }
        });
        format!("https://{addr}")
    }

    fn serve_tls(tcp: std::net::TcpStream, config: std::sync::Arc<rustls::ServerConfig>) {
        use shadowtap_format::http1::{Framer, Status};
        use std::io::{Read, Write};
        let _ = tcp.set_read_timeout(Some(common::WAIT));
        let Ok(conn) = rustls::ServerConnection::new(config) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut buf = vec![0u8; 16 * 1024];
        let mut framer = Framer::request();
        for _ in 0..100_000 {
            let n = match tls.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut off = 0;
            while off < n {
                let Ok(p) = framer.feed(&buf[off..n]) else {
                    return;
                };
                off += p.consumed;
                if p.status == Status::Complete {
                    if tls
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .and_then(|()| tls.flush())
                        .is_err()
                    {
                        return;
                    }
                    framer = Framer::request();
                }
            }
        }
    }

    /// Replays 5 requests of the sample to `target`; returns the report and
    /// stderr.
    fn replay_5(target: &str, extra: &[&str]) -> (serde_json::Value, String) {
        let mut args = os(&[
            "replay", "--speed", "max", "--limit", "5", "--report", "json",
        ]);
        args.extend(os(extra));
        args.extend(os(&["--target", target]));
        args.push(sample_log().into());
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        (serde_json::from_str(&stdout).unwrap(), stderr)
    }

    #[test]
    fn tls_errors_said_only_their_count() {
        // A self-signed certificate: why, and the flag that accepts it.
        let target = tls_target();
        let (report, stderr) = replay_5(&target, &[]);
        let t = &report["targets"][0];
        assert_eq!(t["errors"]["tls"], 5, "{report}");
        assert_eq!(t["tls_reasons"]["unknown_issuer"], 5, "{report}");
        assert!(
            stderr.contains(
                "  tls       unknown_issuer 5: the certificate is not signed by a trusted CA"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("  hint: --insecure accepts any certificate"),
            "{stderr}"
        );

        // The hint is right: with --insecure the same target answers.
        let (report, stderr) = replay_5(&target, &["--insecure"]);
        let t = &report["targets"][0];
        assert_eq!(t["completed"], 5, "{report}");
        assert!(t.get("tls_reasons").is_none(), "{report}");
        assert!(!stderr.contains("hint: --insecure"), "{stderr}");

        // https:// to a plain-HTTP server (it answers the ClientHello with
        // an HTTP 400): said so, and no --insecure hint.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = plain.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for tcp in plain.incoming() {
                let Ok(mut tcp) = tcp else { return };
                let _ = tcp.set_read_timeout(Some(common::WAIT));
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf);
                let _ = tcp.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let (report, stderr) = replay_5(&format!("https://{addr}"), &[]);
        let t = &report["targets"][0];
        assert_eq!(t["errors"]["tls"], 5, "{report}");
        assert_eq!(t["tls_reasons"]["not_tls"], 5, "{report}");
        assert!(
            stderr.contains("  tls       not_tls 5: the target does not answer in TLS"),
            "{stderr}"
        );
        assert!(!stderr.contains("hint: --insecure"), "{stderr}");
    }

    /// `inspect` and `stats` read request lines strictly, so a request the
    /// capture recorded flagged `req_malformed` (control bytes in its target)
    /// or cut short showed `?` for its method and URI. And printed as is, the
    /// target's escape bytes would have reached the terminal.
    #[test]
    fn inspect_showed_no_method_or_uri_for_malformed_requests() {
        use shadowtap_format::{Exchange, FileHeader, Flags, Writer, WriterOptions};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.stlog");
        let mut w =
            Writer::create(&path, &FileHeader::default(), WriterOptions::default()).unwrap();
        let requests: [(&[u8], Flags); 2] = [
            (
                b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: a\r\n\r\n",
                Flags::REQ_MALFORMED,
            ),
            (b"POST /cut/short/by/the/sn", Flags::REQ_INCOMPLETE),
        ];
        for (i, (request, flags)) in requests.into_iter().enumerate() {
            w.append(&Exchange {
                flags,
                ..Exchange::new(
                    i as u64,
                    i as u64,
                    "10.0.0.1:40000".parse().unwrap(),
                    "10.0.0.2:80".parse().unwrap(),
                    1_700_000_000_000_000_000,
                    request.to_vec(),
                )
            })
            .unwrap();
        }
        w.finish().unwrap();

        let run = |args: &[&str]| {
            let out = Command::new(common::BIN)
                .args(args)
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let text = run(&["inspect"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains(r"GET     /esc\x1b[31mRED ---"), "{text}");
        assert!(
            !text.contains('\x1b'),
            "an escape byte reached the output: {text:?}"
        );
        assert!(
            lines[1].contains("POST    /cut/short/by/the/sn ---"),
            "{text}"
        );

        let json = run(&["inspect", "--json"]);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(first["method"], "GET");
        assert_eq!(first["uri"], "/esc\u{1b}[31mRED");
        assert_eq!(first["host"], "a");

        let stats = run(&["stats"]);
        assert!(stats.contains("GET 1, POST 1"), "{stats}");
    }

    /// The integer and size flags said "negative values are not allowed",
    /// but every duration flag and `--speed` still got clap's advice to
    /// write `-- -1s`.
    #[test]
    fn negative_duration_and_speed_got_clap_advice_to_write_dashes() {
        let log = sample_log();
        let out = std::env::temp_dir().join("never-written.stlog");
        let mut cases: Vec<Vec<std::ffi::OsString>> = Vec::new();
        for flag in ["--timeout", "--max-gap", "--duration"] {
            let mut a = os(&["replay", flag, "-1s", "--target", "http://127.0.0.1:9"]);
            a.push(log.clone().into());
            cases.push(a);
        }
        let mut a = os(&["replay", "--speed", "-2x", "--target", "http://127.0.0.1:9"]);
        a.push(log.clone().into());
        cases.push(a);
        for flag in ["--delay", "--idle-timeout"] {
            cases.push(os(&["serve", "--listen", "127.0.0.1:0", flag, "-1s"]));
        }
        for flag in [
            "--duration",
            "--rotate-every",
            "--block-timeout",
            "--idle-timeout",
            "--stats-interval",
        ] {
            let mut a = os(&["capture", "--pcap", "none.pcap", flag, "-1s", "-o"]);
            a.push(out.clone().into());
            cases.push(a);
        }
        cases.push(os(&[
            "tee",
            "--interface",
            "lo",
            "--port",
            "1",
            "--target",
            "http://127.0.0.1:9",
            "--timeout",
            "-1s",
        ]));
        cases.push(os(&["demo", "--speed", "-1x"]));
        for args in cases {
            let (code, _, stderr) = run(&args);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(!stderr.contains("-- -"), "{args:?}: {stderr}");
            assert!(
                stderr.contains("negative values are not allowed")
                    || stderr.contains("invalid speed \"-"),
                "{args:?}: {stderr}"
            );
        }
    }

    /// `demo --sample -5` (or any value replay refuses) first described the
    /// run it was about to make, "with -5% of connections sampled", then
    /// refused the value: the refusal is now the only thing said.
    #[test]
    fn demo_described_a_run_with_a_bad_value_before_refusing_it() {
        for (flag, value) in [("--sample", "-5"), ("--sample", "101"), ("--speed", "fast")] {
            let (code, stdout, stderr) = run(&os(&["demo", flag, value]));
            assert_eq!(code, 2, "{flag} {value}: {stderr}");
            assert!(stdout.is_empty(), "{stdout}");
            assert!(!stderr.contains("replaying the bundled sample"), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }

    /// Found by the `gor_read` fuzz target
    /// (`fuzz/regressions/gor_read/latency-past-i64-max-did-not-read-back`):
    /// a response whose start is more than `i64::MAX` ns after its request's
    /// was written with that latency, which the reader parsed as a signed
    /// number and refused ("bad latency"), so `convert` could not read its
    /// own `.gor` back. The reader now takes the whole unsigned range.
    #[test]
    fn gor_latency_past_i64_max_did_not_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a.gor"),
            dir.path().join("b.gor"),
            dir.path().join("c.jsonl"),
        );
        let sep = "\n\u{1F435}\u{1F648}\u{1F649}\n";
        let resp_ns = 18_000_000_000_000_000_000u64;
        std::fs::write(
            &a,
            format!(
                "1 a 1 -1\nGET / HTTP/1.1\r\n\r\n{sep}2 a {resp_ns}\nHTTP/1.1 200 OK\r\n\r\n{sep}"
            ),
        )
        .unwrap();
        let convert = |from: &Path, to: &Path| {
            let (code, _, stderr) = run(&["convert".into(), from.into(), "-o".into(), to.into()]);
            assert_eq!(code, 0, "{stderr}");
        };
        convert(&a, &b);
        let written = std::fs::read_to_string(&b).unwrap();
        assert!(
            written.contains(&format!(" {resp_ns} {}\n", resp_ns - 1)),
            "{written}"
        );
        convert(&b, &c);
        let line = std::fs::read_to_string(&c).unwrap();
        assert!(line.contains(&format!("\"first_ns\":{resp_ns},")), "{line}");
    }
}

// (end of the command-line section)
