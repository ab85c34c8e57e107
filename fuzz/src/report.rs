//! The `report` target: a JSON report from outside (`report merge` reads
//! the reports other machines wrote) rendered as the HTML page and merged.

use std::collections::BTreeSet;

use shadowtap_replay::report::{html, Report};
use shadowtap_replay::threshold::{evaluate, Threshold};

use crate::cap;

/// A page built from any report: one document, and nothing of the report's
/// strings taken as markup (no element the page itself never writes).
fn check_page(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>\n"), "not a page");
    assert_eq!(page.matches("</html>").count(), 1, "more than one document");
    for tag in ["<script", "<img", "<iframe", "<object", "<link", "<base"] {
        assert!(!page.contains(tag), "{tag} in the page");
    }
}

/// Thresholds of every metric `report merge` judges.
const THRESHOLDS: [&str; 6] = [
    "p99<50ms",
    "error_rate<1%",
    "drop_rate<1%",
    "rate>=900/s",
    "lag_p99<5ms",
    "p50<1s",
];

/// `replay::report`: any JSON that reads as a [`Report`] renders as a page
/// (see [`check_page`]), decodes to stats or fails cleanly, is judged by
/// thresholds, and merges with itself to a report of twice its runs and the
/// same targets, which renders and is judged too; nothing panics, whatever
/// the counts, histograms and timeline hold.
pub fn report(data: &[u8]) {
    let data = cap(data);
    let Ok(r) = serde_json::from_slice::<Report>(data) else {
        return;
    };
    check_page(&html::render(&r, None, "fuzz"));
    let _ = r.to_stats().map_err(|e| e.to_string());
    let thresholds: Vec<Threshold> = THRESHOLDS
        .iter()
        .map(|t| Threshold::parse(t).expect("a valid threshold"))
        .collect();
    let _ = evaluate(&thresholds, &r);
    let twice = [r.clone(), r.clone()];
    let Ok(m) = Report::merge(&twice) else { return };
    assert_eq!(m.sources, r.sources.max(1).saturating_mul(2), "runs merged");
    let names: BTreeSet<&str> = r.targets.iter().map(|t| t.target.as_str()).collect();
    let merged: BTreeSet<&str> = m.targets.iter().map(|t| t.target.as_str()).collect();
    assert_eq!(merged, names, "targets merged");
    check_page(&html::render(&m, None, "fuzz"));
    if let Ok(e) = evaluate(&thresholds, &m) {
        let mut judged = m.clone();
        judged.set_thresholds(&e);
        check_page(&html::render(&judged, None, "fuzz"));
    }
}
