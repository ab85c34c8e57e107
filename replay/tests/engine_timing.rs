//! Timing logic of the engine under tokio's paused clock, with a fake
//! transport: every send instant is exact, so the schedule is checked to the
//! nanosecond without a single timing-dependent assertion.

mod engine_common;

use std::num::NonZeroU32;
use std::time::Duration;

use engine_common::*;
use shadowtap_replay::engine::{Engine, Inline, Memory, Mode, StopReason};
use shadowtap_replay::rewrite::HostMode;
use shadowtap_replay::schedule::{RateLimit, RatePolicy, Speed};
use shadowtap_replay::stats::{DropCause, ErrorKind, SkipReason};
use tokio::time::Instant;

fn offsets(sent: &[Sent]) -> Vec<Duration> {
    let t0 = sent[0].at;
    sent.iter().map(|s| s.at - t0).collect()
}

#[tokio::test(start_paused = true)]
async fn absolute_schedule_does_not_drift_over_10000_requests() {
    let fake = Fake::new(Duration::from_millis(3));
    let out = replay(config(1), &fake, evenly(10_000, 1)).await;
    assert_eq!(out.stop, StopReason::EndOfInput);
    let sent = fake.sent();
    assert_eq!(sent.len(), 10_000);
    for (i, off) in offsets(&sent).into_iter().enumerate() {
        assert_eq!(off, Duration::from_millis(i as u64), "request {i}");
    }
    let t = out.stats.target(0).unwrap();
    assert_eq!(
        (t.sent, t.completed, t.dropped_total()),
        (10_000, 10_000, 0)
    );
    // Nothing was late.
    assert_eq!(t.schedule_lag.max(), 0);
    // The run ends when the last response is in: 9.999 s + 3 ms.
    assert_eq!(out.elapsed, Duration::from_millis(10_002));
}

#[tokio::test(start_paused = true)]
async fn speed_factor_scales_every_offset() {
    // tokio's timer ticks in milliseconds (the real scheduler spins below
    // that): gaps are chosen so that every due time is a whole millisecond.
    for (speed, want_us) in [(2.5, 4_000u64), (0.5, 20_000), (10.0, 1_000)] {
        let fake = Fake::new(Duration::ZERO);
        let mut c = config(1);
        c.mode = Mode::replay(Speed::Factor(speed));
        replay(c, &fake, evenly(200, 10)).await;
        let got = offsets(&fake.sent());
        for (i, off) in got.iter().enumerate() {
            assert_eq!(
                *off,
                Duration::from_micros(i as u64 * want_us),
                "speed {speed} request {i}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn max_speed_ignores_capture_timing_and_waits_for_concurrency() {
    let fake = Fake::new(Duration::from_millis(10));
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 4;
    // Captured one minute apart: at max speed that does not matter.
    let out = replay(c, &fake, evenly(40, 60_000)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!((t.sent, t.completed, t.dropped_total()), (40, 40, 0));
    // 40 requests, 4 at a time, 10 ms each: 100 ms.
    assert_eq!(out.elapsed, Duration::from_millis(100));
    let got = offsets(&fake.sent());
    assert_eq!(got[3], Duration::ZERO);
    assert_eq!(got[4], Duration::from_millis(10));
    assert_eq!(got[39], Duration::from_millis(90));
}

#[tokio::test(start_paused = true)]
async fn max_gap_caps_idle_stretches_cumulatively() {
    let base = 1_700_000_000_000 * MS;
    let ts_ms = [0u64, 5, 60_005, 60_010, 600_010];
    let ex = ts_ms
        .iter()
        .enumerate()
        .map(|(i, t)| (0, get(i as u64, 0, base + t * MS)))
        .collect();
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.max_gap = Some(Duration::from_millis(100));
    replay(c, &fake, ex).await;
    let want: Vec<Duration> = [0u64, 5, 105, 110, 210]
        .iter()
        .map(|&m| Duration::from_millis(m))
        .collect();
    assert_eq!(offsets(&fake.sent()), want);
}

#[tokio::test(start_paused = true)]
async fn loops_are_offset_in_time_and_limit_stops_them() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.loops = 3;
    replay(c, &fake, evenly(4, 10)).await;
    let want: Vec<Duration> = [0u64, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]
        .iter()
        .map(|&m| Duration::from_millis(m))
        .collect();
    assert_eq!(offsets(&fake.sent()), want);

    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.loops = 0; // endless
    c.limit = Some(10);
    let out = replay(c, &fake, evenly(4, 10)).await;
    assert_eq!(out.stop, StopReason::Limit);
    assert_eq!(fake.sent().len(), 10);
    assert_eq!(out.scheduled, 10);
}

#[tokio::test(start_paused = true)]
async fn duration_stops_scheduling() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.duration = Some(Duration::from_millis(5_500));
    c.loops = 0;
    let out = replay(c, &fake, evenly(100, 1_000)).await;
    assert_eq!(out.stop, StopReason::Duration);
    // Due at 0, 1, ..., 5 s.
    assert_eq!(fake.sent().len(), 6);

    let fake = Fake::new(Duration::from_millis(100));
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 1;
    c.duration = Some(Duration::from_millis(950));
    c.loops = 0;
    let out = replay(c, &fake, evenly(3, 1)).await;
    assert_eq!(out.stop, StopReason::Duration);
    // One at a time, 100 ms each: admitted at 0, 100, ..., 900 ms.
    assert_eq!(fake.sent().len(), 10);
}

#[tokio::test(start_paused = true)]
async fn exits_at_end_of_input_once_in_flight_requests_finish() {
    let fake = Fake::new(Duration::from_secs(3));
    let out = replay(config(1), &fake, evenly(5, 1)).await;
    assert_eq!(out.stop, StopReason::EndOfInput);
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.completed, 5);
    assert_eq!(out.elapsed, Duration::from_millis(3_004));
}

#[tokio::test(start_paused = true)]
async fn real_time_replay_drops_past_concurrency_instead_of_queueing() {
    // A target that takes 50 ms per request, 1 ms between requests, 2 in
    // flight at most: most requests are dropped, none waits.
    let fake = Fake::new(Duration::from_millis(50));
    let mut c = config(1);
    c.concurrency = 2;
    let out = replay(c, &fake, evenly(100, 1)).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.sent + t.dropped_of(DropCause::Concurrency), 100);
    // Two at 0 and 1 ms, then two more once those are done (at 50 or 51 ms
    // and 51 or 52 ms, depending on whether the scheduler or the finishing
    // worker runs first at the same instant).
    assert_eq!(t.sent, 4);
    let got = offsets(&fake.sent());
    assert_eq!(&got[..2], &[Duration::ZERO, Duration::from_millis(1)]);
    assert!(
        got[2..].iter().all(|o| (50..=52).contains(&o.as_millis())),
        "{got:?}"
    );
    // Sends happen on schedule or not at all.
    assert_eq!(t.schedule_lag.max(), 0);
}

