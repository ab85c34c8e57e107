//! Pairing the exchanges of two logs of the same requests (`shadowtap
//! diff`).
//!
//! Two exchanges are the same request when they have the same identity:
//! method, request target and a hash of the body (the `Host` line and
//! other fields may differ: a replay rewrites them). Requests with the same
//! identity pair in the order they come. Both logs are read in step; an
//! exchange waits until its partner arrives, at most
//! [`Pairer::max_pending`] of them on both sides together: past that, the
//! oldest waiting one is given up as unmatched (counted), so memory stays
//! bounded whatever the logs hold.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use shadowtap_format::http1::{find_head_end, scan_request_line};
use shadowtap_format::Exchange;

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

/// Pairs two streams of exchanges by identity.
#[derive(Debug)]
pub struct Pairer {
    max_pending: usize,
    waiting: HashMap<(Side, u64), VecDeque<(u64, Exchange)>>,
    /// Arrival order of what waits (entries already paired are skipped
    /// when met).
    order: VecDeque<(Side, u64, u64)>,
    pending: usize,
    serial: u64,
    counts: PairCounts,
}

impl Pairer {
    pub fn new(max_pending: usize) -> Pairer {
        Pairer {
            max_pending: max_pending.max(1),
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

    /// An exchange from one side: its partner from the other side when it
    /// was waiting, as (baseline, candidate).
    pub fn push(&mut self, side: Side, ex: Exchange) -> Option<(Exchange, Exchange)> {
        let id = identity(&ex.request);
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
}
