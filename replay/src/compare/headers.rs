//! Header fields compared by name.
//!
//! Names compare case-insensitively. A name both sides have is compared by
//! its values in order (a field repeated a different number of times is a
//! `length` difference, other values a `value` one); a name only one side
//! has is `missing` or `extra`. The order of the names both sides have is
//! one `order` difference at `headers`, noise by nature (no HTTP semantics
//! depend on it). Framing and hop-by-hop fields are not compared: the body
//! is compared after its framing is undone, so `Content-Length` and
//! `Transfer-Encoding` follow from it, and `Connection` and `Keep-Alive`
//! describe one hop. `Set-Cookie` compares each cookie's name and
//! attributes; a cookie whose value alone changed is noise by nature
//! (session ids and signatures differ on every response).

use shadowtap_format::http1::fields;

use super::{excerpt, Difference, Field, Kind, Noise};

/// Fields left out of the comparison (lowercase).
pub const NOT_COMPARED: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "trailer",
];

/// One compared field of a head: slices of it, no copy unless it differs.
struct F<'h> {
    name: &'h [u8],
    value: &'h [u8],
    /// The name's lowercase text when it is not ASCII (invalid UTF-8
    /// replaced); ASCII names, the usual case, compare in place.
    lower: Option<String>,
}

/// A head's compared fields in order (left-out fields skipped).
fn compared(head: &[u8]) -> Vec<F<'_>> {
    fields(head)
        .filter_map(|f| {
            let name = f.name(head)?;
            let lower = (!name.is_ascii()).then(|| lower(name));
            if lower.is_none()
                && NOT_COMPARED
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
            {
                return None;
            }
            Some(F {
                name,
                value: f.value(head),
                lower,
            })
        })
        .collect()
}

/// Names compare as their lowercase text (a name that is not ASCII never
/// equals one that is).
fn same_name(x: &F<'_>, y: &F<'_>) -> bool {
    match (&x.lower, &y.lower) {
        (None, None) => x.name.eq_ignore_ascii_case(y.name),
        (Some(p), Some(q)) => p == q,
        _ => false,
    }
}

fn lower(name: &[u8]) -> String {
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

impl F<'_> {
    fn lowercase(&self) -> String {
        self.lower.clone().unwrap_or_else(|| lower(self.name))
    }
}

/// Values compare as their text (invalid UTF-8 replaced).
fn same_value(x: &[u8], y: &[u8]) -> bool {
    x == y
        || (!(x.is_ascii() && y.is_ascii())
            && String::from_utf8_lossy(x) == String::from_utf8_lossy(y))
}

/// The indexes of the fields of `fs` that are the first of their name.
fn names(fs: &[F<'_>]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(fs.len());
    for (k, f) in fs.iter().enumerate() {
        if !out.iter().any(|&m| same_name(&fs[m], f)) {
            out.push(k);
        }
    }
    out
}

/// The values of the fields of `fs` named as `fs[first]`, from it on.
fn values_of<'h, 'f>(fs: &'f [F<'h>], first: usize) -> impl Iterator<Item = &'h [u8]> + Clone + 'f {
    let name = &fs[first];
    fs[first..]
        .iter()
        .filter(move |f| same_name(f, name))
        .map(|f| f.value)
}

