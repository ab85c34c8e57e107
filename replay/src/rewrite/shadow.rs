//! The Host a mirrored request carries: Envoy's `-shadow` rule
//! ([`shadow_host`]) and the Host modes ([`HostMode`]); see the docs of
//! [`super`].

/// The suffix Envoy inserts into a mirrored request's Host.
pub const SHADOW_SUFFIX: &str = "-shadow";

/// Why a Host cannot go through the `-shadow` rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The Host is empty (or the request has no Host header).
    #[error("empty Host")]
    Empty,
    /// An IPv6 literal without brackets (`::1`): the port cannot be told
    /// apart from the address.
    #[error("unbracketed IPv6 literal in Host {host:?}")]
    UnbracketedIpv6 {
        /// The Host as given.
        host: String,
    },
    /// A `[` without its `]`.
    #[error("unclosed bracket in Host {host:?}")]
    UnclosedBracket {
        /// The Host as given.
        host: String,
    },
}

/// Applies Envoy's `-shadow` rule to a Host value (see the module docs).
///
/// ```
/// use shadowtap_replay::rewrite::shadow_host;
/// assert_eq!(shadow_host("cluster1:8000").unwrap(), "cluster1-shadow:8000");
/// assert_eq!(shadow_host("[::1]").unwrap(), "[::1]-shadow");
/// assert!(shadow_host("::1").is_err());
/// ```
pub fn shadow_host(host: &str) -> Result<String, HostError> {
    let (name, port) = split_port(host.as_bytes())?;
    // Both parts are slices of a str split at ASCII bytes.
    let (name, port) = (
        &host[..name.len()],
        &host[name.len()..name.len() + port.len()],
    );
    Ok(format!("{name}{SHADOW_SUFFIX}{port}"))
}

/// [`shadow_host`] appending to `out` (which is left unchanged on error).
pub(super) fn shadow_host_into(host: &[u8], out: &mut Vec<u8>) -> Result<(), HostError> {
    let (name, port) = split_port(host)?;
    out.extend_from_slice(name);
    out.extend_from_slice(SHADOW_SUFFIX.as_bytes());
    out.extend_from_slice(port);
    Ok(())
}

/// Splits a Host into the part before the port and the port with its `:`
/// (empty when there is no port).
fn split_port(host: &[u8]) -> Result<(&[u8], &[u8]), HostError> {
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    let lossy = || String::from_utf8_lossy(host).into_owned();
    if host[0] == b'[' {
        let Some(close) = host.iter().rposition(|&b| b == b']') else {
            return Err(HostError::UnclosedBracket { host: lossy() });
        };
        return Ok(match host[close..].iter().position(|&b| b == b':') {
            Some(i) => host.split_at(close + i),
            None => (host, &[][..]),
        });
    }
    let colons = host.iter().filter(|&&b| b == b':').count();
    if colons > 1 {
        return Err(HostError::UnbracketedIpv6 { host: lossy() });
    }
    Ok(match host.iter().position(|&b| b == b':') {
        Some(i) => host.split_at(i),
        None => (host, &[][..]),
    })
}

/// How the lines of a request head end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    /// `\r\n`, as RFC 9112 asks.
    #[default]
    CrLf,
    /// A bare `\n`, which servers accept (RFC 9112 §2.2).
    Lf,
}

impl LineEnding {
    /// The ending of the line `line` (which ends in `\n`).
    pub(super) fn of(line: &[u8]) -> LineEnding {
        if line.ends_with(b"\r\n") {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        }
    }

    /// The bytes that end a line.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::CrLf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// The Host line a target gets ([`HostMode::target_host_line`]), in both
/// line endings: each request takes the one its own lines use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLine {
    crlf: Vec<u8>,
    lf: Vec<u8>,
}

impl HostLine {
    /// `Host: VALUE` with each ending.
    pub fn new(value: &[u8]) -> HostLine {
        let mut lf = b"Host: ".to_vec();
        lf.extend_from_slice(value);
        let mut crlf = lf.clone();
        crlf.extend_from_slice(b"\r\n");
        lf.push(b'\n');
        HostLine { crlf, lf }
    }

    /// The line with `ending`.
    pub fn bytes(&self, ending: LineEnding) -> &[u8] {
        match ending {
            LineEnding::CrLf => &self.crlf,
            LineEnding::Lf => &self.lf,
        }
    }
}

/// Where the Host of a mirrored request comes from and whether it gets the
/// `-shadow` suffix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostMode {
    /// Take the captured request's Host instead of the target's authority
    /// (`--keep-host`).
    pub keep_captured: bool,
    /// Insert `-shadow` by the rule (default on; off with
    /// `--no-shadow-suffix`).
    pub no_suffix: bool,
}

impl HostMode {
    /// The Host line (`Host: VALUE`) for a target authority, when the
    /// Host comes from the target. `None` when the Host comes from the
    /// captured request.
    pub fn target_host_line(&self, authority: &str) -> Result<Option<HostLine>, HostError> {
        if self.keep_captured {
            return Ok(None);
        }
        let mut value = Vec::new();
        if self.no_suffix {
            if authority.is_empty() {
                return Err(HostError::Empty);
            }
            value.extend_from_slice(authority.as_bytes());
        } else {
            shadow_host_into(authority.as_bytes(), &mut value)?;
        }
        Ok(Some(HostLine::new(&value)))
    }
}
