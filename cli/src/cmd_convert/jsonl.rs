//! The `.jsonl` format of `convert`: one exchange per line, every field of
//! [`Exchange`], bytes as base64, flags by name; streamed both ways.

use std::io::{self, BufRead, Read as _, Write};
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shadowtap_format::{Exchange, Flags, Response};

/// The longest `.jsonl` line read: an exchange with bodies up to the
/// capture's largest body cap, base64-encoded, fits well within it.
const MAX_JSONL_LINE: u64 = 256 << 20;

/// One exchange as a `.jsonl` line: every field of [`Exchange`], bytes as
/// base64, flags by name.
#[derive(Serialize, Deserialize)]
struct JsonExchange {
    id: u64,
    conn: u64,
    client: SocketAddr,
    server: SocketAddr,
    req_first_ns: u64,
    req_last_ns: u64,
    flags: Vec<String>,
    /// The request bytes as captured, base64.
    request: String,
    request_len: u64,
    response: Option<JsonResponse>,
    origin: Option<u64>,
}

/// A [`Response`] in a `.jsonl` line.
#[derive(Serialize, Deserialize)]
struct JsonResponse {
    status: u16,
    first_ns: u64,
    last_ns: u64,
    /// Status line and headers with the blank line, base64.
    head: String,
    /// Body bytes as captured, base64.
    body: String,
    body_len: u64,
}

/// Writes `ex` as one line of JSON.
pub fn write_jsonl(w: &mut impl Write, ex: &Exchange) -> io::Result<()> {
    let line = JsonExchange {
        id: ex.id,
        conn: ex.conn,
        client: ex.client,
        server: ex.server,
        req_first_ns: ex.req_first_ns,
        req_last_ns: ex.req_last_ns,
        flags: ex.flags.names().map(|n| n.into_owned()).collect(),
        request: B64.encode(&ex.request),
        request_len: ex.request_len,
        response: ex.response.as_ref().map(|r| JsonResponse {
            status: r.status,
            first_ns: r.first_ns,
            last_ns: r.last_ns,
            head: B64.encode(&r.head),
            body: B64.encode(&r.body),
            body_len: r.body_len,
        }),
        origin: ex.origin,
    };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// Why a `.jsonl` line could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("line {line}: cannot read it")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("line {line}: longer than {MAX_JSONL_LINE} bytes")]
    TooLong { line: u64 },
    #[error("line {line}: not an exchange")]
    Json {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {line}: {what}")]
    Field { line: u64, what: String },
}

/// Reads exchanges from `.jsonl` lines (blank lines skipped), each line at
/// most [`MAX_JSONL_LINE`] bytes.
pub struct JsonlReader<R> {
    src: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonlReader<R> {
    pub fn new(src: R) -> Self {
        JsonlReader {
            src,
            line: 0,
            buf: Vec::new(),
        }
    }

    /// The next exchange, `None` at the end.
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, JsonlError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let line = self.line;
            let n = (&mut self.src)
                .take(MAX_JSONL_LINE + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| JsonlError::Io { line, source })?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_JSONL_LINE {
                return Err(JsonlError::TooLong { line });
            }
            if self.buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let j: JsonExchange = serde_json::from_slice(&self.buf)
                .map_err(|source| JsonlError::Json { line, source })?;
            return from_json(j)
                .map(Some)
                .map_err(|what| JsonlError::Field { line, what });
        }
    }
}

/// Base64 back to bytes, naming the field when it does not decode.
fn unbase64(field: &str, s: &str) -> Result<Vec<u8>, String> {
    B64.decode(s).map_err(|e| format!("{field}: {e}"))
}

/// A flag name (as [`Flags::names`] writes them) back to its bit.
fn flag_by_name(name: &str) -> Option<Flags> {
    if let Some((f, _)) = Flags::NAMED.iter().find(|(_, n)| *n == name) {
        return Some(*f);
    }
    let bit: u32 = name.strip_prefix("bit")?.parse().ok()?;
    (bit < 32).then(|| Flags(1 << bit))
}

fn from_json(j: JsonExchange) -> Result<Exchange, String> {
    let mut flags = Flags::empty();
    for name in &j.flags {
        flags.insert(flag_by_name(name).ok_or_else(|| format!("unknown flag {name:?}"))?);
    }
    let response = match j.response {
        None => None,
        Some(r) => Some(Response {
            first_ns: r.first_ns,
            last_ns: r.last_ns,
            status: r.status,
            head: unbase64("response.head", &r.head)?,
            body: unbase64("response.body", &r.body)?,
            body_len: r.body_len,
        }),
    };
    Ok(Exchange {
        id: j.id,
        conn: j.conn,
        client: j.client,
        server: j.server,
        req_first_ns: j.req_first_ns,
        req_last_ns: j.req_last_ns,
        flags,
        request: unbase64("request", &j.request)?,
        request_len: j.request_len,
        response,
        origin: j.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> Exchange {
        let client: SocketAddr = "[::1]:50000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let mut req = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n".to_vec();
        req.extend_from_slice(&[0, 0xff, b'\n', i as u8]);
        Exchange {
            flags: Flags::REQ_GAP.union(Flags(1 << 30)),
            request_len: 99,
            origin: Some(i << 3),
            ..Exchange::new(i, 7, client, server, 1_000 + i, req)
        }
        .with_response(Response {
            body_len: 10,
            ..Response::new(201, 5, 6, b"HTTP/1.1 201 X\r\n\r\n".to_vec(), vec![1, 2, 3])
        })
    }

    #[test]
    fn jsonl_round_trip_is_exact() {
        let exs = [
            sample(1),
            Exchange::new(2, 3, sample(0).client, sample(0).server, 9, vec![]),
        ];
        let mut out = Vec::new();
        for ex in &exs {
            write_jsonl(&mut out, ex).unwrap();
        }
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(r#""flags":["req_gap","bit30"]"#), "{text}");
        let mut r = JsonlReader::new(&out[..]);
        assert_eq!(r.next_exchange().unwrap().unwrap(), exs[0]);
        assert_eq!(r.next_exchange().unwrap().unwrap(), exs[1]);
        assert!(r.next_exchange().unwrap().is_none());
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let mut out = b"\n".to_vec();
        write_jsonl(&mut out, &sample(1)).unwrap();
        out.extend_from_slice(b"{\"id\":1}\n");
        let mut r = JsonlReader::new(&out[..]);
        assert!(r.next_exchange().unwrap().is_some());
        let err = r.next_exchange().unwrap_err();
        assert_eq!(err.to_string(), "line 3: not an exchange");
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.starts_with("missing field"), "{cause}");
        let bad = String::from_utf8(out).unwrap().replace("req_gap", "nope");
        let err = JsonlReader::new(bad.as_bytes())
            .next_exchange()
            .unwrap_err();
        assert_eq!(err.to_string(), "line 2: unknown flag \"nope\"");
    }
}
