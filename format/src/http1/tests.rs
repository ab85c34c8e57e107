//! The framer's and head parser's unit tests.

use std::borrow::Cow;

use super::parse::INLINE_HEADERS;
use super::*;

/// Feeds `input` split at every position and checks the framer always
/// ends at `expect_len` with `Complete`.
fn frames_at(mut make: impl FnMut() -> Framer, input: &[u8], expect_len: usize) {
    for split in 0..=input.len() {
        let mut f = make();
        let a = f.feed(&input[..split]).unwrap();
        let total = if a.status == Status::Complete {
            a.consumed
        } else {
            assert_eq!(a.consumed, split, "split {split}");
            let b = f.feed(&input[split..]).unwrap();
            assert_eq!(b.status, Status::Complete, "split {split}");
            split + b.consumed
        };
        assert_eq!(total, expect_len, "split {split}");
        assert!(f.is_complete());
    }
}

/// Feeds one byte at a time.
fn bytewise(mut f: Framer, input: &[u8]) -> (usize, Framer) {
    for (i, b) in input.iter().enumerate() {
        let p = f.feed(std::slice::from_ref(b)).unwrap();
        if p.status == Status::Complete {
            return (i + p.consumed, f);
        }
    }
    (usize::MAX, f)
}

#[test]
fn content_length_request_any_split() {
    let msg = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
    frames_at(Framer::request, msg, msg.len() - 16);
}

#[test]
fn chunked_with_extensions_and_trailers_any_split() {
    let msg = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
    frames_at(Framer::request, msg, msg.len() - 4);
    let (n, f) = bytewise(Framer::request(), msg);
    assert_eq!(n, msg.len() - 4);
    assert_eq!(f.head().unwrap().body, BodyKind::Chunked);
}

/// The body data `feed_data` hands out with `input` split at every
/// position, each split checked to give `expect`.
fn data_at(mut make: impl FnMut() -> Framer, input: &[u8], expect: &[u8]) {
    for split in 0..=input.len() {
        let mut f = make();
        let mut got = Vec::new();
        let a = f
            .feed_data(&input[..split], &mut |d| got.extend_from_slice(d))
            .unwrap();
        if a.status != Status::Complete {
            f.feed_data(&input[split..], &mut |d| got.extend_from_slice(d))
                .unwrap();
            f.finish();
        }
        assert_eq!(got, expect, "split {split}");
    }
}

#[test]
fn feed_data_hands_out_the_body_without_framing() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nT: 1\r\n\r\nNEXT";
    data_at(|| Framer::response("GET"), chunked, b"hello, world");
    let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT";
    data_at(|| Framer::response("GET"), sized, b"hello");
    let until_close = b"HTTP/1.1 200 OK\r\n\r\nall of it";
    data_at(|| Framer::response("GET"), until_close, b"all of it");
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    data_at(|| Framer::response("HEAD"), head, b"");
}

#[test]
fn last_chunk_on_boundary() {
    let mut f = Framer::request();
    let p = f
        .feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .unwrap();
    assert_eq!(p.status, Status::Partial);
    let p = f.feed(b"0\r\n\r\n").unwrap();
    assert_eq!(
        p,
        Progress {
            consumed: 5,
            status: Status::Complete
        }
    );
}

#[test]
fn pipelined_requests() {
    let two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut f = Framer::request();
    let p = f.feed(two).unwrap();
    assert_eq!(p.status, Status::Complete);
    assert_eq!(p.consumed, two.len() / 2);
    assert_eq!(f.head().unwrap().uri(two), Some("/a"));
    let mut g = Framer::request();
    let p = g.feed(&two[two.len() / 2..]).unwrap();
    assert_eq!(p.status, Status::Complete);
    assert_eq!(g.head().unwrap().uri(&two[two.len() / 2..]), Some("/b"));
}

#[test]
fn response_no_body_cases() {
    for (method, head) in [
        (
            "HEAD",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"[..],
        ),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        (
            "GET",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        ),
        ("POST", b"HTTP/1.1 100 Whatever You Like\r\n\r\n"),
    ] {
        let mut f = Framer::response(method);
        let p = f.feed(head).unwrap();
        assert_eq!(p.status, Status::Complete, "{method} {head:?}");
        assert_eq!(p.consumed, head.len());
    }
    let mut f = Framer::response("POST");
    f.feed(b"HTTP/1.1 100 Go Ahead Please\r\n\r\n").unwrap();
    assert!(f.head().unwrap().is_interim());
}

