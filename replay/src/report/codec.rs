//! Histograms in a report: HdrHistogram's V2 deflate serialization, base64
//! encoded ([`HISTOGRAM_ENCODING`](super::HISTOGRAM_ENCODING)), and back, bounded.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use std::io::Read as _;

use super::{ReportError, MAX_ENCODED_HISTOGRAM};
use crate::stats::{add_histogram, new_histogram, HIST_SIGFIG};

/// HdrHistogram's cookie of a V2 deflate histogram (the only encoding a
/// report holds), and of the V2 encoding inside it.
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
const V2_COOKIE: u32 = 0x1c84_9313;
/// Bytes of the V2 header: cookie, payload length, normalizing offset,
/// significant digits, lowest and highest value, conversion ratio.
const V2_HEADER: usize = 40;
/// The largest counts payload a histogram of [`HIST_SIGFIG`] digits can
/// need, whatever its range (some 55,000 counts of at most 9 bytes each),
/// with room to spare.
const MAX_COUNTS_PAYLOAD: u32 = 1 << 20;

/// Checks the header of a V2 deflate histogram before the crate's
/// deserializer, which allocates what the header says (its counts payload,
/// and counts for its range and precision) before reading anything more:
/// a report from elsewhere may say gigabytes. Only the header is inflated.
fn check_header(bytes: &[u8]) -> Result<(), &'static str> {
    let cookie = bytes
        .get(..4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    if cookie != Some(V2_DEFLATE_COOKIE) {
        return Err("not a V2 deflate histogram");
    }
    let mut header = [0u8; V2_HEADER];
    flate2::read::ZlibDecoder::new(bytes.get(8..).unwrap_or_default())
        .read_exact(&mut header)
        .map_err(|_| "its header does not inflate")?;
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    if word(0) != V2_COOKIE {
        return Err("not a V2 histogram inside");
    }
    if word(4) > MAX_COUNTS_PAYLOAD {
        return Err("its counts are longer than any histogram of shadowtap's");
    }
    if word(12) > u32::from(HIST_SIGFIG) {
        return Err("its precision is finer than shadowtap's");
    }
    Ok(())
}

pub(super) fn encode(
    h: &Histogram<u64>,
    ser: &mut V2DeflateSerializer,
    buf: &mut Vec<u8>,
) -> String {
    buf.clear();
    match ser.serialize(h, buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&buf[..]),
        // Serializing into a Vec only fails on internal limits the bounded
        // histograms here never reach; an empty string decodes as an empty
        // histogram.
        Err(_) => String::new(),
    }
}

pub(super) fn decode(s: &str, target: &str, field: &str) -> Result<Histogram<u64>, ReportError> {
    let mut out = new_histogram();
    if s.is_empty() {
        return Ok(out);
    }
    if s.len() / 4 * 3 > MAX_ENCODED_HISTOGRAM {
        return Err(ReportError::HistogramTooLarge {
            target: target.to_owned(),
            field: field.to_owned(),
            len: s.len() / 4 * 3,
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|source| ReportError::Base64 {
            target: target.to_owned(),
            field: field.to_owned(),
            source,
        })?;
    check_header(&bytes).map_err(|why| ReportError::HistogramHeader {
        target: target.to_owned(),
        field: field.to_owned(),
        why,
    })?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|source| ReportError::Histogram {
            target: target.to_owned(),
            field: field.to_owned(),
            source,
        })?;
    add_histogram(&mut out, &h);
    Ok(out)
}
