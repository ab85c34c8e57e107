//! Finding the start of the next HTTP/1.x message in a byte stream.
//!
//! Used when a capture joins a connection mid-stream, after bytes went
//! missing, and when the roles of a connection's two sides are not known
//! yet. A message start is a line at a line boundary (or at the start of the
//! stream / right after a gap) that is a complete, well-formed request line
//! (`METHOD SP target SP HTTP/1.x`) or status line (`HTTP/1.x SP 3DIGIT`).
//! The buffer is bounded: bytes that can no longer begin a message are
//! dropped and counted.

use crate::reasm::SegMeta;

/// Longest start line considered.
pub(crate) const MAX_LINE: usize = 8192;

/// What to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Request,
    Response,
    Either,
}

/// What was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    Request,
    Response,
}

/// Bytes handed back from the hunting buffer, in stream order.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub meta: SegMeta,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Hunter {
    buf: Vec<u8>,
    /// (position in `buf`, metadata, stream offset) of each appended chunk.
    marks: Vec<(usize, SegMeta, u64)>,
    /// Next position to examine.
    pos: usize,
    /// `pos` is at a line start (a candidate).
    at_line_start: bool,
}

impl Hunter {
    /// A hunter whose first byte is a candidate when `boundary` (start of
    /// stream, right after a gap).
    pub fn new(boundary: bool) -> Hunter {
        Hunter {
            at_line_start: boundary,
            ..Hunter::default()
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Appends the next bytes of the stream.
    pub fn push(&mut self, meta: SegMeta, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.at_line_start && self.pos == self.buf.len() {
            // Messages usually start at a segment boundary: the first byte
            // of a segment is a candidate too.
            self.at_line_start = true;
        }
        self.marks.push((self.buf.len(), meta, offset));
        self.buf.extend_from_slice(bytes);
    }

    /// Looks for a message start. On `None`, bytes that cannot start a
    /// message are dropped; their count is added to `skipped`.
    pub fn find(&mut self, want: Want, skipped: &mut u64) -> Option<(usize, Found)> {
        loop {
            if !self.at_line_start {
                match self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.pos += i + 1;
                        self.at_line_start = true;
                    }
                    None => {
                        self.pos = self.buf.len();
                        break;
                    }
                }
            }
            let rest = &self.buf[self.pos..];
            match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(i) => {
                    if let Some(found) = classify(&rest[..=i], want) {
                        return Some((self.pos, found));
                    }
                    self.pos += i + 1;
                }
                None => {
                    if rest.len() >= MAX_LINE || !could_start(rest, want) {
                        self.at_line_start = false;
                        self.pos = self.buf.len();
                    }
                    break;
                }
            }
        }
        self.trim(skipped);
        None
    }

    fn trim(&mut self, skipped: &mut u64) {
        let keep_from = self.pos;
        if keep_from == 0 {
            return;
        }
        *skipped += keep_from as u64;
        self.buf.drain(..keep_from);
        // Keep the mark that covers the new first byte.
        let first_kept = self
            .marks
            .iter()
            .rposition(|m| m.0 <= keep_from)
            .unwrap_or(0);
        self.marks.drain(..first_kept);
        for m in &mut self.marks {
            if m.0 <= keep_from {
                m.2 += (keep_from - m.0) as u64;
                m.0 = 0;
            } else {
                m.0 -= keep_from;
            }
        }
        self.pos = 0;
    }

    /// Takes the bytes from `pos` on as pieces, dropping (and counting) the
    /// bytes before it, and leaves the hunter empty.
    pub fn take_from(&mut self, pos: usize, skipped: &mut u64) -> Vec<Candidate> {
        *skipped += pos as u64;
        let mut out = Vec::with_capacity(self.marks.len());
        let marks = std::mem::take(&mut self.marks);
        let buf = std::mem::take(&mut self.buf);
        for (i, (at, meta, offset)) in marks.iter().enumerate() {
            let end = marks.get(i + 1).map_or(buf.len(), |m| m.0);
            if end <= pos {
                continue;
            }
            let start = (*at).max(pos);
            out.push(Candidate {
                meta: *meta,
                offset: offset + (start - at) as u64,
                bytes: buf[start..end].to_vec(),
            });
        }
        self.pos = 0;
        self.at_line_start = false;
        out
    }

    /// Drops everything held (a gap follows); the next byte is a candidate.
    pub fn reset_at_gap(&mut self, skipped: &mut u64) {
        *skipped += self.buf.len() as u64;
        self.buf.clear();
        self.marks.clear();
        self.pos = 0;
        self.at_line_start = true;
    }
}

