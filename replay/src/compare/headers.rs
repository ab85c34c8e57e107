//! Header fields compared by name.
