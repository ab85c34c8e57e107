//! The mirror's counters in Prometheus text format, per target, appended to
//! the capture's `--metrics` scrape.

use std::fmt::Write as _;

use shadowtap_replay::stats::{DropCause, ErrorKind, Stats, TargetStats, STATUS_CLASSES};

use super::counts::TapCounts;

/// The exposition of tee's counters (`tap`) and the engine's (`stats`).
pub fn exposition(stats: &Stats, tap: &TapCounts) -> String {
    let mut out = String::new();
    let gauge = |out: &mut String, name: &str, kind: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        );
    };
    gauge(
        &mut out,
        "shadowtap_tee_captured_requests_total",
        "counter",
        "Requests complete on the wire, offered to the mirror.",
        tap.captured,
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_full_total",
        "counter",
        "Requests not mirrored because the queue was full.",
        tap.queue_full,
    );
    gauge(
        &mut out,
        "shadowtap_tee_queue_depth",
        "gauge",
        "Requests waiting between the capture and the mirror.",
        tap.depth,
    );
    gauge(
        &mut out,
        "shadowtap_tee_responses_dropped_total",
        "counter",
        "With --compare: production responses not compared because their queue was full.",
        tap.responses_dropped,
    );
    // One counter family: a sample per target and, with `label`, per value
    // of it (`rows` gives each value and its count for a target).
    type Rows<'a> = &'a dyn Fn(&TargetStats) -> Vec<(&'static str, u64)>;
    let mut family = |name: &str, help: &str, label: &str, rows: Rows<'_>| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
        for (target, t) in stats.targets().iter().zip(stats.per_target()) {
            for (value, n) in rows(t) {
                let _ = if label.is_empty() {
                    writeln!(out, "{name}{{target=\"{target}\"}} {n}")
                } else {
                    writeln!(out, "{name}{{target=\"{target}\",{label}=\"{value}\"}} {n}")
                };
            }
        }
    };
    family(
        "shadowtap_tee_mirrored_total",
        "Requests sent to a target (completed or failed).",
        "",
        &|t| vec![("", t.sent)],
    );
    family(
        "shadowtap_tee_responses_total",
        "Mirror responses, by status class.",
        "class",
        &|t| {
            let classes = STATUS_CLASSES.iter().enumerate();
            classes
                .map(|(i, class)| (*class, t.class_count(i)))
                .collect()
        },
    );
    family(
        "shadowtap_tee_errors_total",
        "Mirror requests that failed, by kind.",
        "kind",
        &|t| {
            ErrorKind::ALL
                .map(|k| (k.as_str(), t.errors_of(k)))
                .to_vec()
        },
    );
    family(
        "shadowtap_tee_dropped_total",
        "Requests not mirrored to a target, by cause.",
        "cause",
        &|t| {
            // The tap's drops are not in the engine's statistics until the
            // run is settled; the live view adds them in.
            let count = |k| t.dropped_of(k) + tap.dropped_of(k);
            // Shutdown drops are known only once the mirror stopped,
            // after the last scrape: they are in the report alone.
            DropCause::ALL
                .iter()
                .filter(|&&k| k != DropCause::Shutdown)
                .map(|&k| (k.as_str(), count(k)))
                .collect()
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shadowtap_replay::stats::Outcome;

    use super::*;

    #[test]
    fn the_exposition_shows_each_counter_once_per_target_with_the_tap_drops_added() {
        let mut stats = Stats::new(&["http://a".into(), "http://b".into()]);
        stats.record(&Outcome {
            target: 1,
            intended: Duration::ZERO,
            sent: Duration::ZERO,
            done: Duration::ZERO,
            result: Ok(503),
            bytes_sent: 1,
            bytes_received: 1,
        });
        stats.record_drops(0, DropCause::Concurrency, 2);
        let tap = TapCounts {
            captured: 9,
            queue_full: 4,
            no_slot: 1,
            depth: 3,
            responses_dropped: 0,
        };
        let text = exposition(&stats, &tap);
        for line in [
            "# TYPE shadowtap_tee_captured_requests_total counter\n\
             shadowtap_tee_captured_requests_total 9\n",
            "# TYPE shadowtap_tee_queue_full_total counter\nshadowtap_tee_queue_full_total 4\n",
            "# TYPE shadowtap_tee_queue_depth gauge\nshadowtap_tee_queue_depth 3\n",
            "shadowtap_tee_mirrored_total{target=\"http://a\"} 0\n",
            "shadowtap_tee_mirrored_total{target=\"http://b\"} 1\n",
            "shadowtap_tee_responses_total{target=\"http://b\",class=\"5xx\"} 1\n",
            "shadowtap_tee_errors_total{target=\"http://a\",kind=\"refused\"} 0\n",
            "shadowtap_tee_dropped_total{target=\"http://a\",cause=\"concurrency\"} 3\n",
            "shadowtap_tee_dropped_total{target=\"http://b\",cause=\"concurrency\"} 1\n",
            "shadowtap_tee_dropped_total{target=\"http://a\",cause=\"queue\"} 4\n",
            "shadowtap_tee_dropped_total{target=\"http://b\",cause=\"queue\"} 4\n",
        ] {
            assert_eq!(text.matches(line).count(), 1, "{line:?} in\n{text}");
        }
        assert!(!text.contains("cause=\"shutdown\""), "{text}");
        for family in [
            "mirrored_total",
            "responses_total",
            "errors_total",
            "dropped_total",
        ] {
            let help = format!("# HELP shadowtap_tee_{family} ");
            assert_eq!(text.matches(&help).count(), 1, "{help} in\n{text}");
        }
    }
}
