//! [`GorWriter`]: exchanges in, payloads out.

use std::io::{self, Write};

use shadowtap_format::Exchange;

use super::{Kind, SEPARATOR};

/// Why an exchange was left out of a `.gor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Skipped {
    /// Its request or response holds the payload separator, which would
    /// cut the payload short when read back (the format has no escaping).
    #[error("its bytes contain the .gor payload separator")]
    HoldsSeparator,
}

/// Writes exchanges as `.gor` payloads: per exchange a request (type 1,
/// latency `-1` as current GoReplay writes it) and, when there is one, its
/// original response (type 2, the same id, the latency from the request's
/// first byte to the response's, `-1` when the response's is earlier), each
/// followed by [`SEPARATOR`].
///
/// The id is [`ID_DIGITS`](super::ID_DIGITS) hex digits: the low 32 bits
/// of the connection id, then the exchange's position in the output
/// (1, 2, …), so it is unique per exchange and the same on every run.
pub struct GorWriter<W> {
    w: W,
    written: u64,
    payload: Vec<u8>,
}

impl<W: Write> GorWriter<W> {
    /// A writer to `w` (which the caller buffers).
    pub fn new(w: W) -> Self {
        GorWriter {
            w,
            written: 0,
            payload: Vec::new(),
        }
    }

    /// Writes `ex`, or says why a `.gor` cannot carry it (nothing written).
    pub fn write(&mut self, ex: &Exchange) -> io::Result<Result<(), Skipped>> {
        let id = format!("{:08x}{:016x}", ex.conn as u32, self.written + 1);
        let req = payload(Kind::Request, &id, ex.req_first_ns, None, &[&ex.request]);
        if holds_separator(&req) {
            return Ok(Err(Skipped::HoldsSeparator));
        }
        self.payload.clear();
        if let Some(r) = &ex.response {
            // A response recorded as starting before its request (clocks
            // differ) has no latency to write: `-1`, and the reader takes
            // the response's own timestamp.
            let latency = r.first_ns.checked_sub(ex.req_first_ns);
            self.payload = payload(
                Kind::Response,
                &id,
                r.first_ns,
                latency,
                &[&r.head, &r.body],
            );
            if holds_separator(&self.payload) {
                return Ok(Err(Skipped::HoldsSeparator));
            }
        }
        self.w.write_all(&req)?;
        self.w.write_all(SEPARATOR)?;
        if ex.response.is_some() {
            self.w.write_all(&self.payload)?;
            self.w.write_all(SEPARATOR)?;
        }
        self.written += 1;
        Ok(Ok(()))
    }

    /// Exchanges written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The writer back, flushed.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.w.flush()?;
        Ok(self.w)
    }
}

/// A meta line and the message parts after it.
fn payload(kind: Kind, id: &str, ts_ns: u64, latency: Option<u64>, parts: &[&[u8]]) -> Vec<u8> {
    let latency = latency.map_or_else(|| "-1".to_string(), |l| l.to_string());
    let meta = format!("{} {id} {ts_ns} {latency}\n", kind.byte() as char);
    let len = meta.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(meta.as_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// True when `payload` followed by the separator would be read back cut
/// short: it holds the separator, or ends with all of it but the last line
/// feed (whose own line feed then completes one). No other overlap exists:
/// the separator's middle has no line feed.
pub(super) fn holds_separator(payload: &[u8]) -> bool {
    let head = &SEPARATOR[..SEPARATOR.len() - 1];
    payload.ends_with(head)
        || payload
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && payload[i..].starts_with(SEPARATOR))
}
