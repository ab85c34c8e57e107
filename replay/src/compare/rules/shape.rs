//! Shapes of values that differ by nature: timestamps, UUIDs, hex and
//! random tokens. Each test is a single bounded pass over an excerpt.

/// One second, one day.
const DAY_SECS: f64 = 86_400.0;
/// 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z in Unix seconds: the
/// plausible range of an epoch timestamp.
const EPOCH_MIN: f64 = 946_684_800.0;
const EPOCH_MAX: f64 = 4_102_444_800.0;
/// The shortest hex or random token.
const TOKEN_MIN: usize = 16;

/// How a date-time is written; two timestamps are of one shape only when
/// written alike (a change of format is a change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TsFormat {
    /// RFC 3339 / ISO 8601 extended: the date-time separator, whether there
    /// are seconds, a fraction (of any length), and how the offset is
    /// written.
    Iso {
        sep: u8,
        seconds: bool,
        fraction: bool,
        offset: Offset,
    },
    /// IMF-fixdate, as in HTTP `Date`: `Sun, 06 Nov 1994 08:49:37 GMT`.
    Http,
}

/// How an ISO 8601 offset is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offset {
    /// No offset (local time).
    None,
    /// `Z` or `z`.
    Zulu,
    /// `+01:00`.
    Colon,
    /// `+0100`.
    Compact,
    /// `+01`.
    Hours,
}

/// A value of a kind that differs by nature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Shape<'a> {
    Timestamp(TsFormat),
    /// A JSON number in the plausible range of Unix time, in seconds
    /// (`millis` false) or milliseconds; the value in seconds.
    Epoch {
        millis: bool,
        secs: f64,
    },
    /// 8-4-4-4-12 hex digits, any version; whether the letters are
    /// uppercase.
    Uuid {
        upper: bool,
    },
    /// Hex digits (at least 16, letters and digits both present).
    Hex(&'a str),
    /// Base64 / base64url text, or a JWT (at least 16 characters, letters
    /// and digits both present).
    Token(&'a str),
}

impl Shape<'_> {
    /// The name reported for noise of this shape.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Shape::Timestamp(_) => "timestamp",
            Shape::Epoch { .. } => "epoch timestamp",
            Shape::Uuid { .. } => "uuid",
            Shape::Hex(_) => "hex token",
            Shape::Token(_) => "random token",
        }
    }
}

/// The shape of an excerpt: JSON text for body pointers (a string with its
/// quotes, possibly cut and ended with `…`), raw text for headers.
pub(super) fn classify(excerpt: &str) -> Option<Shape<'_>> {
    let (text, quoted) = match excerpt.strip_prefix('"') {
        Some(inner) => match inner.strip_suffix('"').or_else(|| inner.strip_suffix('…')) {
            Some(t) => (t, true),
            None => return None,
        },
        None => (excerpt.strip_suffix('…').unwrap_or(excerpt), false),
    };
    if text.len() < 8 {
        return None;
    }
    if !quoted {
        if let Some(e) = epoch(text) {
            return Some(e);
        }
    }
    if let Some(f) = iso_timestamp(text).or_else(|| http_date(text)) {
        return Some(Shape::Timestamp(f));
    }
    if let Some(upper) = uuid(text) {
        return Some(Shape::Uuid { upper });
    }
    if is_hex_token(text) {
        return Some(Shape::Hex(text));
    }
    if is_random_token(text) {
        return Some(Shape::Token(text));
    }
    None
}

/// Whether two values are of one shape that differs by nature, and which.
/// Timestamps must be written alike; epoch numbers in one unit and within a
/// day of each other; tokens of one length that differ in most places
/// (see [`looks_random`]).
pub(super) fn same_shape<'a>(a: &'a str, b: &str) -> Option<Shape<'a>> {
    let (x, y) = (classify(a)?, classify(b)?);
    let same = match (x, y) {
        (Shape::Timestamp(f), Shape::Timestamp(g)) => f == g,
        (Shape::Epoch { millis: m, secs: s }, Shape::Epoch { millis: n, secs: t }) => {
            m == n && (s - t).abs() <= DAY_SECS
        }
        (Shape::Uuid { upper: u }, Shape::Uuid { upper: v }) => u == v,
        (Shape::Hex(s), Shape::Hex(t)) => {
            let upper = |v: &str| v.bytes().any(|c| c.is_ascii_uppercase());
            upper(s) == upper(t) && looks_random(s, t)
        }
        (Shape::Token(s), Shape::Token(t)) => looks_random(s, t),
        _ => false,
    };
    same.then_some(x)
}