/// True when `partial` (no LF yet) could still become a start line.
fn could_start(partial: &[u8], want: Want) -> bool {
    let req = || {
        let method_len = partial.iter().take_while(|&&b| is_method_byte(b)).count();
        if method_len > 32 {
            return false;
        }
        match partial.get(method_len) {
            None => true,
            Some(&b) => method_len > 0 && b == b' ',
        }
    };
    let resp = || {
        let n = partial.len().min(7);
        partial[..n] == b"HTTP/1."[..n]
    };
    match want {
        Want::Request => req(),
        Want::Response => resp(),
        Want::Either => req() || resp(),
    }
}

fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'-' || b == b'_'
}

/// Classifies a complete line (ending in LF).
pub(crate) fn classify(line: &[u8], want: Want) -> Option<Found> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if want != Want::Request && is_status_line(line) {
        return Some(Found::Response);
    }
    if want != Want::Response && is_request_line(line) {
        return Some(Found::Request);
    }
    None
}

fn is_version(v: &[u8]) -> bool {
    v == b"HTTP/1.1" || v == b"HTTP/1.0"
}

fn is_request_line(line: &[u8]) -> bool {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.len() <= 32
        && method.iter().all(|&b| is_method_byte(b))
        && !target.is_empty()
        && target.iter().all(|&b| b > b' ' && b != 0x7f)
        && is_version(version)
}

fn is_status_line(line: &[u8]) -> bool {
    if line.len() < 12 || !is_version(&line[..8]) || line[8] != b' ' {
        return false;
    }
    let code = &line[9..12];
    code.iter().all(u8::is_ascii_digit)
        && (line.len() == 12 || line[12] == b' ')
        && line[12..]
            .iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: SegMeta = SegMeta {
        ts_ns: 0,
        ack: None,
    };

    #[test]
    fn lines() {
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\n", Want::Either),
            Some(Found::Request)
        );
        assert_eq!(
            classify(b"M-SEARCH * HTTP/1.1\n", Want::Request),
            Some(Found::Request)
        );
        assert_eq!(
            classify(b"HTTP/1.1 200 OK\r\n", Want::Either),
            Some(Found::Response)
        );
        assert_eq!(
            classify(b"HTTP/1.0 404\r\n", Want::Response),
            Some(Found::Response)
        );
        assert_eq!(
            classify(b"HTTP/1.1 100 Keep Going Please\r\n", Want::Response),
            Some(Found::Response)
        );
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n", Want::Request), None);
        assert_eq!(classify(b"get / HTTP/1.1\r\n", Want::Request), None);
        assert_eq!(classify(b"GET  / HTTP/1.1\r\n", Want::Request), None);
        assert_eq!(classify(b"GET / HTTP/2\r\n", Want::Request), None);
        assert_eq!(classify(b"Host: x\r\n", Want::Either), None);
    }

    #[test]
    fn finds_after_garbage_and_keeps_pieces() {
        let mut h = Hunter::new(false);
        let mut skipped = 0;
        h.push(M, 100, b"dy bytes\r\nGET /a HT");
        assert_eq!(h.find(Want::Request, &mut skipped), None);
        assert_eq!(skipped, 10);
        h.push(M, 120, b"TP/1.1\r\nHost: x\r\n\r\n");
        let (pos, f) = h.find(Want::Request, &mut skipped).unwrap();
        assert_eq!(f, Found::Request);
        let pieces = h.take_from(pos, &mut skipped);
        let all: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.clone()).collect();
        assert_eq!(all, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(pieces[0].offset, 110);
        assert_eq!(pieces[1].offset, 120);
    }

    #[test]
    fn boundary_candidate_and_bound() {
        let mut h = Hunter::new(true);
        let mut skipped = 0;
        h.push(M, 0, b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(
            h.find(Want::Response, &mut skipped),
            Some((0, Found::Response))
        );
        let mut h = Hunter::new(false);
        for i in 0..100 {
            h.push(M, i * 1000, &[b'x'; 1000]);
            assert_eq!(h.find(Want::Either, &mut skipped), None);
        }
        assert!(h.len() <= MAX_LINE);
    }
}
