//! `--include` / `--exclude`: which captured exchanges are replayed.
//!
//! A rule is `FIELD:REGEX`. An exchange is kept when it matches every
//! `--include` rule and no `--exclude` rule (no rules: everything is kept).
//! Regexes are the `regex` crate's syntax, unanchored (`path:^/api/` to
//! anchor), matched against the captured bytes (so `(?-u)` reaches bytes
//! that are not UTF-8). The fields:
//!
//! - `method`: the request method as captured (`GET`; case kept).
//! - `uri`: the request target's path and query (`/a/b?x=1`). For an
//!   absolute-form target (`GET http://h/a?x HTTP/1.1`, sent to proxies) the
//!   scheme and authority are left out, so it is `/a?x` too; an
//!   asterisk-form target is `*`.
//! - `path`: `uri` without its query (everything from the first `?`).
//! - `host`: the value of the first `Host` header, trimmed; empty when there
//!   is none.
//! - `header.NAME`: any `NAME` field line (case-insensitive name) whose
//!   value matches; a request without that header never matches (so
//!   `--include header.X-Debug:.` keeps requests that have one and
//!   `--exclude header.X-Debug:.` drops them). Values are matched a field
//!   line at a time, as sent, not split on commas.
//! - `status`: the captured response's final status code, as three digits.
//!   `5xx` (any class), `404` (one code) or a regex (`^(502|504)$`). Only an
//!   exchange whose response was captured has a status: one without (no
//!   response recorded, a live `tee` feed, which sees the request first)
//!   matches no `status` rule, so `--include status:...` leaves it out and
//!   `--exclude status:...` keeps it.
//!
//! The request line and headers are read leniently, as far as they were
//! captured: a request cut short is filtered on what it holds (the rewriter
//! may then skip it as incomplete, counted as such).

use regex::bytes::{Regex, RegexBuilder};
use shadowtap_format::http1::{self, find_head_end, scan_request_line};
use shadowtap_format::Exchange;

#[cfg(test)]
mod tests;

/// Longest compiled regex accepted (the `regex` crate's size limit), so a
/// pathological pattern is refused at parse time instead of using memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What part of an exchange a rule looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterField {
    /// The request method.
    Method,
    /// Path without the query.
    Path,
    /// Path and query.
    Uri,
    /// The first Host header's value.
    Host,
    /// Any value of this header (name as given; matched case-insensitively).
    Header(String),
    /// The captured response's status code.
    Status,
}

impl FilterField {
    fn parse(s: &str) -> Option<FilterField> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "method" => FilterField::Method,
            "path" => FilterField::Path,
            "uri" => FilterField::Uri,
            "host" => FilterField::Host,
            "status" => FilterField::Status,
            _ => {
                let name = s.get("header.".len()..)?;
                if !lower.starts_with("header.") || name.is_empty() {
                    return None;
                }
                if !name.bytes().all(http1::is_tchar) {
                    return None;
                }
                FilterField::Header(name.to_owned())
            }
        })
    }
}

/// Whether a rule keeps or drops what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// `--include`: only matching exchanges are kept.
    Include,
    /// `--exclude`: matching exchanges are left out.
    Exclude,
}

impl RuleKind {
    /// The flag, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            RuleKind::Include => "--include",
            RuleKind::Exclude => "--exclude",
        }
    }
}

/// Why a `--include` / `--exclude` argument is not a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// No `:` after the field.
    #[error("{flag} {arg:?}: expected FIELD:REGEX")]
    NoColon {
        /// The flag.
        flag: &'static str,
        /// The argument as given.
        arg: String,
    },
    /// Not one of the fields.
    #[error(
        "{flag} {arg:?}: unknown field {field:?} (expected method, path, uri, host, header.NAME or status)"
    )]
    UnknownField {
        /// The flag.
        flag: &'static str,
        /// The argument as given.
        arg: String,
        /// The field as given.
        field: String,
    },
    /// The regex does not compile (the message is the `regex` crate's,
    /// on one line).
    #[error("{flag} {arg:?}: invalid regex: {message}")]
    Regex {
        /// The flag.
        flag: &'static str,
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One `--include` or `--exclude` rule.
#[derive(Clone, Debug)]
pub struct FilterRule {
    kind: RuleKind,
    field: FilterField,
    regex: Regex,
    arg: String,
}

impl FilterRule {
    /// Parses `FIELD:REGEX` for `kind`.
    pub fn parse(kind: RuleKind, arg: &str) -> Result<FilterRule, FilterError> {
        let flag = kind.flag();
        let Some((field, pattern)) = arg.split_once(':') else {
            return Err(FilterError::NoColon {
                flag,
                arg: arg.into(),
            });
        };
        let Some(field) = FilterField::parse(field) else {
            return Err(FilterError::UnknownField {
                flag,
                arg: arg.into(),
                field: field.into(),
            });
        };
        let pattern = match field {
            FilterField::Status => status_pattern(pattern),
            _ => pattern.to_owned(),
        };
        let regex = compile(&pattern).map_err(|message| FilterError::Regex {
            flag,
            arg: arg.into(),
            message,
        })?;
        Ok(FilterRule {
            kind,
            field,
            regex,
            arg: arg.to_owned(),
        })
    }

    /// Include or exclude.
    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    /// The field it looks at.
    pub fn field(&self) -> &FilterField {
        &self.field
    }

    /// The argument as given (for the report).
    pub fn arg(&self) -> &str {
        &self.arg
    }

    /// Whether the exchange matches (see the module docs; no status: no
    /// match).
    pub fn matches(&self, ex: &Exchange) -> bool {
        self.matches_view(&View::of(ex), ex)
    }

    fn matches_view(&self, v: &View<'_>, ex: &Exchange) -> bool {
        match &self.field {
            FilterField::Method => v.method.is_some_and(|m| self.regex.is_match(m)),
            FilterField::Uri => self.regex.is_match(v.uri),
            FilterField::Path => {
                let end = v.uri.iter().position(|&b| b == b'?').unwrap_or(v.uri.len());
                self.regex.is_match(&v.uri[..end])
            }
            FilterField::Host => {
                let host = http1::fields(v.head)
                    .find(|f| f.is(v.head, b"host"))
                    .map_or(&[][..], |f| f.value(v.head));
                self.regex.is_match(host)
            }
            FilterField::Header(name) => http1::fields(v.head)
                .filter(|f| f.is(v.head, name.as_bytes()))
                .any(|f| self.regex.is_match(f.value(v.head))),
            FilterField::Status => ex.response.as_ref().is_some_and(|r| {
                let mut digits = [b'0'; 3];
                let code = r.status.min(999);
                digits[0] += (code / 100) as u8;
                digits[1] += (code / 10 % 10) as u8;
                digits[2] += (code % 10) as u8;
                self.regex.is_match(&digits)
            }),
        }
    }
}

/// What the rules look at, read once per exchange.
struct View<'a> {
    method: Option<&'a [u8]>,
    /// Path and query.
    uri: &'a [u8],
    /// The head (as far as it was captured).
    head: &'a [u8],
}

