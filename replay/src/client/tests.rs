use super::*;

#[test]
fn target_urls() {
    let t = Target::parse("http://127.0.0.1:8080").unwrap();
    assert_eq!(
        (t.scheme(), t.host(), t.port(), t.authority()),
        (Scheme::Http, "127.0.0.1", 8080, "127.0.0.1:8080")
    );
    let t = Target::parse("https://example.com/").unwrap();
    assert_eq!(
        (t.scheme(), t.host(), t.port(), t.authority()),
        (Scheme::Https, "example.com", 443, "example.com")
    );
    let t = Target::parse("HTTP://[::1]:9000").unwrap();
    assert_eq!(
        (t.host(), t.port(), t.authority()),
        ("::1", 9000, "[::1]:9000")
    );
    let t = Target::parse("http://[::1]").unwrap();
    assert_eq!((t.host(), t.port(), t.authority()), ("::1", 80, "[::1]"));
    // A path is a prefix, without its trailing slashes.
    let prefixes = [
        ("http://staging:8080/v2", "staging:8080", "/v2"),
        ("http://staging:8080/v2/", "staging:8080", "/v2"),
        ("http://a/x/y//", "a", "/x/y"),
        ("http://a/", "a", ""),
        ("http://a", "a", ""),
        ("https://[::1]:9/p@q%20", "[::1]:9", "/p@q%20"),
    ];
    for (url, authority, prefix) in prefixes {
        let t = Target::parse(url).unwrap();
        assert_eq!(
            (t.authority(), t.path_prefix()),
            (authority, prefix),
            "{url}"
        );
    }
    for bad in [
        "ftp://a",
        "a:80",
        "http://",
        "http://a:0",
        "http://a:99999",
        "http://a:x",
        "http://a/pa th",
        "http://a/p?q",
        "http://a/p#f",
        "http://u@a",
        "http://a?q",
        "http://[::1",
        "http://[::1]x",
    ] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_timer_left_from_an_earlier_request_is_re_armed() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    // An earlier request's deadline: 1 s.
    let mut timer = Box::pin(tokio::time::sleep_until(t0 + ms(1_000)));
    // Finishes at 1.2 s, before its own deadline (1.5 s), although the
    // timer fires at 1 s.
    let work = tokio::time::sleep(ms(1_200));
    assert_eq!(
        until_deadline(&mut timer, t0 + ms(1_500), work).await,
        Some(())
    );
    assert_eq!(Instant::now(), t0 + ms(1_200));
    // Never finishes: ends exactly at its deadline.
    let never = std::future::pending::<()>();
    assert_eq!(
        until_deadline(&mut timer, t0 + ms(3_000), never).await,
        None
    );
    assert_eq!(Instant::now(), t0 + ms(3_000));
    // A fired timer is reused for the next deadline too.
    let never = std::future::pending::<()>();
    assert_eq!(
        until_deadline(&mut timer, t0 + ms(4_000), never).await,
        None
    );
    assert_eq!(Instant::now(), t0 + ms(4_000));
}

#[test]
fn io_errors_are_classified() {
    use io::ErrorKind as K;
    assert_eq!(classify(&K::ConnectionRefused.into()), ErrorKind::Refused);
    assert_eq!(classify(&K::ConnectionReset.into()), ErrorKind::Reset);
    assert_eq!(classify(&K::BrokenPipe.into()), ErrorKind::Reset);
    assert_eq!(classify(&K::UnexpectedEof.into()), ErrorKind::Reset);
    assert_eq!(classify(&K::TimedOut.into()), ErrorKind::Timeout);
    assert_eq!(classify(&K::PermissionDenied.into()), ErrorKind::Other);
    let tls = io::Error::new(K::InvalidData, rustls::Error::DecryptError);
    assert_eq!(classify(&tls), ErrorKind::Tls);
}

/// Serves `response` in pieces of `piece` bytes to the first request on
/// a loopback listener; returns a session to it.
async fn one_response(response: Vec<u8>, piece: usize) -> Session {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        for p in response.chunks(piece) {
            s.write_all(p).await.unwrap();
            s.flush().await.unwrap();
        }
        // Keep the connection open until the client is done.
        let _ = s.read(&mut buf).await;
    });
    let target = Target::parse(&format!("http://{addr}")).unwrap();
    let endpoint = Endpoint::new(target, ClientOptions::default())
        .await
        .unwrap();
    Session::new(Arc::new(endpoint))
}

const GET: [&[u8]; 3] = [b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"", b""];

#[tokio::test]
async fn a_kept_response_skips_interim_ones_and_decodes_its_body_as_it_arrives() {
    use crate::compare::body::Content;
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut wire = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
    wire.extend_from_slice(head);
    wire.extend_from_slice(b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n");
    // Three bytes at a time: heads and chunks cut anywhere.
    let mut session = one_response(wire, 3).await;
    let mut kept = Kept::new(1 << 20);
    let reply = session.send_keeping(GET, "GET", true, &mut kept).await;
    assert_eq!(reply.result, Ok(200));
    assert_eq!(kept.head(), &head[..]);
    let body = kept.take_body().unwrap();
    assert_eq!(body.content, Content::Bytes(b"{\"a\": 1}".to_vec()));
    assert!(body.complete);
    assert_eq!(body.undecoded, None);
    // Taken: the next look finds none.
    assert!(kept.take_body().is_none());
}

#[tokio::test]
async fn a_kept_body_past_the_bound_is_a_length_and_a_hash() {
    use crate::compare::body::Content;
    let body = vec![b'x'; 100_000];
    let mut wire =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    wire.extend_from_slice(&body);
    let mut session = one_response(wire, 10_000).await;
    let mut kept = Kept::new(1024);
    let reply = session.send_keeping(GET, "GET", true, &mut kept).await;
    assert_eq!(reply.result, Ok(200));
    let got = kept.take_body().unwrap();
    assert!(got.complete);
    assert!(
        matches!(got.content, Content::Digest { len: 100_000, .. }),
        "{:?}",
        got.content
    );
}
