//! Deterministic percentage sampling.
//!
//! A request is kept when a 64-bit hash of its sampling key is below
//! `pct / 100 × 2^64`. The percentage is parsed from its decimal text into an
//! exact fraction, so `0.57%` keeps 0.57% (Istio truncates to parts per
//! million; here the threshold is exact to 1 / 2^64). 0% never keeps, 100%
//! always keeps.
//!
//! Keys ([`SampleBy`]):
//! - `request`: the input file's index and the exchange id;
//! - `connection`: the input file's index and the connection id, so a client
//!   connection is kept or dropped whole;
//! - `header:NAME`: the value of the first `NAME` header (whitespace trimmed),
//!   so all requests of one user (one cookie, one API key) are in or out, in
//!   every file. A request **without** the header falls back to the
//!   `request` key: it is sampled on its own at the same percentage, so
//!   anonymous traffic is neither all kept nor all dropped.
//!
//! The hash is a small hand-written one, not a crate's: sampling decisions
//! must stay the same for a given `--seed` across versions and platforms,
//! which general-purpose hashers (ahash, foldhash) do not promise. Integers
//! go through the SplitMix64 finaliser (a bijection with full avalanche);
//! bytes are folded 8 at a time with a 64×64→128-bit multiply (the wyhash
//! idea) and finalised the same way. Each key kind has its own domain
//! constant, so `request` and `connection` decisions are independent.

use std::fmt;
use std::str::FromStr;

use shadowtap_format::Exchange;

use shadowtap_format::http1::header_value;

/// What a sampling decision is keyed on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SampleBy {
    /// Each request on its own.
    #[default]
    Request,
    /// Whole client connections.
    Connection,
    /// The value of a request header (case-insensitive name).
    Header(String),
}

/// `--sample-by` values that do not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// Not `request`, `connection` or `header:NAME`.
    #[error("unknown sampling key {0:?} (expected request, connection or header:NAME)")]
    UnknownKey(String),
    /// `header:` without a name.
    #[error("header sampling needs a header name (header:NAME)")]
    EmptyHeaderName,
    /// Not a percentage between 0 and 100.
    #[error("invalid percentage {0:?} (expected a number from 0 to 100, e.g. 10, 0.5%, 0.01)")]
    InvalidPercent(String),
}

impl FromStr for SampleBy {
    type Err = SampleError;
    fn from_str(s: &str) -> Result<SampleBy, SampleError> {
        match s {
            "request" => Ok(SampleBy::Request),
            "connection" => Ok(SampleBy::Connection),
            _ => match s.strip_prefix("header:") {
                Some("") => Err(SampleError::EmptyHeaderName),
                Some(name) => Ok(SampleBy::Header(name.to_owned())),
                None => Err(SampleError::UnknownKey(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for SampleBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleBy::Request => f.write_str("request"),
            SampleBy::Connection => f.write_str("connection"),
            SampleBy::Header(name) => write!(f, "header:{name}"),
        }
    }
}

/// A percentage kept exactly as the fraction `num / den` of 100%.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percent {
    /// The decimal digits without the point.
    num: u128,
    /// `100 × 10^fraction_digits`.
    den: u128,
}

/// At most this many digits after the decimal point.
const MAX_FRACTION_DIGITS: usize = 15;

impl Percent {
    /// 100%.
    pub const ALL: Percent = Percent { num: 1, den: 1 };

    /// The percentage as a float, for display.
    pub fn as_f64(self) -> f64 {
        self.num as f64 * 100.0 / self.den as f64
    }

    /// The hash threshold: keep when `hash < threshold`; `None` keeps all.
    fn threshold(self) -> Option<u64> {
        if self.num >= self.den {
            return None;
        }
        // num < den ≤ 100 × 10^15 < 2^57, so num × 2^64 < 2^121: no overflow.
        Some(((self.num << 64) / self.den) as u64)
    }
}

impl FromStr for Percent {
    type Err = SampleError;
    /// `10`, `10%`, `0.5`, `0.01%`, `100`.
    fn from_str(s: &str) -> Result<Percent, SampleError> {
        let bad = || SampleError::InvalidPercent(s.to_owned());
        let t = s.trim();
        let t = t.strip_suffix('%').unwrap_or(t).trim_end();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if (int.is_empty() && frac.is_empty())
            || frac.len() > MAX_FRACTION_DIGITS
            || int.len() > 3
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let mut num: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            num = num * 10 + u128::from(b - b'0');
        }
        let den = 100 * 10u128.pow(frac.len() as u32);
        if num > den {
            return Err(bad());
        }
        Ok(Percent { num, den })
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.as_f64())
    }
}

