//! Properties of the diff over generated documents.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::compare::{Field, Kind};

/// Arbitrary JSON, bounded: numbers both integral and fractional, strings
/// with escapes and non-ASCII, nested arrays and objects.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-c\"\\\\/\u{e9}\u{1f600}\n\t ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-d/~]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON from a small domain (i32 numbers, a few strings and keys), so that
/// two generated values are often equal.
fn small_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (-2i32..3).prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec!["", "a", "b", "é"]).prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[ab]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn run(a: &[u8], b: &[u8]) -> (Vec<Difference>, usize) {
    let mut out = Vec::new();
    let more = diff(a, b, &Strict, usize::MAX, &mut out).unwrap();
    (out, more)
}

/// A difference as seen from the other side: missing and extra swapped,
/// excerpts swapped.
fn flipped(d: &Difference) -> (Field, Kind, Option<String>, Option<String>) {
    let kind = match d.kind {
        Kind::Missing => Kind::Extra,
        Kind::Extra => Kind::Missing,
        k => k,
    };
    (
        d.field.clone(),
        kind,
        d.candidate.clone(),
        d.baseline.clone(),
    )
}

fn plain(d: &Difference) -> (Field, Kind, Option<String>, Option<String>) {
    (
        d.field.clone(),
        d.kind,
        d.baseline.clone(),
        d.candidate.clone(),
    )
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

proptest! {
    #[test]
    fn a_document_equals_itself_however_written(x in any_json()) {
        let compact = serde_json::to_vec(&x).unwrap();
        let pretty = serde_json::to_vec_pretty(&x).unwrap();
        prop_assert_eq!(run(&compact, &compact).0, vec![]);
        prop_assert_eq!(run(&compact, &pretty).0, vec![]);
        prop_assert_eq!(run(&pretty, &compact).0, vec![]);
    }

    #[test]
    fn the_diff_is_symmetric(a in any_json(), b in any_json()) {
        let (ta, tb) = (serde_json::to_vec(&a).unwrap(), serde_json::to_vec_pretty(&b).unwrap());
        let (ab, more_ab) = run(&ta, &tb);
        let (ba, more_ba) = run(&tb, &ta);
        prop_assert_eq!(more_ab, 0);
        prop_assert_eq!(more_ba, 0);
        prop_assert_eq!(sorted(ab.iter().map(plain).collect()), sorted(ba.iter().map(flipped).collect()));
    }

    #[test]
    fn no_differences_exactly_when_equal(a in small_json(), b in small_json()) {
        let (ta, tb) = (serde_json::to_vec(&a).unwrap(), serde_json::to_vec_pretty(&b).unwrap());
        let (out, _) = run(&ta, &tb);
        prop_assert_eq!(out.is_empty(), a == b, "{:?}", out);
    }

    #[test]
    fn max_bounds_and_counts(a in any_json(), b in any_json(), max in 0usize..4) {
        let (ta, tb) = (serde_json::to_vec(&a).unwrap(), serde_json::to_vec(&b).unwrap());
        let (all, _) = run(&ta, &tb);
        let mut out = Vec::new();
        let more = diff(&ta, &tb, &Strict, max, &mut out).unwrap();
        prop_assert_eq!(out.len(), all.len().min(max));
        prop_assert_eq!(more, all.len() - out.len());
        prop_assert_eq!(&out[..], &all[..out.len()]);
    }

    /// Any bytes, or a document cut short, on either side: no panic, and an
    /// error names the side that is not JSON (serde_json is the reference
    /// for what is JSON).
    #[test]
    fn never_panics_and_blames_the_right_side(
        x in any_json(),
        cut in any::<prop::sample::Index>(),
        noise in prop::collection::vec(any::<u8>(), 0..24),
        which in 0u8..4,
    ) {
        let doc = serde_json::to_vec(&x).unwrap();
        let bad = match which {
            0 => doc[..cut.index(doc.len() + 1)].to_vec(),
            1 => noise.clone(),
            2 => [&doc[..cut.index(doc.len() + 1)], &noise[..]].concat(),
            _ => {
                let mut d = doc.clone();
                if !d.is_empty() {
                    let k = cut.index(d.len());
                    d[k] = noise.first().copied().unwrap_or(b'"');
                }
                d
            }
        };
        // serde_json (without arbitrary precision) also refuses numbers
        // beyond f64, which are JSON all the same: then its grammar check
        // (which skips numbers without converting them) decides.
        let valid = match serde_json::from_slice::<Value>(&bad) {
            Ok(_) => true,
            Err(e) => {
                e.to_string().starts_with("number out of range")
                    && serde_json::from_slice::<serde::de::IgnoredAny>(&bad).is_ok()
            }
        };
        let mut out = Vec::new();
        let r = diff(&bad, &doc, &Strict, 8, &mut out);
        if bad == doc {
            prop_assert_eq!(r, Ok(0));
        } else if valid {
            prop_assert!(r.is_ok(), "{:?}", r);
        } else {
            prop_assert!(matches!(r, Err(JsonError::Baseline(_))), "{:?}", r);
        }
        let r = diff(&doc, &bad, &Strict, 8, &mut out);
        if valid || bad == doc {
            prop_assert!(r.is_ok(), "{:?}", r);
        } else {
            prop_assert!(matches!(r, Err(JsonError::Candidate(_))), "{:?}", r);
        }
    }
}
