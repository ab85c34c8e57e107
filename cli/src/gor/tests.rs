use shadowtap_format::{Exchange, Response};

use super::write::holds_separator;
use super::*;

const SEP: &str = "\n\u{1F435}\u{1F648}\u{1F649}\n";

fn read_all(file: &[u8]) -> (Vec<Exchange>, GorStats, Option<TornTail>) {
    let mut r = GorReader::new(file);
    let mut out = Vec::new();
    while let Some(ex) = r.next_exchange().unwrap() {
        out.push(ex);
    }
    (out, r.stats(), r.torn_tail())
}

/// The error and its sources, as the binary prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out = format!("{out}: {s}");
        next = s.source();
    }
    out
}

fn file(payloads: &[&str]) -> Vec<u8> {
    payloads
        .iter()
        .flat_map(|p| [*p, SEP])
        .collect::<String>()
        .into_bytes()
}

#[test]
fn meta_lines_parse_or_say_why() {
    let m = parse_meta(b"1 abc 17 -1").unwrap();
    assert_eq!(
        (m.kind, m.id, m.ts_ns, m.latency_ns),
        (Kind::Request, &b"abc"[..], 17, None)
    );
    let m = parse_meta(b"2 abc 17 5\r").unwrap();
    assert_eq!((m.kind, m.latency_ns), (Kind::Response, Some(5)));
    assert_eq!(parse_meta(b"3 x 1").unwrap().kind, Kind::Replayed);
    assert_eq!(parse_meta(b"2 x 1 -7").unwrap().latency_ns, None);
    let max = parse_meta(b"2 x 18446744073709551615 18446744073709551615").unwrap();
    assert_eq!((max.ts_ns, max.latency_ns), (u64::MAX, Some(u64::MAX)));
    let cases: [(&[u8], MetaError); 8] = [
        (b"1 abc", MetaError::Fields(2)),
        (b"1 a 1 2 3", MetaError::Fields(5)),
        (b"4 a 1", MetaError::Type("4".into())),
        (b"1  1 2", MetaError::EmptyId),
        (b"1 a -5", MetaError::Timestamp("-5".into())),
        (b"1 a 1 x", MetaError::Latency("x".into())),
        (
            b"1 a 1 18446744073709551616",
            MetaError::Latency("18446744073709551616".into()),
        ),
        (b"GET / HTTP/1.1", MetaError::Type("GET".into())),
    ];
    for (line, want) in cases {
        assert_eq!(
            parse_meta(line),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn a_reused_id_pairs_each_response_with_the_earliest_unanswered_request() {
    let f = file(&[
        "1 aa 100\nGET /1 HTTP/1.1\r\n\r\n",
        "1 aa 200\nGET /2 HTTP/1.1\r\n\r\n",
        "2 aa 150 30\nHTTP/1.1 201 A\r\n\r\none",
        "2 bb 160 1\nHTTP/1.1 500 X\r\n\r\n",
        "3 aa 170 1\nHTTP/1.1 404 R\r\n\r\n",
        "2 aa 260\nHTTP/1.1 202 B\r\n\r\ntwo",
        "1 aa 300\nGET /3 HTTP/1.1\r\n\r\n",
    ]);
    let (exs, stats, torn) = read_all(&f);
    assert_eq!(torn, None);
    let got: Vec<_> = exs
        .iter()
        .map(|e| {
            let r = e.response.as_ref();
            (
                e.id,
                String::from_utf8_lossy(&e.request).into_owned(),
                e.req_first_ns,
                r.map(|r| {
                    (
                        r.status,
                        r.first_ns,
                        String::from_utf8_lossy(&r.body).into_owned(),
                    )
                }),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                1,
                "GET /1 HTTP/1.1\r\n\r\n".into(),
                100,
                Some((201, 130, "one".into()))
            ),
            (
                2,
                "GET /2 HTTP/1.1\r\n\r\n".into(),
                200,
                Some((202, 260, "two".into()))
            ),
            (3, "GET /3 HTTP/1.1\r\n\r\n".into(), 300, None),
        ]
    );
    assert_eq!(exs[0].conn, exs[2].conn);
    assert_eq!(
        stats,
        GorStats {
            payloads: 7,
            requests: 3,
            answered: 2,
            unanswered: 1,
            flushed: 0,
            unpaired_responses: 1,
            replayed_skipped: 1,
        }
    );
}

#[test]
fn waiting_requests_are_bounded_and_the_oldest_flushed_unanswered() {
    let mut f = Vec::new();
    for i in 0..=MAX_PENDING {
        f.extend_from_slice(format!("1 {i:x} {i}\nGET /{i} HTTP/1.1\r\n\r\n{SEP}").as_bytes());
    }
    f.extend_from_slice(format!("2 0 1 1\nHTTP/1.1 200 OK\r\n\r\n{SEP}").as_bytes());
    f.extend_from_slice(format!("2 1 1 1\nHTTP/1.1 200 OK\r\n\r\n{SEP}").as_bytes());
    let (exs, stats, _) = read_all(&f);
    assert_eq!(exs.len(), MAX_PENDING + 1);
    // Request 0 left first, unanswered; its response then had no request.
    assert_eq!(exs[0].request, b"GET /0 HTTP/1.1\r\n\r\n");
    assert!(exs[0].response.is_none());
    assert_eq!(exs[1].request, b"GET /1 HTTP/1.1\r\n\r\n");
    assert!(exs[1].response.is_some());
    assert_eq!(
        (stats.flushed, stats.unpaired_responses, stats.answered),
        (1, 1, 1)
    );
    assert_eq!(stats.unanswered, MAX_PENDING as u64);
}

#[test]
fn a_cut_file_keeps_what_came_before_and_reports_the_tail() {
    let p1 = "1 a 1\nGET / HTTP/1.1\r\n\r\n";
    let f = file(&[p1, "2 a 2 1\nHTTP/1.1 200 OK\r\n\r\n"]);
    let first_end = p1.len() + SEP.len();
    // Every prefix reads without error: whole payloads come out, the rest
    // is a torn tail.
    for cut in 0..=f.len() {
        let (exs, stats, torn) = read_all(&f[..cut]);
        let whole = f[..cut]
            .windows(SEP.len())
            .filter(|w| *w == SEP.as_bytes())
            .count();
        assert_eq!(stats.payloads, whole as u64, "cut {cut}");
        assert_eq!(exs.len(), usize::from(whole > 0), "cut {cut}");
        assert_eq!(
            exs.first().map(|e| e.response.is_some()),
            (whole > 0).then_some(whole == 2)
        );
        let want = match cut {
            c if c == 0 || c == first_end || c == f.len() => None,
            c if c < first_end => Some(TornTail {
                offset: 0,
                ignored_bytes: c as u64,
            }),
            c => Some(TornTail {
                offset: first_end as u64,
                ignored_bytes: (c - first_end) as u64,
            }),
        };
        assert_eq!(torn, want, "cut {cut}");
    }
}

#[test]
fn corrupt_payloads_name_their_index_and_offset() {
    let p1 = "1 a 1\nGET / HTTP/1.1\r\n\r\n";
    let f = file(&[p1, "9 a 1\nx"]);
    let mut r = GorReader::new(&f[..]);
    let err = loop {
        match r.next_exchange() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    let second = p1.len() + SEP.len();
    assert_eq!(
        chain(&err),
        format!("payload 2 at byte {second}: unknown payload type \"9\"")
    );
    assert!(r.next_exchange().unwrap().is_none(), "done after an error");

    let no_meta = file(&["GET / HTTP/1.1"]);
    let err = GorReader::new(&no_meta[..]).next_exchange().unwrap_err();
    assert_eq!(
        chain(&err),
        "payload 1 at byte 0: no meta line (no line feed in the first 1024 bytes)"
    );
}

#[test]
fn a_payload_past_the_bound_is_an_error() {
    let mut f = b"1 a 1\n".to_vec();
    f.resize(MAX_PAYLOAD + SEPARATOR.len() + 10, b'x');
    let err = GorReader::new(&f[..]).next_exchange().unwrap_err();
    assert!(
        matches!(
            err,
            GorError::TooLong {
                index: 1,
                offset: 0
            }
        ),
        "{err}"
    );
    // Exactly at the bound is fine.
    f.truncate(MAX_PAYLOAD);
    f.extend_from_slice(SEPARATOR);
    let (exs, _, _) = read_all(&f);
    assert_eq!(exs[0].request.len(), MAX_PAYLOAD - 6);
}

fn sample(conn: u64, body: &[u8]) -> Exchange {
    let unknown = "0.0.0.0:0".parse().unwrap();
    let mut req = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n".to_vec();
    req.extend_from_slice(body);
    Exchange::new(1, conn, unknown, unknown, 1_000, req)
}

#[test]
fn written_payloads_read_back_and_ids_are_24_hex_digits() {
    let a = sample(0x1_0000_00ab, b"\0\xff\n").with_response(Response::new(
        200,
        1_500,
        1_600,
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        b"\n\n".to_vec(),
    ));
    let b = sample(7, b"abc");
    let mut w = GorWriter::new(Vec::new());
    assert_eq!(w.write(&a).unwrap(), Ok(()));
    assert_eq!(w.write(&b).unwrap(), Ok(()));
    let out = w.into_inner().unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("1 000000ab0000000000000001 1000 -1\nPOST"),
        "{text}"
    );
    assert!(
        text.contains("\n2 000000ab0000000000000001 1500 500\nHTTP/1.1 200"),
        "{text}"
    );
    assert!(
        text.contains("\n1 000000070000000000000002 1000 -1\n"),
        "{text}"
    );
    assert_eq!(ID_DIGITS, "000000ab0000000000000001".len());
    let (exs, stats, torn) = read_all(&out);
    assert_eq!((stats.payloads, torn), (3, None));
    assert_eq!(exs.len(), 2);
    assert_eq!(exs[0].request, a.request);
    let r = exs[0].response.as_ref().unwrap();
    assert_eq!(
        (r.status, r.first_ns, &r.head, &r.body),
        (
            200,
            1_500,
            &a.response.as_ref().unwrap().head,
            &b"\n\n".to_vec()
        )
    );
    assert_eq!(exs[1].request, b.request);
}

#[test]
fn an_exchange_holding_the_separator_is_left_out() {
    assert!(holds_separator(format!("a{SEP}b").as_bytes()));
    assert!(holds_separator(
        format!("a{}", &SEP[..SEP.len() - 1]).as_bytes()
    ));
    assert!(!holds_separator(format!("a{}", &SEP[1..]).as_bytes()));
    assert!(!holds_separator(b"a\n\n"));
    let mut w = GorWriter::new(Vec::new());
    let bad = sample(1, format!("x{SEP}").as_bytes());
    assert_eq!(w.write(&bad).unwrap(), Err(Skipped::HoldsSeparator));
    let bad_resp = sample(1, b"abc").with_response(Response::new(
        200,
        1,
        1,
        b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        SEP.as_bytes()[..SEP.len() - 1].to_vec(),
    ));
    assert_eq!(w.write(&bad_resp).unwrap(), Err(Skipped::HoldsSeparator));
    assert_eq!(w.written(), 0);
    assert!(w.into_inner().unwrap().is_empty());
}

#[test]
fn status_codes_come_from_the_status_line() {
    assert_eq!(status_of(b"HTTP/1.1 204 No Content\r\n\r\n"), 204);
    assert_eq!(status_of(b"HTTP/1.0 200\r\n\r\n"), 200);
    assert_eq!(status_of(b"HTTP/1.1 20x OK\r\n"), 0);
    assert_eq!(status_of(b"garbage"), 0);
    assert_eq!(status_of(b""), 0);
}
