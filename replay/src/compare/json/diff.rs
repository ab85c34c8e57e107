//! The structural walk: descends only into values that differ (exact
//! [`equal`] decides), keeps the pointer in one buffer it pushes to and
//! truncates, and consults the policy only where values differ.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher;

use super::parse::{Node, Tree};
use super::value::{
    equal, excerpt_of, hash_value, members, num_eq, push_key, same_key_sequence, shadowed, str_eq,
    SCAN_MAX,
};
use super::{JsonPolicy, Tolerance};
use crate::compare::{Difference, Field, Kind};

/// Above this many candidate pairs (`n * m`), elements are matched by
/// hashing their canonical forms instead of comparing every pair.
const PAIRWISE_MAX: usize = 256;
/// How many same-hash elements one element is checked against before it
/// counts as unmatched (only distinct values whose hashes collide share a
/// group beyond the first try).
const GROUP_TRIES: usize = 8;

/// What an excerpt shows.
#[derive(Clone, Copy)]
enum Ex {
    None,
    Base(u32),
    Cand(u32),
    Len(u32),
}

pub(crate) struct Differ<'t, 'a, 'o> {
    pub a: &'t Tree<'a>,
    pub b: &'t Tree<'a>,
    pub policy: &'t dyn JsonPolicy,
    pub max: usize,
    pub out: &'o mut Vec<Difference>,
    /// Differences past `max`.
    pub more: usize,
    /// The pointer of the values being compared.
    pub ptr: String,
    emitted: usize,
    /// Probing: only find out whether there is any difference (under the
    /// policy), report nothing.
    probing: bool,
    found: bool,
    hasher: Option<RandomState>,
}

impl<'t, 'a, 'o> Differ<'t, 'a, 'o> {
    pub fn new(
        a: &'t Tree<'a>,
        b: &'t Tree<'a>,
        policy: &'t dyn JsonPolicy,
        max: usize,
        out: &'o mut Vec<Difference>,
    ) -> Self {
        Differ {
            a,
            b,
            policy,
            max,
            out,
            more: 0,
            ptr: String::new(),
            emitted: 0,
            probing: false,
            found: false,
            hasher: None,
        }
    }

    /// Differences listed so far.
    pub fn emitted(&self) -> usize {
        self.emitted
    }

    /// In a probe that already found a difference: stop walking.
    #[inline]
    fn done(&self) -> bool {
        self.probing && self.found
    }

    fn report(&mut self, kind: Kind, base: Ex, cand: Ex) {
        if self.probing {
            self.found = true;
            return;
        }
        if self.emitted >= self.max {
            self.more += 1;
            return;
        }
        self.emitted += 1;
        let show = |e: Ex| match e {
            Ex::None => None,
            Ex::Base(i) => Some(excerpt_of(self.a, i)),
            Ex::Cand(i) => Some(excerpt_of(self.b, i)),
            Ex::Len(n) => Some(n.to_string()),
        };
        let d = Difference {
            field: Field::Pointer(self.ptr.clone()),
            kind,
            baseline: show(base),
            candidate: show(cand),
            noise: None,
        };
        self.out.push(d);
    }

    /// Reports the differences between baseline node `i` and candidate node
    /// `j`, at `self.ptr`.
    pub fn node(&mut self, i: u32, j: u32) {
        let (a, b) = (self.a, self.b);
        match (a.node(i), b.node(j)) {
            (Node::Null, Node::Null) => {}
            (Node::Bool(x), Node::Bool(y)) => {
                if x != y {
                    self.report(Kind::Value, Ex::Base(i), Ex::Cand(j));
                }
            }
            (Node::Num { at, len }, Node::Num { at: bt, len: bl }) => {
                let (ta, tb) = (a.text(at, len), b.text(bt, bl));
                if !num_eq(ta, tb)
                    && !self
                        .policy
                        .tolerance(&self.ptr)
                        .is_some_and(|t| within(t, ta, tb))
                {
                    self.report(Kind::Value, Ex::Base(i), Ex::Cand(j));
                }
            }
            (Node::Str { .. }, Node::Str { .. }) => {
                if !str_eq(a, i, b, j) {
                    self.report(Kind::Value, Ex::Base(i), Ex::Cand(j));
                }
            }
            (Node::Arr { .. }, Node::Arr { .. }) => self.array(i, j),
            (Node::Obj { len: la, .. }, Node::Obj { len: lb, .. }) => self.object(i, la, j, lb),
            _ => self.report(Kind::Type, Ex::Base(i), Ex::Cand(j)),
        }
    }

