use std::sync::Arc;

use shadowtap_format::{Exchange, Response};
use shadowtap_replay::compare::endpoint::Endpoints;
use shadowtap_replay::compare::rules::Rules;
use shadowtap_replay::compare::tally::TallyConfig;
use shadowtap_replay::compare::{Comparer, Options};
use shadowtap_replay::engine::{Baseline, Comparing, NotCompared, Recorded};
use shadowtap_replay::rewrite::{HostMode, Rewriter};

use super::super::counts::Counters;
use super::super::queue::queue;
use super::*;

fn comparing() -> Arc<Comparing> {
    Arc::new(
        Comparing::new(
            Comparer::new(Rules::new(&[], &[], true).unwrap(), Options::default()),
            Endpoints::new(&[]).unwrap(),
            TallyConfig::default(),
            &["http://mirror".to_owned()],
            None,
        )
        .against(Baseline::External),
    )
}

const REQUEST: &[u8] = b"GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n";

/// Tap id `id`'s request, as the feed makes it.
fn request(c: &Comparing, id: u64) -> Arc<Recorded> {
    let mut ex = exchange(id, None);
    let p = Rewriter::new(HostMode::default(), Vec::new())
        .rewrite(REQUEST)
        .unwrap();
    Arc::new(c.recorded(0, &mut ex, &p))
}

fn exchange(id: u64, body: Option<&str>) -> Exchange {
    let ex = Exchange::new(
        id,
        7,
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        1_000,
        REQUEST.to_vec(),
    );
    match body {
        Some(b) => ex.with_response(Response::new(
            200,
            2_000,
            1_001_000,
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes(),
            b.as_bytes().to_vec(),
        )),
        None => ex,
    }
}

#[test]
fn a_response_meets_its_request_in_either_order() {
    let c = comparing();
    let p = Pairing::new(c.clone(), 16);
    // Registered first.
    let a = request(&c, 1);
    p.taken(1);
    p.register(1, &a);
    p.respond(exchange(1, Some("{}")));
    // The response first.
    p.respond(exchange(2, Some("{}")));
    let b = request(&c, 2);
    p.taken(2);
    p.register(2, &b);
    let lock = p.lock();
    assert!(lock.waiting.is_empty() && lock.early.is_empty());
    drop(lock);
    p.finish();
    drop((a, b));
    assert_eq!(c.not_compared(), NotCompared::default());
}

#[test]
fn responses_of_requests_left_out_are_forgotten() {
    let c = comparing();
    let p = Pairing::new(c.clone(), 16);
    // Request 1 was sampled out: the input went on to 2.
    p.taken(2);
    p.respond(exchange(1, Some("{}")));
    assert!(p.lock().early.is_empty());
    // An early response is forgotten once the input passed its request.
    p.respond(exchange(3, Some("{}")));
    assert_eq!(p.lock().early.len(), 1);
    p.taken(4);
    assert!(p.lock().early.is_empty());
}

#[test]
fn both_sides_are_bounded_oldest_out() {
    let c = comparing();
    let p = Pairing::new(c.clone(), 2);
    let held: Vec<Arc<Recorded>> = (1..=3).map(|i| request(&c, i)).collect();
    for (i, r) in held.iter().enumerate() {
        p.register(i as u64 + 1, r);
    }
    let ids: Vec<u64> = p.lock().waiting.keys().copied().collect();
    assert_eq!(ids, [2, 3]);
    for i in 10..13 {
        p.respond(exchange(i, Some("{}")));
    }
    let ids: Vec<u64> = p.lock().early.keys().copied().collect();
    assert_eq!(ids, [11, 12]);
}

#[test]
fn the_tap_hands_over_responses_of_queued_requests_only() {
    let counters = Arc::new(Counters::default());
    let (tx, mut rx) = queue(1);
    let mut r = Responses::new(tx, 4, counters.clone());
    r.queued(7, 0, 41);
    r.queued(7, 1, 42);
    // Not queued (dropped at the tap): nothing to hand over.
    r.answered(5, &exchange(99, Some("x")));
    // Index 1 of connection 7 is tap id 42.
    r.answered(1, &exchange(5, Some("{}")));
    // The queue (one slot) is full now: counted.
    r.answered(0, &exchange(6, Some("{}")));
    assert_eq!(counters.snapshot().responses_dropped, 1);
    drop(r);
    let got = rx.pop().unwrap();
    assert_eq!(got.id, 42);
    assert!(got.request.is_empty());
    assert_eq!(got.response.unwrap().body, b"{}");
    assert!(rx.pop().is_none());
}

#[test]
fn the_tap_forgets_old_requests() {
    let counters = Arc::new(Counters::default());
    let (tx, _rx) = queue(8);
    let mut r = Responses::new(tx, 2, counters);
    for i in 0..5 {
        r.queued(1, i, i + 1);
    }
    assert_eq!(r.ids.len(), 2, "{:?}", r.ids);
}
