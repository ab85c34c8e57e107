//! End to end: `shadowtap replay` with `--include` / `--exclude` (and the
//! rewrites) against `shadowtap serve --record`, checking exactly which
//! requests arrived and their bytes, the report's counts, and that bad
//! arguments exit 2 with a one-line message naming the flag.

use std::path::Path;
use std::process::Command;

use shadowtap_format::{Exchange, FileHeader, Reader, Response, Writer, WriterOptions};

mod common;

use common::{interrupt, spawn_ready, BIN};

/// The captured exchanges: (request, captured status).
const CAPTURED: [(&str, Option<u16>); 6] = [
    (
        "GET /api/items?page=1 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n",
        Some(200),
    ),
    (
        "GET /api/health HTTP/1.1\r\nHost: shop.example\r\n\r\n",
        Some(200),
    ),
    (
        "POST /api/orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n{}",
        Some(503),
    ),
    (
        "GET /static/app.js HTTP/1.1\r\nHost: shop.example\r\n\r\n",
        Some(200),
    ),
    (
        "GET /api/items/7 HTTP/1.1\r\nHost: shop.example\r\nX-Debug: 1\r\n\r\n",
        Some(200),
    ),
    (
        "GET /api/users HTTP/1.1\r\nhost: shop.example\r\nCookie: s=1\r\nX-Trace: a\r\n\r\n",
        None,
    ),
];

fn write_log(path: &Path) {
    let mut w = Writer::create(path, &FileHeader::default(), WriterOptions::default()).unwrap();
    for (i, (req, status)) in CAPTURED.iter().enumerate() {
        let i = i as u64;
        let ts = 1_700_000_000_000_000_000 + i * 1_000_000;
        let ex = Exchange::new(
            i,
            i,
            "10.0.0.1:40000".parse().unwrap(),
            "10.0.0.2:80".parse().unwrap(),
            ts,
            req.as_bytes().to_vec(),
        );
        let ex = match status {
            Some(s) => ex.with_response(Response::new(
                *s,
                ts + 10,
                ts + 20,
                format!("HTTP/1.1 {s} X\r\nContent-Length: 0\r\n\r\n").into_bytes(),
                Vec::new(),
            )),
            None => ex,
        };
        w.append(&ex).unwrap();
    }
    w.finish().unwrap();
}

/// Replays the captured log to a `serve --record` target (at `path` under
/// it, e.g. `/v2`) with `args`; returns the replay's JSON report and the
/// requests the target received, in order (one connection), and the Host
/// the target's authority gives (`127.0.0.1-shadow:PORT`).
struct Run {
    report: serde_json::Value,
    stderr: String,
    received: Vec<String>,
    host: String,
}

