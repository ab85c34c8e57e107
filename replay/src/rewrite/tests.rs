//! The rewriter's and the Host rule's unit tests.

use super::*;

/// ANCHORS §1, plus the error cases.
#[test]
fn shadow_rule_table() {
    let table = [
        ("cluster1", "cluster1-shadow"),
        ("cluster1:8000", "cluster1-shadow:8000"),
        ("sni.lyft.com", "sni.lyft.com-shadow"),
        ("127.0.0.1:8080", "127.0.0.1-shadow:8080"),
        ("[::1]:8080", "[::1]-shadow:8080"),
        ("[::1]", "[::1]-shadow"),
        ("[2001:db8::1]:443", "[2001:db8::1]-shadow:443"),
        ("foo-shadow", "foo-shadow-shadow"),
        ("Example.COM", "Example.COM-shadow"),
    ];
    for (input, want) in table {
        assert_eq!(shadow_host(input).as_deref(), Ok(want), "{input}");
    }
    assert_eq!(shadow_host(""), Err(HostError::Empty));
    assert_eq!(
        shadow_host("::1"),
        Err(HostError::UnbracketedIpv6 { host: "::1".into() })
    );
    assert_eq!(
        shadow_host("2001:db8::1"),
        Err(HostError::UnbracketedIpv6 {
            host: "2001:db8::1".into()
        })
    );
    assert_eq!(
        shadow_host("[::1"),
        Err(HostError::UnclosedBracket {
            host: "[::1".into()
        })
    );
}

#[test]
fn target_host_line_both_suffix_modes() {
    let on = HostMode::default();
    let off = HostMode {
        no_suffix: true,
        ..HostMode::default()
    };
    let table = [
        ("cluster1", "cluster1-shadow"),
        ("127.0.0.1:8080", "127.0.0.1-shadow:8080"),
        ("[::1]:8080", "[::1]-shadow:8080"),
        ("Example.COM", "Example.COM-shadow"),
    ];
    for (authority, shadowed) in table {
        let line = on.target_host_line(authority).unwrap().unwrap();
        let want = format!("Host: {shadowed}\r\n").into_bytes();
        assert_eq!(line.bytes(LineEnding::CrLf), want);
        assert_eq!(
            line.bytes(LineEnding::Lf),
            format!("Host: {shadowed}\n").as_bytes()
        );
        let line = off.target_host_line(authority).unwrap().unwrap();
        let want = format!("Host: {authority}\r\n").into_bytes();
        assert_eq!(line.bytes(LineEnding::CrLf), want);
    }
    let keep = HostMode {
        keep_captured: true,
        no_suffix: false,
    };
    assert_eq!(keep.target_host_line("a:1"), Ok(None));
}

#[test]
fn extra_header_parsing() {
    let h = ExtraHeader::parse("X-Mirror:  yes ").unwrap();
    assert_eq!(h.line, b"X-Mirror: yes");
    assert_eq!(h.name(), "X-Mirror");
    assert!(matches!(
        ExtraHeader::parse("nocolon"),
        Err(HeaderArgError::NoColon { .. })
    ));
    assert!(matches!(
        ExtraHeader::parse(": v"),
        Err(HeaderArgError::InvalidName { .. })
    ));
    assert!(matches!(
        ExtraHeader::parse("a b: v"),
        Err(HeaderArgError::InvalidName { .. })
    ));
    assert!(matches!(
        ExtraHeader::parse("a: v\r\nx: y"),
        Err(HeaderArgError::InvalidValue { .. })
    ));
}

fn target_mode() -> Rewriter {
    Rewriter::new(HostMode::default(), Vec::new())
}

fn keep(suffix: bool) -> Rewriter {
    Rewriter::new(
        HostMode {
            keep_captured: true,
            no_suffix: !suffix,
        },
        Vec::new(),
    )
}

/// The bytes a target with Host line `line` receives.
fn sent(p: &Prepared, line: Option<&HostLine>) -> Vec<u8> {
    p.parts(line).concat()
}

/// The target Host line `Host: VALUE`.
fn host_line(value: &str) -> HostLine {
    HostLine::new(value.as_bytes())
}

#[test]
fn order_case_duplicates_and_body_are_kept() {
    let raw = b"POST /a/b?x=1&y=%20 HTTP/1.1\r\nX-B: 2\r\nhost: orig.example\r\nx-a: 1\r\nX-A: 1bis\r\nCONTENT-length: 5\r\nCookie: a=b\r\nCookie: c=d\r\n\r\nhello";
    let p = target_mode().rewrite(raw).unwrap();
    assert_eq!(p.method(), "POST");
    let line = HostMode::default()
        .target_host_line("mirror:8080")
        .unwrap()
        .unwrap();
    assert_eq!(
        sent(&p, Some(&line)),
        b"POST /a/b?x=1&y=%20 HTTP/1.1\r\nX-B: 2\r\nHost: mirror-shadow:8080\r\nx-a: 1\r\nX-A: 1bis\r\nCONTENT-length: 5\r\nCookie: a=b\r\nCookie: c=d\r\n\r\nhello"
    );
    assert_eq!(p.len_with(Some(&line)), sent(&p, Some(&line)).len());
}

