//! The final response's head as a session reads it, for what keeps a
//! response ([`Kept`](super::Kept), [`RawResponse`](super::RawResponse)):
//! its bytes gathered across feeds, the empty lines a server may send
//! before the status line dropped, an interim (1xx) response forgotten.

use shadowtap_format::http1::{Framer, DEFAULT_MAX_HEAD};

/// Head bytes kept at most: the framer refuses heads past
/// [`DEFAULT_MAX_HEAD`]; the margin holds empty lines before the status
/// line, which do not count in it.
const MAX_HEAD: usize = DEFAULT_MAX_HEAD + 1024;

/// One feed of a response, split: the first `head` bytes were the head's,
/// the rest body bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) head: usize,
    pub(crate) body: usize,
    /// The final head completed in this feed.
    pub(crate) completed: bool,
}

/// The final response's head, gathered (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct FinalHead {
    bytes: Vec<u8>,
    /// The final head is complete (and `bytes` is exactly it).
    done: bool,
}

impl FinalHead {
    /// Forgets the last response (the buffer is reused).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.done = false;
    }

    /// The final head, once complete.
    pub(crate) fn get(&self) -> Option<&[u8]> {
        self.done.then_some(self.bytes.as_slice())
    }

    /// Bytes held now.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The final head's bytes, taken (empty when it is not complete).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.bytes);
        let done = std::mem::replace(&mut self.done, false);
        if done {
            bytes
        } else {
            Vec::new()
        }
    }

    /// `bytes` were consumed by `framer` in one feed; its body had consumed
    /// `body_before` bytes before it. Keeps the head's part; says how the
    /// feed splits.
    pub(crate) fn consumed(&mut self, framer: &Framer, bytes: &[u8], body_before: u64) -> Split {
        let body = usize::try_from(framer.body_consumed().saturating_sub(body_before))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        // A feed consumes the rest of the head first, then body bytes.
        let head = bytes.len() - body;
        let mut completed = false;
        if !self.done {
            if head > 0 {
                let room = MAX_HEAD.saturating_sub(self.bytes.len());
                self.bytes.extend_from_slice(&bytes[..head.min(room)]);
            }
            match framer.head() {
                Some(h) if !h.is_interim() => {
                    let lead = framer.leading_skipped().min(self.bytes.len());
                    self.bytes.drain(..lead);
                    self.bytes.truncate(h.len);
                    self.done = true;
                    completed = true;
                }
                // An interim response is forgotten once it is complete
                // (`clear`, called by the owner's `interim_done`).
                _ => {}
            }
        }
        Split {
            head,
            body,
            completed,
        }
    }
}
