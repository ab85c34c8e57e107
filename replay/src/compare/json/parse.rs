//! A small validating JSON parser (RFC 8259) into a flat, borrowed tree.
//!
//! The tree is a vector of [`Node`]s in document order: a container is
//! followed by its members (an object's as key, value, key, value, ...) and
//! records the index just past its last descendant, so siblings are one jump
//! apart and nothing but the vector is allocated. Strings and numbers stay
//! as offsets into the input: a string keeps its raw text between the
//! quotes and whether it has escapes (decoded only when two strings with
//! different raw text are compared or shown), a number keeps its text (so
//! it compares exactly, by value, see [`Decimal`]).
//!
//! What is checked: the grammar, UTF-8 (the whole input, up front), escapes
//! (a `\u` surrogate must be part of a pair: the decoded text is always
//! UTF-8), nesting depth ([`MAX_DEPTH`], so neither this parser's recursion
//! nor the diff's can be driven deep), and nothing but whitespace after the
//! value. A leading UTF-8 byte order mark is skipped.

use std::borrow::Cow;

use super::scan::{self, hex4};

/// Arrays and objects nested deeper than this are an error.
pub const MAX_DEPTH: u32 = 128;

/// One value (or object key) of a parsed document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    /// The number's text, `at..at + len` of the input.
    Num {
        at: u32,
        len: u32,
    },
    /// The raw text between the quotes; `esc` when it has a backslash.
    Str {
        at: u32,
        len: u32,
        esc: bool,
    },
    /// `len` elements; `end` is the index of the node after the last one.
    Arr {
        len: u32,
        end: u32,
    },
    /// `len` members, each a `Str` key node and a value; `end` as for `Arr`.
    Obj {
        len: u32,
        end: u32,
    },
}

/// A parsed document: the input (without a BOM) and its nodes; the root is
/// node 0.
pub(crate) struct Tree<'a> {
    pub src: &'a [u8],
    pub nodes: Vec<Node>,
}

impl<'a> Tree<'a> {
    /// The index of the node after `i` and all its descendants.
    #[inline]
    pub fn next(&self, i: u32) -> u32 {
        match self.nodes[i as usize] {
            Node::Arr { end, .. } | Node::Obj { end, .. } => end,
            _ => i + 1,
        }
    }

    #[inline]
    pub fn node(&self, i: u32) -> Node {
        self.nodes[i as usize]
    }

    /// The input text at `at..at + len`.
    #[inline]
    pub fn text(&self, at: u32, len: u32) -> &'a [u8] {
        &self.src[at as usize..(at + len) as usize]
    }

    /// A string node's raw text and escape flag (an empty text for any
    /// other node, which callers never pass).
    #[inline]
    pub fn raw_str(&self, i: u32) -> (&'a [u8], bool) {
        match self.node(i) {
            Node::Str { at, len, esc } => (self.text(at, len), esc),
            _ => (&[], false),
        }
    }

    /// A string node's decoded value.
    pub fn str_value(&self, i: u32) -> Cow<'a, [u8]> {
        let (raw, esc) = self.raw_str(i);
        if esc {
            Cow::Owned(decode(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }
}

/// Parses a whole document; the error is a short reason with a byte offset.
pub(crate) fn parse(input: &[u8]) -> Result<Tree<'_>, String> {
    let src = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    if u32::try_from(src.len()).is_err() {
        return Err("document larger than 4 GiB".into());
    }
    if let Err(e) = std::str::from_utf8(src) {
        return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
    }
    let mut p = Parser {
        s: src,
        i: 0,
        nodes: Vec::with_capacity(src.len() / 8 + 4),
    };
    p.ws();
    p.value(0)?;
    p.ws();
    if p.i != src.len() {
        return Err(format!("trailing characters at byte {}", p.i));
    }
    Ok(Tree {
        src,
        nodes: p.nodes,
    })
}

/// Parses the one value at `at` of `src` (a document's bytes, its BOM
/// stripped and its UTF-8 checked), nested in `depth` arrays and objects:
/// its tree (offsets into `src`, the value is node 0) and the index after
/// it. The lockstep walk parses only the subtrees where two documents'
/// structures part.
pub(crate) fn parse_at(src: &[u8], at: usize, depth: u32) -> Result<(Tree<'_>, usize), String> {
    let (tree, _, end) = parse_each(src, &[at], depth)?;
    Ok((tree, end))
}

