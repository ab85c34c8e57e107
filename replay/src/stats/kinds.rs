//! The names of what can happen to a request besides a response: errors by
//! kind, TLS failure reasons, drops by cause, skips by reason. Each has a
//! stable snake_case name used in reports and metrics.

use serde::{Deserialize, Serialize};

/// Why a request got no response.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The target refused the connection.
    Refused,
    /// No complete response within the timeout (connect, send or read).
    Timeout,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// The response could not be parsed as HTTP/1.x.
    Protocol,
    /// The TLS handshake or TLS stream failed.
    Tls,
    /// The request's Host could not be rewritten (empty, or an unbracketed
    /// IPv6 literal); nothing was sent.
    InvalidHost,
    /// Anything else (local I/O errors, address resolution).
    Other,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Refused,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Protocol,
        ErrorKind::Tls,
        ErrorKind::InvalidHost,
        ErrorKind::Other,
    ];

    /// The stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Tls => "tls",
            ErrorKind::InvalidHost => "invalid_host",
            ErrorKind::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            ErrorKind::Refused => 0,
            ErrorKind::Timeout => 1,
            ErrorKind::Reset => 2,
            ErrorKind::Protocol => 3,
            ErrorKind::Tls => 4,
            ErrorKind::InvalidHost => 5,
            ErrorKind::Other => 6,
        }
    }
}

/// Why a TLS connection failed, for the [`ErrorKind::Tls`] errors: counted
/// beside the error kinds (which stay as they are), so a report can say why
/// and what to do.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsReason {
    /// The certificate chain does not lead to a trusted root (a self-signed
    /// or private-CA certificate).
    UnknownIssuer,
    /// The certificate is not valid for the target's host name or address.
    NameMismatch,
    /// The certificate has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// Another certificate problem (revoked, bad signature, bad encoding,
    /// wrong purpose).
    BadCertificate,
    /// No protocol version or cipher suite in common, or the target sent a
    /// protocol_version alert.
    ProtocolVersion,
    /// The target answered with something that is not TLS (plain HTTP on an
    /// `https://` target, for instance).
    NotTls,
    /// The target ended the handshake with another TLS alert.
    Alert,
    /// Anything else rustls reported.
    Other,
}

impl TlsReason {
    /// Every reason.
    pub const ALL: [TlsReason; 9] = [
        TlsReason::UnknownIssuer,
        TlsReason::NameMismatch,
        TlsReason::Expired,
        TlsReason::NotYetValid,
        TlsReason::BadCertificate,
        TlsReason::ProtocolVersion,
        TlsReason::NotTls,
        TlsReason::Alert,
        TlsReason::Other,
    ];

    /// The stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsReason::UnknownIssuer => "unknown_issuer",
            TlsReason::NameMismatch => "name_mismatch",
            TlsReason::Expired => "expired",
            TlsReason::NotYetValid => "not_yet_valid",
            TlsReason::BadCertificate => "bad_certificate",
            TlsReason::ProtocolVersion => "protocol_version",
            TlsReason::NotTls => "not_tls",
            TlsReason::Alert => "alert",
            TlsReason::Other => "other",
        }
    }

    /// Whether the certificate was refused (`--insecure` would accept it).
    pub fn is_certificate(self) -> bool {
        matches!(
            self,
            TlsReason::UnknownIssuer
                | TlsReason::NameMismatch
                | TlsReason::Expired
                | TlsReason::NotYetValid
                | TlsReason::BadCertificate
        )
    }
}

/// Why a request was not sent to a target at all.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropCause {
    /// `--concurrency` requests were already in flight (real-time replay,
    /// and live mirroring, where `tee`'s capture thread may drop a request
    /// for this reason before it reaches the engine).
    Concurrency,
    /// `--rate-policy drop` and the rate limit had no room.
    RateLimit,
    /// `tee`'s queue between the capture and the mirror was full. Never
    /// counted inside the engine: the engine's own queues hold one job per
    /// free slot, so they cannot be full (a request without a slot is a
    /// [`DropCause::Concurrency`] drop).
    Queue,
    /// Not sent when the run was stopped (SIGINT/SIGTERM, and the grace
    /// period ended): handed to a target's workers but not yet written,
    /// and for `tee` also still in its queue or the engine's input, or
    /// captured after the mirror had stopped. Requests already written are
    /// not drops but `unanswered` ([`TargetStats::unanswered`](super::TargetStats::unanswered)).
    Shutdown,
}

impl DropCause {
    /// Every cause, in report order.
    pub const ALL: [DropCause; 4] = [
        DropCause::Concurrency,
        DropCause::RateLimit,
        DropCause::Queue,
        DropCause::Shutdown,
    ];

    /// The stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DropCause::Concurrency => "concurrency",
            DropCause::RateLimit => "rate_limit",
            DropCause::Queue => "queue",
            DropCause::Shutdown => "shutdown",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            DropCause::Concurrency => 0,
            DropCause::RateLimit => 1,
            DropCause::Queue => 2,
            DropCause::Shutdown => 3,
        }
    }
}

/// Why an exchange of the input was not replayed at all (to any target).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The captured request is incomplete (cut short, gap in the capture).
    Incomplete,
    /// The captured request body was capped: the full body is not in the log.
    BodyCapped,
    /// A CONNECT or protocol upgrade: not replayable as HTTP/1.x.
    Upgrade,
    /// The captured request head does not parse.
    Unparsable,
    /// Any other reason.
    Other,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 5] = [
        SkipReason::Incomplete,
        SkipReason::BodyCapped,
        SkipReason::Upgrade,
        SkipReason::Unparsable,
        SkipReason::Other,
    ];

    /// The stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Incomplete => "incomplete",
            SkipReason::BodyCapped => "body_capped",
            SkipReason::Upgrade => "upgrade",
            SkipReason::Unparsable => "unparsable",
            SkipReason::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            SkipReason::Incomplete => 0,
            SkipReason::BodyCapped => 1,
            SkipReason::Upgrade => 2,
            SkipReason::Unparsable => 3,
            SkipReason::Other => 4,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for DropCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