#[tokio::test(start_paused = true)]
async fn latency_is_measured_from_the_intended_time() {
    // With the rate limit delaying sends, latency (from the intended time)
    // grows while service time (from the actual send) does not.
    let fake = Fake::new(Duration::from_millis(1));
    let mut c = config(1);
    c.rate = Some(RateLimit {
        rate: "100/s".parse().unwrap(),
        burst: NonZeroU32::MIN,
        policy: RatePolicy::Delay,
    });
    // 50 requests all captured at the same instant.
    let ex = (0..50).map(|i| (0, get(i, i, 1_000 * MS))).collect();
    let out = replay(c, &fake, ex).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.completed, 50);
    let got = offsets(&fake.sent());
    assert_eq!(got[49], Duration::from_millis(490));
    assert_eq!(t.service_time.max(), 1_000);
    assert!(t.latency.max() >= 490_000, "{}", t.latency.max());
    assert!(t.schedule_lag.max() >= 489_000, "{}", t.schedule_lag.max());
}

#[tokio::test(start_paused = true)]
async fn rate_drop_policy_counts_drops_for_every_target() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(2);
    c.rate = Some(RateLimit {
        rate: "10/s".parse().unwrap(),
        burst: NonZeroU32::new(2).unwrap(),
        policy: RatePolicy::Drop,
    });
    // 1 ms apart for 1 s: about 10/s + the burst get through.
    let out = replay(c, &fake, evenly(1_000, 1)).await;
    for target in 0..2 {
        let t = out.stats.target(target).unwrap();
        assert_eq!(t.sent + t.dropped_of(DropCause::RateLimit), 1_000);
        assert!((10..=13).contains(&t.sent), "{}", t.sent);
    }
}

#[tokio::test(start_paused = true)]
async fn every_target_gets_the_whole_stream_with_its_own_host_and_stats() {
    let fake = Fake::new(Duration::ZERO);
    let out = replay(config(3), &fake, evenly(50, 2)).await;
    let sent = fake.sent();
    for target in 0..3 {
        let mine: Vec<_> = sent.iter().filter(|s| s.target == target).collect();
        assert_eq!(mine.len(), 50);
        let host = format!("Host: 127.0.0.1-shadow:{}\r\n", 9000 + target);
        assert!(mine
            .iter()
            .all(|s| String::from_utf8_lossy(&s.bytes).contains(&host)));
        assert_eq!(out.stats.target(target).unwrap().completed, 50);
    }
}

#[tokio::test(start_paused = true)]
async fn sampling_and_skips_are_counted() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.sampler = shadowtap_replay::sample::Sampler::new(
        "10".parse().unwrap(),
        shadowtap_replay::sample::SampleBy::Request,
        42,
    );
    let mut ex = evenly(10_000, 1);
    // Some unreplayable exchanges.
    for (_, e) in ex.iter_mut().take(3_000) {
        e.flags = shadowtap_format::Flags::REQ_BODY_CAPPED;
    }
    let out = replay(c, &fake, ex).await;
    let t = out.stats.target(0).unwrap();
    let skipped = out.stats.skipped(SkipReason::BodyCapped);
    assert_eq!(out.stats.sampled_out() + skipped + t.sent, 10_000);
    assert!(
        (900..=1_100).contains(&(skipped + t.sent)),
        "{}",
        skipped + t.sent
    );
    assert!(skipped > 200, "{skipped}");
}

