//! Generates `samples/api-mix.stlog`, the sample log of `shadowtap demo` and
//! the README.
//!
//! ```text
//! cargo run --release -p shadowtap-replay --example gen_sample -- samples/api-mix.stlog
//! ```
//!
//! 1. Starts the built-in target (`shadowtap serve --record`) in-process on
//!    127.0.0.1, port 0, recording to a temporary file.
//! 2. Sends it a deterministic, realistic API traffic mix over real loopback
//!    connections: keep-alive connections carrying 1 to 20 requests each
//!    (GET with query strings, POST/PUT/PATCH JSON bodies, DELETE, HEAD,
//!    static assets, chunked uploads, one `Expect: 100-continue` upload),
//!    with User-Agent, Accept, Authorization: Bearer (fake tokens),
//!    X-Request-Id and friends. Eight clients run at once.
//! 3. Reads the recording back and rewrites it into the final file: request
//!    and response bytes are kept exactly as recorded; every timestamp is
//!    synthesized (connections arrive over ~45 s, think time between a
//!    connection's requests, server latency per endpoint, transfer time from
//!    the size) because a loopback run takes well under a second; connection ids and addresses
//!    are normalized (client 127.0.0.1:40000+n, server 127.0.0.1:8080) so
//!    the output does not depend on the ports the OS handed out; exchanges
//!    are stored in completion order, as a capture stores them.
//!
//! The output is byte-identical from run to run (fixed seed, fixed header
//! time), so a regenerated sample only changes when the generator does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_format::http1::{Framer, Status};
use shadowtap_format::{Exchange, FileHeader, Reader, Writer, WriterOptions};
use shadowtap_replay::serve::{ServeOptions, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections to open.
const CONNECTIONS: usize = 440;
/// Clients running at once.
const CLIENTS: usize = 8;
/// Synthesized capture span over which connections arrive.
const SPAN_S: f64 = 45.0;
/// 2025-01-15T10:00:00Z, the synthesized capture start.
const BASE_NS: u64 = 1_736_935_200_000_000_000;

/// xorshift64*: small, deterministic, good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Exponentially distributed with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.pick(&["8", "9", "a", "b"]),
            self.hex(3),
            self.hex(12)
        )
    }
}

const HOST: &str = "api.shop.example";
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "ShopApp/3.14.2 (iPhone; iOS 17.5.1; Scale/3.00)",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "curl/8.8.0",
];
const CATEGORIES: &[&str] = &["shoes", "books", "garden", "kitchen", "toys", "audio"];
const SORTS: &[&str] = &["price", "-price", "rating", "newest"];
const SEARCHES: &[&str] = &[
    "running+shoes",
    "caf%C3%A9+grinder",
    "usb-c%20cable",
    "lego",
    "garden%20hose%2015m",
    "noise+cancelling",
];

/// One user: what every request of the connection shares.
struct User {
    id: u64,
    agent: &'static str,
    token: String,
    mobile: bool,
}

