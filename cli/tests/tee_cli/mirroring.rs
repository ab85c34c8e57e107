//! Every request mirrored once, byte for byte but the host, with and without
//! `--record`.

use super::*;

#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_mirrors_every_request_once_byte_identical_but_the_host() {
    require_root();
    mirror_every_request_once(true, 30);
}

/// Without `--record` tee keeps no responses, and its capture filter lets
/// only the client's bytes (and the server's SYN, FIN and RST) out of the
/// kernel: the mirror must still get every request once.
#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_without_record_captures_requests_only_and_mirrors_them_all() {
    require_root();
    mirror_every_request_once(false, 300);
}

/// Sends `n` requests to production while tee mirrors them. The mirror has
/// slots for all of them: this is about capture, not about a busy target.
fn mirror_every_request_once(record: bool, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mirror_log = dir.path().join("mirror.stlog");
    let tee_log = dir.path().join("tee.stlog");
    let (prod, prod_addr, _prod_err) = serve(&[]);
    let (mirror, mirror_addr, _mirror_err) = serve(&["--record", mirror_log.to_str().unwrap()]);
    let mut args = vec![
        "--keep-host",
        "--metrics",
        "127.0.0.1:0",
        "--concurrency",
        "1000",
    ];
    if record {
        args.extend(["--record", tee_log.to_str().unwrap()]);
    }
    let (tee, report, started, tee_err) = start_tee(
        prod_addr,
        &[format!("http://{mirror_addr}")],
        dir.path(),
        &args,
    );
    let port = prod_addr.port();
    // On loopback the kernel is asked for one copy of each packet.
    let filter = if record {
        format!("(filter: inbound and (tcp and (port {port})))")
    } else {
        format!("(filter: inbound and (tcp and (dst port {port} or ((src port {port}) and")
    };
    assert!(started.contains(&filter), "{started}");

    let sent = requests_for(prod_addr, n);
    for raw in &sent {
        assert!(request(prod_addr, raw).starts_with("HTTP/1.1 200"));
    }
    // The live counters reach n answered mirror requests (bounded wait).
    let answered = format!(
        "shadowtap_tee_responses_total{{target=\"http://{mirror_addr}\",class=\"2xx\"}} {n}\n"
    );
    let body = scrape_until(metrics_addr(&started), &answered);
    assert!(
        body.contains("shadowtap_tee_mirrored_total{target=\"http://"),
        "{body}"
    );
    assert_eq!(interrupt(tee), 0, "tee exits 0 after draining");
    let summary = lines_after_exit(&tee_err);
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with(&format!("shadowtap tee: {n} requests to 1 target"))),
        "{summary:?}"
    );
    assert_eq!(interrupt(mirror), 0);
    drop(prod);

    if record {
        // Production's requests, as tee recorded them, are exactly what
        // was sent.
        let recorded = read_log(&tee_log);
        let mut on_wire: Vec<&[u8]> = recorded.iter().map(|e| e.request.as_slice()).collect();
        on_wire.sort();
        let mut expected: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
        expected.sort();
        assert_eq!(on_wire, expected, "tee --record holds every request once");
    }

    // The mirror received each once, byte-identical except the Host line
    // (`-shadow` inserted before the port) and the hop-by-hop Connection.
    let host = format!("Host: {prod_addr}\r\n");
    let shadow = format!("Host: 127.0.0.1-shadow:{}\r\n", prod_addr.port());
    let normalise = |raw: &[u8]| -> String {
        String::from_utf8_lossy(raw)
            .replace(&host, &shadow)
            .replace("Connection: close\r\n", "")
    };
    let mut got: Vec<String> = read_log(&mirror_log)
        .iter()
        .map(|e| normalise(&e.request))
        .collect();
    got.sort();
    let mut want: Vec<String> = sent.iter().map(|r| normalise(r)).collect();
    want.sort();
    for g in &got {
        assert!(g.contains(&shadow), "{g}");
    }
    assert_eq!(got.len(), n, "each request arrives at the mirror once");
    assert_eq!(got, want);

    let r = read_json(&report);
    assert_eq!(r["overall"]["sent"], n);
    assert_eq!(r["overall"]["errors_total"], 0);
    assert_eq!(r["overall"]["dropped_total"], 0);
    assert_eq!(r["overall"]["mirror_delay_us"]["count"], n);
    // The timeline is in tee's report too, every response in it.
    let answered: u64 = r["timeline"]["overall"]["intervals"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|i| i["count"].as_u64().unwrap())
        .sum();
    assert_eq!(answered, n as u64);
    if !record {
        return;
    }

    // The recorded log is a replayable log.
    let (again, again_addr, _again_err) = serve(&[]);
    let out = Command::new(BIN)
        .args(["replay", tee_log.to_str().unwrap(), "--target"])
        .arg(format!("http://{again_addr}"))
        .args(["--speed", "max", "--report", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rr: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rr["overall"]["completed"], 30);
    drop(again);
}

/// `tee --report html`: the run page, its charts and the timeline drawn,
/// written when tee stops.
#[test]
#[ignore = "needs root (CAP_NET_RAW)"]
fn tee_writes_the_html_report() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("tee.html");
    let (_prod, prod_addr, _prod_err) = serve(&[]);
    let (_mirror, mirror_addr, _mirror_err) = serve(&[]);
    let mut cmd = Command::new(BIN);
    cmd.args(["tee", "-i", "lo", "--port", &prod_addr.port().to_string()])
        .args(["--target", &format!("http://{mirror_addr}")])
        .args(["--report", "html", "--report-file", page.to_str().unwrap()])
        .args(["--stats-interval", "0s"]);
    let (tee, _started, _rx) = spawn_ready(&mut cmd, "capturing on");
    for raw in &requests_for(prod_addr, 5) {
        assert!(request(prod_addr, raw).starts_with("HTTP/1.1 200"));
    }
    assert_eq!(interrupt(tee), 0, "tee exits 0 after draining");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>shadowtap tee</title>"));
    assert!(html.contains("<svg class=\"chart timeline\" data-series=\"2\""));
    assert!(html.contains("<svg class=\"chart percentiles\""));
    assert!(!html.contains("timeline-absent"));
    assert!(!html.contains("<script"));
}
