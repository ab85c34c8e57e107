//! The lockstep walk against the general diff: on pairs of documents that
//! mostly agree (one generated document, a few edits, both written with
//! varied member order, whitespace, escapes and duplicate keys), `diff`
//! and `diff_general` give the same differences, the same count past the
//! bound, the same error, and ask the policy the same questions in the
//! same order.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};

use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// A policy that answers by a hash of the pointer (so that some arrays
/// are unordered and some numbers have a tolerance) and records every
/// question.
#[derive(Default)]
struct Hashed {
    salt: u64,
    asked: RefCell<Vec<String>>,
}

impl Hashed {
    fn roll(&self, pointer: &str) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.salt, pointer).hash(&mut h);
        h.finish()
    }
}

impl JsonPolicy for Hashed {
    fn unordered(&self, pointer: &str) -> bool {
        self.asked.borrow_mut().push(format!("unordered {pointer}"));
        self.roll(pointer).is_multiple_of(3)
    }
    fn tolerance(&self, pointer: &str) -> Option<Tolerance> {
        self.asked.borrow_mut().push(format!("tolerance {pointer}"));
        match self.roll(pointer) % 4 {
            0 => Some(Tolerance::Absolute(0.5)),
            1 => Some(Tolerance::Relative(0.1)),
            _ => None,
        }
    }
}

/// Small-domain JSON: values often equal, keys often shared.
fn doc() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i32..4).prop_map(Value::from),
        prop::sample::select(vec![0.5, 1.25, -2.0, 1e3]).prop_map(Value::from),
        prop::sample::select(vec!["", "a", "b", "é", "x/y", "q\"t"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[abc~/]{1,2}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Applies edit `op` at the `pick`-th container (preorder, wrapping) of
/// `v`, with `new` as the value it brings.
fn edit(v: &mut Value, pick: usize, op: u8, new: &Value) {
    fn count(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
            Value::Object(m) => 1 + m.values().map(count).sum::<usize>(),
            _ => 0,
        }
    }
    /// Applies `f` to the `n`-th container; whether there was one.
    fn at_nth(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
        if !v.is_array() && !v.is_object() {
            return false;
        }
        if *n == 0 {
            f(v);
            return true;
        }
        *n -= 1;
        match v {
            Value::Array(a) => a.iter_mut().any(|k| at_nth(k, n, f)),
            Value::Object(m) => m.values_mut().any(|k| at_nth(k, n, f)),
            _ => false,
        }
    }
    let total = count(v);
    if total == 0 {
        *v = new.clone();
        return;
    }
    let mut n = pick % total;
    at_nth(v, &mut n, &mut |target| match target {
        Value::Array(a) => match (op % 5, a.len()) {
            (0, _) => a.push(new.clone()),
            (1, n) if n > 0 => {
                a.remove(pick % n);
            }
            (2, n) if n > 1 => a.swap(0, n - 1),
            (3, n) if n > 0 => a[pick % n] = new.clone(),
            (_, n) if n > 0 => a[pick % n] = leaf(pick),
            _ => a.push(new.clone()),
        },
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            match (op % 4, keys.len()) {
                (0, _) => {
                    m.insert(format!("k{pick}"), new.clone());
                }
                (1, n) if n > 0 => {
                    m.remove(&keys[pick % n]);
                }
                (2, n) if n > 0 => {
                    m.insert(keys[pick % n].clone(), new.clone());
                }
                (_, n) if n > 0 => {
                    m.insert(keys[pick % n].clone(), leaf(pick));
                }
                _ => {
                    m.insert("z".into(), new.clone());
                }
            }
        }
        _ => {}
    });
}

/// A scalar picked by `k`: a changed leaf, the commonest edit.
fn leaf(k: usize) -> Value {
    match k % 4 {
        0 => Value::from(k % 3),
        1 => Value::from(0.5),
        2 => Value::String("a".into()),
        _ => Value::Bool(k % 8 > 3),
    }
}

/// How a document is written: `seed` picks, object by object and string
/// by string, the member order, whitespace, escapes, a leading duplicate
/// of a key; `dups` turns duplicates on.
struct Style {
    seed: u64,
    dups: bool,
}

impl Style {
    fn roll(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed >> 33
    }

