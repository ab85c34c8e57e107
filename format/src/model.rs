//! The records a log holds: [`Exchange`], its optional [`Response`], and the
//! [`FileHeader`] at the front of every file.
//!
//! Field order is part of the on-disk contract: postcard encodes struct fields
//! in declaration order with no names, so fields are only ever *appended*, and
//! only in a minor version bump (older readers ignore the trailing bytes of a
//! record, see `FORMAT.md` §5).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// One HTTP/1.x request as seen on the wire and, when it was captured, its
/// response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Unique within a file; assigned by the writer of the log in order of
    /// completion.
    pub id: u64,
    /// Connection id: exchanges carried by one TCP connection share it, and
    /// appear in the order they were sent on that connection.
    pub conn: u64,
    /// The TCP client (the side that sent the request).
    #[serde(with = "wire_addr")]
    pub client: SocketAddr,
    /// The TCP server (the side that received the request).
    #[serde(with = "wire_addr")]
    pub server: SocketAddr,
    /// Time of the request's first byte, nanoseconds since the Unix epoch.
    pub req_first_ns: u64,
    /// Time of the request's last byte, nanoseconds since the Unix epoch.
    pub req_last_ns: u64,
    /// What is known to be missing or altered; see [`Flags`].
    pub flags: Flags,
    /// The request exactly as on the wire: start line, headers in original
    /// order and case, body (chunked framing kept). Shorter than
    /// `request_len` when the body was capped or bytes were missing.
    #[serde(with = "serde_bytes")]
    pub request: Vec<u8>,
    /// How many bytes the request had on the wire.
    pub request_len: u64,
    /// The response, when it was captured.
    pub response: Option<Response>,
    /// Format 1.1: the id of the request this exchange replays, when it was
    /// recorded by a replay (`replay --record-responses`): the request id
    /// `replay --compare` reports by (the exchange id in the replayed log,
    /// with the log's index in the top 16 bits for the second log on).
    /// `None` for a capture, and for every exchange of a 1.0 file.
    pub origin: Option<u64>,
}

/// An exchange as format 1.0 lays it out: every field of [`Exchange`] but
/// `origin` (added in 1.1). Records of a 1.0 file end after `response`, so
/// they are decoded with this layout and read with no origin.
#[derive(Deserialize)]
struct ExchangeV1_0 {
    id: u64,
    conn: u64,
    #[serde(with = "wire_addr")]
    client: SocketAddr,
    #[serde(with = "wire_addr")]
    server: SocketAddr,
    req_first_ns: u64,
    req_last_ns: u64,
    flags: Flags,
    #[serde(with = "serde_bytes")]
    request: Vec<u8>,
    request_len: u64,
    response: Option<Response>,
}

/// Decodes the body of an exchange record of a file of minor version
/// `minor` (major 1): 1.0 records have no `origin`; from 1.1 on it follows
/// `response`. Bytes after the fields of this version are ignored, which is
/// how a newer minor version's fields are skipped (`FORMAT.md` §5).
pub(crate) fn decode_exchange(body: &[u8], minor: u16) -> postcard::Result<Exchange> {
    if minor >= 1 {
        return postcard::from_bytes(body);
    }
    let v: ExchangeV1_0 = postcard::from_bytes(body)?;
    Ok(Exchange {
        id: v.id,
        conn: v.conn,
        client: v.client,
        server: v.server,
        req_first_ns: v.req_first_ns,
        req_last_ns: v.req_last_ns,
        flags: v.flags,
        request: v.request,
        request_len: v.request_len,
        response: v.response,
        origin: None,
    })
}

/// A response as seen on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Time of the response's first byte, nanoseconds since the Unix epoch.
    pub first_ns: u64,
    /// Time of the response's last byte, nanoseconds since the Unix epoch.
    pub last_ns: u64,
    /// The final status code (interim 1xx responses are not kept here).
    pub status: u16,
    /// The raw status line and headers, including the blank line.
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    /// The body bytes as on the wire (chunked framing kept), up to the
    /// capture's body cap.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// How many body bytes the response had on the wire.
    pub body_len: u64,
}

