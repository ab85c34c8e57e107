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

use std::hash::Hasher;
use std::io::Read;

use shadowtap_format::http1::{header_value, Framer};

use super::{excerpt, excerpt_bytes, Difference, Field, Kind};

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

/// Builds a [`Content`] of at most `max` bytes from pieces: all of them
/// while they fit, else their length and hash.
struct Keeper {
    max: usize,
    /// Every byte pushed, while they fit in `max`.
    kept: Vec<u8>,
    over: bool,
    len: u64,
    hasher: std::collections::hash_map::DefaultHasher,
}

impl Keeper {
    fn new(max: usize) -> Keeper {
        Keeper {
            max,
            kept: Vec::new(),
            over: false,
            len: 0,
            hasher: Default::default(),
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        self.hasher.write(data);
        if self.over {
            return;
        }
        if self.kept.len() + data.len() <= self.max {
            self.kept.extend_from_slice(data);
        } else {
            self.over = true;
            self.kept = Vec::new();
        }
    }

    fn finish(self) -> Content {
        if !self.over {
            Content::Bytes(self.kept)
        } else {
            Content::Digest {
                len: self.len,
                hash: self.hasher.finish(),
            }
        }
    }
}

/// Decodes the body of a response with head `head` (status line and
/// fields) to a request with method `method`: `wire` is the body as
/// captured, `wire_len` how long it was on the wire. Keeps at most `max`
/// decoded bytes.
pub fn decode(head: &[u8], method: &str, wire: &[u8], wire_len: u64, max: usize) -> Decoded {
    let mut complete = wire.len() as u64 >= wire_len;
    // Framing first: the data of a chunked body, or the body as it is.
    let mut framer = Framer::response(method).lenient();
    let mut data = Vec::with_capacity(wire.len().min(max.saturating_add(1)));
    let framed = framer
        .feed(head)
        .and_then(|_| framer.feed_data(wire, &mut |d| data.extend_from_slice(d)));
    let data = match framed {
        Ok(_) => {
            if !framer.is_complete() && !framer.finish() {
                complete = false;
            }
            data
        }
        // Not framed as its head says (a cut chunk, a bad size): the bytes
        // as captured, marked cut when the framing was what failed.
        Err(_) => {
            complete = false;
            wire.to_vec()
        }
    };
    let codings = header_value(head, "content-encoding")
        .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
        .unwrap_or_default();
    let codings: Vec<&str> = codings
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "identity")
        .collect();
    if codings.is_empty() {
        let mut keeper = Keeper::new(max);
        keeper.push(&data);
        return Decoded {
            content: keeper.finish(),
            complete,
            undecoded: None,
        };
    }
    // Codings are listed in the order they were applied: undo the last
    // first.
    let mut current = data;
    for (i, coding) in codings.iter().enumerate().rev() {
        let last = i == 0;
        let limit = if last { None } else { Some(MAX_INFLATE) };
        match inflate(coding, &current, max, limit) {
            Ok(Inflated::Bytes(b)) => current = b,
            Ok(Inflated::Kept(content, cut)) => {
                return Decoded {
                    content,
                    complete: complete && !cut,
                    undecoded: None,
                };
            }
            Err(why) => {
                let mut keeper = Keeper::new(max);
                keeper.push(&current);
                return Decoded {
                    content: keeper.finish(),
                    complete,
                    undecoded: Some(format!("{coding}: {why}")),
                };
            }
        }
    }
    let mut keeper = Keeper::new(max);
    keeper.push(&current);
    Decoded {
        content: keeper.finish(),
        complete,
        undecoded: None,
    }
}

/// The result of undoing one coding.
enum Inflated {
    /// All of it (an inner coding, still to undo: at most `MAX_INFLATE`).
    Bytes(Vec<u8>),
    /// The outermost coding's result, and whether it was cut.
    Kept(Content, bool),
}

/// Undoes `coding` on `input`. With `limit`, returns all the bytes (an
/// error past the limit); without, streams them into a [`Keeper`].
fn inflate(coding: &str, input: &[u8], max: usize, limit: Option<u64>) -> Result<Inflated, String> {
    let reader: Box<dyn Read + '_> = match coding {
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(input)),
        // HTTP's "deflate" is zlib-wrapped, but some servers send raw
        // deflate: the zlib header tells.
        "deflate" if looks_like_zlib(input) => Box::new(flate2::read::ZlibDecoder::new(input)),
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(input)),
        "br" => Box::new(brotli_decompressor::Decompressor::new(input, 64 << 10)),
        "zstd" => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(|e| e.to_string())?)
        }
        other => return Err(format!("unknown coding {other:?}")),
    };
    let mut reader = reader.take(MAX_INFLATE + 1);
    let mut buf = vec![0u8; 64 << 10];
    match limit {
        Some(limit) => {
            let mut out = Vec::new();
            loop {
                let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                if out.len() as u64 + n as u64 > limit {
                    return Err(format!("inflates past {limit} bytes"));
                }
                out.extend_from_slice(&buf[..n]);
            }
            Ok(Inflated::Bytes(out))
        }
        None => {
            let mut keeper = Keeper::new(max);
            loop {
                let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                keeper.push(&buf[..n]);
            }
            let cut = keeper.len > MAX_INFLATE;
            Ok(Inflated::Kept(keeper.finish(), cut))
        }
    }
}

/// A zlib stream's first two bytes: CM 8, and a header checksum.
fn looks_like_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
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
