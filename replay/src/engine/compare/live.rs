//! Live baselines: a request's candidate answers compared with another
//! live answer to the same request, whichever arrives first.
//!
//! **Against a primary** (`--primary URL`), the primary is one more engine
//! target, after the candidates, sent every request at the same moment as
//! they are (the scheduler dispatches a request to all targets at once).
//! Its answer is the baseline; its service time the baseline latency.
//! **A second copy** of the baseline's version measures noise: a
//! secondary (`--secondary URL`), sent every request, or a calibration
//! copy (the primary's URL again, on its own connections), sent only the
//! first N requests of safe methods (`GET`, `HEAD`, `OPTIONS`) of each
//! endpoint. What
//! differs between the primary and the copy goes to
//! [`Tally::record_noise`](crate::compare::tally::Tally::record_noise),
//! which applies the noise rule when the report is built. **From outside**
//! ([`Baseline::External`]: tee, where production's own response is the
//! baseline), [`Comparing::fulfil`] gives it.
//!
//! **The meeting point** is the request's [`Slot`]: the first answers wait
//! there (parked) until the baseline's arrives; the baseline's worker then
//! compares them, outside the slot's lock. Later answers find the baseline
//! and compare at once. A baseline that failed settles its waiting answers
//! as [`NotCompared::baseline_failed`](super::NotCompared::baseline_failed);
//! a slot dropped while answers wait (the baseline was never sent, or
//! never answered) counts them as
//! [`NotCompared::no_baseline`](super::NotCompared::no_baseline).
//!
//! **Bounds.** An answer waits only while its baseline's request is queued
//! or in flight, so at most `--concurrency` requests per candidate wait
//! against a primary; whatever the source of the baseline, no more than
//! [`MAX_PARKED`] answers wait at once (more are counted, not kept), each
//! bounded by `--compare-max-body`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_format::Response;

use super::{lock, recorded_latency, Comparing, Counts, Recorded};
use crate::client::{Kept, Reply};
use crate::compare::body::{self, Decoded};
use crate::compare::Decoded as Side;

/// Answers waiting for their baseline at most, over the run.
pub const MAX_PARKED: u64 = 4096;

/// Where each request's baseline comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Baseline {
    /// The response recorded with the request.
    #[default]
    Recording,
    /// A live primary, and maybe a second copy of its version.
    Live(LiveBaseline),
    /// Given from outside with [`Comparing::fulfil`] (tee: production's
    /// response to the request).
    External,
}

/// A live primary (an engine target after the candidates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBaseline {
    /// The primary's engine target.
    pub primary: usize,
    /// A second copy of the primary's version, for noise.
    pub copy: Option<Copy>,
}

/// A second copy of the baseline's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Copy {
    /// A secondary instance (its engine target), sent every request.
    Secondary(usize),
    /// The primary again (an engine target of the primary's URL), sent the
    /// first `requests` requests of safe methods of each endpoint.
    Calibration {
        /// Its engine target.
        target: usize,
        /// How many requests of each endpoint it is sent.
        requests: u64,
    },
}

/// What an engine target is to the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Candidate,
    Primary,
    Copy,
    /// Not one the comparison knows (never with a checked configuration).
    None,
}

impl Baseline {
    /// True with a calibration copy.
    pub fn calibrates(&self) -> bool {
        matches!(
            self,
            Baseline::Live(LiveBaseline {
                copy: Some(Copy::Calibration { .. }),
                ..
            })
        )
    }

    /// The engine targets it needs, past `candidates`.
    pub fn extra_targets(&self) -> usize {
        match self {
            Baseline::Live(l) => 1 + usize::from(l.copy.is_some()),
            _ => 0,
        }
    }

