//! The lockstep walk: both documents compared token by token, without
//! building trees, while their structure agrees.
//!
//! Two versions of one service nearly always write the same members in
//! the same order, so most of two documents can be compared as they are
//! read. The walk keeps a cursor in each document and, where the bytes
//! ahead of both cursors are the same (a run, found eight bytes at a time),
//! scans a token of the baseline only: the candidate's is the same bytes.
//! Where the structures part (an object's keys differ in name, order or
//! number; arrays of other lengths; a container against another type; an
//! unordered array; a reordering to check), the subtree on each side is
//! parsed (see `parse::parse_at`) and the general [`Differ`] compares
//! those trees: the results are the general diff's exactly, and the policy
//! is asked the same questions in the same order (the property tests check
//! both against [`super::diff_general`]).
//!
//! How a container is compared (reporting): first an exact scan of all its
//! members or elements, which only finds out which of them differ (no
//! policy, no report: `value::equal`'s semantics) and records those; then
//! the decision the general diff makes from the same facts (duplicate keys,
//! an order difference, ...), and a descent into each differing one. So a
//! differing subtree is scanned once per level above it that differs, as
//! the general walk re-checks equality level by level.
//!
//! Any syntax error, or nesting past [`MAX_DEPTH`], ends the walk: the
//! caller then runs the general path, which parses both documents and
//! names the error.

use std::fmt::Write as _;

use super::diff::{within, Differ};
use super::parse::{self, Node, Tree, MAX_DEPTH};
use super::scan::{common_prefix, skip_value, ws};
use super::value::{equal, excerpt_leaf, num_eq, push_key, str_value};
use super::JsonPolicy;
use crate::compare::{Difference, Field, Kind};

/// The walk cannot go on (malformed input, too deep): the general path
/// decides.
struct Bail;

type Step<T> = Result<T, Bail>;

mod token;

use token::{leaf, leaf_eq, shifted, text, Child, Class, Key, Scan, Seg};

/// The walk's state; see the module's documentation.
struct Walk<'s, 'p, 'o> {
    a: &'s [u8],
    b: &'s [u8],
    i: usize,
    j: usize,
    /// `a[run_start..run_end]` equals `b` at the same offsets shifted by
    /// `run_off` (`j - i`, wrapping); `run_end` is `a.len() + 1` when the
    /// run goes to the end of both.
    run_start: usize,
    run_end: usize,
    run_off: usize,
    policy: &'p dyn JsonPolicy,
    max: usize,
    emitted: usize,
    more: usize,
    out: &'o mut Vec<Difference>,
    ptr: String,
    keys: Vec<Key>,
    children: Vec<Child>,
}

/// Compares two documents (their BOMs stripped, their UTF-8 checked, at
/// most u32::MAX bytes each) as [`super::diff`] does: appends at most
/// `max` differences to `out` and returns how many more there were, or
/// `None` (with `out` as it was) when the general path must decide.
pub(crate) fn diff(
    a: &[u8],
    b: &[u8],
    policy: &dyn JsonPolicy,
    max: usize,
    out: &mut Vec<Difference>,
) -> Option<usize> {
    let mark = out.len();
    let mut w = Walk {
        a,
        b,
        i: ws(a, 0),
        j: ws(b, 0),
        run_start: 0,
        run_end: 0,
        run_off: 0,
        policy,
        max,
        emitted: 0,
        more: 0,
        out,
        ptr: String::new(),
        keys: Vec::new(),
        children: Vec::new(),
    };
    let walked = w.report_value(0).and_then(|()| {
        if ws(a, w.i) == a.len() && ws(b, w.j) == b.len() {
            Ok(())
        } else {
            Err(Bail)
        }
    });
    match walked {
        Ok(()) => Some(w.more),
        Err(Bail) => {
            w.out.truncate(mark);
            None
        }
    }
}

