//! `shadowtap inspect` and `stats` as a user runs them: output, warnings and
//! exit codes on good, unfinished and damaged logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shadowtap_format::index::read_index;
use shadowtap_format::spec::BLOCK_HEADER_LEN;
use shadowtap_format::{Codec, Exchange, FileHeader, Flags, Response, Writer, WriterOptions};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run shadowtap")
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../format/tests/data/golden-v1.stlog")
}

fn exchange(i: u64) -> Exchange {
    let request = format!("GET /items/{i}?x=1 HTTP/1.1\r\nHost: shop.example\r\n\r\n").into_bytes();
    let ts = 1_800_000_000_000_000_000 + i * 1_000_000;
    Exchange {
        req_last_ns: ts + 10_000,
        flags: if i == 5 {
            Flags::REQ_BODY_CAPPED
        } else {
            Flags::empty()
        },
        response: i.is_multiple_of(2).then(|| {
            Response::new(
                if i.is_multiple_of(4) { 200 } else { 503 },
                ts + 2_010_000,
                ts + 2_020_000,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".to_vec(),
                b"ok".to_vec(),
            )
        }),
        ..Exchange::new(
            i,
            i / 2,
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
            ts,
            request,
        )
    }
}

/// A 40-exchange log in small blocks.
fn write_log(path: &Path) -> Vec<u8> {
    let opts = WriterOptions {
        codec: Codec::Zstd,
        block_target: 512,
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(path, &FileHeader::default(), opts).unwrap();
    for i in 0..40 {
        w.append(&exchange(i)).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(path).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn inspect_json_lines_have_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    write_log(&log);
    let out = run(&["inspect", "--json", "--limit", "3", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    for field in [
        "id",
        "conn",
        "ts_ns",
        "client",
        "server",
        "method",
        "uri",
        "host",
        "req_bytes",
        "status",
        "latency_us",
        "resp_bytes",
        "flags",
    ] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }
    assert_eq!(first["method"], "GET");
    assert_eq!(first["uri"], "/items/0?x=1");
    assert_eq!(first["host"], "shop.example");
    assert_eq!(first["status"], 200);
    assert_eq!(first["latency_us"], 2000.0);
    assert!(lines[1]["status"].is_null());
    assert!(lines[1]["latency_us"].is_null());
}

#[test]
fn inspect_text_shows_flags_and_missing_responses() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    write_log(&log);
    let out = run(&["inspect", log.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 40);
    let line5 = stdout.lines().nth(5).unwrap();
    assert!(line5.contains("/items/5?x=1 --- -"), "{line5}");
    assert!(line5.contains("[req_body_capped]"), "{line5}");
    assert!(stdout.lines().next().unwrap().contains(" 200 2.0ms"));
}

#[test]
fn stats_counts_methods_statuses_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    write_log(&log);
    let out = run(&["stats", "--json", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exchanges"], 40);
    assert_eq!(v["with_response"], 20);
    assert_eq!(v["methods"]["GET"], 40);
    assert_eq!(v["status_classes"]["2xx"], 10);
    assert_eq!(v["status_classes"]["5xx"], 10);
    assert_eq!(v["status_classes"]["none"], 20);
    assert_eq!(v["flags"]["req_body_capped"], 1);
    assert_eq!(v["end"], "clean (indexed)");
    assert!(v["compression_ratio"].as_f64().unwrap() > 0.0);
    assert!((v["span_s"].as_f64().unwrap() - 0.039).abs() < 1e-9);
    let human = run(&["stats", log.to_str().unwrap()]);
    assert!(human.status.success());
    assert!(text(&human.stdout).contains("exchanges     40 (20 with a response)"));
}

#[test]
fn golden_file_inspects() {
    let out = run(&["inspect", "--limit", "3", golden().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 3);
}

#[test]
fn torn_tail_is_a_warning_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    let bytes = write_log(&log);
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let cut = idx.last().unwrap().offset as usize + 20;
    let torn = dir.path().join("torn.stlog");
    std::fs::write(&torn, &bytes[..cut]).unwrap();
    let out = run(&["inspect", torn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let expected: u32 = idx[..idx.len() - 1].iter().map(|e| e.record_count).sum();
    assert_eq!(text(&out.stdout).lines().count(), expected as usize);
    let err = text(&out.stderr);
    assert!(err.contains("torn tail at byte"), "{err}");
    assert!(err.contains("20 bytes ignored"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn crc_mismatch_names_the_offset_and_salvage_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    let mut bytes = write_log(&log);
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let victim = idx[1];
    bytes[victim.offset as usize + BLOCK_HEADER_LEN + 1] ^= 0x10;
    let bad = dir.path().join("bad.stlog");
    std::fs::write(&bad, &bytes).unwrap();

    let out = run(&["inspect", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("byte offset {}", victim.offset)),
        "{err}"
    );
    assert!(err.starts_with("shadowtap: error:"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        idx[0].record_count as usize,
        "exchanges before the damage are printed"
    );

    let out = run(&["inspect", "--salvage", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).lines().count(),
        40 - victim.record_count as usize
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{} exchanges lost", victim.record_count)),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_one_line_errors_with_documented_codes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.stlog");
    let out = run(&["inspect", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().count(), 1);

    let notlog = dir.path().join("x.txt");
    std::fs::write(&notlog, "hello").unwrap();
    let out = run(&["stats", notlog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a shadowtap log"));

    let mut newer = std::fs::read(golden()).unwrap();
    newer[8] = 9;
    let newer_path = dir.path().join("newer.stlog");
    std::fs::write(&newer_path, newer).unwrap();
    let out = run(&["inspect", newer_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("version 9.0 is newer"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["inspect", "--limit", "many", golden().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["inspect"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn closed_stdout_is_success() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.stlog");
    // Enough output to fill a pipe buffer.
    let opts = WriterOptions {
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&log, &FileHeader::default(), opts).unwrap();
    for i in 0..20_000 {
        w.append(&exchange(i)).unwrap();
    }
    w.finish().unwrap();
    let mut child = bin()
        .args(["inspect", log.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// One POST with a JSON body, answered with a chunked, gzip-coded body
/// (a stored deflate block, made by hand) and a binary one.
fn write_bodies_log(path: &Path) {
    let request = b"POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"n\":1}".to_vec();
    let gz: &[u8] = &[
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2, 0, 0xfd, 0xff, b'h', b'i', 0xac, 0x2a, 0x93,
        0xd8, 2, 0, 0, 0,
    ];
    let mut body = format!("{:x}\r\n", gz.len()).into_bytes();
    body.extend_from_slice(gz);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let head =
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n";
    let ts = 1_800_000_000_000_000_000;
    let ex = Exchange::new(
        1,
        1,
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
        ts,
        request,
    )
    .with_response(Response::new(
        201,
        ts + 1_000,
        ts + 2_000,
        head.to_vec(),
        body,
    ));
    let mut w = Writer::create(path, &FileHeader::default(), WriterOptions::default()).unwrap();
    w.append(&ex).unwrap();
    w.finish().unwrap();
}

#[test]
fn inspect_shows_headers_and_bodies_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b.stlog");
    write_bodies_log(&log);
    let log = log.to_str().unwrap();
    // Text, as on the wire: the response body is binary (gzip in chunks).
    let out = run(&["inspect", log, "--headers", "--body"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    for want in [
        "  > Host: shop.example\n",
        "  > Content-Type: application/json\n",
        "  > [body: 7 bytes of 7 on the wire, as on the wire]\n  > {\"n\":1}\n",
        "  < Content-Encoding: gzip\n",
        "  < [body: 36 bytes of 36 on the wire, as on the wire, base64]\n",
    ] {
        assert!(t.contains(want), "no {want:?} in\n{t}");
    }
    // Decoded: the text inside.
    let out = run(&["inspect", log, "--body", "--decode"]);
    let t = text(&out.stdout);
    assert!(
        t.contains("  < [body: 2 bytes of 36 on the wire, decoded]\n  < hi\n"),
        "{t}"
    );
    assert!(!t.contains("Host:"), "--body alone shows no headers: {t}");
    // JSON: the same as fields.
    let out = run(&["inspect", log, "--json", "--headers", "--body", "--decode"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["request_headers"][0],
        serde_json::json!(["Host", "shop.example"])
    );
    assert_eq!(
        v["response_headers"][1],
        serde_json::json!(["Content-Encoding", "gzip"])
    );
    assert_eq!(v["request_body"]["data"], "{\"n\":1}");
    assert_eq!(v["response_body"]["data"], "hi");
    assert_eq!(v["response_body"]["decoded"], true);
    assert_eq!(v["response_body"]["wire_len"], 36);
    // Without the flags, the line has none of these fields.
    let out = run(&["inspect", log, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("request_headers").is_none() && v.get("response_body").is_none());
    // --decode needs --body.
    let out = run(&["inspect", log, "--decode"]);
    assert_eq!(out.status.code(), Some(2));
}
