//! Decoding a body as it arrives: framing first, then each content
//! coding as a chain of writers, into a bounded [`Content`].

use std::hash::Hasher;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use shadowtap_format::http1::{header_value, Framer};

use super::{Content, Decoded, MAX_INFLATE};

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