    /// Whether it fits an engine of `targets` targets whose first
    /// `candidates` are the candidates: its own targets are the ones
    /// right after them, each once.
    pub fn check(&self, candidates: usize, targets: usize) -> Result<(), String> {
        let mut own = Vec::new();
        if let Baseline::Live(l) = self {
            own.push(l.primary);
            match l.copy {
                Some(Copy::Secondary(t)) | Some(Copy::Calibration { target: t, .. }) => own.push(t),
                None => {}
            }
        }
        let expected: Vec<usize> = (candidates..candidates + own.len()).collect();
        let mut sorted = own.clone();
        sorted.sort_unstable();
        if candidates == 0 || sorted != expected || candidates + own.len() != targets {
            return Err(format!(
                "the comparison has {candidates} candidates and baseline targets {own:?}, \
                 the engine {targets} targets"
            ));
        }
        Ok(())
    }

    pub(crate) fn role(&self, target: usize, candidates: usize) -> Role {
        if target < candidates {
            return Role::Candidate;
        }
        match self {
            Baseline::Live(l) if l.primary == target => Role::Primary,
            Baseline::Live(LiveBaseline {
                copy: Some(Copy::Secondary(t) | Copy::Calibration { target: t, .. }),
                ..
            }) if *t == target => Role::Copy,
            _ => Role::None,
        }
    }
}

/// One live answer to a request, as compared.
#[derive(Clone, Debug)]
pub struct Answer {
    status: u16,
    /// Status line and fields, with the blank line.
    head: Vec<u8>,
    body: Decoded,
    /// From the send to the last byte.
    latency: Duration,
}

impl Answer {
    /// An answer with status `status`, head `head` (status line and
    /// fields, with the blank line), its body decoded, its latency.
    pub fn new(status: u16, head: Vec<u8>, body: Decoded, latency: Duration) -> Answer {
        Answer {
            status,
            head,
            body,
            latency,
        }
    }

    /// The response `kept` holds, when it holds a complete one.
    fn take(status: u16, kept: &mut Kept, latency: Duration) -> Option<Answer> {
        let body = kept.take_body()?;
        Some(Answer::new(status, kept.head().to_vec(), body, latency))
    }

    fn side(&self) -> Side<'_> {
        Side {
            status: self.status,
            head: &self.head,
            body: &self.body,
        }
    }
}

/// An answer waiting for its baseline.
struct Parked {
    target: usize,
    candidate: bool,
    answer: Answer,
}

enum State {
    Waiting(Vec<Parked>),
    Ready(Arc<Answer>),
    Failed,
}

/// Where a request's live answers meet.
pub(crate) struct Slot {
    state: Mutex<State>,
    counts: Arc<Counts>,
}

impl Slot {
    pub(crate) fn new(counts: Arc<Counts>) -> Slot {
        Slot {
            state: Mutex::new(State::Waiting(Vec::new())),
            counts,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let State::Waiting(parked) = state {
            self.counts
                .parked
                .fetch_sub(parked.len() as u64, Ordering::Relaxed);
            let n = parked.iter().filter(|p| p.candidate).count() as u64;
            Counts::add(&self.counts.no_baseline, n);
        }
    }
}

impl Comparing {
    /// [`Comparing::settle`] with a live baseline.
    pub(super) fn settle_live(
        &self,
        target: usize,
        rec: &Recorded,
        reply: &Reply,
        kept: Option<&mut Kept>,
        line: &mut Vec<u8>,
    ) {
        let latency = reply.done.saturating_duration_since(reply.started);
        let role = self.role(target);
        let answer = match (reply.result, kept) {
            (Ok(status), Some(kept)) => Answer::take(status, kept, latency),
            _ => None,
        };
        match role {
            Role::Primary => {
                if reply.result.is_ok() && answer.is_none() {
                    Counts::add(&self.counts.not_kept, 1);
                }
                self.fulfil_with(rec, answer, line);
            }
            Role::Candidate => {
                if reply.result.is_err() {
                    lock(&self.tally).record_error(target, &rec.endpoint);
                    return;
                }
                match answer {
                    Some(a) => self.meet(target, true, rec, a, line),
                    None => Counts::add(&self.counts.not_kept, 1),
                }
            }
            Role::Copy => {
                if let Some(a) = answer {
                    self.meet(target, false, rec, a, line);
                }
            }
            Role::None => {}
        }
    }

