//! Fuzz targets of shadowtap: one pure function per entry point that takes
//! bytes from outside (see `fuzz/README.md`).
//!
//! Each function drives its entry point with whatever bytes it is given and
//! checks invariants that must hold for every input, panicking when one
//! does not. A fuzzer's crash is therefore either a panic in shadowtap's
//! code or a broken invariant. The functions know nothing of any fuzzer:
//! the AFL++ binaries in `fuzz/afl/` call them, and `tests/corpus.rs`
//! replays the committed corpus through them in plain `cargo test`.
//!
//! Inputs are cut at [`MAX_INPUT`] so that every allocation stays bounded
//! by the input (the log reader reads an in-memory cursor, never a file).

use std::io::Cursor;

use shadowtap_cli::units;
use shadowtap_format::http1::{self, BodyKind, Framer, FramingError, Head, Status};
use shadowtap_format::{End, ReadOptions, Reader};
use shadowtap_replay::client::Target;
use shadowtap_replay::rewrite::{
    Edits, ExtraHeader, HostLine, HostMode, RemoveHeader, Rewriter, UriRewrite,
};
use shadowtap_replay::threshold::Threshold;

mod capture;
mod compare;
mod gor;
mod report;

pub use capture::{decode, pipeline};
pub use compare::compare;
pub use gor::gor_read;
pub use report::report;

/// Longest input a target looks at; the rest is ignored.
pub const MAX_INPUT: usize = 1 << 16;

/// A fuzz target: any bytes in, a panic on a bug.
pub type FuzzFn = fn(&[u8]);

/// The targets by name, as the corpus directories are named.
pub const TARGETS: [(&str, FuzzFn); 11] = [
    ("http1", http1),
    ("stlog_read", stlog_read),
    ("decode", decode),
    ("pipeline", pipeline),
    ("rewrite", rewrite),
    ("target", target),
    ("threshold", threshold),
    ("units", units),
    ("compare", compare),
    ("gor_read", gor_read),
    ("report", report),
];

fn cap(data: &[u8]) -> &[u8] {
    &data[..data.len().min(MAX_INPUT)]
}

/// Takes the first byte as settings; an empty input gives 0.
fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (b, rest),
        None => (0, data),
    }
}

// ---------------------------------------------------------------- http1 --

/// What framing one stream of messages gave: per message, the bytes it
/// took, its head, and how it ended.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    messages: Vec<(u64, Option<Head>, Option<u64>, u64)>,
    error: Option<FramingError>,
    /// The last message was still open when the bytes ran out; whether the
    /// end of the stream completed it.
    open: Option<(u64, bool)>,
}

/// The framer's settings taken from the first byte.
fn framer_for(settings: u8) -> Framer {
    let mut f = if settings & 1 == 0 {
        Framer::request()
    } else {
        Framer::response(["GET", "HEAD", "CONNECT", "POST"][usize::from(settings >> 1) & 3])
    };
    if settings & 0x08 != 0 {
        f = f.lenient();
    }
    if settings & 0x10 != 0 {
        f = f.with_max_head(256);
    }
    if settings & 0x20 != 0 {
        f = f.with_body_cap(16);
    }
    f
}

