//! Write and read throughput of `.stlog` with a realistic exchange mix (see
//! `support/mix.rs`), on one core. Also prints the on-disk size per exchange
//! and the compression ratio. Run with `benches/format.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::Cursor;

use shadowtap_format::index::scan_blocks;
use shadowtap_format::spec::BLOCK_HEADER_LEN;
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

/// Writes into `sink` (cleared first). Reusing one sink measures encoding,
/// not the page faults of a fresh 64 MiB buffer per run: a real writer's
/// `write` lands in an already mapped page cache.
fn write_into(sink: &mut Vec<u8>, exchanges: &[shadowtap_format::Exchange], o: WriterOptions) {
    sink.clear();
    let mut w = Writer::new(&mut *sink, &FileHeader::default(), o).unwrap();
    for ex in exchanges {
        w.append(ex).unwrap();
    }
    w.finish().unwrap();
}

fn write(exchanges: &[shadowtap_format::Exchange], o: WriterOptions) -> Vec<u8> {
    let mut sink = Vec::new();
    write_into(&mut sink, exchanges, o);
    sink
}

/// The decoded block payloads of an uncompressed log: exactly what the
/// writer hands zstd, for the zstd-alone reference.
fn payloads(file: &[u8]) -> Vec<Vec<u8>> {
    let blocks = scan_blocks(&mut Cursor::new(file)).unwrap();
    blocks
        .iter()
        .map(|b| {
            let at = b.offset as usize;
            let raw_len = u32::from_le_bytes(file[at + 12..at + 16].try_into().unwrap()) as usize;
            let start = at + BLOCK_HEADER_LEN;
            file[start..start + raw_len].to_vec()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let exchanges = mix::exchanges(N);
    let wire: u64 = exchanges.iter().map(|e| e.wire_bytes()).sum();
    for (name, codec, level) in [
        ("zstd1", Codec::Zstd, 1),
        ("zstd3", Codec::Zstd, 3),
        ("zstd-5", Codec::Zstd, -5),
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
    for (name, codec, level) in [
        ("zstd1", Codec::Zstd, 1),
        ("zstd-5", Codec::Zstd, -5),
        ("none", Codec::None, 0),
    ] {
        let mut sink = Vec::new();
        g.bench_function(format!("write_{name}"), |b| {
            b.iter(|| write_into(&mut sink, &exchanges, opts(codec, level)))
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

    // The ceiling: zstd level 1 alone on the same block payloads, with
    // reused contexts and buffers, no shadowtap code at all.
    let raw = payloads(&write(&exchanges, opts(Codec::None, 0)));
    let mut c = zstd::bulk::Compressor::new(1).unwrap();
    let mut out = vec![0u8; zstd::zstd_safe::compress_bound(1 << 20)];
    g.bench_function("zstd1_alone_compress", |b| {
        b.iter(|| {
            raw.iter()
                .map(|p| c.compress_to_buffer(p, &mut out[..]).unwrap())
                .sum::<usize>()
        })
    });
    let packed: Vec<Vec<u8>> = raw
        .iter()
        .map(|p| zstd::bulk::compress(p, 1).unwrap())
        .collect();
    let mut d = zstd::bulk::Decompressor::new().unwrap();
    g.bench_function("zstd1_alone_decompress", |b| {
        b.iter(|| {
            packed
                .iter()
                .map(|p| d.decompress_to_buffer(p, &mut out[..]).unwrap())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