#[test]
fn close_delimited_response() {
    let mut f = Framer::response("GET");
    let p = f.feed(b"HTTP/1.0 200 OK\r\n\r\nsome body").unwrap();
    assert_eq!(p.status, Status::Partial);
    assert_eq!(p.consumed, 28);
    assert!(!f.head().unwrap().keep_alive);
    assert!(f.finish());
    assert!(f.is_complete());
    assert_eq!(f.body_consumed(), 9);
}

#[test]
fn tunnels() {
    let mut f = Framer::request();
    let p = f
        .feed(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03")
        .unwrap();
    assert_eq!(p.status, Status::Complete);
    assert!(f.head().unwrap().upgrade);
    let mut f = Framer::response("CONNECT");
    f.feed(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    assert_eq!(f.head().unwrap().body, BodyKind::Tunnel);
    let mut f = Framer::request();
    f.feed(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    assert!(f.head().unwrap().upgrade);
    let mut f = Framer::response("GET");
    f.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        .unwrap();
    assert!(f.is_complete());
    assert_eq!(f.head().unwrap().body, BodyKind::Tunnel);
}

#[test]
fn reset_frames_the_next_message() {
    let mut f = Framer::response("HEAD");
    f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    assert!(f.is_complete());
    f.reset_response("GET");
    let p = f
        .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert_eq!(p.status, Status::Complete);
    assert_eq!(f.body_consumed(), 5);
    f.reset_request();
    assert!(f.head().is_none());
    let p = f.feed(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(p.status, Status::Complete);
    assert_eq!(f.consumed(), 18);
}

#[test]
fn leading_empty_lines_are_skipped() {
    let mut f = Framer::request();
    let p = f.feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(p.status, Status::Complete);
    assert_eq!(f.leading_skipped(), 4);
    assert_eq!(f.head().unwrap().len, 18);
}

#[test]
fn errors() {
    type Check = fn(&FramingError) -> bool;
    let bad: &[(&[u8], Check)] = &[
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", |e| {
            *e == FramingError::InvalidContentLength
        }),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            |e| *e == FramingError::InvalidContentLength,
        ),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", |e| {
            *e == FramingError::InvalidTransferEncoding
        }),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            |e| matches!(e, FramingError::InvalidChunk(_)),
        ),
        (b"\x16\x03\x01 binary junk\r\n\r\n", |e| {
            matches!(e, FramingError::InvalidHead(_))
        }),
    ];
    for (input, check) in bad {
        let err = Framer::request().feed(input).unwrap_err();
        assert!(check(&err), "{input:?}: {err:?}");
    }
}

#[test]
fn head_bound() {
    let mut f = Framer::request().with_max_head(64);
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100));
    assert_eq!(
        f.feed(&big).unwrap_err(),
        FramingError::HeadTooLarge { max: 64 }
    );
    // At the bound exactly: the same in one piece (parsed in place) and
    // byte by byte (gathered first); one byte over fails both ways.
    let at = |n: usize| {
        let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
        h.resize(n - 4, b'a');
        h.extend_from_slice(b"\r\n\r\n");
        h
    };
    let fits = at(64);
    let whole = Framer::request().with_max_head(64).feed(&fits).unwrap();
    assert_eq!((whole.consumed, whole.status), (64, Status::Complete));
    let (n, f) = bytewise(Framer::request().with_max_head(64), &fits);
    assert_eq!((n, f.head().unwrap().len), (64, 64));
    let over = at(65);
    assert!(Framer::request().with_max_head(64).feed(&over).is_err());
    let mut f = Framer::request().with_max_head(64);
    let err = over
        .iter()
        .find_map(|b| f.feed(std::slice::from_ref(b)).err());
    assert_eq!(err, Some(FramingError::HeadTooLarge { max: 64 }));
}

#[test]
fn heads_with_more_headers_than_the_inline_slots() {
    let mut raw = b"GET /many HTTP/1.1\r\n".to_vec();
    for i in 0..INLINE_HEADERS + 10 {
        raw.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"Host: late\r\nContent-Length: 2\r\n\r\nok");
    let h = parse_request_head(&raw).unwrap();
    assert_eq!(h.host(&raw).as_deref(), Some("late"));
    assert_eq!(h.body, BodyKind::Length(2));
    let mut f = Framer::request();
    let p = f.feed(&raw).unwrap();
    assert_eq!((p.status, p.consumed), (Status::Complete, raw.len()));
}

#[test]
fn duplicate_equal_content_lengths_are_fine() {
    let mut f = Framer::request();
    let p = f
        .feed(b"PUT / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok")
        .unwrap();
    assert_eq!(p.status, Status::Complete);
}

