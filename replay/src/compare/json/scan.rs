//! Token scanners over a document's bytes, shared by the parser and the
//! lockstep walk: each checks one token as RFC 8259 says and returns the
//! index just past it. A string's plain stretches are skipped eight bytes
//! at a time (a word holds a stop byte when one of its bytes is a quote, a
//! backslash or a control character).

use super::parse::MAX_DEPTH;

/// Bytes that end the fast scan of a string: the quote, the backslash and
/// the control characters (which must be escaped).
static STR_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The index of the first byte at or after `i` that is a quote, a
/// backslash or a control character; `s.len()` when there is none.
///
/// Per word: `(x - 0x01..) & !x & 0x80..` flags the zero bytes of `x`
/// (and `(w - 0x20..) & !w` the bytes below 0x20); a borrow can flag a byte
/// only above a byte truly flagged, so the lowest flag is exact.
#[inline]
pub(crate) fn string_stop(s: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = s.get(i..i + 8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_le_bytes(b);
        let q = w ^ (ONES * u64::from(b'"'));
        let bs = w ^ (ONES * u64::from(b'\\'));
        let hit = ((q.wrapping_sub(ONES) & !q)
            | (bs.wrapping_sub(ONES) & !bs)
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && !STR_STOP[s[i] as usize] {
        i += 1;
    }
    i
}

/// Why an escape is malformed (the parser's messages).
pub(crate) const BAD_U: &str = "invalid \\u escape";
pub(crate) const UNPAIRED: &str = "unpaired surrogate escape";
pub(crate) const BAD_ESCAPE: &str = "invalid escape";

/// Checks the escape whose backslash is at `i`; returns the index after it.
pub(crate) fn escape_end(s: &[u8], i: usize) -> Result<usize, &'static str> {
    match s.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let hi = hex4(s, i + 2).ok_or(BAD_U)?;
            match hi {
                0xD800..=0xDBFF => {
                    let lo = if s.get(i + 6) == Some(&b'\\') && s.get(i + 7) == Some(&b'u') {
                        hex4(s, i + 8)
                    } else {
                        None
                    };
                    match lo {
                        Some(0xDC00..=0xDFFF) => Ok(i + 12),
                        _ => Err(UNPAIRED),
                    }
                }
                0xDC00..=0xDFFF => Err(UNPAIRED),
                _ => Ok(i + 6),
            }
        }
        _ => Err(BAD_ESCAPE),
    }
}

/// The four hex digits at `at` as a number.
pub(crate) fn hex4(s: &[u8], at: usize) -> Option<u32> {
    let h = s.get(at..at + 4)?;
    let mut v = 0;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// The string whose opening quote is at `i`: the index after its closing
/// quote, and whether it has escapes; `None` when it is malformed.
#[inline]
pub(crate) fn string_end(s: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut k = i + 1;
    let mut esc = false;
    loop {
        k = string_stop(s, k);
        match s.get(k) {
            Some(b'"') => return Some((k + 1, esc)),
            Some(b'\\') => {
                esc = true;
                k = escape_end(s, k).ok()?;
            }
            _ => return None,
        }
    }
}

/// The number starting at `i`: the index after it; `None` when it is
/// malformed (the grammar only: `-`, an integer part without leading
/// zeros, an optional fraction and an optional exponent).
#[inline]
pub(crate) fn number_end(s: &[u8], mut i: usize) -> Option<usize> {
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(s, i + 1),
        _ => return None,
    }
    if s.get(i) == Some(&b'.') {
        let d = digits(s, i + 1);
        if d == i + 1 {
            return None;
        }
        i = d;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        let d = digits(s, i);
        if d == i {
            return None;
        }
        i = d;
    }
    Some(i)
}

#[inline]
fn digits(s: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = s.get(i) {
        i += 1;
    }
    i
}

/// The index of the first byte at or after `i` that is not JSON
/// whitespace.
#[inline]
pub(crate) fn ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = s.get(i) {
        i += 1;
    }
    i
}

/// Skips the value at `i` of `s`, nested in `depth` arrays and objects,
/// checking it as the parser would (grammar, escapes, nesting up to
/// [`MAX_DEPTH`]): the index after it, or `None` when it is malformed, or
/// not complete within `s`. No tree, no recursion: open containers are a
/// stack of bits (1: an object).
pub(crate) fn skip_value(s: &[u8], mut i: usize, depth: u32) -> Option<usize> {
    let mut stack: u128 = 0;
    let mut level: u32 = 0;
    // The room left for nesting: `level` may not pass it.
    let room = MAX_DEPTH.checked_sub(depth)?;
    'value: loop {
        match *s.get(i)? {
            c @ (b'{' | b'[') => {
                if level >= room {
                    return None;
                }
                let obj = c == b'{';
                i = ws(s, i + 1);
                let close = if obj { b'}' } else { b']' };
                if s.get(i) == Some(&close) {
                    // Empty: a value like any other.
                    i += 1;
                } else {
                    stack = (stack << 1) | u128::from(obj);
                    level += 1;
                    if obj {
                        i = member_key(s, i)?;
                    }
                    continue 'value;
                }
            }
            b'"' => i = string_end(s, i)?.0,
            b'-' | b'0'..=b'9' => i = number_end(s, i)?,
            b't' => i = word(s, i, b"true")?,
            b'f' => i = word(s, i, b"false")?,
            b'n' => i = word(s, i, b"null")?,
            _ => return None,
        }
        // After a value: close containers, or go on to the next member.
        loop {
            if level == 0 {
                return Some(i);
            }
            i = ws(s, i);
            let obj = stack & 1 == 1;
            match *s.get(i)? {
                b',' => {
                    i = ws(s, i + 1);
                    if obj {
                        i = member_key(s, i)?;
                    }
                    continue 'value;
                }
                b'}' if obj => {}
                b']' if !obj => {}
                _ => return None,
            }
            i += 1;
            stack >>= 1;
            level -= 1;
        }
    }
}

