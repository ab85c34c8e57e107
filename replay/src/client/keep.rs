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

use shadowtap_format::http1::{Framer, DEFAULT_MAX_HEAD};

use crate::compare::body::{Decoded, Decoder};

/// Head bytes kept at most: the framer refuses heads past
/// [`DEFAULT_MAX_HEAD`]; the margin holds empty lines before the status
/// line, which do not count in it.
const MAX_KEPT_HEAD: usize = DEFAULT_MAX_HEAD + 1024;

/// The final response of one request, as the session read it.
pub struct Kept {
    max_body: usize,
    head: Vec<u8>,
    /// The head is complete (and `head` is exactly its bytes).
    head_done: bool,
    decoder: Option<Decoder>,
    body: Option<Decoded>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("head_len", &self.head.len())
            .field("head_done", &self.head_done)
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
            head: Vec::new(),
            head_done: false,
            decoder: None,
            body: None,
        }
    }

    /// Forgets the last response (its head buffer is reused).
    pub fn clear(&mut self) {
        self.head.clear();
        self.head_done = false;
        self.decoder = None;
        self.body = None;
    }

    /// The final response's status line and fields, with the blank line;
    /// empty when none was read.
    pub fn head(&self) -> &[u8] {
        if self.head_done {
            &self.head
        } else {
            &[]
        }
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
        let body_n = usize::try_from(framer.body_consumed().saturating_sub(body_before))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        // A feed consumes the rest of the head first, then body bytes.
        let head_n = bytes.len() - body_n;
        if !self.head_done && head_n > 0 {
            let room = MAX_KEPT_HEAD.saturating_sub(self.head.len());
            self.head.extend_from_slice(&bytes[..head_n.min(room)]);
        }
        if !self.head_done {
            match framer.head() {
                Some(h) if !h.is_interim() => {
                    let lead = framer.leading_skipped().min(self.head.len());
                    self.head.drain(..lead);
                    self.head.truncate(h.len);
                    self.head_done = true;
                    self.decoder = Some(Decoder::new(&self.head, method, self.max_body));
                }
                // An interim response is forgotten once it is complete
                // ([`Kept::interim_done`]).
                _ => {}
            }
        }
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
