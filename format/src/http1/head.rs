//! The one set of rules by which shadowtap reads the bytes of an HTTP/1.x
//! head (RFC 9112 §2.2, §5), shared by the framer, the lenient parser,
//! capture's redaction, replay's request rewriter and header sampling.
//!
//! - A line ends at LF; a CR just before the LF is part of the ending, so
//!   bare-LF lines are read too.
//! - Empty lines before the start line are not part of the message
//!   ([`leading_empty_lines`]).
//! - The head ends just past the first empty line that follows a line
//!   ([`find_head_end`]): that offset is the head's length. The field lines
//!   lie between the start line and that empty line
//!   ([`blank_line_start`]).
//! - A field line is `name ":" value`, split at its first colon. Name and
//!   value are trimmed of ASCII whitespace (`<[u8]>::trim_ascii`: SP, HT,
//!   CR, LF, FF); names compare ASCII case-insensitively.
//! - A line that starts with SP or HT continues the field line above it
//!   (obs-fold, §5.2): its bytes go with that field and its text is more of
//!   that field's value. A line with no colon, and anything that continues
//!   it, is not a field.
//!
//! A strict parse (httparse) accepts less than these rules read; they are
//! what every scan of raw head bytes uses, so that capture, replay and
//! inspect agree on where a head ends and what its fields are.

use std::ops::Range;

/// Bytes of empty lines (CR and LF bytes) at the start of `buf`: RFC 9112
/// §2.2 lets a recipient ignore them before a start line.
pub fn leading_empty_lines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// The length of the head at the start of `buf`: the offset just past the
/// first empty line (`\n` or `\r\n`) that follows a line end at or after
/// `from`. None while the head is not complete. `from` lets a caller that
/// gathers a head piece by piece rescan only the last three bytes it had;
/// empty lines at the very start of `buf` are not a head end (skip them
/// first with [`leading_empty_lines`]).
///
/// ```
/// use shadowtap_format::http1::find_head_end;
///
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 0), Some(24));
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\nA: b\n\nbody", 0), Some(21));
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
/// ```
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    memchr::memchr_iter(b'\n', &buf[from..])
        .map(|i| from + i)
        .find_map(|i| match (buf.get(i + 1), buf.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        })
}

/// Where the empty line that ends `head` starts, for a head as
/// [`find_head_end`] cuts it: the field lines stop there. `head.len()` when
/// `head` does not end in an empty line.
pub fn blank_line_start(head: &[u8]) -> usize {
    match head {
        [.., b'\n', b'\n'] => head.len() - 1,
        [.., b'\n', b'\r', b'\n'] => head.len() - 2,
        _ => head.len(),
    }
}

/// Trims ASCII whitespace from both ends of a header name, value or list
/// element (the rule above).
pub fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// RFC 9110 `tchar`: the bytes of a token (a method, a header name).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One field line of a head together with the obs-fold lines that continue
/// it, as offsets into the head it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The line and its continuation lines, line endings included.
    pub line: Range<usize>,
    /// The name, trimmed; None for a line with no colon (or one that
    /// continues nothing).
    name: Option<Range<usize>>,
    /// Just past the colon (`line.end` without a name).
    value_from: usize,
}

impl Field {
    /// The name, trimmed, in its original case.
    pub fn name<'a>(&self, head: &'a [u8]) -> Option<&'a [u8]> {
        head.get(self.name.clone()?)
    }

    /// Whether the name is `name`, compared ASCII case-insensitively.
    pub fn is(&self, head: &[u8], name: &[u8]) -> bool {
        self.name(head)
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }

    /// The value, trimmed; continuation lines included (with the line
    /// breaks between them). Empty without a name.
    pub fn value<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        trim(&head[self.value_from..self.line.end])
    }

    /// The value line by line: the part after the colon, then each
    /// continuation line, each trimmed, as offsets into `head`. Nothing
    /// without a name.
    pub fn value_lines<'a>(&self, head: &'a [u8]) -> impl Iterator<Item = Range<usize>> + 'a {
        let mut at = self.value_from;
        let end = self.line.end;
        std::iter::from_fn(move || {
            let (range, next) = value_line(head, at, end)?;
            at = next;
            Some(range)
        })
    }

    /// Where the value lines start and the field ends, for a caller that
    /// walks them with [`value_line`] while it changes `head`.
    pub(super) fn value_span(&self) -> (usize, usize) {
        (self.value_from, self.line.end)
    }
}