impl<'s> Walk<'s, '_, '_> {
    /// The end (a baseline index) of the bytes known to be the same ahead
    /// of both cursors; at most `i` when there are none.
    #[inline]
    fn same_until(&mut self) -> usize {
        let off = self.j.wrapping_sub(self.i);
        if off == self.run_off && self.run_start <= self.i && self.i < self.run_end {
            return self.run_end;
        }
        let n = common_prefix(&self.a[self.i..], &self.b[self.j..]);
        self.run_off = off;
        self.run_start = self.i;
        self.run_end = if self.i + n == self.a.len() && self.j + n == self.b.len() {
            self.a.len() + 1
        } else {
            self.i + n
        };
        self.run_end
    }

    /// Scans the leaves (of classes `ca`, `cb`) at the cursors: their nodes
    /// and whether they are the same bytes.
    #[inline]
    fn leaves(&mut self, ca: Class, cb: Class) -> Step<(Node, Node, bool)> {
        let (na, ea) = leaf(self.a, self.i, ca)?;
        if ca == cb && ea < self.same_until() {
            // The byte after the token is the same too: so is its end.
            let by = self.j as isize - self.i as isize;
            self.j += ea - self.i;
            self.i = ea;
            return Ok((na, shifted(na, by), true));
        }
        let (nb, eb) = leaf(self.b, self.j, cb)?;
        self.i = ea;
        self.j = eb;
        Ok((na, nb, false))
    }

    /// Skips whitespace at both cursors.
    #[inline]
    fn skip_ws(&mut self) {
        self.i = ws(self.a, self.i);
        self.j = ws(self.b, self.j);
    }

    /// After a member or element, on both sides: `Some(true)` past a comma
    /// (and the space after it), `Some(false)` past the container's `close`,
    /// `None` (the cursors where they were, after space) where the two
    /// part.
    #[inline]
    fn after_member(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        let more = match self.peek() {
            (Some(b','), Some(b',')) => true,
            (Some(&x), Some(&y)) if x == close && y == close => false,
            _ => return None,
        };
        self.i += 1;
        self.j += 1;
        if more {
            self.skip_ws();
        }
        Some(more)
    }

    /// The bytes at both cursors.
    #[inline]
    fn peek(&self) -> (Option<&u8>, Option<&u8>) {
        (self.a.get(self.i), self.b.get(self.j))
    }

    /// Both containers starting at `(i, j)`, nested in `depth` others, as
    /// trees; the cursors move past them.
    fn trees(&mut self, i: usize, j: usize, depth: u32) -> Step<(Tree<'s>, Tree<'s>)> {
        let (ta, ea) = parse::parse_at(self.a, i, depth).map_err(|_| Bail)?;
        let (tb, eb) = parse::parse_at(self.b, j, depth).map_err(|_| Bail)?;
        self.i = ea;
        self.j = eb;
        Ok((ta, tb))
    }