/// Whether two strings of one length, at least 16 bytes, differ the way two
/// random values do: after their common prefix and suffix (a fixed
/// `sess_`, base64 padding), at least 8 bytes remain, and at least two
/// thirds of those differ. A counter or a one-character edit does not
/// pass.
pub(super) fn looks_random(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.len() < TOKEN_MIN {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let middle = a.len() - prefix - suffix;
    let differing = a[prefix..a.len() - suffix]
        .iter()
        .zip(&b[prefix..b.len() - suffix])
        .filter(|(x, y)| x != y)
        .count();
    middle >= 8 && differing * 3 >= middle * 2
}

/// A JSON number in the plausible range of Unix seconds or milliseconds.
fn epoch(text: &str) -> Option<Shape<'static>> {
    let b = text.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    // Integer digits, then at most a fraction: no sign, no exponent.
    match b.get(digits) {
        None => {}
        Some(b'.')
            if digits > 0
                && b.len() > digits + 1
                && b[digits + 1..].iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    let v: f64 = text.parse().ok()?;
    if (EPOCH_MIN..=EPOCH_MAX).contains(&v) {
        Some(Shape::Epoch {
            millis: false,
            secs: v,
        })
    } else if (EPOCH_MIN * 1000.0..=EPOCH_MAX * 1000.0).contains(&v) {
        Some(Shape::Epoch {
            millis: true,
            secs: v / 1000.0,
        })
    } else {
        None
    }
}

/// `n` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let d = b.get(at..at + n)?;
    d.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// An RFC 3339 / ISO 8601 extended date-time:
/// `YYYY-MM-DD[T|t| ]HH:MM[:SS[(.|,)F+]][Z|z|±HH:MM|±HHMM|±HH]`. A plain
/// date is not one: dates are compared (an off-by-one day is a bug worth
/// seeing).
fn iso_timestamp(text: &str) -> Option<TsFormat> {
    let b = text.as_bytes();
    let (_year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if b[4] != b'-' || b[7] != b'-' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let sep = *b.get(10)?;
    if !matches!(sep, b'T' | b't' | b' ') {
        return None;
    }
    let (hour, minute) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    if b[13] != b':' || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 16;
    let mut seconds = false;
    let mut fraction = false;
    if b.get(at) == Some(&b':') {
        if digits(b, at + 1, 2)? > 60 {
            return None;
        }
        seconds = true;
        at += 3;
        if matches!(b.get(at), Some(b'.' | b',')) {
            let n = b[at + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if n == 0 {
                return None;
            }
            fraction = true;
            at += 1 + n;
        }
    }
    let offset = match &b[at..] {
        [] => Offset::None,
        [b'Z' | b'z'] => Offset::Zulu,
        [b'+' | b'-', rest @ ..] => {
            let (h, m, form) = match rest {
                [_, _] => (digits(rest, 0, 2)?, 0, Offset::Hours),
                [_, _, b':', _, _] => (digits(rest, 0, 2)?, digits(rest, 3, 2)?, Offset::Colon),
                [_, _, _, _] => (digits(rest, 0, 2)?, digits(rest, 2, 2)?, Offset::Compact),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            form
        }
        _ => return None,
    };
    Some(TsFormat::Iso {
        sep,
        seconds,
        fraction,
        offset,
    })
}

/// IMF-fixdate (RFC 9110 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(text: &str) -> Option<TsFormat> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = text.as_bytes();
    if b.len() != 29 || !text.is_ascii() {
        return None;
    }
    let ok = DAYS.contains(&&text[0..3])
        && &text[3..5] == ", "
        && digits(b, 5, 2).is_some_and(|d| (1..=31).contains(&d))
        && b[7] == b' '
        && MONTHS.contains(&&text[8..11])
        && b[11] == b' '
        && digits(b, 12, 4).is_some()
        && b[16] == b' '
        && digits(b, 17, 2).is_some_and(|h| h <= 23)
        && b[19] == b':'
        && digits(b, 20, 2).is_some_and(|m| m <= 59)
        && b[22] == b':'
        && digits(b, 23, 2).is_some_and(|s| s <= 60)
        && &text[25..] == " GMT";
    ok.then_some(TsFormat::Http)
}

/// 8-4-4-4-12 hex digits; `Some(uppercase)` when the letters are all of
/// one case (a digits-only UUID counts as lowercase).
fn uuid(text: &str) -> Option<bool> {
    let b = text.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let dash = matches!(i, 8 | 13 | 18 | 23);
        if dash != (c == b'-') || (!dash && !c.is_ascii_hexdigit()) {
            return None;
        }
    }
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    (!(upper && lower)).then_some(upper)
}

/// At least 16 hex digits, with both a letter and a digit (a string of
/// decimal digits is a number or an account, not a token) and letters of
/// one case.
fn is_hex_token(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= TOKEN_MIN
        && b.iter().all(u8::is_ascii_hexdigit)
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_alphabetic)
        && !(b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase))
}

/// At least 16 characters of base64 or base64url (`A-Z a-z 0-9 + / - _`,
/// `=` only as trailing padding), or a JWT (three base64url parts joined by
/// dots, the first starting `eyJ`, a JSON object), with both letters and
/// digits. JSON escapes `\/` of a slash.
fn is_random_token(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() < TOKEN_MIN
        || !b.iter().any(u8::is_ascii_digit)
        || !b.iter().any(u8::is_ascii_alphabetic)
    {
        return false;
    }
    let body = &b[..b.len() - b.iter().rev().take_while(|&&c| c == b'=').count()];
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_' | b'\\');
    if body.starts_with(b"eyJ") && body.iter().filter(|&&c| c == b'.').count() == 2 {
        return body.split(|&c| c == b'.').all(|part| part.iter().all(b64));
    }
    // A backslash only as the JSON escape of '/'.
    let escapes_ok =
        body.windows(2).all(|w| w[0] != b'\\' || w[1] == b'/') && body.last() != Some(&b'\\');
    escapes_ok && body.iter().all(b64)
}