/// Frames `stream` as consecutive messages, fed in the pieces `pieces`
/// (which concatenate to `stream`).
fn frame_stream(settings: u8, pieces: &[&[u8]]) -> Framed {
    let mut f = framer_for(settings);
    let mut out = Framed {
        messages: Vec::new(),
        error: None,
        open: None,
    };
    let mut stopped = false;
    'pieces: for piece in pieces {
        let mut rest = *piece;
        // Every feed but the last of a piece completes a message, and every
        // message takes at least one byte: at most len + 1 rounds.
        for _ in 0..=piece.len() {
            let before = f.consumed();
            match f.feed(rest) {
                Ok(p) => {
                    assert!(p.consumed <= rest.len(), "consumed past the input");
                    assert_eq!(f.consumed(), before + p.consumed as u64);
                    assert!(f.body_consumed() <= f.consumed());
                    assert_eq!(f.is_complete(), p.status == Status::Complete);
                    match p.status {
                        Status::Partial => {
                            assert_eq!(p.consumed, rest.len(), "partial but bytes left");
                            continue 'pieces;
                        }
                        Status::Complete => {
                            let head = f.head().cloned();
                            let h = head.as_ref().expect("complete without a head");
                            assert!(h.len as u64 + f.leading_skipped() as u64 <= f.consumed());
                            if let Some(at) = f.capped_at() {
                                assert!(at <= f.consumed());
                            }
                            // A complete message stays complete, taking nothing.
                            let again = f.feed(b"x").expect("complete framer fails");
                            assert_eq!((again.consumed, again.status), (0, Status::Complete));
                            let tunnel = h.body == BodyKind::Tunnel;
                            out.messages
                                .push((f.consumed(), head, f.capped_at(), f.body_data()));
                            rest = &rest[p.consumed..];
                            if tunnel {
                                stopped = true;
                                break 'pieces;
                            }
                            if settings & 1 == 0 {
                                f.reset_request();
                            } else {
                                f.reset_response(
                                    ["GET", "HEAD", "CONNECT", "POST"]
                                        [usize::from(settings >> 1) & 3],
                                );
                            }
                            if rest.is_empty() {
                                continue 'pieces;
                            }
                        }
                    }
                }
                Err(e) => {
                    // An error is final.
                    assert_eq!(f.feed(b"GET / HTTP/1.1\r\n\r\n"), Err(e.clone()));
                    out.error = Some(e);
                    stopped = true;
                    break 'pieces;
                }
            }
        }
        unreachable!("a piece took more rounds than it has bytes");
    }
    if !stopped && f.consumed() > 0 {
        let done = f.finish();
        if done {
            assert!(f.head().is_some(), "finished without a head");
        }
        out.open = Some((f.consumed(), done));
    }
    out
}

/// The HTTP/1 framer (`format::http1`), request or response side, fed the
/// stream whole and split at points the input chooses: "need more bytes"
/// resumption must give the same messages as one feed.
///
/// Input: settings byte (side, method, lenient, small head bound, body
/// cap), split count byte, that many split bytes, then the stream.
pub fn http1(data: &[u8]) {
    let data = cap(data);
    let (settings, rest) = split_first(data);
    let (n, rest) = split_first(rest);
    let n = usize::from(n % 16).min(rest.len());
    let (splits, stream) = rest.split_at(n);
    let whole = frame_stream(settings, &[stream]);
    let mut cuts: Vec<usize> = splits
        .iter()
        .scan(0usize, |at, &s| {
            *at += usize::from(s);
            Some(*at)
        })
        .filter(|&c| c <= stream.len())
        .collect();
    cuts.push(stream.len());
    let mut pieces = Vec::new();
    let mut from = 0;
    for c in cuts {
        pieces.push(&stream[from..c]);
        from = c;
    }
    let split = frame_stream(settings, &pieces);
    assert_eq!(whole, split, "splitting the stream changed its framing");
    // Byte by byte, for short streams.
    if stream.len() <= 512 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            whole,
            frame_stream(settings, &bytes),
            "byte by byte differs"
        );
    }
    // The stored-request parsers read any bytes without panicking, and
    // agree with the framer on a strict head.
    if let Some(h) = http1::parse_request_head(stream) {
        assert!(h.len <= stream.len());
        assert!(http1::parse_request_head_lenient(stream).is_some());
        let _ = h.uri(stream);
        let _ = h.host(stream);
    }
    if let Some(h) = http1::parse_response_head(stream) {
        assert!(h.len <= stream.len());
    }
    if let Some(l) = http1::scan_request_line(stream) {
        assert!(!l.method.is_empty());
    }
}

// ----------------------------------------------------------- stlog_read --

