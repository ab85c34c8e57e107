//! The `.har` format of `convert` (HAR 1.2): written entry by entry as it
//! streams; read back whole, as a HAR is one JSON document, so a `.har`
//! input is bounded by [`MAX_HAR`].
//!
//! Request and response bytes are rebuilt from HAR's own fields (method,
//! URL, version, headers in order, body); what HAR has no field for
//! (ids, addresses, flags, nanosecond times) rides in an `_shadowtap`
//! object, which HAR 1.2 allows as a custom field.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use shadowtap_format::http1::{fields, find_head_end, scan_request_line};
use shadowtap_format::{Exchange, Flags, Response};

/// The largest `.har` read: it is parsed in one piece.
pub const MAX_HAR: u64 = 512 << 20;

/// What comes before the first entry.
pub fn preamble() -> String {
    format!(
        "{{\"log\":{{\"version\":\"1.2\",\"creator\":{{\"name\":\"shadowtap\",\"version\":\"{}\"}},\"entries\":[\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// What follows the last entry.
pub const POSTAMBLE: &[u8] = b"\n]}}\n";

#[derive(Serialize, Deserialize)]
struct Doc {
    log: Log,
}

#[derive(Serialize, Deserialize)]
struct Log {
    entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    time: f64,
    request: HarRequest,
    response: HarResponse,
    cache: serde_json::Map<String, serde_json::Value>,
    timings: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<String>,
    #[serde(rename = "_shadowtap", skip_serializing_if = "Option::is_none")]
    shadowtap: Option<Extra>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    http_version: String,
    cookies: Vec<serde_json::Value>,
    headers: Vec<Header>,
    query_string: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData>,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    mime_type: String,
    text: String,
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    encoding: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    status: u16,
    status_text: String,
    http_version: String,
    cookies: Vec<serde_json::Value>,
    headers: Vec<Header>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    size: i64,
    mime_type: String,
    #[serde(default)]
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Timings {
    send: f64,
    wait: f64,
    receive: f64,
}

/// The exchange fields HAR has no place for.
#[derive(Serialize, Deserialize)]
struct Extra {
    id: u64,
    conn: u64,
    client: SocketAddr,
    server: SocketAddr,
    req_first_ns: u64,
    req_last_ns: u64,
    flags: u32,
    request_len: u64,
    resp_first_ns: Option<u64>,
    resp_last_ns: Option<u64>,
    resp_body_len: Option<u64>,
    origin: Option<u64>,
}

/// Bytes as HAR text: as they are when UTF-8, else base64 (`Some("base64")`).
fn text_of(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (B64.encode(bytes), Some("base64".into())),
    }
}

fn headers_of(head: &[u8]) -> Result<Vec<Header>, &'static str> {
    fields(head)
        .map(|f| {
            let name = f.name(head).ok_or("a header line without a name")?;
            let name = std::str::from_utf8(name).map_err(|_| "a header name is not UTF-8")?;
            let value =
                std::str::from_utf8(f.value(head)).map_err(|_| "a header value is not UTF-8")?;
            Ok(Header {
                name: name.into(),
                value: value.into(),
            })
        })
        .collect()
}

fn mime(headers: &[Header]) -> String {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map_or_else(String::new, |h| h.value.clone())
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Writes `ex` as one entry (`first`: no comma before it), or says why HAR
/// cannot carry it.
pub fn write(
    w: &mut impl Write,
    ex: &Exchange,
    first: bool,
) -> io::Result<Result<(), &'static str>> {
    let entry = match entry(ex) {
        Ok(e) => e,
        Err(why) => return Ok(Err(why)),
    };
    if !first {
        w.write_all(b",\n")?;
    }
    serde_json::to_writer(&mut *w, &entry)?;
    Ok(Ok(()))
}

fn entry(ex: &Exchange) -> Result<Entry, &'static str> {
    let raw = &ex.request[..];
    let head_end = find_head_end(raw, 0).ok_or("the request head was not captured whole")?;
    let head = &raw[..head_end];
    let line = scan_request_line(head).ok_or("no request line")?;
    let uri = std::str::from_utf8(line.uri.ok_or("no request target")?)
        .map_err(|_| "the target is not UTF-8")?;
    let version = std::str::from_utf8(line.version.unwrap_or_default())
        .map_err(|_| "the version is not UTF-8")?;
    let headers = headers_of(head)?;
    let host = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map_or_else(|| ex.server.to_string(), |h| h.value.clone());
    let url = if uri.starts_with('/') {
        format!("http://{host}{uri}")
    } else {
        uri.to_string()
    };
    let body = &raw[head_end..];
    let post_data = (!body.is_empty()).then(|| {
        let (text, encoding) = text_of(body);
        PostData {
            mime_type: mime(&headers),
            text,
            encoding,
        }
    });
    let request = HarRequest {
        method: line.method.into(),
        url,
        http_version: version.into(),
        cookies: vec![],
        query_string: vec![],
        post_data,
        headers_size: head.len() as i64,
        body_size: body.len() as i64,
        headers,
    };
    let (response, wait, receive, end_ns) = match &ex.response {
        None => (
            HarResponse {
                status: 0,
                status_text: String::new(),
                http_version: String::new(),
                cookies: vec![],
                headers: vec![],
                content: Content {
                    size: 0,
                    mime_type: String::new(),
                    text: String::new(),
                    encoding: None,
                },
                redirect_url: String::new(),
                headers_size: -1,
                body_size: -1,
            },
            0.0,
            0.0,
            ex.req_last_ns,
        ),
        Some(r) => {
            let status_line_end = memchr_nl(&r.head);
            let status_line = std::str::from_utf8(&r.head[..status_line_end])
                .map_err(|_| "the status line is not UTF-8")?
                .trim_end();
            let mut parts = status_line.splitn(3, ' ');
            let version = parts.next().unwrap_or_default().to_string();
            let _code = parts.next();
            let reason = parts.next().unwrap_or_default().to_string();
            let headers = headers_of(&r.head)?;
            let (text, encoding) = text_of(&r.body);
            (
                HarResponse {
                    status: r.status,
                    status_text: reason,
                    http_version: version,
                    cookies: vec![],
                    content: Content {
                        size: r.body.len() as i64,
                        mime_type: mime(&headers),
                        text,
                        encoding,
                    },
                    headers,
                    redirect_url: String::new(),
                    headers_size: r.head.len() as i64,
                    body_size: r.body_len as i64,
                },
                ms(r.first_ns.saturating_sub(ex.req_last_ns)),
                ms(r.last_ns.saturating_sub(r.first_ns)),
                r.last_ns,
            )
        }
    };
    let started = UNIX_EPOCH + Duration::from_nanos(ex.req_first_ns);
    Ok(Entry {
        started_date_time: humantime::format_rfc3339_millis(started).to_string(),
        time: ms(end_ns.saturating_sub(ex.req_first_ns)),
        request,
        response,
        cache: serde_json::Map::new(),
        timings: Timings {
            send: ms(ex.req_last_ns.saturating_sub(ex.req_first_ns)),
            wait,
            receive,
        },
        server_ip_address: Some(ex.server.ip().to_string()),
        connection: Some(ex.conn.to_string()),
        shadowtap: Some(Extra {
            id: ex.id,
            conn: ex.conn,
            client: ex.client,
            server: ex.server,
            req_first_ns: ex.req_first_ns,
            req_last_ns: ex.req_last_ns,
            flags: ex.flags.0,
            request_len: ex.request_len,
            resp_first_ns: ex.response.as_ref().map(|r| r.first_ns),
            resp_last_ns: ex.response.as_ref().map(|r| r.last_ns),
            resp_body_len: ex.response.as_ref().map(|r| r.body_len),
            origin: ex.origin,
        }),
    })
}