    /// Compares the values at an object key (`key` decoded) or array index.
    fn child(&mut self, seg: Seg<'_>, i: u32, j: u32) {
        let mark = self.ptr.len();
        self.push(seg);
        self.node(i, j);
        self.ptr.truncate(mark);
    }

    fn push(&mut self, seg: Seg<'_>) {
        match seg {
            Seg::Key(k) => push_key(&mut self.ptr, k),
            Seg::Index(n) => {
                let _ = write!(self.ptr, "/{n}");
            }
        }
    }

    /// Reports a value only one side has, at a key or index.
    fn one_sided(&mut self, seg: Seg<'_>, kind: Kind, base: Ex, cand: Ex) {
        let mark = self.ptr.len();
        self.push(seg);
        self.report(kind, base, cand);
        self.ptr.truncate(mark);
    }

    fn object(&mut self, i: u32, la: u32, j: u32, lb: u32) {
        let (a, b) = (self.a, self.b);
        if la == lb && la <= SCAN_MAX && same_key_sequence(a, i, b, j, la) {
            // Same keys in the same order: member by member, in document
            // order, skipping members a later duplicate key overrides.
            let (mut x, mut y) = (i + 1, j + 1);
            for _ in 0..la {
                if self.done() {
                    return;
                }
                if !equal(a, x + 1, b, y + 1) && !shadowed(a, x, a.node(i)) {
                    let key = a.str_value(x);
                    self.child(Seg::Key(&key), x + 1, y + 1);
                }
                x = a.next(x + 1);
                y = b.next(y + 1);
            }
            return;
        }
        // By key: the baseline's members in its order (missing or compared),
        // then the candidate's extra members in its order.
        let (ma, mb) = (members(a, i), members(b, j));
        let mut order: Vec<usize> = (0..ma.len()).collect();
        order.sort_by_key(|&k| ma[k].pos);
        for k in order {
            if self.done() {
                return;
            }
            let m = &ma[k];
            match mb.binary_search_by(|q| q.key.as_ref().cmp(m.key.as_ref())) {
                Ok(q) => {
                    if !equal(a, m.value, b, mb[q].value) {
                        self.child(Seg::Key(&m.key), m.value, mb[q].value);
                    }
                }
                Err(_) => {
                    self.one_sided(Seg::Key(&m.key), Kind::Missing, Ex::Base(m.value), Ex::None)
                }
            }
        }
        let mut order: Vec<usize> = (0..mb.len()).collect();
        order.sort_by_key(|&k| mb[k].pos);
        for k in order {
            if self.done() {
                return;
            }
            let m = &mb[k];
            if ma
                .binary_search_by(|p| p.key.as_ref().cmp(m.key.as_ref()))
                .is_err()
            {
                self.one_sided(Seg::Key(&m.key), Kind::Extra, Ex::None, Ex::Cand(m.value));
            }
        }
    }

    fn array(&mut self, i: u32, j: u32) {
        let unordered = self.policy.unordered(&self.ptr);
        self.array_as(i, j, unordered);
    }

