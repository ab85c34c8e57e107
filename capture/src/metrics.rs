//! Prometheus text exposition of the capture counters, served by a small
//! std::net responder thread.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::decode::Encap;
use crate::PipelineStats;

/// Renders more exposition text, appended to every scrape (e.g. `tee`'s
/// mirror counters).
#[derive(Clone)]
pub struct ExtraMetrics(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for ExtraMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtraMetrics(..)")
    }
}

/// Counters shared between the capture loop and the metrics thread.
#[derive(Debug, Default)]
pub struct Metrics {
    up: AtomicU64,
    values: [AtomicU64; NAMES.len()],
    /// Frames by encapsulation, by [`Encap::index`].
    encap: [AtomicU64; Encap::ALL.len()],
    /// Undecodable encapsulations, by [`Encap::index`].
    encap_undecodable: [AtomicU64; Encap::ALL.len()],
    extra: Option<ExtraMetrics>,
}

/// (name, type, help) of each exported value, in export order.
const NAMES: [(&str, &str, &str); 21] = [
    ("shadowtap_capture_packets_total", "counter", "Frames seen."),
    (
        "shadowtap_capture_bytes_total",
        "counter",
        "Bytes of the frames seen (wire length).",
    ),
    (
        "shadowtap_capture_kernel_drops_total",
        "counter",
        "Packets dropped by the kernel or the interface (libpcap stats).",
    ),
    (
        "shadowtap_capture_exchanges_total",
        "counter",
        "Exchanges produced.",
    ),
    (
        "shadowtap_capture_exchanges_written_total",
        "counter",
        "Exchanges written to the log.",
    ),
    (
        "shadowtap_capture_incomplete_total",
        "counter",
        "Exchanges with a part missing (incomplete, gap, no response).",
    ),
    (
        "shadowtap_capture_evicted_flows_total",
        "counter",
        "Flows evicted by a bound (idle time, flow count, bytes).",
    ),
    (
        "shadowtap_capture_written_bytes_total",
        "counter",
        "Bytes written to log files.",
    ),
    (
        "shadowtap_capture_fragments_total",
        "counter",
        "Frames holding an IP fragment.",
    ),
    (
        "shadowtap_capture_fragments_reassembled_total",
        "counter",
        "IP datagrams reassembled from fragments.",
    ),
    (
        "shadowtap_capture_fragments_evicted_total",
        "counter",
        "IP datagrams dropped unfinished (timeout, bounds, inconsistent fragments).",
    ),
    (
        "shadowtap_capture_malformed_total",
        "counter",
        "Frames that did not decode.",
    ),
    (
        "shadowtap_capture_gaps_total",
        "counter",
        "Byte ranges missing from the capture.",
    ),
    (
        "shadowtap_capture_snaplen_cut_total",
        "counter",
        "TCP segments cut by the snap length.",
    ),
    (
        "shadowtap_capture_requests_total",
        "counter",
        "Requests complete on the wire.",
    ),
    (
        "shadowtap_capture_orphan_responses_total",
        "counter",
        "Responses that matched no captured request.",
    ),
    (
        "shadowtap_capture_http_malformed_total",
        "counter",
        "Messages recorded flagged req_malformed or resp_malformed (not strict HTTP/1.x).",
    ),
    (
        "shadowtap_capture_framing_errors_total",
        "counter",
        "Messages whose bytes stopped framing as HTTP/1.x.",
    ),
    (
        "shadowtap_capture_skipped_bytes_total",
        "counter",
        "Bytes of tracked connections kept in no exchange.",
    ),
    ("shadowtap_capture_flows", "gauge", "TCP flows tracked."),
    (
        "shadowtap_capture_buffered_bytes",
        "gauge",
        "Bytes held by reassembly and messages in progress.",
    ),
];

impl Metrics {
    /// Counters whose scrapes also carry `extra`'s text.
    pub fn with_extra(extra: Option<ExtraMetrics>) -> Metrics {
        Metrics {
            extra,
            ..Metrics::default()
        }
    }

    /// Marks the capture as running or stopped.
    pub fn set_up(&self, up: bool) {
        self.up.store(u64::from(up), Ordering::Relaxed);
    }

