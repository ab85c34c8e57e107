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
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

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
/// while they fit, else their length and hash. Refuses bytes past
/// [`MAX_INFLATE`] (the decoders above it then stop).
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

    /// Bytes are hashed only once they no longer fit: a body that fits is
    /// compared by its bytes, and hashing them too would cost as much as
    /// the JSON diff's parse.
    fn push(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        if self.over {
            self.hasher.write(data);
            return;
        }
        if self.kept.len() + data.len() <= self.max {
            self.kept.extend_from_slice(data);
        } else {
            self.over = true;
            self.hasher.write(&self.kept);
            self.hasher.write(data);
            self.kept = Vec::new();
        }
    }

    fn cut(&self) -> bool {
        self.len > MAX_INFLATE
    }

    fn content(&mut self) -> Content {
        if !self.over {
            Content::Bytes(std::mem::take(&mut self.kept))
        } else {
            Content::Digest {
                len: self.len,
                hash: self.hasher.clone().finish(),
            }
        }
    }
}

/// The end of a decoder chain: writes into the [`Keeper`] the decoder
/// reads at the end (a lock only this chain and then `finish` take).
struct Sink(Arc<Mutex<Keeper>>);

fn lock(k: &Mutex<Keeper>) -> std::sync::MutexGuard<'_, Keeper> {
    k.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One stage of a decoder chain: a writer that can say it is done, so
/// that a stream cut short or corrupt at its end is noticed, and that
/// hands its end on to the next stage.
trait Layer: Write + Send {
    fn end(&mut self) -> io::Result<()>;
}

/// A chain a decoder can own across a task's awaits.
type Chain = Box<dyn Layer>;

impl Layer for Sink {
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Layer for flate2::write::MultiGzDecoder<Chain> {
    fn end(&mut self) -> io::Result<()> {
        self.try_finish()?;
        self.get_mut().end()
    }
}

impl Layer for flate2::write::ZlibDecoder<Chain> {
    fn end(&mut self) -> io::Result<()> {
        self.try_finish()?;
        self.get_mut().end()
    }
}

impl Layer for flate2::write::DeflateDecoder<Chain> {
    fn end(&mut self) -> io::Result<()> {
        self.try_finish()?;
        self.get_mut().end()
    }
}

impl Layer for brotli_decompressor::DecompressorWriter<Chain> {
    fn end(&mut self) -> io::Result<()> {
        self.close()?;
        self.get_mut().end()
    }
}

impl Layer for zstd::stream::write::Decoder<'static, Chain> {
    fn end(&mut self) -> io::Result<()> {
        self.flush()?;
        self.get_mut().end()
    }
}

