//! `tee --compare`: production's own response to each mirrored request is
//! the baseline its mirror answers are compared with.
//!
//! A request reaches the mirror the moment it is complete on the wire,
//! long before production answers it, so the two sides meet later:
//!
//! - **The capture thread** (the tap) remembers which connection and
//!   position each queued request had ([`Responses`]); when the capture
//!   completes that exchange, its response goes, with the request's tap id,
//!   into a second wait-free queue (full: dropped and counted, the capture
//!   never waits). It takes no lock.
//! - **The mirror's input thread** registers each request it turned into a
//!   comparable request ([`Pairing::register`]), and says how far it got
//!   ([`Pairing::taken`]).
//! - **The pairing thread** takes production's responses from the queue,
//!   decodes each once, and gives it to its request
//!   ([`Comparing::fulfil`]): the mirror answers already in are compared
//!   there, later ones when they come.
//!
//! A response that comes before its request was registered waits for it;
//! one whose request the mirror left out (filtered or sampled out,
//! skipped) is
//! forgotten. Both waiting sides are bounded ([`Pairing::new`]'s `max`,
//! oldest first out): a request that loses its response this way, or
//! never gets one, is counted by the comparison as having no baseline.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use shadowtap_format::Exchange;
use shadowtap_replay::engine::{Comparing, Recorded};

use super::counts::Counters;
use super::queue::{Producer, Pushed};

/// The capture thread's half: which queued request each exchange answers.
pub(crate) struct Responses {
    tx: Producer,
    /// (connection, request index) → tap id, of queued requests whose
    /// exchange is not complete yet.
    ids: HashMap<(u64, u64), u64>,
    max: u64,
    counters: Arc<Counters>,
}

impl Responses {
    /// Responses go to `tx`; at most `max` requests are remembered (the
    /// oldest are forgotten past it).
    pub(crate) fn new(tx: Producer, max: usize, counters: Arc<Counters>) -> Responses {
        Responses {
            tx,
            ids: HashMap::new(),
            max: max.max(1) as u64,
            counters,
        }
    }

    /// Request `index` of connection `conn` was queued with tap id `id`.
    pub(crate) fn queued(&mut self, conn: u64, index: u64, id: u64) {
        self.ids.insert((conn, index), id);
        if self.ids.len() as u64 > 2 * self.max {
            // Amortized: at most once per `max` requests.
            let oldest = id.saturating_sub(self.max);
            self.ids.retain(|_, v| *v > oldest);
        }
    }

    /// The capture completed `ex`, request `index` of its connection.
    pub(crate) fn answered(&mut self, index: u64, ex: &Exchange) {
        let Some(id) = self.ids.remove(&(ex.conn, index)) else {
            return;
        };
        // Only what the comparison needs: the response, the request's time.
        let mut copy = Exchange::new(
            id,
            ex.conn,
            ex.client,
            ex.server,
            ex.req_first_ns,
            Vec::new(),
        );
        copy.flags = ex.flags;
        copy.response = ex.response.clone();
        match self.tx.push(copy) {
            Pushed::Queued => {}
            Pushed::Full | Pushed::Closed => self.counters.response_dropped(),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Requests registered, waiting for production's response.
    waiting: BTreeMap<u64, Arc<Recorded>>,
    /// Responses that came before their request was registered.
    early: BTreeMap<u64, Exchange>,
    /// Every request up to this tap id was registered or left out.
    taken: u64,
}

/// The mirror's half: requests and production's responses meet here.
pub(crate) struct Pairing {
    comparing: Arc<Comparing>,
    inner: Mutex<Inner>,
    max: usize,
}

impl Pairing {
    /// Pairs for `comparing`, at most `max` waiting on each side.
    pub(crate) fn new(comparing: Arc<Comparing>, max: usize) -> Pairing {
        Pairing {
            comparing,
            inner: Mutex::new(Inner::default()),
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The input took the request of tap id `id`: every earlier one was
    /// registered or left out.
    pub(crate) fn taken(&self, id: u64) {
        let mut inner = self.lock();
        inner.taken = inner.taken.max(id.saturating_sub(1));
        // Early responses of requests left out will never be claimed.
        let taken = inner.taken;
        while inner
            .early
            .first_key_value()
            .is_some_and(|(k, _)| *k <= taken)
        {
            inner.early.pop_first();
        }
    }

    /// The request of tap id `id` is compared as `rec`.
    pub(crate) fn register(&self, id: u64, rec: &Arc<Recorded>) {
        let mut inner = self.lock();
        if let Some(ex) = inner.early.remove(&id) {
            drop(inner);
            self.fulfil(rec, &ex);
            return;
        }
        inner.waiting.insert(id, rec.clone());
        let evicted = if inner.waiting.len() > self.max {
            inner.waiting.pop_first()
        } else {
            None
        };
        drop(inner);
        // Let go outside the lock: its slot counts what waits in it.
        drop(evicted);
    }

    /// Production's exchange for the request of tap id `ex.id`.
    pub(crate) fn respond(&self, ex: Exchange) {
        let rec = {
            let mut inner = self.lock();
            match inner.waiting.remove(&ex.id) {
                Some(rec) => rec,
                None => {
                    if ex.id > inner.taken {
                        inner.early.insert(ex.id, ex);
                        if inner.early.len() > self.max {
                            inner.early.pop_first();
                        }
                    }
                    return;
                }
            }
        };
        self.fulfil(&rec, &ex);
    }

    /// Gives `rec` production's answer in `ex` (none: production's
    /// response was not captured whole, or not at all).
    fn fulfil(&self, rec: &Recorded, ex: &Exchange) {
        self.comparing
            .fulfil_recorded(rec, ex.response.as_ref(), ex.req_first_ns);
    }

    /// The run ended: what still waits is let go (requests without their
    /// response are counted as having no baseline).
    pub(crate) fn finish(&self) {
        let (waiting, early) = {
            let mut inner = self.lock();
            (
                std::mem::take(&mut inner.waiting),
                std::mem::take(&mut inner.early),
            )
        };
        drop(waiting);
        drop(early);
    }
}

#[cfg(test)]
mod tests;
