//! One test per defect found in the format crate, named after the bug
//! (issue 12).

mod common;

use common::*;
use shadowtap_format::http1::{
    parse_request_head, parse_request_head_lenient, BodyKind, Framer, Status,
};
use shadowtap_format::index::read_index;
use shadowtap_format::spec::BLOCK_HEADER_LEN;
use shadowtap_format::{Codec, End, Flags, ReadOptions, Reader};

/// Feeds `msg` to `f` whole and returns (consumed, status).
fn feed(f: &mut Framer, msg: &[u8]) -> (usize, Status) {
    let p = f.feed(msg).unwrap();
    (p.consumed, p.status)
}

/// A chunked body of `data` bytes in chunks of `chunk`.
fn chunked(data: usize, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = data;
    while left > 0 {
        let n = left.min(chunk);
        out.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
        out.resize(out.len() + n, b'd');
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
    out
}

/// Issue 12 item 11: the chunked framing counted against the body cap, so a
/// chunked body of exactly the cap was capped.
#[test]
fn chunked_framing_does_not_count_against_the_body_cap() {
    let head = b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for cap in [0u64, 1, 100, 4096] {
        for chunk in [1, 3, 64, 5000] {
            for data in [cap as usize, cap as usize + 1] {
                let msg = [&head[..], &chunked(data, chunk)].concat();
                let name = format!("cap {cap} chunk {chunk} data {data}");
                // Whole, and byte by byte: the same answer.
                let mut whole = Framer::request().with_body_cap(cap);
                assert_eq!(
                    feed(&mut whole, &msg),
                    (msg.len(), Status::Complete),
                    "{name}"
                );
                let mut bytewise = Framer::request().with_body_cap(cap);
                for b in &msg {
                    bytewise.feed(std::slice::from_ref(b)).unwrap();
                }
                assert!(bytewise.is_complete(), "{name}");
                for f in [&whole, &bytewise] {
                    assert_eq!(f.body_data(), data as u64, "{name}");
                    assert!(f.body_consumed() > f.body_data(), "{name}");
                    match f.capped_at() {
                        None => assert!(data as u64 <= cap, "{name}"),
                        Some(at) => {
                            assert!(data as u64 > cap, "{name}");
                            // The byte there is a data byte, and exactly
                            // `cap` data bytes come before it.
                            let at = at as usize;
                            assert_eq!(msg[at], b'd', "{name}");
                            let mut g = Framer::request();
                            g.feed(&msg[..at]).unwrap();
                            assert_eq!(g.body_data(), cap, "{name}");
                        }
                    }
                }
                assert_eq!(whole.capped_at(), bytewise.capped_at(), "{name}");
            }
        }
    }
    // Content-Length: the body is all data.
    let mut f = Framer::request().with_body_cap(5);
    let head = b"PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\n";
    feed(&mut f, &[&head[..], b"abcdef"].concat());
    assert_eq!(
        (f.body_data(), f.capped_at()),
        (6, Some(head.len() as u64 + 5))
    );
}

/// Issue 12 item 7: heads httparse rejects made the capture drop the
/// request. The lenient framer reads them; the strict one still refuses.
#[test]
fn heads_httparse_rejects_are_read_by_the_lenient_framer() {
    let cases: &[(&[u8], &str, &str, BodyKind)] = &[
        (
            b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET",
            "/esc\x1b[31mRED",
            BodyKind::None,
        ),
        (
            b"POST /f HTTP/1.1\r\nX-Folded: one\r\n  two\r\nContent-Length: 2\r\n\r\nok",
            "POST",
            "/f",
            BodyKind::Length(2),
        ),
        (
            b"GET  /sp   HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET",
            "/sp",
            BodyKind::None,
        ),
        (b"GET /nover\r\nHost: a\r\n\r\n", "GET", "/nover", BodyKind::None),
        (
            b"POST /cl HTTP/1.1\r\nContent-Length: x\r\n\r\nrest",
            "POST",
            "/cl",
            BodyKind::UntilClose,
        ),
        (
            b"POST /te HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nrest",
            "POST",
            "/te",
            BodyKind::UntilClose,
        ),
        (
            b"POST /c HTTP/1.1\r\nBad Name: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            "POST",
            "/c",
            BodyKind::Chunked,
        ),
    ];
    for (msg, method, uri, body) in cases {
        let name = String::from_utf8_lossy(msg);
        assert!(Framer::request().feed(msg).is_err(), "strict: {name}");
        assert!(parse_request_head(msg).is_none(), "strict: {name}");
        let mut f = Framer::request().lenient();
        let p = f.feed(msg).unwrap();
        let h = f.head().expect("a head");
        assert!(h.malformed, "{name}");
        assert_eq!(h.method.as_deref(), Some(*method), "{name}");
        assert_eq!(h.uri(msg), Some(*uri), "{name}");
        assert_eq!(h.body, *body, "{name}");
        assert!(p.consumed <= msg.len());
        if *body == BodyKind::UntilClose {
            assert_eq!(
                p,
                shadowtap_format::http1::Progress {
                    consumed: msg.len(),
                    status: Status::Partial
                }
            );
            assert!(f.finish());
        } else {
            assert_eq!(
                (p.consumed, p.status),
                (msg.len(), Status::Complete),
                "{name}"
            );
        }
        let again = parse_request_head_lenient(msg).expect("lenient parse");
        assert_eq!(again.method.as_deref(), Some(*method));
    }
    // No method token: not a request, lenient or not.
    assert!(Framer::request()
        .lenient()
        .feed(b"\x16\x03\x01 x\r\n\r\n")
        .is_err());
    assert!(Framer::request()
        .lenient()
        .feed(b"Host: x\r\n\r\n")
        .is_err());
}

/// After a read error, the iterator claimed the file ended cleanly
/// (`End::Clean { indexed: false }`), and `next_exchange` went on reading
/// past the damage.
#[test]
fn reader_claims_no_clean_end_after_an_error() {
    let bytes = write_all(
        &(0..30).map(exchange).collect::<Vec<_>>(),
        small_blocks(Codec::Zstd),
    );
    let idx = read_index(&mut std::io::Cursor::new(&bytes))
        .unwrap()
        .unwrap();
    let mut damaged = bytes.clone();
    damaged[idx[1].offset as usize + BLOCK_HEADER_LEN + 3] ^= 0x40;

    let mut it = Reader::with_options(&damaged[..], ReadOptions::default()).unwrap();
    let results: Vec<_> = it.by_ref().collect();
    assert!(results.last().unwrap().is_err());
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(it.end(), None, "an error is no clean end");

    let mut r = Reader::with_options(&damaged[..], ReadOptions::default()).unwrap();
    let mut ok = 0;
    let err = loop {
        match r.next_exchange() {
            Ok(Some(_)) => ok += 1,
            Ok(None) => panic!("the damage was not found"),
            Err(e) => break e,
        }
    };
    assert!(err.is_block_damage());
    assert_eq!(ok, idx[0].record_count);
    assert!(matches!(r.next_exchange(), Ok(None)));
    assert_eq!(r.end(), None);
    // A clean read still ends cleanly.
    let mut clean = Reader::with_options(&bytes[..], ReadOptions::default()).unwrap();
    assert_eq!(clean.by_ref().count(), 30);
    assert_eq!(clean.end(), Some(&End::Clean { indexed: true }));
}

/// FORMAT.md §7 and the named flag constants must stay in step: every named
/// flag is in the table with its bit, and the table names no other.
#[test]
fn format_md_flag_table_matches_the_constants() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).unwrap();
    let section = &doc[doc.find("## 7. Flags").unwrap()..doc.find("## 8.").unwrap()];
    let rows: Vec<(u32, String)> = section
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let bit = cols.get(1)?.parse().ok()?;
            Some((bit, cols.get(2)?.trim_matches('`').to_string()))
        })
        .collect();
    let named: Vec<(u32, String)> = Flags::NAMED
        .iter()
        .map(|(f, n)| (f.0.trailing_zeros(), n.to_string()))
        .collect();
    assert_eq!(rows, named);
    let first_reserved = named.len();
    assert!(
        section.contains(&format!("Bits {first_reserved}–31 are reserved")),
        "the reserved range starts after the last named bit"
    );
}