#[test]
fn chunked_body_arrives_intact() {
    let raw = b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, Transfer-Encoding\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
    let p = keep(false).rewrite(raw).unwrap();
    assert_eq!(
        p.bytes(),
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    );
    assert_eq!(p.host_at(), None);
}

#[test]
fn hop_by_hop_headers_are_dropped() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Hop, close\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nX-End-To-End: 2\r\n\r\n";
    let p = keep(false).rewrite(raw).unwrap();
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.1\r\nHost: a\r\nX-End-To-End: 2\r\n\r\n"
    );
}

#[test]
fn extra_headers_override_in_place_or_append() {
    let extra = vec![
        ExtraHeader::parse("x-tenant: mirror").unwrap(),
        ExtraHeader::parse("X-Shadow: 1").unwrap(),
    ];
    let mut r = Rewriter::new(
        HostMode {
            keep_captured: true,
            no_suffix: true,
        },
        extra,
    );
    let raw = b"GET / HTTP/1.1\r\nX-Tenant: a\r\nHost: h\r\nX-TENANT: b\r\nAccept: */*\r\n\r\n";
    let p = r.rewrite(raw).unwrap();
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.1\r\nx-tenant: mirror\r\nHost: h\r\nAccept: */*\r\nX-Shadow: 1\r\n\r\n"
    );
    // A --header Host wins over the mode: no per-target Host line.
    let mut r = Rewriter::new(
        HostMode::default(),
        vec![ExtraHeader::parse("Host: forced").unwrap()],
    );
    assert!(!r.host_from_target());
    let p = r.rewrite(raw).unwrap();
    assert_eq!(p.host_at(), None);
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.1\r\nX-Tenant: a\r\nHost: forced\r\nX-TENANT: b\r\nAccept: */*\r\n\r\n"
    );
}

#[test]
fn host_modes() {
    let raw = b"GET / HTTP/1.1\r\nHost:   Api.Example.com:8443 \r\nHost: dup\r\nA: 1\r\n\r\n";
    // Captured Host with the suffix: Envoy's mirror Host.
    let p = keep(true).rewrite(raw).unwrap();
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.1\r\nHost: Api.Example.com-shadow:8443\r\nA: 1\r\n\r\n"
    );
    // Captured Host untouched (spacing and duplicate too).
    let p = keep(false).rewrite(raw).unwrap();
    assert_eq!(p.bytes(), &raw[..]);
    // Target Host: a slot where the first Host was, duplicates dropped.
    let p = target_mode().rewrite(raw).unwrap();
    assert_eq!(
        sent(&p, Some(&host_line("t"))),
        b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\n\r\n"
    );
}

#[test]
fn captured_host_errors_are_per_request() {
    let mut r = keep(true);
    for (raw, want) in [
        (&b"GET / HTTP/1.1\r\nHost: \r\n\r\n"[..], HostError::Empty),
        (&b"GET / HTTP/1.1\r\nA: b\r\n\r\n"[..], HostError::Empty),
        (
            &b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"[..],
            HostError::UnbracketedIpv6 { host: "::1".into() },
        ),
    ] {
        assert_eq!(r.rewrite(raw), Err(Unsendable::Host(want)));
    }
    // The rewriter is still usable after an error.
    let p = r
        .rewrite(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
        .unwrap();
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.1\r\nHost: [::1]-shadow:80\r\n\r\n"
    );
}

