//! Throughput of the structural JSON diff against a plain serde_json parse.
//!
//! ```text
//! cargo run --release -p shadowtap-replay --example compare_json -- [--corpus api|orders] [--pairs N] [--rounds R] [--reps P] [--seed S] [--show N]
//! ```
//!
//! Builds a deterministic corpus of response pairs like an API's (a list
//! endpoint: a page of item objects; a detail endpoint: a user with orders,
//! an address and preferences), baselines of 1-10 KiB. The candidate of each pair
//! always differs from its baseline in the request id and the timestamp,
//! and in 0-3 other fields (a changed price, a missing or an extra member,
//! an extra tag). `--corpus orders` instead builds documents shaped like
//! those of `benches/compare.sh` (see `synth_json.rs`): an order with
//! 4-49 line items, serialized in one fixed member order, whose candidate
//! differs in the trailing `updated_at` and `request_id`, and in one pair
//! in ten in the `price` near the start. Then, in alternating rounds, it times
//! (a) `compare::json::diff` of every pair and (b) `serde_json::from_slice`
//! into a `Value` of both documents of every pair, and prints MB/s (bytes of
//! both documents over the time) for each, per round, and the median ratio.
//! `--show N` first prints the differences found in the first N pairs.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{json, Value};
use shadowtap_replay::compare::json::{diff, Strict};

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
    fn word(&mut self) -> String {
        const WORDS: [&str; 16] = [
            "alpha", "bravo", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "indigo",
            "juniper", "kestrel", "lumen", "meadow", "nickel", "orchid", "pewter",
        ];
        WORDS[self.below(16) as usize].to_owned()
    }
    fn words(&mut self, n: u64) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
    fn price(&mut self) -> Value {
        // Two decimals, as a float the way services write them.
        json!((self.below(100_000) as f64) / 100.0)
    }
}

fn timestamp(r: &mut Rng) -> String {
    format!(
        "2026-0{}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + r.below(9),
        1 + r.below(28),
        r.below(24),
        r.below(60),
        r.below(60),
        r.below(1000)
    )
}

fn request_id(r: &mut Rng) -> String {
    format!("{:016x}{:016x}", r.next(), r.next())
}

fn item(r: &mut Rng, id: u64) -> Value {
    let tags: Vec<String> = (0..r.below(4)).map(|_| r.word()).collect();
    let n = 8 + r.below(10);
    let description = r.words(n);
    json!({
        "id": id,
        "sku": format!("SKU-{:06}", r.below(1_000_000)),
        "name": r.words(3),
        "description": description,
        "price": r.price(),
        "currency": "EUR",
        "tags": tags,
        "stock": {"warehouse": r.word(), "count": r.below(500), "reserved": r.below(20)},
        "rating": (r.below(50) as f64) / 10.0,
        "active": r.below(10) != 0,
        "updated_at": timestamp(r),
    })
}

fn list_page(r: &mut Rng) -> Value {
    let n = 3 + r.below(18);
    let first = r.below(100_000);
    let items: Vec<Value> = (0..n).map(|k| item(r, first + k)).collect();
    json!({
        "request_id": request_id(r),
        "generated_at": timestamp(r),
        "page": {"number": r.below(50), "size": n, "total": 1000 + r.below(9000)},
        "items": items,
        "links": {"self": format!("/v1/items?page={}", r.below(50)), "next": null},
    })
}

