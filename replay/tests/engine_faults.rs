//! The engine against real (small, in-test) HTTP servers on 127.0.0.1:0:
//! byte fidelity, keep-alive reuse, and every fault a target can have. The
//! replay must always finish and count each error kind. No timing
//! assertions: counts only.

mod engine_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use engine_common::*;
use shadowtap_format::{Exchange, FileHeader, Writer, WriterOptions};
use shadowtap_replay::client::Target;
use shadowtap_replay::engine::{
    Config, Engine, Exchanges, Inline, Memory, Mode, RunOutcome, StopReason,
};
use shadowtap_replay::input::{InputError, InputWarning};
use shadowtap_replay::rewrite::{ExtraHeader, HostMode};
use shadowtap_replay::sample::{SampleBy, Sampler};
use shadowtap_replay::schedule::Speed;
use shadowtap_replay::stats::{DropCause, ErrorKind};

fn real_config(urls: &[&str]) -> Config {
    let targets = urls.iter().map(|u| Target::parse(u).unwrap()).collect();
    let mut c = Config::new(Vec::new(), targets);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 4;
    c.client.timeout = Duration::from_secs(5);
    c
}

async fn run(config: Config, exchanges: Vec<(usize, shadowtap_format::Exchange)>) -> RunOutcome {
    let engine = Engine::new(config).await.unwrap();
    let feed = engine.feed(Memory::new(exchanges));
    tokio::time::timeout(
        Duration::from_secs(60),
        engine.run(Inline(feed), std::future::pending()),
    )
    .await
    .expect("the replay finishes")
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let server = Server::start(Behaviour::Ok).await;
    let mut c = real_config(&[&server.url]);
    c.concurrency = 1;
    let out = run(c, evenly(200, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.errors_total()), (200, 200, 0));
    assert_eq!(t.status.get(&200), Some(&200));
    assert_eq!(t.bytes_received, 200 * 43);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(server.received().len(), 200);
}

#[tokio::test]
async fn requests_arrive_byte_for_byte_except_host_and_hop_by_hop() {
    let server = Server::start(Behaviour::Ok).await;
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let captured: Vec<&[u8]> = vec![
        b"GET /a?q=1&r=%2F HTTP/1.1\r\nhost: shop.example\r\nUser-Agent: x\r\nACCEPT: */*\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: drop me\r\nContent-Type: application/json\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\nTrailer-A: 1\r\n\r\n",
        b"PUT /p HTTP/1.1\r\nContent-Length: 3\r\nHost: shop.example\r\nKeep-Alive: 5\r\n\r\nabc",
        b"DELETE /d HTTP/1.1\r\nX-First: 1\r\nTE: trailers\r\nHost: shop.example\r\n\r\n",
    ];
    let expected: Vec<Vec<u8>> = vec![
        format!("GET /a?q=1&r=%2F HTTP/1.1\r\nHost: 127.0.0.1-shadow:{port}\r\nUser-Agent: x\r\nACCEPT: */*\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Mirror: 1\r\n\r\n").into_bytes(),
        format!("POST /upload HTTP/1.1\r\nHost: 127.0.0.1-shadow:{port}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nX-Mirror: 1\r\n\r\n4\r\n{{\"a\"\r\n3;x=y\r\n:1}}\r\n0\r\nTrailer-A: 1\r\n\r\n").into_bytes(),
        format!("PUT /p HTTP/1.1\r\nContent-Length: 3\r\nHost: 127.0.0.1-shadow:{port}\r\nX-Mirror: 1\r\n\r\nabc").into_bytes(),
        format!("DELETE /d HTTP/1.1\r\nX-First: 1\r\nHost: 127.0.0.1-shadow:{port}\r\nX-Mirror: 1\r\n\r\n").into_bytes(),
    ];
    let exchanges = captured
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                0,
                with_request(i as u64, 1, (i as u64 + 1) * MS, r.to_vec()),
            )
        })
        .collect();
    let mut c = real_config(&[&server.url]);
    c.concurrency = 1;
    c.headers = vec![ExtraHeader::parse("X-Mirror: 1").unwrap()];
    let out = run(c, exchanges).await;
    assert_eq!(out.stats.target(0).unwrap().completed, 4);
    let received = server.received();
    assert_eq!(received.len(), 4);
    for (got, want) in received.iter().zip(&expected) {
        assert_eq!(String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    }

    // --keep-host --no-shadow-suffix: the captured request exactly (minus
    // hop-by-hop headers).
    let server = Server::start(Behaviour::Ok).await;
    let mut c = real_config(&[&server.url]);
    c.concurrency = 1;
    c.host_mode = HostMode {
        keep_captured: true,
        no_suffix: true,
    };
    let exchanges = vec![(0, with_request(1, 1, MS, captured[0].to_vec()))];
    run(c, exchanges).await;
    assert_eq!(server.received(), vec![captured[0].to_vec()]);
}

