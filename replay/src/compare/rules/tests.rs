use super::*;
use crate::compare::Kind;

fn rules(ignore: &[&str], order: &[&str], builtin: bool) -> Rules {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Rules::new(&s(ignore), &s(order), builtin).unwrap()
}

fn diff(field: Field, kind: Kind, a: Option<&str>, b: Option<&str>) -> Difference {
    Difference {
        field,
        kind,
        baseline: a.map(str::to_owned),
        candidate: b.map(str::to_owned),
        noise: None,
    }
}

fn value(field: Field, a: &str, b: &str) -> Difference {
    diff(field, Kind::Value, Some(a), Some(b))
}

fn h(name: &str) -> Field {
    Field::Header(name.into())
}

fn p(pointer: &str) -> Field {
    Field::Pointer(pointer.into())
}

#[test]
fn rules_parse_or_say_why_not() {
    let good = [
        "status",
        "  headers  ",
        "body",
        "header:Date",
        "header:x-amz-*",
        "header:*",
        "json:/items/*/updated_at",
        "json:/meta/**",
        "json:/**/trace_id",
        "json:/**/*_at",
        "body:/a~1b/~0c",
        "json:/",
        "json:/a//b",
        "json:/**/a/**/b",
        "status~^5",
        "header:server~^nginx/",
        "json:/version~^v\\d+$",
        "json:/a~1b~x y z",
        "~^[0-9a-f]{40}$",
        "json:/price within=0.01",
        "json:/items/*/score within=5%",
        "body:/ratio within=1e-3",
        "json:/first name",
    ];
    for g in good {
        assert!(
            Rules::new(&[g.to_string()], &[], true).is_ok(),
            "{g:?} should parse"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("", "empty rule"),
        ("   ", "empty rule"),
        ("stat", "unknown selector \"stat\""),
        ("cookie:x", "unknown selector"),
        ("Status", "unknown selector"),
        ("header:", "empty header name"),
        ("header:a b", "' ' is not allowed in a header name"),
        ("header:x:y", "':' is not allowed"),
        ("json:", "empty pointer pattern"),
        ("json:items", "does not start with '/'"),
        ("body:items/0", "does not start with '/'"),
        ("json:/***", "** must be a whole segment"),
        ("json:/a**", "** must be a whole segment"),
        ("json:/a/**b/c", "** must be a whole segment"),
        ("status~", "empty condition after ~"),
        ("status~(", "bad regex: regex parse error"),
        ("json:/a~[z-a]", "bad regex"),
        ("~", "empty condition"),
        ("status within=1", "within= is only for json:POINTER"),
        ("header:age within=1", "within= is only for json:POINTER"),
        ("within=1", "within= needs a json:POINTER"),
        ("json:/a within=-1", "expected a non-negative number"),
        ("json:/a within=NaN", "expected a non-negative number"),
        ("json:/a within=inf", "expected a non-negative number"),
        ("json:/a within=1e999", "expected a non-negative number"),
        ("json:/a within=", "expected a non-negative number"),
        ("json:/a within=%", "expected a non-negative number"),
        ("json:/a within=101%", "expected a non-negative number"),
        ("json:/a within=x1", "expected a non-negative number"),
        (
            "json:/a~^1 within=1",
            "cannot be combined with a ~ condition",
        ),
        ("json:/a within=1 within=2", "within= may be given once"),
    ];
    for (text, why) in bad {
        let err = Rules::new(&[text.to_string()], &[], true).unwrap_err();
        assert_eq!(err.rule, *text);
        assert!(
            err.why.contains(why),
            "{text:?}: {:?} lacks {why:?}",
            err.why
        );
    }
    let err = Rules::new(&[], &["items".to_string()], true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad rule \"items\": pointer pattern \"items\" does not start with '/'"
    );
}

#[test]
fn rules_mark_the_differences_they_select() {
    let cases: &[(&str, Difference, bool)] = &[
        ("status", value(Field::Status, "200", "500"), true),
        ("status", value(h("status"), "a", "b"), false),
        ("header:Date", value(h("date"), "a", "b"), true),
        (
            "header:date",
            diff(h("date"), Kind::Missing, Some("a"), None),
            true,
        ),
        ("header:date", value(h("dates"), "a", "b"), false),
        ("header:x-amz-*", value(h("x-amz-id-2"), "a", "b"), true),
        (
            "header:x-amz-*",
            value(h("x-amzn-trace-id"), "a", "b"),
            false,
        ),
        ("header:X-*-Id", value(h("x-request-id"), "a", "b"), true),
        ("header:*", value(h("anything"), "a", "b"), true),
        ("header:*", value(Field::HeaderOrder, "a", "b"), false),
        (
            "headers",
            diff(Field::HeaderOrder, Kind::Order, Some("a,b"), Some("b,a")),
            true,
        ),
        ("body", value(Field::Body, "a", "b"), true),
        ("body", value(p("/x/0"), "1", "2"), true),
        ("body", value(Field::Status, "200", "201"), false),
        (
            "json:/items/*/updated_at",
            value(p("/items/3/updated_at"), "1", "2"),
            true,
        ),
        (
            "json:/items/*/updated_at",
            value(p("/items/updated_at"), "1", "2"),
            false,
        ),
        (
            "json:/items/*/updated_at",
            value(p("/items/3/4/updated_at"), "1", "2"),
            false,
        ),
        (
            "json:/items/*/updated_at",
            value(Field::Body, "1", "2"),
            false,
        ),
        ("json:/meta/**", value(p("/meta"), "{}", "[]"), true),
        ("json:/meta/**", value(p("/meta/a/b/c"), "1", "2"), true),
        ("json:/meta/**", value(p("/metadata/a"), "1", "2"), false),
        ("json:/**/trace_id", value(p("/trace_id"), "1", "2"), true),
        (
            "json:/**/trace_id",
            value(p("/a/b/0/trace_id"), "1", "2"),
            true,
        ),
        (
            "json:/**/trace_id",
            value(p("/a/trace_id/b"), "1", "2"),
            false,
        ),
        ("json:/**/a/**/b", value(p("/x/a/y/a/z/b"), "1", "2"), true),
        ("json:/**/a/**/b", value(p("/x/a/y/b/z"), "1", "2"), false),
        (
            "json:/**/*_at",
            value(p("/user/created_at"), "1", "2"),
            true,
        ),
        ("json:/**/*_at", value(p("/user/format"), "1", "2"), false),
        ("json:/**", value(p(""), "1", "[]"), true),
        ("json:/a~1b", value(p("/a~1b"), "1", "2"), true),
        ("json:/a~1b", value(p("/a/b"), "1", "2"), false),
        ("body:/a/0", value(p("/a/0"), "1", "2"), true),
        ("json:/", value(p("/"), "1", "2"), true),
        ("json:/", value(p(""), "1", "2"), false),
        // Conditions: both values match; a missing one does not.
        ("status~^5", value(Field::Status, "500", "503"), true),
        ("status~^5", value(Field::Status, "200", "503"), false),
        (
            "header:server~^nginx/",
            value(h("server"), "nginx/1.25", "nginx/1.27"),
            true,
        ),
        (
            "header:server~^nginx/",
            value(h("server"), "nginx/1.25", "apache"),
            false,
        ),
        (
            "header:server~.",
            diff(h("server"), Kind::Extra, None, Some("nginx")),
            false,
        ),
        (
            "json:/version~^v\\d+$",
            value(p("/version"), "\"v12\"", "\"v13\""),
            true,
        ),
        (
            "json:/version~^v\\d+$",
            value(p("/version"), "\"v12\"", "\"12\""),
            false,
        ),
        ("json:/n~^\\d+$", value(p("/n"), "12", "13"), true),
        ("json:/a~1b~^x$", value(p("/a~1b"), "\"x\"", "\"x\""), true),
        ("json:/n~(1\\d*)", value(p("/n"), "12", "15"), true),
        ("json:/n~(1\\d*)", value(p("/n"), "12", "25"), false),
        ("json:/t~…$", value(p("/t"), "\"aaaa…", "\"bbbb…"), true),
        (
            "~^[0-9a-f]{8}$",
            value(h("x-build"), "deadbeef", "0badf00d"),
            true,
        ),
        (
            "~^[0-9a-f]{8}$",
            value(p("/build"), "\"deadbeef\"", "\"0badf00d\""),
            true,
        ),
        (
            "~^[0-9a-f]{8}$",
            value(Field::Body, "deadbeef", "nope"),
            false,
        ),
        // A tolerance rule does not mark anything as noise.
        ("json:/price within=1", value(p("/price"), "1", "2"), false),
    ];
    for (rule, d, noise) in cases {
        let r = rules(&[rule], &[], false);
        let want = noise.then(|| Noise::Rule(rule.to_string()));
        assert_eq!(r.noise(d), want, "{rule:?} on {d:?}");
    }
}

#[test]
fn the_first_matching_rule_names_the_noise_and_rules_come_before_builtins() {
    let r = rules(
        &["header:x-*", " header:x-request-id ", "header:date"],
        &[],
        true,
    );
    let d = value(h("x-request-id"), "a", "b");
    assert_eq!(r.noise(&d), Some(Noise::Rule("header:x-*".into())));
    let d = value(
        h("date"),
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Mon, 07 Nov 1994 08:49:37 GMT",
    );
    assert_eq!(r.noise(&d), Some(Noise::Rule("header:date".into())));
    let r = rules(&[" header:date "], &[], true);
    assert_eq!(r.noise(&d), Some(Noise::Rule(" header:date ".into())));
    let r = rules(&[], &[], true);
    assert_eq!(r.noise(&d), Some(Noise::Builtin("date header")));
    let r = rules(&[], &[], false);
    assert_eq!(r.noise(&d), None);
}

#[test]
fn ignore_files_skip_comments_and_blank_lines() {
    let text = "# noise\nheader:date\n\n   # indented comment\n  json:/meta/**  \nstatus~^5\n";
    assert_eq!(
        Rules::lines_of_file(text),
        ["header:date", "json:/meta/**", "status~^5"]
    );
}

#[test]
fn tolerances_are_looked_up_by_pointer_first_match() {
    let r = rules(
        &[
            "json:/price within=0.5",
            "json:/items/*/score within=5%",
            "json:/** within=2",
            "status",
        ],
        &[],
        true,
    );
    let cases: &[(&str, Option<Tolerance>)] = &[
        ("/price", Some(Tolerance::Absolute(0.5))),
        ("/items/0/score", Some(Tolerance::Relative(0.05))),
        ("/items/0/other", Some(Tolerance::Absolute(2.0))),
        ("", Some(Tolerance::Absolute(2.0))),
    ];
    for (pointer, want) in cases {
        assert_eq!(r.tolerance(pointer), *want, "{pointer:?}");
    }
    let r = rules(&["json:/a/* within=0", "status"], &[], true);
    assert_eq!(r.tolerance("/a/1"), Some(Tolerance::Absolute(0.0)));
    assert_eq!(r.tolerance("/a"), None);
    assert_eq!(r.tolerance("/b/1"), None);
    assert_eq!(rules(&[], &[], true).tolerance("/a"), None);
}

#[test]
fn unordered_arrays_are_looked_up_by_pointer() {
    let r = rules(
        &[],
        &["/tags", "json:/items/*/roles", "body:/**/members"],
        true,
    );
    let cases = [
        ("/tags", true),
        ("/tags/0", false),
        ("/items/4/roles", true),
        ("/items/roles", false),
        ("/members", true),
        ("/org/teams/2/members", true),
        ("", false),
        ("/other", false),
    ];
    for (pointer, want) in cases {
        assert_eq!(r.unordered(pointer), want, "{pointer:?}");
    }
    assert!(!rules(&[], &[], true).unordered("/tags"));
    let r = rules(&[], &["/**"], true);
    assert!(r.unordered(""));
    assert!(r.unordered("/a/b"));
}
