//! `--rewrite-uri` and `--remove-header`: parsing and the bytes sent.

use super::*;

fn edits(uri: &[&str], remove: &[&str]) -> Edits {
    Edits {
        uri: uri.iter().map(|a| UriRewrite::parse(a).unwrap()).collect(),
        remove: remove
            .iter()
            .map(|a| RemoveHeader::parse(a).unwrap())
            .collect(),
    }
}

/// The request as sent with the captured Host untouched and `edits`.
fn send(raw: &str, e: Edits, extra: &[&str]) -> String {
    let extra = extra
        .iter()
        .map(|h| ExtraHeader::parse(h).unwrap())
        .collect();
    let mode = HostMode {
        keep_captured: true,
        no_suffix: true,
    };
    let p = Rewriter::new(mode, extra)
        .with_edits(e)
        .rewrite(raw.as_bytes())
        .unwrap();
    String::from_utf8(p.bytes().to_vec()).unwrap()
}

#[test]
fn uri_rewrites_apply_in_order_with_groups() {
    // (rules, captured target, target sent)
    let table: [(&[&str], &str, &str); 9] = [
        (&["^/v1/=>/v2/"], "/v1/items?id=3", "/v2/items?id=3"),
        (&["^/v1/(.*)$=>/api/$1"], "/v1/a/b?x", "/api/a/b?x"),
        (&["(?P<id>[0-9]+)=>n${id}n"], "/a/12/b/3", "/a/n12n/b/n3n"),
        // Each rule works on the previous one's result.
        (&["^/a=>/b", "^/b=>/c"], "/a/x", "/c/x"),
        // No match: unchanged.
        (&["^/v1/=>/v2/"], "/v3/items", "/v3/items"),
        // An empty result is not applied.
        (&[".*=>"], "/x", "/x"),
        (&["\\?.*$=>"], "/x?debug=1", "/x"),
        // Absolute form: only path and query are rewritten.
        (&["^/a=>/b"], "http://a.example/a?q", "http://a.example/b?q"),
        (&["^$=>/root"], "http://a.example", "http://a.example/root"),
    ];
    for (rules, target, want) in table {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
        let got = send(&raw, edits(rules, &[]), &[]);
        assert_eq!(
            got,
            format!("GET {want} HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n"),
            "{rules:?} {target}"
        );
    }
}

#[test]
fn the_rest_of_the_request_is_kept_byte_for_byte() {
    let raw = "POST /v1/up HTTP/1.0\nhost: h\nX-A: 1\nContent-Length: 3\n\nabc";
    assert_eq!(
        send(raw, edits(&["^/v1=>/v2"], &[]), &[]),
        "POST /v2/up HTTP/1.0\nhost: h\nX-A: 1\nContent-Length: 3\n\nabc"
    );
}

#[test]
fn removed_headers_are_dropped_and_header_wins() {
    let raw =
        "GET / HTTP/1.1\r\nHost: h\r\nCookie: a\r\nX-Trace: 1\r\ncookie: b\r\nAccept: */*\r\n\r\n";
    assert_eq!(
        send(raw, edits(&[], &["COOKIE", "x-trace"]), &[]),
        "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
    );
    // --header of a removed name: its line replaces the first one.
    assert_eq!(
        send(raw, edits(&[], &["cookie"]), &["Cookie: mirror=1"]),
        "GET / HTTP/1.1\r\nHost: h\r\nCookie: mirror=1\r\nX-Trace: 1\r\nAccept: */*\r\n\r\n"
    );
    // Removing a header that is not there changes nothing.
    assert_eq!(send(raw, edits(&[], &["x-none"]), &[]), raw);
}

#[test]
fn bad_edit_arguments_are_typed_errors() {
    assert_eq!(
        UriRewrite::parse("/a").unwrap_err(),
        EditArgError::NoArrow { arg: "/a".into() }
    );
    let e = UriRewrite::parse("(=>/x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "--rewrite-uri \"(=>/x\": invalid regex: unclosed group"
    );
    assert!(matches!(
        UriRewrite::parse("^/a=>/b c"),
        Err(EditArgError::Replacement { .. })
    ));
    // The first `=>` splits: the replacement may hold one.
    assert_eq!(
        UriRewrite::parse("a=>b=>c").unwrap().apply(b"/a"),
        Some(b"/b=>c".to_vec())
    );
    for name in ["Host", "content-length", "Transfer-Encoding", "CONNECTION"] {
        assert_eq!(
            RemoveHeader::parse(name),
            Err(EditArgError::Protected { arg: name.into() })
        );
    }
    for name in ["", "a b", "x:"] {
        assert!(matches!(
            RemoveHeader::parse(name),
            Err(EditArgError::InvalidName { .. })
        ));
    }
}

#[test]
fn a_path_prefix_goes_before_the_path_of_each_target_form() {
    let line = host_line("t:1");
    // (captured target, target sent with prefix /v2)
    let table = [
        ("/api/items?x=1", "/v2/api/items?x=1"),
        ("/", "/v2/"),
        ("http://h.example/api?q", "http://h.example/v2/api?q"),
        ("http://h.example?q", "http://h.example/v2?q"),
        ("*", "*"),
    ];
    for (target, want) in table {
        let raw = format!("OPTIONS {target} HTTP/1.1\r\nX-A: 1\r\nHost: h\r\n\r\n");
        let p = Rewriter::new(HostMode::default(), Vec::new())
            .rewrite(raw.as_bytes())
            .unwrap();
        let mut out = Vec::new();
        p.write_with_prefix(Some(&line), b"/v2", &mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            format!("OPTIONS {want} HTTP/1.1\r\nX-A: 1\r\nHost: t:1\r\n\r\n"),
            "{target}"
        );
        // No prefix: the same bytes as the parts.
        p.write_with_prefix(Some(&line), b"", &mut out);
        assert_eq!(out, p.parts(Some(&line)).concat());
    }
    // After --rewrite-uri, on the rewritten path; a request without Host.
    let p = Rewriter::new(HostMode::default(), Vec::new())
        .with_edits(edits(&["^/old=>/new"], &[]))
        .rewrite(b"GET /old/a HTTP/1.1\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    p.write_with_prefix(Some(&line), b"/v2", &mut out);
    assert_eq!(out, b"GET /v2/new/a HTTP/1.1\r\nHost: t:1\r\n\r\n");
}

fn host_line(value: &str) -> HostLine {
    HostLine::new(value.as_bytes())
}
