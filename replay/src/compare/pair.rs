//! Pairing the exchanges of two logs of the same requests (`shadowtap
//! diff`).
//!
//! Two exchanges are the same request when they have the same identity:
//! method, request target and a hash of the body (the `Host` line and
//! other fields may differ: a replay rewrites them). Requests with the same
//! identity pair in the order they come.
//!
//! Logs recorded by a replay (`replay --record-responses`) say which
//! request each exchange replays ([`Exchange::origin`]), and which logs
//! those ids refer to (their `origin_log` meta). Then pairing is exact,
//! whatever the order the answers came in and however many requests look
//! alike ([`PairBy`], chosen by [`PairBy::choose`]): two recordings of
//! replays of the same logs pair by origin; a recording of a replay and the
//! log it replayed (its first: that log's ids are the origins) pair the
//! origin with the exchange id. Anything else pairs by identity.
//!
//! Both logs are read in step; an
//! exchange waits until its partner arrives, at most
//! [`Pairer::max_pending`] of them on both sides together: past that, the
//! oldest waiting one is given up as unmatched (counted), so memory stays
//! bounded whatever the logs hold.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use shadowtap_format::http1::{find_head_end, scan_request_line};
use shadowtap_format::{meta, Exchange, FileHeader};

use super::live::request_id;

/// Exchanges waiting for a partner at most, by default.
pub const DEFAULT_MAX_PENDING: usize = 65_536;

/// Which log an exchange came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Baseline,
    Candidate,
}

/// The identity of a request: method, target and body.
pub fn identity(request: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    match scan_request_line(request) {
        Some(line) => {
            line.method.hash(&mut h);
            line.uri.unwrap_or_default().hash(&mut h);
        }
        None => request.hash(&mut h),
    }
    if let Some(end) = find_head_end(request, 0) {
        request[end..].hash(&mut h);
    }
    h.finish()
}

/// How the exchanges of two logs are paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairBy {
    /// By request identity, in order.
    Identity,
    /// Both logs were recorded by replays of the same logs: by origin.
    Origin,
    /// The candidate was recorded by a replay of the baseline: the
    /// candidate's origin against the baseline's exchange id.
    CandidateReplaysBaseline,
    /// The baseline was recorded by a replay of the candidate.
    BaselineReplaysCandidate,
}

/// What [`PairBy::choose`] needs to know of a log: its header, and
/// whether its exchanges carry origins (its first one does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOrigins {
    /// The log's header `created_ns`.
    pub created_ns: u64,
    /// The `created_ns` of each log its origins refer to (`origin_log`
    /// meta), in order; `None` for an entry that does not read.
    pub origin_logs: Vec<Option<u64>>,
    /// Its first exchange has an origin.
    pub has_origins: bool,
}

impl LogOrigins {
    /// What `header` and the log's `first` exchange say.
    pub fn new(header: &FileHeader, first: Option<&Exchange>) -> LogOrigins {
        let origin_logs = header
            .meta
            .iter()
            .filter(|(k, _)| k == meta::ORIGIN_LOG)
            .map(|(_, v)| v.split(' ').next().and_then(|n| n.parse().ok()))
            .collect();
        LogOrigins {
            created_ns: header.created_ns,
            origin_logs,
            has_origins: first.is_some_and(|ex| ex.origin.is_some()),
        }
    }

    /// This log's origins refer to the log `other` (as its first log).
    fn replays(&self, other: &LogOrigins) -> bool {
        self.has_origins && self.origin_logs.first() == Some(&Some(other.created_ns))
    }
}

impl PairBy {
    /// How a `baseline` and a `candidate` log pair: by origin when both
    /// carry origins that refer to the same logs, origin against id when
    /// one was recorded by a replay of the other, by identity otherwise
    /// (also when origins refer to other logs: the ids would not mean the
    /// same requests).
    pub fn choose(baseline: &LogOrigins, candidate: &LogOrigins) -> PairBy {
        let same_logs = |a: &LogOrigins, b: &LogOrigins| {
            !a.origin_logs.is_empty()
                && a.origin_logs.iter().all(Option::is_some)
                && a.origin_logs == b.origin_logs
        };
        match (baseline.has_origins, candidate.has_origins) {
            (true, true) if same_logs(baseline, candidate) => PairBy::Origin,
            (false, true) if candidate.replays(baseline) => PairBy::CandidateReplaysBaseline,
            (true, false) if baseline.replays(candidate) => PairBy::BaselineReplaysCandidate,
            _ => PairBy::Identity,
        }
    }

