//! Parsing of the units users type: durations (`500ms`, `10s`, `1h 30m`) and
//! sizes (`64KiB`, `1MiB`, `100MB`, `4096`). Used as clap `value_parser`s so a
//! bad value is a usage error (exit 2) reported by clap with the flag's name.

use std::time::Duration;

/// Parses a duration such as `250ms`, `10s`, `2m`, `1h 30m` (humantime syntax).
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); examples: 500ms, 10s, 5m, 1h"))
}

/// Parses a byte size such as `4096`, `64KiB`, `1MiB`, `100MB` (powers of 1024
/// for `KiB`/`MiB`/`GiB`, of 1000 for `KB`/`MB`/`GB`).
pub fn size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {s:?} ({e}); examples: 4096, 64KiB, 1MiB, 100MB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(duration("ten").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("4096").unwrap(), 4096);
        assert_eq!(size("64KiB").unwrap(), 65536);
        assert_eq!(size("1MiB").unwrap(), 1 << 20);
        assert_eq!(size("100MB").unwrap(), 100_000_000);
        assert!(size("lots").is_err());
    }
}