/// Parses the values at `ats` of `src` (as [`parse_at`]) into one tree:
/// it, the node of each value, and the index after the last one.
pub(crate) fn parse_each<'a>(
    src: &'a [u8],
    ats: &[usize],
    depth: u32,
) -> Result<(Tree<'a>, Vec<u32>, usize), String> {
    if u32::try_from(src.len()).is_err() {
        return Err("document larger than 4 GiB".into());
    }
    let mut p = Parser {
        s: src,
        i: 0,
        nodes: Vec::new(),
    };
    let mut roots = Vec::with_capacity(ats.len());
    for &at in ats {
        p.i = at;
        roots.push(p.nodes.len() as u32);
        p.value(depth)?;
    }
    let end = p.i;
    Ok((
        Tree {
            src,
            nodes: p.nodes,
        },
        roots,
        end,
    ))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    nodes: Vec<Node>,
}

impl Parser<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        match self.peek() {
            None => format!("{what} at the end"),
            Some(_) => format!("{what} at byte {}", self.i),
        }
    }

    fn value(&mut self, depth: u32) -> Result<(), String> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let (at, len, esc) = self.string()?;
                self.nodes.push(Node::Str { at, len, esc });
                Ok(())
            }
            Some(b't') => self.literal(b"true", Node::Bool(true)),
            Some(b'f') => self.literal(b"false", Node::Bool(false)),
            Some(b'n') => self.literal(b"null", Node::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Result<(), String> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            self.nodes.push(node);
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn array(&mut self, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 128"));
        }
        self.i += 1;
        let me = self.nodes.len();
        self.nodes.push(Node::Arr { len: 0, end: 0 });
        self.ws();
        let mut len = 0u32;
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.value(depth)?;
                len += 1;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                    }
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ']'")),
                }
            }
        }
        self.nodes[me] = Node::Arr {
            len,
            end: self.nodes.len() as u32,
        };
        Ok(())
    }

    fn object(&mut self, depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 128"));
        }
        self.i += 1;
        let me = self.nodes.len();
        self.nodes.push(Node::Obj { len: 0, end: 0 });
        self.ws();
        let mut len = 0u32;
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a string key"));
                }
                let (at, klen, esc) = self.string()?;
                self.nodes.push(Node::Str { at, len: klen, esc });
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected ':'"));
                }
                self.i += 1;
                self.ws();
                self.value(depth)?;
                len += 1;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                    }
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or '}'")),
                }
            }
        }
        self.nodes[me] = Node::Obj {
            len,
            end: self.nodes.len() as u32,
        };
        Ok(())
    }

    /// A string at `self.i` (its opening quote): the raw text's offset and
    /// length, and whether it has escapes.
    fn string(&mut self) -> Result<(u32, u32, bool), String> {
        let s = self.s;
        let start = self.i + 1;
        let mut i = start;
        let mut esc = false;
        loop {
            i = scan::string_stop(s, i);
            match s.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    esc = true;
                    i = self.escape(i)?;
                }
                Some(_) => {
                    self.i = i;
                    return Err(self.err("control character in a string"));
                }
                None => {
                    self.i = i;
                    return Err(self.err("unterminated string"));
                }
            }
        }
        self.i = i + 1;
        // Offsets fit: the input is at most u32::MAX bytes.
        Ok((start as u32, (i - start) as u32, esc))
    }

    /// Checks the escape whose backslash is at `i`; returns the index after it.
    fn escape(&mut self, i: usize) -> Result<usize, String> {
        scan::escape_end(self.s, i).map_err(|why| {
            self.i = i;
            self.err(why)
        })
    }

    fn number(&mut self) -> Result<(), String> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = s.get(i) {
                    i += 1;
                }
            }
            _ => {
                self.i = i;
                return Err(self.err("invalid number"));
            }
        }
        if s.get(i) == Some(&b'.') {
            i += 1;
            let d = i;
            while let Some(b'0'..=b'9') = s.get(i) {
                i += 1;
            }
            if i == d {
                self.i = i;
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = s.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = s.get(i) {
                i += 1;
            }
            let d = i;
            while let Some(b'0'..=b'9') = s.get(i) {
                i += 1;
            }
            if i == d {
                self.i = i;
                return Err(self.err("invalid number"));
            }
        }
        self.i = i;
        self.nodes.push(Node::Num {
            at: start as u32,
            len: (i - start) as u32,
        });
        Ok(())
    }
}

