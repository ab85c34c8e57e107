//! Header-value redaction as a recorder applies it: a secret never reaches
//! the log, and the head keeps its length, so every offset into the
//! recorded bytes (the head's length, the body's start) stays true.

use super::head::{field_at, fields_start, value_line};

/// Replaces, in place and with the same length, the value of every header
/// whose name is one of `names` (ASCII case-insensitive) by `*`s: the whole
/// value, continuation lines included, whitespace around it kept. `head`
/// is a head as recorded (start line first). Returns true when a value was
/// replaced.
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
    let mut pos = fields_start(head);
    while let Some(f) = field_at(head, pos) {
        pos = f.line.end;
        if !names.iter().any(|n| f.is(head, n.as_ref().as_bytes())) {
            continue;
        }
        let (mut at, end) = f.value_span();
        while let Some((r, next)) = value_line(head, at, end) {
            head[r].fill(b'*');
            at = next;
        }
        any = true;
    }
    any
}
