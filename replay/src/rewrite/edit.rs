//! The edits a user asks for on top of the Host rule: `--rewrite-uri` and
//! `--remove-header` (`--header` is [`ExtraHeader`](super::ExtraHeader)).
//!
//! - **`--rewrite-uri 'REGEX=>REPLACEMENT'`**: the request target's path
//!   and query (of an absolute-form target, only those: scheme and
//!   authority stay) have every match of REGEX replaced by REPLACEMENT
//!   (`$1`, `${name}` for groups, `$$` for a `$`), rule after rule in the
//!   order given, each on the previous one's result. The argument splits at
//!   its first `=>`. A rule whose result would be empty is not applied to
//!   that request (an empty request target is not HTTP). The replacement
//!   may not hold spaces or control bytes, so the rewritten target is still
//!   one token of the request line (groups come from the captured target,
//!   which has none).
//! - **`--remove-header NAME`**: every `NAME` line is dropped
//!   (case-insensitive). `Host`, `Content-Length`, `Transfer-Encoding` and
//!   `Connection` cannot be removed: the Host rule, the body's framing and
//!   the connection's persistence depend on them. A `--header` of the same
//!   name wins (its line replaces the first one, as without
//!   `--remove-header`).

use regex::bytes::Regex;
use shadowtap_format::http1;

use crate::filter::compile;

/// One `--rewrite-uri` rule.
#[derive(Clone, Debug)]
pub struct UriRewrite {
    regex: Regex,
    replacement: Vec<u8>,
    arg: String,
}

/// One `--remove-header` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveHeader {
    name: String,
}

/// Why a `--rewrite-uri` or `--remove-header` argument is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditArgError {
    /// No `=>` between regex and replacement.
    #[error("--rewrite-uri {arg:?}: expected 'REGEX=>REPLACEMENT'")]
    NoArrow {
        /// The argument as given.
        arg: String,
    },
    /// The regex does not compile (the `regex` crate's message, one line).
    #[error("--rewrite-uri {arg:?}: invalid regex: {message}")]
    Regex {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// The replacement has a space or a control byte.
    #[error("--rewrite-uri {arg:?}: the replacement may not contain spaces or control characters")]
    Replacement {
        /// The argument as given.
        arg: String,
    },
    /// Not a header name.
    #[error("--remove-header {arg:?}: not a header name")]
    InvalidName {
        /// The argument as given.
        arg: String,
    },
    /// A header the rewriter needs.
    #[error("--remove-header {arg:?}: Host, Content-Length, Transfer-Encoding and Connection cannot be removed")]
    Protected {
        /// The argument as given.
        arg: String,
    },
}

impl UriRewrite {
    /// Parses `REGEX=>REPLACEMENT`.
    pub fn parse(arg: &str) -> Result<UriRewrite, EditArgError> {
        let Some((pattern, replacement)) = arg.split_once("=>") else {
            return Err(EditArgError::NoArrow { arg: arg.into() });
        };
        if replacement
            .bytes()
            .any(|b| b == b' ' || b == b'\t' || b.is_ascii_control())
        {
            return Err(EditArgError::Replacement { arg: arg.into() });
        }
        let regex = compile(pattern).map_err(|message| EditArgError::Regex {
            arg: arg.into(),
            message,
        })?;
        Ok(UriRewrite {
            regex,
            replacement: replacement.as_bytes().to_vec(),
            arg: arg.to_owned(),
        })
    }

    /// The argument as given (for the report).
    pub fn arg(&self) -> &str {
        &self.arg
    }

    /// `uri` rewritten by this rule, or `None` when it does not match (or
    /// the result would be empty).
    pub fn apply(&self, uri: &[u8]) -> Option<Vec<u8>> {
        if !self.regex.is_match(uri) {
            return None;
        }
        let out = self.regex.replace_all(uri, self.replacement.as_slice());
        (!out.is_empty()).then(|| out.into_owned())
    }
}

impl RemoveHeader {
    /// Parses a header name.
    pub fn parse(arg: &str) -> Result<RemoveHeader, EditArgError> {
        let name = arg.trim();
        if name.is_empty() || !name.bytes().all(http1::is_tchar) {
            return Err(EditArgError::InvalidName { arg: arg.into() });
        }
        const PROTECTED: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];
        if PROTECTED.iter().any(|p| name.eq_ignore_ascii_case(p)) {
            return Err(EditArgError::Protected { arg: arg.into() });
        }
        Ok(RemoveHeader {
            name: name.to_owned(),
        })
    }

    /// The header name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The edits of a replay: rules applied to every request.
#[derive(Clone, Debug, Default)]
pub struct Edits {
    /// `--rewrite-uri`, in order.
    pub uri: Vec<UriRewrite>,
    /// `--remove-header`.
    pub remove: Vec<RemoveHeader>,
}

impl Edits {
    /// The request target `target` after every `--rewrite-uri` rule (only
    /// its path and query: see the module docs), or `None` when no rule
    /// changed it.
    pub fn rewrite_target(&self, target: &[u8]) -> Option<Vec<u8>> {
        if self.uri.is_empty() {
            return None;
        }
        let at = crate::filter::origin_start(target).unwrap_or(0);
        let (authority, origin) = target.split_at(at);
        let mut current: Option<Vec<u8>> = None;
        for rule in &self.uri {
            if let Some(next) = rule.apply(current.as_deref().unwrap_or(origin)) {
                current = Some(next);
            }
        }
        current.map(|o| [authority, &o].concat())
    }

    /// Whether a field line of this name is removed.
    pub(crate) fn removes(&self, h: &[u8], line: &http1::Field) -> bool {
        self.remove.iter().any(|r| line.is(h, r.name.as_bytes()))
    }
}