    fn write(&mut self, v: &Value, out: &mut String) {
        match v {
            Value::Array(a) => {
                out.push('[');
                for (k, x) in a.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    self.space(out);
                    self.write(x, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                let mut members: Vec<(&String, &Value)> = m.iter().collect();
                if self.roll().is_multiple_of(8) {
                    members.reverse();
                }
                out.push('{');
                let mut first = true;
                for (k, x) in members {
                    if self.dups && self.roll().is_multiple_of(6) {
                        // An earlier member the later one overrides.
                        if !first {
                            out.push(',');
                        }
                        self.string(k, out);
                        out.push_str(":0");
                        first = false;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    self.space(out);
                    self.string(k, out);
                    out.push(':');
                    self.write(x, out);
                }
                out.push('}');
            }
            Value::String(s) => self.string(s, out),
            Value::Number(n) => {
                let t = n.to_string();
                // Another way to write the same number, now and then.
                if self.roll().is_multiple_of(10) && !t.contains(['e', 'E']) {
                    out.push_str(&format!("{t}e0"));
                } else {
                    out.push_str(&t);
                }
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn space(&mut self, out: &mut String) {
        if self.roll().is_multiple_of(12) {
            out.push_str("\n  ");
        }
    }

    fn string(&mut self, s: &str, out: &mut String) {
        let escaped = self.roll().is_multiple_of(5);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if escaped => out.push_str("\\/"),
                c if escaped && !c.is_ascii() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

fn written(v: &Value, seed: u64, dups: bool) -> Vec<u8> {
    let mut out = String::new();
    Style { seed, dups }.write(v, &mut out);
    out.into_bytes()
}

/// Both paths on one pair: results and questions.
fn both(a: &[u8], b: &[u8], salt: u64, max: usize) {
    let (p, q) = (
        Hashed {
            salt,
            ..Hashed::default()
        },
        Hashed {
            salt,
            ..Hashed::default()
        },
    );
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let fast = diff(a, b, &p, max, &mut x);
    let slow = diff_general(a, b, &q, max, &mut y);
    assert_eq!(
        fast,
        slow,
        "{} vs {}",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    );
    assert_eq!(
        x,
        y,
        "{} vs {}",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    );
    if slow.is_ok() {
        assert_eq!(*p.asked.borrow(), *q.asked.borrow());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lockstep_equals_the_general_diff_on_edited_pairs(
        base in doc(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), doc()), 0..4),
        (sa, sb) in (any::<u64>(), any::<u64>()),
        same_style in any::<bool>(),
        dups in any::<bool>(),
        salt in any::<u64>(),
        max in prop_oneof![Just(usize::MAX), 0usize..4],
    ) {
        let mut cand = base.clone();
        for (pick, op, new) in &edits {
            edit(&mut cand, *pick, *op, new);
        }
        let sb = if same_style { sa } else { sb };
        let (a, b) = (written(&base, sa, dups), written(&cand, sb, dups));
        both(&a, &b, salt, max);
    }

    #[test]
    fn lockstep_equals_the_general_diff_on_unrelated_pairs(
        x in doc(),
        y in doc(),
        seed in any::<u64>(),
        salt in any::<u64>(),
    ) {
        both(&written(&x, seed, false), &written(&y, seed, false), salt, usize::MAX);
    }

    /// Damaged documents: the same error (or result) on both paths.
    #[test]
    fn lockstep_equals_the_general_diff_on_damaged_pairs(
        base in doc(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), doc()), 0..2),
        seed in any::<u64>(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[]\\\",:0e.-tx \x01\xff".to_vec()),
        cut in any::<bool>(),
        side in any::<bool>(),
    ) {
        let mut cand = base.clone();
        for (pick, op, new) in &edits {
            edit(&mut cand, *pick, *op, new);
        }
        let (mut a, mut b) = (written(&base, seed, false), written(&cand, seed, false));
        let bad = if side { &mut a } else { &mut b };
        let k = at.index(bad.len() + 1);
        if cut {
            bad.truncate(k);
        } else if k < bad.len() {
            bad[k] = byte;
        } else {
            bad.push(byte);
        }
        both(&a, &b, 7, usize::MAX);
    }
}

#[test]
fn the_written_styles_are_json() {
    let v: Value =
        serde_json::from_str(r#"{"a/b":[1,2.5,"é\"x"],"c":{"d":null,"e":true}}"#).unwrap();
    let compact = serde_json::to_vec(&v).unwrap();
    let mut styles = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let t = written(&v, seed, false);
        serde_json::from_slice::<Value>(&t).unwrap();
        let mut out = Vec::new();
        assert_eq!(diff_general(&compact, &t, &Strict, 8, &mut out), Ok(0));
        assert_eq!(out, vec![], "{}", String::from_utf8_lossy(&t));
        styles.insert(t);
    }
    // Member order, spaces, escapes and numbers vary.
    assert!(styles.len() > 16, "{}", styles.len());
}
