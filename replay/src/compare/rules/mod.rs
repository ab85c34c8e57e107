//! `--ignore` rules and the built-in noise.
//!
//! A [`Difference`] is noise when an ignore rule matches it (reported as
//! [`Noise::Rule`] with the rule's text), or else, unless
//! `--no-default-ignores`, when it is built-in noise ([`Noise::Builtin`]).
//! Noise is reported, never hidden, so the built-in rules are narrow: a
//! real change must not pass for noise.
//!
//! # Rule grammar
//!
//! ```text
//! RULE      = SELECTOR [ "~" REGEX ] [ SPACE "within=" NUMBER [ "%" ] ]
//!           | "~" REGEX
//! SELECTOR  = "status" | "headers" | "body"
//!           | "header:" NAME
//!           | "json:" POINTER | "body:" POINTER
//! ```
//!
//! Surrounding whitespace is ignored.
//!
//! * `status` matches a difference of the status code.
//! * `header:NAME` matches a difference of that header field, of any kind
//!   (value, missing, extra, length). NAME is case-insensitive; `*` in it
//!   matches any run of characters (`header:x-amz-*`, `header:*`). A name
//!   cannot contain `~`, which starts the condition.
//! * `headers` matches a difference of the order of the header fields.
//! * `body` matches any difference of the body: the body as a whole (text,
//!   binary) and every JSON pointer into it.
//! * `json:POINTER` (or `body:POINTER`) matches a difference at a JSON
//!   pointer into the body. POINTER is an RFC 6901 pointer pattern: it
//!   starts with `/`; its segments are compared in escaped form (`~1` for
//!   `/`, `~0` for `~`), as they appear in the difference; a segment `*`
//!   matches any one segment, a segment `**` zero or more segments, and a
//!   `*` within a segment any run of characters (`json:/items/*/updated_at`,
//!   `json:/meta/**` — `/meta` itself included — `json:/**/trace_id`,
//!   `json:/**/*_at`, `json:/**` for the whole body). `**` must be a whole
//!   segment (`***` and `a**` are errors).
//! * `SELECTOR~REGEX`: the difference is noise only when both values match
//!   REGEX (regex crate syntax, unanchored unless anchored with `^`/`$`). A
//!   missing value does not match, so a conditional rule never matches a
//!   difference of kind `missing` or `extra`. Values are the excerpts the
//!   report shows (at most 160 bytes; a cut one ends with `…`), except that
//!   a JSON string is matched without its quotes (its escapes as written):
//!   `json:/version~^v\d+$` matches `"v12"`. After a pointer, `~0` and `~1`
//!   are escapes of the pointer, so a REGEX starting with `0` or `1` is
//!   written in a group: `json:/n~(1\d*)`.
//! * `~REGEX` alone applies to a difference of any field.
//! * `json:POINTER within=X` (absolute) or `within=X%` (relative to the
//!   larger magnitude): numbers at matching pointers compare equal when that
//!   close. Such a rule marks nothing as noise; it makes the numbers equal.
//!   X is a finite, non-negative number (at most 100 with `%`); `within`
//!   is only for `json:`/`body:` pointer selectors, without a condition,
//!   and comes last.
//!
//! `--ignore-order POINTER` takes the same pointer patterns (with or
//! without `json:`/`body:`): arrays at matching pointers compare as
//! multisets.
//!
//! Rules are tried in the order given; the first that matches names the
//! noise. Each is parsed once (regexes compiled, pointer patterns split into
//! segments); matching allocates nothing but the noise's name.

mod builtin;
mod pattern;
mod shape;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_builtin;

use regex::Regex;

use self::pattern::{NamePattern, PointerPattern};
use super::json::{JsonPolicy, Tolerance};
use super::{Difference, Field, Noise};

/// Why a rule did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad rule {rule:?}: {why}")]
pub struct RuleError {
    pub rule: String,
    pub why: String,
}

/// What part of a response a rule is about.
#[derive(Clone, Debug)]
enum Selector {
    /// `~REGEX` alone: any field.
    Any,
    Status,
    Header(NamePattern),
    HeaderOrder,
    /// `body`: the body as a whole and any pointer into it.
    Body,
    Pointer(PointerPattern),
}

