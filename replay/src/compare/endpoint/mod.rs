//! Endpoint names: the method and a template of the request target, so
//! that comparisons aggregate per endpoint rather than per URL.
//!
//! # The automatic template
//!
//! `METHOD /path/{id}?key1&key2`, at most [`TEMPLATE_MAX`] bytes (cut on a
//! character boundary and ended with `…`). The method is kept as given.
//!
//! The request target may be in origin form (`/a/b?x=1`), absolute form
//! (`http://host:80/a/b?x=1`: scheme and authority are dropped), `*`
//! (`OPTIONS *`, kept), or empty (`/`). Anything else (the authority form of
//! `CONNECT`) is templated like a path. The fragment is dropped, and only
//! the first [`TARGET_SCAN_MAX`] bytes of a target are looked at.
//!
//! Path segments are kept, empty ones included (so `/a/` and `/a` stay
//! apart, as servers may route them apart), except that a segment that is
//! a value rather than a name becomes `{id}`:
//!
//! * digits with at most separators `- . : _ + ,` (`123`, `-1`, `1.5`,
//!   `2024-01-05`: a date in a path is a parameter);
//! * a UUID (8-4-4-4-12 hex digits);
//! * 8 or more hex digits with at least one digit (`a1b2c3d4`; `deadbeef`
//!   and `facade` stay, as hex letters alone spell words);
//! * 16 or more characters of base64url (`A-Z a-z 0-9 - _`, `=` padding)
//!   with letters and digits (an opaque token; a long slug with digits,
//!   `my-first-post-2024`, counts as one too: it names a resource);
//! * a segment with a percent-escape (`%40`, `%20`: encoded data), or an
//!   `@` after its first character (an email);
//! * a segment longer than 64 bytes.
//!
//! A segment `NAME.EXT` whose NAME is a value and EXT a short extension
//! (1 to 8 letters and digits, starting with a letter) keeps its
//! extension: `/items/123.json` is `/items/{id}.json`; `/files/report.pdf`
//! stays. Matrix parameters (`;jsessionid=...`) keep their names only.
//!
//! The query keeps its keys, sorted and deduplicated, without values
//! (`?a&b`); a key that is a value (number, UUID, hex, token, as above)
//! becomes `{id}`. No query, or one without keys, adds nothing.
//!
//! # Overrides
//!
//! `--endpoint 'METHOD PATTERN'` names the requests it matches by its own
//! text (spacing normalized to one space); the first override that matches
//! wins, before the automatic template. METHOD is a method (compared
//! ASCII-case-insensitively) or `*` for any. PATTERN is `*`, or a path
//! starting with `/` whose segments are literal (compared exactly, as
//! written on the wire), `{name}` (any one non-empty segment), or, last
//! only, `{name*}` or `**` (the rest of the path: zero or more segments).
//! The request's query is ignored; a pattern has none.

#[cfg(test)]
mod tests;

/// The longest template, in bytes (with its `…` when cut).
pub const TEMPLATE_MAX: usize = 256;
/// The bytes of a request target looked at.
pub const TARGET_SCAN_MAX: usize = 8 * 1024;
/// A path segment longer than this is a value.
const SEGMENT_NAME_MAX: usize = 64;

/// Why an `--endpoint` did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad endpoint {text:?}: {why}")]
pub struct EndpointError {
    pub text: String,
    pub why: String,
}

/// One segment of an override's pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Literal(String),
    /// `{name}`: any one non-empty segment.
    One,
    /// `{name*}` or `**`: the rest.
    Rest,
}

/// One `--endpoint` override.
#[derive(Clone, Debug)]
struct Override {
    /// `METHOD PATTERN`, the endpoint's name.
    name: String,
    /// `None` for `*`.
    method: Option<String>,
    /// `None` for the pattern `*` (`OPTIONS *`).
    path: Option<Vec<Seg>>,
}

