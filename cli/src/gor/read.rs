//! [`GorReader`]: payloads in, exchanges out, in bounded memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, BufRead, Read as _};
use std::net::{Ipv4Addr, SocketAddr};

use shadowtap_format::http1::find_head_end;
use shadowtap_format::{Exchange, Response};

use super::{
    fnv1a, parse_meta, status_of, GorError, Kind, MAX_META, MAX_PAYLOAD, MAX_PENDING,
    MAX_PENDING_BYTES, SEPARATOR,
};

/// What a read counted, for the one-line warning after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GorStats {
    /// Payloads read (every type).
    pub payloads: u64,
    /// Type-1 payloads.
    pub requests: u64,
    /// Requests paired with a response.
    pub answered: u64,
    /// Exchanges without a response (flushed ones included).
    pub unanswered: u64,
    /// Of those, requests let go unanswered because more than
    /// [`MAX_PENDING`] requests or [`MAX_PENDING_BYTES`] bytes waited.
    pub flushed: u64,
    /// Type-2 payloads with no unanswered request of their id before them.
    pub unpaired_responses: u64,
    /// Type-3 payloads (replayed responses), skipped.
    pub replayed_skipped: u64,
}

/// A file that ends inside a payload: its writer was stopped before the
/// separator (or, for gzip, the compressed stream is cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the unfinished payload starts in the (uncompressed) stream.
    pub offset: u64,
    /// Bytes of it that were read and ignored.
    pub ignored_bytes: u64,
}

/// A request waiting for its response.
struct Pending {
    id: Vec<u8>,
    ts_ns: u64,
    request: Vec<u8>,
}

/// Reads exchanges from a `.gor` stream (uncompressed: wrap a `.gz` in a
/// decoder first).
///
/// Exchanges come out as their response arrives (ids 1, 2, … in that
/// order), then, at the end of the file, the requests never answered, in
/// file order. Addresses are unknown, so both are `0.0.0.0:0`; the
/// connection id is a hash of the payload id; a request's first and last
/// byte both get its timestamp; a response starts at the request's
/// timestamp plus the meta line's latency when it has one, else at its own
/// timestamp, and ends there too.
pub struct GorReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Bytes of the stream consumed before the payload being read.
    offset: u64,
    /// Where the payload in `buf` starts.
    payload_start: u64,
    /// Order of arrival of the requests waiting, and the requests.
    seq: u64,
    pending: BTreeMap<u64, Pending>,
    by_id: HashMap<Vec<u8>, VecDeque<u64>>,
    pending_bytes: usize,
    out: VecDeque<Exchange>,
    next_id: u64,
    stats: GorStats,
    /// The stream is done: no more payloads, the pending requests drain.
    done: bool,
    failed: bool,
    torn: Option<TornTail>,
}

impl<R: BufRead> GorReader<R> {
    /// A reader of `src`.
    pub fn new(src: R) -> Self {
        GorReader {
            src,
            buf: Vec::new(),
            offset: 0,
            payload_start: 0,
            seq: 0,
            pending: BTreeMap::new(),
            by_id: HashMap::new(),
            pending_bytes: 0,
            out: VecDeque::new(),
            next_id: 0,
            stats: GorStats::default(),
            done: false,
            failed: false,
            torn: None,
        }
    }

    /// What was counted so far; complete once [`next_exchange`] returned
    /// `None`.
    ///
    /// [`next_exchange`]: GorReader::next_exchange
    pub fn stats(&self) -> GorStats {
        self.stats
    }