impl Selector {
    fn matches(&self, field: &Field) -> bool {
        match (self, field) {
            (Selector::Any, _) => true,
            (Selector::Status, Field::Status) => true,
            (Selector::Header(p), Field::Header(name)) => p.matches(name),
            (Selector::HeaderOrder, Field::HeaderOrder) => true,
            (Selector::Body, Field::Body | Field::Pointer(_)) => true,
            (Selector::Pointer(p), Field::Pointer(ptr)) => p.matches(ptr),
            _ => false,
        }
    }
}

/// One `--ignore` rule that marks differences as noise.
#[derive(Clone, Debug)]
struct Rule {
    /// As written, for [`Noise::Rule`].
    text: String,
    selector: Selector,
    /// Both values must match.
    condition: Option<Regex>,
}

impl Rule {
    fn matches(&self, d: &Difference) -> bool {
        if !self.selector.matches(&d.field) {
            return false;
        }
        let Some(re) = &self.condition else {
            return true;
        };
        let json = matches!(d.field, Field::Pointer(_));
        let ok = |v: &Option<String>| {
            v.as_deref()
                .is_some_and(|v| re.is_match(condition_text(v, json)))
        };
        ok(&d.baseline) && ok(&d.candidate)
    }
}

/// The text a condition is matched against: a JSON string without its
/// quotes (a cut one ends with `…` instead of a quote, which stays).
fn condition_text(v: &str, json: bool) -> &str {
    if !json {
        return v;
    }
    match v.strip_prefix('"') {
        Some(inner) if inner.ends_with('…') => inner,
        Some(inner) => inner.strip_suffix('"').unwrap_or(v),
        None => v,
    }
}

/// What one rule text parses to.
enum Parsed {
    Ignore(Rule),
    Tolerance(PointerPattern, Tolerance),
}

/// The ignore rules of a run, with or without the built-in ones.
#[derive(Debug, Default)]
pub struct Rules {
    ignore: Vec<Rule>,
    tolerances: Vec<(PointerPattern, Tolerance)>,
    unordered: Vec<PointerPattern>,
    builtin: bool,
}

impl Rules {
    /// Rules from `--ignore` texts and `--ignore-order` pointers; `builtin`
    /// false is `--no-default-ignores`.
    pub fn new(
        ignore: &[String],
        ignore_order: &[String],
        builtin: bool,
    ) -> Result<Rules, RuleError> {
        let mut rules = Rules {
            builtin,
            ..Rules::default()
        };
        for text in ignore {
            match parse_rule(text).map_err(|why| RuleError {
                rule: text.clone(),
                why,
            })? {
                Parsed::Ignore(r) => rules.ignore.push(r),
                Parsed::Tolerance(p, t) => rules.tolerances.push((p, t)),
            }
        }
        for text in ignore_order {
            let t = text.trim();
            let pointer = t
                .strip_prefix("json:")
                .or_else(|| t.strip_prefix("body:"))
                .unwrap_or(t);
            let p = PointerPattern::parse(pointer).map_err(|why| RuleError {
                rule: text.clone(),
                why,
            })?;
            rules.unordered.push(p);
        }
        Ok(rules)
    }

    /// The rules of an `--ignore-file`: one per line, `#` comments and
    /// blank lines skipped.
    pub fn lines_of_file(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    /// Whether a difference is noise, and why: the first `--ignore` rule
    /// that matches it, else (unless `--no-default-ignores`) the built-in
    /// noise.
    pub fn noise(&self, d: &Difference) -> Option<Noise> {
        if let Some(r) = self.ignore.iter().find(|r| r.matches(d)) {
            return Some(Noise::Rule(r.text.clone()));
        }
        if self.builtin {
            builtin::noise(d)
        } else {
            None
        }
    }
}

impl JsonPolicy for Rules {
    fn unordered(&self, pointer: &str) -> bool {
        self.unordered.iter().any(|p| p.matches(pointer))
    }
    fn tolerance(&self, pointer: &str) -> Option<Tolerance> {
        self.tolerances
            .iter()
            .find(|(p, _)| p.matches(pointer))
            .map(|&(_, t)| t)
    }
}

/// The name of the shape of a value that differs by nature (`timestamp`,
/// `epoch timestamp`, `uuid`, `hex token`, `random token`), or `None`.
/// `excerpt` is as in a [`Difference`]: JSON text for a body pointer (a
/// string with its quotes), raw text for a header. Two values are built-in
/// noise when they have one shape and, beyond the name, are alike:
/// timestamps written alike, epoch numbers within a day of each other under
/// a key naming a time, tokens of one length differing in most places.
pub fn value_shape(excerpt: &str) -> Option<&'static str> {
    shape::classify(excerpt).map(|s| s.name())
}

