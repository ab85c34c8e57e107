//! The counters of the HTTP layer.

/// Counters of the HTTP layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests seen complete on the wire.
    pub requests: u64,
    /// Exchanges emitted.
    pub exchanges: u64,
    /// Exchanges emitted with a part missing (incomplete, gap, no response).
    pub incomplete: u64,
    /// Responses that matched no request (the capture missed the request).
    pub orphan_responses: u64,
    /// Messages whose bytes did not frame as HTTP/1.x (a head over the
    /// bound, an unreadable start line, broken chunked framing).
    pub framing_errors: u64,
    /// Messages recorded flagged `req_malformed` or `resp_malformed` (an
    /// exchange with both counts twice): not strict HTTP/1.x, kept raw as
    /// far as they were read.
    pub malformed: u64,
    /// Bytes of tracked connections kept in no exchange: skipped while
    /// looking for a message start, empty lines before a start line, after
    /// a framing error, or a head that never completed and does not start
    /// with a request line.
    pub skipped_bytes: u64,
    /// Connections that switched protocols (CONNECT, Upgrade).
    pub upgrades: u64,
    /// Bodies longer than the body cap.
    pub capped_bodies: u64,
    /// Connections given up as not HTTP.
    pub not_http: u64,
}

impl HttpStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &HttpStats) {
        self.requests += o.requests;
        self.exchanges += o.exchanges;
        self.incomplete += o.incomplete;
        self.orphan_responses += o.orphan_responses;
        self.framing_errors += o.framing_errors;
        self.malformed += o.malformed;
        self.skipped_bytes += o.skipped_bytes;
        self.upgrades += o.upgrades;
        self.capped_bodies += o.capped_bodies;
        self.not_http += o.not_http;
    }
}
