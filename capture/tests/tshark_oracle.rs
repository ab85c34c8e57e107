//! Oracle check: for each generated pcap, the (method, URI, Host) list
//! shadowtap records equals what tshark's HTTP dissector reports.
//! Needs tshark: ignored with that reason by a plain `cargo test`, and failing
//! when tshark is missing under `--include-ignored` (test.sh as root, CI).

mod common;
#[path = "support/gate.rs"]
mod gate;

use std::path::Path;
use std::process::Command;

use common::encap::{wrap_all, Wrap};
use common::*;
use shadowtap_capture::{read_pcap, PipelineConfig};
use shadowtap_format::Exchange;

type Triple = (String, String, String);

fn tshark(path: &Path) -> Option<Vec<Triple>> {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-o",
            "tcp.desegment_tcp_streams:TRUE",
        ])
        .args(["-d", "tcp.port==8123,http", "-r"])
        .arg(path)
        .args(["-Y", "http.request", "-T", "fields", "-E", "separator=\t"])
        .args([
            "-e",
            "http.request.method",
            "-e",
            "http.request.uri",
            "-e",
            "http.host",
        ])
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<Triple> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| {
            // Several requests in one frame come out comma-separated.
            let cols: Vec<Vec<String>> = l
                .split('\t')
                .map(|c| c.split(',').map(str::to_string).collect())
                .collect();
            let n = cols[0].len();
            (0..n)
                .map(|i| {
                    let get = |c: usize| {
                        cols.get(c)
                            .and_then(|x| x.get(i))
                            .cloned()
                            .unwrap_or_default()
                    };
                    (get(0), get(1), get(2))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    v.sort();
    Some(v)
}

fn ours(path: &Path) -> Vec<Triple> {
    let mut ex: Vec<Exchange> = Vec::new();
    read_pcap(path, PipelineConfig::default(), &mut ex).unwrap();
    let mut v: Vec<Triple> = ex
        .iter()
        .map(|e| {
            let h = shadowtap_format::http1::parse_request_head_lenient(&e.request)
                .expect("request head");
            (
                h.method.as_deref().unwrap_or_default().to_string(),
                h.uri(&e.request).unwrap_or_default().to_string(),
                h.host(&e.request).unwrap_or_default().into_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn req(method: &str, uri: &str, host: &str, body: &str) -> Vec<u8> {
    let mut r = format!("{method} {uri} HTTP/1.1\r\nHost: {host}\r\n");
    if !body.is_empty() {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The fixtures: one pcap per scenario.
fn scenarios() -> Vec<(&'static str, Link, Vec<Frame>)> {
    let mut out = Vec::new();

    let mut c = Conv::new("10.0.0.1:40000", "10.0.0.2:80");
    c.handshake();
    for (m, u, b) in [
        ("GET", "/a", ""),
        ("POST", "/b?x=1", "payload"),
        ("DELETE", "/c/1", ""),
    ] {
        c.c(&req(m, u, "api.example", b));
        c.s(OK);
    }
    c.close();
    out.push(("keep-alive", Link::Ethernet, c.frames));

    let r = req("PUT", "/ooo", "ooo.example", "0123456789abcdef");
    let mut c = Conv::new("10.0.0.1:40001", "10.0.0.2:80");
    c.handshake();
    c.c_at(30, &r[30..]);
    c.c_at(0, &r[..30]);
    c.c_at(10, &r[10..50]);
    c.c_off = r.len() as u32;
    c.s(OK);
    c.close();
    out.push(("out-of-order+retransmission", Link::Ethernet, c.frames));

    let mut both = req("GET", "/p1", "pipe.example", "");
    both.extend(req("GET", "/p2", "pipe.example", ""));
    let mut c = Conv::new("10.0.0.1:40002", "10.0.0.2:80");
    c.handshake();
    c.c(&both);
    let mut two = OK.to_vec();
    two.extend_from_slice(OK);
    c.s(&two);
    c.close();
    out.push(("pipelining", Link::Ethernet, c.frames));

    let chunked = b"POST /chunk HTTP/1.1\r\nHost: chunk.example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40003", "10.0.0.2:80").isn(u32::MAX - 20, 7);
    c.handshake();
    c.c(&chunked[..chunked.len() - 5]);
    c.c(&chunked[chunked.len() - 5..]);
    c.s(OK);
    c.close();
    out.push(("chunked+wraparound", Link::Ethernet, c.frames));

    for (name, link, client, server) in [
        (
            "ipv6",
            Link::Ethernet,
            "[2001:db8::1]:40004",
            "[2001:db8::2]:80",
        ),
        ("vlan", Link::Vlan(42), "10.0.0.1:40005", "10.0.0.2:80"),
        ("sll", Link::Sll, "127.0.0.1:40006", "127.0.0.1:80"),
        (
            "other-port",
            Link::Ethernet,
            "10.0.0.1:40007",
            "10.0.0.2:8123",
        ),
    ] {
        let mut c = Conv::new(client, server).link(link);
        c.handshake();
        c.c(&req(
            "GET",
            &format!("/{name}"),
            &format!("{name}.example"),
            "",
        ));
        c.s(OK);
        c.close();
        out.push((name, link, c.frames));
    }

    let head = b"POST /expect HTTP/1.1\r\nHost: e.example\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let mut c = Conv::new("10.0.0.1:40008", "10.0.0.2:80");
    c.handshake();
    c.c(head);
    c.s_ack();
    c.s(b"HTTP/1.1 100 Whatever You Say\r\n\r\n");
    c.c(b"abc");
    c.s(OK);
    c.close();
    out.push(("expect-100", Link::Ethernet, c.frames));

    // Request lines httparse rejects, one connection each: recorded raw,
    // with the method, target and Host tshark reads. (Runs of spaces are
    // left out: tshark splits on single spaces and reads `GET  /x` as an
    // empty target; the capture skips the run and reads `/x`.)
    let odd: [&[u8]; 10] = [
        b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: esc.example\r\n\r\n",
        b"GET /fold HTTP/1.1\r\nHost: fold.example\r\nX-Folded: one\r\n  two\r\n\r\n",
        b"GET /nover\r\nHost: nover.example\r\n\r\n",
        b"GET / HTTP/1.2\r\nHost: v12.example\r\n\r\n",
        b"GET /two HTTP/2.0\r\nHost: v2.example\r\n\r\n",
        b"GET /foo FOO/1.1\r\nHost: foo.example\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: inner-space.example\r\n\r\n",
        b"GET /sp HTTP/1.1 \r\nHost: trailing.example\r\n\r\n",
        b"GET /x HTTP/1.1\r\nBad Header: v\r\nHost: badname.example\r\n\r\n",
        b"GET /ctl\x01 HTTP/1.1\r\nHost: ctl.example\r\nContent-Length: abc\r\n\r\n",
    ];
    let mut frames = Vec::new();
    for (i, r) in odd.iter().enumerate() {
        let mut c = Conv::new(&format!("10.0.0.1:{}", 41000 + i), "10.0.0.2:80");
        c.handshake();
        c.c(r);
        c.s(OK);
        c.close();
        frames.extend(c.frames);
    }
    out.push(("unusual-request-lines", Link::Ethernet, frames));

    // Requests whose IP packets were fragmented, out of order, over IPv4
    // and IPv6.
    for (i, (client, server)) in [
        ("10.0.0.1:42000", "10.0.0.2:80"),
        ("[2001:db8::1]:42001", "[2001:db8::2]:80"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Conv::new(client, server);
        c.handshake();
        c.c(&req(
            "POST",
            &format!("/frag{i}"),
            "frag.example",
            &"f".repeat(700),
        ));
        let whole = c.frames.pop().unwrap();
        for piece in common::frag::fragments(&whole.data, 256, 0x77 + i as u32, &[2, 0, 3, 1]) {
            c.frames.push(Frame {
                ts_ns: whole.ts_ns,
                orig_len: piece.len() as u32,
                data: piece,
            });
        }
        c.s(OK);
        c.close();
        out.push((
            if i == 0 {
                "ipv4-fragments"
            } else {
                "ipv6-fragments"
            },
            Link::Ethernet,
            c.frames,
        ));
    }
    out
}

#[test]
#[ignore = "needs tshark"]
fn request_lists_match_tshark() {
    gate::require_tool("tshark");
    let dir = tempfile::tempdir().unwrap();
    for (name, link, frames) in scenarios() {
        let path = dir.path().join(format!("{name}.pcap"));
        write_pcap(&path, link.linktype(), &frames);
        let theirs = tshark(&path).expect("tshark runs");
        let mine = ours(&path);
        assert!(!mine.is_empty(), "{name}");
        assert_eq!(mine, theirs, "{name}");
    }
}

/// The Ethernet scenarios again, each wrapped frame by frame in every
/// encapsulation tshark decodes by default (one pcap a kind).
#[test]
#[ignore = "needs tshark"]
fn tunnelled_request_lists_match_tshark() {
    gate::require_tool("tshark");
    let dir = tempfile::tempdir().unwrap();
    let plain: Vec<(&str, Vec<Frame>)> = scenarios()
        .into_iter()
        .filter(|(_, link, _)| matches!(link, Link::Ethernet | Link::Vlan(_)))
        .map(|(name, _, frames)| (name, frames))
        .collect();
    assert!(plain.len() >= 8);
    for w in Wrap::ALL {
        // tshark decodes VXLAN on its IANA port only.
        if matches!(w, Wrap::VxlanOn(_)) {
            continue;
        }
        let mut frames = Vec::new();
        let mut expected = 0;
        for (session, (_, f)) in plain.iter().enumerate() {
            frames.extend(wrap_all(w, session as u8 + 1, f));
            expected += 1;
        }
        let path = dir.path().join(format!("{w:?}.pcap"));
        write_pcap(&path, w.linktype(), &frames);
        let theirs = tshark(&path).expect("tshark runs");
        let mine = ours(&path);
        assert!(mine.len() >= expected, "{w:?}: {mine:?}");
        assert_eq!(mine, theirs, "{w:?}");
    }
}
