//! `shadowtap convert` on the committed golden files of
//! `tests/data/convert/` (see the README there): each reads to exactly the
//! exchanges listed here, and what is written deterministically is
//! compared byte for byte.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shadowtap_format::{Exchange, Flags, Reader, Response};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/convert")
        .join(name)
}

fn convert(input: &Path, output: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("convert")
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .expect("run shadowtap");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The exchanges of `input`, through a `.stlog`.
fn read_via_stlog(input: &Path) -> (Vec<Exchange>, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.stlog");
    let out = convert(input, &log);
    let mut r = Reader::open(&log).unwrap();
    let mut exs = Vec::new();
    while let Some(ex) = r.next_exchange().unwrap() {
        exs.push(ex);
    }
    (exs, String::from_utf8(out.stderr).unwrap())
}

fn unknown() -> SocketAddr {
    "0.0.0.0:0".parse().unwrap()
}

fn resp(status: u16, first_ns: u64, last_ns: u64, head: &str, body: &[u8]) -> Response {
    Response::new(
        status,
        first_ns,
        last_ns,
        head.as_bytes().to_vec(),
        body.to_vec(),
    )
}

/// `goreplay.gor`'s exchanges, as README.md beside it explains.
fn goreplay_exchanges() -> Vec<Exchange> {
    // FNV-1a of each payload id.
    let (reused, old, short) = (
        7066756772478200984,
        16258223084898933276,
        16654208175385433931,
    );
    let t = 1_733_580_000_000_000_000u64;
    let mut post = b"POST /upload HTTP/1.1\r\nHost: shop.example\r\n\
        Content-Type: application/octet-stream\r\nContent-Length: 6\r\n\r\n"
        .to_vec();
    post.extend_from_slice(b"\x00\xff\x1f\x8b\r\n");
    let get = b"GET /a?x=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: hand-made\r\n\r\n";
    vec![
        Exchange::new(1, reused, unknown(), unknown(), t, get.to_vec()).with_response(resp(
            200,
            t + 150_000_000,
            t + 150_000_000,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
            b"ok",
        )),
        Exchange::new(2, reused, unknown(), unknown(), t + 100_000_000, post).with_response(resp(
            201,
            t + 300_000_000,
            t + 300_000_000,
            "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n",
            b"\x89PNG",
        )),
        Exchange::new(
            3,
            old,
            unknown(),
            unknown(),
            t + 1_000_000_000,
            b"GET /old HTTP/1.0\r\n\r\n".to_vec(),
        )
        .with_response(resp(
            404,
            t + 1_250_000_000,
            t + 1_250_000_000,
            "HTTP/1.0 404 Not Found\r\n\r\n",
            b"",
        )),
        Exchange::new(
            4,
            short,
            unknown(),
            unknown(),
            t + 3_000_000_000,
            b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
        ),
    ]
}

#[test]
fn golden_gor_reads_to_known_exchanges() {
    let (exs, stderr) = read_via_stlog(&golden("goreplay.gor"));
    assert_eq!(exs, goreplay_exchanges());
    let warning = format!(
        "shadowtap: warning: {}: 1 unpaired response (no unanswered request of the same id before it) dropped; 1 replayed response (type 3) skipped\n",
        golden("goreplay.gor").display()
    );
    assert!(stderr.starts_with(&warning), "{stderr}");
    assert!(
        stderr.contains("shadowtap: wrote 4 exchanges to "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn golden_gor_gz_reads_like_the_plain_file() {
    let (exs, _) = read_via_stlog(&golden("goreplay.gor.gz"));
    assert_eq!(exs, goreplay_exchanges());
}

fn jsonl_exchanges() -> Vec<Exchange> {
    let server: SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
    let t = 1_733_580_000_000_000_000u64;
    let req = b"POST /api/items HTTP/1.1\r\nHost: api.example\r\nContent-Length: 10\r\n\r\n{\"a\":";
    vec![
        Exchange {
            req_last_ns: t + 400_000,
            flags: Flags::REQ_BODY_CAPPED,
            request_len: req.len() as u64 + 5,
            ..Exchange::new(1, 5, "192.0.2.10:51000".parse().unwrap(), server, t, req.to_vec())
        }
        .with_response(resp(
            201,
            t + 20_000_000,
            t + 21_000_000,
            "HTTP/1.1 201 Created\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\n",
            b"\x00\x01\xfe\xff",
        )),
        Exchange {
            origin: Some(7),
            ..Exchange::new(
                2,
                6,
                "192.0.2.11:51001".parse().unwrap(),
                server,
                t + 1_000_000_000,
                b"GET /api/items?page=2 HTTP/1.1\r\nHost: api.example\r\nAccept: */*\r\n\r\n"
                    .to_vec(),
            )
        },
    ]
}

#[test]
fn golden_jsonl_reads_to_known_exchanges_and_writes_back_the_same_bytes() {
    let (exs, _) = read_via_stlog(&golden("shadowtap.jsonl"));
    assert_eq!(exs, jsonl_exchanges());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("again.jsonl");
    convert(&golden("shadowtap.jsonl"), &out);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(golden("shadowtap.jsonl")).unwrap()
    );
}

#[test]
fn golden_jsonl_writes_the_golden_gor() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.gor");
    convert(&golden("shadowtap.jsonl"), &out);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(golden("from-jsonl.gor")).unwrap()
    );
    // And the same stream, gzip-compressed, for a `.gz` name.
    let gz = dir.path().join("out.gor.gz");
    convert(&golden("shadowtap.jsonl"), &gz);
    let mut plain = Vec::new();
    use std::io::Read as _;
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, std::fs::read(golden("from-jsonl.gor")).unwrap());
}

#[test]
fn golden_har_from_another_tool_reads_to_known_exchanges() {
    let (exs, _) = read_via_stlog(&golden("browser.har"));
    let t = 1_733_580_000_000_000_000u64;
    let mut post =
        b"POST /cart HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n\
        Content-Length: 9\r\n\r\n"
            .to_vec();
    post.extend_from_slice(b"{\"id\":42}");
    let want = vec![
        Exchange {
            req_last_ns: t + 500_000,
            ..Exchange::new(
                1,
                12,
                unknown(),
                unknown(),
                t,
                b"GET /search?q=tea&n=2 HTTP/1.1\r\nHost: shop.example\r\nAccept: text/html\r\n\r\n"
                    .to_vec(),
            )
        }
        .with_response(resp(
            200,
            t + 30_500_000,
            t + 35_500_000,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
            b"tea",
        )),
        Exchange {
            req_last_ns: t + 1_251_000_000,
            ..Exchange::new(2, 0, unknown(), unknown(), t + 1_250_000_000, post)
        }
        .with_response(resp(
            201,
            t + 1_259_000_000,
            t + 1_260_000_000,
            "HTTP/1.1 201 Created\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n",
            b"\x89PNG",
        )),
    ];
    assert_eq!(exs, want);
}