    /// The torn tail the stream ended with, once it ended.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// The next exchange, `None` at the end (and after an error).
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, GorError> {
        loop {
            if let Some(ex) = self.out.pop_front() {
                return Ok(Some(ex));
            }
            if self.failed {
                return Ok(None);
            }
            if self.done {
                let Some((_, p)) = self.pending.pop_first() else {
                    return Ok(None);
                };
                self.stats.unanswered += 1;
                let ex = self.exchange(p, None);
                return Ok(Some(ex));
            }
            match self.read_payload() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    continue;
                }
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
            if let Err(e) = self.take_payload() {
                self.failed = true;
                return Err(e);
            }
        }
    }

    /// Reads the next payload into `buf` (without its separator): false at
    /// the end of the stream, a torn tail recorded when it ended inside one.
    fn read_payload(&mut self) -> Result<bool, GorError> {
        let limit = MAX_PAYLOAD + SEPARATOR.len();
        self.buf.clear();
        let start = self.offset;
        self.payload_start = start;
        let index = self.stats.payloads + 1;
        loop {
            if self.buf.len() >= limit {
                return Err(GorError::TooLong {
                    index,
                    offset: start,
                });
            }
            let room = (limit - self.buf.len()) as u64;
            let got = (&mut self.src).take(room).read_until(b'\n', &mut self.buf);
            self.offset = start + self.buf.len() as u64;
            match got {
                Ok(0) => {
                    self.end_at(start);
                    return Ok(false);
                }
                Ok(_) => {}
                // A gzip stream cut short: as torn as a plain file cut
                // mid-payload.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.end_at(start);
                    return Ok(false);
                }
                Err(source) => {
                    return Err(GorError::Io {
                        index,
                        offset: start,
                        source,
                    })
                }
            }
            // Every separator ends a line, so looking after each line finds
            // the first one.
            if self.buf.ends_with(SEPARATOR) {
                self.buf.truncate(self.buf.len() - SEPARATOR.len());
                self.stats.payloads += 1;
                return Ok(true);
            }
        }
    }

    fn end_at(&mut self, start: u64) {
        if !self.buf.is_empty() {
            self.torn = Some(TornTail {
                offset: start,
                ignored_bytes: self.buf.len() as u64,
            });
        }
    }

    /// Handles the payload in `buf`.
    fn take_payload(&mut self) -> Result<(), GorError> {
        let index = self.stats.payloads;
        let offset = self.payload_start;
        let meta_err = |source| GorError::Meta {
            index,
            offset,
            source,
        };
        let head = &self.buf[..self.buf.len().min(MAX_META + 1)];
        let nl = head
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(meta_err(super::MetaError::NoMetaLine))?;
        let meta = parse_meta(&self.buf[..nl]).map_err(meta_err)?;
        let (kind, ts_ns, latency_ns) = (meta.kind, meta.ts_ns, meta.latency_ns);
        let id = meta.id.to_vec();
        let data = self.buf[nl + 1..].to_vec();
        match kind {
            Kind::Request => self.add_request(id, ts_ns, data),
            Kind::Response => {
                let seq = self.by_id.get_mut(&id).and_then(VecDeque::pop_front);
                let Some(seq) = seq else {
                    self.stats.unpaired_responses += 1;
                    return Ok(());
                };
                if self.by_id.get(&id).is_some_and(VecDeque::is_empty) {
                    self.by_id.remove(&id);
                }
                let Some(p) = self.pending.remove(&seq) else {
                    self.stats.unpaired_responses += 1;
                    return Ok(());
                };
                self.pending_bytes -= p.id.len() + p.request.len();
                let first_ns = latency_ns.map_or(ts_ns, |l| p.ts_ns.saturating_add(l));
                self.stats.answered += 1;
                let ex = self.exchange(p, Some(response_of(data, first_ns)));
                self.out.push_back(ex);
            }
            Kind::Replayed => self.stats.replayed_skipped += 1,
        }
        Ok(())
    }

    fn add_request(&mut self, id: Vec<u8>, ts_ns: u64, request: Vec<u8>) {
        self.stats.requests += 1;
        self.seq += 1;
        self.pending_bytes += id.len() + request.len();
        self.by_id
            .entry(id.clone())
            .or_default()
            .push_back(self.seq);
        self.pending
            .insert(self.seq, Pending { id, ts_ns, request });
        while self.pending.len() > MAX_PENDING || self.pending_bytes > MAX_PENDING_BYTES {
            let Some((seq, p)) = self.pending.pop_first() else {
                break;
            };
            // The oldest request overall is the oldest of its id.
            if let Some(q) = self.by_id.get_mut(&p.id) {
                debug_assert_eq!(q.front(), Some(&seq));
                q.pop_front();
                if q.is_empty() {
                    self.by_id.remove(&p.id);
                }
            }
            self.pending_bytes -= p.id.len() + p.request.len();
            self.stats.flushed += 1;
            self.stats.unanswered += 1;
            let ex = self.exchange(p, None);
            self.out.push_back(ex);
        }
    }

    fn exchange(&mut self, p: Pending, response: Option<Response>) -> Exchange {
        self.next_id += 1;
        let unknown = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        Exchange {
            response,
            ..Exchange::new(
                self.next_id,
                fnv1a(&p.id),
                unknown,
                unknown,
                p.ts_ns,
                p.request,
            )
        }
    }
}

/// A response's bytes as a [`Response`]: the head up to its empty line
/// (all of it when there is none), the rest as the body.
fn response_of(mut data: Vec<u8>, first_ns: u64) -> Response {
    let head_end = find_head_end(&data, 0).unwrap_or(data.len());
    let body = data.split_off(head_end);
    Response::new(status_of(&data), first_ns, first_ns, data, body)
}