/// The end of the line starting at `at`: just past its LF, or `end`.
pub(super) fn line_end(head: &[u8], at: usize, end: usize) -> usize {
    memchr::memchr(b'\n', &head[at..end]).map_or(end, |i| at + i + 1)
}

/// Splits the line `line` of `head` at its first colon: the name, trimmed,
/// and where the value starts (just past the colon). None without a colon.
pub(super) fn split_line(head: &[u8], line: Range<usize>) -> Option<(Range<usize>, usize)> {
    let colon = line.start + memchr::memchr(b':', &head[line.clone()])?;
    Some((trimmed(head, line.start..colon), colon + 1))
}

/// The part of `head[r]` that [`trim`] keeps, as offsets into `head`.
fn trimmed(head: &[u8], r: Range<usize>) -> Range<usize> {
    let part = &head[r.clone()];
    let start = r.start + (part.len() - part.trim_ascii_start().len());
    start..start + part.trim_ascii().len()
}

/// The value line starting at `at` (before `end`), trimmed, and where the
/// next one starts.
pub(super) fn value_line(head: &[u8], at: usize, end: usize) -> Option<(Range<usize>, usize)> {
    if at >= end {
        return None;
    }
    let stop = line_end(head, at, end);
    Some((trimmed(head, at..stop), stop))
}

/// Where the field lines of `head` start: past any empty lines and the
/// start line. `head.len()` when the start line does not end.
pub fn fields_start(head: &[u8]) -> usize {
    let lead = leading_empty_lines(head);
    line_end(head, lead, head.len())
}

/// The field line starting at `pos` in `head`, with its continuation lines;
/// None at an empty line (the end of the head) or the end of `head`. The
/// next one starts at the returned `line.end`.
pub fn field_at(head: &[u8], pos: usize) -> Option<Field> {
    let rest = head.get(pos..).filter(|r| !r.is_empty())?;
    if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
        return None;
    }
    let first_end = line_end(head, pos, head.len());
    let mut end = first_end;
    while matches!(head.get(end), Some(b' ' | b'\t')) {
        end = line_end(head, end, head.len());
    }
    // A line starting with SP or HT here continues nothing.
    let folded_first = matches!(rest[0], b' ' | b'\t');
    let (name, value_from) = match split_line(head, pos..first_end).filter(|_| !folded_first) {
        Some((name, from)) => (Some(name), from),
        None => (None, end),
    };
    Some(Field {
        line: pos..end,
        name,
        value_from,
    })
}

/// The field lines of `head` (a head starting with its start line, or with
/// empty lines before it), in order; see [`field_at`].
pub fn fields(head: &[u8]) -> impl Iterator<Item = Field> + '_ {
    let mut pos = fields_start(head);
    std::iter::from_fn(move || {
        let f = field_at(head, pos)?;
        pos = f.line.end;
        Some(f)
    })
}

/// The value of the first header `name` (ASCII case-insensitive) of the
/// complete head at the start of `raw`, trimmed. None when there is no such
/// header or the head is not complete.
///
/// ```
/// use shadowtap_format::http1::header_value;
///
/// let raw = b"GET / HTTP/1.1\r\nX-User:  42 \r\nx-user: 43\r\n\r\n";
/// assert_eq!(header_value(raw, "X-USER"), Some(&b"42"[..]));
/// ```
pub fn header_value<'a>(raw: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let head = &raw[..find_head_end(raw, 0)?];
    fields(head)
        .find(|f| f.is(head, name.as_bytes()))
        .map(|f| f.value(head))
}