impl Exchange {
    /// A complete request with no response yet: `request` is all of it
    /// (`request_len` is its length), seen at `ts_ns` (first and last byte),
    /// with no flags. Set the other fields with struct update syntax,
    /// `Exchange { flags, ..Exchange::new(..) }`, and add a response with
    /// [`with_response`](Exchange::with_response).
    pub fn new(
        id: u64,
        conn: u64,
        client: SocketAddr,
        server: SocketAddr,
        ts_ns: u64,
        request: Vec<u8>,
    ) -> Exchange {
        Exchange {
            id,
            conn,
            client,
            server,
            req_first_ns: ts_ns,
            req_last_ns: ts_ns,
            flags: Flags::empty(),
            request_len: request.len() as u64,
            request,
            response: None,
            origin: None,
        }
    }

    /// The same exchange with `response`.
    pub fn with_response(self, response: Response) -> Exchange {
        Exchange {
            response: Some(response),
            ..self
        }
    }

    /// Response first byte minus request last byte, when there is a response
    /// and the clock did not go backwards.
    pub fn latency_ns(&self) -> Option<u64> {
        let resp = self.response.as_ref()?;
        resp.first_ns.checked_sub(self.req_last_ns)
    }

    /// Bytes this exchange had on the wire (request plus response).
    pub fn wire_bytes(&self) -> u64 {
        let resp = self
            .response
            .as_ref()
            .map_or(0, |r| r.head.len() as u64 + r.body_len);
        self.request_len + resp
    }
}

impl Response {
    /// A complete response: `body` is all of it (`body_len` is its length).
    pub fn new(status: u16, first_ns: u64, last_ns: u64, head: Vec<u8>, body: Vec<u8>) -> Response {
        Response {
            first_ns,
            last_ns,
            status,
            head,
            body_len: body.len() as u64,
            body,
        }
    }
}

/// The file header: who wrote the log, when, and from what.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    /// Name and version of the program that wrote the file, e.g.
    /// `shadowtap 0.1.0`.
    pub writer: String,
    /// When the file was created, nanoseconds since the Unix epoch.
    pub created_ns: u64,
    /// Capture metadata as ordered key/value pairs. Well-known keys are in
    /// [`meta`](crate::meta).
    pub meta: Vec<(String, String)>,
}

impl FileHeader {
    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Bit set of what is known to be missing or altered in an exchange.
///
/// Unknown bits are kept as they are: a reader never clears a bit written by a
/// newer writer.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Flags(pub u32);

impl Flags {
    /// The request ended before it was complete (connection closed, reset or
    /// evicted).
    pub const REQ_INCOMPLETE: Flags = Flags(1 << 0);
    /// Bytes of the request are missing from the capture (a sequence gap).
    /// Missing bytes are never glued over: the request stops at the gap.
    pub const REQ_GAP: Flags = Flags(1 << 1);
    /// The request body was longer than the body cap; `request` holds the
    /// first bytes and `request_len` the true length.
    pub const REQ_BODY_CAPPED: Flags = Flags(1 << 2);
    /// A packet of the request was cut by the capture's snap length.
    pub const REQ_SNAPLEN: Flags = Flags(1 << 3);
    /// The response ended before it was complete.
    pub const RESP_INCOMPLETE: Flags = Flags(1 << 4);
    /// Bytes of the response are missing from the capture.
    pub const RESP_GAP: Flags = Flags(1 << 5);
    /// The response body was longer than the body cap.
    pub const RESP_BODY_CAPPED: Flags = Flags(1 << 6);
    /// A packet of the response was cut by the capture's snap length.
    pub const RESP_SNAPLEN: Flags = Flags(1 << 7);
    /// The connection ended (or was evicted) before a response arrived.
    pub const RESP_MISSING: Flags = Flags(1 << 8);
    /// The request was a CONNECT or a protocol upgrade: the connection's
    /// later bytes are not HTTP/1.x and were not parsed.
    pub const UPGRADE: Flags = Flags(1 << 9);
    /// The capture joined the connection mid-stream and resynchronised at
    /// this request.
    pub const MIDSTREAM: Flags = Flags(1 << 10);
    /// The connection was evicted by a resource bound before it ended.
    pub const EVICTED: Flags = Flags(1 << 11);
    /// One or more header values were redacted before reaching disk.
    pub const REDACTED: Flags = Flags(1 << 12);
    /// One or more interim (1xx) responses preceded the final response.
    pub const INTERIM: Flags = Flags(1 << 13);
    /// The request is not strict HTTP/1.x (control bytes in the target, an
    /// obs-fold header line, a missing or odd version, an unreadable
    /// Content-Length...), or it could not be framed at all (a head over the
    /// bound, broken chunked framing). It is kept raw as far as it was read,
    /// framed by a lenient scan; when its body length could not be known, the
    /// rest of the client's stream is its body.
    pub const REQ_MALFORMED: Flags = Flags(1 << 14);
    /// The same for the response.
    pub const RESP_MALFORMED: Flags = Flags(1 << 15);