/// Where the first line of `b` ends (past its LF), or its length.
fn memchr_nl(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| i + 1)
}

/// Why a `.har` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    #[error("not a HAR: {0}")]
    Json(#[from] serde_json::Error),
    #[error("entry {entry}: {what}")]
    Entry { entry: usize, what: String },
}

/// The entries of a HAR document, converted one at a time.
pub struct HarReader {
    entries: std::vec::IntoIter<Entry>,
    at: usize,
}

impl HarReader {
    /// Parses `doc` (at most [`MAX_HAR`] bytes, which the caller checks).
    pub fn new(doc: &[u8]) -> Result<HarReader, HarError> {
        let doc: Doc = serde_json::from_slice(doc)?;
        Ok(HarReader {
            entries: doc.log.entries.into_iter(),
            at: 0,
        })
    }

    /// The next exchange, `None` after the last entry.
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, HarError> {
        let Some(e) = self.entries.next() else {
            return Ok(None);
        };
        self.at += 1;
        let entry = self.at;
        from_entry(e, entry as u64)
            .map(Some)
            .map_err(|what| HarError::Entry { entry, what })
    }
}

fn decode(text: String, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    match encoding {
        Some("base64") => B64.decode(text).map_err(|e| format!("base64: {e}")),
        None => Ok(text.into_bytes()),
        Some(other) => Err(format!("unknown encoding {other:?}")),
    }
}

