use shadowtap_format::http1::{Framer, Status};

use super::*;
use crate::rewrite::{HostMode, Rewriter};
use crate::stats::ErrorKind;

fn options(dir: &std::path::Path, targets: usize) -> RecordOptions {
    RecordOptions {
        paths: (0..targets)
            .map(|i| dir.join(format!("r{i}.stlog")))
            .collect(),
        targets: (0..targets).map(|i| format!("http://t{i}")).collect(),
        inputs: vec![dir.join("missing-input.stlog")],
        max_body: 1 << 20,
        wait: true,
        writer: WriterOptions::default(),
    }
}

fn prepared(origin: u64) -> Prepared {
    let mut rw = Rewriter::new(HostMode::default(), Vec::new());
    let mut p = rw
        .rewrite(b"GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    p.set_origin(origin);
    p
}

/// `wire` read by a session into a fresh [`RawResponse`].
fn raw(wire: &[u8]) -> RawResponse {
    let mut r = RawResponse::new(1 << 20);
    let start = Instant::now();
    r.written(start);
    r.arrived(start);
    let mut framer = Framer::response("GET");
    let before = framer.body_consumed();
    let p = framer.feed(wire).unwrap();
    assert_eq!(p.status, Status::Complete);
    r.consumed(&framer, &wire[..p.consumed], before);
    r.response_done(start + Duration::from_millis(2));
    r
}

fn reply(result: Result<u16, ErrorKind>) -> Reply {
    let now = Instant::now();
    Reply {
        result,
        bytes_sent: 0,
        bytes_received: 0,
        tls_reason: None,
        started: now,
        done: now + Duration::from_millis(3),
    }
}

#[tokio::test]
async fn every_target_gets_its_log_with_the_origins() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recording::start(options(dir.path(), 2)).unwrap();
    let tx = rec.sender().unwrap();
    let p = prepared((1 << 48) | 9);
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut r = raw(wire);
    rec.record(&tx, (0, 3), (&p, p.parts(None)), &reply(Ok(200)), &mut r)
        .await;
    // A refused connection: recorded without a response.
    let mut r = RawResponse::new(10);
    let q = prepared(4);
    rec.record(
        &tx,
        (1, 0),
        (&q, q.parts(None)),
        &reply(Err(ErrorKind::Refused)),
        &mut r,
    )
    .await;
    drop(tx);
    let (summary, error) = rec.finish().await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        (summary.recorded, summary.dropped, summary.not_written),
        (2, 0, 0)
    );
    assert_eq!(summary.logs[1].target, "http://t1");

    let mut log = Reader::open(&summary.logs[0].path).unwrap();
    assert_eq!(log.header().get(meta::SOURCE), Some("replay"));
    assert_eq!(log.header().get(meta::TARGET), Some("http://t0"));
    let input = dir.path().join("missing-input.stlog");
    assert_eq!(
        log.header().get(meta::ORIGIN_LOG),
        Some(format!("0 {}", input.display()).as_str())
    );
    let ex = log.next_exchange().unwrap().unwrap();
    assert_eq!((ex.id, ex.origin), (1, Some((1 << 48) | 9)));
    assert_eq!(ex.conn >> 32, 3);
    // The Host is the target's: no line of its own without one.
    assert_eq!(ex.request, b"GET /items/1 HTTP/1.1\r\n\r\n");
    assert_eq!(ex.flags, Flags::empty());
    let resp = ex.response.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.head, &wire[..wire.len() - 2]);
    assert_eq!((resp.body.as_slice(), resp.body_len), (&b"ok"[..], 2));
    assert_eq!(resp.last_ns - resp.first_ns, 2_000_000);
    assert!(log.next_exchange().unwrap().is_none());

    let mut log = Reader::open(&summary.logs[1].path).unwrap();
    let ex = log.next_exchange().unwrap().unwrap();
    assert_eq!(ex.origin, Some(4));
    assert_eq!(ex.response, None);
    assert_eq!(ex.flags, Flags::RESP_MISSING | Flags::REQ_INCOMPLETE);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recording::start(RecordOptions {
        wait: false,
        ..options(dir.path(), 1)
    })
    .unwrap();
    let tx = rec.sender().unwrap();
    // The queue's slots all taken: the next exchange does not wait.
    let held = rec
        .slots
        .clone()
        .acquire_many_owned(RECORD_QUEUE as u32)
        .await;
    let p = prepared(1);
    let mut r = raw(b"HTTP/1.1 204 No Content\r\n\r\n");
    rec.record(&tx, (0, 0), (&p, p.parts(None)), &reply(Ok(204)), &mut r)
        .await;
    drop(held);
    let mut r = raw(b"HTTP/1.1 204 No Content\r\n\r\n");
    rec.record(&tx, (0, 0), (&p, p.parts(None)), &reply(Ok(204)), &mut r)
        .await;
    drop(tx);
    let (summary, error) = rec.finish().await;
    assert!(error.is_none());
    assert_eq!((summary.recorded, summary.dropped), (1, 1));
    let log = Reader::open(&summary.logs[0].path).unwrap();
    assert_eq!(log.count(), 1);
}

#[test]
fn a_log_that_cannot_be_created_fails_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1);
    opts.paths = vec![dir.path().join("no/such/dir/r.stlog")];
    let e = Recording::start(opts).unwrap_err();
    assert!(matches!(e, RecordError::Sink(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("--record-responses: cannot write ") && msg.ends_with("r.stlog"),
        "{msg}"
    );
}
