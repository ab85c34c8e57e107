//! The `gor_read` target: GoReplay's `.gor` reader of `convert`.

use shadowtap_cli::gor::{GorReader, GorWriter};
use shadowtap_format::Exchange;

use crate::cap;

/// Reads every exchange of a `.gor` file, to the end or an error.
fn read(file: &[u8]) -> (Vec<Exchange>, GorReader<&[u8]>, bool) {
    let mut r = GorReader::new(file);
    let mut exs = Vec::new();
    // Each exchange takes at least one payload, each payload at least the
    // separator's bytes.
    for _ in 0..=file.len() {
        match r.next_exchange() {
            Ok(Some(ex)) => exs.push(ex),
            Ok(None) => return (exs, r, false),
            Err(e) => {
                let _ = e.to_string();
                assert!(matches!(r.next_exchange(), Ok(None)), "read after an error");
                return (exs, r, true);
            }
        }
    }
    panic!("more exchanges than bytes");
}

/// Without the fields a `.gor` does not keep (ids and connection ids).
fn kept(ex: &Exchange) -> Exchange {
    Exchange {
        id: 0,
        conn: 0,
        ..ex.clone()
    }
}

/// `cli::gor::GorReader` over any bytes: reads to the end or an error; the
/// counts add up (every payload is a request, a paired or unpaired
/// response, or a replayed one, but for one that fails; every request one
/// exchange at the end);
/// ids run 1, 2, …; a torn tail lies inside the input. What was read,
/// written back with `GorWriter`, is never refused and reads back to the
/// same exchanges (the unanswered ones, which come out last, in their own
/// order).
///
/// Input: the file (no settings byte).
pub fn gor_read(data: &[u8]) {
    let file = cap(data);
    let len = file.len() as u64;
    let (exs, r, failed) = read(file);
    let s = r.stats();
    for (i, ex) in exs.iter().enumerate() {
        assert_eq!(ex.id, i as u64 + 1, "ids in order");
        assert!(ex.request.len() as u64 <= len);
    }
    let answered = exs.iter().filter(|e| e.response.is_some()).count() as u64;
    assert_eq!(answered, s.answered);
    assert_eq!(exs.len() as u64 - answered, s.unanswered);
    assert!(s.flushed <= s.unanswered);
    assert!(s.answered + s.unanswered <= s.requests);
    let counted = s.requests + s.answered + s.unpaired_responses + s.replayed_skipped;
    if failed {
        // The payload whose meta line did not parse was read, not counted.
        assert!(counted == s.payloads || counted + 1 == s.payloads);
        assert!(r.torn_tail().is_none());
        return;
    }
    assert_eq!(counted, s.payloads, "every payload counted once");
    assert_eq!(s.answered + s.unanswered, s.requests, "every request out");
    if let Some(t) = r.torn_tail() {
        assert!(t.ignored_bytes > 0 && t.offset + t.ignored_bytes == len);
    }

    let mut w = GorWriter::new(Vec::new());
    for ex in &exs {
        assert_eq!(
            w.write(ex).expect("a Vec"),
            Ok(()),
            "a read exchange refused"
        );
    }
    let again = w.into_inner().expect("a Vec");
    let (back, r2, failed) = read(&again);
    assert!(
        !failed && r2.torn_tail().is_none(),
        "own output does not read"
    );
    let split = |v: &[Exchange]| -> (Vec<Exchange>, Vec<Exchange>) {
        v.iter().map(kept).partition(|e| e.response.is_some())
    };
    assert_eq!(split(&back), split(&exs), "round trip");
}