/// Parses one `--ignore` rule (see the module docs).
fn parse_rule(text: &str) -> Result<Parsed, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty rule".into());
    }
    let (t, within) = split_within(t)?;
    let (selector, condition) = split_condition(t)?;
    let selector = parse_selector(selector)?;
    let condition = match condition {
        None => None,
        Some("") => return Err("empty condition after ~".into()),
        Some(re) => Some(Regex::new(re).map_err(|e| format!("bad regex: {e}"))?),
    };
    if let Some(w) = within {
        let Selector::Pointer(p) = selector else {
            return Err("within= is only for json:POINTER (or body:POINTER) rules".into());
        };
        if condition.is_some() {
            return Err("within= cannot be combined with a ~ condition".into());
        }
        return Ok(Parsed::Tolerance(p, parse_within(w)?));
    }
    if matches!(selector, Selector::Any) && condition.is_none() {
        return Err("empty selector".into());
    }
    Ok(Parsed::Ignore(Rule {
        text: text.to_owned(),
        selector,
        condition,
    }))
}

/// Splits a trailing ` within=X` off a rule.
fn split_within(t: &str) -> Result<(&str, Option<&str>), String> {
    let Some(at) = t.rfind(char::is_whitespace) else {
        if t.starts_with("within=") {
            return Err("within= needs a json:POINTER before it".into());
        }
        return Ok((t, None));
    };
    let Some(w) = t[at..].trim_start().strip_prefix("within=") else {
        return Ok((t, None));
    };
    let rest = t[..at].trim_end();
    if rest.is_empty() {
        return Err("within= needs a json:POINTER before it".into());
    }
    if rest
        .split_whitespace()
        .any(|word| word.starts_with("within="))
    {
        return Err("within= may be given once, at the end".into());
    }
    Ok((rest, Some(w)))
}

/// Splits `SELECTOR~REGEX` at the `~` that starts the condition: the first
/// one, except that in a pointer `~0` and `~1` are escapes.
fn split_condition(t: &str) -> Result<(&str, Option<&str>), String> {
    let pointer_from = ["json:", "body:"]
        .iter()
        .find(|p| t.starts_with(**p))
        .map(|p| p.len());
    let b = t.as_bytes();
    let at = match pointer_from {
        Some(from) => {
            (from..b.len()).find(|&i| b[i] == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')))
        }
        None => t.find('~'),
    };
    Ok(match at {
        Some(i) => (t[..i].trim_end(), Some(&t[i + 1..])),
        None => (t, None),
    })
}

/// Parses a selector (see the module docs); "" is any field.
fn parse_selector(s: &str) -> Result<Selector, String> {
    Ok(match s {
        "" => Selector::Any,
        "status" => Selector::Status,
        "headers" => Selector::HeaderOrder,
        "body" => Selector::Body,
        _ => {
            if let Some(name) = s.strip_prefix("header:") {
                Selector::Header(NamePattern::parse(name)?)
            } else if let Some(p) = s.strip_prefix("json:").or_else(|| s.strip_prefix("body:")) {
                Selector::Pointer(PointerPattern::parse(p)?)
            } else {
                return Err(format!(
                    "unknown selector {s:?} (expected status, header:NAME, headers, body, json:POINTER or body:POINTER)"
                ));
            }
        }
    })
}

/// `X` or `X%`: a finite, non-negative tolerance (at most 100%).
fn parse_within(w: &str) -> Result<Tolerance, String> {
    let (num, relative) = match w.strip_suffix('%') {
        Some(n) => (n, true),
        None => (w, false),
    };
    let bad = || format!("within={w}: expected a non-negative number, or a percentage up to 100%");
    // Rust's float parser accepts `inf` and `NaN`; only plain numbers here.
    if num.is_empty()
        || !num
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return Err(bad());
    }
    let x: f64 = num.parse().map_err(|_| bad())?;
    if !x.is_finite() || x < 0.0 || (relative && x > 100.0) {
        return Err(bad());
    }
    Ok(if relative {
        Tolerance::Relative(x / 100.0)
    } else {
        Tolerance::Absolute(x)
    })
}
