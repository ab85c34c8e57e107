//! The parts of the `shadowtap` binary that other crates use: the parsers of
//! the units users type, which the fuzz targets drive directly.

pub mod units;
