//! Writes a **synthetic** JSON API for the comparison benchmark: a
//! directory of JSON documents (`items/K.json`, 1-10 KiB each, for a static
//! server to serve) and a `.stlog` of requests for them whose recorded
//! responses are those documents as an older version answered them,
//! through nginx's headers: every one with another `updated_at` timestamp
//! and `request_id` and other dates and ETag (noise), and one in ten
//! documents with another `price` (a real difference). The same
//! flags always give the same files.
//!
//! ```text
//! cargo run --release -p shadowtap-replay --example synth_json -- \
//!     --count 100000 --files 500 --dir /tmp/api -o /tmp/api.stlog
//! ```
//!
//! Flags: `--count N` exchanges (10000), `--files F` documents (500),
//! `--dir DIR` where the documents go (required), `-o FILE` the log
//! (required), `--seed N` (1). Prints one summary line on stderr.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shadowtap_format::{Exchange, FileHeader, Response, Writer, WriterOptions};

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 12] = [
    "alpha", "bravo", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
    "kestrel", "lumen",
];

/// Document `k` as version `v` answers it; `stamp` varies the noise.
fn document(k: u64, old: bool, stamp: u64) -> String {
    let mut rng = Rng(k.wrapping_mul(7919) ^ 0x5eed);
    // 1-10 KiB: about 200 bytes per line item.
    let lines = 4 + rng.below(46);
    let price = if old && k % 10 == 3 { "12.75" } else { "12.50" };
    let mut items = Vec::new();
    for i in 0..lines {
        items.push(format!(
            r#"{{"sku":"SKU-{k}-{i}","name":"{} {}","qty":{},"unit_price":{}.{:02},"tags":["{}","{}"],"in_stock":{}}}"#,
            WORDS[rng.below(12) as usize],
            WORDS[rng.below(12) as usize],
            1 + rng.below(9),
            rng.below(200),
            rng.below(100),
            WORDS[rng.below(12) as usize],
            WORDS[rng.below(12) as usize],
            rng.below(2) == 0
        ));
    }
    let mut noise = Rng(stamp ^ k.rotate_left(17));
    format!(
        r#"{{"id":{k},"title":"order {k}","price":{price},"currency":"EUR","customer":{{"id":{},"name":"{} {}","email":"c{k}@example.test"}},"lines":[{}],"updated_at":"2026-12-06T{:02}:{:02}:{:02}.{:03}Z","request_id":"{:016x}{:016x}"}}"#,
        rng.below(100_000),
        WORDS[rng.below(12) as usize],
        WORDS[rng.below(12) as usize],
        items.join(","),
        noise.below(24),
        noise.below(60),
        noise.below(60),
        noise.below(1000),
        noise.next(),
        noise.next()
    )
}

fn run(count: u64, files: u64, dir: &Path, out: &Path, seed: u64) -> Result<(u64, u64), String> {
    let items = dir.join("items");
    std::fs::create_dir_all(&items).map_err(|e| format!("creating {}: {e}", items.display()))?;
    let mut total = 0u64;
    for k in 0..files {
        let doc = document(k, false, 0);
        total += doc.len() as u64;
        std::fs::write(items.join(format!("{k}.json")), doc)
            .map_err(|e| format!("writing a document: {e}"))?;
    }
    let opts = WriterOptions {
        sync: false,
        ..WriterOptions::default()
    };
    let mut w = Writer::create(out, &FileHeader::default(), opts).map_err(|e| e.to_string())?;
    let mut rng = Rng(seed);
    let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);
    let start = 1_767_225_600_000_000_000u64;
    for i in 0..count {
        let k = rng.below(files);
        let ts = start + i * 1_000_000;
        let request = format!(
            "GET /items/{k}.json HTTP/1.1\r\nHost: api.bench\r\nAccept: application/json\r\n\r\n"
        );
        let body = document(k, true, i + 1);
        // As nginx serves a static file (with `server_tokens off`): the
        // dates and the ETag differ from today's answer, by nature.
        let (h, m, sec) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        let head = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 01 Jan 2026 {h:02}:{m:02}:{sec:02} GMT\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\
             Last-Modified: Wed, 31 Dec 2025 12:00:00 GMT\r\nConnection: keep-alive\r\n\
             ETag: \"6955{:04x}-{:x}\"\r\nAccept-Ranges: bytes\r\n\r\n",
            body.len(),
            k,
            body.len()
        );
        let ex = Exchange::new(i, i % 64, client, server, ts, request.into_bytes()).with_response(
            Response::new(
                200,
                ts + 500_000,
                ts + 900_000,
                head.into_bytes(),
                body.into_bytes(),
            ),
        );
        w.append(&ex).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    Ok((count, total / files.max(1)))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut count, mut files, mut seed) = (10_000u64, 500u64, 1u64);
    let (mut dir, mut out) = (None, None);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let parsed: Result<(), String> = (|| {
            match a.as_str() {
                "--count" => count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
                "--files" => files = value()?.parse().map_err(|e| format!("--files: {e}"))?,
                "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
                "--dir" => dir = Some(PathBuf::from(value()?)),
                "-o" | "--output" => out = Some(PathBuf::from(value()?)),
                other => return Err(format!("unknown flag {other}")),
            }
            Ok(())
        })();
        if let Err(e) = parsed {
            eprintln!("synth_json: {e}");
            return ExitCode::from(2);
        }
    }
    let (Some(dir), Some(out)) = (dir, out) else {
        eprintln!("synth_json: --dir and -o are required");
        return ExitCode::from(2);
    };
    if files == 0 {
        eprintln!("synth_json: --files must be at least 1");
        return ExitCode::from(2);
    }
    match run(count, files, &dir, &out, seed) {
        Ok((n, avg)) => {
            eprintln!("synth_json: {n} exchanges, {files} documents of {avg} bytes on average");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synth_json: {e}");
            ExitCode::FAILURE
        }
    }
}
