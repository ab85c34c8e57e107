//! A deterministic, realistic exchange mix for benchmarks: ~500-byte request
//! heads with varied paths, ids and tokens; 80% GETs; 15% small JSON POST
//! bodies, 5% 1-16 KiB uploads; responses with ~250-byte heads, mostly small
//! JSON bodies and 10% 1-64 KiB bodies (log-uniform). Bodies are JSON-like
//! text built from varied field values, not repeated bytes, so compression
//! ratios are not flattered.

use shadowtap_format::{Exchange, Response};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Log-uniform in [lo, hi).
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let f = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo as f64) * ((hi as f64) / (lo as f64)).powf(f)) as u64
    }
}

const WORDS: [&str; 24] = [
    "alpha",
    "order",
    "customer",
    "status",
    "shipped",
    "pending",
    "amount",
    "currency",
    "EUR",
    "USD",
    "item",
    "quantity",
    "price",
    "sku",
    "warehouse",
    "north",
    "south",
    "created_at",
    "updated_at",
    "note",
    "gift",
    "express",
    "tracking",
    "carrier",
];

fn json_body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len + 64);
    b.push(b'[');
    while b.len() < len {
        let id = rng.below(10_000_000);
        let w1 = WORDS[rng.below(24) as usize];
        let w2 = WORDS[rng.below(24) as usize];
        let amount = rng.below(100_000);
        b.extend_from_slice(
            format!(
                "{{\"id\":{id},\"{w1}\":\"{w2}-{}\",\"amount\":{}.{:02},\"ts\":\"2026-11-{:02}T{:02}:{:02}:{:02}Z\"}},",
                rng.below(1000),
                amount / 100,
                amount % 100,
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            )
            .as_bytes(),
        );
    }
    b.truncate(len.max(2) - 1);
    b.push(b']');
    b
}

pub fn exchange(rng: &mut Rng, i: u64) -> Exchange {
    let user = rng.below(50_000);
    let kind = rng.below(100);
    let (method, body) = if kind < 80 {
        ("GET", Vec::new())
    } else if kind < 95 {
        let n = 200 + rng.below(800) as usize;
        ("POST", json_body(rng, n))
    } else {
        let n = rng.log_uniform(1024, 16 * 1024) as usize;
        ("PUT", json_body(rng, n))
    };
    let path = match rng.below(6) {
        0 => format!(
            "/api/v2/users/{user}/orders?page={}&limit=50",
            rng.below(20)
        ),
        1 => format!("/api/v2/orders/{}", rng.below(10_000_000)),
        2 => format!(
            "/api/v2/search?q={}+{}&sort=price",
            WORDS[rng.below(24) as usize],
            WORDS[rng.below(24) as usize]
        ),
        3 => "/healthz".to_string(),
        4 => format!("/api/v2/carts/{user}/items"),
        _ => format!("/static/app.{:08x}.js", rng.next() as u32),
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\nAccept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nAuthorization: Bearer {:016x}{:016x}\r\nX-Request-Id: {:032x}\r\nCookie: session={:016x}; theme=dark\r\n",
        rng.next(),
        rng.next(),
        (u128::from(rng.next()) << 64) | u128::from(rng.next()),
        rng.next()
    )
    .into_bytes();
    if !body.is_empty() {
        request.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(&body);

    let resp_len = if rng.below(100) < 10 {
        rng.log_uniform(1024, 64 * 1024) as usize
    } else {
        50 + rng.below(950) as usize
    };
    let resp_body = json_body(rng, resp_len);
    let status = [200u16, 200, 200, 200, 200, 200, 201, 204, 304, 404, 500][rng.below(11) as usize];
    let head = format!(
        "HTTP/1.1 {status} OK\r\nServer: nginx\r\nDate: Sun, 22 Nov 2026 02:43:{:02} GMT\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\nX-Request-Id: {:032x}\r\nCache-Control: no-store\r\n\r\n",
        rng.below(60),
        resp_body.len(),
        (u128::from(rng.next()) << 64) | u128::from(rng.next())
    )
    .into_bytes();
    let ts = 1_795_000_000_000_000_000 + i * 250_000 + rng.below(100_000);
    let client = format!(
        "10.1.{}.{}:{}",
        rng.below(256),
        rng.below(256),
        1024 + rng.below(60_000)
    )
    .parse()
    .expect("valid address");
    let server = "10.0.0.10:8080".parse().expect("valid address");
    Exchange {
        req_last_ns: ts + 20_000,
        ..Exchange::new(i, i / 8, client, server, ts, request)
    }
    .with_response(Response::new(
        status,
        ts + 1_500_000,
        ts + 1_600_000,
        head,
        resp_body,
    ))
}

pub fn exchanges(n: u64) -> Vec<Exchange> {
    let mut rng = Rng::new(42);
    (0..n).map(|i| exchange(&mut rng, i)).collect()
}
