//! The live progress line on stderr (`replay`, `capture --pcap`).
//!
//! Drawn only when stderr is a terminal whose `TERM` is not `dumb`, and
//! never with `--no-progress`: piped or redirected stderr stays exactly as
//! it was. The line uses no colours, so `NO_COLOR` has nothing to turn off.
//!
//! The hot path never calls into the bar. A [`Ticker`] thread of its own
//! reads counters the run keeps anyway every [`TICK`] and sets the bar
//! from them; drawing (a write to the terminal, which can block) happens
//! there, never on a runtime worker or the capture loop. While a bar is
//! shown, every line of `say!` goes through [`suspend`], which takes the
//! bar off the screen, writes the line and draws the bar again below it,
//! so warnings and the bar never share a line; the bar is cleared before
//! the summary.

use std::io::IsTerminal as _;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the ticker reads the counters and redraws.
pub(crate) const TICK: Duration = Duration::from_millis(200);

/// The bar on screen, if any: what [`suspend`] takes off it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether to draw a progress line: stderr is a terminal that can move its
/// cursor (`TERM` is not `dumb`), and `--no-progress` was not given.
pub(crate) fn wanted(no_progress: bool) -> bool {
    !no_progress
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Runs `f` (which writes to stderr) with the bar, if one is shown, taken
/// off the screen meanwhile.
pub(crate) fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let bar = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// The look of a line: `template` in indicatif's syntax, `{bar}` in plain
/// ASCII.
pub(crate) fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A bar of `len` units (`None`: unknown, a count without a bar) in the
/// look of `template`, not drawn until [`show`]n.
pub(crate) fn bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
    bar.set_style(style(template));
    bar
}

/// Draws `bar` on stderr from now on (once its length is known, so no
/// placeholder is ever drawn).
pub(crate) fn show(bar: &ProgressBar) {
    if bar.is_hidden() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
}

/// The thread that keeps a bar up to date until [`Ticker::finish`].
pub(crate) struct Ticker {
    bar: ProgressBar,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Shows `bar` and calls `update` with it at once, every [`TICK`], and
    /// a last time when finished.
    pub(crate) fn start(
        bar: ProgressBar,
        mut update: impl FnMut(&ProgressBar) + Send + 'static,
    ) -> Ticker {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        let (stop, stopped) = mpsc::channel::<()>();
        let shown = bar.clone();
        let thread = std::thread::Builder::new()
            .name("shadowtap-progress".into())
            .spawn(move || loop {
                update(&shown);
                match stopped.recv_timeout(TICK) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => {
                        update(&shown);
                        return;
                    }
                }
            })
            .ok();
        Ticker {
            bar,
            stop: Some(stop),
            thread,
        }
    }

    /// Stops the ticker after a last update and clears the bar.
    pub(crate) fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.bar.finish_and_clear();
    }
}

impl Drop for Ticker {
    /// An error path clears the bar too: the message is then said on a
    /// line of its own.
    fn drop(&mut self) {
        self.end();
    }
}

/// A duration as `1:02:03` or `02:03`, to the second.
pub(crate) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_as_written() {
        assert_eq!(clock(Duration::from_secs(0)), "00:00");
        assert_eq!(clock(Duration::from_secs(125)), "02:05");
        assert_eq!(clock(Duration::from_secs(3725)), "1:02:05");
    }

    #[test]
    fn without_a_bar_suspend_just_runs() {
        assert_eq!(suspend(|| 7), 7);
    }
}
