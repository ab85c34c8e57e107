//! The text summary of a report: a few lines per target, for stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Report, Summary, TargetReport};
use crate::stats::DropCause;

impl Report {
    /// The human summary for stderr: a few lines per target.
    pub fn summary_text(&self) -> String {
        let mut out = String::new();
        let secs = self.duration().as_secs_f64();
        // `tee` records `"mode": "tee"` in the configuration.
        let mode = self
            .config
            .get("mode")
            .and_then(|m| m.as_str())
            .unwrap_or("replay");
        let _ = write!(
            out,
            "shadowtap {mode}: {} requests to {} target{} in {:.1}s",
            self.overall.sent,
            self.targets.len(),
            if self.targets.len() == 1 { "" } else { "s" },
            secs
        );
        if let Some(seed) = self.seed {
            let _ = write!(out, " (seed {seed})");
        }
        if self.interrupted {
            out.push_str(" [interrupted]");
        }
        out.push('\n');
        let skipped = crate::stats::total(self.skipped.values().copied());
        if self.filtered_out > 0 {
            let _ = write!(out, "  input: {} filtered out,", self.filtered_out);
            let _ = writeln!(
                out,
                " {} sampled out, {} not replayable{}",
                self.sampled_out,
                skipped,
                nonzero_list(&self.skipped)
            );
        } else if self.sampled_out > 0 || skipped > 0 {
            let _ = writeln!(
                out,
                "  input: {} sampled out, {} not replayable{}",
                self.sampled_out,
                skipped,
                nonzero_list(&self.skipped)
            );
        }
        for t in &self.targets {
            write_target(&mut out, t, true);
        }
        if self.targets.len() > 1 {
            write_target(&mut out, &self.overall, false);
        }
        out
    }
}

fn nonzero_list(map: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = map
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// Formats microseconds for humans: `850µs`, `12.3ms`, `1.25s`.
pub fn human_us(v: u64) -> String {
    if v < 1_000 {
        format!("{v}µs")
    } else if v < 1_000_000 {
        let ms = v as f64 / 1_000.0;
        if ms < 10.0 {
            format!("{ms:.2}ms")
        } else if ms < 100.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else {
        format!("{:.2}s", v as f64 / 1_000_000.0)
    }
}

fn write_summary_line(out: &mut String, label: &str, s: &Summary) {
    if s.count == 0 {
        let _ = writeln!(out, "  {label:<9} no samples");
        return;
    }
    let _ = writeln!(
        out,
        "  {label:<9} p50 {:<8} p90 {:<8} p99 {:<8} p99.9 {:<8} max {}",
        human_us(s.p50),
        human_us(s.p90),
        human_us(s.p99),
        human_us(s.p999),
        human_us(s.max)
    );
}

fn write_target(out: &mut String, t: &TargetReport, warnings: bool) {
    match &t.role {
        Some(role) => {
            let _ = writeln!(out, "{} ({role})", t.target);
        }
        None => {
            let _ = writeln!(out, "{}", t.target);
        }
    }
    // Shown when there are some: then sent = completed + errors +
    // unanswered on this line too.
    let unanswered = if t.unanswered > 0 {
        format!("  unanswered {}", t.unanswered)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  sent {}  completed {}  errors {}{}{unanswered}  dropped {}{}  rate {:.1}/s",
        t.sent,
        t.completed,
        t.errors_total,
        nonzero_list(&t.errors),
        t.dropped_total,
        nonzero_list(&t.dropped),
        t.achieved_rate_per_s
    );
    write_tls_reasons(out, t, warnings);
    write_summary_line(out, "latency", &t.latency_us);
    write_summary_line(out, "service", &t.service_time_us);
    write_summary_line(out, "lag", &t.schedule_lag_us);
    if let Some(m) = &t.mirror_delay_us {
        write_summary_line(out, "mirror", m);
    }
    let classes: Vec<String> = t
        .status_classes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if !classes.is_empty() {
        let _ = writeln!(out, "  status    {}", classes.join("  "));
    }
    if !warnings {
        return;
    }
    if t.schedule_lag_us.count > 0 && t.schedule_lag_us.p99 > PACE_WARNING_US {
        let _ = writeln!(
            out,
            "  warning: sends ran late (schedule lag p99 {}): the requested pace was not kept",
            human_us(t.schedule_lag_us.p99)
        );
    }
    let at_stop = t
        .dropped
        .get(DropCause::Shutdown.as_str())
        .copied()
        .unwrap_or(0);
    let plural = |n: u64| if n == 1 { " was" } else { "s were" };
    let kept_up = t.dropped_total.saturating_sub(at_stop);
    if kept_up > 0 {
        let _ = writeln!(
            out,
            "  warning: {kept_up} request{} dropped: the target or the limits could not keep up",
            plural(kept_up)
        );
    }
    if at_stop > 0 {
        let _ = writeln!(
            out,
            "  warning: {at_stop} request{} still waiting to be sent when the run stopped (dropped)",
            plural(at_stop)
        );
    }
    if t.unanswered > 0 {
        let _ = writeln!(
            out,
            "  warning: {} request{} sent but still unanswered when the run stopped",
            t.unanswered,
            plural(t.unanswered)
        );
    }
}

/// One line per reason for the TLS errors, and (with `hint`) what to do when
/// a certificate was refused.
fn write_tls_reasons(out: &mut String, t: &TargetReport, hint: bool) {
    use crate::stats::TlsReason;
    let mut certificate = false;
    for (name, n) in t.tls_reasons.iter().filter(|(_, n)| **n > 0) {
        let why = match name.as_str() {
            "unknown_issuer" => "the certificate is not signed by a trusted CA (self-signed?)",
            "name_mismatch" => "the certificate is not valid for the target's host name",
            "expired" => "the certificate has expired",
            "not_yet_valid" => "the certificate is not valid yet",
            "bad_certificate" => {
                "the certificate was rejected (a CA certificate used as the server's own, revoked, bad signature)"
            }
            "protocol_version" => "no TLS version or cipher suite in common with the target",
            "not_tls" => "the target does not answer in TLS (plain HTTP? use http://)",
            "alert" => "the target ended the handshake with a TLS alert",
            _ => "another TLS failure",
        };
        certificate |= TlsReason::ALL
            .iter()
            .any(|r| r.as_str() == name && r.is_certificate());
        let _ = writeln!(out, "  tls       {name} {n}: {why}");
    }
    if hint && certificate {
        let _ = writeln!(
            out,
            "  hint: --insecure accepts any certificate (self-signed or private-CA test targets)"
        );
    }
}

/// Schedule lag p99 above which the text summary says the pace was not kept.
pub const PACE_WARNING_US: u64 = 10_000;