    /// Runs the general diff over two trees at the current pointer, with
    /// the room left.
    fn general(&mut self, ta: &Tree<'_>, tb: &Tree<'_>, run: impl FnOnce(&mut Differ<'_, '_, '_>)) {
        let room = self.max.saturating_sub(self.emitted);
        let mut d = Differ::new(ta, tb, self.policy, room, self.out);
        d.ptr = std::mem::take(&mut self.ptr);
        run(&mut d);
        self.emitted += d.emitted();
        self.more += d.more;
        self.ptr = std::mem::take(&mut d.ptr);
    }

    fn report(&mut self, kind: Kind, base: Node, cand: Node) {
        if self.emitted >= self.max {
            self.more += 1;
            return;
        }
        self.emitted += 1;
        self.out.push(Difference {
            field: Field::Pointer(self.ptr.clone()),
            kind,
            baseline: Some(excerpt_leaf(self.a, base)),
            candidate: Some(excerpt_leaf(self.b, cand)),
            noise: None,
        });
    }

    // ---------------------------------------------------- exact scans ----

    /// Whether the values at the cursors (nested in `depth` containers)
    /// are exactly equal; moves both cursors past them.
    fn eq_value(&mut self, depth: u32) -> Step<bool> {
        let lim = self.same_until();
        if lim > self.i + 1 {
            // The bytes ahead are the same on both sides: a value that ends
            // (with the byte after it) before they part is the same value.
            let same = &self.a[..lim.min(self.a.len())];
            if let Some(e) = skip_value(same, self.i, depth).filter(|&e| e < lim) {
                self.j += e - self.i;
                self.i = e;
                return Ok(true);
            }
        }
        let (x, y) = self.peek();
        let (ca, cb) = (Class::of(x), Class::of(y));
        match (ca, cb) {
            (Class::Obj, Class::Obj) => self.eq_object(depth),
            (Class::Arr, Class::Arr) => match self.scan_array(depth + 1, false)? {
                Scan::Aligned { ndiff, .. } => Ok(ndiff == 0),
                Scan::Trees(ta, tb) => Ok(equal(&ta, 0, &tb, 0)),
            },
            _ if ca.is_leaf() && cb.is_leaf() => {
                let (na, nb, same) = self.leaves(ca, cb)?;
                Ok(same || leaf_eq(self.a, na, self.b, nb))
            }
            (Class::Bad, _) | (_, Class::Bad) => Err(Bail),
            // A container against another type: unequal, once both are
            // known to be JSON.
            _ => {
                self.trees(self.i, self.j, depth)?;
                Ok(false)
            }
        }
    }

    fn eq_object(&mut self, depth: u32) -> Step<bool> {
        let (i0, j0) = (self.i, self.j);
        let (ndiff, keys) = match self.scan_object(depth + 1, false)? {
            Scan::Aligned { ndiff, keys, .. } => (ndiff, keys),
            Scan::Trees(ta, tb) => return Ok(equal(&ta, 0, &tb, 0)),
        };
        let dups = ndiff > 0 && self.has_dups(keys);
        self.keys.truncate(keys);
        if dups {
            // A later duplicate key may override a differing member.
            let (ta, tb) = self.trees(i0, j0, depth)?;
            return Ok(equal(&ta, 0, &tb, 0));
        }
        Ok(ndiff == 0)
    }

    /// Whether the baseline keys `keys[from..]` have a duplicate (by
    /// decoded value).
    fn has_dups(&self, from: usize) -> bool {
        let keys = &self.keys[from..];
        if keys.len() < 2 {
            return false;
        }
        let mut v: Vec<_> = keys
            .iter()
            .map(|k| str_value(text(self.a, k.at, k.len), k.esc))
            .collect();
        v.sort_unstable();
        v.windows(2).any(|p| p[0] == p[1])
    }

    /// The exact scan of the arrays at the cursors (`depth`: theirs); with
    /// `collect`, the elements that differ are recorded.
    fn scan_array(&mut self, depth: u32, collect: bool) -> Step<Scan<'s>> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        let (i0, j0) = (self.i, self.j);
        let children = self.children.len();
        self.i += 1;
        self.j += 1;
        self.skip_ws();
        let mut ndiff = 0;
        match self.peek() {
            (Some(b']'), Some(b']')) => {
                self.i += 1;
                self.j += 1;
                return Ok(Scan::Aligned {
                    ndiff,
                    keys: self.keys.len(),
                    children,
                });
            }
            (Some(b']'), _) | (_, Some(b']')) => return self.parted(i0, j0, depth, children),
            _ => {}
        }
        let mut index = 0u32;
        loop {
            let (va, vb) = (self.i, self.j);
            if !self.eq_value(depth)? {
                ndiff += 1;
                if collect {
                    self.children.push(Child {
                        seg: Seg::Index(index),
                        a: va,
                        b: vb,
                    });
                }
            }
            index += 1;
            match self.after_member(b']') {
                Some(true) => {}
                Some(false) => break,
                // Other lengths (or a syntax error, which parsing finds).
                None => return self.parted(i0, j0, depth, children),
            }
        }
        Ok(Scan::Aligned {
            ndiff,
            keys: self.keys.len(),
            children,
        })
    }

