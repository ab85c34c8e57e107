//! The structural JSON diff: two documents compared value by value, each
//! difference named by its RFC 6901 pointer.
//!
//! How values compare:
//! - Numbers by value, exactly: `1.50`, `1.5`, `15e-1` and `1.5E0` are
//!   equal, as are `-0` and `0`; integers of any size compare digit by
//!   digit (no f64 rounding). A [`Tolerance`] from the policy, where two
//!   numbers differ, compares them as f64s instead.
//! - Strings by decoded value (`"\u00e9"` equals `"é"`, `"\/"` equals `"/"`).
//! - Objects regardless of member order. Of duplicate keys the last wins
//!   (as in most parsers and in JavaScript); the others are ignored.
//! - Arrays in order, unless the policy says the array at that pointer is
//!   unordered ([`JsonPolicy::unordered`]).
//!
//! What is reported (kinds of [`Kind`](super::Kind)):
//! - `value` / `type`: at the deepest pointer where two values differ.
//! - `missing` / `extra`: an object member only the baseline / candidate has.
//! - `order`: an ordered array with the same elements (as a multiset, by
//!   exact equality) in another order: one difference at the array.
//! - `length`: arrays of other lengths: one difference at the array
//!   (excerpts: the two lengths), then, when the arrays differ by one
//!   contiguous run of elements (the rest equal as a common prefix and
//!   suffix), that run as `missing` (baseline indexes) or `extra`
//!   (candidate indexes); otherwise the element differences of the common
//!   prefix, index by index.
//! - An unordered array is a multiset: equal elements pair up (exactly;
//!   then, when few are left, at most 256 pairs to try, under the policy,
//!   so a tolerance applies inside; a multiset nested in such a trial pairs
//!   exactly only), and each element left over is `missing` at its
//!   baseline index or `extra` at its candidate index. No `length`.
//!
//! Within an object, differences come in the baseline's member order, then
//! the candidate's extra members; within an array, by index.
//!
//! Bounds: documents are parsed into flat trees (see `parse`) with at
//! most [`MAX_DEPTH`] nested arrays/objects, so the walk's recursion is
//! bounded. Order and multiset checks pair elements by canonical hashes
//! (O(n log n)), pairwise only when few; elements that are equal at the same
//! index are set aside first, so a large array with a few changes costs
//! little. Objects compare member by member when both list the same keys
//! in the same order (checking a differing member for a later duplicate
//! key only in objects of at most 32 members), else by sorted members. The walk descends only into subtrees that differ; each level
//! re-checks equality of the differing child, so the work is at most
//! depth times the document size. Byte-identical documents are equal
//! without being parsed (even if they are not JSON).

mod diff;
mod lockstep;
mod parse;
#[cfg(test)]
mod props;
#[cfg(test)]
mod props_lockstep;
mod scan;
#[cfg(test)]
mod tests;
mod value;

pub use parse::MAX_DEPTH;

use super::Difference;

/// Per-path choices of the rules that change how values compare.
pub trait JsonPolicy {
    /// Arrays at this pointer compare as multisets (`--ignore-order`).
    fn unordered(&self, pointer: &str) -> bool;
    /// Numbers at this pointer are equal within this tolerance.
    fn tolerance(&self, pointer: &str) -> Option<Tolerance>;
}

/// How far apart two numbers may be and still be equal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// |a - b| <= x.
    Absolute(f64),
    /// |a - b| <= x * max(|a|, |b|).
    Relative(f64),
}

/// No rules: arrays in order, numbers exact.
pub struct Strict;

impl JsonPolicy for Strict {
    fn unordered(&self, _: &str) -> bool {
        false
    }
    fn tolerance(&self, _: &str) -> Option<Tolerance> {
        None
    }
}

/// Which side is not JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("the baseline body is not JSON: {0}")]
    Baseline(String),
    #[error("the candidate body is not JSON: {0}")]
    Candidate(String),
}

/// Appends to `out` the differences between two JSON documents, at most
/// `max` of them; returns how many more there were.
///
/// The policy is asked only about pointers where values differ. Each
/// difference has a [`Field::Pointer`](super::Field::Pointer), excerpts of
/// both values as compact JSON (bounded, see [`super::excerpt`]) and no
/// noise (the rules decide that later). The baseline is parsed first: when
/// both sides are invalid, the error names the baseline.
pub fn diff(
    baseline: &[u8],
    candidate: &[u8],
    policy: &dyn JsonPolicy,
    max: usize,
    out: &mut Vec<Difference>,
) -> Result<usize, JsonError> {
    if baseline == candidate {
        return Ok(0);
    }
    if let (Some(a), Some(b)) = (text(baseline), text(candidate)) {
        if let Some(more) = lockstep::diff(a, b, policy, max, out) {
            return Ok(more);
        }
    }
    diff_general(baseline, candidate, policy, max, out)
}

/// A document's text without its BOM, when it is UTF-8 of at most
/// u32::MAX bytes (the lockstep walk's offsets are u32s).
fn text(doc: &[u8]) -> Option<&[u8]> {
    let src = doc.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(doc);
    (u32::try_from(src.len()).is_ok() && std::str::from_utf8(src).is_ok()).then_some(src)
}

/// [`diff`] by parsing both documents into trees and walking those: what
/// the lockstep walk falls back to where it cannot go on (invalid JSON
/// included, whose error this names), and its reference in the tests.
pub(crate) fn diff_general(
    baseline: &[u8],
    candidate: &[u8],
    policy: &dyn JsonPolicy,
    max: usize,
    out: &mut Vec<Difference>,
) -> Result<usize, JsonError> {
    if baseline == candidate {
        return Ok(0);
    }
    let a = parse::parse(baseline).map_err(JsonError::Baseline)?;
    let b = parse::parse(candidate).map_err(JsonError::Candidate)?;
    let mut d = diff::Differ::new(&a, &b, policy, max, out);
    d.node(0, 0);
    Ok(d.more)
}
