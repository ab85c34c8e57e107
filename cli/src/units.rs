//! Parsing of the units users type: durations (`500ms`, `10s`, `1h 30m`) and
//! sizes (`64KiB`, `1MiB`, `100MB`, `4096`). Used as clap `value_parser`s so a
//! bad value is a usage error (exit 2) reported by clap with the flag's name.

use std::time::Duration;

use shadowtap_format::Codec;

/// Parses a duration such as `250ms`, `10s`, `2m`, `1h 30m` (humantime syntax).
/// Its flags take `allow_hyphen_values` (`-1s` is not a number to clap), so
/// `-1s` reaches this parser and is told it is negative instead of getting
/// clap's advice to write `-- -1s`.
pub fn duration(s: &str) -> Result<Duration, String> {
    if is_negative(s) {
        return Err(NEGATIVE.to_owned());
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); examples: 500ms, 10s, 5m, 1h"))
}

/// Parses a byte size such as `4096`, `64KiB`, `1MiB`, `100MB` (powers of 1024
/// for `KiB`/`MiB`/`GiB`, of 1000 for `KB`/`MB`/`GB`).
pub fn size(s: &str) -> Result<u64, String> {
    if s.trim_start().starts_with('-') {
        return Err(NEGATIVE.to_owned());
    }
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {s:?} ({e}); examples: 4096, 64KiB, 1MiB, 100MB"))
}

/// Parses a count or other non-negative integer. Its flag takes
/// `allow_negative_numbers`, so `-5` reaches this parser and gets a plain
/// "not allowed" instead of clap's advice to write `-- -5`.
pub fn count<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let t = s.trim();
    if t.starts_with('-') {
        return Err(NEGATIVE.to_owned());
    }
    t.parse().map_err(|e| format!("{e}"))
}

/// A leading minus before a digit or a dot: a negative number, as opposed to
/// a flag name taken as a value.
fn is_negative(s: &str) -> bool {
    s.trim_start()
        .strip_prefix('-')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// What a negative value for a flag that takes none is told.
pub const NEGATIVE: &str = "negative values are not allowed";

/// Parses a log compression setting: `zstd` (level 1), `zstd:LEVEL`
/// (negative levels are faster and larger) or `none`.
pub fn compression(s: &str) -> Result<(Codec, i32), String> {
    let s = s.trim();
    let levels = shadowtap_format::zstd_levels();
    let bad = || {
        format!(
            "invalid compression {s:?}; expected none, zstd or zstd:LEVEL with LEVEL in {}..={}",
            levels.start(),
            levels.end()
        )
    };
    match s.split_once(':') {
        None if s == "none" => Ok((Codec::None, 0)),
        None if s == "zstd" => Ok((Codec::Zstd, 1)),
        Some(("zstd", level)) => {
            let level: i32 = level.trim().parse().map_err(|_| bad())?;
            if level == 0 || !levels.contains(&level) {
                return Err(bad());
            }
            Ok((Codec::Zstd, level))
        }
        _ => Err(bad()),
    }
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
        assert_eq!(duration("-1s").unwrap_err(), NEGATIVE);
    }

    #[test]
    fn sizes() {
        assert_eq!(size("4096").unwrap(), 4096);
        assert_eq!(size("64KiB").unwrap(), 65536);
        assert_eq!(size("1MiB").unwrap(), 1 << 20);
        assert_eq!(size("100MB").unwrap(), 100_000_000);
        assert!(size("lots").is_err());
    }

    #[test]
    fn compressions() {
        assert_eq!(compression("none").unwrap(), (Codec::None, 0));
        assert_eq!(compression("zstd").unwrap(), (Codec::Zstd, 1));
        assert_eq!(compression("zstd:-5").unwrap(), (Codec::Zstd, -5));
        assert_eq!(compression("zstd:19").unwrap(), (Codec::Zstd, 19));
        for bad in ["zstd:0", "zstd:99", "zstd:", "lz4", "zstd:x", ""] {
            assert!(compression(bad).is_err(), "{bad}");
        }
    }
}
