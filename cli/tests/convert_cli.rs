//! `shadowtap convert` as a user runs it: round trips through each format,
//! and the exit codes of bad input and unknown formats.

use std::path::Path;
use std::process::{Command, Output};

use shadowtap_format::{Exchange, FileHeader, Flags, Reader, Response, Writer, WriterOptions};

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .output()
        .expect("run shadowtap")
}

fn convert(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["convert".as_ref(), input.as_ref(), "-o".as_ref()];
    args.push(output.as_ref());
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    run(&args)
}

/// Exchanges with binary bodies, flags, a missing response and an origin.
fn exchanges() -> Vec<Exchange> {
    let client = "10.0.0.1:40000".parse().unwrap();
    let server = "[::1]:8080".parse().unwrap();
    (0..20u64)
        .map(|i| {
            let mut req = format!(
                "POST /p/{i}?q=a%20b HTTP/1.1\r\nHost: h.example\r\nx-Odd:  v\r\nContent-Length: 3\r\n\r\n"
            )
            .into_bytes();
            req.extend_from_slice(&[0, 0xfe, i as u8]);
            let ex = Exchange {
                req_last_ns: 1_800_000_000_000_000_000 + i * 7_777,
                flags: if i == 3 { Flags::REQ_BODY_CAPPED } else { Flags::empty() },
                origin: (i == 4).then_some(42),
                ..Exchange::new(i + 1, i / 3, client, server, 1_800_000_000_000_000_000 + i, req)
            };
            if i % 5 == 1 {
                return ex;
            }
            ex.with_response(Response::new(
                200 + i as u16,
                1_800_000_000_100_000_000 + i,
                1_800_000_000_200_000_000 + i,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n".to_vec(),
                vec![0x80, i as u8],
            ))
        })
        .collect()
}

fn write_log(path: &Path, exs: &[Exchange]) {
    let header = FileHeader {
        writer: "test".into(),
        created_ns: 5,
        meta: vec![("source".into(), "capture".into())],
    };
    let mut w = Writer::create(path, &header, WriterOptions::default()).unwrap();
    for ex in exs {
        w.append(ex).unwrap();
    }
    w.finish().unwrap();
}

fn read_log(path: &Path) -> Vec<Exchange> {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(ex) = r.next_exchange().unwrap() {
        out.push(ex);
    }
    out
}

#[test]
fn stlog_jsonl_stlog_keeps_every_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let (a, j, b) = (
        dir.path().join("a.stlog"),
        dir.path().join("a.jsonl"),
        dir.path().join("b.stlog"),
    );
    let exs = exchanges();
    write_log(&a, &exs);
    let out = convert(&a, &j, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&j).unwrap();
    assert_eq!(text.lines().count(), 20);
    let out = convert(&j, &b, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read_log(&b), exs);

    // To stdout, with the format given.
    let out = convert(&a, Path::new("-"), &["--to", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\":1}\n").unwrap();
    let out = convert(&bad, &dir.path().join("o.stlog"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 1: missing field"), "{err}");

    let junk = dir.path().join("junk.stlog");
    std::fs::write(&junk, "not a log").unwrap();
    let out = convert(&junk, &dir.path().join("o.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
}

#[test]
fn unknown_format_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    let out = convert(&a, &dir.path().join("a.xyz"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = convert(&a, &dir.path().join("a.jsonl"), &["--to", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = convert(&a, Path::new("-"), &["--to", "stlog"]);
    assert_eq!(out.status.code(), Some(2));
}
