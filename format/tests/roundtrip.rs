//! Round trips of arbitrary exchanges, and the committed v1 golden file.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use common::*;
use proptest::prelude::*;
use shadowtap_format::{
    Codec, End, Exchange, FileHeader, Flags, Reader, Response, Writer, WriterOptions,
};

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..64),
        // Large binary bodies, generated cheaply from a length and a seed.
        (0..max, any::<u64>()).prop_map(|(len, mut seed)| {
            (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect()
        }),
    ]
}

/// A head with many and long headers, as text.
fn huge_head() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(("[A-Za-z-]{1,40}", "[ -~]{0,2000}"), 0..80).prop_map(|hs| {
        let mut h = b"GET /big HTTP/1.1\r\n".to_vec();
        for (n, v) in hs {
            h.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    })
}

fn response() -> impl Strategy<Value = Option<Response>> {
    proptest::option::of(
        (
            any::<u64>(),
            any::<u64>(),
            any::<u16>(),
            bytes(4096),
            bytes(70_000),
            any::<u64>(),
        )
            .prop_map(
                |(first_ns, last_ns, status, head, body, body_len)| Response {
                    body_len,
                    ..Response::new(status, first_ns, last_ns, head, body)
                },
            ),
    )
}

prop_compose! {
    fn exchange_strategy()(
        id in any::<u64>(),
        conn in any::<u64>(),
        client in addr(),
        server in addr(),
        req_first_ns in any::<u64>(),
        req_last_ns in any::<u64>(),
        flags in any::<u32>(),
        request in prop_oneof![bytes(70_000), huge_head()],
        request_len in any::<u64>(),
        response in response(),
        origin in proptest::option::of(any::<u64>()),
    ) -> Exchange {
        Exchange {
            req_last_ns,
            flags: Flags(flags),
            request_len,
            response,
            origin,
            ..Exchange::new(id, conn, client, server, req_first_ns, request)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_exchanges_round_trip(
        exchanges in proptest::collection::vec(exchange_strategy(), 0..40),
        zstd in any::<bool>(),
        block_target in 1usize..300_000,
    ) {
        let opts = WriterOptions {
            codec: if zstd { Codec::Zstd } else { Codec::None },
            block_target,
            sync: false,
            ..WriterOptions::default()
        };
        let bytes = write_all(&exchanges, opts);
        let mut r = Reader::new(&bytes[..]).unwrap();
        let got: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(got, exchanges);
        prop_assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
        prop_assert_eq!(r.header(), &header());
    }

    #[test]
    fn arbitrary_headers_round_trip(
        writer in ".{0,100}",
        created_ns in any::<u64>(),
        meta in proptest::collection::vec((".{0,50}", ".{0,200}"), 0..20),
    ) {
        let h = FileHeader { writer, created_ns, meta };
        let w = Writer::new(Vec::new(), &h, WriterOptions::default()).unwrap();
        let bytes = w.finish().unwrap();
        let r = Reader::new(&bytes[..]).unwrap();
        prop_assert_eq!(r.header(), &h);
    }
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden-v1.stlog")
}

/// The exchanges of the golden file. Never change this function: the file
/// on disk was written from it and must read back to it forever.
fn golden_exchanges() -> Vec<Exchange> {
    (0..40).map(exchange).collect()
}

/// The golden file's generator. By default it writes to a temporary file,
/// which must read back to the golden exchanges (so this test runs, rather
/// than passing as a no-op). Only when a NEW golden file (for a new major
/// version) is wanted does it overwrite the committed one:
/// `GOLDEN_REGEN=1 cargo test -p shadowtap-format --test roundtrip
/// regenerate_golden`.
#[test]
fn regenerate_golden() {
    let dir = tempfile::tempdir().unwrap();
    let path = if std::env::var_os("GOLDEN_REGEN").is_some() {
        golden_path()
    } else {
        dir.path().join("golden.stlog")
    };
    let mut w = Writer::create(
        &path,
        &header(),
        WriterOptions {
            block_target: 2048,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    for ex in golden_exchanges() {
        w.append(&ex).unwrap();
    }
    w.finish().unwrap();
    let mut r = Reader::open(&path).unwrap();
    let got: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, golden_exchanges());
    assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
}

#[test]
fn golden_v1_file_reads_back_to_known_values() {
    let mut r = Reader::open(&golden_path()).unwrap();
    assert_eq!(r.version(), (1, 0));
    assert_eq!(r.header(), &header());
    assert_eq!(r.header().get("interface"), Some("lo"));
    let got: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, golden_exchanges());
    assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
    // Spot checks independent of the generator, in case it is ever changed.
    assert_eq!(got.len(), 40);
    assert_eq!(got[3].client, "[2001:db8::4]:40003".parse().unwrap());
    assert_eq!(got[2].response.as_ref().unwrap().status, 404);
    assert_eq!(got[3].response, None);
    assert_eq!(got[7].response, None);
    assert!(got[9].flags.contains(Flags::RESP_MISSING));
    assert!(got[1]
        .request
        .starts_with(b"POST /api/items/1?q=3 HTTP/1.1\r\n"));
    assert_eq!(got[4].request_len, got[4].request.len() as u64);
    let idx = r.index().unwrap();
    assert!(idx.len() > 1, "golden file has several blocks");
}

/// `exchange(i)` of the common set, replaying request `1000 + i` when `i`
/// is even.
fn with_origins(n: u64) -> Vec<Exchange> {
    (0..n)
        .map(|i| Exchange {
            origin: (i % 2 == 0).then_some(1000 + i),
            ..exchange(i)
        })
        .collect()
}

#[test]
fn files_are_written_at_1_1_and_origins_read_back() {
    let want = with_origins(12);
    let bytes = write_all(&want, small_blocks(Codec::Zstd));
    assert_eq!(
        &bytes[8..12],
        &[1, 0, 1, 0],
        "major 1, minor 1, little-endian"
    );
    let mut r = Reader::new(&bytes[..]).unwrap();
    assert_eq!(r.version(), (1, 1));
    let got: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, want);
    assert_eq!(got[0].origin, Some(1000));
    assert_eq!(got[1].origin, None);
    assert_eq!(got[10].origin, Some(1010));
}

#[test]
fn a_1_0_file_reads_with_no_origin() {
    let r = Reader::open(&golden_path()).unwrap();
    assert_eq!(r.version(), (1, 0));
    let got: Vec<Exchange> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), 40);
    assert!(got.iter().all(|ex| ex.origin.is_none()));
}

#[test]
fn a_1_0_reader_skips_the_origin_of_a_1_1_record() {
    // What a 1.0 reader does with a 1.1 file: the same bytes, read with the
    // 1.0 layout (the file marked 1.0, its header checksum fixed).
    let want = with_origins(6);
    let mut bytes = write_all(&want, small_blocks(Codec::None));
    bytes[10..12].copy_from_slice(&0u16.to_le_bytes());
    let hlen = 16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize + 4;
    let crc = crc32c::crc32c(&bytes[8..hlen - 4]);
    bytes[hlen - 4..hlen].copy_from_slice(&crc.to_le_bytes());
    let mut r = Reader::new(&bytes[..]).unwrap();
    assert_eq!(r.version(), (1, 0));
    let got: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().unwrap();
    let stripped: Vec<Exchange> = want
        .into_iter()
        .map(|ex| Exchange { origin: None, ..ex })
        .collect();
    assert_eq!(got, stripped);
    assert_eq!(r.end(), Some(&End::Clean { indexed: true }));
}