    /// Reports the differences between arrays `i` and `j`, as multisets
    /// when `unordered` (what the policy said of `self.ptr`).
    pub fn array_as(&mut self, i: u32, j: u32, unordered: bool) {
        let (a, b) = (self.a, self.b);
        let xs = elements(a, i);
        let ys = elements(b, j);
        if unordered {
            return self.multiset(&xs, &ys);
        }
        let (n, m) = (xs.len(), ys.len());
        if n == m {
            let differing: Vec<usize> = (0..n).filter(|&k| !equal(a, xs[k], b, ys[k])).collect();
            if differing.len() >= 2 {
                let dx: Vec<u32> = differing.iter().map(|&k| xs[k]).collect();
                let dy: Vec<u32> = differing.iter().map(|&k| ys[k]).collect();
                let (mx, my) = self.match_exact(&dx, &dy);
                if mx.iter().all(|&v| v) && my.iter().all(|&v| v) {
                    self.report(Kind::Order, Ex::Base(i), Ex::Cand(j));
                    return;
                }
            }
            for k in differing {
                if self.done() {
                    return;
                }
                self.child(Seg::Index(k), xs[k], ys[k]);
            }
            return;
        }
        self.report(Kind::Length, Ex::Len(n as u32), Ex::Len(m as u32));
        let short = n.min(m);
        let prefix = (0..short)
            .take_while(|&k| equal(a, xs[k], b, ys[k]))
            .count();
        let suffix = (0..short - prefix)
            .take_while(|&k| equal(a, xs[n - 1 - k], b, ys[m - 1 - k]))
            .count();
        if prefix + suffix == short {
            // One contiguous run added or removed: report just that run, at
            // its indexes in the longer array.
            if n > m {
                for (k, &x) in xs.iter().enumerate().take(n - suffix).skip(prefix) {
                    if self.done() {
                        return;
                    }
                    self.one_sided(Seg::Index(k), Kind::Missing, Ex::Base(x), Ex::None);
                }
            } else {
                for (k, &y) in ys.iter().enumerate().take(m - suffix).skip(prefix) {
                    if self.done() {
                        return;
                    }
                    self.one_sided(Seg::Index(k), Kind::Extra, Ex::None, Ex::Cand(y));
                }
            }
            return;
        }
        for k in prefix..short {
            if self.done() {
                return;
            }
            if !equal(a, xs[k], b, ys[k]) {
                self.child(Seg::Index(k), xs[k], ys[k]);
            }
        }
    }

    /// An array compared as a multiset: elements equal at the same index
    /// cancel, the rest are paired exactly (then, when few are left and
    /// this is not itself a probe, under the policy), and what stays
    /// unpaired is `missing` (baseline index) or `extra` (candidate index).
    fn multiset(&mut self, xs: &[u32], ys: &[u32]) {
        let (a, b) = (self.a, self.b);
        let common = xs.len().min(ys.len());
        let same_at: Vec<bool> = (0..common).map(|k| equal(a, xs[k], b, ys[k])).collect();
        let rest_x: Vec<usize> = (0..xs.len())
            .filter(|&k| k >= common || !same_at[k])
            .collect();
        let rest_y: Vec<usize> = (0..ys.len())
            .filter(|&k| k >= common || !same_at[k])
            .collect();
        let nx: Vec<u32> = rest_x.iter().map(|&k| xs[k]).collect();
        let ny: Vec<u32> = rest_y.iter().map(|&k| ys[k]).collect();
        let (mut mx, mut my) = self.match_exact(&nx, &ny);
        let left_x: Vec<usize> = (0..nx.len()).filter(|&k| !mx[k]).collect();
        let left_y: Vec<usize> = (0..ny.len()).filter(|&k| !my[k]).collect();
        // Not inside another probe: nested multisets pair exactly, so that
        // the work cannot multiply level by level.
        if !self.probing && !left_x.is_empty() && left_x.len() * left_y.len() <= PAIRWISE_MAX {
            for &p in &left_x {
                for &q in &left_y {
                    if !my[q] && self.probe(Seg::Index(rest_x[p]), nx[p], ny[q]) {
                        mx[p] = true;
                        my[q] = true;
                        break;
                    }
                }
            }
        }
        for p in 0..nx.len() {
            if !mx[p] {
                if self.done() {
                    return;
                }
                self.one_sided(
                    Seg::Index(rest_x[p]),
                    Kind::Missing,
                    Ex::Base(nx[p]),
                    Ex::None,
                );
            }
        }
        for q in 0..ny.len() {
            if !my[q] {
                if self.done() {
                    return;
                }
                self.one_sided(
                    Seg::Index(rest_y[q]),
                    Kind::Extra,
                    Ex::None,
                    Ex::Cand(ny[q]),
                );
            }
        }
    }

