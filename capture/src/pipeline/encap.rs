//! Counters of the encapsulations frames arrived in, and the bounded set
//! of outer sessions (mirror sources) seen.

use std::collections::HashSet;

use crate::decode::{Encap, Layers, OuterSession};

/// Most distinct outer sessions remembered.
pub const MAX_SESSIONS: usize = 64;

/// Per-kind encapsulation counters, indexed by [`Encap::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncapStats {
    /// Frames decoded through each kind (a frame counts once for each
    /// kind it went through, whatever it carried).
    pub packets: [u64; Encap::ALL.len()],
    /// Frames whose encapsulation of each kind did not decode (a bad
    /// header, a protocol not decoded inside it, nesting too deep). They
    /// are counted as malformed too.
    pub undecodable: [u64; Encap::ALL.len()],
    /// Distinct outer sessions listed by [`crate::Pipeline::outer_sessions`].
    pub sessions: u64,
    /// Frames of sessions left out of that list because it was full.
    pub sessions_unlisted: u64,
}

impl EncapStats {
    /// Frames decoded through `kind`.
    pub fn packets(&self, kind: Encap) -> u64 {
        self.packets[kind.index()]
    }

    /// Frames whose `kind` encapsulation did not decode.
    pub fn undecodable(&self, kind: Encap) -> u64 {
        self.undecodable[kind.index()]
    }

    /// Frames that went through any encapsulation.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }

    /// Undecodable encapsulations of any kind.
    pub fn total_undecodable(&self) -> u64 {
        self.undecodable.iter().sum()
    }

    /// `kind=count` for each kind with a non-zero count of `of`, joined
    /// by commas; "0" when there is none.
    pub fn by_kind(of: &[u64; Encap::ALL.len()]) -> String {
        let parts: Vec<String> = Encap::ALL
            .iter()
            .filter(|k| of[k.index()] > 0)
            .map(|k| format!("{}:{}", k.name(), of[k.index()]))
            .collect();
        if parts.is_empty() {
            "0".to_string()
        } else {
            parts.join(",")
        }
    }
}

/// The outer sessions seen, first ones first, at most [`MAX_SESSIONS`].
#[derive(Debug, Default)]
pub(super) struct Sessions {
    listed: Vec<OuterSession>,
    known: HashSet<OuterSession>,
    /// The last session seen: consecutive frames of one session skip
    /// the set.
    last: Option<OuterSession>,
}

impl Sessions {
    /// Counts the layers of one decoded frame.
    pub(super) fn record(&mut self, layers: &Layers, stats: &mut EncapStats) {
        for k in layers.seen.iter() {
            stats.packets[k.index()] += 1;
        }
        let Some(s) = layers.outer else {
            return;
        };
        if self.last == Some(s) {
            return;
        }
        self.last = Some(s);
        if self.known.contains(&s) {
            return;
        }
        if self.listed.len() >= MAX_SESSIONS {
            stats.sessions_unlisted += 1;
            return;
        }
        self.known.insert(s);
        self.listed.push(s);
        stats.sessions = self.listed.len() as u64;
    }

    pub(super) fn listed(&self) -> &[OuterSession] {
        &self.listed
    }
}