/// The log reader (`format::read`), normal and `--salvage`, over an
/// in-memory cursor: reads every record until the end or an error, must
/// never panic, and stops for good after an error.
///
/// Input: settings byte (bit 0: salvage), then the file.
pub fn stlog_read(data: &[u8]) {
    let data = cap(data);
    let (settings, file) = split_first(data);
    let salvage = settings & 1 != 0;
    let len = file.len() as u64;
    let Ok(mut r) = Reader::with_options(Cursor::new(file), ReadOptions { salvage }) else {
        return;
    };
    let _ = r.header().get("capture.host");
    // Each record takes at least one byte of the file.
    let mut failed = false;
    for _ in 0..=file.len() {
        assert!(r.offset() <= len, "offset past the end");
        match r.next_exchange() {
            Ok(Some(ex)) => {
                if let Some(b) = r.current_block() {
                    assert!(b.offset < len);
                }
                let _ = ex.flags.names().count();
                let _ = (ex.latency_ns(), ex.wire_bytes());
            }
            Ok(None) => {
                match r.end().expect("ended without an end") {
                    End::TornTail {
                        offset,
                        ignored_bytes,
                    } => {
                        assert!(*offset <= len && *ignored_bytes <= len);
                    }
                    End::Clean { .. } | End::Stopped => {}
                }
                break;
            }
            Err(e) => {
                if salvage {
                    assert!(!e.is_block_damage(), "salvage returned block damage: {e}");
                }
                let _ = e.to_string();
                failed = true;
                break;
            }
        }
    }
    if failed {
        assert!(matches!(r.next_exchange(), Ok(None)), "read after an error");
        assert!(r.end().is_none(), "a failed read has an end");
    } else {
        assert!(r.end().is_some(), "the reader did not finish");
    }
    let s = r.salvage_stats();
    assert!(s.skipped_bytes <= len);
    if !salvage {
        assert_eq!(s.bad_blocks, 0);
    }
}

// -------------------------------------------------------------- rewrite --

const EXTRA: [&str; 4] = [
    "X-Shadow: 1",
    "Connection: close",
    "Host: extra.example",
    "Accept: */*",
];

/// `--rewrite-uri` rules a fuzz input may turn on (edit byte bits 0-2).
const URI_RULES: [&str; 3] = [r"^/api/(\w+)=>/v2/$1", r"\?.*$=>", "a+=>b%41$$"];
/// `--remove-header` names a fuzz input may turn on (edit byte bits 3-5):
/// `X-Shadow` is also one of the [`EXTRA`] headers, which wins.
const REMOVED: [&str; 3] = ["Accept", "X-Shadow", "Cookie"];
/// Target path prefixes (edit byte bits 6-7), as `Target` keeps them.
const PREFIXES: [&str; 4] = ["", "/v2", "/x/y-z", "/%41"];