/// An empty file was "not a shadowtap log (.stlog): bad magic bytes", as if
/// it held something else: it holds nothing, and the message says so.
#[test]
fn an_empty_file_was_said_to_have_bad_magic_bytes() {
    let err = Reader::new(&b""[..])
        .err()
        .expect("an empty file is no log");
    assert_eq!(err.to_string(), "empty file: not a shadowtap log (.stlog)");
}

/// Fuzzing (issue 12): salvage put bytes back in front of the stream by
/// copying everything already put back, and took them out by shifting it
/// all, so sliding a byte at a time through a damaged index section (up to
/// 65,536 entries of 40 bytes are put back) took time quadratic in its
/// length: minutes for one damaged index header, where it now takes as long
/// as reading the bytes.
#[test]
fn salvage_slid_through_a_damaged_index_in_quadratic_time() {
    use shadowtap_format::spec::{INDEX_ENTRY_LEN, INDEX_MAGIC, MAX_INDEX_ENTRIES};
    let exchanges: Vec<_> = (0..20).map(exchange).collect();
    let file = write_all(&exchanges, small_blocks(Codec::None));
    let second = file
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"STBK")
        .nth(1)
        .map(|(at, _)| at)
        .expect("two blocks");
    // An index header claiming the most entries, then no valid trailer.
    let mut damage = INDEX_MAGIC.to_vec();
    damage.extend_from_slice(&(MAX_INDEX_ENTRIES as u32).to_le_bytes());
    damage.resize(8 + MAX_INDEX_ENTRIES * INDEX_ENTRY_LEN, 0xab);
    let mut damaged = file[..second].to_vec();
    damaged.extend_from_slice(&damage);
    damaged.extend_from_slice(&file[second..]);

    let mut r =
        Reader::with_options(std::io::Cursor::new(damaged), ReadOptions { salvage: true }).unwrap();
    let got: Vec<_> = r.by_ref().map(Result::unwrap).collect();
    assert_eq!(got, exchanges, "every block around the damage is read");
    // The file's own index no longer matches the shifted blocks: it is
    // skipped too, and the file ends without one.
    let index_at = file
        .windows(4)
        .rposition(|w| w == INDEX_MAGIC)
        .expect("an index");
    let s = r.salvage_stats();
    assert_eq!(
        s.skipped_bytes,
        (damage.len() + file.len() - index_at) as u64,
        "{s:?}"
    );
    assert_eq!((s.bad_blocks, s.lost_exchanges), (2, 0), "{s:?}");
    assert_eq!(r.end(), Some(&End::Clean { indexed: false }));
}
