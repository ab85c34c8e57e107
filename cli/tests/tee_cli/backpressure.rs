//! Dead, slow, lagging and full mirrors: what they cost (counters and drops),
//! never production, and never a loss at the capture.

use super::*;

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn dead_and_slow_mirrors_cost_counters_not_production() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (slow, slow_addr, _slow_err) = serve(&["--delay", "1s"]);
    let dead_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (tee, report, started, _tee_err) = start_tee(
        prod_addr,
        &[format!("http://{dead_addr}"), format!("http://{slow_addr}")],
        dir.path(),
        &[
            "--concurrency",
            "2",
            "--timeout",
            "3s",
            "--queue",
            "100",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let metrics_addr = metrics_addr(&started);

    let n = 60;
    for raw in requests_for(prod_addr, n) {
        assert!(
            request(prod_addr, &raw).starts_with("HTTP/1.1 200"),
            "production answers every request"
        );
    }
    // The capture hands over the last requests within a block timeout.
    let body = scrape_until(
        metrics_addr,
        &format!("shadowtap_tee_captured_requests_total {n}\n"),
    );
    // The dead target never answered.
    assert!(
        body.contains(&format!(
            "shadowtap_tee_responses_total{{target=\"http://{dead_addr}\",class=\"2xx\"}} 0\n"
        )),
        "{body}"
    );
    assert!(
        body.contains("shadowtap_tee_dropped_total{target=\"http://"),
        "{body}"
    );
    assert!(body.contains("shadowtap_tee_queue_depth"), "{body}");
    assert!(body.contains("shadowtap_capture_packets_total"), "{body}");
    let hwm = vm_hwm_kib(&tee);
    assert!(hwm < 200 * 1024, "tee peak RSS {hwm} KiB");
    let code = interrupt(tee);
    assert_eq!(code, 0);
    drop((prod, slow));

    let r = read_json(&report);
    let targets = r["targets"].as_array().unwrap();
    let dead = &targets[0];
    let slow = &targets[1];
    for t in [dead, slow] {
        let sent = t["sent"].as_u64().unwrap();
        let dropped = t["dropped_total"].as_u64().unwrap();
        assert_eq!(
            sent + dropped,
            n as u64,
            "every request is sent or counted: {t}"
        );
    }
    for t in [dead, slow] {
        // tee drained within --timeout: nothing was left over at the stop.
        assert_eq!(t["dropped"]["shutdown"], 0, "{t}");
    }
    assert_eq!(dead["errors"]["refused"], dead["sent"], "{dead}");
    assert!(dead["sent"].as_u64().unwrap() > 0);
    assert!(
        slow["dropped"]["concurrency"].as_u64().unwrap() > 0,
        "a slow mirror drops past --concurrency: {slow}"
    );
    assert_eq!(slow["errors_total"], 0, "{slow}");
}

/// `n` GETs on one keep-alive connection, each answered before the next is
/// sent; panics unless every answer is a 200.
fn keepalive_gets(addr: SocketAddr, n: usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    for i in 0..n {
        let req = format!("GET /burst/{i} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        // One response: a head, then Content-Length bytes of body.
        let mut need = None;
        for _ in 0..10_000 {
            if need.is_none() {
                if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                    assert!(head.starts_with("http/1.1 200"), "{head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    need = Some(end + 4 + len);
                }
            }
            if let Some(total) = need.filter(|&t| pending.len() >= t) {
                pending.drain(..total);
                break;
            }
            let got = s.read(&mut buf).unwrap();
            assert!(got > 0, "production closed the connection");
            pending.extend_from_slice(&buf[..got]);
        }
        assert!(
            need.is_some() && pending.is_empty(),
            "response {i} incomplete"
        );
    }
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_reads_in_batches_while_the_mirror_is_behind_and_loses_nothing() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (mirror, mirror_addr, _mirror_err) = serve(&[]);
    // One request per second to the mirror, waiting for its turn: the
    // mirror's input stops taking requests once the engine's input buffer
    // (1,024) is full, and the one-slot queue then overflows.
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{mirror_addr}")],
        dir.path(),
        &[
            "--queue",
            "1",
            "--rate",
            "1/s",
            "--timeout",
            "1s",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let metrics = metrics_addr(&started);
    let n = 3000;
    keepalive_gets(prod_addr, n);
    // The capture reads every request (bounded wait).
    let captured = format!("shadowtap_tee_captured_requests_total {n}\n");
    scrape_until(metrics, &captured);
    // At one request a second the mirror cannot drain within --timeout.
    assert_eq!(interrupt(tee), 130);
    drop((prod, mirror));

    let last = &capture_summary(&tee_err, n);
    let batches: u64 = last
        .split("; the capture paused its reads ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("the capture never paused: {last}"));
    assert!(batches > 0, "{last}");

    let r = read_json(&report);
    let t = &r["targets"][0];
    let sent = t["sent"].as_u64().unwrap();
    let dropped = t["dropped_total"].as_u64().unwrap();
    assert_eq!(
        sent + dropped,
        n as u64,
        "every request sent or counted: {t}"
    );
    assert!(t["dropped"]["queue"].as_u64().unwrap() > 0, "{t}");
    // What the mirror still held when --timeout ran out is counted too: at
    // most the engine's input (1,024), the queue's slot, the request
    // waiting for the rate limit and --concurrency (64) in flight.
    let at_stop = t["dropped"]["shutdown"].as_u64().unwrap();
    assert!((1..=1024 + 1 + 1 + 64).contains(&at_stop), "{t}");
}

/// A target that accepts connections and never answers: it reads what it
/// is sent and holds every connection until the returned flag is set (or
/// WAIT passes). Returns its address and the thread.
fn silent_target() -> (
    SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        let mut held = Vec::new();
        let mut buf = [0u8; 4096];
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline && held.len() < 1000 {
            if let Ok((s, _)) = l.accept() {
                s.set_nonblocking(true).unwrap();
                held.push(s);
            }
            for s in &mut held {
                let _ = s.read(&mut buf);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (addr, done, thread)
}

/// tee's summary line, once it exited, checked to say that the capture saw
/// all `n` requests and the kernel dropped no packet.
fn capture_summary(tee_err: &mpsc::Receiver<String>, n: usize) -> String {
    let lines = lines_after_exit(tee_err);
    let last = lines
        .iter()
        .find(|l| l.starts_with("shadowtap tee: captured "))
        .unwrap_or_else(|| panic!("no summary in {lines:?}"))
        .clone();
    assert!(
        last.starts_with(&format!("shadowtap tee: captured {n} requests; ")),
        "{last}"
    );
    assert!(last.contains("kernel drops 0"), "{last}");
    last
}

/// The summary line's count before `what`, e.g. "5 dropped at the capture".
fn summary_count(line: &str, what: &str) -> u64 {
    line.split("; ")
        .find_map(|part| {
            let i = part.find(what)?;
            part[..i].rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {what:?} in {line}"))
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn a_mirror_without_free_slots_drops_at_the_capture_and_the_capture_loses_nothing() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (target, done, holder) = silent_target();
    // One slot, taken by the first request for good (the target never
    // answers within --timeout): every later request finds no free slot.
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{target}")],
        dir.path(),
        &[
            "--concurrency",
            "1",
            "--timeout",
            "5s",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let n = 3000;
    keepalive_gets(prod_addr, n);
    // The capture reads every request (bounded wait).
    let captured = format!("shadowtap_tee_captured_requests_total {n}\n");
    scrape_until(metrics_addr(&started), &captured);
    interrupt(tee);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    holder.join().unwrap();
    drop(prod);

    // The capture lost nothing while it dropped requests for the mirror.
    let last = &capture_summary(&tee_err, n);
    assert_eq!(
        summary_count(last, " dropped because the queue was full"),
        0
    );
    // All but the first request were dropped by the capture itself, never
    // queued: the first is admitted ahead of the scheduler, so no request
    // after it sees its slot as free, even in a burst read at once.
    let at_capture = summary_count(last, " dropped at the capture");
    assert_eq!(at_capture, n as u64 - 1, "{last}");
    // The run of drops made the capture read in paced batches.
    assert!(
        last.contains("; the capture paused its reads "),
        "the capture never paused: {last}"
    );

    let r = read_json(&report);
    let t = &r["targets"][0];
    let sent = t["sent"].as_u64().unwrap();
    let num = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("{v} in {t}"));
    // Every captured request is accounted for, and the one sent is
    // unanswered (or timed out, had the stop come late).
    assert_eq!(sent + num(&t["dropped_total"]), n as u64, "{t}");
    assert_eq!(
        sent,
        num(&t["completed"]) + num(&t["errors_total"]) + num(&t["unanswered"]),
        "{t}"
    );
    assert_eq!(num(&t["completed"]), 0, "{t}");
    assert_eq!(sent, 1, "{t}");
    assert!(num(&t["dropped"]["concurrency"]) >= at_capture, "{t}");
    assert_eq!(num(&t["dropped"]["queue"]), 0, "{t}");
}
