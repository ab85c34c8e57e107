//! Keeping a response for comparison (`replay --compare`): its head bytes,
//! and its body decoded as it arrives.
//!
//! The session frames a response with its own [`Framer`] and discards the
//! bytes; a [`Kept`] handed to [`Session::send_keeping`](super::Session::send_keeping)
//! is shown each stretch of bytes the framer consumed, and keeps the final
//! response's head (interim 1xx responses are skipped) and feeds its body,
//! as on the wire, to a [`Decoder`] created once the head is complete.
//! Memory stays bounded whatever the target sends: the head by the framer's
//! bound, the body by the comparison's (`--compare-max-body`; past it the
//! decoder keeps a length and a hash).

use shadowtap_format::http1::Framer;

use super::head::FinalHead;
use crate::compare::body::{Decoded, Decoder};

/// The final response of one request, as the session read it.
pub struct Kept {
    max_body: usize,
    head: FinalHead,
    decoder: Option<Decoder>,
    body: Option<Decoded>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("head_len", &self.head.len())
            .field("head_done", &self.head.get().is_some())
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Kept {
    /// Keeps responses whose decoded bodies are compared up to `max_body`
    /// bytes (see [`body::Decoder`](crate::compare::body::Decoder)).
    pub fn new(max_body: usize) -> Kept {
        Kept {
            max_body,
            head: FinalHead::default(),
            decoder: None,
            body: None,
        }
    }

    /// Forgets the last response (its head buffer is reused).
    pub fn clear(&mut self) {
        self.head.clear();
        self.decoder = None;
        self.body = None;
    }

    /// The final response's status line and fields, with the blank line;
    /// empty when none was read.
    pub fn head(&self) -> &[u8] {
        self.head.get().unwrap_or_default()
    }

    /// The final response's body, decoded, once the response was read
    /// completely; `None` otherwise (or when the transport keeps nothing).
    pub fn take_body(&mut self) -> Option<Decoded> {
        self.body.take()
    }

    /// `bytes` were consumed by `framer` (of a response to `method`) in one
    /// feed; its body had consumed `body_before` bytes before it.
    pub(crate) fn consumed(
        &mut self,
        framer: &Framer,
        bytes: &[u8],
        body_before: u64,
        method: &str,
    ) {
        let split = self.head.consumed(framer, bytes, body_before);
        if split.completed {
            let head = self.head.get().unwrap_or_default();
            self.decoder = Some(Decoder::new(head, method, self.max_body));
        }
        let (head_n, body_n) = (split.head, split.body);
        if body_n > 0 {
            if let Some(d) = self.decoder.as_mut() {
                d.push(&bytes[head_n..]);
            }
        }
    }

    /// An interim (1xx) response ended: what was kept of it goes.
    pub(crate) fn interim_done(&mut self) {
        self.clear();
    }

    /// The final response ended (complete, or by a close that completes
    /// it): its body is decoded to the end.
    pub(crate) fn response_done(&mut self) {
        if let Some(d) = self.decoder.take() {
            self.body = Some(d.finish(true));
        }
    }
}
