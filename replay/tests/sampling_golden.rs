//! Golden values of sampling: `sample.rs` promises that a `--seed` keeps the
//! same requests across versions and platforms. These values were computed
//! once and are pinned: a change to the hash, the key layout, the domain
//! constants or the threshold that alters which requests a seed keeps fails
//! here. Never update them to make a change pass; such a change breaks the
//! promise.

use shadowtap_format::Exchange;
use shadowtap_replay::sample::{hash_bytes, mix, Percent, SampleBy, Sampler};

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

fn sampler(pct: &str, by: SampleBy, seed: u64) -> Sampler {
    Sampler::new(pct.parse::<Percent>().unwrap(), by, seed)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

fn kept_request_ids(file: usize) -> Vec<u64> {
    let s = sampler("10", SampleBy::Request, 42);
    (1..=200)
        .filter(|&id| s.keep(file, &ex(id, 1, GET)))
        .collect()
}

fn kept_connections() -> Vec<u64> {
    let s = sampler("20", SampleBy::Connection, 42);
    (1..=100)
        .filter(|&c| s.keep(0, &ex(c * 10, c, GET)))
        .collect()
}

fn user_request(user: u64) -> Vec<u8> {
    format!("GET /u HTTP/1.1\r\nHost: a\r\nX-User:  user-{user} \r\n\r\n").into_bytes()
}

fn kept_users() -> Vec<u64> {
    let s = sampler("20", SampleBy::Header("x-user".into()), 42);
    (1..=100)
        .filter(|&u| s.keep(0, &ex(u, u, &user_request(u))))
        .collect()
}

#[test]
fn integer_mix_is_splitmix64() {
    // mix(0) is SplitMix64's first output from state 0, a published value.
    assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
    assert_eq!(mix(1), 0x910a_2dec_8902_5cc1);
    assert_eq!(mix(u64::MAX), 0xe4d9_7177_1b65_2c20);
    assert_eq!(mix(0x0123_4567_89ab_cdef), 0x157a_3807_a48f_aa9d);
}

#[test]
fn byte_hash_values_are_pinned() {
    assert_eq!(hash_bytes(0, b""), 0xa706_dd2f_4d19_7e6f);
    assert_eq!(hash_bytes(0, b"a"), 0x803b_5fc1_a96d_2e7b);
    // Eight bytes and a remainder; exactly two words; a longer value.
    assert_eq!(hash_bytes(42, b"user-1234"), 0x4691_14f4_5b0a_256b);
    assert_eq!(hash_bytes(7, b"0123456789abcdef"), 0xbe66_6997_67db_4070);
    assert_eq!(
        hash_bytes(u64::MAX, b"session=3f2a9c; theme=dark"),
        0xd361_c27f_f9f1_eb20
    );
}

const KEPT_FILE_0: [u64; 25] = [
    3, 5, 30, 31, 35, 40, 50, 70, 80, 91, 94, 102, 112, 118, 132, 134, 136, 139, 147, 153, 167,
    173, 174, 195, 200,
];

#[test]
fn request_sampling_keeps_the_same_ids_for_a_seed() {
    assert_eq!(kept_request_ids(0), KEPT_FILE_0);
    // The file index is part of the key.
    assert_eq!(
        kept_request_ids(1),
        [
            1, 5, 12, 46, 58, 67, 125, 126, 127, 139, 144, 147, 153, 161, 174, 177, 183, 189, 193,
            198
        ]
    );
}

#[test]
fn connection_sampling_keeps_the_same_connections_for_a_seed() {
    assert_eq!(
        kept_connections(),
        [
            4, 8, 15, 18, 24, 30, 31, 32, 35, 45, 49, 50, 52, 53, 58, 59, 60, 62, 63, 68, 76, 79,
            81, 82, 86, 87, 94
        ]
    );
}

#[test]
fn header_sampling_keeps_the_same_users_for_a_seed() {
    assert_eq!(
        kept_users(),
        [
            10, 13, 15, 22, 23, 33, 36, 50, 55, 56, 57, 61, 64, 65, 69, 77, 81, 82, 88, 91, 92, 93,
            96
        ]
    );
    // The value is trimmed and the name case-insensitive: the same user.
    let s = sampler("20", SampleBy::Header("X-USER".into()), 42);
    let tight = b"GET /u HTTP/1.1\r\nx-user:user-10\r\n\r\n";
    assert!(s.keep(0, &ex(999, 999, tight)));
    // Requests without the header fall back to the request key: the same
    // ids as request sampling at that percentage and seed.
    let s = sampler("10", SampleBy::Header("x-user".into()), 42);
    let anon: Vec<u64> = (1..=200).filter(|&id| s.keep(0, &ex(id, 1, GET))).collect();
    assert_eq!(anon, KEPT_FILE_0);
}