fn detail(r: &mut Rng) -> Value {
    let orders: Vec<Value> = (0..2 + r.below(11))
        .map(|k| {
            let lines: Vec<Value> = (0..1 + r.below(4))
                .map(|_| json!({"sku": format!("SKU-{:06}", r.below(1_000_000)), "qty": 1 + r.below(5), "price": r.price()}))
                .collect();
            json!({"id": format!("ord_{k}_{}", r.below(1 << 30)), "status": r.word(), "placed_at": timestamp(r), "lines": lines, "total": r.price()})
        })
        .collect();
    json!({
        "request_id": request_id(r),
        "generated_at": timestamp(r),
        "user": {
            "id": r.below(1 << 40),
            "name": r.words(2),
            "email": format!("{}@example.invalid", r.word()),
            "roles": ["customer", r.word()],
            "created_at": timestamp(r),
        },
        "address": {"street": r.words(2), "city": r.word(), "zip": format!("{:05}", r.below(100_000)), "country": "DE"},
        "preferences": {"newsletter": r.below(2) == 0, "language": "de-DE", "theme": r.word()},
        "orders": orders,
    })
}

/// Changes one field of `v`, somewhere inside, picked at random.
fn mutate(r: &mut Rng, v: &mut Value) {
    // Pick a container (its pointer) by a random walk down from the root.
    let mut ptr = String::new();
    let mut cur: &Value = v;
    loop {
        let next = match cur {
            Value::Object(m) if !m.is_empty() && r.below(5) != 0 => m
                .iter()
                .nth(r.below(m.len() as u64) as usize)
                .map(|(k, x)| (k.replace('~', "~0").replace('/', "~1"), x)),
            Value::Array(a) if !a.is_empty() && r.below(5) != 0 => {
                let i = r.below(a.len() as u64) as usize;
                Some((i.to_string(), &a[i]))
            }
            _ => None,
        };
        match next {
            Some((seg, x)) if x.is_object() || x.is_array() => {
                ptr = format!("{ptr}/{seg}");
                cur = x;
            }
            _ => break,
        }
    }
    let (op, word, n) = (r.below(3), r.word(), r.below(1000));
    match v.pointer_mut(&ptr) {
        Some(Value::Object(m)) => {
            // Remove or change a member holding a scalar (the structure of
            // a response stays), or add one.
            let scalars: Vec<String> = m
                .iter()
                .filter(|(k, x)| {
                    !x.is_object() && !x.is_array() && *k != "request_id" && *k != "generated_at"
                })
                .map(|(k, _)| k.clone())
                .collect();
            let pick = scalars.get(n as usize % scalars.len().max(1)).cloned();
            match (op, pick) {
                (0, Some(k)) => {
                    m.remove(&k);
                }
                (1, Some(k)) => {
                    m.insert(k, json!(n));
                }
                _ => {
                    m.insert("added".into(), json!(word));
                }
            }
        }
        Some(Value::Array(a)) => a.push(json!(word)),
        Some(other) => *other = json!(word),
        None => {}
    }
}

fn corpus(pairs: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut r = Rng(seed);
    (0..pairs)
        .map(|k| {
            // Redrawn until its text is 1-10 KiB.
            let base = loop {
                let v = if k % 2 == 0 {
                    list_page(&mut r)
                } else {
                    detail(&mut r)
                };
                let len = serde_json::to_vec(&v).map_or(0, |t| t.len());
                if (1024..=10 * 1024).contains(&len) {
                    break v;
                }
            };
            let mut cand = base.clone();
            cand["request_id"] = json!(request_id(&mut r));
            cand["generated_at"] = json!(timestamp(&mut r));
            for _ in 0..r.below(4) {
                mutate(&mut r, &mut cand);
            }
            (
                serde_json::to_vec(&base).unwrap_or_default(),
                serde_json::to_vec(&cand).unwrap_or_default(),
            )
        })
        .collect()
}

/// An order of `lines` line items, written with its members in one order
/// (as one service version writes them); `noise` varies the timestamp and
/// request id, `price` the price.
fn order(r: &mut Rng, k: u64, lines: u64, price: &str, noise: &mut Rng) -> String {
    let items: Vec<String> = (0..lines)
        .map(|i| {
            format!(
                r#"{{"sku":"SKU-{k}-{i}","name":"{}","qty":{},"unit_price":{}.{:02},"tags":["{}","{}"],"in_stock":{}}}"#,
                r.words(2),
                1 + r.below(9),
                r.below(200),
                r.below(100),
                r.word(),
                r.word(),
                r.below(2) == 0
            )
        })
        .collect();
    format!(
        r#"{{"id":{k},"title":"order {k}","price":{price},"currency":"EUR","customer":{{"id":{},"name":"{}","email":"c{k}@example.test"}},"lines":[{}],"updated_at":"{}","request_id":"{}"}}"#,
        r.below(100_000),
        r.words(2),
        items.join(","),
        timestamp(noise),
        request_id(noise)
    )
}