fn run(args: &[&str], path: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.stlog");
    write_log(&input);
    let recorded = dir.path().join("served.stlog");
    let (guard, line, _rest) = spawn_ready(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--record"])
            .arg(&recorded),
        "listening on ",
    );
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let target = format!("http://{addr}{path}");
    let mut all = vec![
        "replay",
        input.to_str().unwrap(),
        "--target",
        &target,
        "--speed",
        "max",
        "--concurrency",
        "1",
        "--report",
        "json",
        "--seed",
        "1",
    ];
    all.extend_from_slice(args);
    let out = common::run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(interrupt(guard), 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut r = Reader::open(&recorded).unwrap();
    let mut received = Vec::new();
    while let Some(ex) = r.next_exchange().unwrap() {
        received.push(String::from_utf8(ex.request).unwrap());
    }
    let port = addr.rsplit(':').next().unwrap();
    Run {
        report,
        stderr,
        received,
        host: format!("127.0.0.1-shadow:{port}"),
    }
}

#[test]
fn only_the_requests_the_filters_keep_arrive_and_the_rest_are_counted() {
    let r = run(
        &[
            "--include",
            "path:^/api/",
            "--exclude",
            "path:^/api/health$",
            "--exclude",
            "header.x-debug:.",
            "--exclude",
            "status:5xx",
        ],
        "",
    );
    let host = &r.host;
    // Kept: the first (200) and the last (no response: no status rule
    // matches it). The Host is the target's; everything else as captured.
    assert_eq!(
        r.received,
        [
            format!("GET /api/items?page=1 HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n"),
            format!("GET /api/users HTTP/1.1\r\nHost: {host}\r\nCookie: s=1\r\nX-Trace: a\r\n\r\n"),
        ]
    );
    let report = &r.report;
    assert_eq!(report["filtered_out"], 4);
    assert_eq!(report["sampled_out"], 0);
    assert_eq!(report["targets"][0]["completed"], 2);
    assert!(
        r.stderr
            .contains("input: 4 filtered out, 0 sampled out, 0 not replayable"),
        "{}",
        r.stderr
    );
    assert_eq!(
        report["config"]["include"],
        serde_json::json!(["path:^/api/"])
    );
    assert_eq!(
        report["config"]["exclude"],
        serde_json::json!(["path:^/api/health$", "header.x-debug:.", "status:5xx"])
    );
}

#[test]
fn rewrites_change_only_what_they_name() {
    let r = run(
        &[
            "--include",
            "path:^/api/(items|users)$",
            "--rewrite-uri",
            "^/api/=>/internal/",
            "--rewrite-uri",
            "page=([0-9]+)=>p=$1&mirror",
            "--remove-header",
            "cookie",
            "--remove-header",
            "X-Trace",
            "--header",
            "Accept: text/plain",
            "--header",
            "X-Mirror: 1",
        ],
        "",
    );
    let host = &r.host;
    assert_eq!(
        r.received,
        [
            format!(
                "GET /internal/items?p=1&mirror HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nX-Mirror: 1\r\n\r\n"
            ),
            format!("GET /internal/users HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nX-Mirror: 1\r\n\r\n"),
        ]
    );
    assert_eq!(r.report["filtered_out"], 4);
    let config = &r.report["config"];
    assert_eq!(
        config["rewrite_uri"],
        serde_json::json!(["^/api/=>/internal/", "page=([0-9]+)=>p=$1&mirror"])
    );
    assert_eq!(
        config["remove_headers"],
        serde_json::json!(["cookie", "X-Trace"])
    );
}

#[test]
fn a_target_path_prefix_goes_before_every_path() {
    let r = run(
        &[
            "--include",
            "path:^/api/(orders|users)$",
            "--rewrite-uri",
            "^/api/=>/",
        ],
        "/v2/",
    );
    let host = &r.host;
    assert_eq!(
        r.received,
        [
            format!("POST /v2/orders HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{}}"),
            format!("GET /v2/users HTTP/1.1\r\nHost: {host}\r\nCookie: s=1\r\nX-Trace: a\r\n\r\n"),
        ]
    );
    assert_eq!(r.report["filtered_out"], 4);
    assert!(r.report["config"]["targets"][0]
        .as_str()
        .unwrap()
        .ends_with("/v2/"));
}

#[test]
fn bad_filters_and_rewrites_exit_2_with_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.stlog");
    write_log(&input);
    let cases = [
        (
            vec!["--include", "path:(unclosed"],
            "--include \"path:(unclosed\": invalid regex: unclosed group",
        ),
        (
            vec!["--exclude", "body:x"],
            "--exclude \"body:x\": unknown field \"body\"",
        ),
        (
            vec!["--include", "nocolon"],
            "--include \"nocolon\": expected FIELD:REGEX",
        ),
        (
            vec!["--rewrite-uri", "[a=>b"],
            "--rewrite-uri \"[a=>b\": invalid regex: unclosed character class",
        ),
        (
            vec!["--rewrite-uri", "/a"],
            "--rewrite-uri \"/a\": expected 'REGEX=>REPLACEMENT'",
        ),
        (
            vec!["--remove-header", "Host"],
            "--remove-header \"Host\": Host, Content-Length, Transfer-Encoding and Connection cannot be removed",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec![
            "replay",
            input.to_str().unwrap(),
            "--target",
            "http://127.0.0.1:9",
        ];
        all.extend_from_slice(&args);
        let out = common::run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(want)).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("regex parse error"), "{stderr}");
    }
}

#[test]
fn tee_refuses_status_rules() {
    let out = common::run(&[
        "tee",
        "--interface",
        "lo",
        "--port",
        "1",
        "--target",
        "http://127.0.0.1:9",
        "--exclude",
        "status:5xx",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--include/--exclude status: tee mirrors a request before its response exists"
        ),
        "{stderr}"
    );
}

#[test]
fn inspect_and_stats_take_the_same_filters() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.stlog");
    write_log(&input);
    let path = input.to_str().unwrap();
    let out = common::run(&[
        "inspect",
        path,
        "--json",
        "--include",
        "path:^/api/",
        "--exclude",
        "status:5xx",
        "--limit",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let ids: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // 2 (503) left out; --limit counts what is shown.
    assert_eq!(ids, [0, 1, 4]);
    let out = common::run(&["stats", path, "--json", "--include", "header.cookie:^s="]);
    assert_eq!(out.status.code(), Some(0));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["exchanges"], 1);
    assert_eq!(stats["methods"], serde_json::json!({"GET": 1}));
    let out = common::run(&["stats", path, "--exclude", "uri:)"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--exclude \"uri:)\": invalid regex: unopened group"),
        "{stderr}"
    );
}
