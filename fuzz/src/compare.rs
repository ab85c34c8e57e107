//! The `compare` target: response comparison on bytes from outside.

use shadowtap_format::http1;
use shadowtap_replay::compare::{endpoint, rules::Rules, Comparer, Options, Side, EXCERPT_MAX};

use super::{cap, split_first, text};

/// A raw response (head and body) as a comparison side; without a head
/// end, the bytes are a JSON body under a made-up head.
fn response_side<'a>(raw: &'a [u8], default_head: &'a [u8]) -> Side<'a> {
    match http1::find_head_end(raw, 0) {
        Some(end) => {
            let (head, body) = raw.split_at(end);
            let status = http1::parse_response_head(head)
                .and_then(|h| h.status)
                .unwrap_or(0);
            Side {
                status,
                head,
                body,
                body_len: body.len() as u64,
            }
        }
        None => Side {
            status: 200,
            head: default_head,
            body: raw,
            body_len: raw.len() as u64,
        },
    }
}

/// The response comparison (`replay::compare`) on two responses from
/// outside (heads, codings, chunking, JSON, forms, text), plus the rule
/// parser and the endpoint templates on the same bytes: nothing panics; a
/// response equals itself; the differences listed stay within the bound
/// and their excerpts within theirs; an endpoint's name within its bound.
///
/// Input: settings byte, then the baseline and the candidate split at the
/// first `0xff` byte (none: the candidate is the baseline).
pub fn compare(data: &[u8]) {
    let (settings, rest) = split_first(cap(data));
    let (a, b) = match rest.iter().position(|&c| c == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, rest),
    };
    let json_head: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
    let options = Options {
        max_body: if settings & 1 == 0 { 1 << 20 } else { 64 },
        max_differences: 16,
    };
    let rules = if settings & 2 == 0 {
        Rules::new(&[], &[], true)
    } else {
        Rules::new(
            &["json:/**/ts".into(), "header:x-*".into()],
            &["/**".into()],
            settings & 4 == 0,
        )
    };
    let comparer = Comparer::new(rules.expect("fixed rules parse"), options);
    let method = ["GET", "HEAD", "POST"][usize::from(settings >> 3) % 3];
    let (sa, sb) = (response_side(a, json_head), response_side(b, json_head));
    let same = comparer.compare(method, &sa, &sa);
    assert!(same.is_equal(), "a response differs from itself: {same:?}");
    let c = comparer.compare(method, &sa, &sb);
    assert!(c.differences.len() <= options.max_differences);
    for d in &c.differences {
        for v in [&d.baseline, &d.candidate].into_iter().flatten() {
            assert!(
                v.len() <= EXCERPT_MAX + 3,
                "an excerpt of {} bytes",
                v.len()
            );
        }
    }
    if a == b {
        assert!(c.is_equal());
    }
    // The same bytes as rule and endpoint texts.
    if let Some(s) = text(a) {
        let lines = Rules::lines_of_file(s);
        let _ = Rules::new(&lines, &lines, true).map_err(|e| e.to_string());
        let _ = endpoint::Endpoints::new(&lines).map_err(|e| e.to_string());
    }
    let target = String::from_utf8_lossy(b);
    let name = endpoint::template(method, &target);
    assert!(
        name.len() <= endpoint::TEMPLATE_MAX + 3,
        "an endpoint of {} bytes",
        name.len()
    );
}
