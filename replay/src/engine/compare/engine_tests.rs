//! The comparison path through the whole engine, on a paused clock: a
//! fake transport answers each target's requests after a delay of its
//! own, with a body of its own, and keeps the response as a session does.

use std::sync::Arc;
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::{Exchange, Response};
use tokio::time::Instant;

use super::*;
use crate::client::{Kept, Reply, Target};
use crate::compare::rules::Rules;
use crate::compare::Options;
use crate::engine::{Config, Engine, Inline, Memory, Transport, Transports};

const MS: u64 = 1_000_000;

/// `us` is `exact` within the histograms' precision (two significant
/// digits: a percentile is its bucket's highest value).
fn near(us: u64, exact: u64) -> bool {
    us >= exact && us <= exact + exact / 100
}

/// Per target: how long it takes, and the body it answers request `id`
/// with.
#[derive(Clone)]
struct Fake {
    delays: Arc<Vec<Duration>>,
    bodies: Arc<dyn Fn(usize, u64) -> String + Send + Sync>,
}

struct Conn {
    fake: Fake,
    target: usize,
}

impl Conn {
    async fn answer(&mut self, parts: [&[u8]; 3], kept: Option<&mut Kept>) -> Reply {
        let started = Instant::now();
        let request = parts.concat();
        // The request line is `GET /r/ID HTTP/1.1`.
        let id: u64 = String::from_utf8_lossy(&request)
            .split(' ')
            .nth(1)
            .and_then(|p| p.rsplit('/').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        tokio::time::sleep(self.fake.delays[self.target]).await;
        if let Some(k) = kept {
            k.clear();
            let body = (self.fake.bodies)(self.target, id);
            let wire = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut framer = Framer::response("GET");
            let before = framer.body_consumed();
            let p = framer.feed(wire.as_bytes()).unwrap();
            assert_eq!(p.status, Status::Complete);
            k.consumed(&framer, &wire.as_bytes()[..p.consumed], before, "GET");
            k.response_done();
        }
        Reply {
            result: Ok(200),
            bytes_sent: request.len() as u64,
            bytes_received: 10,
            tls_reason: None,
            started,
            done: Instant::now(),
        }
    }
}

impl Transport for Conn {
    async fn send(&mut self, parts: [&[u8]; 3], _: &str, _: bool) -> Reply {
        self.answer(parts, None).await
    }

    async fn send_keeping(
        &mut self,
        parts: [&[u8]; 3],
        _: &str,
        _: bool,
        kept: &mut Kept,
    ) -> Reply {
        self.answer(parts, Some(kept)).await
    }
}

impl Transports for Fake {
    type T = Conn;
    fn make(&self, target: usize) -> Conn {
        Conn {
            fake: self.clone(),
            target,
        }
    }
}

/// `n` GETs 10 ms apart, each with a recorded response of body `{"v":1}`
/// that took 4 ms.
fn exchanges(n: u64) -> Vec<(usize, Exchange)> {
    let base = 1_700_000_000_000 * MS;
    (0..n)
        .map(|i| {
            let ts = base + i * 10 * MS;
            let body = br#"{"v":1}"#.to_vec();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let ex = Exchange::new(
                i,
                i,
                "127.0.0.1:40000".parse().unwrap(),
                "127.0.0.1:80".parse().unwrap(),
                ts,
                format!("GET /r/{i} HTTP/1.1\r\nHost: captured\r\n\r\n").into_bytes(),
            )
            .with_response(Response::new(
                200,
                ts + MS,
                ts + 4 * MS,
                head.into_bytes(),
                body,
            ));
            (0, ex)
        })
        .collect()
}

fn comparing(candidates: usize, baseline: Baseline) -> Arc<Comparing> {
    let names: Vec<String> = (0..candidates).map(|i| format!("http://c{i}")).collect();
    Arc::new(
        Comparing::new(
            Comparer::new(Rules::new(&[], &[], true).unwrap(), Options::default()),
            Endpoints::new(&[]).unwrap(),
            TallyConfig::default(),
            &names,
            None,
        )
        .against(baseline),
    )
}

