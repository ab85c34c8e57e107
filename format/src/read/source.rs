//! The byte source under the reader: the stream, with the bytes salvage
//! put back in front of it, and the offset of the next byte.

use std::io::{self, Read};

use super::wire::read_full;
use super::Reader;

impl<R: Read> Reader<R> {
    /// Puts bytes back in front of the stream.
    pub(super) fn unread(&mut self, bytes: &[u8]) {
        // A stack, last byte at the bottom: putting back and taking out cost
        // what they move, however much is already put back (salvage slides
        // through up to an index section's worth, a byte at a time).
        self.pushback.extend(bytes.iter().rev());
        self.offset -= bytes.len() as u64;
    }

    /// Reads `len` bytes into `buf` (or until the source ends; returns how
    /// many, `buf` holds just those). `buf` grows only as the bytes arrive,
    /// a chunk at a time beyond what it already holds: a length field says
    /// how much to expect, not how much is there, so a damaged or torn file
    /// never makes the reader allocate the largest block for a few bytes.
    pub(super) fn read_growing(&mut self, buf: &mut Vec<u8>, len: usize) -> io::Result<usize> {
        const CHUNK: usize = 1 << 20;
        let mut filled = 0;
        while filled < len {
            let end = if buf.len() > filled {
                buf.len().min(len)
            } else {
                filled.saturating_add(CHUNK).min(len)
            };
            if buf.len() < end {
                buf.resize(end, 0);
            }
            let got = self.read_bytes(&mut buf[filled..end])?;
            filled += got;
            if filled < end {
                break;
            }
        }
        buf.truncate(filled);
        Ok(filled)
    }

    /// Reads until `buf` is full or the source ends; returns bytes read.
    pub(super) fn read_bytes(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        if !self.pushback.is_empty() {
            n = self.pushback.len().min(buf.len());
            let rest = self.pushback.len() - n;
            for (to, from) in buf[..n].iter_mut().zip(self.pushback[rest..].iter().rev()) {
                *to = *from;
            }
            self.pushback.truncate(rest);
        }
        n += read_full(&mut self.src, &mut buf[n..])?;
        self.offset += n as u64;
        Ok(n)
    }
}
