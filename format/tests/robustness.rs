//! Crash safety and corruption detection: truncation at every byte, single
//! bit flips everywhere, salvage, version checks.

mod common;

use common::*;
use shadowtap_format::index::{read_index, scan_blocks, shards};
use shadowtap_format::spec::*;
use shadowtap_format::{
    Codec, End, Exchange, ReadError, ReadOptions, Reader, Writer, WriterOptions,
};

fn read_all(bytes: &[u8], opts: ReadOptions) -> Result<(Vec<Exchange>, End), ReadError> {
    let mut r = Reader::with_options(bytes, opts)?;
    let mut out = Vec::new();
    while let Some(ex) = r.next_exchange()? {
        out.push(ex);
    }
    Ok((
        out,
        r.end()
            .cloned()
            .expect("end is set after the last exchange"),
    ))
}

fn sample(n: u64) -> Vec<Exchange> {
    (0..n).map(exchange).collect()
}

fn header_len(bytes: &[u8]) -> usize {
    PREAMBLE_LEN + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize + 4
}

#[test]
fn multi_block_file_has_several_blocks_and_an_index() {
    let bytes = write_all(&sample(30), small_blocks(Codec::Zstd));
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    assert!(idx.len() >= 5, "expected several blocks, got {}", idx.len());
    assert_eq!(idx.iter().map(|e| e.record_count).sum::<u32>(), 30);
    let scanned = scan_blocks(&mut std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(scanned, idx);
    let (all, end) = read_all(&bytes, ReadOptions::default()).unwrap();
    assert_eq!(all, sample(30));
    assert_eq!(end, End::Clean { indexed: true });
}

#[test]
fn truncation_at_every_offset_yields_a_prefix() {
    for codec in [Codec::Zstd, Codec::None] {
        let all = sample(12);
        let bytes = write_all(&all, small_blocks(codec));
        let hlen = header_len(&bytes);
        for cut in 0..bytes.len() {
            let res = read_all(&bytes[..cut], ReadOptions::default());
            match res {
                Ok((got, end)) => {
                    assert!(cut >= hlen, "cut {cut} inside the header read fine");
                    assert_eq!(&all[..got.len()], &got[..], "cut {cut}: not a prefix");
                    match end {
                        End::TornTail {
                            offset,
                            ignored_bytes,
                        } => assert_eq!(offset + ignored_bytes, cut as u64, "cut {cut}"),
                        End::Clean { indexed } => {
                            assert!(!indexed, "cut {cut}: index claimed on a cut file");
                            assert_eq!(got.len(), all.len().min(got.len()));
                        }
                        End::Stopped => panic!("cut {cut}: no stop was set"),
                    }
                }
                Err(ReadError::TruncatedHeader { .. } | ReadError::NotStlog | ReadError::Empty) => {
                    assert!(cut < hlen, "cut {cut} after the header failed");
                }
                Err(e) => panic!("cut {cut}: unexpected error {e}"),
            }
        }
        // Cutting exactly at the end of the last block (before the index)
        // loses nothing.
        let idx = read_index(&mut std::io::Cursor::new(&bytes))
            .unwrap()
            .unwrap();
        let last = idx.last().unwrap();
        let scanned = scan_blocks(&mut std::io::Cursor::new(&bytes)).unwrap();
        let end_of_blocks = {
            let mut r = std::io::Cursor::new(&bytes[..]);
            let s = scan_blocks(&mut r).unwrap();
            let l = s.last().unwrap();
            let stored = u32::from_le_bytes(
                bytes[l.offset as usize + 16..l.offset as usize + 20]
                    .try_into()
                    .unwrap(),
            );
            l.offset as usize + BLOCK_HEADER_LEN + stored as usize
        };
        assert_eq!(scanned.last().unwrap().offset, last.offset);
        let (got, end) = read_all(&bytes[..end_of_blocks], ReadOptions::default()).unwrap();
        assert_eq!(got, all);
        assert_eq!(end, End::Clean { indexed: false });
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let all = sample(8);
    let bytes = write_all(&all, small_blocks(Codec::Zstd));
    let hlen = header_len(&bytes);
    let mut flips = 0;
    for pos in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[pos] ^= 1 << bit;
            flips += 1;
            match read_all(&damaged, ReadOptions::default()) {
                Err(e) => {
                    if pos >= hlen {
                        assert!(e.is_block_damage(), "byte {pos} bit {bit}: {e}");
                    }
                }
                Ok((got, end)) => panic!(
                    "byte {pos} bit {bit}: flip not detected ({} exchanges, end {end:?})",
                    got.len()
                ),
            }
        }
    }
    assert_eq!(flips, bytes.len() * 8);
}

