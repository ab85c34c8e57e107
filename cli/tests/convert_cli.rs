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
    assert!(
        err.contains("line 1: not an exchange: missing field"),
        "{err}"
    );
    assert_eq!(err.matches("missing field").count(), 1, "{err}");

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

/// Waits up to 30 s for `child`, killing it after that.
fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("process {} did not exit within 30 s", child.id());
}

#[test]
fn curl_commands_parse_and_resend_the_same_bytes() {
    use std::io::BufRead as _;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.stlog");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["serve", "--listen", "127.0.0.1:0", "--record"])
        .arg(&rec)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(serve.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();

    let client = "127.0.0.1:1".parse().unwrap();
    let server = addr.parse().unwrap();
    let mut post = format!(
        "POST /a/../b?x=[1]&y={{2}} HTTP/1.1\r\nHost: {addr}\r\nx-Odd: it's \\ caf\u{e9} $HOME `id`\r\n\
         Empty:\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 7\r\n\r\n"
    )
    .into_bytes();
    post.extend_from_slice(b"a\0%'\n\xff\\");
    let get =
        format!("GET /q?%41 HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n");
    let chunked = format!(
        "POST /c HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
    );
    let exs = vec![
        Exchange::new(1, 1, client, server, 1, post.clone()),
        Exchange::new(2, 1, client, server, 2, chunked.into_bytes()),
        Exchange::new(3, 2, client, server, 3, get.clone().into_bytes()),
    ];
    let log = dir.path().join("in.stlog");
    write_log(&log, &exs);
    let script = dir.path().join("out.sh");
    let out = convert(&log, &script, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("# exchange 2 (conn 1) skipped: a Transfer-Encoding body"),
        "{text}"
    );
    assert_eq!(text.matches("\ncurl ").count(), 2, "{text}");

    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let ran = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );

    // SAFETY: plain syscall on the pid of our own child.
    unsafe { libc::kill(serve.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(wait_bounded(&mut serve).code(), Some(0));
    let got: Vec<Vec<u8>> = read_log(&rec).into_iter().map(|e| e.request).collect();
    assert_eq!(got, vec![post, get.into_bytes()]);
}

#[test]
fn stlog_har_stlog_keeps_the_request_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h, b) = (
        dir.path().join("a.stlog"),
        dir.path().join("a.har"),
        dir.path().join("b.stlog"),
    );
    let exs = exchanges();
    write_log(&a, &exs);
    let out = convert(&a, &h, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&h).unwrap()).unwrap();
    assert_eq!(doc["log"]["version"], "1.2");
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 20);
    assert_eq!(entries[0]["startedDateTime"], "2027-01-15T08:00:00.000Z");
    assert_eq!(entries[0]["request"]["url"], "http://h.example/p/0?q=a%20b");
    assert_eq!(entries[0]["response"]["content"]["encoding"], "base64");
    assert_eq!(entries[1]["response"]["status"], 0);
    let out = convert(&h, &b, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // HAR keeps header values trimmed, with one space after the colon.
    let fix = |raw: &[u8]| {
        String::from_utf8_lossy(raw)
            .replace("x-Odd:  v", "x-Odd: v")
            .into_bytes()
    };
    let expected: Vec<Exchange> = exs
        .iter()
        .map(|e| {
            let mut req = fix(&e.request[..e.request.len() - 3]);
            req.extend_from_slice(&e.request[e.request.len() - 3..]);
            // The status line is rebuilt from HAR's `status` (this test's
            // heads all say 200).
            let response = e.response.clone().map(|r| Response {
                head: String::from_utf8_lossy(&r.head)
                    .replace("200", &r.status.to_string())
                    .into_bytes(),
                ..r
            });
            Exchange {
                request: req,
                response,
                ..e.clone()
            }
        })
        .collect();
    let got = read_log(&b);
    assert_eq!(got, expected);

    // Without the `_shadowtap` fields, as another tool would write it, the
    // request bytes still come back.
    let mut bare = doc.clone();
    for e in bare["log"]["entries"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("_shadowtap");
    }
    let h2 = dir.path().join("bare.har");
    std::fs::write(&h2, serde_json::to_vec(&bare).unwrap()).unwrap();
    let b2 = dir.path().join("bare.stlog");
    let out = convert(&h2, &b2, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got2 = read_log(&b2);
    let reqs = |v: &[Exchange]| v.iter().map(|e| e.request.clone()).collect::<Vec<_>>();
    assert_eq!(reqs(&got2), reqs(&expected));
    assert_eq!(got2[0].req_first_ns, 1_800_000_000_000_000_000);

    let bad = dir.path().join("bad.har");
    std::fs::write(&bad, "{\"log\":{}}").unwrap();
    let out = convert(&bad, &b2, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
}

#[test]
fn a_torn_log_converts_what_it_holds_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.truncate(bytes.len() - 40);
    std::fs::write(&a, &bytes).unwrap();
    let j = dir.path().join("a.jsonl");
    let out = convert(&a, &j, &[]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("torn tail at byte"), "{err}");
    assert!(err.contains("wrote 20 exchanges"), "{err}");
}

/// A request's bytes and time, and its response's head, body and time.
type Wire = (Vec<u8>, u64, Option<(Vec<u8>, Vec<u8>, u64)>);

/// Requests and responses as bytes, the part of an exchange a `.gor` keeps
/// whole (with the request's and response's first-byte times).
fn wire(exs: &[Exchange]) -> Vec<Wire> {
    exs.iter()
        .map(|e| {
            let r = e.response.as_ref();
            (
                e.request.clone(),
                e.req_first_ns,
                r.map(|r| (r.head.clone(), r.body.clone(), r.first_ns)),
            )
        })
        .collect()
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

#[test]
fn stlog_gor_stlog_keeps_every_request_and_response_byte() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    let exs = exchanges();
    write_log(&a, &exs);
    // Exchanges come back as their response arrives, the unanswered ones
    // at the end.
    let (answered, unanswered): (Vec<_>, Vec<_>) =
        exs.iter().cloned().partition(|e| e.response.is_some());
    let expected = wire(&[answered, unanswered].concat());
    for name in ["a.gor", "a.gor.gz"] {
        let g = dir.path().join(name);
        ok(&convert(&a, &g, &[]));
        let bytes = std::fs::read(&g).unwrap();
        assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), name.ends_with(".gz"));
        let b = dir.path().join(format!("{name}.stlog"));
        let err = ok(&convert(&g, &b, &[]));
        assert_eq!(err.lines().count(), 1, "{err}");
        let got = read_log(&b);
        assert_eq!(wire(&got), expected, "{name}");
        // The status comes from the status line (these heads all say 200).
        assert!(got
            .iter()
            .flat_map(|e| &e.response)
            .all(|r| r.status == 200));
    }
    // To stdout, with the format given.
    let out = convert(&a, Path::new("-"), &["--to", "gor"]);
    ok(&out);
    assert_eq!(out.stdout, std::fs::read(dir.path().join("a.gor")).unwrap());
}

