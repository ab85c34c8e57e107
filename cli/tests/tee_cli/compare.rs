//! `tee --compare`: each mirror answer compared with production's own
//! response to the request, live on loopback. Production answers as v1 of
//! the test API (tests/common/api.rs), the mirror as v2: every injected
//! difference is reported at its endpoint, pointer, kind and count, the
//! noise both add is noise, and the baseline latency is production's.

use super::*;
use common::api::{assert_injected, endpoint, requests};
use common::api_server::{server, Style};

/// One GET of `path` on its own connection; the status code.
fn get(addr: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").as_bytes())
        .unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    // The server keeps the connection: read the head, then Content-Length.
    for _ in 0..1000 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&resp));
        resp.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&resp).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
            if resp.len() >= end + 4 + len {
                return text[9..12].parse().unwrap();
            }
        }
    }
    panic!("no whole response: {}", String::from_utf8_lossy(&resp));
}

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_compares_the_mirrors_answers_with_productions() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let prod = server(1, Style::Plain);
    let mirror = server(2, Style::Chunked);
    let prod_addr: SocketAddr = prod.trim_start_matches("http://").parse().unwrap();
    let diff_log = dir.path().join("d.jsonl");
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        std::slice::from_ref(&mirror),
        dir.path(),
        &[
            "--compare",
            "--diff-log",
            diff_log.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            // Slots for every request: this is about pairing, not about a
            // busy mirror.
            "--concurrency",
            "1000",
        ],
    );
    // Responses are captured too, without --record.
    let port = prod_addr.port();
    assert!(
        started.contains(&format!("(filter: inbound and (tcp and (port {port})))")),
        "{started}"
    );
    let paths = requests();
    for p in &paths {
        get(&prod_addr.to_string(), p);
    }
    let n = paths.len();
    let answered = format!(
        "shadowtap_tee_responses_total{{target=\"{mirror}\",class=\"2xx\"}} {}\n",
        n - 1
    );
    scrape_until(metrics_addr(&started), &answered);
    assert_eq!(interrupt(tee), 0, "tee exits 0 after draining");
    let summary = lines_after_exit(&tee_err);
    assert!(
        summary.iter().any(|l| l.starts_with("comparison: ")),
        "{summary:?}"
    );

    let r = read_json(&report);
    assert_eq!(r["config"]["compare_baseline"], "production");
    let c = &r["comparison"];
    assert_eq!(c["overall"]["compared"], n, "{c:#}");
    assert_eq!(c["not_compared"]["no_baseline"], 0, "{c:#}");
    assert_injected(&r);
    let items = endpoint(&r, "GET /api/items/{id}");
    // Production's latency, as captured, against the mirror's.
    let lat = &items["latency_us"];
    assert!(lat["baseline"]["p50"].as_u64().unwrap() > 0, "{lat:#}");
    assert!(lat["candidate"]["p50"].as_u64().unwrap() > 0, "{lat:#}");
    // A line per request with any difference, noise included.
    let lines = std::fs::read_to_string(&diff_log).unwrap();
    let unequal =
        c["overall"]["compared"].as_u64().unwrap() - c["overall"]["equal"].as_u64().unwrap();
    assert_eq!(lines.lines().count() as u64, unequal);
    assert!(unequal >= 120, "{c:#}");
}
