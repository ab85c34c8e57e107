//! `--target` URLs: `http[s]://host[:port][/path]`, parsed and checked.
//!
//! A path is a prefix put before every request's path: with
//! `http://staging:8080/v2`, `GET /api/items` is sent as
//! `GET /v2/api/items` (trailing slashes of the prefix are dropped, so
//! `/v2/` is the same prefix and `/` none). Of an absolute-form request
//! target (`GET http://h/api HTTP/1.1`) the prefix goes before the path
//! (`http://h/v2/api`); an asterisk-form one (`OPTIONS *`) is sent as is.

use std::fmt;

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS (rustls).
    Https,
}

/// A `--target` URL: `http[s]://host[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub(super) url: String,
    pub(super) scheme: Scheme,
    /// Host without brackets (for resolution and SNI).
    pub(super) host: String,
    pub(super) port: u16,
    /// `host[:port]` as written in the URL (brackets kept): the Host sent.
    pub(super) authority: String,
    /// The URL's path without trailing slashes (`/v2`), put before every
    /// request's path; empty: none.
    pub(super) path_prefix: String,
}

/// Why a `--target` is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not `http://` or `https://`.
    #[error("target {url:?}: only http:// and https:// are supported")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// No host.
    #[error("target {url:?} has no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("target {url:?} has an invalid port")]
    Port {
        /// The URL.
        url: String,
    },
    /// A query, fragment or user info, or a path with spaces or control
    /// characters: a target is scheme, host, port and a path prefix.
    #[error(
        "target {url:?}: only scheme://host[:port][/path] is allowed (no query, fragment, user info or spaces)"
    )]
    Extra {
        /// The URL.
        url: String,
    },
}

impl Target {
    /// Parses a target URL.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(url, "http://") {
            (Scheme::Http, r)
        } else if let Some(r) = strip_prefix_ci(url, "https://") {
            (Scheme::Https, r)
        } else {
            return Err(TargetError::Scheme { url: url.into() });
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains(['?', '#', '@'])
            || path.contains(|c: char| matches!(c, '?' | '#') || !c.is_ascii_graphic())
        {
            return Err(TargetError::Extra { url: url.into() });
        }
        let path_prefix = path.trim_end_matches('/');
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let Some((h, tail)) = after.split_once(']') else {
                return Err(TargetError::NoHost { url: url.into() });
            };
            let port = match tail {
                "" => None,
                t => match t.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(TargetError::Port { url: url.into() }),
                },
            };
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(TargetError::NoHost { url: url.into() });
        }
        let port = match port {
            None => match scheme {
                Scheme::Http => 80,
                Scheme::Https => 443,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(TargetError::Port { url: url.into() }),
            },
        };
        Ok(Target {
            url: url.to_owned(),
            scheme,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path_prefix: path_prefix.to_owned(),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (80/443 when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path put before every request's path (`/v2`), empty for none.
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// `host[:port]` as written: the Host a target-mode request carries
    /// (before the `-shadow` rule).
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
