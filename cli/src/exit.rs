//! Exit codes, mapped in one place. Documented in the README.

use std::fmt;

/// Success.
pub const OK: u8 = 0;
/// A runtime failure: an unreadable or corrupt file, a target that could not
/// be set up, an I/O error.
pub const FAILURE: u8 = 1;
/// Invalid usage: unknown flag, bad value, invalid threshold expression.
pub const USAGE: u8 = 2;
/// One or more `--threshold`s failed.
pub const THRESHOLD_FAILED: u8 = 99;
/// Stopped by SIGINT/SIGTERM before the work was done (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// An error in what the user asked for, detected after clap's own parsing
/// (e.g. a size or duration that does not parse). Exits with [`USAGE`].
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// The exit code for an error that reached `main`.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        USAGE
    } else {
        FAILURE
    }
}

/// True when the error is a broken pipe on stdout (`shadowtap inspect | head`),
/// which is success.
///
/// serde_json wraps the writer's io error and its `source()` skips it, so a
/// `serde_json::Error` is asked for its io error kind explicitly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        let kind = if let Some(io) = e.downcast_ref::<std::io::Error>() {
            Some(io.kind())
        } else {
            e.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
