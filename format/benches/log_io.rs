//! Write and read throughput of `.stlog` with a realistic exchange mix (see
//! `support/mix.rs`), on one core. Also prints the on-disk size per exchange
//! and the compression ratio. Run with `benches/format.sh`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shadowtap_format::{Codec, FileHeader, Reader, Writer, WriterOptions};

#[path = "support/mix.rs"]
mod mix;

const N: u64 = 20_000;

fn opts(codec: Codec, level: i32) -> WriterOptions {
    WriterOptions {
        codec,
        zstd_level: level,
        // An in-memory sink: measure encoding, not the disk.
        sync: false,
        ..WriterOptions::default()
    }
}

fn write(exchanges: &[shadowtap_format::Exchange], o: WriterOptions) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(64 << 20), &FileHeader::default(), o).unwrap();
    for ex in exchanges {
        w.append(ex).unwrap();
    }
    w.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let exchanges = mix::exchanges(N);
    let wire: u64 = exchanges.iter().map(|e| e.wire_bytes()).sum();
    for (name, codec, level) in [
        ("zstd1", Codec::Zstd, 1),
        ("zstd3", Codec::Zstd, 3),
        ("none", Codec::None, 0),
    ] {
        let file = write(&exchanges, opts(codec, level));
        eprintln!(
            "size {name}: {} exchanges, {:.0} wire bytes/exchange, {:.0} file bytes/exchange, ratio {:.2}x",
            N,
            wire as f64 / N as f64,
            file.len() as f64 / N as f64,
            wire as f64 / file.len() as f64
        );
    }

    let mut g = c.benchmark_group("stlog");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    for (name, codec, level) in [("zstd1", Codec::Zstd, 1), ("none", Codec::None, 0)] {
        g.bench_function(format!("write_{name}"), |b| {
            b.iter_batched(
                || (),
                |()| write(&exchanges, opts(codec, level)),
                BatchSize::PerIteration,
            )
        });
        let file = write(&exchanges, opts(codec, level));
        g.bench_function(format!("read_{name}"), |b| {
            b.iter(|| {
                let r = Reader::new(&file[..]).unwrap();
                let mut n = 0u64;
                for ex in r {
                    n += ex.unwrap().request.len() as u64;
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
