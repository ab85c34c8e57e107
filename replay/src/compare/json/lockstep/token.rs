//! The tokens and the bookkeeping of the lockstep walk: what a value
//! starts with, a leaf token's node, and how a container's exact scan
//! reports the members that differ.

use super::{Bail, Step};
use crate::compare::json::parse::{Node, Tree};
use crate::compare::json::scan::{number_end, string_end};
use crate::compare::json::value::{num_eq, raw_str_eq};

/// What a value starts with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Class {
    Obj,
    Arr,
    Str,
    Num,
    True,
    False,
    Null,
    Bad,
}

impl Class {
    pub(super) fn of(c: Option<&u8>) -> Class {
        match c {
            Some(b'{') => Class::Obj,
            Some(b'[') => Class::Arr,
            Some(b'"') => Class::Str,
            Some(b'-' | b'0'..=b'9') => Class::Num,
            Some(b't') => Class::True,
            Some(b'f') => Class::False,
            Some(b'n') => Class::Null,
            _ => Class::Bad,
        }
    }

    pub(super) fn is_leaf(self) -> bool {
        !matches!(self, Class::Obj | Class::Arr | Class::Bad)
    }
}

/// The leaf token of class `c` at `i` of `s`: its node (offsets into `s`)
/// and the index after it.
#[inline]
pub(super) fn leaf(s: &[u8], i: usize, c: Class) -> Step<(Node, usize)> {
    let word = |w: &[u8], n: Node| {
        if s.get(i..i + w.len()) == Some(w) {
            Ok((n, i + w.len()))
        } else {
            Err(Bail)
        }
    };
    match c {
        Class::Str => {
            let (end, esc) = string_end(s, i).ok_or(Bail)?;
            // Offsets fit: documents are at most u32::MAX bytes.
            let (at, len) = ((i + 1) as u32, (end - i - 2) as u32);
            Ok((Node::Str { at, len, esc }, end))
        }
        Class::Num => {
            let end = number_end(s, i).ok_or(Bail)?;
            let (at, len) = (i as u32, (end - i) as u32);
            Ok((Node::Num { at, len }, end))
        }
        Class::True => word(b"true", Node::Bool(true)),
        Class::False => word(b"false", Node::Bool(false)),
        Class::Null => word(b"null", Node::Null),
        Class::Obj | Class::Arr | Class::Bad => Err(Bail),
    }
}

/// A node of one document moved to the same place `by` bytes further on
/// (the other document's copy of the same bytes).
pub(super) fn shifted(n: Node, by: isize) -> Node {
    let at = |x: u32| (x as isize + by) as u32;
    match n {
        Node::Str { at: x, len, esc } => Node::Str {
            at: at(x),
            len,
            esc,
        },
        Node::Num { at: x, len } => Node::Num { at: at(x), len },
        other => other,
    }
}

/// The text at `at..at + len` of `s`.
#[inline]
pub(super) fn text(s: &[u8], at: u32, len: u32) -> &[u8] {
    &s[at as usize..(at + len) as usize]
}

/// Exact equality of two leaves (as `value::equal`).
pub(super) fn leaf_eq(a: &[u8], x: Node, b: &[u8], y: Node) -> bool {
    match (x, y) {
        (Node::Null, Node::Null) => true,
        (Node::Bool(p), Node::Bool(q)) => p == q,
        (Node::Num { at, len }, Node::Num { at: bt, len: bl }) => {
            num_eq(text(a, at, len), text(b, bt, bl))
        }
        (
            Node::Str { at, len, esc },
            Node::Str {
                at: bt,
                len: bl,
                esc: be,
            },
        ) => raw_str_eq(text(a, at, len), esc, text(b, bt, bl), be),
        _ => false,
    }
}

/// A baseline object key: its raw text's place and whether it has escapes.
#[derive(Clone, Copy)]
pub(super) struct Key {
    pub(super) at: u32,
    pub(super) len: u32,
    pub(super) esc: bool,
}

/// Where a child is in its container.
#[derive(Clone, Copy)]
pub(super) enum Seg {
    Key(Key),
    Index(u32),
}

/// A member or element that differs, found by a container's exact scan:
/// where it is, and where its value starts in each document.
#[derive(Clone, Copy)]
pub(super) struct Child {
    pub(super) seg: Seg,
    pub(super) a: usize,
    pub(super) b: usize,
}

/// What an exact scan of a container found.
pub(super) enum Scan<'s> {
    /// Walked member by member: `len` of them on each side (objects: with
    /// the same raw keys in the same order), `ndiff` of them not equal.
    /// The container's keys are `keys[keys..]`, and when the scan collected
    /// them, the differing ones `children[children..]`.
    Aligned {
        ndiff: u32,
        keys: usize,
        children: usize,
    },
    /// The structures part: both containers as trees.
    Trees(Tree<'s>, Tree<'s>),
}
