use std::io::Write;

use super::*;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn br(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(b).unwrap();
    }
    out
}

fn head(fields: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{fields}\r\n").into_bytes()
}

fn decoded(head: &[u8], wire: &[u8]) -> Decoded {
    decode(head, "GET", wire, wire.len() as u64, 1 << 20)
}

const JSON: &[u8] = br#"{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}"#;

#[test]
fn each_content_coding_is_undone() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(JSON)),
        ("x-gzip", gzip(JSON)),
        ("deflate", zlib(JSON)),
        ("deflate", raw_deflate(JSON)),
        ("br", br(JSON)),
        ("zstd", zstd::encode_all(JSON, 3).unwrap()),
        ("identity", JSON.to_vec()),
    ];
    for (coding, body) in cases {
        let h = head(&format!(
            "Content-Encoding: {coding}\r\nContent-Length: {}\r\n",
            body.len()
        ));
        let d = decoded(&h, &body);
        assert_eq!(d.content, Content::Bytes(JSON.to_vec()), "{coding}");
        assert!(d.complete, "{coding}");
        assert_eq!(d.undecoded, None, "{coding}");
    }
}

#[test]
fn stacked_codings_are_undone_last_first() {
    let body = br(&gzip(JSON));
    let h = head(&format!(
        "Content-Encoding: gzip, br\r\nContent-Length: {}\r\n",
        body.len()
    ));
    assert_eq!(decoded(&h, &body).content, Content::Bytes(JSON.to_vec()));
}

#[test]
fn chunked_framing_is_removed_before_decoding() {
    let z = gzip(JSON);
    let (a, b) = z.split_at(z.len() / 2);
    let mut wire = format!("{:x}\r\n", a.len()).into_bytes();
    wire.extend_from_slice(a);
    wire.extend_from_slice(format!("\r\n{:x};ext=1\r\n", b.len()).as_bytes());
    wire.extend_from_slice(b);
    wire.extend_from_slice(b"\r\n0\r\n\r\n");
    let h = head("Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n");
    let d = decoded(&h, &wire);
    assert_eq!(d.content, Content::Bytes(JSON.to_vec()));
    assert!(d.complete);
}

#[test]
fn a_body_cut_by_the_capture_is_incomplete() {
    let h = head("Content-Length: 10\r\n");
    let d = decode(&h, "GET", b"01234", 10, 1 << 20);
    assert!(!d.complete);
    // Cut inside a chunk.
    let h = head("Transfer-Encoding: chunked\r\n");
    let d = decode(&h, "GET", b"a\r\n01234", 20, 1 << 20);
    assert!(!d.complete);
    assert_eq!(d.content, Content::Bytes(b"01234".to_vec()));
}

#[test]
fn corrupt_or_unknown_codings_keep_the_bytes_and_say_why() {
    let h = head("Content-Encoding: gzip\r\nContent-Length: 9\r\n");
    let d = decoded(&h, b"not gzip!");
    assert_eq!(d.content, Content::Bytes(b"not gzip!".to_vec()));
    assert!(
        d.undecoded.as_deref().unwrap().starts_with("gzip: "),
        "{:?}",
        d.undecoded
    );
    let h = head("Content-Encoding: compress\r\nContent-Length: 3\r\n");
    let d = decoded(&h, b"abc");
    assert_eq!(
        d.undecoded.as_deref(),
        Some("compress: unknown coding \"compress\"")
    );
}

#[test]
fn bodies_over_the_bound_are_kept_as_length_and_hash() {
    let big = vec![b'x'; 5000];
    let h = head("Content-Length: 5000\r\n");
    let d = decode(&h, "GET", &big, 5000, 4096);
    let Content::Digest { len, hash } = d.content else {
        panic!("kept {:?}", d.content);
    };
    assert_eq!(len, 5000);
    let mut other = big.clone();
    other[4999] = b'y';
    let e = decode(&h, "GET", &other, 5000, 4096);
    assert_ne!(e.content, Content::Digest { len, hash });
    let diff = diff_bytes(&d.content, &e.content).unwrap();
    assert_eq!(diff.kind, Kind::Value);
    assert!(diff.baseline.unwrap().starts_with("5000 bytes, hash "));
    // The bound applies to the decoded size, not the wire's.
    let z = gzip(&big);
    let h = head(&format!(
        "Content-Encoding: gzip\r\nContent-Length: {}\r\n",
        z.len()
    ));
    let d = decode(&h, "GET", &z, z.len() as u64, 4096);
    assert_eq!(d.content, Content::Digest { len, hash });
}

