//! Helpers shared by the end-to-end tests that run real processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod api;
pub mod api_server;
pub mod compare_run;

pub const BIN: &str = env!("CARGO_BIN_EXE_shadowtap");
/// Bound of every wait for a process.
pub const WAIT: Duration = Duration::from_secs(20);

#[path = "../../../capture/tests/support/gate.rs"]
mod gate;
#[allow(unused_imports)] // each test binary uses its own part
pub use gate::{have, is_root, require_root, require_tool};

/// A child process killed when dropped (a failing test leaves nothing
/// running).
pub struct Guard(pub Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns a command and waits (bounded) for a stderr line containing
/// `ready`; the rest of stderr keeps flowing to the returned channel.
pub fn spawn_until(cmd: &mut Command, ready: &str) -> (Guard, mpsc::Receiver<String>) {
    let (guard, _, rx) = spawn_ready(cmd, ready);
    (guard, rx)
}

/// `shadowtap serve --listen 127.0.0.1:0` with `extra` flags, and its URL
/// (`http://127.0.0.1:PORT`), once it listens.
pub fn serve(extra: &[&str]) -> (Guard, String) {
    let (guard, line, _rx) = spawn_ready(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null()),
        "listening on ",
    );
    let addr = line
        .split("listening on ")
        .nth(1)
        .expect("serve says where it listens")
        .trim()
        .to_owned();
    (guard, format!("http://{addr}"))
}

/// As [`spawn_until`], also returning the ready line itself.
pub fn spawn_ready(cmd: &mut Command, ready: &str) -> (Guard, String, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        match rx.recv_timeout(WAIT) {
            Ok(line) if line.contains(ready) => return (Guard(Some(child)), line, rx),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("{cmd:?} did not print {ready:?}: {e}");
            }
        }
    }
}

/// SIGINT, then wait (bounded) for the exit status.
pub fn interrupt(mut guard: Guard) -> i32 {
    let mut child = guard.0.take().expect("running child");
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx
        .recv_timeout(WAIT)
        .expect("process did not stop after SIGINT")
        .unwrap();
    status.code().unwrap_or(-1)
}

/// Runs `shadowtap ARGS` (stdin empty, stdout and stderr captured), killed
/// after a minute.
pub fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(&mut child)
}

/// Waits for the child, killing it after a minute (a hung replay fails the
/// test instead of hanging it).
pub fn wait_bounded(child: &mut Child) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<()>();
    let guard = std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    let _ = tx.send(());
    let _ = guard.join();
    Output {
        status,
        stdout,
        stderr,
    }
}
