//! Exact expectations for each kind, plus properties (see `props`).

use std::cell::RefCell;

use super::*;
use crate::compare::{Field, Kind};

/// A difference as (pointer, kind, baseline excerpt, candidate excerpt).
type Row = (String, Kind, Option<String>, Option<String>);

fn rows(out: &[Difference]) -> Vec<Row> {
    out.iter()
        .map(|d| {
            assert_eq!(d.noise, None);
            let Field::Pointer(p) = &d.field else {
                panic!("not a pointer: {:?}", d.field)
            };
            (p.clone(), d.kind, d.baseline.clone(), d.candidate.clone())
        })
        .collect()
}

fn with(policy: &dyn JsonPolicy, a: &str, b: &str) -> Vec<Row> {
    let mut out = Vec::new();
    let more = diff(a.as_bytes(), b.as_bytes(), policy, usize::MAX, &mut out).unwrap();
    assert_eq!(more, 0);
    rows(&out)
}

fn d(a: &str, b: &str) -> Vec<Row> {
    with(&Strict, a, b)
}

fn row(p: &str, kind: Kind, a: Option<&str>, b: Option<&str>) -> Row {
    (
        p.to_owned(),
        kind,
        a.map(str::to_owned),
        b.map(str::to_owned),
    )
}

fn val(p: &str, a: &str, b: &str) -> Row {
    row(p, Kind::Value, Some(a), Some(b))
}