/// The request rewriter (`replay::rewrite`): Host rule, `-shadow`, hop-by-hop
/// headers, `--header`s and, when the settings byte's bit 6 is set, the
/// edits chosen by a second byte (`--rewrite-uri` rules, `--remove-header`
/// names, a target path prefix). A request that frames as one complete
/// message must still frame as one after the rewrite, with the same method
/// and body, the request line changed only in its target, that target the
/// edits' result with the prefix before its path, no removed header left
/// (but a `--header` of that name), and the target's Host where the target
/// gives it.
///
/// Input: settings byte (Host mode, which `--header`s, edits or not), the
/// edit byte when bit 6 says so, then the request.
pub fn rewrite(data: &[u8]) {
    let data = cap(data);
    let (settings, rest) = split_first(data);
    let (edit_bits, raw) = if settings & 0x40 != 0 {
        split_first(rest)
    } else {
        (0, rest)
    };
    let mode = HostMode {
        keep_captured: settings & 1 != 0,
        no_suffix: settings & 2 != 0,
    };
    let extra: Vec<ExtraHeader> = EXTRA
        .iter()
        .enumerate()
        .filter(|(i, _)| settings & (4 << i) != 0)
        .map(|(_, h)| ExtraHeader::parse(h).expect("a valid header"))
        .collect();
    let extra_host = settings & (4 << 2) != 0;
    let edits = Edits {
        uri: uri_rules()
            .iter()
            .enumerate()
            .filter(|(i, _)| edit_bits & (1 << i) != 0)
            .map(|(_, r)| r.clone())
            .collect(),
        remove: picked(&REMOVED, edit_bits >> 3)
            .map(|n| RemoveHeader::parse(n).expect("a valid name"))
            .collect(),
    };
    let prefix = PREFIXES[usize::from(edit_bits >> 6)].as_bytes();
    let mut r = Rewriter::new(mode, extra.clone()).with_edits(edits.clone());
    let Ok(p) = r.rewrite(raw) else { return };
    let line = HostLine::new(b"t.example:8080");
    let plain = p.parts(Some(&line)).concat();
    assert_eq!(p.len_with(Some(&line)), plain.len());
    if let Some(at) = p.host_at() {
        assert!(at <= p.bytes().len());
    }
    let mut out = Vec::new();
    p.write_with_prefix(Some(&line), prefix, &mut out);
    if prefix.is_empty() || p.path_at().is_none() {
        assert_eq!(out, plain, "a prefix that is not put changed the bytes");
    } else {
        assert_eq!(out.len(), plain.len() + prefix.len());
    }

    // The input as the framer sees it: leading empty lines skipped.
    let msg = &raw[http1::leading_empty_lines(raw)..];
    let mut f = Framer::request();
    let Ok(fed) = f.feed(msg) else { return };
    if fed.status != Status::Complete || fed.consumed != msg.len() {
        return;
    }
    let in_head = f.take_head().expect("complete has a head");
    if in_head.upgrade {
        return;
    }
    let mut g = Framer::request();
    let got = g.feed(&out).expect("the rewritten request does not frame");
    assert_eq!(
        (got.status, got.consumed),
        (Status::Complete, out.len()),
        "the rewritten request is not one message"
    );
    assert_eq!(g.leading_skipped(), 0);
    let out_head = g.take_head().expect("complete has a head");
    assert_eq!(out_head.method, in_head.method);
    assert_eq!(p.method(), in_head.method.as_deref().unwrap_or("GET"));
    let in_uri = in_head.uri(msg).unwrap_or_default();
    let edited = edits
        .rewrite_target(in_uri.as_bytes())
        .unwrap_or_else(|| in_uri.as_bytes().to_vec());
    let out_uri = out_head.uri(&out).unwrap_or_default().as_bytes();
    match p.path_at().filter(|_| !prefix.is_empty()) {
        Some(path_at) => {
            // The prefix sits where the path starts, in the request line.
            let uri_at = out_uri.as_ptr() as usize - out.as_ptr() as usize;
            let at = path_at
                .checked_sub(uri_at)
                .expect("the path is in the target");
            assert_eq!(&out_uri[at..at + prefix.len()], prefix);
            assert_eq!(
                [&out_uri[..at], &out_uri[at + prefix.len()..]].concat(),
                edited,
                "the target is not the edited one with the prefix"
            );
        }
        None => assert_eq!(out_uri, edited, "the target is not the edited one"),
    }
    let req_line = |b: &[u8]| b[..b.iter().position(|&c| c == b'\n').map_or(0, |i| i + 1)].to_vec();
    let (in_line, out_line) = (req_line(msg), req_line(&out));
    let around = |l: &[u8], uri: &[u8]| -> Option<(Vec<u8>, Vec<u8>)> {
        let from = l.iter().position(|&c| c == b' ')? + 1;
        let at = from + l[from..].windows(uri.len().max(1)).position(|w| w == uri)?;
        Some((l[..at].to_vec(), l[at + uri.len()..].to_vec()))
    };
    if let (Some(a), Some(b)) = (
        around(&in_line, in_uri.as_bytes()),
        around(&out_line, out_uri),
    ) {
        assert_eq!(a, b, "the request line changed outside its target");
    }
    assert_eq!(
        &out[out_head.len..],
        &msg[in_head.len..],
        "the body changed"
    );
    let head = &out[..out_head.len];
    for name in &edits.remove {
        let added = extra
            .iter()
            .any(|h| h.name().eq_ignore_ascii_case(name.name()));
        let left = http1::fields(head)
            .filter(|f| f.is(head, name.name().as_bytes()))
            .count();
        assert!(
            left <= usize::from(added),
            "{} was not removed",
            name.name()
        );
    }
    if !mode.keep_captured && !extra_host {
        assert_eq!(
            out_head.host(&out).as_deref(),
            Some("t.example:8080"),
            "the target's Host is not the Host sent"
        );
    }
}

