//! The patterns of the rules: header-name globs and JSON pointer patterns,
//! parsed once and matched without allocating.

/// Whether `s` matches the glob `pat`, where `*` matches any run of bytes
/// (possibly empty) and every other byte matches itself (ASCII case folded
/// when `fold`). Greedy with one backtrack point: at most
/// `pat.len() * s.len()` steps.
pub(super) fn glob(pat: &[u8], s: &[u8], fold: bool) -> bool {
    let same = |a: u8, b: u8| {
        if fold {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0, 0);
    // Where the last `*` was, and where in `s` its match currently ends.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if p < pat.len() && same(pat[p], s[i]) {
            p += 1;
            i += 1;
        } else if let Some((sp, si)) = star {
            // Let the `*` take one more byte and try again after it.
            star = Some((sp, si + 1));
            p = sp + 1;
            i = si + 1;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&b| b == b'*')
}

/// A header-name pattern: a lowercase name, `*` matching any run of
/// characters.
#[derive(Clone, Debug)]
pub(super) enum NamePattern {
    Exact(Box<str>),
    Glob(Box<str>),
}

impl NamePattern {
    /// Parses a header name (case-insensitive, `*` globs allowed).
    pub(super) fn parse(name: &str) -> Result<NamePattern, String> {
        if name.is_empty() {
            return Err("empty header name".into());
        }
        if let Some(c) = name.chars().find(|&c| !is_tchar(c) && c != '*') {
            return Err(format!("{c:?} is not allowed in a header name"));
        }
        let lower = name.to_ascii_lowercase().into_boxed_str();
        Ok(if lower.contains('*') {
            NamePattern::Glob(lower)
        } else {
            NamePattern::Exact(lower)
        })
    }

    /// Whether a header name (as the differences give it, lowercase; case is
    /// folded anyway) matches.
    pub(super) fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(n) => n.eq_ignore_ascii_case(name),
            NamePattern::Glob(g) => glob(g.as_bytes(), name.as_bytes(), true),
        }
    }
}

/// A character of an HTTP token (RFC 9110 `tchar`), which header names are.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// One segment of a pointer pattern.
#[derive(Clone, Debug)]
enum Seg {
    /// This segment exactly (escaped form, `~0` and `~1`).
    Lit(Box<str>),
    /// A segment matching this glob (`*` within the segment).
    Glob(Box<str>),
    /// `*`: any one segment.
    One,
    /// `**`: zero or more segments.
    Rest,
}

/// An RFC 6901 pointer pattern: `/`-separated segments compared in escaped
/// form, where a segment `*` matches any one segment, `**` any number of
/// them (zero included), and a `*` inside a segment any run of characters.
#[derive(Clone, Debug)]
pub(super) struct PointerPattern {
    segs: Box<[Seg]>,
}

impl PointerPattern {
    /// Parses a pointer pattern; it starts with `/`.
    pub(super) fn parse(text: &str) -> Result<PointerPattern, String> {
        if text.is_empty() {
            return Err("empty pointer pattern (/** is the whole body)".into());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!("pointer pattern {text:?} does not start with '/'"));
        };
        let mut segs = Vec::new();
        for s in rest.split('/') {
            check_escapes(s)?;
            segs.push(match s {
                "**" => Seg::Rest,
                "*" => Seg::One,
                _ if s.contains("**") => {
                    return Err(format!("segment {s:?}: ** must be a whole segment"));
                }
                _ if s.contains('*') => Seg::Glob(s.into()),
                _ => Seg::Lit(s.into()),
            });
        }
        Ok(PointerPattern { segs: segs.into() })
    }

    /// Whether a pointer (escaped form; "" is the whole document) matches.
    /// Greedy over segments with one backtrack point (the last `**`), so at
    /// most segments-of-pattern × segments-of-pointer steps; no allocation.
    pub(super) fn matches(&self, pointer: &str) -> bool {
        let pat = &self.segs;
        let mut cur = first_segment(pointer);
        let mut pi = 0;
        // The last `**` seen, and where the segments it takes end.
        let mut star: Option<(usize, usize)> = None;
        while let Some(at) = cur {
            let (seg, next) = segment_at(pointer, at);
            match pat.get(pi) {
                Some(Seg::Rest) => {
                    star = Some((pi, at));
                    pi += 1;
                    continue;
                }
                Some(p) if p.matches(seg) => {
                    pi += 1;
                    cur = next;
                    continue;
                }
                _ => {}
            }
            let Some((sp, taken)) = star else {
                return false;
            };
            // Let the `**` take one more segment.
            let after = segment_at(pointer, taken).1;
            cur = after;
            pi = sp + 1;
            match after {
                Some(a) => star = Some((sp, a)),
                None => break,
            }
        }
        pat[pi..].iter().all(|s| matches!(s, Seg::Rest))
    }
}

impl Seg {
    fn matches(&self, seg: &str) -> bool {
        match self {
            Seg::Lit(l) => **l == *seg,
            Seg::Glob(g) => glob(g.as_bytes(), seg.as_bytes(), false),
            Seg::One => true,
            Seg::Rest => true,
        }
    }
}

/// A `~` in a pointer is `~0` or `~1` (RFC 6901).
fn check_escapes(seg: &str) -> Result<(), String> {
    let b = seg.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'~' && !matches!(b.get(i + 1), Some(b'0' | b'1')) {
            return Err(format!("segment {seg:?}: ~ is written ~0 (and / is ~1)"));
        }
    }
    Ok(())
}

/// Where the first segment of a pointer starts; `None` for "" (no
/// segments). A pointer not starting with `/` is taken as one segment.
fn first_segment(pointer: &str) -> Option<usize> {
    match pointer.as_bytes().first() {
        None => None,
        Some(b'/') => Some(1),
        Some(_) => Some(0),
    }
}

/// The segment starting at byte `at`, and where the next one starts.
fn segment_at(pointer: &str, at: usize) -> (&str, Option<usize>) {
    let rest = pointer.get(at..).unwrap_or("");
    match rest.find('/') {
        Some(end) => (&rest[..end], Some(at + end + 1)),
        None => (rest, None),
    }
}

/// The last segment of a pointer (escaped form), `None` for "".
pub(super) fn last_segment(pointer: &str) -> Option<&str> {
    if pointer.is_empty() {
        return None;
    }
    Some(pointer.rsplit('/').next().unwrap_or(pointer))
}