#[test]
fn a_torn_gor_converts_what_it_holds_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    for name in ["a.gor", "a.gor.gz"] {
        let g = dir.path().join(name);
        ok(&convert(&a, &g, &[]));
        let mut bytes = std::fs::read(&g).unwrap();
        bytes.truncate(bytes.len() - 30);
        std::fs::write(&g, &bytes).unwrap();
        let err = ok(&convert(&g, &dir.path().join("b.jsonl"), &[]));
        assert!(err.contains("torn tail at byte"), "{name}: {err}");
        let n: usize = err
            .split("wrote ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!((18..=20).contains(&n), "{name}: {err}");
    }
}

#[test]
fn a_corrupt_gor_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.gor");
    std::fs::write(
        &bad,
        "GET / HTTP/1.1\r\n\r\n\n\u{1F435}\u{1F648}\u{1F649}\n",
    )
    .unwrap();
    let out = convert(&bad, &dir.path().join("o.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.ends_with("bad.gor: payload 1 at byte 0: unknown payload type \"GET\"\n"),
        "{err}"
    );

    // gzip whose deflate data is damaged.
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    let gz = dir.path().join("a.gor.gz");
    ok(&convert(&a, &gz, &[]));
    let mut bytes = std::fs::read(&gz).unwrap();
    for b in &mut bytes[12..40] {
        *b ^= 0x55;
    }
    std::fs::write(&gz, &bytes).unwrap();
    let out = convert(&gz, &dir.path().join("o.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("payload 1 at byte 0"), "{err}");
}

#[test]
fn only_gor_is_gzip_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    let out = convert(&a, &dir.path().join("a.jsonl.gz"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = convert(&a, &dir.path().join("a.gz"), &["--to", "gor"]);
    ok(&out);
    let g = dir.path().join("a.gz");
    assert!(std::fs::read(&g).unwrap().starts_with(&[0x1f, 0x8b]));
    ok(&convert(
        &g,
        &dir.path().join("b.jsonl"),
        &["--from", "gor"],
    ));
}

#[test]
fn what_a_format_cannot_carry_is_counted_apart_from_what_was_written() {
    // A body holding GoReplay's payload separator cannot go into a .gor:
    // that exchange is left out, and the count written says so.
    let dir = tempfile::tempdir().unwrap();
    let mut exs = exchanges();
    exs[0]
        .request
        .extend_from_slice("\n\u{1f435}\u{1f648}\u{1f649}\n".as_bytes());
    exs[0].request_len = exs[0].request.len() as u64;
    let a = dir.path().join("a.stlog");
    write_log(&a, &exs);
    let out = convert(&a, &dir.path().join("a.gor"), &[]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("1 exchange left out of the .gor"), "{err}");
    assert!(err.contains("wrote 19 exchanges"), "{err}");
}

#[test]
fn include_and_exclude_cut_a_log_down_as_replay_would() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.stlog");
    write_log(&a, &exchanges());
    let j = dir.path().join("a.jsonl");
    // /p/1 and /p/10 to /p/19 (11); of those, the one answered 212 is left out.
    let out = convert(
        &a,
        &j,
        &["--include", "path:^/p/1", "--exclude", "status:212"],
    );
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("10 exchanges left out by --include/--exclude"),
        "{err}"
    );
    assert!(err.contains("wrote 10 exchanges"), "{err}");
    let text = std::fs::read_to_string(&j).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(!text.contains("\"status\":212"), "{text}");

    let out = convert(&a, &j, &["--include", "nope:x"]);
    assert_eq!(out.status.code(), Some(2));
}
