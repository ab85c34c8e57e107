//! The parts of the `shadowtap` binary that are library code: the parsers
//! of the units users type and GoReplay's `.gor` format (which the fuzz
//! targets drive directly), the
//! shutdown token every command stops by, and `tee`'s machinery (its queue,
//! drop accounting, metrics and run loop), testable without a live capture.
//! `tee` needs the `libpcap` feature (on by default); the rest builds
//! without libpcap, as the fuzz targets use it.

pub mod compare;
pub mod gor;
pub mod priority;
pub mod shutdown;
#[cfg(feature = "libpcap")]
pub mod tee;
pub mod units;
