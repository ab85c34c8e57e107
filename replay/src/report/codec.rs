//! Histograms in a report: HdrHistogram's V2 deflate serialization, base64
//! encoded ([`HISTOGRAM_ENCODING`](super::HISTOGRAM_ENCODING)), and back, bounded.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::{ReportError, MAX_ENCODED_HISTOGRAM};
use crate::stats::{add_histogram, new_histogram};

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