/// The decoded bytes of a string's raw text (which the parser checked: a
/// malformed escape, which cannot occur, is kept as written).
pub(crate) fn decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let simple = match raw.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        let code = match hex4(raw, i + 2) {
            Some(hi @ 0xD800..=0xDBFF) => match hex4(raw, i + 8) {
                Some(lo @ 0xDC00..=0xDFFF) => {
                    i += 12;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                }
                _ => {
                    i += 6;
                    0xFFFD
                }
            },
            Some(c) => {
                i += 6;
                c
            }
            None => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        let ch = char::from_u32(code).unwrap_or('\u{fffd}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// A JSON number's value, exactly: sign, significant digits (no leading or
/// trailing zeros) and the power of ten of the last one. `1.50`, `1.5`,
/// `15e-1` and `0.15E1` are all (+, "15", -1); every zero (`0`, `-0`,
/// `0.0e9`) is zero. An exponent is saturated at ±10^15, beyond any number
/// a service means; two numbers past that compare by their digits only.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal<'a> {
    neg: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// Index of the first significant digit in `int ++ frac`.
    first: usize,
    /// Number of significant digits (0 for zero).
    count: usize,
    /// Power of ten of the last significant digit.
    exp: i64,
}

const EXP_CAP: i64 = 1_000_000_000_000_000;

impl<'a> Decimal<'a> {
    /// The value of a number's text as the parser checked it.
    pub fn of(text: &'a [u8]) -> Decimal<'a> {
        let (neg, rest) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, text),
        };
        let int_end = rest
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int = &rest[..int_end];
        let mut rest = &rest[int_end..];
        let mut frac: &[u8] = &[];
        if let Some((b'.', r)) = rest.split_first() {
            let end = r
                .iter()
                .position(|c| !c.is_ascii_digit())
                .unwrap_or(r.len());
            frac = &r[..end];
            rest = &r[end..];
        }
        let mut exp: i64 = 0;
        if let Some((b'e' | b'E', r)) = rest.split_first() {
            let (eneg, digits) = match r.split_first() {
                Some((b'-', d)) => (true, d),
                Some((b'+', d)) => (false, d),
                _ => (false, r),
            };
            for &c in digits {
                exp = (exp * 10 + i64::from(c.wrapping_sub(b'0') % 10)).min(EXP_CAP);
            }
            if eneg {
                exp = -exp;
            }
        }
        let n = int.len() + frac.len();
        let digit = |j: usize| {
            if j < int.len() {
                int[j]
            } else {
                frac[j - int.len()]
            }
        };
        let first = (0..n).find(|&j| digit(j) != b'0').unwrap_or(n);
        let last = (first..n)
            .rev()
            .find(|&j| digit(j) != b'0')
            .map_or(first, |j| j + 1);
        let trailing = (n - last) as i64;
        Decimal {
            neg,
            int,
            frac,
            first,
            count: last - first,
            exp: exp + trailing - frac.len() as i64,
        }
    }

    fn digit(&self, k: usize) -> u8 {
        let j = self.first + k;
        if j < self.int.len() {
            self.int[j]
        } else {
            self.frac[j - self.int.len()]
        }
    }

    /// The significant digits, first to last.
    pub fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        (0..self.count).map(|k| self.digit(k))
    }

    pub fn is_zero(&self) -> bool {
        self.count == 0
    }

    /// Equal values.
    pub fn same(&self, other: &Decimal<'_>) -> bool {
        if self.is_zero() || other.is_zero() {
            return self.is_zero() && other.is_zero();
        }
        self.neg == other.neg
            && self.count == other.count
            && self.exp == other.exp
            && self.digits().eq(other.digits())
    }

    /// (sign, exponent) for hashing; with [`Decimal::digits`] a canonical form.
    pub fn key(&self) -> (bool, i64, usize) {
        if self.is_zero() {
            (false, 0, 0)
        } else {
            (self.neg, self.exp, self.count)
        }
    }
}
