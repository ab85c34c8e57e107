//! Writes a **synthetic** `.stlog` for benchmarks: no traffic is captured,
//! every exchange is made up from a counter and a seeded generator, so the
//! same flags always give a byte-identical file.
//!
//! ```text
//! cargo run --release -p shadowtap-replay --example synth -- \
//!     --count 200000 --interval 1ms --host bench.local -o /tmp/synth.stlog
//! ```
//!
//! Flags (all optional except `-o`):
//! - `--count N` exchanges to write (default 10000).
//! - `--interval DUR` between the request start times, e.g. `1ms`, `250us`,
//!   `0` (default `1ms`). Request `i` starts exactly at `start + i * interval`.
//! - `--start-ns NS` time of the first request, nanoseconds since the epoch
//!   (default 1767225600000000000, 2026-01-01T00:00:00Z).
//! - `--host H` the Host header of every request (default `bench.local`).
//! - `--post-pct P` percentage of requests that are POSTs with a body
//!   (default 0: only GETs). Which ones is decided by the seeded generator.
//! - `--body-size B` bytes of each POST body (default 256).
//! - `--paths N` number of distinct paths (default 1000).
//! - `--conns N` client connections the exchanges are spread over,
//!   round-robin (default 64).
//! - `--responses` also store a `200 OK` response for each exchange, with a
//!   body of `--response-size B` bytes (default 0 when absent: no response).
//! - `--seed N` seed of the generator (default 1).
//! - `-o FILE` / `--output FILE` the log to write (created with mode 0600).
//!
//! Prints one summary line on stderr: exchanges, file bytes, span.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use shadowtap_format::{meta, Exchange, FileHeader, Response, Writer, WriterOptions};

struct Opts {
    count: u64,
    interval_ns: u64,
    start_ns: u64,
    host: String,
    post_pct: u64,
    body_size: usize,
    paths: u64,
    conns: u64,
    responses: bool,
    response_size: usize,
    seed: u64,
    output: PathBuf,
}

const USAGE: &str = "usage: synth [--count N] [--interval DUR] [--start-ns NS] [--host H] \
[--post-pct P] [--body-size B] [--paths N] [--conns N] [--responses] [--response-size B] \
[--seed N] -o FILE";

/// Largest body the generator accepts, so one record always fits in a block.
const MAX_BODY: usize = 1 << 20;

fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let scale = match unit {
        "" if value == 0.0 => 1.0,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(format!("invalid duration {s:?} (use ns, us, ms or s)")),
    };
    let ns = value * scale;
    if !ns.is_finite() || !(0.0..=1e15).contains(&ns) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(ns.round() as u64)
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: invalid number {v:?}"))
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        count: 10_000,
        interval_ns: 1_000_000,
        start_ns: 1_767_225_600_000_000_000,
        host: "bench.local".to_string(),
        post_pct: 0,
        body_size: 256,
        paths: 1000,
        conns: 64,
        responses: false,
        response_size: 0,
        seed: 1,
        output: PathBuf::new(),
    };
    let mut output = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--responses" {
            o.responses = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--count" => o.count = parse_num(&flag, &value)?,
            "--interval" => o.interval_ns = parse_duration_ns(&value)?,
            "--start-ns" => o.start_ns = parse_num(&flag, &value)?,
            "--host" => o.host = value,
            "--post-pct" => o.post_pct = parse_num(&flag, &value)?,
            "--body-size" => o.body_size = parse_num(&flag, &value)?,
            "--paths" => o.paths = parse_num(&flag, &value)?,
            "--conns" => o.conns = parse_num(&flag, &value)?,
            "--response-size" => {
                o.response_size = parse_num(&flag, &value)?;
                o.responses = true;
            }
            "--seed" => o.seed = parse_num(&flag, &value)?,
            "-o" | "--output" => output = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    o.output = output.ok_or_else(|| format!("-o FILE is required\n{USAGE}"))?;
    if o.post_pct > 100 {
        return Err("--post-pct must be 0..=100".to_string());
    }
    if o.body_size > MAX_BODY || o.response_size > MAX_BODY {
        return Err(format!(
            "--body-size and --response-size must be <= {MAX_BODY}"
        ));
    }
    if o.paths == 0 || o.conns == 0 || o.conns > 60_000 {
        return Err("--paths must be >= 1 and --conns in 1..=60000".to_string());
    }
    if o.host.is_empty() || o.host.bytes().any(|b| b.is_ascii_control()) {
        return Err("--host must be a non-empty header value".to_string());
    }
    let span = o.interval_ns.checked_mul(o.count);
    if span.and_then(|s| s.checked_add(o.start_ns)).is_none() {
        return Err("--start-ns + --count * --interval overflows".to_string());
    }
    Ok(o)
}