fn orders(pairs: usize, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut noise = Rng(seed ^ 0x0dd5);
    (0..pairs as u64)
        .map(|k| {
            let lines = 4 + Rng(seed.wrapping_add(k)).below(46);
            let old = if k % 10 == 3 { "12.75" } else { "12.50" };
            // The same document but for the noise (and the price).
            let a = order(
                &mut Rng(seed.wrapping_mul(31).wrapping_add(k)),
                k,
                lines,
                old,
                &mut noise,
            );
            let b = order(
                &mut Rng(seed.wrapping_mul(31).wrapping_add(k)),
                k,
                lines,
                "12.50",
                &mut noise,
            );
            (a.into_bytes(), b.into_bytes())
        })
        .collect()
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs = flag(&args, "--pairs", 2000) as usize;
    let rounds = flag(&args, "--rounds", 5);
    let seed = flag(&args, "--seed", 1);
    let reps = flag(&args, "--reps", 5);
    let kind = args
        .iter()
        .position(|a| a == "--corpus")
        .and_then(|i| args.get(i + 1))
        .map_or("api", String::as_str);
    let docs = match kind {
        "orders" => orders(pairs, seed),
        "api" => corpus(pairs, seed),
        other => {
            eprintln!("compare_json: unknown corpus {other:?} (api, orders)");
            std::process::exit(2);
        }
    };
    let bytes: usize = docs.iter().map(|(a, b)| a.len() + b.len()).sum();
    let sizes: Vec<usize> = docs.iter().flat_map(|(a, b)| [a.len(), b.len()]).collect();
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    let show = flag(&args, "--show", 0) as usize;
    let mut out = Vec::new();
    let mut found = 0usize;
    for (k, (a, b)) in docs.iter().enumerate() {
        out.clear();
        let more = diff(a, b, &Strict, 64, &mut out).expect("the corpus is JSON");
        found += out.len() + more;
        for d in out.iter().take(if k < show { usize::MAX } else { 0 }) {
            println!(
                "pair {k}: {} {} {:?} -> {:?}",
                d.field,
                d.kind.as_str(),
                d.baseline,
                d.candidate
            );
        }
    }
    println!(
        "corpus {kind}: {pairs} pairs, {bytes} bytes (documents {min}..{max} bytes), {:.2} differences per pair; {reps} passes per timing",
        found as f64 / pairs as f64
    );
    let total = (bytes * reps as usize) as f64;
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let t = Instant::now();
        for _ in 0..reps {
            for (a, b) in &docs {
                out.clear();
                let more = diff(black_box(a), black_box(b), &Strict, 64, &mut out);
                black_box((&out, more.ok()));
            }
        }
        let ours = total / t.elapsed().as_secs_f64() / 1e6;
        let t = Instant::now();
        for _ in 0..reps {
            for (a, b) in &docs {
                let x = serde_json::from_slice::<Value>(black_box(a)).ok();
                let y = serde_json::from_slice::<Value>(black_box(b)).ok();
                black_box((x, y));
            }
        }
        let serde = total / t.elapsed().as_secs_f64() / 1e6;
        println!("round {round}: diff {ours:8.1} MB/s   serde_json::Value parse {serde:8.1} MB/s   ratio {:.2}", ours / serde);
        ratios.push(ours / serde);
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(m) = ratios.get(ratios.len() / 2) {
        println!("median ratio diff / serde_json parse: {m:.2}");
    }
}
