//! Salvage: what the reader does with a damaged block or stretch, and the
//! scan forward to the next block or index magic.

use std::io::{self, Read};

use crate::spec::*;

use super::reader::IndexRead;
use super::wire::parse_block_header;
use super::{End, ReadError, Reader};

impl<R: Read> Reader<R> {
    /// A block whose header was sound but whose payload is not: skip exactly
    /// that block in salvage mode.
    pub(super) fn skip_or_fail(&mut self, err: ReadError, records: u32) -> Result<(), ReadError> {
        if !self.opts.salvage {
            return Err(err);
        }
        self.salvage.bad_blocks += 1;
        self.salvage.lost_exchanges += u64::from(records);
        Ok(())
    }

    /// Structure damage: fail, or in salvage mode scan forward for the next
    /// block or index whose header checks out. `consumed` are the bytes read
    /// at the damaged position (they are scanned too, from their second byte).
    pub(super) fn damaged(&mut self, err: ReadError, consumed: &[u8]) -> Result<(), ReadError> {
        if !self.opts.salvage {
            return Err(err);
        }
        let start = self.offset - consumed.len() as u64;
        self.salvage.bad_blocks += 1;
        self.salvage.unknown_stretches += 1;
        if !consumed.is_empty() {
            self.unread(&consumed[1..]);
        }
        // Slide a window one byte at a time, skipping ahead to the next
        // magic; bounded by the file's length.
        let mut win = [0u8; BLOCK_HEADER_LEN];
        loop {
            self.skip_to_magic()?;
            let at = self.offset;
            let got = self.read_bytes(&mut win[..4])?;
            if got < 4 {
                self.salvage.skipped_bytes += self.offset - start;
                self.end = Some(End::Clean { indexed: false });
                return Ok(());
            }
            if win[0..4] == INDEX_MAGIC {
                // Only an index whose trailer checks out ends the scan.
                match self.read_index_section(at)? {
                    IndexRead::Valid(entries) => {
                        self.salvage.skipped_bytes += at - start;
                        self.index = Some(entries);
                        self.end = Some(End::Clean { indexed: true });
                        return Ok(());
                    }
                    IndexRead::Torn(got) => {
                        self.salvage.skipped_bytes += at - start;
                        return self.torn(at, got);
                    }
                    IndexRead::Invalid(bytes) => {
                        self.unread(&bytes[1..]);
                        continue;
                    }
                }
            }
            if win[0..4] == BLOCK_MAGIC {
                let got = self.read_bytes(&mut win[4..])?;
                if got == BLOCK_HEADER_LEN - 4 && parse_block_header(&win, at).is_ok() {
                    self.unread(&win);
                    self.offset = at;
                    self.salvage.skipped_bytes += at - start;
                    return Ok(());
                }
                let tail = win[1..4 + got].to_vec();
                self.unread(&tail);
                continue;
            }
            let tail = win[1..4].to_vec();
            self.unread(&tail);
        }
    }

    /// Consumes the bytes before the next block or index magic (or all but
    /// the last three, which cannot hold one, at the end of the stream), a
    /// chunk at a time: salvage then pays per damaged byte a comparison,
    /// not a read and a put-back.
    pub(super) fn skip_to_magic(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            let got = self.read_bytes(&mut chunk)?;
            let hit = chunk[..got]
                .windows(4)
                .position(|w| w == BLOCK_MAGIC || w == INDEX_MAGIC);
            match hit {
                Some(i) => {
                    self.unread(&chunk[i..got]);
                    return Ok(());
                }
                None => {
                    self.unread(&chunk[got.saturating_sub(3)..got]);
                    if got < chunk.len() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
