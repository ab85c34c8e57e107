use shadowtap_replay::client::Target;
use shadowtap_replay::engine::{Config, Engine};

use super::*;
use crate::tee::queue::tests::ex;
use crate::tee::queue::{queue, Consumer};

/// A request event over `req`'s bytes.
fn event(req: &Exchange) -> RequestEvent<'_> {
    RequestEvent {
        conn: req.conn,
        index: 0,
        client: req.client,
        server: req.server,
        first_ns: 0,
        last_ns: 0,
        flags: req.flags,
        request: &req.request,
        request_len: req.request_len,
    }
}

/// The free slots of a live mirror to one target with `concurrency` slots
/// (nothing is sent: the engine is never run).
fn free_slots(concurrency: usize) -> FreeSlots {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = Config::new(
        Vec::new(),
        vec![Target::parse("http://127.0.0.1:9").unwrap()],
    );
    config.mode = shadowtap_replay::engine::Mode::Live;
    config.concurrency = concurrency;
    let engine = rt.block_on(Engine::new(config)).unwrap();
    engine
        .free_slots()
        .expect("a live mirror without limits has them")
}

/// A tap over a queue of `len`, its consumer, counters and pacing.
struct Rig {
    tap: Tap,
    rx: Consumer,
    counters: Arc<Counters>,
    pacing: Pacing,
}

fn rig(len: usize, slots: Option<FreeSlots>, idle: bool) -> Rig {
    let (tx, rx) = queue(len);
    let counters = Arc::new(Counters::default());
    let pacing = Pacing::default();
    let tap = Tap::new(
        tx,
        counters.clone(),
        pacing.clone(),
        slots,
        Saturation::new(idle),
    );
    Rig {
        tap,
        rx,
        counters,
        pacing,
    }
}

#[test]
fn a_full_queue_asks_the_capture_to_read_less_often() {
    let Rig {
        mut tap,
        mut rx,
        counters,
        pacing,
    } = rig(1, None, true);
    let req = ex(0);
    tap.offer(&event(&req));
    assert!(!pacing.pending(), "a queued request is no report");
    tap.offer(&event(&req));
    assert!(pacing.pending(), "a dropped one is");
    assert_eq!(counters.snapshot().queue_full, 1);
    assert_eq!(rx.pop().map(|e| e.id), Some(1));
}

#[test]
fn a_request_that_finds_no_free_slot_is_dropped_at_the_capture_and_never_queued() {
    let slots = free_slots(1);
    let Rig {
        mut tap,
        mut rx,
        counters,
        ..
    } = rig(8, Some(slots.clone()), true);
    let req = ex(0);
    // The one slot goes to the first request, counted ahead of the
    // scheduler; the next three find none.
    for _ in 0..4 {
        tap.offer(&event(&req));
    }
    let counts = counters.snapshot();
    assert_eq!(counts.captured, 4);
    assert_eq!(counts.no_slot, 3);
    assert_eq!(counts.queue_full, 0);
    assert_eq!(counts.depth, 1);
    assert_eq!(slots.ahead(), 1);
    drop(tap);
    assert_eq!(rx.pop().map(|e| e.id), Some(1));
    assert!(rx.pop().is_none(), "nothing else was queued");
}

#[test]
fn an_admitted_request_the_queue_cannot_take_gives_its_slot_back() {
    let slots = free_slots(4);
    // The consumer stays: a closed queue is another case.
    let Rig {
        mut tap,
        rx: _rx,
        counters,
        ..
    } = rig(1, Some(slots.clone()), true);
    let req = ex(0);
    tap.offer(&event(&req));
    tap.offer(&event(&req));
    let counts = counters.snapshot();
    assert_eq!((counts.queue_full, counts.no_slot), (1, 0));
    assert_eq!(slots.ahead(), 1, "only the queued request is ahead");
}

#[test]
fn a_captured_request_keeps_its_wire_length_and_times() {
    let Rig {
        mut tap, mut rx, ..
    } = rig(1, None, false);
    let req = ex(0);
    let mut e = event(&req);
    e.first_ns = 5;
    e.last_ns = 9;
    // The request as recorded was capped: its wire length is longer.
    e.request_len = 1000;
    tap.offer(&e);
    let got = rx.pop().unwrap();
    assert_eq!((got.id, got.req_first_ns, got.req_last_ns), (1, 5, 9));
    assert_eq!(got.request_len, 1000);
    assert_eq!(got.request, req.request);
}

#[test]
fn a_run_of_requests_without_a_free_slot_paces_the_capture_until_one_finds_one() {
    let mut s = Saturation::new(true);
    for i in 1..SATURATED_AFTER {
        assert_eq!(s.full(), PaceSignal::None, "request {i} of the run");
    }
    // From the run's last request on, every drop is reported (the
    // pacing holds only for a while after the last report).
    assert_eq!(s.full(), PaceSignal::FellBehind);
    assert_eq!(s.full(), PaceSignal::FellBehind);
    assert_eq!(
        s.free(),
        PaceSignal::CaughtUp,
        "the first free slot ends it"
    );
    assert_eq!(s.free(), PaceSignal::None, "said once");
    // A run cut short by a free slot starts over.
    for _ in 1..SATURATED_AFTER {
        assert_eq!(s.full(), PaceSignal::None);
    }
    assert_eq!(s.free(), PaceSignal::None);
    assert_eq!(s.full(), PaceSignal::None);
}

#[test]
fn without_idle_priority_no_run_paces_the_capture() {
    let mut s = Saturation::new(false);
    for _ in 0..10 * SATURATED_AFTER {
        assert_eq!(s.full(), PaceSignal::None);
    }
    assert_eq!(s.free(), PaceSignal::None);
}