    /// Every named flag with its stable lower-case name, in bit order.
    pub const NAMED: [(Flags, &'static str); 16] = [
        (Flags::REQ_INCOMPLETE, "req_incomplete"),
        (Flags::REQ_GAP, "req_gap"),
        (Flags::REQ_BODY_CAPPED, "req_body_capped"),
        (Flags::REQ_SNAPLEN, "req_snaplen"),
        (Flags::RESP_INCOMPLETE, "resp_incomplete"),
        (Flags::RESP_GAP, "resp_gap"),
        (Flags::RESP_BODY_CAPPED, "resp_body_capped"),
        (Flags::RESP_SNAPLEN, "resp_snaplen"),
        (Flags::RESP_MISSING, "resp_missing"),
        (Flags::UPGRADE, "upgrade"),
        (Flags::MIDSTREAM, "midstream"),
        (Flags::EVICTED, "evicted"),
        (Flags::REDACTED, "redacted"),
        (Flags::INTERIM, "interim"),
        (Flags::REQ_MALFORMED, "req_malformed"),
        (Flags::RESP_MALFORMED, "resp_malformed"),
    ];

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// True when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// True when some bit of `other` is set in `self`.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// The bits of both (`|`, usable in constants).
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The names of the set flags, in bit order; unknown bits are named
    /// `bitN`.
    pub fn names(self) -> impl Iterator<Item = std::borrow::Cow<'static, str>> {
        (0..32u32).filter_map(move |bit| {
            let f = Flags(1 << bit);
            if !self.contains(f) {
                return None;
            }
            Some(match Flags::NAMED.iter().find(|(g, _)| *g == f) {
                Some((_, name)) => std::borrow::Cow::Borrowed(*name),
                None => std::borrow::Cow::Owned(format!("bit{bit}")),
            })
        })
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags(")?;
        let mut first = true;
        for name in self.names() {
            if !first {
                write!(f, "|")?;
            }
            first = false;
            write!(f, "{name}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(&name)?;
        }
        Ok(())
    }
}

/// Socket addresses on disk: a tagged union defined by this format (not by
/// serde's std implementation), so the bytes are fixed by `FORMAT.md` §6:
/// tag 0 = IPv4 (4 address bytes, port), tag 1 = IPv6 (16 address bytes,
/// port). IPv6 flow info and scope id are not kept.
mod wire_addr {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    enum WireAddr {
        V4([u8; 4], u16),
        V6([u8; 16], u16),
    }

    pub fn serialize<S: Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        let wire = match addr.ip() {
            IpAddr::V4(ip) => WireAddr::V4(ip.octets(), addr.port()),
            IpAddr::V6(ip) => WireAddr::V6(ip.octets(), addr.port()),
        };
        wire.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        Ok(match WireAddr::deserialize(d)? {
            WireAddr::V4(ip, port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port),
            WireAddr::V6(ip, port) => SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Flags;

    #[test]
    fn flags_set_clear_and_test_bits_without_reaching_into_the_mask() {
        const LOST: Flags = Flags::REQ_GAP.union(Flags::RESP_GAP);
        let mut f = Flags::empty();
        f.insert(Flags::UPGRADE | Flags::REQ_GAP);
        assert!(f.contains(Flags::UPGRADE));
        assert!(f.intersects(LOST));
        assert!(!f.contains(LOST));
        f.remove(Flags::UPGRADE);
        assert!(!f.contains(Flags::UPGRADE));
        assert_eq!(f, Flags::REQ_GAP);
        f.remove(LOST);
        assert!(f.is_empty());
        assert!(!f.intersects(LOST));
    }
}
