//! The one shutdown token of every command.
//!
//! [`Shutdown::install`] starts, once per process, a thread that waits for
//! SIGINT and SIGTERM (signal-hook's self-pipe iterator: the signal handler
//! itself only writes a byte) and counts them in the process's token. Every
//! command asks that token in the form its code needs:
//!
//! - sync loops (the capture loop) poll [`Shutdown::flag`], an `AtomicBool`
//!   set at the first signal;
//! - async code awaits [`Shutdown::first`] or [`Shutdown::nth`] (`replay`
//!   and `tee`: the first signal drains, the second stops at once);
//! - [`Shutdown::signals`] says how many came.
//!
//! [`Shutdown::new`] makes a token no signal reaches, which
//! [`Shutdown::trigger`] fires by hand: for tests, and for code that stops
//! a run for its own reasons.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::Notify;

/// A cheap, cloneable view of one shutdown: every clone sees the same
/// signals.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Set at the first signal.
    stop: AtomicBool,
    /// Signals so far.
    count: AtomicU32,
    /// Wakes the futures of [`Shutdown::nth`] at every signal.
    notify: Notify,
}

impl Shutdown {
    /// A token that only [`trigger`](Shutdown::trigger) fires.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// The process's token, with SIGINT and SIGTERM counted into it from now
    /// on (the handlers are installed by the first call; later calls return
    /// the same token). Until then both signals keep their default action,
    /// ending the process.
    pub fn install() -> io::Result<Shutdown> {
        static STARTED: Mutex<bool> = Mutex::new(false);
        let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
        let token = Shutdown::process();
        if !*started {
            let mut signals = Signals::new([SIGINT, SIGTERM])?;
            let counted = token.clone();
            std::thread::Builder::new()
                .name("shadowtap-signals".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        counted.trigger();
                    }
                })?;
            *started = true;
        }
        Ok(token.clone())
    }

    /// The process's token, whether or not [`install`](Shutdown::install)
    /// has run yet.
    pub fn process() -> &'static Shutdown {
        static PROCESS: OnceLock<Shutdown> = OnceLock::new();
        PROCESS.get_or_init(Shutdown::new)
    }

    /// Counts one signal, as if SIGINT had come.
    pub fn trigger(&self) {
        // The count first: whoever sees the flag set sees at least one.
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// True once a signal came, for loops that poll.
    pub fn flag(&self) -> &AtomicBool {
        &self.inner.stop
    }

    /// How many signals came.
    pub fn signals(&self) -> u32 {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// Resolves at the first signal (at once if one came already).
    pub fn first(&self) -> impl Future<Output = ()> + Send + 'static {
        self.nth(1)
    }

    /// Resolves once `n` signals have come.
    pub fn nth(&self, n: u32) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            loop {
                // Registered before the count is read, so a signal between
                // the two still wakes this future.
                let notified = inner.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if inner.count.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn futures_resolve_at_their_signal_and_the_flag_is_set_at_the_first() {
        let token = Shutdown::new();
        let first = tokio::spawn(token.first());
        let second = tokio::spawn(token.nth(2));
        assert!(!token.flag().load(Ordering::SeqCst));
        assert_eq!(token.signals(), 0);

        token.clone().trigger();
        first.await.unwrap();
        assert!(token.flag().load(Ordering::SeqCst));
        assert_eq!(token.signals(), 1);
        assert!(!second.is_finished());

        token.trigger();
        second.await.unwrap();
        assert_eq!(token.signals(), 2);
        // A future made after its signal resolves at once.
        token.nth(2).await;
        token.first().await;
    }
}