    /// The containers at `(i0, j0)` (of depth `depth`) part: both as trees.
    fn parted(&mut self, i0: usize, j0: usize, depth: u32, children: usize) -> Step<Scan<'s>> {
        self.children.truncate(children);
        let (ta, tb) = self.trees(i0, j0, depth - 1)?;
        Ok(Scan::Trees(ta, tb))
    }

    /// The exact scan of the objects at the cursors (`depth`: theirs); their
    /// baseline keys are pushed on `keys` (the caller truncates), and with
    /// `collect` the members that differ on `children`.
    fn scan_object(&mut self, depth: u32, collect: bool) -> Step<Scan<'s>> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        let (i0, j0) = (self.i, self.j);
        let (keys, children) = (self.keys.len(), self.children.len());
        let parted = |w: &mut Self| {
            w.keys.truncate(keys);
            w.parted(i0, j0, depth, children)
        };
        self.i += 1;
        self.j += 1;
        self.skip_ws();
        let mut ndiff = 0;
        match self.peek() {
            (Some(b'}'), Some(b'}')) => {
                self.i += 1;
                self.j += 1;
                return Ok(Scan::Aligned {
                    ndiff,
                    keys,
                    children,
                });
            }
            (Some(b'}'), _) | (_, Some(b'}')) => return parted(self),
            _ => {}
        }
        loop {
            let (x, y) = self.peek();
            if x != Some(&b'"') || y != Some(&b'"') {
                return Err(Bail);
            }
            let (ka, kb, same) = self.leaves(Class::Str, Class::Str)?;
            let (
                Node::Str { at, len, esc },
                Node::Str {
                    at: bt, len: bl, ..
                },
            ) = (ka, kb)
            else {
                return Err(Bail);
            };
            if !same && text(self.a, at, len) != text(self.b, bt, bl) {
                return parted(self);
            }
            let key = Key { at, len, esc };
            self.keys.push(key);
            self.skip_ws();
            if self.peek() != (Some(&b':'), Some(&b':')) {
                return Err(Bail);
            }
            self.i += 1;
            self.j += 1;
            self.skip_ws();
            let (va, vb) = (self.i, self.j);
            if !self.eq_value(depth)? {
                ndiff += 1;
                if collect {
                    self.children.push(Child {
                        seg: Seg::Key(key),
                        a: va,
                        b: vb,
                    });
                }
            }
            match self.after_member(b'}') {
                Some(true) => {}
                Some(false) => break,
                // Other numbers of members (or a syntax error).
                None => return parted(self),
            }
        }
        Ok(Scan::Aligned {
            ndiff,
            keys,
            children,
        })
    }

    // ------------------------------------------------------ reporting ----

    /// Reports the differences between the values at the cursors (nested
    /// in `depth` containers), at `self.ptr`; moves both cursors past them.
    fn report_value(&mut self, depth: u32) -> Step<()> {
        let (x, y) = self.peek();
        let (ca, cb) = (Class::of(x), Class::of(y));
        match (ca, cb) {
            (Class::Obj, Class::Obj) => self.report_object(depth),
            (Class::Arr, Class::Arr) => self.report_array(depth),
            _ if ca.is_leaf() && cb.is_leaf() => {
                let (na, nb, same) = self.leaves(ca, cb)?;
                if !same {
                    self.report_leaves(na, nb);
                }
                Ok(())
            }
            (Class::Bad, _) | (_, Class::Bad) => Err(Bail),
            _ => {
                let (ta, tb) = self.trees(self.i, self.j, depth)?;
                self.general(&ta, &tb, |d| d.node(0, 0));
                Ok(())
            }
        }
    }

    /// As the general diff's `node` for two leaves.
    fn report_leaves(&mut self, na: Node, nb: Node) {
        let kind = match (na, nb) {
            (Node::Null, Node::Null) => return,
            (Node::Bool(p), Node::Bool(q)) if p == q => return,
            (Node::Bool(_), Node::Bool(_)) => Kind::Value,
            (Node::Num { at, len }, Node::Num { at: bt, len: bl }) => {
                let (ta, tb) = (text(self.a, at, len), text(self.b, bt, bl));
                if num_eq(ta, tb)
                    || self
                        .policy
                        .tolerance(&self.ptr)
                        .is_some_and(|t| within(t, ta, tb))
                {
                    return;
                }
                Kind::Value
            }
            (Node::Str { .. }, Node::Str { .. }) => {
                if leaf_eq(self.a, na, self.b, nb) {
                    return;
                }
                Kind::Value
            }
            _ => Kind::Type,
        };
        self.report(kind, na, nb);
    }

    fn report_object(&mut self, depth: u32) -> Step<()> {
        let (i0, j0) = (self.i, self.j);
        let (ndiff, keys, children) = match self.scan_object(depth + 1, true)? {
            Scan::Aligned {
                ndiff,
                keys,
                children,
            } => (ndiff, keys, children),
            Scan::Trees(ta, tb) => {
                self.general(&ta, &tb, |d| d.node(0, 0));
                return Ok(());
            }
        };
        let dups = ndiff > 0 && self.has_dups(keys);
        self.keys.truncate(keys);
        if dups {
            // Members a later duplicate key overrides are left out: the
            // general diff knows how.
            self.children.truncate(children);
            let (ta, tb) = self.trees(i0, j0, depth)?;
            self.general(&ta, &tb, |d| d.node(0, 0));
            return Ok(());
        }
        self.descend(children, depth + 1)
    }

    fn report_array(&mut self, depth: u32) -> Step<()> {
        let (i0, j0) = (self.i, self.j);
        if self.policy.unordered(&self.ptr) {
            let (ta, tb) = self.trees(i0, j0, depth)?;
            self.general(&ta, &tb, |d| d.array_as(0, 0, true));
            return Ok(());
        }
        let (ndiff, children) = match self.scan_array(depth + 1, true)? {
            Scan::Aligned {
                ndiff, children, ..
            } => (ndiff, children),
            Scan::Trees(ta, tb) => {
                self.general(&ta, &tb, |d| d.array_as(0, 0, false));
                return Ok(());
            }
        };
        if ndiff >= 2 && self.reordered(children, depth + 1)? {
            // One `order` difference at the array, with both as excerpts.
            self.children.truncate(children);
            let (ta, tb) = self.trees(i0, j0, depth)?;
            self.general(&ta, &tb, |d| d.array_as(0, 0, false));
            return Ok(());
        }
        self.descend(children, depth + 1)
    }

    /// Whether the differing elements `children[from..]` (nested in
    /// `depth` containers) pair up exactly, each used once: the array is
    /// then the same elements in another order.
    fn reordered(&mut self, from: usize, depth: u32) -> Step<bool> {
        let xs: Vec<usize> = self.children[from..].iter().map(|c| c.a).collect();
        let ys: Vec<usize> = self.children[from..].iter().map(|c| c.b).collect();
        let (ta, ra, _) = parse::parse_each(self.a, &xs, depth).map_err(|_| Bail)?;
        let (tb, rb, _) = parse::parse_each(self.b, &ys, depth).map_err(|_| Bail)?;
        let mut none = Vec::new();
        let mut d = Differ::new(&ta, &tb, self.policy, 0, &mut none);
        let (mx, my) = d.match_exact(&ra, &rb);
        Ok(mx.iter().all(|&m| m) && my.iter().all(|&m| m))
    }

    /// Reports the differences of each child in `children[from..]` (values
    /// nested in `depth` containers), then leaves the cursors where they
    /// were (past the container).
    fn descend(&mut self, from: usize, depth: u32) -> Step<()> {
        let (end_i, end_j) = (self.i, self.j);
        let to = self.children.len();
        for k in from..to {
            let c = self.children[k];
            self.i = c.a;
            self.j = c.b;
            let mark = self.ptr.len();
            match c.seg {
                Seg::Key(k) => {
                    let key = str_value(text(self.a, k.at, k.len), k.esc);
                    push_key(&mut self.ptr, &key);
                }
                Seg::Index(n) => {
                    let _ = write!(self.ptr, "/{n}");
                }
            }
            self.report_value(depth)?;
            self.ptr.truncate(mark);
        }
        self.children.truncate(from);
        self.i = end_i;
        self.j = end_j;
        Ok(())
    }
}