/// A policy from lists, recording every question it is asked.
#[derive(Default)]
struct Rules {
    unordered: Vec<&'static str>,
    tolerance: Vec<(&'static str, Tolerance)>,
    asked: RefCell<Vec<String>>,
}

impl JsonPolicy for Rules {
    fn unordered(&self, pointer: &str) -> bool {
        self.asked.borrow_mut().push(format!("unordered {pointer}"));
        self.unordered.contains(&pointer)
    }
    fn tolerance(&self, pointer: &str) -> Option<Tolerance> {
        self.asked.borrow_mut().push(format!("tolerance {pointer}"));
        self.tolerance
            .iter()
            .find(|(p, _)| *p == pointer)
            .map(|(_, t)| *t)
    }
}

#[test]
fn values_and_types_at_the_deepest_pointer() {
    assert_eq!(
        d(
            r#"{"a":1,"b":"x","c":true}"#,
            r#"{"a":2,"b":"x","c":false}"#
        ),
        vec![val("/a", "1", "2"), val("/c", "true", "false")]
    );
    assert_eq!(
        d(r#"{"a":1,"b":null,"c":{}}"#, r#"{"a":"1","b":0,"c":[]}"#),
        vec![
            row("/a", Kind::Type, Some("1"), Some("\"1\"")),
            row("/b", Kind::Type, Some("null"), Some("0")),
            row("/c", Kind::Type, Some("{}"), Some("[]")),
        ]
    );
    assert_eq!(d("\"abc\"", "\"abd\""), vec![val("", "\"abc\"", "\"abd\"")]);
    assert_eq!(
        d("[1]", r#"{"0":1}"#),
        vec![row("", Kind::Type, Some("[1]"), Some(r#"{"0":1}"#))]
    );
}

#[test]
fn equal_documents_have_no_differences() {
    assert_eq!(
        d(r#" { "a" : [1, {"b": null}] } "#, r#"{"a":[1,{"b":null}]}"#),
        vec![]
    );
    assert_eq!(d(r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#), vec![]);
    // Identical bytes are equal without parsing, JSON or not.
    assert_eq!(d("{not json", "{not json"), vec![]);
}

#[test]
fn missing_and_extra_members() {
    assert_eq!(
        d(r#"{"a":1,"b":2,"d":[1]}"#, r#"{"b":2,"c":{"x":3},"d":[1]}"#),
        vec![
            row("/a", Kind::Missing, Some("1"), None),
            row("/c", Kind::Extra, None, Some(r#"{"x":3}"#)),
        ]
    );
}

#[test]
fn keys_are_escaped_in_pointers_and_compared_decoded() {
    assert_eq!(
        d(r#"{"a/b":1,"~":2,"x~/y":3}"#, r#"{"a/b":2,"~":3,"x~/y":4}"#),
        vec![
            val("/a~1b", "1", "2"),
            val("/~0", "2", "3"),
            val("/x~0~1y", "3", "4"),
        ]
    );
    assert_eq!(
        d(r#"{"\u0061":1,"b":2}"#, r#"{"a":1,"b":3}"#),
        vec![val("/b", "2", "3")]
    );
    assert_eq!(
        d(r#"{"\u00e9":1}"#, r#"{"é":2}"#),
        vec![val("/é", "1", "2")]
    );
}

#[test]
fn nested_arrays_of_objects() {
    let a = r#"{"items":[{"id":1,"tags":["x"],"p":{"v":2}},{"id":2,"tags":["y","z"],"p":{"v":3}}],"n":2}"#;
    let b = r#"{"items":[{"id":1,"tags":["x"],"p":{"v":2}},{"id":2,"tags":["y","w"],"p":{"v":4}}],"n":2}"#;
    assert_eq!(
        d(a, b),
        vec![
            val("/items/1/tags/1", "\"z\"", "\"w\""),
            val("/items/1/p/v", "3", "4")
        ]
    );
}

#[test]
fn numbers_compare_by_exact_value() {
    for (a, b) in [
        ("1.50", "1.5"),
        ("1e2", "100"),
        ("15e-1", "1.5E0"),
        ("1.5", "0.15e+1"),
        ("-0", "0"),
        ("0.0", "-0e5"),
        ("1.0", "1"),
        ("0.001", "1e-3"),
        (
            "123456789012345678901234567890",
            "1.2345678901234567890123456789e29",
        ),
    ] {
        assert_eq!(d(a, b), vec![], "{a} vs {b}");
    }
    for (a, b) in [
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
        ),
        ("10", "1"),
        ("1", "-1"),
        ("0.1", "0.10000000000000001"),
        ("9007199254740993", "9007199254740992"),
        ("1e2", "1e3"),
        ("1e400", "1e401"),
    ] {
        assert_eq!(d(a, b), vec![val("", a, b)], "{a} vs {b}");
    }
}

#[test]
fn tolerances_apply_where_the_policy_says() {
    let rules = Rules {
        tolerance: vec![
            ("/abs", Tolerance::Absolute(0.5)),
            ("/rel", Tolerance::Relative(0.01)),
        ],
        ..Rules::default()
    };
    let a = r#"{"abs":10,"rel":1000,"other":1,"s":"x"}"#;
    assert_eq!(
        with(&rules, a, r#"{"abs":10.5,"rel":1010,"other":1,"s":"x"}"#),
        vec![]
    );
    assert_eq!(
        with(
            &rules,
            a,
            r#"{"abs":10.6,"rel":1011,"other":1.0001,"s":"x"}"#
        ),
        vec![
            val("/abs", "10", "10.6"),
            val("/rel", "1000", "1011"),
            val("/other", "1", "1.0001"),
        ]
    );
}

#[test]
fn the_policy_is_asked_only_where_values_differ() {
    let rules = Rules::default();
    let a = r#"{"same":{"n":1,"l":[1,2]},"n":1,"l":[1,2],"m":[3]}"#;
    let b = r#"{"same":{"n":1,"l":[1,2]},"n":2,"l":[2,1],"m":[3]}"#;
    assert_eq!(
        with(&rules, a, b),
        vec![
            val("/n", "1", "2"),
            row("/l", Kind::Order, Some("[1,2]"), Some("[2,1]"))
        ]
    );
    assert_eq!(*rules.asked.borrow(), vec!["tolerance /n", "unordered /l"]);
}

#[test]
fn unordered_arrays_are_multisets() {
    let rules = Rules {
        unordered: vec!["/t", "/o"],
        tolerance: vec![
            ("/o/1/v", Tolerance::Absolute(0.1)),
            ("/o/0/v", Tolerance::Absolute(0.1)),
        ],
        ..Rules::default()
    };
    assert_eq!(
        with(&rules, r#"{"t":[1,2,3,2]}"#, r#"{"t":[2,3,2,1]}"#),
        vec![]
    );
    assert_eq!(
        with(&rules, r#"{"t":[1,2,3]}"#, r#"{"t":[3,4,1]}"#),
        vec![
            row("/t/1", Kind::Missing, Some("2"), None),
            row("/t/1", Kind::Extra, None, Some("4")),
        ]
    );
    assert_eq!(
        with(&rules, r#"{"t":[1,2]}"#, r#"{"t":[2,1,1]}"#),
        vec![row("/t/2", Kind::Extra, None, Some("1"))]
    );
    // Left-over elements pair under the policy: the tolerance applies inside.
    assert_eq!(
        with(
            &rules,
            r#"{"o":[{"v":1},{"v":2}]}"#,
            r#"{"o":[{"v":2.05},{"v":1}]}"#
        ),
        vec![]
    );
    // An ordered array elsewhere still reports the order.
    assert_eq!(
        with(&rules, r#"{"x":[1,2]}"#, r#"{"x":[2,1]}"#),
        vec![row("/x", Kind::Order, Some("[1,2]"), Some("[2,1]"))]
    );
}

#[test]
fn big_unordered_arrays_match_by_hash() {
    let rules = Rules {
        unordered: vec![""],
        ..Rules::default()
    };
    let a: Vec<String> = (0..500)
        .map(|k| format!(r#"{{"k":{k},"s":"v{}"}}"#, k % 7))
        .collect();
    let mut b = a.clone();
    b.reverse();
    b[10] = r#"{"k":-1,"s":"new"}"#.into();
    let (a, b) = (format!("[{}]", a.join(",")), format!("[{}]", b.join(",")));
    assert_eq!(
        with(&rules, &a, &b),
        vec![
            row("/489", Kind::Missing, Some(r#"{"k":489,"s":"v6"}"#), None),
            row("/10", Kind::Extra, None, Some(r#"{"k":-1,"s":"new"}"#)),
        ]
    );
}

#[test]
fn reordered_arrays_are_one_order_difference() {
    assert_eq!(
        d(r#"{"a":[1,2,3]}"#, r#"{"a":[3,1,2]}"#),
        vec![row("/a", Kind::Order, Some("[1,2,3]"), Some("[3,1,2]"))]
    );
    // Equal elements in other spellings still count as the same.
    assert_eq!(
        d(
            r#"[{"a":1,"b":2},1.0,"\u0041"]"#,
            r#"["A",{"b":2,"a":1},1]"#
        ),
        vec![row(
            "",
            Kind::Order,
            Some(r#"[{"a":1,"b":2},1.0,"A"]"#),
            Some(r#"["A",{"b":2,"a":1},1]"#)
        )]
    );
    // A big reordered array: hashed, still one difference.
    let a: Vec<String> = (0..300).map(|k| k.to_string()).collect();
    let mut b = a.clone();
    b.rotate_left(7);
    let out = d(&format!("[{}]", a.join(",")), &format!("[{}]", b.join(",")));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0.as_str(), out[0].1), ("", Kind::Order));
    // Same length, other elements: by index.
    assert_eq!(
        d("[1,2,3]", "[3,1,4]"),
        vec![
            val("/0", "1", "3"),
            val("/1", "2", "1"),
            val("/2", "3", "4")
        ]
    );
}

#[test]
fn lengths() {
    let len = |a: &str, b: &str| row("", Kind::Length, Some(a), Some(b));
    assert_eq!(
        d("[1,2]", "[1,2,3,4]"),
        vec![
            len("2", "4"),
            row("/2", Kind::Extra, None, Some("3")),
            row("/3", Kind::Extra, None, Some("4")),
        ]
    );
    assert_eq!(
        d("[1,2,3]", "[1,3]"),
        vec![len("3", "2"), row("/1", Kind::Missing, Some("2"), None)]
    );
    assert_eq!(
        d("[2,3]", "[1,2,3]"),
        vec![len("2", "3"), row("/0", Kind::Extra, None, Some("1"))]
    );
    assert_eq!(
        d("[1,2,3]", "[4,2]"),
        vec![len("3", "2"), val("/0", "1", "4")]
    );
    assert_eq!(
        d("[1,2,3]", "[1,5,6,7]"),
        vec![len("3", "4"), val("/1", "2", "5"), val("/2", "3", "6")]
    );
    assert_eq!(
        d("[]", "[{}]"),
        vec![len("0", "1"), row("/0", Kind::Extra, None, Some("{}"))]
    );
}

#[test]
fn max_bounds_the_list_and_counts_the_rest() {
    let mut out = Vec::new();
    let more = diff(
        br#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#,
        br#"{"a":0,"b":0,"c":0,"d":0,"e":0}"#,
        &Strict,
        2,
        &mut out,
    )
    .unwrap();
    assert_eq!(more, 3);
    assert_eq!(rows(&out), vec![val("/a", "1", "0"), val("/b", "2", "0")]);
    out.clear();
    assert_eq!(diff(b"[1,2]", b"[3,4]", &Strict, 0, &mut out), Ok(2));
    assert!(out.is_empty());
}

fn err(a: &[u8], b: &[u8]) -> JsonError {
    diff(a, b, &Strict, 10, &mut Vec::new()).unwrap_err()
}

#[test]
fn invalid_json_names_its_side() {
    let e = |s: &str| JsonError::Baseline(s.to_owned());
    assert_eq!(err(b"{", b"{}"), e("expected a string key at the end"));
    assert_eq!(err(b"{} x", b"{}"), e("trailing characters at byte 3"));
    assert_eq!(err(b"[1,]", b"{}"), e("expected a value at byte 3"));
    assert_eq!(err(b"01", b"{}"), e("trailing characters at byte 1"));
    assert_eq!(err(b"1.", b"{}"), e("invalid number at the end"));
    assert_eq!(
        err(b"\"a\x01\"", b"{}"),
        e("control character in a string at byte 2")
    );
    assert_eq!(err(b"\"\xff\"", b"{}"), e("invalid UTF-8 at byte 1"));
    assert_eq!(err(br#""\x""#, b"{}"), e("invalid escape at byte 1"));
    assert_eq!(err(b"", b"{}"), e("expected a value at the end"));
    assert_eq!(err(b"tru", b"{}"), e("invalid literal at byte 0"));
    assert_eq!(
        err(b"{}", b"{\"a\" 1}"),
        JsonError::Candidate("expected ':' at byte 5".into())
    );
    assert_eq!(
        err(b"{}", b"nul"),
        JsonError::Candidate("invalid literal at byte 0".into())
    );
    // Both invalid: the baseline is named.
    assert_eq!(err(b"[", b"]"), e("expected a value at the end"));
}

#[test]
fn nesting_is_bounded() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let ok = nest(MAX_DEPTH as usize);
    let mut deeper = ok.clone();
    deeper.insert(0, '[');
    deeper.push(']');
    let mut out = Vec::new();
    assert_eq!(
        diff(
            ok.as_bytes(),
            format!(" {ok}").as_bytes(),
            &Strict,
            10,
            &mut out
        ),
        Ok(0)
    );
    assert_eq!(
        err(deeper.as_bytes(), b"[]"),
        JsonError::Baseline("nesting deeper than 128 at byte 128".into())
    );
    // Far deeper input stops at the limit, without recursing further.
    let huge = nest(1_000_000);
    assert_eq!(
        err(b"[]", huge.as_bytes()),
        JsonError::Candidate("nesting deeper than 128 at byte 128".into())
    );
}

#[test]
fn the_last_of_duplicate_keys_wins() {
    assert_eq!(d(r#"{"a":1,"a":2}"#, r#"{"a":2}"#), vec![]);
    assert_eq!(d(r#"{"a":1,"a":2}"#, r#"{"a":3,"a":2}"#), vec![]);
    assert_eq!(
        d(r#"{"a":1,"a":2}"#, r#"{"a":1}"#),
        vec![val("/a", "2", "1")]
    );
    assert_eq!(
        d(r#"{"a":1,"b":0,"a":2}"#, r#"{"a":1,"b":0,"a":3}"#),
        vec![val("/a", "2", "3")]
    );
    assert_eq!(
        d(r#"[{"a":1,"a":2},{"a":3}]"#, r#"[{"a":3},{"a":2}]"#),
        vec![row(
            "",
            Kind::Order,
            Some(r#"[{"a":1,"a":2},{"a":3}]"#),
            Some(r#"[{"a":3},{"a":2}]"#)
        )]
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    assert_eq!(d("\u{feff}{\"a\":1}", "{\"a\":1}"), vec![]);
    assert_eq!(
        d("{\"a\":1}", "\u{feff} {\"a\":2}"),
        vec![val("/a", "1", "2")]
    );
}

#[test]
fn strings_compare_decoded() {
    assert_eq!(
        d(
            r#"["\u00e9","\/","\ud83d\ude00","a\"b","\n"]"#,
            "[\"é\",\"/\",\"😀\",\"a\\u0022b\",\"\\u000A\"]"
        ),
        vec![]
    );
    assert_eq!(
        d(
            r#"["\u00e9x","tab\t","\u0001"]"#,
            r#"["éy","tab ","\u0002"]"#
        ),
        vec![
            val("/0", "\"éx\"", "\"éy\""),
            val("/1", "\"tab\\t\"", "\"tab \""),
            val("/2", "\"\\u0001\"", "\"\\u0002\""),
        ]
    );
    assert_eq!(
        err(br#""\ud800""#, b"1"),
        JsonError::Baseline("unpaired surrogate escape at byte 1".into())
    );
    assert_eq!(
        err(br#""\udc00\ud800""#, b"1"),
        JsonError::Baseline("unpaired surrogate escape at byte 1".into())
    );
    assert_eq!(
        err(b"1", br#""\ud83d\u0041""#),
        JsonError::Candidate("unpaired surrogate escape at byte 1".into())
    );
    assert_eq!(
        err(b"1", br#""\u12g4""#),
        JsonError::Candidate("invalid \\u escape at byte 1".into())
    );
}

#[test]
fn excerpts_are_bounded() {
    let long = "x".repeat(1000);
    let out = d(&format!("[\"{long}\"]"), "[1]");
    let a = out[0].2.as_deref().unwrap();
    assert_eq!(
        a,
        format!("\"{}…", "x".repeat(crate::compare::EXCERPT_MAX - 1))
    );
    let big: Vec<String> = (0..10_000).map(|k| k.to_string()).collect();
    let out = d(&format!("{{\"a\":[{}]}}", big.join(",")), r#"{"b":1}"#);
    assert_eq!(out[0].0, "/a");
    assert!(out[0].2.as_deref().unwrap().ends_with('…'));
    assert!(out[0].2.as_deref().unwrap().starts_with("[0,1,2,3"));
}

#[test]
fn big_objects_compare_by_sorted_members() {
    let obj = |f: &dyn Fn(usize) -> usize| {
        let members: Vec<String> = (0..40).map(|k| format!("\"k{k:02}\":{}", f(k))).collect();
        format!("{{{}}}", members.join(","))
    };
    let out = d(&obj(&|k| k), &obj(&|k| k + 1));
    assert_eq!(out.len(), 40);
    assert_eq!(out[0], val("/k00", "0", "1"));
    assert_eq!(out[39], val("/k39", "39", "40"));
    // Duplicates in a big object: the last still wins.
    let dup = |last: usize| {
        let mut members: Vec<String> = (0..40).map(|k| format!("\"a\":{k}")).collect();
        members.push(format!("\"a\":{last}"));
        format!("{{{}}}", members.join(","))
    };
    let mut shifted: Vec<String> = (0..40).map(|k| format!("\"a\":{}", k + 1)).collect();
    shifted.push("\"a\":7".into());
    assert_eq!(d(&dup(7), &format!("{{{}}}", shifted.join(","))), vec![]);
    assert_eq!(d(&dup(7), &dup(8)), vec![val("/a", "7", "8")]);
    // Many members differing: counted, in linear-logarithmic work.
    let wide = |v: usize| {
        let members: Vec<String> = (0..20_000).map(|k| format!("\"a\":{}", k + v)).collect();
        format!("{{{}}}", members.join(","))
    };
    let mut out = Vec::new();
    assert_eq!(
        diff(wide(0).as_bytes(), wide(1).as_bytes(), &Strict, 0, &mut out),
        Ok(1)
    );
}

#[test]
fn multisets_nested_in_multisets_pair_exactly_inside() {
    let rules = Rules {
        unordered: vec!["", "/0/t", "/1/t"],
        tolerance: vec![("/0/t/0", Tolerance::Absolute(0.1))],
        ..Rules::default()
    };
    // Permuted inner multisets still pair (exactly).
    assert_eq!(
        with(
            &rules,
            r#"[{"t":[1,2]},{"t":[3]}]"#,
            r#"[{"t":[3]},{"t":[2,1]}]"#
        ),
        vec![]
    );
    // Inside the outer pairing trial, the inner multiset does not try its
    // elements under the policy, so the tolerance does not pair 1 and 1.05.
    assert_eq!(
        with(&rules, r#"[{"t":[1]}]"#, r#"[{"t":[1.05]}]"#),
        vec![
            row("/0", Kind::Missing, Some(r#"{"t":[1]}"#), None),
            row("/0", Kind::Extra, None, Some(r#"{"t":[1.05]}"#)),
        ]
    );
    // Under an ordered outer array it does.
    let inner_only = Rules {
        unordered: vec!["/0/t"],
        tolerance: vec![("/0/t/0", Tolerance::Absolute(0.1))],
        ..Rules::default()
    };
    assert_eq!(
        with(&inner_only, r#"[{"t":[1]}]"#, r#"[{"t":[1.05]}]"#),
        vec![]
    );
}
