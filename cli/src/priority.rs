//! CPU priority of the mirror side of `tee`: production traffic first.
//!
//! `tee` runs on production hosts. Its capture thread keeps the normal
//! priority (like tcpdump: falling behind would lose packets in the kernel,
//! uncounted), while the threads that rewrite and send mirror requests can
//! be moved to Linux's `SCHED_IDLE` class: they then run only on CPU time
//! nothing else wants. When production saturates the CPUs the mirror queue
//! fills and further requests are dropped for the mirror and counted, instead
//! of the mirror taking CPU from the service it copies.

/// Which priority the mirror threads of `tee` run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MirrorPriority {
    /// `SCHED_IDLE`: only CPU time nothing else wants (Linux; elsewhere the
    /// lowest nice level).
    Idle,
    /// The same priority as everything else.
    Normal,
}

/// Moves the calling thread (only it, and threads it creates later) to the
/// idle class.
pub fn make_current_thread_idle() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid pointer
        // for the duration of the call.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: plain libc call on the calling process.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The calling thread's scheduling policy (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
fn current_policy() -> i32 {
    // SAFETY: pid 0 is the calling thread.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn idle_applies_to_the_calling_thread_and_its_children_only() {
        let before = current_policy();
        let (mine, child) = std::thread::spawn(|| {
            make_current_thread_idle().unwrap();
            let child = std::thread::spawn(current_policy).join().unwrap();
            (current_policy(), child)
        })
        .join()
        .unwrap();
        assert_eq!(mine, libc::SCHED_IDLE);
        assert_eq!(child, libc::SCHED_IDLE, "threads created later inherit it");
        assert_eq!(current_policy(), before, "other threads keep theirs");
    }
}
