use super::*;

#[test]
fn targets_are_templated() {
    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/", "GET /"),
        ("GET", "", "GET /"),
        ("OPTIONS", "*", "OPTIONS *"),
        ("GET", "/api/v2/items", "GET /api/v2/items"),
        ("GET", "/users/me", "GET /users/me"),
        ("GET", "/users/12345", "GET /users/{id}"),
        (
            "GET",
            "/users/12345/orders/678",
            "GET /users/{id}/orders/{id}",
        ),
        ("GET", "/offset/-1", "GET /offset/{id}"),
        ("GET", "/v1/orders/2024-01-05", "GET /v1/orders/{id}"),
        ("GET", "/at/10:30", "GET /at/{id}"),
        (
            "GET",
            "/items/123e4567-e89b-12d3-a456-426614174000",
            "GET /items/{id}",
        ),
        (
            "GET",
            "/items/123E4567-E89B-12D3-A456-426614174000/x",
            "GET /items/{id}/x",
        ),
        ("GET", "/commits/a1b2c3d4", "GET /commits/{id}"),
        (
            "GET",
            "/commits/9f86d081884c7d659a2feaa0c55ad015",
            "GET /commits/{id}",
        ),
        ("GET", "/hex/deadbeef", "GET /hex/deadbeef"),
        ("GET", "/hex/facade", "GET /hex/facade"),
        ("GET", "/hex/a1b2c3d", "GET /hex/a1b2c3d"),
        ("GET", "/s/tGzv3JOkF0XG5Qx2TlKWIA", "GET /s/{id}"),
        ("GET", "/s/dGhpcyBpcyBhIHRva2VuIQ==", "GET /s/{id}"),
        ("GET", "/blog/my-first-post-2024", "GET /blog/{id}"),
        ("GET", "/docs/getting-started", "GET /docs/getting-started"),
        ("GET", "/auth/2fa", "GET /auth/2fa"),
        ("GET", "/files/report.pdf", "GET /files/report.pdf"),
        ("GET", "/items/123.json", "GET /items/{id}.json"),
        ("GET", "/img/a1b2c3d4e5f6.png", "GET /img/{id}.png"),
        ("GET", "/pkg/v1.2.3", "GET /pkg/v1.2.3"),
        ("GET", "/pkg/1.2.3", "GET /pkg/{id}"),
        ("GET", "/users/alice@example.com", "GET /users/{id}"),
        ("GET", "/users/alice%40example.com/x", "GET /users/{id}/x"),
        ("GET", "/search/hello%20world", "GET /search/{id}"),
        ("GET", "/npm/@types/node", "GET /npm/@types/node"),
        ("GET", "/a/", "GET /a/"),
        ("GET", "/a", "GET /a"),
        ("GET", "//a//1", "GET //a//{id}"),
        (
            "GET",
            "/cart;jsessionid=ABC123;x=1",
            "GET /cart;jsessionid;x",
        ),
        ("GET", "/cart/7;v=2", "GET /cart/{id};v"),
        ("GET", "/search?q=shoes&page=2", "GET /search?page&q"),
        ("GET", "/search?q=a&q=b&a", "GET /search?a&q"),
        ("GET", "/search?", "GET /search"),
        ("GET", "/search?&=x&", "GET /search"),
        ("GET", "/search?1700000000&q=1", "GET /search?q&{id}"),
        ("GET", "/page#section", "GET /page"),
        ("GET", "/page?a=1#frag?b", "GET /page?a"),
        ("GET", "http://example.com:80/a/42?x=1", "GET /a/{id}?x"),
        ("GET", "https://example.com", "GET /"),
        ("GET", "http://example.com?x=1", "GET /?x"),
        ("GET", "HTTP://Example.com/A/B", "GET /A/B"),
        ("CONNECT", "example.com:443", "CONNECT example.com:443"),
        ("get", "/x", "get /x"),
        ("GET", "/ünïcode/名前", "GET /ünïcode/名前"),
    ];
    for (method, target, want) in cases {
        assert_eq!(template(method, target), *want, "{method} {target:?}");
    }
}