/// The values of a name as text.
fn texts<'h>(values: impl Iterator<Item = &'h [u8]>) -> Vec<String> {
    values
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// Appends the differences between the fields of two heads (status line
/// and fields, as captured) to `out`.
pub fn diff(baseline: &[u8], candidate: &[u8], out: &mut Vec<Difference>) {
    let (fa, fb) = (compared(baseline), compared(candidate));
    let (a, b) = (names(&fa), names(&fb));
    // The first field of `ys` (of `in_ys`) named as `x`.
    let find = |x: &F<'_>, ys: &[usize], in_ys: &[F<'_>]| {
        ys.iter().copied().find(|&k| same_name(&in_ys[k], x))
    };
    for &ka in &a {
        let va = values_of(&fa, ka);
        match find(&fa[ka], &b, &fb) {
            None => out.push(Difference {
                field: Field::Header(fa[ka].lowercase()),
                kind: Kind::Missing,
                baseline: Some(show(&texts(va))),
                candidate: None,
                noise: None,
            }),
            Some(kb) => {
                let vb = values_of(&fb, kb);
                let (na, nb) = (va.clone().count(), vb.clone().count());
                if na == nb && va.clone().zip(vb.clone()).all(|(x, y)| same_value(x, y)) {
                    continue;
                }
                let (va, vb) = (texts(va), texts(vb));
                let name = fa[ka].lowercase();
                if name == "set-cookie" {
                    diff_cookies(&va, &vb, out);
                    continue;
                }
                out.push(Difference {
                    field: Field::Header(name),
                    kind: if na == nb { Kind::Value } else { Kind::Length },
                    baseline: Some(show(&va)),
                    candidate: Some(show(&vb)),
                    noise: None,
                });
            }
        }
    }
    for &kb in &b {
        if find(&fb[kb], &a, &fa).is_none() {
            out.push(Difference {
                field: Field::Header(fb[kb].lowercase()),
                kind: Kind::Extra,
                baseline: None,
                candidate: Some(show(&texts(values_of(&fb, kb)))),
                noise: None,
            });
        }
    }
    // The order of the names both have.
    let (common_a, common_b) = (common(&fa, &a, &fb, &b), common(&fb, &b, &fa, &a));
    let in_order = common_a.len() == common_b.len()
        && common_a
            .iter()
            .zip(&common_b)
            .all(|(&x, &y)| same_name(&fa[x], &fb[y]));
    if !in_order {
        let list = |fs: &[F<'_>], ns: &[usize]| {
            excerpt(
                &ns.iter()
                    .map(|&k| fs[k].lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        };
        out.push(Difference {
            field: Field::HeaderOrder,
            kind: Kind::Order,
            baseline: Some(list(&fa, &common_a)),
            candidate: Some(list(&fb, &common_b)),
            noise: Some(Noise::Builtin("header order")),
        });
    }
}

/// The names (first fields) `xs` of `fx` that `fy` has too (among its
/// names `ys`), in `fx`'s order.
fn common(fx: &[F<'_>], xs: &[usize], fy: &[F<'_>], ys: &[usize]) -> Vec<usize> {
    xs.iter()
        .copied()
        .filter(|&x| ys.iter().any(|&y| same_name(&fy[y], &fx[x])))
        .collect()
}

/// A field's values as one excerpt: `v1 | v2`.
fn show(values: &[String]) -> String {
    excerpt(&values.join(" | "))
}

/// A `Set-Cookie` value without the cookie's value: `name; attributes`.
fn cookie_shape(v: &str) -> String {
    let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
    let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
    let mut attrs: Vec<String> = attrs
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        // Expiry moves with the clock.
        .filter(|a| !a.starts_with("expires=") && !a.starts_with("max-age="))
        .collect();
    attrs.sort();
    if attrs.is_empty() {
        name.to_owned()
    } else {
        format!("{name}; {}", attrs.join("; "))
    }
}

fn diff_cookies(va: &[String], vb: &[String], out: &mut Vec<Difference>) {
    if va == vb {
        return;
    }
    let mut sa: Vec<String> = va.iter().map(|v| cookie_shape(v)).collect();
    let mut sb: Vec<String> = vb.iter().map(|v| cookie_shape(v)).collect();
    sa.sort();
    sb.sort();
    let (kind, noise) = if sa == sb {
        (Kind::Value, Some(Noise::Builtin("set-cookie value")))
    } else if sa.len() != sb.len() {
        (Kind::Length, None)
    } else {
        (Kind::Value, None)
    };
    out.push(Difference {
        field: Field::Header("set-cookie".into()),
        kind,
        baseline: Some(show(va)),
        candidate: Some(show(vb)),
        noise,
    });
}

/// The status codes' difference, if they differ.
pub fn diff_status(baseline: u16, candidate: u16) -> Option<Difference> {
    (baseline != candidate).then(|| Difference {
        field: Field::Status,
        kind: Kind::Value,
        baseline: Some(baseline.to_string()),
        candidate: Some(candidate.to_string()),
        noise: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A difference as (field, kind, baseline, candidate, known noise).
    type Row = (String, Kind, Option<String>, Option<String>, bool);

    fn diffs(a: &str, b: &str) -> Vec<Row> {
        let mut out = Vec::new();
        let h = |f: &str| format!("HTTP/1.1 200 OK\r\n{f}\r\n").into_bytes();
        diff(&h(a), &h(b), &mut out);
        out.into_iter()
            .map(|d| {
                (
                    d.field.to_string(),
                    d.kind,
                    d.baseline,
                    d.candidate,
                    d.noise.is_some(),
                )
            })
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn names_compare_case_insensitively_and_framing_is_left_out() {
        assert!(diffs(
            "Content-Type: a\r\nContent-Length: 5\r\n",
            "content-type: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        )
        .is_empty());
    }

    #[test]
    fn values_missing_extra_and_repeats() {
        let d = diffs(
            "A: 1\r\nB: 2\r\nV: x\r\nV: y\r\n",
            "A: 1\r\nV: x\r\nC: 3\r\n",
        );
        assert_eq!(
            d,
            vec![
                ("header:b".into(), Kind::Missing, s("2"), None, false),
                ("header:v".into(), Kind::Length, s("x | y"), s("x"), false),
                ("header:c".into(), Kind::Extra, None, s("3"), false),
            ]
        );
        let d = diffs(
            "Cache-Control: max-age=60\r\n",
            "Cache-Control: no-store\r\n",
        );
        assert_eq!(
            d,
            vec![(
                "header:cache-control".into(),
                Kind::Value,
                s("max-age=60"),
                s("no-store"),
                false
            )]
        );
    }

    #[test]
    fn fields_compare_as_text() {
        let h = |f: &[u8]| [&b"HTTP/1.1 200 OK\r\n"[..], f, b"\r\n"].concat();
        let mut out = Vec::new();
        // Invalid UTF-8 reads as U+FFFD on both sides: the same text.
        diff(&h(b"X-A: \xff\r\n"), &h(b"x-a: \xfe\r\n"), &mut out);
        assert_eq!(out, vec![]);
        diff(&h(b"X-A: \xff\r\n"), &h(b"X-A: \xffz\r\n"), &mut out);
        assert_eq!(
            out.iter()
                .map(|d| (
                    d.field.to_string(),
                    d.kind,
                    d.baseline.clone(),
                    d.candidate.clone()
                ))
                .collect::<Vec<_>>(),
            vec![(
                "header:x-a".to_owned(),
                Kind::Value,
                s("\u{fffd}"),
                s("\u{fffd}z")
            )]
        );
    }

    #[test]
    fn order_is_one_noise_difference() {
        let d = diffs("A: 1\r\nB: 2\r\nC: 3\r\n", "B: 2\r\nA: 1\r\nC: 3\r\n");
        assert_eq!(
            d,
            vec![(
                "headers".into(),
                Kind::Order,
                s("a, b, c"),
                s("b, a, c"),
                true
            )]
        );
        // A field only one side has does not make an order difference.
        assert_eq!(
            diffs("A: 1\r\nX: 0\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n").len(),
            1
        );
    }

    #[test]
    fn cookies_compare_by_name_and_attributes() {
        let d = diffs(
            "Set-Cookie: sid=abc; Path=/; HttpOnly; Expires=Wed, 09 Jun 2021 10:18:14 GMT\r\n",
            "Set-Cookie: sid=xyz; HttpOnly; path=/; Expires=Thu, 10 Jun 2021 10:18:14 GMT\r\n",
        );
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].1, d[0].4), (Kind::Value, true));
        let d = diffs(
            "Set-Cookie: sid=abc; Path=/\r\n",
            "Set-Cookie: session=abc; Path=/\r\n",
        );
        assert_eq!((d[0].1, d[0].4), (Kind::Value, false));
        let d = diffs(
            "Set-Cookie: sid=abc\r\n",
            "Set-Cookie: sid=abc\r\nSet-Cookie: t=1\r\n",
        );
        assert_eq!((d[0].1, d[0].4), (Kind::Length, false));
        let d = diffs("Set-Cookie: sid=abc; Secure\r\n", "Set-Cookie: sid=abc\r\n");
        assert_eq!((d[0].1, d[0].4), (Kind::Value, false));
    }

    #[test]
    fn status() {
        assert_eq!(diff_status(200, 200), None);
        let d = diff_status(200, 500).unwrap();
        assert_eq!(
            (d.field, d.kind, d.baseline, d.candidate),
            (Field::Status, Kind::Value, s("200"), s("500"))
        );
    }
}
