//! The capture side of tee: what becomes of each request complete on the
//! wire (queued for the mirror, or dropped and counted), and what that
//! tells the capture's pacing.

use std::sync::Arc;

use shadowtap_capture::{Pacing, RequestEvent};
use shadowtap_format::Exchange;
use shadowtap_replay::engine::FreeSlots;

use super::counts::Counters;
use super::pair::Responses;
use super::queue::{Producer, Pushed};

/// The capture side of the queue.
pub(crate) struct Tap {
    tx: Producer,
    next_id: u64,
    counters: Arc<Counters>,
    /// Told when the queue is full, so the capture reads less often while
    /// the mirror cannot keep up anyway.
    pacing: Pacing,
    /// The targets' free slots, when a request that finds none is dropped
    /// anyway (see `FreeSlots`): it is then dropped here.
    slots: Option<FreeSlots>,
    saturation: Saturation,
    /// `--compare`: production's responses to the queued requests.
    responses: Option<Responses>,
}

impl Tap {
    pub(crate) fn new(
        tx: Producer,
        counters: Arc<Counters>,
        pacing: Pacing,
        slots: Option<FreeSlots>,
        saturation: Saturation,
    ) -> Tap {
        Tap {
            tx,
            next_id: 0,
            counters,
            pacing,
            slots,
            saturation,
            responses: None,
        }
    }

    /// Also hands production's response to each queued request over.
    pub(crate) fn with_responses(mut self, r: Responses) -> Tap {
        self.responses = Some(r);
        self
    }

    /// The capture completed `ex`, request `index` of its connection.
    pub(crate) fn answered(&mut self, index: u64, ex: &Exchange) {
        if let Some(r) = &mut self.responses {
            r.answered(index, ex);
        }
    }

    /// An admitted request that was not queued after all.
    fn withdraw(&self) {
        if let Some(slots) = &self.slots {
            slots.withdraw();
        }
    }

    /// The queue was full: dropped, and the capture told to read less often.
    fn queue_full(&self) {
        self.withdraw();
        self.counters.queue_full();
        self.pacing.fell_behind();
    }

    pub(crate) fn offer(&mut self, req: &RequestEvent<'_>) {
        self.next_id += 1;
        self.counters.captured();
        if let Some(slots) = &self.slots {
            // Admitted: counted ahead of the scheduler until it takes its
            // slots, so a burst read at once does not all pass on one slot.
            let free = slots.admit();
            let signal = if free {
                self.saturation.free()
            } else {
                self.saturation.full()
            };
            match signal {
                PaceSignal::None => {}
                PaceSignal::FellBehind => self.pacing.fell_behind(),
                PaceSignal::CaughtUp => self.pacing.caught_up(),
            }
            if !free {
                // Every target would drop it: dropped here, before it is
                // copied, queued, or wakes a mirror thread.
                self.counters.no_slot();
                return;
            }
        }
        if self.tx.is_full() {
            self.queue_full();
            return;
        }
        let ex = Exchange {
            req_last_ns: req.last_ns,
            flags: req.flags,
            request_len: req.request_len,
            ..Exchange::new(
                self.next_id,
                req.conn,
                req.client,
                req.server,
                req.first_ns,
                req.request.to_vec(),
            )
        };
        match self.tx.push(ex) {
            Pushed::Queued => {
                self.counters.queued();
                if let Some(r) = &mut self.responses {
                    r.queued(req.conn, req.index, self.next_id);
                }
            }
            // The mirror stopped (interrupted): counted at the end, as
            // captured but never sent (`shutdown`).
            Pushed::Closed => self.withdraw(),
            Pushed::Full => self.queue_full(),
        }
    }
}

/// After this many requests in a row found no target with a free slot, the
/// capture reads less often (see `Saturation`).
const SATURATED_AFTER: u32 = 16;

/// What a run of requests that found no free slot tells the capture's
/// pacing.
///
/// With the mirror threads at idle priority, targets without a free slot
/// for request after request mean the mirror gets too little CPU to finish
/// what it holds, or its targets are too slow: the requests are dropped
/// anyway, and waking every block timeout to drop them sooner costs the
/// busy host CPU time. After [`SATURATED_AFTER`] in a row the capture reads
/// as it does on a full queue (see `Pacing`), until a request finds a free
/// slot. At normal priority the mirror has its share of the CPU and the
/// capture keeps its pace.
#[derive(Debug, Default)]
pub(crate) struct Saturation {
    /// Pace at all (the mirror runs at idle priority).
    enabled: bool,
    /// Requests in a row that found no free slot.
    streak: u32,
    /// The pacing was told the mirror fell behind for lack of slots.
    pacing: bool,
}

/// What `Saturation` asks of the pacing.
#[derive(Debug, PartialEq, Eq)]
enum PaceSignal {
    None,
    FellBehind,
    CaughtUp,
}

impl Saturation {
    pub(crate) fn new(enabled: bool) -> Saturation {
        Saturation {
            enabled,
            ..Saturation::default()
        }
    }

    /// A request found no free slot.
    fn full(&mut self) -> PaceSignal {
        self.streak = self.streak.saturating_add(1);
        if !self.enabled || self.streak < SATURATED_AFTER {
            return PaceSignal::None;
        }
        // Told for every drop, not once: the pacing holds for a while after
        // the last report only.
        self.pacing = true;
        PaceSignal::FellBehind
    }

    /// A request found a free slot.
    fn free(&mut self) -> PaceSignal {
        self.streak = 0;
        if std::mem::take(&mut self.pacing) {
            PaceSignal::CaughtUp
        } else {
            PaceSignal::None
        }
    }
}

#[cfg(test)]
mod tests;