#[tokio::test(start_paused = true)]
async fn invalid_captured_hosts_are_errors_for_every_target() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(2);
    c.host_mode = HostMode {
        keep_captured: true,
        no_suffix: false,
    };
    let ex = vec![
        (
            0,
            with_request(1, 1, MS, b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n".to_vec()),
        ),
        (
            0,
            with_request(2, 1, 2 * MS, b"GET / HTTP/1.1\r\nHost: ok\r\n\r\n".to_vec()),
        ),
    ];
    let out = replay(c, &fake, ex).await;
    for target in 0..2 {
        let t = out.stats.target(target).unwrap();
        assert_eq!(t.errors_of(ErrorKind::InvalidHost), 1);
        assert_eq!(t.completed, 1);
    }
    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].bytes, b"GET / HTTP/1.1\r\nHost: ok-shadow\r\n\r\n");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_scheduling_and_abandons_after_the_grace_period() {
    let fake = Fake::new(Duration::from_secs(60));
    let mut c = config(1);
    c.client.timeout = Duration::from_secs(120);
    let shutdown = tokio::time::sleep(Duration::from_millis(2_500));
    let started = Instant::now();
    let out = replay_until(c, &fake, evenly(100, 1_000), shutdown).await;
    assert_eq!(out.stop, StopReason::Interrupted);
    // Sent at 0, 1 and 2 s; all three still in flight at 2.5 s.
    assert_eq!(fake.sent().len(), 3);
    assert_eq!(out.abandoned, 3);
    assert_eq!(Instant::now() - started, Duration::from_millis(3_500));
}

#[tokio::test(start_paused = true)]
async fn spinning_still_lands_on_the_deadline() {
    // With the default spin margin the scheduler sleeps, yields a bounded
    // number of times (time does not move under the paused clock), then
    // sleeps to the deadline.
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.spin = shadowtap_replay::schedule::SPIN_MARGIN;
    replay(c, &fake, evenly(5, 10)).await;
    let want: Vec<Duration> = (0..5).map(|i| Duration::from_millis(i * 10)).collect();
    assert_eq!(offsets(&fake.sent()), want);
}

#[tokio::test(start_paused = true)]
async fn engine_rejects_bad_configurations() {
    let fake = Fake::new(Duration::ZERO);
    let mut c = config(1);
    c.concurrency = 0;
    assert!(Engine::with_transports(c, fake.clone()).is_err());
    let mut c = config(0);
    c.concurrency = 1;
    assert!(Engine::with_transports(c, fake.clone()).is_err());
    // An empty input ends at once.
    let engine = Engine::with_transports(config(1), fake.clone()).unwrap();
    let feed = engine.feed(Memory::new(Vec::new()));
    let out = engine.run(Inline(feed), std::future::pending()).await;
    assert_eq!(out.stop, StopReason::EndOfInput);
    assert_eq!(out.elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn live_mode_drops_when_a_target_is_busy_and_measures_mirror_delay() {
    // 20 requests arriving at once, a slow target with 2 slots.
    let burst: Vec<_> = (0..20).map(|i| (0, get(i, i, 1_000))).collect();
    let fake = Fake::new(Duration::from_secs(1));
    let mut c = config(1);
    c.concurrency = 2;
    c.mode = Mode::Live;
    let out = replay(c, &fake, burst.clone()).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.sent, 2, "live mode never waits for a busy target");
    assert_eq!(t.dropped_of(DropCause::Concurrency), 18);
    assert_eq!(t.mirror_delay.as_ref().unwrap().len(), 2);

    // Two targets, both full: each request beyond the slots is dropped for
    // both, once (the feed drops it before rewriting it), and every request
    // is accounted per target.
    let mut c = config(2);
    c.concurrency = 2;
    c.mode = Mode::Live;
    let fake = Fake::new(Duration::from_secs(1));
    let out = replay(c, &fake, burst.clone()).await;
    for target in 0..2 {
        let t = out.stats.target(target).unwrap();
        assert_eq!(t.sent, 2, "target {target}");
        assert_eq!(t.dropped_of(DropCause::Concurrency), 18, "target {target}");
        assert_eq!(t.dropped_total(), 18, "target {target}");
    }
    assert_eq!(fake.sent().len(), 4);

    // The same burst without live mode waits for slots at max speed.
    let mut c = config(1);
    c.mode = Mode::replay(Speed::Max);
    c.concurrency = 2;
    let out = replay(c, &Fake::new(Duration::from_secs(1)), burst).await;
    let t = out.stats.target(0).unwrap();
    assert_eq!(t.sent, 20);
    assert!(t.mirror_delay.is_none());
}