#[test]
fn body_types_by_content_type() {
    let t = |ct: &str| BodyType::of(Some(ct.as_bytes()), b"");
    assert_eq!(t("application/json"), BodyType::Json);
    assert_eq!(t("Application/JSON; charset=utf-8"), BodyType::Json);
    assert_eq!(t("application/problem+json"), BodyType::Json);
    assert_eq!(t("application/x-www-form-urlencoded"), BodyType::Form);
    assert_eq!(t("text/html; charset=utf-8"), BodyType::Text);
    assert_eq!(t("application/xml"), BodyType::Text);
    assert_eq!(t("image/svg+xml"), BodyType::Text);
    assert_eq!(t("application/octet-stream"), BodyType::Binary);
    assert_eq!(t("image/png"), BodyType::Binary);
    assert_eq!(BodyType::of(None, b"  {\"a\":1}"), BodyType::Json);
    assert_eq!(BodyType::of(None, b"[1]"), BodyType::Json);
    assert_eq!(BodyType::of(None, b"hello"), BodyType::Binary);
}

#[test]
fn text_differences_name_the_first_differing_line() {
    assert_eq!(diff_text(b"a\nb\n", b"a\r\nb"), None);
    let d = diff_text(b"one\ntwo\nthree\n", b"one\nTWO\nthree\n").unwrap();
    assert_eq!((d.field.clone(), d.kind), (Field::Body, Kind::Value));
    assert_eq!(d.baseline.as_deref(), Some("line 2: two"));
    assert_eq!(d.candidate.as_deref(), Some("line 2: TWO"));
    let d = diff_text(b"one\ntwo\n", b"one\ntwo\nthree\n").unwrap();
    assert_eq!(d.kind, Kind::Length);
    assert_eq!(d.baseline.as_deref(), Some("2 lines"));
    assert_eq!(d.candidate.as_deref(), Some("line 3: three"));
}

#[test]
fn binary_bodies_by_length_then_content() {
    let a = Content::Bytes(vec![0, 1, 2]);
    assert_eq!(diff_bytes(&a, &a.clone()), None);
    let d = diff_bytes(&a, &Content::Bytes(vec![0, 1])).unwrap();
    assert_eq!(d.kind, Kind::Length);
    let d = diff_bytes(&a, &Content::Bytes(vec![0, 1, 3])).unwrap();
    assert_eq!(d.kind, Kind::Value);
    assert_eq!(
        diff_bytes(&Content::Bytes(vec![]), &a)
            .unwrap()
            .baseline
            .as_deref(),
        Some("0 bytes")
    );
}

#[test]
fn forms_become_objects_of_their_keys() {
    let j = form_as_json(b"b=2&a=x+y&a=%41%zz&flag&e=%C3%A9");
    let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"b": "2", "a": ["x y", "A%zz"], "flag": "", "e": "é"})
    );
    assert_eq!(form_as_json(b""), b"{}");
    // A trailing lone % stays as it is.
    let v: serde_json::Value = serde_json::from_slice(&form_as_json(b"k=50%")).unwrap();
    assert_eq!(v, serde_json::json!({"k": "50%"}));
}

#[test]
fn fed_in_pieces_the_decoder_gives_what_decode_gives() {
    let z = gzip(JSON);
    let mut wire = format!("{:x}\r\n", z.len()).into_bytes();
    wire.extend_from_slice(&z);
    wire.extend_from_slice(b"\r\n0\r\n\r\n");
    let h = head("Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n");
    for split in 0..=wire.len() {
        let mut d = Decoder::new(&h, "GET", 1 << 20);
        d.push(&wire[..split]);
        d.push(&wire[split..]);
        let got = d.finish(true);
        assert_eq!(got.content, Content::Bytes(JSON.to_vec()), "split {split}");
        assert!(got.complete, "split {split}");
    }
}

#[test]
fn a_zip_bomb_stops_at_the_inflate_bound() {
    // 300 MiB of zeros compress to about 300 KiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..300 {
        e.write_all(&zeros).unwrap();
    }
    let z = e.finish().unwrap();
    let h = head(&format!(
        "Content-Encoding: gzip\r\nContent-Length: {}\r\n",
        z.len()
    ));
    let d = decoded(&h, &z);
    assert!(!d.complete);
    let Content::Digest { len, .. } = d.content else {
        panic!("kept the bytes");
    };
    assert!(len <= MAX_INFLATE + (1 << 20), "{len}");
}

#[test]
fn a_stream_cut_inside_its_coding_says_so() {
    let z = gzip(JSON);
    let cut = &z[..z.len() - 6];
    let h = head(&format!(
        "Content-Encoding: gzip\r\nContent-Length: {}\r\n",
        cut.len()
    ));
    let d = decoded(&h, cut);
    assert!(d.undecoded.is_some(), "{d:?}");
}
