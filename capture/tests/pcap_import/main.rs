//! Offline import of hand-built pcaps: each test builds a conversation
//! with `common::Conv`, writes it to a pcap file, imports it through
//! `read_pcap` (libpcap, then the pipeline) and checks the exact bytes of
//! what was recorded.
//!
//! One module per topic; the helpers below are shared by all of them.

#[path = "../common/mod.rs"]
mod common;

mod bounds;
mod encap;
mod fragments;
mod frames;
mod http;
mod modes;
mod one_sided;
mod tcp;

use common::*;
use shadowtap_capture::PipelineConfig;
use shadowtap_format::{Exchange, Flags};

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";
const GET_B: &[u8] = b"GET /b?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\n\r\n";
const RESP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const RESP_404: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

fn head_of(r: &[u8]) -> &[u8] {
    let end = r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    &r[..end]
}

fn body_of(r: &[u8]) -> &[u8] {
    &r[head_of(r).len()..]
}

/// Checks one exchange against the request and response bytes.
fn check(ex: &Exchange, req: &[u8], resp: &[u8], status: u16) {
    assert_eq!(
        String::from_utf8_lossy(&ex.request),
        String::from_utf8_lossy(req)
    );
    assert_eq!(ex.request_len, req.len() as u64);
    let r = ex.response.as_ref().expect("response");
    assert_eq!(r.status, status);
    assert_eq!(r.head, head_of(resp));
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        String::from_utf8_lossy(body_of(resp))
    );
    assert_eq!(r.body_len, body_of(resp).len() as u64);
}
