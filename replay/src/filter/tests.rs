use shadowtap_format::{Exchange, Response};

use super::*;

fn ex(req: &str, status: Option<u16>) -> Exchange {
    let addr = "127.0.0.1:1".parse().unwrap();
    let e = Exchange::new(1, 1, addr, addr, 0, req.as_bytes().to_vec());
    match status {
        Some(s) => e.with_response(Response::new(
            s,
            1,
            2,
            b"HTTP/1.1 x\r\n\r\n".to_vec(),
            Vec::new(),
        )),
        None => e,
    }
}

fn rule(kind: RuleKind, arg: &str) -> FilterRule {
    FilterRule::parse(kind, arg).unwrap()
}

const REQ: &str = "GET /api/items?page=2 HTTP/1.1\r\nHost: shop.example:8080\r\nX-Tenant: a\r\nx-tenant: blue\r\n\r\n";

#[test]
fn each_field_matches_what_the_module_docs_say() {
    let e = ex(REQ, Some(503));
    // (rule, matches)
    let table = [
        ("method:^GET$", true),
        ("method:^get$", false),
        ("method:(?i)^get$", true),
        ("path:^/api/items$", true),
        ("path:page", false),
        ("uri:^/api/items\\?page=2$", true),
        ("host:^shop\\.example:8080$", true),
        ("host:other", false),
        ("header.x-tenant:^blue$", true),
        ("header.X-TENANT:^a$", true),
        ("header.x-tenant:^green$", false),
        ("header.x-missing:.*", false),
        ("status:5xx", true),
        ("status:5XX", true),
        ("status:4xx", false),
        ("status:503", true),
        ("status:50", true),
        ("status:^(502|504)$", false),
        ("STATUS:^503$", true),
    ];
    for (arg, want) in table {
        assert_eq!(rule(RuleKind::Include, arg).matches(&e), want, "{arg}");
    }
}

#[test]
fn absolute_form_targets_are_filtered_on_path_and_query() {
    let e = ex("GET http://h:1/a/b?x=1 HTTP/1.1\r\nHost: h:1\r\n\r\n", None);
    assert!(rule(RuleKind::Include, "uri:^/a/b\\?x=1$").matches(&e));
    assert!(rule(RuleKind::Include, "path:^/a/b$").matches(&e));
    let star = ex("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", None);
    assert!(rule(RuleKind::Include, "path:^\\*$").matches(&star));
    assert_eq!(origin_part(b"http://h"), b"");
    assert_eq!(origin_part(b"http://h?q"), b"?q");
    assert_eq!(origin_part(b"/x://y"), b"/x://y");
}

#[test]
fn no_host_is_an_empty_host_and_a_cut_request_is_read_as_far_as_it_goes() {
    let e = ex("GET / HTTP/1.0\r\n\r\n", None);
    assert!(rule(RuleKind::Include, "host:^$").matches(&e));
    let cut = ex("POST /upload HTTP/1.1\r\nHost: a\r\nX-Id: 7", None);
    assert!(rule(RuleKind::Include, "path:^/upload$").matches(&cut));
    assert!(rule(RuleKind::Include, "host:^a$").matches(&cut));
}

#[test]
fn kept_when_every_include_and_no_exclude_matches() {
    let f = Filter::new(vec![
        rule(RuleKind::Include, "path:^/api/"),
        rule(RuleKind::Include, "method:^(GET|HEAD)$"),
        rule(RuleKind::Exclude, "path:^/api/health"),
    ]);
    let table = [
        ("GET /api/items HTTP/1.1\r\nHost: a\r\n\r\n", true),
        ("HEAD /api/items HTTP/1.1\r\nHost: a\r\n\r\n", true),
        ("POST /api/items HTTP/1.1\r\nHost: a\r\n\r\n", false),
        ("GET /api/health HTTP/1.1\r\nHost: a\r\n\r\n", false),
        ("GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n", false),
    ];
    for (req, want) in table {
        assert_eq!(f.keep(&ex(req, None)), want, "{req:?}");
    }
    assert!(Filter::default().keep(&ex("garbage", None)));
    assert_eq!(
        f.args(RuleKind::Include),
        ["path:^/api/", "method:^(GET|HEAD)$"]
    );
    assert_eq!(f.args(RuleKind::Exclude), ["path:^/api/health"]);
}

#[test]
fn an_exchange_without_a_response_matches_no_status_rule() {
    let none = ex(REQ, None);
    let include = Filter::new(vec![rule(RuleKind::Include, "status:.")]);
    let exclude = Filter::new(vec![rule(RuleKind::Exclude, "status:5xx")]);
    assert!(!include.keep(&none));
    assert!(exclude.keep(&none));
    assert!(!exclude.keep(&ex(REQ, Some(500))));
    assert!(exclude.keep(&ex(REQ, Some(200))));
    assert!(
        exclude.uses_status() && !Filter::new(vec![rule(RuleKind::Include, "uri:x")]).uses_status()
    );
}

#[test]
fn bad_rules_are_typed_errors_naming_the_flag() {
    assert_eq!(
        FilterRule::parse(RuleKind::Include, "path").unwrap_err(),
        FilterError::NoColon {
            flag: "--include",
            arg: "path".into()
        }
    );
    for bad in ["body:x", "header.:x", "header.a b:x", ":x"] {
        assert!(
            matches!(
                FilterRule::parse(RuleKind::Exclude, bad),
                Err(FilterError::UnknownField {
                    flag: "--exclude",
                    ..
                })
            ),
            "{bad}"
        );
    }
    let err = FilterRule::parse(RuleKind::Exclude, "path:(unclosed").unwrap_err();
    assert_eq!(
        err.to_string(),
        "--exclude \"path:(unclosed\": invalid regex: unclosed group"
    );
    assert!(!err.to_string().contains('\n'));
    let huge = FilterRule::parse(RuleKind::Include, "uri:\\w{1000}\\w{1000}").unwrap_err();
    assert!(matches!(huge, FilterError::Regex { .. }), "{huge:?}");
    assert!(!huge.to_string().contains('\n'));
}