/// An object member's key and colon at `i`: the index of its value.
#[inline]
fn member_key(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let k = ws(s, string_end(s, i)?.0);
    if s.get(k) != Some(&b':') {
        return None;
    }
    Some(ws(s, k + 1))
}

#[inline]
fn word(s: &[u8], i: usize, w: &[u8]) -> Option<usize> {
    (s.get(i..i + w.len()) == Some(w)).then_some(i + w.len())
}

/// How many bytes `x` and `y` have in common from their starts.
#[inline]
pub(crate) fn common_prefix(x: &[u8], y: &[u8]) -> usize {
    let n = x.len().min(y.len());
    let mut k = 0;
    while k + 8 <= n {
        let (mut p, mut q) = ([0u8; 8], [0u8; 8]);
        p.copy_from_slice(&x[k..k + 8]);
        q.copy_from_slice(&y[k..k + 8]);
        let d = u64::from_le_bytes(p) ^ u64::from_le_bytes(q);
        if d != 0 {
            return k + (d.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < n && x[k] == y[k] {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_the_first_stop_byte() {
        // Every position in a word and past it, each stop byte, with
        // UTF-8 before it.
        for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..20 {
                let mut s = "é".repeat(10).into_bytes();
                s.truncate(20);
                s[at] = stop;
                if at + 1 < s.len() {
                    s[at + 1] = b'"';
                }
                assert_eq!(string_stop(&s, 0), at, "stop {stop:#x} at {at}");
            }
        }
        assert_eq!(string_stop(b"abcdefghijklmnopq", 3), 17);
        assert_eq!(string_stop(b"ab\x7f\x20 !#~\xff\x80x\"", 0), 11);
    }

    #[test]
    fn tokens_end_where_the_grammar_says() {
        assert_eq!(
            string_end(br#""a\"b\u00e9\ud83d\ude00" x"#, 0),
            Some((24, true))
        );
        assert_eq!(string_end(br#""abc""#, 0), Some((5, false)));
        assert_eq!(string_end(br#""a\x""#, 0), None);
        assert_eq!(string_end(br#""\ud83d""#, 0), None);
        assert_eq!(string_end(b"\"a\nb\"", 0), None);
        assert_eq!(string_end(b"\"abc", 0), None);
        assert_eq!(number_end(b"-0.5e+10,", 0), Some(8));
        assert_eq!(number_end(b"012", 0), Some(1));
        assert_eq!(number_end(b"1.", 0), None);
        assert_eq!(number_end(b"1e", 0), None);
        assert_eq!(number_end(b"-", 0), None);
        assert_eq!(
            common_prefix(b"0123456789abcdefX", b"0123456789abcdefY"),
            16
        );
        assert_eq!(common_prefix(b"0123456789", b"0123456789"), 10);
        assert_eq!(common_prefix(b"0123x56789", b"0123456789"), 4);
        assert_eq!(common_prefix(b"", b"0"), 0);
    }

    #[test]
    fn skipping_checks_what_parsing_checks() {
        let ok = |t: &str| skip_value(t.as_bytes(), 0, 0);
        assert_eq!(ok(r#"{"a" : [1, {"b":null}, "x"], "c":{}} ,"#), Some(36));
        assert_eq!(ok("[[],[[]],{}]"), Some(12));
        assert_eq!(ok("-1.5e3]"), Some(6));
        assert_eq!(ok("true"), Some(4));
        for bad in [
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "[1}",
            "{\"a\":1]",
            "tru",
            "\"\\q\"",
            "[01]",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
        // Nesting: MAX_DEPTH containers in all, counting those outside.
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let max = MAX_DEPTH as usize;
        assert_eq!(skip_value(deep(max).as_bytes(), 0, 0), Some(2 * max));
        assert_eq!(skip_value(deep(max + 1).as_bytes(), 0, 0), None);
        assert_eq!(
            skip_value(deep(max - 3).as_bytes(), 0, 3),
            Some(2 * (max - 3))
        );
        assert_eq!(skip_value(deep(max - 3).as_bytes(), 0, 4), None);
    }
}