impl Override {
    fn parse(text: &str) -> Result<Override, String> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(pattern), None) = (words.next(), words.next(), words.next()) else {
            return Err("expected METHOD PATTERN, e.g. 'GET /api/items/{id}'".into());
        };
        if method != "*"
            && !method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
        {
            return Err(format!("{method:?} is not a method (or * for any)"));
        }
        let path = if pattern == "*" {
            None
        } else {
            Some(parse_pattern(pattern)?)
        };
        Ok(Override {
            name: format!("{method} {pattern}"),
            method: (method != "*").then(|| method.to_owned()),
            path,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self
            .method
            .as_deref()
            .is_some_and(|m| !m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        let Some(pattern) = &self.path else {
            return path == "*";
        };
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut segs = rest.split('/');
        for p in pattern {
            match p {
                Seg::Rest => return true,
                Seg::One => match segs.next() {
                    Some(s) if !s.is_empty() => {}
                    _ => return false,
                },
                Seg::Literal(l) => {
                    if segs.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        segs.next().is_none()
    }
}

/// Parses an override's path pattern (see the module docs).
fn parse_pattern(pattern: &str) -> Result<Vec<Seg>, String> {
    let Some(rest) = pattern.strip_prefix('/') else {
        return Err(format!(
            "pattern {pattern:?} does not start with '/' (or is *)"
        ));
    };
    if pattern.contains(['?', '#']) {
        return Err(
            "a pattern has no query or fragment (the query is ignored when matching)".into(),
        );
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segs = Vec::with_capacity(parts.len());
    for (i, s) in parts.iter().enumerate() {
        let seg = if *s == "**" {
            Seg::Rest
        } else if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, rest) = match inner.strip_suffix('*') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("segment {s:?}: a parameter is {{name}} or {{name*}}, name of letters, digits, _ and -"));
            }
            if rest {
                Seg::Rest
            } else {
                Seg::One
            }
        } else if s.contains(['{', '}', '*']) {
            return Err(format!(
                "segment {s:?}: {{name}}, {{name*}} and ** are whole segments"
            ));
        } else {
            Seg::Literal((*s).to_owned())
        };
        if seg == Seg::Rest && i + 1 != parts.len() {
            return Err(format!(
                "segment {s:?}: the rest of the path can only be matched last"
            ));
        }
        segs.push(seg);
    }
    Ok(segs)
}

/// Names requests by endpoint: `--endpoint` templates first, else the
/// automatic template.
#[derive(Debug, Default)]
pub struct Endpoints {
    overrides: Vec<Override>,
}

impl Endpoints {
    /// Endpoints with these `--endpoint` overrides, tried in order.
    pub fn new(overrides: &[String]) -> Result<Endpoints, EndpointError> {
        let overrides = overrides
            .iter()
            .map(|t| {
                Override::parse(t).map_err(|why| EndpointError {
                    text: t.clone(),
                    why,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Endpoints { overrides })
    }

    /// The endpoint of a request with this method and request target.
    pub fn name(&self, method: &str, target: &str) -> String {
        if !self.overrides.is_empty() {
            let (path, _) = split_target(target);
            if let Some(o) = self.overrides.iter().find(|o| o.matches(method, path)) {
                return o.name.clone();
            }
        }
        template(method, target)
    }
}

/// The automatic template of a request: `METHOD /path/{id}?key&key` (see
/// the module docs).
pub fn template(method: &str, target: &str) -> String {
    let (path, query) = split_target(target);
    let mut out = String::with_capacity(method.len() + path.len().min(TEMPLATE_MAX) + 8);
    out.push_str(method);
    out.push(' ');
    if path == "*" {
        out.push('*');
    } else {
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            push_segment(&mut out, seg);
            if out.len() > TEMPLATE_MAX {
                break;
            }
        }
    }
    if let Some(q) = query {
        let mut keys: Vec<&str> = q
            .split('&')
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
            .filter(|k| !k.is_empty())
            .map(|k| if is_value(k) { "{id}" } else { k })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for (i, k) in keys.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            if out.len() > TEMPLATE_MAX {
                break;
            }
        }
    }
    bound(out)
}

/// The path (`*`, `/` when empty) and query of a request target, without
/// scheme, authority and fragment; only the first [`TARGET_SCAN_MAX`] bytes.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let mut end = target.len().min(TARGET_SCAN_MAX);
    while !target.is_char_boundary(end) {
        end -= 1;
    }
    let mut t = &target[..end];
    if let Some(hash) = t.find('#') {
        t = &t[..hash];
    }
    if t == "*" {
        return ("*", None);
    }
    if let Some(after) = strip_scheme(t) {
        t = after.find(['/', '?']).map_or("", |at| &after[at..]);
    }
    let (path, query) = match t.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (t, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// What follows `scheme://` in an absolute-form target.
fn strip_scheme(t: &str) -> Option<&str> {
    let (scheme, rest) = t.split_once("://")?;
    let mut chars = scheme.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then_some(rest)
}

/// Appends a path segment, or `{id}` for its value part.
fn push_segment(out: &mut String, seg: &str) {
    let mut params = seg.split(';');
    let name = params.next().unwrap_or("");
    if is_path_value(name) {
        out.push_str("{id}");
    } else if let Some((_, ext)) = name
        .rsplit_once('.')
        .filter(|(s, e)| is_extension(e) && is_path_value(s))
    {
        out.push_str("{id}.");
        out.push_str(ext);
    } else {
        out.push_str(name);
    }
    for p in params {
        out.push(';');
        out.push_str(p.split_once('=').map_or(p, |(k, _)| k));
    }
}

/// A short file extension: 1 to 8 letters and digits, starting with a
/// letter.
fn is_extension(e: &str) -> bool {
    (1..=8).contains(&e.len())
        && e.starts_with(|c: char| c.is_ascii_alphabetic())
        && e.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Whether a path segment is a value: [`is_value`], a percent-escape, an
/// email-like `@`, or a long segment.
fn is_path_value(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let escaped = b
        .windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
    escaped || b[1..].contains(&b'@') || s.len() > SEGMENT_NAME_MAX || is_value(s)
}

/// Whether a segment or key is a value: a number or date, a UUID, hex with
/// a digit, an opaque token (see the module docs).
fn is_value(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let has_digit = b.iter().any(u8::is_ascii_digit);
    if !has_digit {
        return false;
    }
    if s.len() > SEGMENT_NAME_MAX {
        return true;
    }
    let numeric = b
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'.' | b':' | b'_' | b'+' | b','));
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    let hex = b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit);
    let unpadded = &b[..b.len() - b.iter().rev().take_while(|&&c| c == b'=').count()];
    let token = b.len() >= 16
        && b.iter().any(u8::is_ascii_alphabetic)
        && unpadded
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    numeric || uuid || hex || token
}

/// `out` cut to [`TEMPLATE_MAX`] bytes on a character boundary, ended with
/// `…` when cut.
fn bound(mut out: String) -> String {
    if out.len() <= TEMPLATE_MAX {
        return out;
    }
    let mut end = TEMPLATE_MAX - '…'.len_utf8();
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out.push('…');
    out
}
