//! The parts of the `shadowtap` binary that are library code: the parsers
//! of the units users type (which the fuzz targets drive directly), the
//! shutdown token every command stops by, and `tee`'s machinery (its queue,
//! drop accounting, metrics and run loop), testable without a live capture.

pub mod priority;
pub mod shutdown;
pub mod tee;
pub mod units;