/// Builds one request of the mix. `close` adds `Connection: close`.
fn request(rng: &mut Rng, user: &User, close: bool) -> Vec<u8> {
    let mut headers = vec![
        ("Host".to_owned(), HOST.to_owned()),
        ("User-Agent".to_owned(), user.agent.to_owned()),
    ];
    let auth = ("Authorization".to_owned(), format!("Bearer {}", user.token));
    let rid = ("X-Request-Id".to_owned(), rng.uuid());
    let json = ("Accept".to_owned(), "application/json".to_owned());
    let gzip = ("Accept-Encoding".to_owned(), "gzip, deflate, br".to_owned());
    let roll = rng.below(1000);
    let (method, target, body): (&str, String, Option<String>) = match roll {
        0..=299 => {
            let q = format!(
                "/api/v1/products?category={}&page={}&limit=20&sort={}",
                rng.pick(CATEGORIES),
                1 + rng.below(8),
                rng.pick(SORTS)
            );
            headers.extend([json, gzip, rid]);
            ("GET", q, None)
        }
        300..=499 => {
            headers.extend([json, gzip, rid]);
            (
                "GET",
                format!("/api/v1/products/{}", 1000 + rng.below(9000)),
                None,
            )
        }
        500..=579 => {
            headers.extend([json, auth, rid]);
            (
                "GET",
                format!(
                    "/api/v1/users/{}/orders?status=open&since=2024-12-01",
                    user.id
                ),
                None,
            )
        }
        580..=619 => {
            headers.extend([json, rid]);
            (
                "GET",
                format!("/api/v1/search?q={}&lang=en", rng.pick(SEARCHES)),
                None,
            )
        }
        620..=699 => {
            let items: Vec<String> = (0..1 + rng.below(4))
                .map(|_| {
                    format!(
                        "{{\"sku\":\"SKU-{}\",\"qty\":{}}}",
                        10_000 + rng.below(90_000),
                        1 + rng.below(3)
                    )
                })
                .collect();
            let body = format!(
                "{{\"user_id\":{},\"items\":[{}],\"currency\":\"EUR\",\"coupon\":{}}}",
                user.id,
                items.join(","),
                if rng.below(5) == 0 {
                    "\"WINTER25\""
                } else {
                    "null"
                }
            );
            headers.extend([json, auth, rid]);
            ("POST", "/api/v1/orders".to_owned(), Some(body))
        }
        700..=749 => {
            let body = format!(
                "{{\"display_name\":\"user{}\",\"newsletter\":{},\"locale\":\"{}\"}}",
                user.id,
                rng.below(2) == 0,
                rng.pick(&["en-GB", "de-DE", "fr-FR", "es-ES"])
            );
            headers.extend([json, auth, rid]);
            (
                "PUT",
                format!("/api/v1/users/{}/profile", user.id),
                Some(body),
            )
        }
        750..=779 => {
            let body = format!("{{\"qty\":{}}}", 1 + rng.below(5));
            headers.extend([json, auth, rid]);
            (
                "PATCH",
                format!("/api/v1/cart/items/{}", 100 + rng.below(900)),
                Some(body),
            )
        }
        780..=829 => {
            headers.extend([auth, rid]);
            (
                "DELETE",
                format!("/api/v1/cart/items/{}", 100 + rng.below(900)),
                None,
            )
        }
        830..=859 => ("HEAD", "/healthz".to_owned(), None),
        860..=929 => {
            headers.push(("Accept".to_owned(), "*/*".to_owned()));
            headers.push(gzip);
            let asset = rng.pick(&["app", "vendor", "styles"]);
            let ext = if asset == "styles" { "css" } else { "js" };
            ("GET", format!("/static/{asset}.3f9a1c2e.{ext}"), None)
        }
        930..=969 => {
            headers.extend([json, auth, rid]);
            ("GET", "/api/v1/cart".to_owned(), None)
        }
        _ => {
            let body = format!(
                "{{\"event\":\"{}\",\"ts\":{},\"screen\":\"{}\"}}",
                rng.pick(&["view", "click", "add_to_cart"]),
                1_736_935_200 + rng.below(60),
                if user.mobile { "mobile" } else { "desktop" }
            );
            headers.push((
                "Content-Type".to_owned(),
                "text/plain;charset=UTF-8".to_owned(),
            ));
            ("POST", "/collect".to_owned(), Some(body))
        }
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = &body {
        if !headers.iter().any(|(k, _)| k == "Content-Type") {
            out.push_str("Content-Type: application/json\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    if let Some(body) = body {
        out.push_str(&body);
    }
    out.into_bytes()
}

/// A chunked upload (a CSV import), optionally with `Expect: 100-continue`.
fn upload(rng: &mut Rng, user: &User, expect: bool) -> Vec<u8> {
    let mut out = format!(
        "POST /api/v1/imports/inventory HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {}\r\nAuthorization: Bearer {}\r\nX-Request-Id: {}\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n",
        user.agent, user.token, rng.uuid()
    );
    if expect {
        out.push_str("Expect: 100-continue\r\n");
    }
    out.push_str("\r\n");
    let mut chunks = vec!["sku,warehouse,qty\n".to_owned()];
    for _ in 0..6 {
        let rows: String = (0..5 + rng.below(20))
            .map(|_| {
                format!(
                    "SKU-{},{},{}\n",
                    10_000 + rng.below(90_000),
                    rng.pick(&["AMS1", "FRA2", "MAD1"]),
                    rng.below(500)
                )
            })
            .collect();
        chunks.push(rows);
    }
    for c in chunks {
        out.push_str(&format!("{:x}\r\n{c}\r\n", c.len()));
    }
    out.push_str("0\r\n\r\n");
    out.into_bytes()
}

/// One planned connection: its requests, in order.
struct Plan {
    index: usize,
    requests: Vec<Vec<u8>>,
}

fn plan() -> Vec<Plan> {
    let mut rng = Rng(0x5eed_0005_a3b1_e000);
    let mut plans = Vec::with_capacity(CONNECTIONS);
    for index in 0..CONNECTIONS {
        let user = User {
            id: 10_000 + rng.below(5_000),
            agent: rng.pick(AGENTS),
            token: format!("demo.{}.{}", rng.hex(24), rng.hex(16)),
            mobile: rng.below(3) == 0,
        };
        let mut requests = Vec::new();
        if index == 57 || index == 211 {
            requests.push(upload(&mut rng, &user, index == 211));
        }
        // Mostly short sessions, a few long ones (1 to 20 requests).
        let n = if rng.below(10) == 0 {
            1
        } else {
            (2 + rng.exp(6.0) as u64).min(20)
        };
        let close_last = rng.below(4) == 0;
        for k in 0..n {
            requests.push(request(&mut rng, &user, close_last && k + 1 == n));
        }
        plans.push(Plan { index, requests });
    }
    plans
}

/// Reads one response off `sock` (handles 100 Continue by returning it).
async fn read_response(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
    method: &str,
) -> std::io::Result<u16> {
    let mut framer = Framer::response(method);
    let mut chunk = [0u8; 8192];
    for _ in 0..100_000 {
        let p = framer
            .feed(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        buf.drain(..p.consumed);
        if p.status == Status::Complete {
            return Ok(framer.head().and_then(|h| h.status).unwrap_or(0));
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Err(std::io::ErrorKind::InvalidData.into())
}

async fn drive(
    addr: SocketAddr,
    plan: Plan,
    ports: Arc<Mutex<HashMap<u16, usize>>>,
) -> std::io::Result<usize> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let port = sock.local_addr()?.port();
    ports
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?
        .insert(port, plan.index);
    let mut buf = Vec::new();
    for req in &plan.requests {
        let head = shadowtap_format::http1::parse_request_head(req)
            .ok_or_else(|| std::io::Error::other("bad planned request"))?;
        let method = head.method.clone().unwrap_or_default();
        if head.expect_continue {
            sock.write_all(&req[..head.len]).await?;
            let interim = read_response(&mut sock, &mut buf, &method).await?;
            assert_eq!(interim, 100);
            sock.write_all(&req[head.len..]).await?;
        } else {
            sock.write_all(req).await?;
        }
        read_response(&mut sock, &mut buf, &method).await?;
    }
    Ok(plan.requests.len())
}

/// Synthesized server latency for a request, in ns.
fn latency_ns(rng: &mut Rng, request: &[u8]) -> u64 {
    let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let base_ms = if line.starts_with("HEAD") {
        0.4
    } else if line.contains("/static/") {
        0.8
    } else if line.contains("/search") {
        35.0
    } else if line.contains("/imports/") {
        120.0
    } else if line.starts_with("POST /api/v1/orders") {
        45.0
    } else if line.starts_with("GET /api/v1/products?") {
        18.0
    } else {
        9.0
    };
    // Log-normal-ish spread with a tail: most near the base, some slow.
    let factor = (0.5 + rng.unit()) * if rng.below(50) == 0 { 8.0 } else { 1.0 };
    (base_ms * factor * 1_000_000.0) as u64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("samples/api-mix.stlog"));
    let tmp = tempfile::tempdir()?;
    let raw_path = tmp.path().join("recorded.stlog");

    // 1 + 2: serve --record, driven over loopback.
    let server = Server::bind(ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        record: Some(raw_path.clone()),
        body_size: 48,
        ..ServeOptions::default()
    })?;
    let addr = server.local_addr();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ports: Arc<Mutex<HashMap<u16, usize>>> = Arc::default();
    let sent = rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let srv = tokio::spawn(server.run(async move {
            let _ = stop_rx.await;
        }));
        let queue = Arc::new(Mutex::new(plan()));
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let queue = queue.clone();
            let ports = ports.clone();
            clients.push(tokio::spawn(async move {
                let mut sent = 0usize;
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop());
                    let Some(p) = next else { break };
                    sent += drive(addr, p, ports.clone()).await?;
                }
                Ok::<usize, std::io::Error>(sent)
            }));
        }
        let mut sent = 0;
        for c in clients {
            sent += c.await??;
        }
        let _ = stop_tx.send(());
        let summary = srv.await??;
        eprintln!(
            "served {} requests on {} connections, recorded {}",
            summary.requests, summary.connections, summary.recorded
        );
        Ok::<usize, Box<dyn std::error::Error>>(sent)
    })?;

    // 3: rewrite with synthesized timestamps and normalized addresses.
    let ports = ports.lock().map_err(|_| "poisoned")?.clone();
    let mut by_conn: HashMap<usize, Vec<Exchange>> = HashMap::new();
    let mut reader = Reader::open(&raw_path)?;
    while let Some(ex) = reader.next_exchange()? {
        let idx = *ports
            .get(&ex.client.port())
            .ok_or("recorded a connection the generator did not open")?;
        by_conn.entry(idx).or_default().push(ex);
    }
    let mut rng = Rng(0x0005_a3b1_e71e_0001);
    let mut all = Vec::new();
    let mut conn_start = 0.0f64;
    let server_addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    for idx in 0..CONNECTIONS {
        conn_start += rng.exp(SPAN_S / CONNECTIONS as f64);
        let mut exchanges = by_conn.remove(&idx).unwrap_or_default();
        exchanges.sort_by_key(|e| e.req_first_ns);
        let mut t = BASE_NS + (conn_start * 1e9) as u64;
        for mut ex in exchanges {
            // Transfer times from the sizes (about 1 Gbit/s plus a little
            // per-message overhead), not from the loopback run, so the output
            // is the same on every machine.
            let req_dur = 15_000 + ex.request_len * 8;
            let resp = ex
                .response
                .as_mut()
                .ok_or("recorded exchange without response")?;
            let resp_dur = 10_000 + (resp.head.len() as u64 + resp.body_len) * 8;
            ex.req_first_ns = t;
            ex.req_last_ns = t + req_dur;
            resp.first_ns = ex.req_last_ns + latency_ns(&mut rng, &ex.request);
            resp.last_ns = resp.first_ns + resp_dur;
            // Think time before this connection's next request.
            t = resp.last_ns + (rng.exp(0.35) * 1e9) as u64;
            ex.conn = idx as u64 + 1;
            ex.client = SocketAddr::from(([127, 0, 0, 1], 40_000 + idx as u16));
            ex.server = server_addr;
            all.push(ex);
        }
    }
    // Completion order, as a capture stores exchanges; ids in that order.
    all.sort_by_key(|e| {
        (
            e.response.as_ref().map_or(e.req_last_ns, |r| r.last_ns),
            e.conn,
        )
    });
    let header = FileHeader {
        writer: format!("shadowtap {} (gen_sample)", env!("CARGO_PKG_VERSION")),
        created_ns: BASE_NS,
        meta: vec![
            (
                shadowtap_format::meta::SOURCE.to_owned(),
                "serve".to_owned(),
            ),
            (
                "provenance".to_owned(),
                "recorded by shadowtap serve --record over loopback from a generated API mix; \
                 timestamps synthesized, addresses normalized (replay/examples/gen_sample.rs)"
                    .to_owned(),
            ),
        ],
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = Writer::create(
        &out,
        &header,
        WriterOptions {
            zstd_level: 19,
            ..WriterOptions::default()
        },
    )?;
    let total = all.len();
    for (i, mut ex) in all.into_iter().enumerate() {
        ex.id = i as u64 + 1;
        w.append(&ex)?;
    }
    w.finish()?;
    let span = Duration::from_secs_f64(conn_start);
    eprintln!(
        "sent {sent} requests; wrote {total} exchanges over ~{:.0}s to {} ({} bytes)",
        span.as_secs_f64(),
        out.display(),
        std::fs::metadata(&out)?.len()
    );
    if total != sent {
        return Err(format!("recorded {total} exchanges for {sent} requests sent").into());
    }
    Ok(())
}