#[tokio::test]
async fn refused_connections_are_counted() {
    let url = closed_port_url().await;
    let out = run(real_config(&[&url]), evenly(20, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.errors_of(ErrorKind::Refused), 20);
    assert_eq!(t.completed, 0);
    assert_eq!(out.stop, StopReason::EndOfInput);
}

#[tokio::test]
async fn slow_targets_time_out() {
    let server = Server::start(Behaviour::Slow(Duration::from_secs(30))).await;
    let mut c = real_config(&[&server.url]);
    c.client.timeout = Duration::from_millis(200);
    let out = run(c, evenly(8, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.errors_of(ErrorKind::Timeout), 8);
}

#[tokio::test]
async fn resetting_targets_are_counted() {
    let server = Server::start(Behaviour::Reset).await;
    let out = run(real_config(&[&server.url]), evenly(20, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.errors_of(ErrorKind::Reset), 20, "{:?}", t.errors);
}

#[tokio::test]
async fn garbage_responses_are_protocol_errors() {
    let server = Server::start(Behaviour::Garbage).await;
    let out = run(real_config(&[&server.url]), evenly(10, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.errors_of(ErrorKind::Protocol), 10, "{:?}", t.errors);
}

#[tokio::test]
async fn interim_responses_and_chunked_bodies_are_framed() {
    let server = Server::start(Behaviour::InterimThenChunked).await;
    let mut c = real_config(&[&server.url]);
    c.concurrency = 1;
    let out = run(c, evenly(30, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.status.get(&201), Some(&30));
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn closed_connections_are_replaced() {
    for behaviour in [Behaviour::Close, Behaviour::CloseSilently] {
        let server = Server::start(behaviour).await;
        let mut c = real_config(&[&server.url]);
        c.concurrency = 1;
        let out = run(c, evenly(25, 1)).await;
        let t = out.stats.target(0).unwrap();
        assert_eq!(
            (t.completed, t.errors_total()),
            (25, 0),
            "{behaviour:?}: {:?}",
            t.errors
        );
        assert_eq!(server.connections.load(Ordering::SeqCst), 25);
    }
}

#[tokio::test]
async fn a_dead_target_does_not_disturb_a_live_one() {
    let live = Server::start(Behaviour::Ok).await;
    let dead = closed_port_url().await;
    let slow = Server::start(Behaviour::Slow(Duration::from_secs(30))).await;
    let mut c = real_config(&[&live.url, &dead, &slow.url]);
    // Real time: past --concurrency in flight, requests to a target are
    // dropped, never queued.
    c.mode = Mode::replay(Speed::Factor(1.0));
    c.concurrency = 2;
    c.client.timeout = Duration::from_millis(300);
    let out = run(c, evenly(100, 2)).await;
    let live_t = out.stats.target(0).unwrap();
    let dead_t = out.stats.target(1).unwrap();
    let slow_t = out.stats.target(2).unwrap();
    assert_eq!(
        live_t.completed + live_t.dropped_of(DropCause::Concurrency),
        100
    );
    assert!(live_t.completed > 50, "{}", live_t.completed);
    assert_eq!(
        dead_t.errors_of(ErrorKind::Refused) + dead_t.dropped_of(DropCause::Concurrency),
        100
    );
    assert_eq!(
        slow_t.errors_of(ErrorKind::Timeout) + slow_t.dropped_of(DropCause::Concurrency),
        100
    );
    // At most --concurrency requests were ever in flight to the slow one.
    assert!(slow_t.errors_of(ErrorKind::Timeout) >= 2);
    assert!(slow.connections.load(Ordering::SeqCst) <= slow_t.sent);
}

#[tokio::test]
async fn replays_log_files_through_the_input_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for f in 0..2u64 {
        let path = dir.path().join(format!("{f}.stlog"));
        let mut w =
            Writer::create(&path, &FileHeader::default(), WriterOptions::default()).unwrap();
        for (_, mut e) in evenly(60, 1) {
            e.req_first_ns += f * 500_000;
            e.id += f * 1000;
            w.append(&e).unwrap();
        }
        w.finish().unwrap();
        paths.push(path);
    }
    let server = Server::start(Behaviour::Ok).await;
    let mut c = real_config(&[&server.url]);
    c.inputs = paths;
    c.mode = Mode::replay(Speed::Factor(10.0));
    c.loops = 2;
    let engine = Engine::new(c).await.unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        engine.run_files(std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.stop, StopReason::EndOfInput);
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.completed + t.dropped_total(), 240);
    assert!(out.warnings.is_empty());
    // Missing files fail before anything is sent.
    let mut c = real_config(&[&server.url]);
    c.inputs = vec![dir.path().join("missing.stlog")];
    let engine = Engine::new(c).await.unwrap();
    assert!(engine.run_files(std::future::pending()).await.is_err());
}

/// Exchanges handed over one by one through a channel; blocks while none is
/// there, like tee's queue.
struct Channel(std::sync::mpsc::Receiver<Exchange>);

impl Exchanges for Channel {
    fn start_pass(&mut self, _pass: u32) -> Result<(), InputError> {
        Ok(())
    }
    fn next_exchange(&mut self) -> Result<Option<(usize, Exchange)>, InputError> {
        Ok(self.0.recv().ok().map(|ex| (0, ex)))
    }
    fn take_warnings(&mut self) -> Vec<InputWarning> {
        Vec::new()
    }
}

#[test]
fn a_live_feed_counts_what_it_leaves_out_at_once() {
    let mut c = config(1);
    c.mode = Mode::Live;
    c.sampler = Sampler::new("0".parse().unwrap(), SampleBy::Request, 1);
    let engine = Engine::with_transports(c, Fake::new(Duration::ZERO)).unwrap();
    let monitor = engine.monitor();
    let (tx, rx) = std::sync::mpsc::channel();
    let feed = engine.feed(Channel(rx));
    let input = std::thread::spawn(move || feed.count());
    for id in 0..5 {
        tx.send(get(id, 1, id * 1_000)).unwrap();
    }
    // Counted while the feed waits for more: a run stopped now has every
    // request the feed has seen in its counters (a file replay's feed hands
    // its count over with the next request it keeps).
    let sampled_out = || monitor.with_stats(|s| s.sampled_out());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sampled_out() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sampled_out(), 5);
    drop(tx);
    assert_eq!(input.join().unwrap(), 0, "nothing left for the scheduler");
    assert_eq!(sampled_out(), 5);
}

#[test]
fn free_slots_are_offered_only_where_a_request_without_one_is_dropped_anyway() {
    use shadowtap_replay::schedule::{RateLimit, RatePolicy};
    let engine = |f: &dyn Fn(&mut Config)| {
        let mut c = config(2);
        c.mode = Mode::Live;
        f(&mut c);
        Engine::with_transports(c, Fake::new(Duration::ZERO)).unwrap()
    };
    let slots = engine(&|_| {})
        .free_slots()
        .expect("live, nothing else set");
    assert!(slots.any(), "every slot is free before the run");
    // Not live: a busy target is waited for (or its miss is the scheduler's).
    assert!(engine(&|c| c.mode = Mode::default()).free_slots().is_none());
    // A rate limit may delay the request, a limit may end the run before
    // it, a sampler may leave it out: whatever the slots.
    let rate = RateLimit {
        rate: "100/s".parse().unwrap(),
        burst: std::num::NonZeroU32::MIN,
        policy: RatePolicy::Drop,
    };
    assert!(engine(&|c| c.rate = Some(rate)).free_slots().is_none());
    assert!(engine(&|c| c.limit = Some(10)).free_slots().is_none());
    let half = || Sampler::new("50".parse().unwrap(), SampleBy::Request, 1);
    assert!(engine(&|c| c.sampler = half()).free_slots().is_none());
}

/// A burst read at once used to pass on one free slot: every request of it
/// looked before the scheduler took the slot. Admission counts requests
/// ahead of the scheduler, and the engine settles each one it takes or
/// leaves out, so none stays counted after the run.
#[tokio::test(start_paused = true)]
async fn a_burst_admitted_on_one_free_slot_passed_whole() {
    let mut c = config(1);
    c.mode = Mode::Live;
    c.concurrency = 3;
    let fake = Fake::new(Duration::from_secs(3600));
    let engine = Engine::with_transports(c, fake.clone()).unwrap();
    let slots = engine.free_slots().expect("live, nothing else set");
    let admitted: Vec<bool> = (0..10).map(|_| slots.admit()).collect();
    assert_eq!(admitted.iter().filter(|&&a| a).count(), 3, "{admitted:?}");
    assert_eq!(slots.ahead(), 3);
    // One that could not be queued after all gives its place back.
    slots.withdraw();
    assert!(slots.admit());
    assert!(!slots.admit());

    // Three admitted requests: two GETs and an upgrade the rewriter skips.
    let mut upgrade = get(2, 2, 2 * MS);
    upgrade.request =
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            .to_vec();
    upgrade.request_len = upgrade.request.len() as u64;
    let exchanges = vec![(0, get(0, 0, 0)), (0, get(1, 1, MS)), (0, upgrade)];
    let feed = engine.feed(Memory::new(exchanges));
    let out = engine.run(Inline(feed), std::future::pending()).await;
    assert_eq!(slots.ahead(), 0, "every admitted request was settled");
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.sent, 2);
    assert_eq!(out.stats.skipped_total(), 1);
    assert!(slots.admit(), "every slot is free again after the run");
}
