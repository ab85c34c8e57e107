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
    for bad in [
        "ftp://a",
        "a:80",
        "http://",
        "http://a:0",
        "http://a:99999",
        "http://a:x",
        "http://a/path",
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