    /// Gives the request recorded as `rec` its baseline's answer (`None`:
    /// the baseline failed): the answers waiting for it are compared now,
    /// later ones as they come. Only the first call counts. For
    /// [`Baseline::External`]; a live primary's worker gives its own.
    pub fn fulfil(&self, rec: &Recorded, answer: Option<Answer>) {
        self.fulfil_with(rec, answer, &mut Vec::new());
    }

    /// [`Comparing::fulfil`] with a captured response (`None`: none was
    /// captured) to the request recorded as `rec`, whose first byte was at
    /// `req_first_ns`: decoded as a recorded baseline is, its latency the
    /// recorded one.
    pub fn fulfil_recorded(&self, rec: &Recorded, response: Option<&Response>, req_first_ns: u64) {
        let answer = response.map(|r| {
            let body = body::decode(&r.head, &rec.method, &r.body, r.body_len, self.max_body());
            let latency = recorded_latency(r, req_first_ns);
            Answer::new(r.status, r.head.clone(), body, latency)
        });
        self.fulfil(rec, answer);
    }

    fn fulfil_with(&self, rec: &Recorded, answer: Option<Answer>, line: &mut Vec<u8>) {
        let Some(slot) = &rec.live else { return };
        let answer = answer.map(Arc::new);
        let parked = {
            let mut state = lock(&slot.state);
            let State::Waiting(parked) = &mut *state else {
                return;
            };
            let parked = std::mem::take(parked);
            *state = match &answer {
                Some(a) => State::Ready(a.clone()),
                None => State::Failed,
            };
            parked
        };
        self.counts
            .parked
            .fetch_sub(parked.len() as u64, Ordering::Relaxed);
        for p in parked {
            match &answer {
                Some(b) => self.compare_answers(p.target, rec, b, &p.answer, line),
                None if p.candidate => Counts::add(&self.counts.baseline_failed, 1),
                None => {}
            }
        }
    }

    /// A candidate's or the copy's answer meets the baseline's, now or
    /// once it comes.
    fn meet(&self, target: usize, candidate: bool, rec: &Recorded, a: Answer, line: &mut Vec<u8>) {
        let Some(slot) = &rec.live else { return };
        let baseline = {
            let mut state = lock(&slot.state);
            match &mut *state {
                State::Ready(b) => b.clone(),
                State::Failed => {
                    if candidate {
                        Counts::add(&self.counts.baseline_failed, 1);
                    }
                    return;
                }
                State::Waiting(parked) => {
                    let full = self
                        .counts
                        .parked
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            (n < MAX_PARKED).then_some(n + 1)
                        })
                        .is_err();
                    if full {
                        if candidate {
                            Counts::add(&self.counts.waiting_full, 1);
                        }
                    } else {
                        parked.push(Parked {
                            target,
                            candidate,
                            answer: a,
                        });
                    }
                    return;
                }
            }
        };
        self.compare_answers(target, rec, &baseline, &a, line);
    }

    /// Compares the answer of engine target `target` with the baseline's.
    fn compare_answers(
        &self,
        target: usize,
        rec: &Recorded,
        baseline: &Answer,
        answer: &Answer,
        line: &mut Vec<u8>,
    ) {
        let c = self
            .comparer
            .compare_decoded(&baseline.side(), &answer.side());
        match self.role(target) {
            Role::Candidate => {
                self.record(target, rec, &c, baseline.latency, answer.latency, line);
            }
            Role::Copy => lock(&self.tally).record_noise(&rec.endpoint, &c),
            Role::Primary | Role::None => {}
        }
    }
}