#[test]
fn long_segments_and_templates_are_bounded() {
    let seg = "a".repeat(65);
    assert_eq!(template("GET", &format!("/x/{seg}/y")), "GET /x/{id}/y");
    assert_eq!(
        template("GET", &format!("/x/{}", "a".repeat(64))),
        format!("GET /x/{}", "a".repeat(64))
    );

    let long = "/abc".repeat(1000);
    let t = template("GET", &long);
    assert_eq!(t.len(), TEMPLATE_MAX);
    assert!(t.ends_with('…'));
    assert!(t.starts_with("GET /abc/abc"));

    // Cut on a character boundary: 'é' is two bytes.
    let t = template("GET", &format!("/{}", "é/".repeat(500)));
    assert!(t.len() <= TEMPLATE_MAX);
    assert!(t.ends_with('…'));

    let many: String = (0..2000)
        .map(|i| format!("k{}=1&", char::from(b'a' + (i % 26) as u8)))
        .collect();
    let t = template("GET", &format!("/q?{many}"));
    assert_eq!(
        t,
        format!(
            "GET /q?{}",
            (b'a'..=b'z')
                .map(|c| format!("k{}", c as char))
                .collect::<Vec<_>>()
                .join("&")
        )
    );

    // Beyond the scanned bytes, nothing counts.
    let t = template("GET", &format!("/{}?late=1", "a/".repeat(TARGET_SCAN_MAX)));
    assert!(!t.contains("late"));
    assert!(t.len() <= TEMPLATE_MAX);
}

#[test]
fn overrides_are_parsed_or_refused() {
    let good = [
        "GET /api/items/{id}",
        "  POST   /api/items  ",
        "* /health",
        "GET /files/{path*}",
        "GET /static/**",
        "OPTIONS *",
        "GET /",
        "GET /a//b/",
    ];
    for g in good {
        assert!(Endpoints::new(&[g.to_string()]).is_ok(), "{g:?}");
    }
    let bad: &[(&str, &str)] = &[
        ("", "expected METHOD PATTERN"),
        ("GET", "expected METHOD PATTERN"),
        ("GET /a /b", "expected METHOD PATTERN"),
        ("G(T /a", "is not a method"),
        ("GET api/items", "does not start with '/'"),
        ("GET /search?q", "no query or fragment"),
        ("GET /a#b", "no query or fragment"),
        ("GET /a/{}", "a parameter is {name}"),
        ("GET /a/{*}", "a parameter is {name}"),
        ("GET /a/{id", "are whole segments"),
        ("GET /a/x{id}", "are whole segments"),
        ("GET /a/*", "are whole segments"),
        ("GET /a/{i d}/b", "expected METHOD PATTERN"),
        ("GET /a/{rest*}/b", "only be matched last"),
        ("GET /**/b", "only be matched last"),
    ];
    for (text, why) in bad {
        let err = Endpoints::new(&[text.to_string()]).unwrap_err();
        assert_eq!(err.text, *text);
        assert!(
            err.why.contains(why),
            "{text:?}: {:?} lacks {why:?}",
            err.why
        );
    }
}

#[test]
fn the_first_matching_override_names_the_request() {
    let overrides = [
        "GET /api/items/{id}",
        "  POST   /api/items  ",
        "* /health",
        "GET /files/{path*}",
        "DELETE /static/**",
        "OPTIONS *",
        "GET /api/{kind}/{id}",
        "GET /a//b/",
    ];
    let e = Endpoints::new(&overrides.map(String::from)).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/api/items/42", "GET /api/items/{id}"),
        ("get", "/api/items/42?x=1", "GET /api/items/{id}"),
        (
            "GET",
            "http://h:8080/api/items/abc#f",
            "GET /api/items/{id}",
        ),
        ("GET", "/api/items/", "GET /api/items/"),
        ("GET", "/api/items/42/", "GET /api/items/{id}/"),
        ("GET", "/api/items", "GET /api/items"),
        ("POST", "/api/items", "POST /api/items"),
        ("POST", "/api/items?dry_run=1", "POST /api/items"),
        ("POST", "/api/items/7", "POST /api/items/{id}"),
        ("GET", "/health", "* /health"),
        ("HEAD", "/health", "* /health"),
        ("GET", "/health/deep", "GET /health/deep"),
        ("GET", "/files", "GET /files/{path*}"),
        ("GET", "/files/a/b/c.txt", "GET /files/{path*}"),
        ("GET", "/filesystem", "GET /filesystem"),
        ("DELETE", "/static/", "DELETE /static/**"),
        ("GET", "/static/x", "GET /static/x"),
        ("OPTIONS", "*", "OPTIONS *"),
        ("GET", "*", "GET *"),
        ("OPTIONS", "/", "OPTIONS /"),
        ("GET", "/api/users/7", "GET /api/{kind}/{id}"),
        ("GET", "/a//b/", "GET /a//b/"),
        ("GET", "/a/b/", "GET /a/b/"),
        ("GET", "/unknown/123", "GET /unknown/{id}"),
    ];
    for (method, target, want) in cases {
        assert_eq!(e.name(method, target), *want, "{method} {target:?}");
    }
    assert_eq!(
        Endpoints::new(&[]).unwrap().name("GET", "/x/1"),
        "GET /x/{id}"
    );
}