/// [`URI_RULES`] parsed, once: compiling a regex costs far more than a
/// run of the target.
fn uri_rules() -> &'static [UriRewrite] {
    static RULES: std::sync::OnceLock<Vec<UriRewrite>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        URI_RULES
            .iter()
            .map(|r| UriRewrite::parse(r).expect("a valid rule"))
            .collect()
    })
}

/// The items of `all` whose bit is set in `bits` (bit 0 the first).
fn picked<'a>(all: &'a [&'a str], bits: u8) -> impl Iterator<Item = &'a str> + 'a {
    all.iter()
        .enumerate()
        .filter(move |(i, _)| bits & (1 << i) != 0)
        .map(|(_, s)| *s)
}

// --------------------------------------------------- target / threshold --

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(&data[..data.len().min(4096)]).ok()
}

/// The `--target` parser (`replay::client::Target`): a parsed target
/// parses again from its Display to the same target.
pub fn target(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let Ok(t) = Target::parse(s) else { return };
    assert!(t.port() != 0);
    assert!(!t.host().is_empty());
    assert!(t.authority().contains(t.host()));
    let again = Target::parse(&t.to_string()).expect("a target's Display does not parse");
    assert_eq!(again, t);
}

/// The `--threshold` parser (`replay::threshold`): a parsed threshold has
/// a number for a limit and parses again from its Display to the same
/// threshold.
pub fn threshold(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let t = match Threshold::parse(s) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!t.limit.is_nan(), "a threshold's limit is NaN: {s:?}");
    let _ = t.format_value(t.limit);
    let again = Threshold::parse(&t.to_string()).expect("a threshold's Display does not parse");
    assert_eq!(again, t);
}

// ---------------------------------------------------------------- units --

/// The parsers of durations, sizes, counts and compression settings
/// (`cli::units`): a parsed value, written back out, parses to itself.
///
/// Input: selector byte, then the text.
pub fn units(data: &[u8]) {
    let (which, rest) = split_first(data);
    let Some(s) = text(rest) else { return };
    match which % 4 {
        0 => {
            if let Ok(d) = units::duration(s) {
                let back = humantime::format_duration(d).to_string();
                assert_eq!(units::duration(&back), Ok(d), "{s:?} -> {back:?}");
            }
        }
        1 => {
            if let Ok(n) = units::size(s) {
                assert_eq!(units::size(&n.to_string()), Ok(n), "{s:?}");
            }
        }
        2 => {
            if let Ok(n) = units::count::<u64>(s) {
                assert_eq!(units::count::<u64>(&n.to_string()), Ok(n), "{s:?}");
            }
        }
        _ => {
            if let Ok((codec, level)) = units::compression(s) {
                let back = match codec {
                    shadowtap_format::Codec::None => "none".to_owned(),
                    _ => format!("zstd:{level}"),
                };
                assert_eq!(units::compression(&back), Ok((codec, level)), "{s:?}");
            }
        }
    }
}