    /// Whether baseline node `i` and candidate node `j` are equal under the
    /// policy, at the pointer extended by `seg`; reports nothing.
    fn probe(&mut self, seg: Seg<'_>, i: u32, j: u32) -> bool {
        let (was_probing, was_found) = (self.probing, self.found);
        self.probing = true;
        self.found = false;
        self.child(seg, i, j);
        let equal = !self.found;
        self.probing = was_probing;
        self.found = was_found;
        equal
    }

    /// Pairs baseline elements `xs` with exactly equal candidate elements
    /// `ys`, each used once; returns which of each side got a partner.
    pub fn match_exact(&mut self, xs: &[u32], ys: &[u32]) -> (Vec<bool>, Vec<bool>) {
        let (a, b) = (self.a, self.b);
        let mut mx = vec![false; xs.len()];
        let mut my = vec![false; ys.len()];
        if xs.len() * ys.len() <= PAIRWISE_MAX {
            for (p, &x) in xs.iter().enumerate() {
                if let Some(q) = (0..ys.len()).find(|&q| !my[q] && equal(a, x, b, ys[q])) {
                    mx[p] = true;
                    my[q] = true;
                }
            }
            return (mx, my);
        }
        let state = self.hasher.get_or_insert_with(RandomState::new);
        let hash = |t: &Tree<'_>, n: u32| {
            let mut h = state.build_hasher();
            hash_value(t, n, &mut h);
            std::hash::Hasher::finish(&h)
        };
        let mut hx: Vec<(u64, usize)> = xs
            .iter()
            .enumerate()
            .map(|(p, &x)| (hash(a, x), p))
            .collect();
        let mut hy: Vec<(u64, usize)> = ys
            .iter()
            .enumerate()
            .map(|(q, &y)| (hash(b, y), q))
            .collect();
        hx.sort_unstable();
        hy.sort_unstable();
        let (mut p, mut q) = (0, 0);
        while p < hx.len() && q < hy.len() {
            let h = hx[p].0;
            if h < hy[q].0 {
                p += 1;
                continue;
            }
            if h > hy[q].0 {
                q += 1;
                continue;
            }
            let p_end = p + hx[p..].iter().take_while(|e| e.0 == h).count();
            let q_end = q + hy[q..].iter().take_while(|e| e.0 == h).count();
            let mut free: Vec<usize> = hy[q..q_end].iter().map(|e| e.1).collect();
            for &(_, px) in &hx[p..p_end] {
                let tries = free.len().min(GROUP_TRIES);
                if let Some(k) = (0..tries).find(|&k| equal(a, xs[px], b, ys[free[k]])) {
                    mx[px] = true;
                    my[free[k]] = true;
                    free.swap_remove(k);
                }
            }
            p = p_end;
            q = q_end;
        }
        (mx, my)
    }
}

/// A pointer segment.
#[derive(Clone, Copy)]
enum Seg<'k> {
    Key(&'k [u8]),
    Index(usize),
}

/// The element nodes of array `i`.
fn elements(t: &Tree<'_>, i: u32) -> Vec<u32> {
    let Node::Arr { len, .. } = t.node(i) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(len as usize);
    let mut x = i + 1;
    for _ in 0..len {
        out.push(x);
        x = t.next(x);
    }
    out
}

/// Whether two numbers are within a tolerance (as f64s; a text that does
/// not make a finite f64 is never within).
pub(crate) fn within(t: Tolerance, ta: &[u8], tb: &[u8]) -> bool {
    let f = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
    };
    let (Some(x), Some(y)) = (f(ta), f(tb)) else {
        return false;
    };
    let d = (x - y).abs();
    match t {
        Tolerance::Absolute(e) => d <= e,
        Tolerance::Relative(r) => d <= r * x.abs().max(y.abs()),
    }
}