/// Decides which requests are replayed. Cheap to clone; no state.
#[derive(Clone, Debug)]
pub struct Sampler {
    threshold: Option<u64>,
    /// What `threshold` was made from (for the report).
    pct: Percent,
    by: SampleBy,
    seed: u64,
}

const DOMAIN_REQUEST: u64 = 0x9e6c_63d0_676a_9a99;
const DOMAIN_CONNECTION: u64 = 0x3c79_ac49_2ba7_b653;
const DOMAIN_HEADER: u64 = 0x1c69_b3f7_4ac4_ae35;

impl Sampler {
    /// A sampler keeping `pct` of the requests by `by`, for `seed`.
    pub fn new(pct: Percent, by: SampleBy, seed: u64) -> Sampler {
        Sampler {
            threshold: pct.threshold(),
            pct,
            by,
            seed,
        }
    }

    /// The share of requests kept.
    pub fn percent(&self) -> Percent {
        self.pct
    }

    /// What is kept together.
    pub fn by(&self) -> &SampleBy {
        &self.by
    }

    /// The seed of the sampling hash.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A sampler that keeps everything.
    pub fn all() -> Sampler {
        Sampler::new(Percent::ALL, SampleBy::Request, 0)
    }

    /// True when every request is kept.
    pub fn keeps_all(&self) -> bool {
        self.threshold.is_none()
    }

    /// Whether the exchange read from input file number `file` is replayed.
    pub fn keep(&self, file: usize, ex: &Exchange) -> bool {
        let Some(threshold) = self.threshold else {
            return true;
        };
        let h = match &self.by {
            SampleBy::Request => self.request_key(file, ex.id),
            SampleBy::Connection => {
                mix(mix(mix(self.seed ^ DOMAIN_CONNECTION) ^ file as u64) ^ ex.conn)
            }
            SampleBy::Header(name) => match header_value(&ex.request, name) {
                Some(value) => hash_bytes(self.seed ^ DOMAIN_HEADER, value),
                None => self.request_key(file, ex.id),
            },
        };
        h < threshold
    }

    fn request_key(&self, file: usize, id: u64) -> u64 {
        mix(mix(mix(self.seed ^ DOMAIN_REQUEST) ^ file as u64) ^ id)
    }
}

