//! What the server answers: reason phrases and the response body, prepared
//! once and shared by every connection.

use super::{ServeOptions, READ_CHUNK};

/// The reason phrase of common status codes.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
/// Responses prepared once.
pub(super) struct Responses {
    /// Body pattern, up to [`READ_CHUNK`] bytes. A body is this pattern
    /// repeated until it has the configured size ([`Responses::body_into`]),
    /// whatever the size: the pattern's length is a write size, not a bound
    /// on the body.
    pub(super) pattern: Vec<u8>,
}

impl Responses {
    pub(super) fn new(opts: &ServeOptions) -> Responses {
        let n = usize::try_from(opts.body_size.min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let unit = b"shadowtap serve body\n";
        let pattern = unit.iter().copied().cycle().take(n).collect();
        Responses { pattern }
    }

    /// Appends the first `len` bytes of the body to `out`.
    pub(super) fn body_into(&self, out: &mut Vec<u8>, len: usize) {
        if self.pattern.is_empty() {
            return;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(self.pattern.len());
            out.extend_from_slice(&self.pattern[..n]);
            left -= n;
        }
    }
}
