//! Response bodies: framing and content codings undone, then compared by
//! their type.
//!
//! A body arrives as it was on the wire (chunked framing kept, compressed
//! as the server sent it, possibly cut at the capture's body cap).
//! [`decode`] frames it by its head, undoes `Content-Encoding` (gzip,
//! deflate, br, zstd, in the order listed), and keeps at most the
//! comparison's size bound: past it, only the decoded length and a hash
//! are kept ([`Content::Digest`]), so a body of any size costs bounded
//! memory. A body the recording cut short is [`Decoded::complete`] false:
//! it cannot be compared, and the caller counts it rather than reporting a
//! difference that is not there.

use super::{excerpt, excerpt_bytes, Difference, Field, Kind};

mod decode;

pub use decode::{decode, Decoder};

/// Decoded bytes kept at most for a body whose coding expands it: the
/// bound of the bytes a compressed body may inflate to (a "zip bomb" stops
/// there; what was read is hashed, and the body is marked cut).
pub const MAX_INFLATE: u64 = 256 << 20;

/// How a body is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`, `*/*+json`, or no type and a body that starts
    /// like JSON: structurally.
    Json,
    /// `application/x-www-form-urlencoded`: by key.
    Form,
    /// `text/*`, `*/xml`, `*/*+xml`, `application/javascript`: by line.
    Text,
    /// Anything else: by length and content.
    Binary,
}

impl BodyType {
    /// The type of a body with this `Content-Type` (the media type only;
    /// parameters such as `charset` are ignored) and these first bytes.
    pub fn of(content_type: Option<&[u8]>, body: &[u8]) -> BodyType {
        let Some(ct) = content_type else {
            let start = body.iter().find(|b| !b.is_ascii_whitespace());
            return match start {
                Some(b'{') | Some(b'[') => BodyType::Json,
                _ => BodyType::Binary,
            };
        };
        let media = ct
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let media = String::from_utf8_lossy(media).to_ascii_lowercase();
        let (top, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        if sub == "json" || sub.ends_with("+json") || sub == "x-ndjson" {
            BodyType::Json
        } else if media == "application/x-www-form-urlencoded" {
            BodyType::Form
        } else if top == "text"
            || sub == "xml"
            || sub.ends_with("+xml")
            || sub == "javascript"
            || sub == "ecmascript"
        {
            BodyType::Text
        } else {
            BodyType::Binary
        }
    }
}

/// A decoded body, or what is kept of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// All of it, decoded.
    Bytes(Vec<u8>),
    /// Too large to keep: its decoded length and a hash of it.
    Digest { len: u64, hash: u64 },
}

/// A body after [`decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub content: Content,
    /// False when the bytes at hand were not the whole body (the capture's
    /// body cap, a body cut by the connection, or inflation past
    /// [`MAX_INFLATE`]).
    pub complete: bool,
    /// A coding that could not be undone (unknown, or corrupt data): the
    /// content is then the bytes as they were before it.
    pub undecoded: Option<String>,
}

/// Two text bodies by line (`\n`, a trailing `\r` dropped): at most one
/// difference, at `body`, naming the first line that differs.
pub fn diff_text(baseline: &[u8], candidate: &[u8]) -> Option<Difference> {
    if baseline == candidate {
        return None;
    }
    let a: Vec<&[u8]> = lines(baseline).collect();
    let b: Vec<&[u8]> = lines(candidate).collect();
    if a == b {
        return None;
    }
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    let show = |lines: &[&[u8]], i: usize| match lines.get(i) {
        Some(l) => excerpt(&format!("line {}: {}", i + 1, String::from_utf8_lossy(l))),
        None => format!("{} lines", lines.len()),
    };
    let (kind, i) = match first {
        Some(i) => (Kind::Value, i),
        // One is the other with lines added at the end.
        None => (Kind::Length, a.len().min(b.len())),
    };
    Some(Difference {
        field: Field::Body,
        kind,
        baseline: Some(show(&a, i)),
        candidate: Some(show(&b, i)),
        noise: None,
    })
}

fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Two bodies compared as bytes: a `length` difference when their lengths
/// differ, else a `value` one; excerpts show the start of each (or their
/// length and hash when they are digests).
pub fn diff_bytes(baseline: &Content, candidate: &Content) -> Option<Difference> {
    let (a_len, b_len) = (content_len(baseline), content_len(candidate));
    let same = match (baseline, candidate) {
        (Content::Bytes(a), Content::Bytes(b)) => a == b,
        (Content::Digest { len: la, hash: ha }, Content::Digest { len: lb, hash: hb }) => {
            la == lb && ha == hb
        }
        _ => false,
    };
    if same {
        return None;
    }
    let show = |c: &Content| match c {
        Content::Bytes(b) if b.is_empty() => "0 bytes".to_owned(),
        Content::Bytes(b) => excerpt(&format!("{} bytes: {}", b.len(), excerpt_bytes(b))),
        Content::Digest { len, hash } => format!("{len} bytes, hash {hash:016x}"),
    };
    Some(Difference {
        field: Field::Body,
        kind: if a_len == b_len {
            Kind::Value
        } else {
            Kind::Length
        },
        baseline: Some(show(baseline)),
        candidate: Some(show(candidate)),
        noise: None,
    })
}

fn content_len(c: &Content) -> u64 {
    match c {
        Content::Bytes(b) => b.len() as u64,
        Content::Digest { len, .. } => *len,
    }
}

/// A form body as a JSON object of its keys, each key's values in order (a
/// key given once is a string, a key repeated an array of strings), so
/// that forms compare by key with the JSON diff and its pointers.
pub fn form_as_json(body: &[u8]) -> Vec<u8> {
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let (k, v) = (percent_decode(k), percent_decode(v));
        match keys.iter_mut().find(|(name, _)| *name == k) {
            Some((_, values)) => values.push(v),
            None => keys.push((k, vec![v])),
        }
    }
    let mut map = serde_json::Map::new();
    for (k, mut values) in keys {
        let value = if values.len() == 1 {
            serde_json::Value::String(values.remove(0))
        } else {
            serde_json::Value::Array(values.into_iter().map(serde_json::Value::String).collect())
        };
        map.insert(k, value);
    }
    serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; invalid escapes stay as they are; invalid UTF-8 is replaced.
fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests;