/// The SplitMix64 finaliser: a bijection on `u64` with full avalanche.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64×64→128-bit multiply, high and low halves xor-ed.
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A seeded 64-bit hash of bytes (stable across versions and platforms).
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K0: u64 = 0xa076_1d64_78bd_642f;
    const K1: u64 = 0xe703_7ed1_a0b4_28db;
    let mut h = mix(seed ^ bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = fold_mul(h ^ u64::from_le_bytes(w) ^ K0, K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w) ^ K1, K0);
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: u64, conn: u64, request: &[u8]) -> Exchange {
        Exchange::new(
            id,
            conn,
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            0,
            request.to_vec(),
        )
    }

    #[test]
    fn percent_parsing_is_exact() {
        let p: Percent = "0.57%".parse().unwrap();
        assert_eq!((p.num, p.den), (57, 10_000));
        let p: Percent = "10".parse().unwrap();
        assert_eq!(p.threshold(), Some(((10u128 << 64) / 100) as u64));
        assert_eq!("100".parse::<Percent>().unwrap().threshold(), None);
        assert_eq!("100.0%".parse::<Percent>().unwrap().threshold(), None);
        assert_eq!("0".parse::<Percent>().unwrap().threshold(), Some(0));
        assert_eq!(".5".parse::<Percent>().unwrap().as_f64(), 0.5);
        for bad in [
            "",
            "%",
            "-1",
            "100.01",
            "1e2",
            "abc",
            "1000",
            "0.0000000000000001",
        ] {
            assert!(bad.parse::<Percent>().is_err(), "{bad}");
        }
        // 0.01% is not truncated to ppm: its threshold is 2^64 / 10,000.
        let t = "0.01".parse::<Percent>().unwrap().threshold().unwrap();
        assert_eq!(t, ((1u128 << 64) / 10_000) as u64);
    }

    #[test]
    fn sample_by_parsing() {
        assert_eq!("request".parse(), Ok(SampleBy::Request));
        assert_eq!("connection".parse(), Ok(SampleBy::Connection));
        assert_eq!(
            "header:X-User".parse(),
            Ok(SampleBy::Header("X-User".into()))
        );
        assert_eq!(
            "header:".parse::<SampleBy>(),
            Err(SampleError::EmptyHeaderName)
        );
        assert!("user".parse::<SampleBy>().is_err());
    }

    #[test]
    fn ten_percent_of_100k_within_a_third_of_a_percent() {
        for seed in [0, 1, 42, u64::MAX] {
            let s = Sampler::new("10".parse().unwrap(), SampleBy::Request, seed);
            let req = b"GET / HTTP/1.1\r\n\r\n";
            let mut e = ex(0, 0, req);
            let kept = (0..100_000u64)
                .filter(|&i| {
                    e.id = i;
                    s.keep(0, &e)
                })
                .count();
            assert!((9_700..=10_300).contains(&kept), "seed {seed}: {kept}");
        }
    }

    #[test]
    fn small_percentages_keep_full_precision() {
        // 0.5% of 1,000,000 ≈ 5,000 (σ ≈ 70).
        let s = Sampler::new("0.5".parse().unwrap(), SampleBy::Request, 7);
        let mut e = ex(0, 0, b"GET / HTTP/1.1\r\n\r\n");
        let kept = (0..1_000_000u64)
            .filter(|&i| {
                e.id = i;
                s.keep(3, &e)
            })
            .count();
        assert!((4_700..=5_300).contains(&kept), "{kept}");
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let e = |i| ex(i, 0, b"GET / HTTP/1.1\r\n\r\n");
        let a = Sampler::new("50".parse().unwrap(), SampleBy::Request, 1);
        let b = Sampler::new("50".parse().unwrap(), SampleBy::Request, 1);
        let c = Sampler::new("50".parse().unwrap(), SampleBy::Request, 2);
        let da: Vec<bool> = (0..1000).map(|i| a.keep(0, &e(i))).collect();
        let db: Vec<bool> = (0..1000).map(|i| b.keep(0, &e(i))).collect();
        let dc: Vec<bool> = (0..1000).map(|i| c.keep(0, &e(i))).collect();
        assert_eq!(da, db);
        assert_ne!(da, dc);
    }

    #[test]
    fn connection_mode_keeps_connections_whole() {
        let s = Sampler::new("10".parse().unwrap(), SampleBy::Connection, 9);
        let mut kept_conns = 0;
        for conn in 0..10_000u64 {
            let decisions: Vec<bool> = (0..5)
                .map(|k| s.keep(0, &ex(conn * 5 + k, conn, b"GET / HTTP/1.1\r\n\r\n")))
                .collect();
            assert!(decisions.iter().all(|&d| d == decisions[0]), "conn {conn}");
            kept_conns += usize::from(decisions[0]);
        }
        assert!((850..=1_150).contains(&kept_conns), "{kept_conns}");
        // The same connection id in another file is another connection.
        let differ = (0..1000u64)
            .filter(|&c| {
                let e = ex(0, c, b"GET / HTTP/1.1\r\n\r\n");
                s.keep(0, &e) != s.keep(1, &e)
            })
            .count();
        assert!(differ > 50, "{differ}");
    }

    #[test]
    fn header_mode_keeps_users_whole_and_samples_the_rest_per_request() {
        let s = Sampler::new("10".parse().unwrap(), SampleBy::Header("x-user".into()), 3);
        let mut kept_users = 0;
        let mut id = 0;
        for user in 0..5_000u64 {
            let req = format!("GET /{user} HTTP/1.1\r\nHost: a\r\nX-User: u{user}\r\n\r\n");
            let mut first = None;
            for file in 0..3 {
                id += 1;
                let d = s.keep(file, &ex(id, id, req.as_bytes()));
                assert_eq!(*first.get_or_insert(d), d, "user {user}");
            }
            kept_users += usize::from(first == Some(true));
        }
        assert!((400..=600).contains(&kept_users), "{kept_users}");
        // Without the header: per request, about 10%.
        let anon = (0..20_000u64)
            .filter(|&i| s.keep(0, &ex(i, 1, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")))
            .count();
        assert!((1_700..=2_300).contains(&anon), "{anon}");
    }

    #[test]
    fn zero_and_hundred_percent() {
        let none = Sampler::new("0".parse().unwrap(), SampleBy::Request, 0);
        let all = Sampler::new("100".parse().unwrap(), SampleBy::Connection, 0);
        for i in 0..1000 {
            let e = ex(i, i, b"GET / HTTP/1.1\r\n\r\n");
            assert!(!none.keep(0, &e));
            assert!(all.keep(0, &e));
        }
        assert!(all.keeps_all());
    }

    #[test]
    fn byte_hash_spreads_short_inputs() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            assert!(seen.insert(hash_bytes(0, i.to_string().as_bytes())));
        }
        assert_ne!(hash_bytes(0, b"a"), hash_bytes(1, b"a"));
        assert_ne!(hash_bytes(0, b""), hash_bytes(0, b"\0"));
    }
}