#[test]
fn crc_error_names_the_block_offset_and_salvage_skips_it() {
    let all = sample(30);
    let bytes = write_all(&all, small_blocks(Codec::Zstd));
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let victim = idx[2];
    let mut damaged = bytes.clone();
    damaged[victim.offset as usize + BLOCK_HEADER_LEN + 3] ^= 0x40;

    match read_all(&damaged, ReadOptions::default()) {
        Err(ReadError::BlockChecksum { offset, .. }) => assert_eq!(offset, victim.offset),
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let mut r = Reader::with_options(&damaged[..], ReadOptions { salvage: true }).unwrap();
    let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
    assert_eq!(got.len(), 30 - victim.record_count as usize);
    let stats = r.salvage_stats();
    assert_eq!(stats.bad_blocks, 1);
    assert_eq!(stats.lost_exchanges, u64::from(victim.record_count));
    assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
    let expected: Vec<_> = all
        .iter()
        .filter(|e| {
            e.id < victim.first_id || e.id >= victim.first_id + u64::from(victim.record_count)
        })
        .cloned()
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn salvage_resynchronises_after_a_damaged_block_header() {
    let all = sample(30);
    let bytes = write_all(&all, small_blocks(Codec::Zstd));
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let victim = idx[1];
    for pos in [0usize, 9, 17, 30, 50] {
        let mut damaged = bytes.clone();
        damaged[victim.offset as usize + pos] ^= 0x01;
        let mut r = Reader::with_options(&damaged[..], ReadOptions { salvage: true }).unwrap();
        let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
        assert_eq!(
            got.len(),
            30 - victim.record_count as usize,
            "damage at header byte {pos}"
        );
        assert_eq!(r.salvage_stats().unknown_stretches, 1);
        assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
    }
}

/// Reads `bytes` to its end or first error the way a consumer does, and
/// checks the reader's contract on the way: every exchange read is one of
/// `originals`, in their order; the end is reported only once reached, and
/// stays; after an error nothing more comes out and no end is claimed.
/// Returns the exchanges read and whether an error ended the read.
fn read_checked(bytes: &[u8], opts: ReadOptions, originals: &[Exchange]) -> (Vec<Exchange>, bool) {
    let mut r = Reader::with_options(bytes, opts).expect("the header is intact");
    let mut got: Vec<Exchange> = Vec::new();
    let mut from = 0;
    // Each call returns an exchange, the end or an error: bounded.
    for _ in 0..=originals.len() + 1 {
        match r.next_exchange() {
            Ok(Some(ex)) => {
                assert!(r.end().is_none(), "an exchange after the end");
                let at = originals[from..]
                    .iter()
                    .position(|o| *o == ex)
                    .unwrap_or_else(|| panic!("exchange {} is not one written, in order", ex.id));
                from += at + 1;
                got.push(ex);
            }
            Ok(None) => {
                assert!(r.end().is_some(), "no exchange and no end");
                let end = r.end().cloned();
                assert!(
                    matches!(r.next_exchange(), Ok(None)),
                    "the end does not stay"
                );
                assert_eq!(r.end().cloned(), end);
                return (got, false);
            }
            Err(_) => {
                assert!(r.end().is_none(), "an end claimed after an error");
                assert!(matches!(r.next_exchange(), Ok(None)), "more after an error");
                assert!(r.next().is_none(), "the iterator goes on after an error");
                assert!(r.end().is_none(), "an end claimed after an error");
                return (got, true);
            }
        }
    }
    panic!("the reader returned more exchanges than were written");
}

#[test]
fn salvage_of_random_damage_never_panics() {
    let all = sample(20);
    let bytes = write_all(&all, small_blocks(Codec::Zstd));
    let hlen = header_len(&bytes);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut damaged_runs, mut strict_errors) = (0, 0);
    for _ in 0..300 {
        let mut damaged = bytes.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pos = hlen + (seed as usize % (bytes.len() - hlen));
            damaged[pos] = (seed >> 32) as u8;
        }
        if damaged == bytes {
            continue;
        }
        damaged_runs += 1;
        // Salvage: what comes out was written, in order; what is lost is
        // counted (never more than was written, never nothing while some
        // exchange is missing and no unknown stretch was reported).
        let mut r = Reader::with_options(&damaged[..], ReadOptions { salvage: true }).unwrap();
        let mut read = 0u64;
        let mut from = 0;
        for ex in r.by_ref().take(all.len() + 1).flatten() {
            let at = all[from..]
                .iter()
                .position(|o| *o == ex)
                .expect("a written exchange, in order");
            from += at + 1;
            read += 1;
        }
        let s = r.salvage_stats().clone();
        assert!(
            read + s.lost_exchanges <= all.len() as u64,
            "{read} read, {s:?}"
        );
        if read < all.len() as u64 && r.end().is_some() {
            assert!(
                s.lost_exchanges > 0
                    || s.unknown_stretches > 0
                    || s.bad_blocks > 0
                    || !matches!(r.end(), Some(End::Clean { indexed: true })),
                "{read} of {} read with nothing reported lost: {s:?} {:?}",
                all.len(),
                r.end()
            );
        }
        // Strict: a prefix-consistent read that stops at the first error.
        let (got, failed) = read_checked(&damaged, ReadOptions::default(), &all);
        strict_errors += usize::from(failed);
        assert!(got.len() <= all.len());
    }
    assert!(
        damaged_runs > 250 && strict_errors > 0,
        "{damaged_runs} {strict_errors}"
    );
}