#[test]
fn missing_host_gets_one_after_the_request_line() {
    let p = target_mode()
        .rewrite(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n")
        .unwrap();
    assert_eq!(
        sent(&p, Some(&host_line("t"))),
        b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\n\r\n"
    );
}

#[test]
fn http10_keeps_alive_only_when_it_asked() {
    let p = keep(false)
        .rewrite(b"GET / HTTP/1.0\r\nConnection: Keep-Alive, X-Hop\r\nX-Hop: 1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(
        p.bytes(),
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n"
    );
    assert!(p.keep_alive());
    // Nothing added: the target closes the connection after answering.
    let p = keep(false).rewrite(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(p.bytes(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(!p.keep_alive());
    // HTTP/1.1 persists unless a --header says otherwise.
    let p = keep(false)
        .rewrite(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(p.keep_alive());
    let mut r = Rewriter::new(
        HostMode {
            keep_captured: true,
            no_suffix: true,
        },
        vec![ExtraHeader::parse("Connection: close").unwrap()],
    );
    assert!(!r.rewrite(b"GET / HTTP/1.1\r\n\r\n").unwrap().keep_alive());
}

#[test]
fn bare_lf_line_endings_are_kept() {
    let raw = b"GET / HTTP/1.1\nHost: a\nX-A: one\nConnection: close\n\n";
    let p = keep(false).rewrite(raw).unwrap();
    assert_eq!(p.bytes(), b"GET / HTTP/1.1\nHost: a\nX-A: one\n\n");
    // Obsolete line folding is rejected by the head parser (RFC 9112
    // §5.2 lets a server reject it): such a request is not replayed.
    let folded = b"GET / HTTP/1.1\r\nHost: a\r\nX-F: one\r\n two\r\n\r\n";
    assert_eq!(
        keep(false).rewrite(folded),
        Err(Unsendable::Skip(SkipReason::Unparsable))
    );
}

/// A head whose last line ends in a bare LF and whose blank line is CRLF
/// was refused as unparsable (its blank line was looked for as `\r\n\r\n`
/// or `\n\n`); the head rules find it like any other.
#[test]
fn mixed_line_endings_before_the_blank_line() {
    let mixed = b"GET / HTTP/1.1\r\nHost: a\nConnection: close\n\r\n";
    let p = keep(false).rewrite(mixed).unwrap();
    assert_eq!(p.bytes(), b"GET / HTTP/1.1\r\nHost: a\n\r\n");
}

#[test]
fn unreplayable_requests_are_skipped() {
    let mut r = keep(false);
    let good = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody".to_vec();
    let mut ex = Exchange::new(
        1,
        1,
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
        0,
        good.clone(),
    );
    for (flags, want) in [
        (Flags::REQ_BODY_CAPPED, SkipReason::BodyCapped),
        (Flags::REQ_INCOMPLETE, SkipReason::Incomplete),
        (Flags::REQ_GAP, SkipReason::Incomplete),
        (Flags::REQ_SNAPLEN, SkipReason::Incomplete),
    ] {
        let mut e = ex.clone();
        e.flags = flags;
        assert_eq!(r.prepare(&mut e), Err(Unsendable::Skip(want)));
    }
    let mut e = ex.clone();
    e.request_len += 1;
    assert_eq!(
        r.prepare(&mut e),
        Err(Unsendable::Skip(SkipReason::Incomplete))
    );
    for (raw, want) in [
        (
            &b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort"[..],
            SkipReason::Incomplete,
        ),
        (
            &b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"[..],
            SkipReason::Upgrade,
        ),
        (&b"NOT HTTP\r\n\r\n"[..], SkipReason::Unparsable),
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\n"[..],
            SkipReason::Unparsable,
        ),
    ] {
        assert_eq!(
            r.rewrite(raw),
            Err(Unsendable::Skip(want)),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    // Flags that do not concern the request do not matter.
    ex.flags = Flags::RESP_MISSING | Flags::MIDSTREAM;
    let p = r.prepare(&mut ex).unwrap();
    assert_eq!(p.bytes(), &good[..]);
    // Bytes after the Content-Length body are not part of the message.
    let p = r
        .rewrite(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(p.bytes(), b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn header() -> impl Strategy<Value = (String, String)> {
        let name = prop::sample::select(vec![
            "Accept",
            "accept",
            "X-Id",
            "x-id",
            "X-ID",
            "Cookie",
            "User-Agent",
            "Content-Type",
            "Authorization",
        ]);
        (name, "[ -~&&[^\r\n]]{0,20}").prop_map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
    }

    proptest! {
        /// Whatever the end-to-end headers (order, case, duplicates) and
        /// the body, the target receives the captured bytes with only the
        /// Host line changed.
        #[test]
        fn only_the_host_line_changes(
            headers in prop::collection::vec(header(), 0..12),
            host_pos in 0usize..12,
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut lines: Vec<String> = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
            let pos = host_pos.min(lines.len());
            lines.insert(pos, "Host: captured\r\n".into());
            lines.push(format!("Content-Length: {}\r\n", body.len()));
            let head = format!("PUT /p HTTP/1.1\r\n{}\r\n", lines.concat());
            let mut raw = head.clone().into_bytes();
            raw.extend_from_slice(&body);

            let kept = keep(false).rewrite(&raw).unwrap();
            prop_assert_eq!(kept.bytes(), &raw[..]);

            let p = target_mode().rewrite(&raw).unwrap();
            let want = head.replacen("Host: captured\r\n", "Host: t-shadow\r\n", 1);
            let mut want = want.into_bytes();
            want.extend_from_slice(&body);
            prop_assert_eq!(sent(&p, Some(&host_line("t-shadow"))), want);
        }
    }
}