impl<'a> View<'a> {
    fn of(ex: &'a Exchange) -> View<'a> {
        let raw = &ex.request[http1::leading_empty_lines(&ex.request)..];
        let line = scan_request_line(raw);
        View {
            method: line.map(|l| l.method.as_bytes()),
            uri: origin_part(line.and_then(|l| l.uri).unwrap_or_default()),
            head: head_of(raw),
        }
    }
}

/// The rules of a replay: [`Filter::keep`] decides.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    rules: Vec<FilterRule>,
}

impl Filter {
    /// A filter keeping what matches every include and no exclude rule.
    pub fn new(rules: Vec<FilterRule>) -> Filter {
        Filter { rules }
    }

    /// No rules: everything is kept.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[FilterRule] {
        &self.rules
    }

    /// Whether a rule looks at the response status (which a live feed
    /// does not have yet).
    pub fn uses_status(&self) -> bool {
        self.rules.iter().any(|r| r.field == FilterField::Status)
    }

    /// The arguments of the rules of `kind`, as given.
    pub fn args(&self, kind: RuleKind) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|r| r.kind == kind)
            .map(FilterRule::arg)
            .collect()
    }

    /// True when the exchange matches every include rule and no exclude rule.
    pub fn keep(&self, ex: &Exchange) -> bool {
        if self.rules.is_empty() {
            return true;
        }
        let view = View::of(ex);
        self.rules.iter().all(|r| match r.kind {
            RuleKind::Include => r.matches_view(&view, ex),
            RuleKind::Exclude => !r.matches_view(&view, ex),
        })
    }
}

/// Compiles a pattern with the size limit; the error on one line.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

/// The `regex` crate's multi-line error message as one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // The crate's message ends with the cause ("error: ..."); say that.
    match lines.iter().rev().find(|l| l.starts_with("error:")) {
        Some(l) => l.trim_start_matches("error:").trim().to_owned(),
        None => lines.join(" "),
    }
}

/// `5xx` → any code of class 5, `404` → that code, anything else a regex.
fn status_pattern(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() == 3 && (b'1'..=b'9').contains(&b[0]) {
        if b[1..].eq_ignore_ascii_case(b"xx") {
            return format!("^{}[0-9][0-9]$", b[0] as char);
        }
        if b[1..].iter().all(u8::is_ascii_digit) {
            return format!("^{s}$");
        }
    }
    s.to_owned()
}

/// The head at the start of `raw` (after empty lines), or all of `raw` when
/// it was cut before the blank line.
fn head_of(raw: &[u8]) -> &[u8] {
    &raw[..find_head_end(raw, 0).unwrap_or(raw.len())]
}

/// The path and query of a request target: an absolute-form target
/// (`scheme://authority/path?query`) without its scheme and authority.
pub(crate) fn origin_part(uri: &[u8]) -> &[u8] {
    origin_start(uri).map_or(uri, |at| &uri[at..])
}

/// Where the path of an absolute-form target starts (its length when it
/// has no path); `None` for any other form.
pub(crate) fn origin_start(uri: &[u8]) -> Option<usize> {
    if uri.first().is_some_and(|&b| b == b'/' || b == b'*') {
        return None;
    }
    let scheme_end = uri.windows(3).position(|w| w == b"://")?;
    if scheme_end == 0
        || !uri[..scheme_end]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        return None;
    }
    let auth = scheme_end + 3;
    Some(
        uri[auth..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(uri.len(), |p| auth + p),
    )
}
