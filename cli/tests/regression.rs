//! Regression tests, one per defect, each named after the bug it pins
//! (ripgrep's `tests/regression.rs` habit). Each test failed before its fix.

mod common;

// ---------------------------------------------------------------------------
// replay, tee and serve: what is sent, counted and reported
// ---------------------------------------------------------------------------

// (end of the replay section)

// ---------------------------------------------------------------------------
// the command line: output streams, error messages, hints and limits
// ---------------------------------------------------------------------------

// (end of the command-line section)