    /// The id a pair is reported by: the request replayed when pairing by
    /// origin (the id `replay --compare` reports it by), otherwise the
    /// candidate's exchange id.
    pub fn report_id(self, baseline: &Exchange, candidate: &Exchange) -> u64 {
        let origin = match self {
            PairBy::Identity => None,
            PairBy::Origin | PairBy::CandidateReplaysBaseline => candidate.origin,
            PairBy::BaselineReplaysCandidate => baseline.origin,
        };
        origin.unwrap_or(candidate.id)
    }

    /// The key `ex` of `side` pairs by.
    fn key(self, side: Side, ex: &Exchange) -> Key {
        let id = match (self, side) {
            (PairBy::Identity, _) => None,
            (PairBy::Origin, _)
            | (PairBy::CandidateReplaysBaseline, Side::Candidate)
            | (PairBy::BaselineReplaysCandidate, Side::Baseline) => ex.origin,
            // The log replayed was the replay's first (index 0).
            _ => Some(request_id(0, ex.id)),
        };
        id.map_or_else(|| Key::Identity(identity(&ex.request)), Key::Request)
    }
}

/// What two exchanges pair by: a request id, or (without one) the
/// request's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Request(u64),
    Identity(u64),
}

/// What the pairing saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PairCounts {
    pub paired: u64,
    /// Baseline exchanges no candidate exchange matched.
    pub unmatched_baseline: u64,
    /// Candidate exchanges no baseline exchange matched.
    pub unmatched_candidate: u64,
    /// Of the unmatched, those given up because too many were waiting.
    pub given_up: u64,
}

/// Pairs two streams of exchanges (by identity unless told otherwise:
/// [`Pairer::by`]).
#[derive(Debug)]
pub struct Pairer {
    max_pending: usize,
    by: PairBy,
    waiting: HashMap<(Side, Key), VecDeque<(u64, Exchange)>>,
    /// Arrival order of what waits (entries already paired are skipped
    /// when met).
    order: VecDeque<(Side, Key, u64)>,
    pending: usize,
    serial: u64,
    counts: PairCounts,
}

impl Pairer {
    pub fn new(max_pending: usize) -> Pairer {
        Pairer {
            max_pending: max_pending.max(1),
            by: PairBy::Identity,
            waiting: HashMap::new(),
            order: VecDeque::new(),
            pending: 0,
            serial: 0,
            counts: PairCounts::default(),
        }
    }

    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// The same pairer, pairing `by` that.
    pub fn by(self, by: PairBy) -> Pairer {
        Pairer { by, ..self }
    }

    /// How it pairs.
    pub fn pair_by(&self) -> PairBy {
        self.by
    }

    /// An exchange from one side: its partner from the other side when it
    /// was waiting, as (baseline, candidate).
    pub fn push(&mut self, side: Side, ex: Exchange) -> Option<(Exchange, Exchange)> {
        let id = self.by.key(side, &ex);
        let other = match side {
            Side::Baseline => Side::Candidate,
            Side::Candidate => Side::Baseline,
        };
        if let Some(q) = self.waiting.get_mut(&(other, id)) {
            if let Some((_, partner)) = q.pop_front() {
                if q.is_empty() {
                    self.waiting.remove(&(other, id));
                }
                self.pending -= 1;
                self.counts.paired += 1;
                return Some(match side {
                    Side::Baseline => (ex, partner),
                    Side::Candidate => (partner, ex),
                });
            }
        }
        self.serial += 1;
        self.waiting
            .entry((side, id))
            .or_default()
            .push_back((self.serial, ex));
        self.order.push_back((side, id, self.serial));
        self.pending += 1;
        while self.pending > self.max_pending {
            self.give_up_oldest();
        }
        // Paired entries stay in `order` until met: keep it within twice
        // what waits.
        if self.order.len() > 2 * self.max_pending {
            let waiting = &self.waiting;
            self.order.retain(|(s, id, serial)| {
                waiting
                    .get(&(*s, *id))
                    .is_some_and(|q| q.iter().any(|(n, _)| n == serial))
            });
        }
        None
    }

    fn give_up_oldest(&mut self) {
        while let Some((side, id, serial)) = self.order.pop_front() {
            let Some(q) = self.waiting.get_mut(&(side, id)) else {
                continue;
            };
            if q.front().map(|(n, _)| *n) != Some(serial) {
                continue;
            }
            q.pop_front();
            if q.is_empty() {
                self.waiting.remove(&(side, id));
            }
            self.pending -= 1;
            self.counts.given_up += 1;
            self.count_unmatched(side, 1);
            return;
        }
    }

    fn count_unmatched(&mut self, side: Side, n: u64) {
        match side {
            Side::Baseline => self.counts.unmatched_baseline += n,
            Side::Candidate => self.counts.unmatched_candidate += n,
        }
    }