#[test]
fn newer_major_version_is_rejected_with_a_clear_message() {
    let mut bytes = write_all(&sample(2), small_blocks(Codec::Zstd));
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    let err = Reader::new(&bytes[..]).err().unwrap();
    assert!(matches!(
        err,
        ReadError::UnsupportedVersion {
            major: 2,
            supported: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("upgrade shadowtap"));
}

#[test]
fn newer_minor_version_is_read() {
    let mut bytes = write_all(&sample(2), small_blocks(Codec::None));
    bytes[10..12].copy_from_slice(&7u16.to_le_bytes());
    // Fix the header checksum for the changed minor version.
    let hlen = header_len(&bytes);
    let crc = crc32c::crc32c(&bytes[8..hlen - 4]);
    bytes[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
    let r = Reader::new(&bytes[..]).unwrap();
    assert_eq!(r.version(), (1, 7));
    assert_eq!(r.count(), 2);
}

#[test]
fn not_a_log() {
    assert!(matches!(
        Reader::new(&b""[..]).err().unwrap(),
        ReadError::Empty
    ));
    for junk in [
        &b"hello world, this is text"[..],
        b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00",
    ] {
        assert!(matches!(
            Reader::new(junk).err().unwrap(),
            ReadError::NotStlog
        ));
    }
}

#[test]
fn unflushed_writer_drop_still_leaves_a_readable_file() {
    let mut w = Writer::new(Vec::new(), &header(), small_blocks(Codec::Zstd)).unwrap();
    for ex in sample(5) {
        w.append(&ex).unwrap();
    }
    // A writer that is flushed but never finished: complete blocks, no index.
    w.flush().unwrap();
    let n = w.bytes_written();
    let bytes = w.finish().unwrap();
    let (got, end) = read_all(&bytes[..n as usize], ReadOptions::default()).unwrap();
    assert_eq!(got, sample(5));
    assert_eq!(end, End::Clean { indexed: false });
}

#[test]
fn shards_cover_every_exchange_once() {
    let all = sample(100);
    let bytes = write_all(&all, small_blocks(Codec::Zstd));
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let parts = shards(&idx, 4);
    assert_eq!(parts.len(), 4);
    let mut seen = Vec::new();
    for part in parts {
        let start = idx[part.start].offset;
        let stop = idx.get(part.end).map(|e| e.offset);
        let mut r = Reader::new(std::io::Cursor::new(&bytes)).unwrap();
        r.seek_block(start, stop).unwrap();
        let mut n = 0;
        while let Some(ex) = r.next_exchange().unwrap() {
            seen.push(ex.id);
            n += 1;
        }
        let expected: u32 = idx[part].iter().map(|e| e.record_count).sum();
        assert_eq!(n, expected as usize);
        let want_end = if stop.is_some() {
            End::Stopped
        } else {
            End::Clean { indexed: true }
        };
        assert_eq!(r.end(), Some(&want_end));
    }
    seen.sort();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
}

#[test]
fn writer_options_are_respected() {
    let all = sample(50);
    let z = write_all(
        &all,
        WriterOptions {
            sync: false,
            ..WriterOptions::default()
        },
    );
    let raw = write_all(
        &all,
        WriterOptions {
            codec: Codec::None,
            sync: false,
            ..WriterOptions::default()
        },
    );
    assert!(z.len() < raw.len(), "zstd {} >= raw {}", z.len(), raw.len());
    let no_index = write_all(
        &all,
        WriterOptions {
            index: false,
            sync: false,
            ..WriterOptions::default()
        },
    );
    assert!(read_index(&mut std::io::Cursor::new(&no_index))
        .unwrap()
        .is_none());
    let (got, end) = read_all(&no_index, ReadOptions::default()).unwrap();
    assert_eq!(got, all);
    assert_eq!(end, End::Clean { indexed: false });
}

#[cfg(unix)]
#[test]
fn created_logs_are_private_even_when_the_path_existed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.stlog");
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let w = Writer::create(&path, &header(), WriterOptions::default()).unwrap();
    w.finish().unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn flush_if_due_writes_an_old_block_even_between_clock_checks() {
    let opts = WriterOptions {
        max_block_age: std::time::Duration::ZERO,
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::new(Vec::new(), &header(), opts).unwrap();
    w.append(&exchange(1)).unwrap();
    assert!(w.pending_bytes() > 0, "one append does not read the clock");
    assert!(w.flush_if_due().unwrap());
    assert_eq!(w.pending_bytes(), 0);
    // Every 64th append checks the clock by itself.
    for i in 2..=64 {
        w.append(&exchange(i)).unwrap();
    }
    assert_eq!(
        w.pending_bytes(),
        0,
        "the 64th append flushed the old block"
    );
}
