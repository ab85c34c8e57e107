//! Header-value redaction as a recorder applies it: a secret never reaches
//! the log, and the head keeps its length, so every offset into the
//! recorded bytes (the head's length, the body's start) stays true.

use std::ops::Range;

use super::head::{field_at, fields_start, line_end, split_line, value_line};

/// Replaces, in place and with the same length, the value of every header
/// whose name is one of `names` (ASCII case-insensitive) by `*`s: the whole
/// value, continuation lines included, whitespace around it kept. A
/// continuation line that reads as such a header on its own (` Cookie: x`,
/// as a peer that does not unfold would take it) is hidden too: redaction
/// errs towards hiding. `head` is a head as recorded (start line first).
/// Returns true when a value was replaced.
///
/// ```
/// use shadowtap_format::http1::redact;
///
/// let mut head = b"GET / HTTP/1.1\r\nCookie: id=7\r\nHost: a\r\n\r\n".to_vec();
/// assert!(redact(&mut head, &["cookie"]));
/// assert_eq!(head, b"GET / HTTP/1.1\r\nCookie: ****\r\nHost: a\r\n\r\n");
/// ```
pub fn redact<S: AsRef<str>>(head: &mut [u8], names: &[S]) -> bool {
    if names.is_empty() {
        return false;
    }
    let mut any = false;
    let is_named = |head: &[u8], name: Range<usize>| {
        names
            .iter()
            .any(|n| head[name.clone()].eq_ignore_ascii_case(n.as_ref().as_bytes()))
    };
    let mut pos = fields_start(head);
    while let Some(f) = field_at(head, pos) {
        pos = f.line.end;
        if names.iter().any(|n| f.is(head, n.as_ref().as_bytes())) {
            let (mut at, end) = f.value_span();
            while let Some((r, next)) = value_line(head, at, end) {
                head[r].fill(b'*');
                at = next;
            }
            any = true;
            continue;
        }
        let mut at = f.line.start;
        while at < f.line.end {
            let line = at..line_end(head, at, f.line.end);
            at = line.end;
            let Some((name, from)) = split_line(head, line.clone()) else {
                continue;
            };
            if is_named(head, name) {
                if let Some((r, _)) = value_line(head, from, line.end) {
                    head[r].fill(b'*');
                }
                any = true;
            }
        }
    }
    any
}