    /// Both streams ended: what still waits is unmatched.
    pub fn finish(mut self) -> PairCounts {
        let left: Vec<(Side, u64)> = self
            .waiting
            .iter()
            .map(|((s, _), q)| (*s, q.len() as u64))
            .collect();
        for (side, n) in left {
            self.count_unmatched(side, n);
        }
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn ex(id: u64, req: &str) -> Exchange {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        Exchange::new(id, 1, a, a, 0, req.as_bytes().to_vec())
    }

    #[test]
    fn identity_ignores_the_fields_but_not_the_body() {
        let a = identity(b"GET /x?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            a,
            identity(b"GET /x?a=1 HTTP/1.1\r\nHost: a-shadow\r\nX-Extra: 1\r\n\r\n")
        );
        assert_ne!(a, identity(b"GET /x?a=2 HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert_ne!(a, identity(b"HEAD /x?a=1 HTTP/1.1\r\nHost: a\r\n\r\n"));
        let p = identity(b"POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n1");
        assert_ne!(
            p,
            identity(b"POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n2")
        );
    }

    #[test]
    fn same_requests_pair_in_order() {
        let mut p = Pairer::new(100);
        assert!(p
            .push(Side::Baseline, ex(1, "GET /a HTTP/1.1\r\n\r\n"))
            .is_none());
        assert!(p
            .push(Side::Baseline, ex(2, "GET /a HTTP/1.1\r\n\r\n"))
            .is_none());
        assert!(p
            .push(Side::Candidate, ex(10, "GET /b HTTP/1.1\r\n\r\n"))
            .is_none());
        let (a, b) = p
            .push(Side::Candidate, ex(11, "GET /a HTTP/1.1\r\n\r\n"))
            .unwrap();
        assert_eq!((a.id, b.id), (1, 11));
        let (a, b) = p
            .push(Side::Candidate, ex(12, "GET /a HTTP/1.1\r\n\r\n"))
            .unwrap();
        assert_eq!((a.id, b.id), (2, 12));
        let (a, b) = p
            .push(Side::Baseline, ex(3, "GET /b HTTP/1.1\r\n\r\n"))
            .unwrap();
        assert_eq!((a.id, b.id), (3, 10));
        assert!(p
            .push(Side::Baseline, ex(4, "GET /c HTTP/1.1\r\n\r\n"))
            .is_none());
        let c = p.finish();
        assert_eq!(
            c,
            PairCounts {
                paired: 3,
                unmatched_baseline: 1,
                unmatched_candidate: 0,
                given_up: 0
            }
        );
    }

    #[test]
    fn waiting_is_bounded_and_the_oldest_is_given_up() {
        let mut p = Pairer::new(3);
        for i in 0..10 {
            assert!(p
                .push(Side::Baseline, ex(i, &format!("GET /{i} HTTP/1.1\r\n\r\n")))
                .is_none());
        }
        assert_eq!(p.pending, 3);
        // /9 still waits; /0 was given up.
        assert!(p
            .push(Side::Candidate, ex(20, "GET /9 HTTP/1.1\r\n\r\n"))
            .is_some());
        assert!(p
            .push(Side::Candidate, ex(21, "GET /0 HTTP/1.1\r\n\r\n"))
            .is_none());
        let c = p.finish();
        assert_eq!(
            (
                c.paired,
                c.given_up,
                c.unmatched_baseline,
                c.unmatched_candidate
            ),
            (1, 7, 9, 1)
        );
    }

    #[test]
    fn the_order_list_stays_bounded_when_everything_pairs() {
        let mut p = Pairer::new(4);
        for i in 0..1000 {
            let r = format!("GET /{} HTTP/1.1\r\n\r\n", i % 7);
            p.push(Side::Baseline, ex(i, &r));
            assert!(p.push(Side::Candidate, ex(i, &r)).is_some());
            assert!(p.order.len() <= 8 + 1);
        }
        assert_eq!(p.finish().paired, 1000);
    }

    fn replayed(id: u64, origin: u64) -> Exchange {
        Exchange {
            origin: Some(origin),
            ..ex(id, "GET /same HTTP/1.1\r\n\r\n")
        }
    }

    fn log(created_ns: u64, origin_logs: &[&str], first: Option<&Exchange>) -> LogOrigins {
        let header = FileHeader {
            writer: "t".into(),
            created_ns,
            meta: origin_logs
                .iter()
                .map(|v| (meta::ORIGIN_LOG.to_owned(), (*v).to_owned()))
                .collect(),
        };
        LogOrigins::new(&header, first)
    }

    #[test]
    fn the_pairing_follows_what_the_logs_say() {
        let (plain, rec) = (ex(1, "GET / HTTP/1.1\r\n\r\n"), replayed(1, 1));
        let capture = log(50, &[], Some(&plain));
        let of_capture = log(60, &["50 in.stlog"], Some(&rec));
        let also_of_capture = log(70, &["50 ./in.stlog"], Some(&rec));
        let of_other = log(80, &["51 other.stlog"], Some(&rec));
        assert_eq!(of_capture.origin_logs, [Some(50)]);
        let choose = PairBy::choose;
        assert_eq!(choose(&of_capture, &also_of_capture), PairBy::Origin);
        assert_eq!(
            choose(&capture, &of_capture),
            PairBy::CandidateReplaysBaseline
        );
        assert_eq!(
            choose(&of_capture, &capture),
            PairBy::BaselineReplaysCandidate
        );
        // Origins of other logs do not name the same requests.
        assert_eq!(choose(&of_capture, &of_other), PairBy::Identity);
        assert_eq!(
            choose(&log(51, &[], Some(&plain)), &of_capture),
            PairBy::Identity
        );
        assert_eq!(choose(&capture, &capture), PairBy::Identity);
        // Origins without the logs they refer to, or an empty log.
        let unnamed = log(90, &[], Some(&rec));
        assert_eq!(choose(&unnamed, &unnamed), PairBy::Identity);
        assert_eq!(
            choose(&log(60, &["50 in"], None), &of_capture),
            PairBy::Identity
        );
        assert_eq!(
            choose(
                &log(60, &["x in"], Some(&rec)),
                &log(61, &["x in"], Some(&rec))
            ),
            PairBy::Identity
        );
    }

    #[test]
    fn by_origin_the_same_request_pairs_exactly_in_any_order() {
        let mut p = Pairer::new(100).by(PairBy::Origin);
        assert_eq!(p.pair_by(), PairBy::Origin);
        // Three identical requests (by identity), answered in other orders.
        for (id, origin) in [(1, 7), (2, 8), (3, 9)] {
            assert!(p.push(Side::Baseline, replayed(id, origin)).is_none());
        }
        let mut got = Vec::new();
        for (id, origin) in [(1, 9), (2, 7), (3, 8)] {
            let (a, b) = p.push(Side::Candidate, replayed(id, origin)).unwrap();
            got.push((a.id, b.id, PairBy::Origin.report_id(&a, &b)));
        }
        assert_eq!(got, [(3, 1, 9), (1, 2, 7), (2, 3, 8)]);
        // An exchange without an origin pairs by identity, with another one.
        assert!(p
            .push(Side::Baseline, ex(4, "GET /same HTTP/1.1\r\n\r\n"))
            .is_none());
        assert!(p.push(Side::Candidate, replayed(5, 4)).is_none());
        let (a, b) = p
            .push(Side::Candidate, ex(6, "GET /same HTTP/1.1\r\n\r\n"))
            .unwrap();
        assert_eq!((a.id, b.id), (4, 6));
        let c = p.finish();
        assert_eq!(
            (c.paired, c.unmatched_baseline, c.unmatched_candidate),
            (4, 0, 1)
        );
    }

    #[test]
    fn a_replay_pairs_with_the_log_it_replayed_by_exchange_id() {
        let mut p = Pairer::new(100).by(PairBy::CandidateReplaysBaseline);
        for id in [10, 11] {
            assert!(p
                .push(Side::Baseline, ex(id, "GET /same HTTP/1.1\r\n\r\n"))
                .is_none());
        }
        let (a, b) = p.push(Side::Candidate, replayed(1, 11)).unwrap();
        assert_eq!((a.id, b.id), (11, 1));
        assert_eq!(PairBy::CandidateReplaysBaseline.report_id(&a, &b), 11);
        // The second log's requests (index 1 in the top bits) are not the
        // baseline's.
        assert!(p
            .push(Side::Candidate, replayed(2, (1 << 48) | 10))
            .is_none());
        let (a, b) = p.push(Side::Candidate, replayed(3, 10)).unwrap();
        assert_eq!((a.id, b.id), (10, 3));
        // The other way round.
        let mut p = Pairer::new(100).by(PairBy::BaselineReplaysCandidate);
        assert!(p.push(Side::Baseline, replayed(1, 20)).is_none());
        let (a, b) = p
            .push(Side::Candidate, ex(20, "GET /x HTTP/1.1\r\n\r\n"))
            .unwrap();
        assert_eq!((a.id, b.id), (1, 20));
        assert_eq!(PairBy::BaselineReplaysCandidate.report_id(&a, &b), 20);
        assert_eq!(PairBy::Identity.report_id(&a, &b), 20);
    }
}
