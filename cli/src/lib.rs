//! The parts of the `shadowtap` binary that other crates use: the parsers of
//! the units users type, which the fuzz targets drive directly, and the
//! shutdown token every command stops by.

pub mod shutdown;
pub mod units;
