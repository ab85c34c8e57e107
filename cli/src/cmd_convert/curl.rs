//! The `curl` output of `convert`: one bash command per request, to send a
//! single captured request again by hand.
//!
//! Every byte is quoted so that bash passes it through unchanged: header
//! lines and the URL in `$'...'` with `\xHH` for anything but printable
//! ASCII, the body through `printf` with `\ooo` escapes on curl's stdin
//! (`--data-binary @-`), since an argument cannot hold a NUL byte. What curl
//! cannot send as captured is left out with a `#` comment saying why.

use std::io::{self, Write};

use shadowtap_format::http1::{fields, find_head_end, parse_request_head};
use shadowtap_format::{Exchange, Flags};

/// The first line of a curl script.
pub const PREAMBLE: &[u8] =
    b"#!/usr/bin/env bash\n# shadowtap convert: one curl command per captured request\n";

/// Headers curl adds itself unless told not to (`-H 'Name:'`), and that are
/// suppressed when the request did not have them.
const CURL_ADDS: [&str; 3] = ["User-Agent", "Accept", "Expect"];

/// Writes the command for `ex`, or a comment when curl cannot send it.
pub fn write(w: &mut impl Write, ex: &Exchange) -> io::Result<()> {
    match command(ex) {
        Ok(cmd) => {
            writeln!(w, "# exchange {} (conn {})", ex.id, ex.conn)?;
            w.write_all(&cmd)
        }
        Err(why) => writeln!(w, "# exchange {} (conn {}) skipped: {why}", ex.id, ex.conn),
    }
}

/// The curl command for `ex` (ending in a newline), or why there is none.
fn command(ex: &Exchange) -> Result<Vec<u8>, &'static str> {
    const PARTIAL: Flags = Flags::REQ_INCOMPLETE
        .union(Flags::REQ_GAP)
        .union(Flags::REQ_BODY_CAPPED)
        .union(Flags::REQ_SNAPLEN);
    if ex.flags.intersects(PARTIAL) || (ex.request.len() as u64) < ex.request_len {
        return Err("the request was not captured whole");
    }
    let raw = &ex.request[..];
    let head = parse_request_head(raw).ok_or("not a strict HTTP/1.x request head")?;
    let head_end = find_head_end(raw, 0).ok_or("the head does not end")?;
    let head_bytes = &raw[..head_end];
    let method = head.method.as_deref().ok_or("no method")?;
    let uri = head.uri(raw).ok_or("no request target")?;
    if head.upgrade || method == "CONNECT" {
        return Err("CONNECT and upgrades are not plain requests");
    }
    if !uri.starts_with('/') {
        return Err("curl sends only origin-form targets (/path)");
    }
    let host = head
        .host(raw)
        .ok_or("no Host header to build the URL from")?;
    let body = &raw[head_end..];
    let mut cmd = Vec::new();
    cmd.extend_from_slice(b"curl --globoff --path-as-is --silent --show-error");
    cmd.extend_from_slice(if head.minor_version == 0 {
        b" --http1.0"
    } else {
        b" --http1.1"
    });
    if method == "HEAD" {
        cmd.extend_from_slice(b" --head");
    } else {
        cmd.extend_from_slice(b" --request ");
        quote(&mut cmd, method.as_bytes());
    }
    cmd.extend_from_slice(b" \\\n  --url ");
    quote(&mut cmd, format!("http://{host}{uri}").as_bytes());
    let mut seen = [false; CURL_ADDS.len()];
    let mut content_type = false;
    for f in fields(head_bytes) {
        let name = f.name(head_bytes).ok_or("a header line without a name")?;
        let value = f.value(head_bytes);
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err("a folded header or a NUL byte in a header");
        }
        if name.eq_ignore_ascii_case(b"Transfer-Encoding") {
            return Err("a Transfer-Encoding body: curl frames bodies itself");
        }
        if name.eq_ignore_ascii_case(b"Content-Length") {
            // curl sends the length of the body it is given: the same.
            continue;
        }
        for (i, known) in CURL_ADDS.iter().enumerate() {
            seen[i] |= name.eq_ignore_ascii_case(known.as_bytes());
        }
        content_type |= name.eq_ignore_ascii_case(b"Content-Type");
        let mut line = name.to_vec();
        if value.is_empty() {
            // `Name;` is curl's way to send a header with an empty value.
            line.push(b';');
        } else {
            line.extend_from_slice(b": ");
            line.extend_from_slice(value);
        }
        cmd.extend_from_slice(b" \\\n  --header ");
        quote(&mut cmd, &line);
    }
    for (i, known) in CURL_ADDS.iter().enumerate() {
        if !seen[i] {
            cmd.extend_from_slice(format!(" \\\n  --header '{known}:'").as_bytes());
        }
    }
    if !body.is_empty() {
        if !content_type {
            cmd.extend_from_slice(b" \\\n  --header 'Content-Type:'");
        }
        cmd.extend_from_slice(b" \\\n  --data-binary @- < <(printf '");
        printf_escape(&mut cmd, body);
        cmd.extend_from_slice(b"')");
    }
    cmd.push(b'\n');
    Ok(cmd)
}

/// Appends `bytes` as one bash word: `$'...'`, printable ASCII as is
/// (but `'` and `\`), every other byte as `\xHH`.
fn quote(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"$'");
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\'' && b != b'\\' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    out.push(b'\'');
}

/// Appends `bytes` as a `printf` format inside single quotes that prints
/// exactly them: printable ASCII as is (but `'`, `\` and `%`), every other
/// byte as `\ooo`.
fn printf_escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'\'' | b'\\' | b'%') {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(raw: &[u8]) -> Exchange {
        let a = "127.0.0.1:1".parse().unwrap();
        Exchange::new(4, 2, a, a, 0, raw.to_vec())
    }

    #[test]
    fn a_get_with_odd_bytes_is_quoted() {
        let cmd = command(&ex(
            b"GET /a'b HTTP/1.1\r\nHost: h\r\nX-E:\r\nX-N: caf\xc3\xa9\r\n\r\n",
        ))
        .unwrap();
        assert_eq!(
            String::from_utf8(cmd).unwrap(),
            "curl --globoff --path-as-is --silent --show-error --http1.1 --request $'GET' \\\n  \
             --url $'http://h/a\\x27b' \\\n  --header $'Host: h' \\\n  --header $'X-E;' \\\n  \
             --header $'X-N: caf\\xc3\\xa9' \\\n  --header 'User-Agent:' \\\n  --header 'Accept:' \\\n  \
             --header 'Expect:'\n"
        );
    }

    #[test]
    fn a_body_goes_through_printf() {
        let mut out = Vec::new();
        printf_escape(&mut out, b"a%\0'\\\n\xff");
        assert_eq!(out, b"a\\045\\000\\047\\134\\012\\377");
    }

    #[test]
    fn what_curl_cannot_send_is_a_comment() {
        let mut out = Vec::new();
        write(
            &mut out,
            &ex(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# exchange 4 (conn 2) skipped: a Transfer-Encoding body: curl frames bodies itself\n"
        );
        let partial = Exchange {
            request_len: 100,
            ..ex(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        };
        assert_eq!(command(&partial), Err("the request was not captured whole"));
        assert_eq!(
            command(&ex(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")),
            Err("curl sends only origin-form targets (/path)")
        );
    }
}
