//! Small pieces of reporting comparisons one request at a time: the
//! request id `replay --compare` reports by, and the `--diff-log` line that
//! `replay --compare` and `diff` both write.

use serde::Serialize;

use super::Comparison;

/// Bit where the input file's index starts in a [`request_id`].
pub const FILE_SHIFT: u32 = 48;

/// The id a request of input file `file` (its index in the command line,
/// from 0) with exchange id `id` is reported by: the exchange id itself
/// for the first file, and for the others the id with the file's index in
/// its top 16 bits (`id ^ file << 48`), so that the ids of several logs do
/// not collide (exchange ids below 2^48, as writers assign them in order).
pub fn request_id(file: usize, id: u64) -> u64 {
    id ^ ((file as u64) << FILE_SHIFT)
}

/// One line of `--diff-log`: the ids of the two exchanges compared (in
/// `replay --compare` both are the request's, see [`request_id`]), the
/// target that answered (replay only), the request, and the differences.
#[derive(Debug, Serialize)]
pub struct DiffLine<'a> {
    pub baseline_id: u64,
    pub candidate_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a str>,
    pub endpoint: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub differences: Vec<DiffEntry<'a>>,
    /// Differences beyond those listed.
    pub more: usize,
}

/// One difference of a [`DiffLine`].
#[derive(Debug, Serialize)]
pub struct DiffEntry<'a> {
    pub path: String,
    pub kind: &'static str,
    pub baseline: Option<&'a str>,
    pub candidate: Option<&'a str>,
    pub noise: Option<String>,
}

/// Where a request was sent and what it is: the fields of a [`DiffLine`]
/// that do not come from the comparison.
#[derive(Clone, Copy, Debug)]
pub struct LineContext<'a> {
    pub baseline_id: u64,
    pub candidate_id: u64,
    pub target: Option<&'a str>,
    pub endpoint: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
}

impl<'a> DiffLine<'a> {
    /// The line of comparison `c` of the request `cx` says.
    pub fn new(cx: LineContext<'a>, c: &'a Comparison) -> DiffLine<'a> {
        DiffLine {
            baseline_id: cx.baseline_id,
            candidate_id: cx.candidate_id,
            target: cx.target,
            endpoint: cx.endpoint,
            method: cx.method,
            uri: cx.uri,
            differences: c
                .differences
                .iter()
                .map(|d| DiffEntry {
                    path: d.field.to_string(),
                    kind: d.kind.as_str(),
                    baseline: d.baseline.as_deref(),
                    candidate: d.candidate.as_deref(),
                    noise: d.noise.as_ref().map(ToString::to_string),
                })
                .collect(),
            more: c.more,
        }
    }

    /// The line as JSON, with its newline, appended to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // Serializing these types into a Vec cannot fail: strings, numbers
        // and options only.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Difference, Field, Kind, Noise};

    #[test]
    fn request_ids_of_the_first_file_are_the_exchange_ids() {
        assert_eq!(request_id(0, 7), 7);
        assert_eq!(request_id(1, 7), (1 << 48) | 7);
        assert_ne!(request_id(1, 7), request_id(2, 7));
    }

    #[test]
    fn a_line_has_diffs_keys_and_the_target() {
        let c = Comparison {
            differences: vec![Difference {
                field: Field::Header("date".into()),
                kind: Kind::Value,
                baseline: Some("a".into()),
                candidate: Some("b".into()),
                noise: Some(Noise::Builtin("date")),
            }],
            more: 2,
            uncompared: None,
        };
        let cx = LineContext {
            baseline_id: 9,
            candidate_id: 9,
            target: Some("http://127.0.0.1:1"),
            endpoint: "GET /x",
            method: "GET",
            uri: "/x?a=1",
        };
        let mut out = Vec::new();
        DiffLine::new(cx, &c).write_to(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "baseline_id": 9, "candidate_id": 9, "target": "http://127.0.0.1:1",
                "endpoint": "GET /x", "method": "GET", "uri": "/x?a=1",
                "differences": [{"path": "header:date", "kind": "value", "baseline": "a",
                    "candidate": "b", "noise": "built-in: date"}],
                "more": 2
            })
        );
        assert_eq!(out.last(), Some(&b'\n'));
        // Without a target (diff's lines) there is no target key.
        let cx = LineContext {
            target: None,
            candidate_id: 4,
            ..cx
        };
        out.clear();
        DiffLine::new(cx, &c).write_to(&mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("target").is_none(), "{v}");
        assert_eq!(
            (v["baseline_id"].as_u64(), v["candidate_id"].as_u64()),
            (Some(9), Some(4))
        );
    }
}