/// splitmix64: small, fast and stable across platforms and versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A body of printable bytes that depends on the generator (so compression
/// is not flattered by one repeated byte).
fn body(rng: &mut Rng, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = Vec::with_capacity(len);
    while b.len() < len {
        let mut r = rng.next();
        for _ in 0..8 {
            if b.len() == len {
                break;
            }
            b.push(ALPHABET[(r % ALPHABET.len() as u64) as usize]);
            r /= ALPHABET.len() as u64;
        }
    }
    b
}

fn exchange(o: &Opts, rng: &mut Rng, i: u64) -> Exchange {
    let conn = i % o.conns;
    let path = rng.next() % o.paths;
    let post = o.post_pct > 0 && rng.next() % 100 < o.post_pct;
    let mut request = Vec::with_capacity(160 + o.body_size);
    if post {
        let b = body(rng, o.body_size);
        request.extend_from_slice(
            format!(
                "POST /bench/{path}?id={i} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shadowtap-synth\r\n\
                 Accept: */*\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                o.host,
                b.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(&b);
    } else {
        request.extend_from_slice(
            format!(
                "GET /bench/{path}?id={i} HTTP/1.1\r\nHost: {}\r\nUser-Agent: shadowtap-synth\r\n\
                 Accept: */*\r\n\r\n",
                o.host
            )
            .as_bytes(),
        );
    }
    let first = o.start_ns + i * o.interval_ns;
    // A request takes a few microseconds on the wire; never past the next one.
    let last = first + o.interval_ns.min(5_000);
    let response = o.responses.then(|| {
        let b = body(rng, o.response_size);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            b.len()
        );
        Response::new(200, last + 100_000, last + 120_000, head.into_bytes(), b)
    });
    let port = u16::try_from(1024 + conn).unwrap_or(u16::MAX);
    Exchange {
        req_last_ns: last,
        response,
        ..Exchange::new(
            i + 1,
            conn + 1,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80),
            first,
            request,
        )
    }
}

fn run(o: &Opts) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let header = FileHeader {
        writer: format!("shadowtap-synth {}", env!("CARGO_PKG_VERSION")),
        // Fixed, so that equal flags give equal files.
        created_ns: o.start_ns,
        meta: vec![
            (meta::SOURCE.to_string(), "synthetic".to_string()),
            ("synth.seed".to_string(), o.seed.to_string()),
        ],
    };
    let opts = WriterOptions {
        // A throwaway benchmark input: fsync once at the end, not per block.
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(&o.output, &header, opts)?;
    let mut rng = Rng(o.seed ^ 0x5eed_5eed_5eed_5eed);
    for i in 0..o.count {
        w.append(&exchange(o, &mut rng, i))?;
    }
    let n = w.exchanges_written();
    let file = w.finish()?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    Ok((n, bytes))
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("synth: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok((n, bytes)) => {
            let span_ms = (o.interval_ns * o.count.saturating_sub(1)) as f64 / 1e6;
            eprintln!(
                "synth: wrote {} ({n} exchanges, {bytes} bytes, {:.1} bytes/exchange, span {span_ms:.3} ms)",
                o.output.display(),
                bytes as f64 / n.max(1) as f64
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            let mut msg = err.to_string();
            let mut src = err.source();
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            eprintln!("synth: error: {}: {msg}", o.output.display());
            ExitCode::from(1)
        }
    }
}
