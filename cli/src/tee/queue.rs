//! The bounded queue between tee's capture thread and the mirror's input
//! thread: an `rtrb` ring plus a wake-up half.
//!
//! Both sides are wait-free: the mirror threads may run at idle priority
//! and wait long for a CPU, and the capture thread must never wait for one
//! of them, neither on a lock (as `std::sync::mpsc`'s wake-up path takes)
//! nor on a slot a preempted consumer is halfway through (as multi-producer
//! lock-free queues may). The consumer parks when the ring is empty and the
//! producer unparks it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use shadowtap_format::Exchange;

/// How long the consumer parks at most before looking again (a bound on
/// the delay of a missed wake-up, which the protocol below should prevent).
const PARK_AT_MOST: Duration = Duration::from_millis(20);

/// The wake-up half of the queue.
#[derive(Default)]
struct Wake {
    /// The consumer announced it is about to park.
    sleeping: AtomicBool,
    /// The consumer's thread, set on its first call.
    consumer: OnceLock<Thread>,
}

impl Wake {
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            if let Some(t) = self.consumer.get() {
                t.unpark();
            }
        }
    }
}

/// What became of an offered exchange.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The ring is full: dropped.
    Full,
    /// The mirror has stopped: dropped here, counted at the end with what
    /// the mirror still held (`shutdown`).
    Closed,
}

/// The capture's end of the queue.
pub(crate) struct Producer {
    ring: Option<rtrb::Producer<Exchange>>,
    wake: Arc<Wake>,
}

impl Producer {
    /// No free slot now (checked before building an exchange for nothing).
    pub(crate) fn is_full(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.slots() == 0)
    }

    pub(crate) fn push(&mut self, ex: Exchange) -> Pushed {
        let Some(ring) = self.ring.as_mut() else {
            return Pushed::Closed;
        };
        if ring.is_abandoned() {
            return Pushed::Closed;
        }
        if ring.push(ex).is_err() {
            return Pushed::Full;
        }
        self.wake.wake();
        Pushed::Queued
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Abandon the ring first, so the woken consumer sees it closed.
        drop(self.ring.take());
        if let Some(t) = self.wake.consumer.get() {
            t.unpark();
        }
    }
}

/// The mirror's end of the queue.
pub(crate) struct Consumer {
    ring: rtrb::Consumer<Exchange>,
    wake: Arc<Wake>,
}

impl Consumer {
    /// The next exchange, waiting for one; `None` once the producer is gone
    /// and the ring is empty.
    pub(crate) fn pop(&mut self) -> Option<Exchange> {
        self.wake.consumer.get_or_init(std::thread::current);
        loop {
            if let Ok(ex) = self.ring.pop() {
                return Some(ex);
            }
            if self.ring.is_abandoned() {
                // The producer's last push happened before it let go.
                return self.ring.pop().ok();
            }
            self.wake.sleeping.store(true, Ordering::SeqCst);
            // Look again after announcing: a push that missed the flag is
            // seen here; one that saw it unparks us.
            if self.ring.is_empty() && !self.ring.is_abandoned() {
                std::thread::park_timeout(PARK_AT_MOST);
            }
            self.wake.sleeping.store(false, Ordering::SeqCst);
        }
    }
}

/// A queue of `capacity` exchanges (at least 1).
pub(crate) fn queue(capacity: usize) -> (Producer, Consumer) {
    let (p, c) = rtrb::RingBuffer::new(capacity);
    let wake = Arc::new(Wake::default());
    (
        Producer {
            ring: Some(p),
            wake: wake.clone(),
        },
        Consumer { ring: c, wake },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete GET with id `id`.
    pub(crate) fn ex(id: u64) -> Exchange {
        Exchange::new(
            id,
            0,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            0,
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        )
    }

    #[test]
    fn queue_is_bounded_and_drains_after_the_producer_left() {
        let (mut tx, mut rx) = queue(2);
        assert_eq!(tx.push(ex(1)), Pushed::Queued);
        assert_eq!(tx.push(ex(2)), Pushed::Queued);
        assert!(tx.is_full());
        assert_eq!(tx.push(ex(3)), Pushed::Full);
        drop(tx);
        assert_eq!(rx.pop().map(|e| e.id), Some(1));
        assert_eq!(rx.pop().map(|e| e.id), Some(2));
        assert!(rx.pop().is_none());
    }

    #[test]
    fn push_after_the_consumer_left_queues_nothing() {
        let (mut tx, rx) = queue(2);
        drop(rx);
        assert_eq!(tx.push(ex(1)), Pushed::Closed);
    }

    #[test]
    fn queue_delivers_everything_in_order_across_threads() {
        const N: u64 = 100_000;
        let (mut tx, mut rx) = queue(64);
        let consumer = std::thread::spawn(move || {
            let mut next = 0;
            while let Some(e) = rx.pop() {
                assert_eq!(e.id, next);
                next += 1;
            }
            next
        });
        let mut i = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while i < N {
            assert!(std::time::Instant::now() < deadline, "consumer stalled");
            match tx.push(ex(i)) {
                Pushed::Queued => i += 1,
                _ => std::thread::yield_now(),
            }
        }
        drop(tx);
        assert_eq!(consumer.join().unwrap(), N);
    }
}