    /// Frames seen, as last published.
    pub fn packets(&self) -> u64 {
        self.values[0].load(Ordering::Relaxed)
    }

    /// Exchanges written to the log, as last published.
    pub fn exchanges_written(&self) -> u64 {
        self.values[4].load(Ordering::Relaxed)
    }

    /// Publishes a snapshot.
    pub fn update(&self, s: &PipelineStats, drops: u64, written: u64, bytes_written: u64) {
        let v = [
            s.packets,
            s.bytes,
            drops,
            s.http.exchanges,
            written,
            s.http.incomplete,
            s.evicted(),
            bytes_written,
            s.fragments,
            s.defrag.reassembled,
            s.defrag.evicted,
            s.malformed + s.truncated_headers,
            s.reasm.gaps,
            s.snaplen_cut,
            s.http.requests,
            s.http.orphan_responses,
            s.http.malformed,
            s.http.framing_errors,
            s.http.skipped_bytes,
            s.flows_active,
            s.buffered_bytes,
        ];
        for (slot, x) in self.values.iter().zip(v) {
            slot.store(x, Ordering::Relaxed);
        }
        for (slot, x) in self.encap.iter().zip(s.encap.packets) {
            slot.store(x, Ordering::Relaxed);
        }
        for (slot, x) in self.encap_undecodable.iter().zip(s.encap.undecodable) {
            slot.store(x, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP shadowtap_capture_up 1 while the capture is running.\n");
        out.push_str("# TYPE shadowtap_capture_up gauge\n");
        out.push_str(&format!(
            "shadowtap_capture_up {}\n",
            self.up.load(Ordering::Relaxed)
        ));
        for ((name, kind, help), v) in NAMES.iter().zip(&self.values) {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        for (name, help, values) in [
            (
                "shadowtap_capture_encap_packets_total",
                "Frames that came through each encapsulation.",
                &self.encap,
            ),
            (
                "shadowtap_capture_encap_undecodable_total",
                "Frames whose encapsulation of each kind did not decode (also counted as malformed).",
                &self.encap_undecodable,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (kind, v) in Encap::ALL.iter().zip(values) {
                out.push_str(&format!(
                    "{name}{{encap=\"{}\"}} {}\n",
                    kind.name(),
                    v.load(Ordering::Relaxed)
                ));
            }
        }
        if let Some(extra) = &self.extra {
            out.push_str(&(extra.0)());
        }
        out
    }
}

/// The responder thread; stopped when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr` and serves `metrics` on every request path.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(listener, metrics, flag))?;
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
            addr,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => answer(conn, &metrics),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn answer(mut conn: TcpStream, metrics: &Metrics) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    // Read the request head (bounded); its content does not matter.
    let mut buf = [0u8; 4096];
    let mut got = 0;
    while got < buf.len() {
        match conn.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got += n;
                if shadowtap_format::http1::find_head_end(&buf[..got], 0).is_some() {
                    break;
                }
            }
        }
    }
    let body = metrics.render();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encapsulations_are_exported_by_kind() {
        let m = Metrics::default();
        let mut s = PipelineStats::default();
        s.encap.packets[Encap::Vxlan.index()] = 7;
        s.encap.undecodable[Encap::Gre.index()] = 2;
        m.update(&s, 0, 0, 0);
        let text = m.render();
        assert!(text.contains("shadowtap_capture_encap_packets_total{encap=\"vxlan\"} 7\n"));
        assert!(text.contains("shadowtap_capture_encap_packets_total{encap=\"gre\"} 0\n"));
        assert!(text.contains("shadowtap_capture_encap_undecodable_total{encap=\"gre\"} 2\n"));
        assert_eq!(
            text.matches("# TYPE shadowtap_capture_encap_packets_total counter")
                .count(),
            1
        );
        #[cfg(feature = "libpcap")]
        {
            let line = crate::daemon::stats_line(&s, 0, 0, 0);
            assert!(
                line.ends_with(
                    " encap=vxlan:7 encap_undecodable=gre:2 reassembled=0 frag_evicted=0"
                ),
                "{line}"
            );
        }
    }
}