impl Layer for Deflate {
    fn end(&mut self) -> io::Result<()> {
        self.flush()?;
        match self.inner.as_mut() {
            Some(w) => w.end(),
            None => Ok(()),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut k = lock(&self.0);
        if k.cut() {
            return Err(io::Error::other(format!(
                "inflates past {MAX_INFLATE} bytes"
            )));
        }
        k.push(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `deflate`: zlib-wrapped as HTTP says, or raw as some servers send it;
/// the first two bytes tell which.
struct Deflate {
    first: Vec<u8>,
    inner: Option<Chain>,
    next: Option<Chain>,
}

impl Deflate {
    /// Picks the decoder by the first bytes: those held, then `more`.
    fn choose(&mut self, more: &[u8]) {
        let mut probe = self.first.clone();
        probe.extend(more.iter().take(2));
        if let Some(next) = self.next.take() {
            self.inner = Some(if looks_like_zlib(&probe) {
                Box::new(flate2::write::ZlibDecoder::new(next))
            } else {
                Box::new(flate2::write::DeflateDecoder::new(next))
            });
        }
    }
}

impl Write for Deflate {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.inner.is_none() && self.first.len() + data.len() < 2 {
            self.first.extend_from_slice(data);
            return Ok(data.len());
        }
        if self.inner.is_none() {
            self.choose(data);
            let first = std::mem::take(&mut self.first);
            if let Some(w) = self.inner.as_mut() {
                w.write_all(&first)?;
            }
        }
        match self.inner.as_mut() {
            Some(w) => w.write(data),
            None => Ok(data.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.inner.is_none() && !self.first.is_empty() {
            self.choose(&[]);
            let first = std::mem::take(&mut self.first);
            if let Some(w) = self.inner.as_mut() {
                w.write_all(&first)?;
            }
        }
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

/// The writer that undoes `coding` into `next`.
fn undo(coding: &str, next: Chain) -> Result<Chain, String> {
    Ok(match coding {
        "gzip" | "x-gzip" => Box::new(flate2::write::MultiGzDecoder::new(next)),
        "deflate" => Box::new(Deflate {
            first: Vec::new(),
            inner: None,
            next: Some(next),
        }),
        "br" => Box::new(brotli_decompressor::DecompressorWriter::new(next, 64 << 10)),
        "zstd" => Box::new(zstd::stream::write::Decoder::new(next).map_err(|e| e.to_string())?),
        other => return Err(format!("unknown coding {other:?}")),
    })
}

/// Decodes a body fed to it in pieces, as it arrives: framing first, then
/// each content coding, into at most `max` kept bytes (see [`Content`]).
/// Memory stays bounded whatever the body's size.
pub struct Decoder {
    framer: Framer,
    /// False once the body is not framed as its head says: the bytes are
    /// then taken as they come.
    framed_ok: bool,
    chain: Option<Chain>,
    keeper: Arc<Mutex<Keeper>>,
    /// With codings to undo: the body's data as it came, the content should
    /// one of them fail.
    raw: Option<Keeper>,
    /// The codings undone, as the head lists them (for messages).
    codings: String,
    undecoded: Option<String>,
    /// A coding failed: nothing more is decoded, and the content is the
    /// data as it came.
    failed: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("framed_ok", &self.framed_ok)
            .field("undecoded", &self.undecoded)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Writes `data` into the chain unless it failed (recording why).
fn write_into(
    chain: &mut Option<Chain>,
    raw: &mut Option<Keeper>,
    failed: &mut bool,
    undecoded: &mut Option<String>,
    codings: &str,
    data: &[u8],
) {
    if let Some(r) = raw.as_mut() {
        r.push(data);
    }
    if *failed || data.is_empty() {
        return;
    }
    if let Some(w) = chain.as_mut() {
        if let Err(e) = w.write_all(data) {
            *failed = true;
            undecoded.get_or_insert_with(|| format!("{codings}: {e}"));
        }
    }
}

impl Decoder {
    /// A decoder for the body of a response with `head` (status line and
    /// fields) to a request with `method`.
    pub fn new(head: &[u8], method: &str, max: usize) -> Decoder {
        let keeper = Arc::new(Mutex::new(Keeper::new(max)));
        let mut framer = Framer::response(method).lenient();
        let framed_ok = framer.feed(head).is_ok();
        let codings = header_value(head, "content-encoding")
            .map(|v| String::from_utf8_lossy(v).to_ascii_lowercase())
            .unwrap_or_default();
        let mut chain: Chain = Box::new(Sink(keeper.clone()));
        let mut undecoded = None;
        let mut layers = 0;
        // Listed in the order applied: the first applied is undone last,
        // so it is nearest the sink.
        for coding in codings
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty() && *c != "identity")
        {
            match undo(coding, chain) {
                Ok(w) => {
                    chain = w;
                    layers += 1;
                }
                Err(why) => {
                    // Compare the bytes as they are before that coding.
                    undecoded = Some(format!("{coding}: {why}"));
                    chain = Box::new(Sink(keeper.clone()));
                    layers = 0;
                }
            }
        }
        Decoder {
            framer,
            framed_ok,
            chain: Some(chain),
            keeper,
            raw: (layers > 0).then(|| Keeper::new(max)),
            codings: codings.trim().to_owned(),
            undecoded,
            failed: false,
        }
    }

    /// The next bytes of the body as on the wire.
    pub fn push(&mut self, wire: &[u8]) {
        let Decoder {
            framer,
            framed_ok,
            chain,
            raw,
            codings,
            undecoded,
            failed,
            ..
        } = self;
        if !*framed_ok {
            // Not framed as its head says: the bytes as they came.
            write_into(chain, raw, failed, undecoded, codings, wire);
            return;
        }
        let fed = framer.feed_data(wire, &mut |d| {
            write_into(chain, raw, failed, undecoded, codings, d)
        });
        match fed {
            // Bytes past the end of the message are not the body's.
            Ok(_) => {}
            Err(_) => *framed_ok = false,
        }
    }

    /// The body ended; `all` says whether every byte of it was pushed (the
    /// recording may have cut it).
    pub fn finish(mut self, all: bool) -> Decoded {
        let mut complete = all && self.framed_ok;
        if self.framed_ok && !self.framer.is_complete() && !self.framer.finish() {
            complete = false;
        }
        if let Some(mut w) = self.chain.take() {
            if !self.failed {
                if let Err(e) = w.end() {
                    self.failed = true;
                    let codings = &self.codings;
                    self.undecoded
                        .get_or_insert_with(|| format!("{codings}: {e}"));
                }
            }
        }
        let mut k = lock(&self.keeper);
        let content = if k.cut() {
            // Inflated past the bound: not the whole body.
            complete = false;
            k.content()
        } else {
            match self.raw.as_mut() {
                Some(raw) if self.failed => raw.content(),
                _ => k.content(),
            }
        };
        Decoded {
            content,
            complete,
            undecoded: self.undecoded,
        }
    }
}

/// Decodes the body of a response with head `head` (status line and
/// fields) to a request with method `method`: `wire` is the body as
/// captured, `wire_len` how long it was on the wire. Keeps at most `max`
/// decoded bytes.
pub fn decode(head: &[u8], method: &str, wire: &[u8], wire_len: u64, max: usize) -> Decoded {
    let mut d = Decoder::new(head, method, max);
    d.push(wire);
    d.finish(wire.len() as u64 >= wire_len)
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