async fn run(targets: usize, compare: Arc<Comparing>, fake: Fake, n: u64) -> Arc<Comparing> {
    let urls =
        (0..targets).map(|i| Target::parse(&format!("http://127.0.0.1:{}", 9000 + i)).unwrap());
    let mut config = Config::new(Vec::new(), urls.collect());
    config.spin = Duration::ZERO;
    config.concurrency = 4;
    config.compare = Some(compare.clone());
    let engine = Engine::with_transports(config, fake).unwrap();
    let feed = engine.feed(Memory::new(exchanges(n)));
    let out = engine.run(Inline(feed), std::future::pending()).await;
    for t in 0..targets.min(2) {
        assert_eq!(out.stats.target(t).unwrap().completed, n);
    }
    compare
}

#[tokio::test(start_paused = true)]
async fn against_the_recording_latency_is_the_recorded_one() {
    let fake = Fake {
        delays: Arc::new(vec![Duration::from_millis(8)]),
        bodies: Arc::new(|_, id| {
            if id % 4 == 0 {
                r#"{"v":2}"#.into()
            } else {
                r#"{"v":1}"#.into()
            }
        }),
    };
    let c = run(1, comparing(1, Baseline::Recording), fake, 40).await;
    let r = c.report();
    let e = &r.targets[0].endpoints[0];
    assert_eq!((e.compared, e.differing, e.equal), (40, 10, 30), "{e:#?}");
    let lat = e.latency_us.as_ref().unwrap();
    assert!(
        near(lat.baseline.p50, 4_000) && near(lat.candidate.p50, 8_000),
        "{lat:#?}"
    );
    assert!(
        lat.ratio_p99.is_some_and(|r| (r - 2.0).abs() < 0.02),
        "{lat:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn against_a_primary_faster_and_slower_candidates_meet_its_answer() {
    // Candidates 0 (2 ms, before the primary) and 1 (20 ms, after it);
    // the primary (5 ms) and the calibration copy (5 ms).
    let fake = Fake {
        delays: Arc::new([2, 20, 5, 5].map(Duration::from_millis).to_vec()),
        bodies: Arc::new(|target, id| match target {
            // Candidate 1 differs on every third request.
            1 if id % 3 == 0 => format!(r#"{{"v":2,"at":{}}}"#, id * 10 + 1),
            // Every answer has its own `at`: noise the copy measures.
            _ => format!(r#"{{"v":1,"at":{}}}"#, id * 10 + target as u64),
        }),
    };
    let baseline = Baseline::Live(LiveBaseline {
        primary: 2,
        copy: Some(Copy::Calibration {
            target: 3,
            requests: 10,
        }),
    });
    let c = run(4, comparing(2, baseline), fake, 30).await;
    let r = c.report();
    assert_eq!(r.noise_source, NoiseSource::Calibration);
    assert_eq!(c.not_compared(), NotCompared::default());
    let fast = &r.targets[0].endpoints[0];
    let slow = &r.targets[1].endpoints[0];
    assert_eq!((fast.compared, fast.differing), (30, 0), "{fast:#?}");
    assert_eq!((slow.compared, slow.differing), (30, 10), "{slow:#?}");
    let v = slow.fields.iter().find(|f| f.path == "body:/v").unwrap();
    assert_eq!((v.count, v.noise), (10, false));
    let at = slow.fields.iter().find(|f| f.path == "body:/at").unwrap();
    assert!(at.noise, "{at:#?}");
    assert_eq!(at.noise_rate, Some(1.0));
    let lat = |e: &crate::compare::tally::EndpointReport| {
        let l = e.latency_us.as_ref().unwrap();
        (l.baseline.p50, l.candidate.p50)
    };
    let (b, c) = lat(fast);
    assert!(near(b, 5_000) && near(c, 2_000), "{fast:#?}");
    let (b, c) = lat(slow);
    assert!(near(b, 5_000) && near(c, 20_000), "{slow:#?}");
}