fn push_headers(out: &mut Vec<u8>, headers: &[Header]) {
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn from_entry(e: Entry, n: u64) -> Result<Exchange, String> {
    let target = match e.request.url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
        None => e.request.url.clone(),
    };
    let mut request = format!(
        "{} {} {}\r\n",
        e.request.method, target, e.request.http_version
    )
    .into_bytes();
    push_headers(&mut request, &e.request.headers);
    if let Some(p) = e.request.post_data {
        request.extend(decode(p.text, p.encoding.as_deref())?);
    }
    let unspecified: SocketAddr = (std::net::Ipv4Addr::UNSPECIFIED, 0).into();
    // Without `_shadowtap`, the times come from `startedDateTime` and the
    // timings (milliseconds; -1 where a phase does not apply).
    let ns = |ms: f64| if ms > 0.0 { (ms * 1e6) as u64 } else { 0 };
    let started_ns = humantime::parse_rfc3339_weak(&e.started_date_time)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let sent_ns = started_ns.saturating_add(ns(e.timings.send));
    let waited_ns = sent_ns.saturating_add(ns(e.timings.wait));
    let received_ns = waited_ns.saturating_add(ns(e.timings.receive));
    let x = e.shadowtap.unwrap_or(Extra {
        id: n,
        conn: e
            .connection
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        client: unspecified,
        server: unspecified,
        req_first_ns: started_ns,
        req_last_ns: sent_ns,
        flags: 0,
        request_len: request.len() as u64,
        resp_first_ns: Some(waited_ns),
        resp_last_ns: Some(received_ns),
        resp_body_len: None,
        origin: None,
    });
    let response = if e.response.status == 0 {
        None
    } else {
        let r = e.response;
        let mut head =
            format!("{} {} {}\r\n", r.http_version, r.status, r.status_text).into_bytes();
        if r.status_text.is_empty() {
            // "HTTP/1.1 200 \r\n" would add a space the wire did not have.
            head = format!("{} {}\r\n", r.http_version, r.status).into_bytes();
        }
        push_headers(&mut head, &r.headers);
        let body = decode(r.content.text, r.content.encoding.as_deref())?;
        Some(Response {
            first_ns: x.resp_first_ns.unwrap_or(x.req_last_ns),
            last_ns: x.resp_last_ns.unwrap_or(x.req_last_ns),
            status: r.status,
            head,
            body_len: x.resp_body_len.unwrap_or(body.len() as u64),
            body,
        })
    };
    Ok(Exchange {
        id: x.id,
        conn: x.conn,
        client: x.client,
        server: x.server,
        req_first_ns: x.req_first_ns,
        req_last_ns: x.req_last_ns.max(x.req_first_ns),
        flags: Flags(x.flags),
        request_len: x.request_len.max(request.len() as u64),
        request,
        response,
        origin: x.origin,
    })
}