#[test]
fn stored_request_summary() {
    let raw = b"GET /p?q=1 HTTP/1.1\r\nhOsT: Example.COM\r\n\r\n";
    let h = parse_request_head(raw).unwrap();
    assert_eq!(h.method.as_deref(), Some("GET"));
    assert!(matches!(h.method, Some(Cow::Borrowed(_))), "no allocation");
    assert_eq!(h.uri(raw), Some("/p?q=1"));
    assert_eq!(h.host(raw).as_deref(), Some("Example.COM"));
    // Leading blank lines, padded and non-UTF-8 values, other methods.
    let raw = b"\r\nPURGE /x HTTP/1.1\r\nX: y\r\nHost:  a\xffb \r\nHost: second\r\n\r\n";
    let h = parse_request_head(raw).unwrap();
    assert_eq!(h.method.as_deref(), Some("PURGE"));
    assert_eq!(h.uri(raw), Some("/x"));
    assert_eq!(h.host(raw).as_deref(), Some("a\u{fffd}b"));
    let h = parse_request_head(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(h.host(b"GET / HTTP/1.1\r\n\r\n"), None);
    assert!(parse_request_head(b"GET / HTTP/1.1\r\n").is_none());
}

/// What a framer says about one input, fed whole or in two pieces.
#[derive(Debug, PartialEq)]
enum Outcome {
    Done {
        consumed: usize,
        status: Status,
        head: Option<Head>,
        data: u64,
        capped_at: Option<u64>,
    },
    Failed(FramingError),
}

/// Feeds `pieces` in order and checks the framer's contract on the way:
/// nothing consumed beyond what was fed, `Complete` only with a head,
/// spans inside the head, data within the body, the error latched.
fn run_checked(mut f: Framer, pieces: &[&[u8]]) -> Outcome {
    let mut total = 0;
    let mut status = Status::Partial;
    for piece in pieces {
        match f.feed(piece) {
            Ok(p) => {
                assert!(p.consumed <= piece.len(), "consumed more than fed");
                total += p.consumed;
                status = p.status;
                if p.status == Status::Complete {
                    break;
                }
                assert_eq!(p.consumed, piece.len(), "a partial message takes all");
            }
            Err(e) => {
                assert_eq!(f.feed(b"more").unwrap_err(), e, "the error is latched");
                assert!(f.consumed() as usize <= pieces.iter().map(|p| p.len()).sum());
                return Outcome::Failed(e);
            }
        }
    }
    assert_eq!(f.consumed(), total as u64);
    assert_eq!(status == Status::Complete, f.is_complete());
    if let Some(h) = f.head() {
        assert!(
            h.len + f.leading_skipped() <= total,
            "head beyond the bytes consumed"
        );
        for span in [&h.uri, &h.host].into_iter().flatten() {
            assert!(
                span.start <= span.end && span.end <= h.len,
                "span {span:?} outside the head"
            );
        }
        let body = f.body_consumed();
        assert_eq!(body, (total - h.len - f.leading_skipped()) as u64);
        assert!(f.body_data() <= body);
    } else {
        assert_eq!(status, Status::Partial, "complete without a head");
        assert_eq!(f.body_consumed(), 0);
    }
    if let Some(at) = f.capped_at() {
        assert!(at < total as u64, "capped beyond the bytes consumed");
        assert!(f.body_data() > 4);
    } else {
        assert!(f.body_data() <= 4);
    }
    Outcome::Done {
        consumed: total,
        status,
        head: f.take_head(),
        data: f.body_data(),
        capped_at: f.capped_at(),
    }
}

#[test]
fn random_bytes_keep_the_framing_contract() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"GET / HTTP/1.1\r\n:0123456789abcdefTransfer-Encoding: chunked\x1b\t Content-Length: 3\r\n\r\n";
    let (mut completes, mut errors) = (0, 0);
    for _ in 0..2000 {
        let len = next() % 200;
        let buf: Vec<u8> = (0..len)
            .map(|_| alphabet[next() as usize % alphabet.len()])
            .collect();
        let split = next() as usize % (buf.len() + 1);
        let makers: [fn() -> Framer; 4] = [
            Framer::request,
            || Framer::response("GET"),
            || Framer::request().lenient(),
            || Framer::response("HEAD").lenient(),
        ];
        for make in makers {
            let whole = run_checked(make().with_body_cap(4), &[&buf]);
            let pieces = run_checked(make().with_body_cap(4), &[&buf[..split], &buf[split..]]);
            match &whole {
                Outcome::Done {
                    status: Status::Complete,
                    ..
                } => completes += 1,
                Outcome::Failed(_) => errors += 1,
                _ => {}
            }
            // A message split anywhere frames the same.
            assert_eq!(
                whole,
                pieces,
                "{:?} split at {split}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
    assert!(
        completes > 0 && errors > 0,
        "{completes} complete, {errors} errors"
    );
}

// ---------------------------------------------- the rules of head.rs --

#[test]
fn header_value_lookup() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-User:  42 \r\nx-user: 43\r\n\r\nbody";
    assert_eq!(header_value(raw, "x-user"), Some(&b"42"[..]));
    assert_eq!(header_value(raw, "HOST"), Some(&b"a"[..]));
    assert_eq!(header_value(raw, "cookie"), None);
    assert_eq!(
        header_value(b"GET / HTTP/1.1\r\nX-User: 1\r\n", "x-user"),
        None
    );
}

#[test]
fn redact_keeps_length_and_other_headers() {
    let mut h =
        b"GET / HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer xyz \r\nX: y\r\n\r\n".to_vec();
    let n = h.len();
    assert!(redact(&mut h, &["authorization"]));
    assert_eq!(h.len(), n);
    assert_eq!(
        &h[..],
        &b"GET / HTTP/1.1\r\nHost: a\r\nauthorization:  ********** \r\nX: y\r\n\r\n"[..]
    );
    assert!(!redact(&mut h, &["cookie"]));
}

#[test]
fn redact_covers_folded_values_and_bare_lf() {
    let mut h = b"GET / HTTP/1.1\nCookie: a=1\n\tb=2\nX: y\n\n".to_vec();
    assert!(redact(&mut h, &[String::from("cookie")]));
    assert_eq!(&h[..], &b"GET / HTTP/1.1\nCookie: ***\n\t***\nX: y\n\n"[..]);
    // A folded line that reads as a header of its own is hidden as well.
    let mut h =
        b"GET / HTTP/1.1\r\nX: y\r\n Cookie: a=1\r\nno colon\r\n\tcookie:2\r\n\r\n".to_vec();
    assert!(redact(&mut h, &["cookie"]));
    assert_eq!(
        &h[..],
        &b"GET / HTTP/1.1\r\nX: y\r\n Cookie: ***\r\nno colon\r\n\tcookie:*\r\n\r\n"[..]
    );
}

#[test]
fn head_end_and_blank_line_agree() {
    for (head, blank) in [
        (&b"GET / HTTP/1.1\r\nA: b\r\n\r\n"[..], 22),
        (b"GET / HTTP/1.1\nA: b\n\n", 20),
        (b"GET / HTTP/1.1\r\nA: b\n\r\n", 21),
        (b"GET / HTTP/1.1\r\nA: b\r\n\n", 22),
        (b"GET / HTTP/1.1\r\n\r\n", 16),
    ] {
        assert_eq!(find_head_end(head, 0), Some(head.len()), "{head:?}");
        assert_eq!(blank_line_start(head), blank, "{head:?}");
        // The field lines stop where the blank line starts.
        let last = fields(head)
            .last()
            .map_or(fields_start(head), |f| f.line.end);
        assert_eq!(last, blank, "{head:?}");
    }
    // Empty lines before the start line are skipped, not a head end.
    let raw = b"\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n";
    assert_eq!(leading_empty_lines(raw), 2);
    assert_eq!(find_head_end(raw, 0), Some(raw.len()));
}

#[test]
fn field_lines_by_the_rules() {
    let head = b"\r\nGET / HTTP/1.1\r\nHost : a \r\nX-F: one\r\n two\r\nno colon\r\n cont: x\r\n\x0cV:\x0c v \r\n\r\nbody";
    /// Name, whole value, value line by line.
    type Read<'a> = (Option<&'a [u8]>, &'a [u8], Vec<&'a [u8]>);
    let got: Vec<Read<'_>> = fields(head)
        .map(|f| {
            let lines = f.value_lines(head).map(|r| &head[r]).collect();
            (f.name(head), f.value(head), lines)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(&b"Host"[..]), &b"a"[..], vec![&b"a"[..]]),
            (Some(b"X-F"), b"one\r\n two", vec![b"one", b"two"]),
            (None, b"", vec![]),
            (Some(b"V"), b"v", vec![b"v"]),
        ]
    );
    let f = fields(head).next().unwrap();
    assert!(f.is(head, b"HOST"));
    assert_eq!(&head[f.line], b"Host : a \r\n");
    // A first field line that starts with a space continues nothing.
    let head = b"GET / HTTP/1.1\r\n X: y\r\nZ: w\r\n\r\n";
    let names: Vec<_> = fields(head).map(|f| f.name(head)).collect();
    assert_eq!(names, vec![None, Some(&b"Z"[..])]);
    assert_eq!(trim(b" \t\x0cv \r\n"), b"v");
}
