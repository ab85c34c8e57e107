//! Value semantics over parsed trees: exact equality, canonical hashes,
//! object members (last duplicate wins) and bounded excerpts.

use std::borrow::Cow;
use std::hash::Hasher;

use super::parse::{decode, Decimal, Node, Tree};
use crate::compare::{excerpt, EXCERPT_MAX};

/// Whether two strings (node `i` of `a`, node `j` of `b`) decode equal.
pub(crate) fn str_eq(a: &Tree<'_>, i: u32, b: &Tree<'_>, j: u32) -> bool {
    let (ra, ea) = a.raw_str(i);
    let (rb, eb) = b.raw_str(j);
    raw_str_eq(ra, ea, rb, eb)
}

/// Whether two strings' raw texts (`ea`, `eb`: with escapes) decode equal.
pub(crate) fn raw_str_eq(ra: &[u8], ea: bool, rb: &[u8], eb: bool) -> bool {
    if ra == rb {
        return true;
    }
    if !ea && !eb {
        return false;
    }
    str_value(ra, ea) == str_value(rb, eb)
}

/// A string's decoded value from its raw text.
pub(crate) fn str_value(raw: &[u8], esc: bool) -> Cow<'_, [u8]> {
    if esc {
        Cow::Owned(decode(raw))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Whether two numbers have the same value (exactly, by their text).
pub(crate) fn num_eq(ta: &[u8], tb: &[u8]) -> bool {
    ta == tb || Decimal::of(ta).same(&Decimal::of(tb))
}

/// Exact equality: numbers by value, strings decoded, objects regardless of
/// member order (the last of duplicate keys wins), arrays in order. No
/// policy applies; values equal here are equal under any policy.
pub(crate) fn equal(a: &Tree<'_>, i: u32, b: &Tree<'_>, j: u32) -> bool {
    match (a.node(i), b.node(j)) {
        (Node::Null, Node::Null) => true,
        (Node::Bool(x), Node::Bool(y)) => x == y,
        (Node::Num { at, len }, Node::Num { at: bt, len: bl }) => {
            num_eq(a.text(at, len), b.text(bt, bl))
        }
        (Node::Str { .. }, Node::Str { .. }) => str_eq(a, i, b, j),
        (Node::Arr { len: la, .. }, Node::Arr { len: lb, .. }) => {
            if la != lb {
                return false;
            }
            let (mut x, mut y) = (i + 1, j + 1);
            for _ in 0..la {
                if !equal(a, x, b, y) {
                    return false;
                }
                x = a.next(x);
                y = b.next(y);
            }
            true
        }
        (Node::Obj { len: la, .. }, Node::Obj { len: lb, .. }) => obj_eq(a, i, la, b, j, lb),
        _ => false,
    }
}

/// Objects of more members than this are not scanned for a later duplicate
/// of a key (which costs the members after it): they compare by sorted
/// members instead.
pub(crate) const SCAN_MAX: u32 = 32;

/// Object equality: member by member when both list the same keys in the
/// same order (the usual case, no allocation), else by sorted members.
fn obj_eq(a: &Tree<'_>, i: u32, la: u32, b: &Tree<'_>, j: u32, lb: u32) -> bool {
    if la == lb && same_key_sequence(a, i, b, j, la) {
        let (mut x, mut y) = (i + 1, j + 1);
        let mut all = true;
        for _ in 0..la {
            if !equal(a, x + 1, b, y + 1) {
                // Unequal, unless a later duplicate key overrides this member.
                if la > SCAN_MAX {
                    all = false;
                    break;
                }
                if !shadowed(a, x, a.node(i)) {
                    return false;
                }
            }
            x = a.next(x + 1);
            y = b.next(y + 1);
        }
        if all {
            return true;
        }
    }
    let (ma, mb) = (members(a, i), members(b, j));
    ma.len() == mb.len()
        && ma
            .iter()
            .zip(&mb)
            .all(|(p, q)| p.key == q.key && equal(a, p.value, b, q.value))
}

/// Whether objects `i` of `a` and `j` of `b` (both of `n` members) list keys
/// with the same raw text in the same order.
pub(crate) fn same_key_sequence(a: &Tree<'_>, i: u32, b: &Tree<'_>, j: u32, n: u32) -> bool {
    let (mut x, mut y) = (i + 1, j + 1);
    for _ in 0..n {
        if a.raw_str(x).0 != b.raw_str(y).0 {
            return false;
        }
        x = a.next(x + 1);
        y = b.next(y + 1);
    }
    true
}

/// Whether the key node `k` of object `obj` is followed by another member
/// with the same (decoded) key, which then wins.
pub(crate) fn shadowed(t: &Tree<'_>, k: u32, obj: Node) -> bool {
    let end = match obj {
        Node::Obj { end, .. } => end,
        _ => return false,
    };
    let mut x = t.next(k + 1);
    while x < end {
        if str_eq(t, k, t, x) {
            return true;
        }
        x = t.next(x + 1);
    }
    false
}

/// One member of an object: decoded key, value node, position.
pub(crate) struct Member<'a> {
    pub key: Cow<'a, [u8]>,
    pub value: u32,
    pub pos: u32,
}

/// An object's members sorted by decoded key, duplicates dropped but the
/// last (which wins, as in most parsers).
pub(crate) fn members<'a>(t: &Tree<'a>, obj: u32) -> Vec<Member<'a>> {
    let Node::Obj { len, .. } = t.node(obj) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(len as usize);
    let mut x = obj + 1;
    for pos in 0..len {
        out.push(Member {
            key: t.str_value(x),
            value: x + 1,
            pos,
        });
        x = t.next(x + 1);
    }
    out.sort_by(|p, q| p.key.cmp(&q.key).then(p.pos.cmp(&q.pos)));
    let mut kept: Vec<Member<'a>> = Vec::with_capacity(out.len());
    for m in out {
        match kept.last_mut() {
            Some(last) if last.key == m.key => *last = m,
            _ => kept.push(m),
        }
    }
    kept
}

/// Feeds a canonical form of node `i` to `h`: values [`equal`] calls equal
/// hash alike.
pub(crate) fn hash_value(t: &Tree<'_>, i: u32, h: &mut impl Hasher) {
    match t.node(i) {
        Node::Null => h.write_u8(0),
        Node::Bool(v) => h.write_u8(1 + u8::from(v)),
        Node::Num { at, len } => {
            let d = Decimal::of(t.text(at, len));
            let (neg, exp, count) = d.key();
            h.write_u8(3);
            h.write_u8(u8::from(neg));
            h.write_i64(exp);
            h.write_usize(count);
            for c in d.digits() {
                h.write_u8(c);
            }
        }
        Node::Str { .. } => {
            h.write_u8(4);
            h.write(&t.str_value(i));
            // 0xff never occurs in UTF-8: ends the string unambiguously.
            h.write_u8(0xff);
        }
        Node::Arr { len, .. } => {
            h.write_u8(5);
            h.write_u32(len);
            let mut x = i + 1;
            for _ in 0..len {
                hash_value(t, x, h);
                x = t.next(x);
            }
        }
        Node::Obj { .. } => {
            let ms = members(t, i);
            h.write_u8(6);
            h.write_usize(ms.len());
            for m in &ms {
                h.write(&m.key);
                h.write_u8(0xff);
                hash_value(t, m.value, h);
            }
        }
    }
}

/// The value of node `i` as compact JSON, cut to [`EXCERPT_MAX`] bytes.
pub(crate) fn excerpt_of(t: &Tree<'_>, i: u32) -> String {
    let mut s = String::new();
    write_value(t, i, &mut s);
    excerpt(&s)
}

/// The value of a leaf node (neither array nor object) of the document
/// text `src` as compact JSON, cut to [`EXCERPT_MAX`] bytes.
pub(crate) fn excerpt_leaf(src: &[u8], n: Node) -> String {
    let mut s = String::new();
    write_leaf(src, n, &mut s);
    excerpt(&s)
}

fn write_leaf(src: &[u8], n: Node, s: &mut String) {
    let text = |at: u32, len: u32| {
        src.get(at as usize..(at + len) as usize)
            .unwrap_or_default()
    };
    match n {
        Node::Null => s.push_str("null"),
        Node::Bool(v) => s.push_str(if v { "true" } else { "false" }),
        Node::Num { at, len } => s.push_str(&String::from_utf8_lossy(text(at, len))),
        Node::Str { at, len, esc } => write_str(&str_value(text(at, len), esc), s),
        // Containers are written by `write_value`.
        Node::Arr { .. } | Node::Obj { .. } => {}
    }
}

/// Enough text for an excerpt: writing stops past this many bytes.
const WRITE_MAX: usize = EXCERPT_MAX + 8;

fn write_value(t: &Tree<'_>, i: u32, s: &mut String) {
    if s.len() > WRITE_MAX {
        return;
    }
    match t.node(i) {
        n @ (Node::Null | Node::Bool(_) | Node::Num { .. } | Node::Str { .. }) => {
            write_leaf(t.src, n, s)
        }
        Node::Arr { len, .. } => {
            s.push('[');
            let mut x = i + 1;
            for k in 0..len {
                if s.len() > WRITE_MAX {
                    return;
                }
                if k > 0 {
                    s.push(',');
                }
                write_value(t, x, s);
                x = t.next(x);
            }
            s.push(']');
        }
        Node::Obj { len, .. } => {
            s.push('{');
            let mut x = i + 1;
            for k in 0..len {
                if s.len() > WRITE_MAX {
                    return;
                }
                if k > 0 {
                    s.push(',');
                }
                write_str(&t.str_value(x), s);
                s.push(':');
                write_value(t, x + 1, s);
                x = t.next(x + 1);
            }
            s.push('}');
        }
    }
}

/// A decoded string as a JSON string literal (quotes, backslashes and
/// control characters escaped; everything else as is).
fn write_str(v: &[u8], s: &mut String) {
    let text = String::from_utf8_lossy(v);
    s.push('"');
    for c in text.chars() {
        if s.len() > WRITE_MAX {
            return;
        }
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
}

/// The pointer segment of a decoded key: `~` as `~0`, `/` as `~1`.
pub(crate) fn push_key(ptr: &mut String, key: &[u8]) {
    ptr.push('/');
    for c in String::from_utf8_lossy(key).chars() {
        match c {
            '~' => ptr.push_str("~0"),
            '/' => ptr.push_str("~1"),
            c => ptr.push(c),
        }
    }
}
