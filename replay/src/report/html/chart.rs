//! The run page's charts as inline SVG, drawn here (no script): latency
//! over time from the report's timeline, and the latency percentile
//! distribution from each target's latency histogram.
//!
//! Both are line charts on one frame: x and y axes with gridlines and
//! labels, one `path.series` per line, gaps (intervals without a response)
//! as breaks in the path. A chart draws at most [`MAX_TARGETS_DRAWN`]
//! targets and [`MAX_POINTS`] points per series: a longer timeline is
//! thinned by taking, per run of consecutive intervals, the highest value
//! of each statistic (a spike is never thinned away).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::super::timeline::{Timeline, TimelinePoint};
use crate::compare::html::{escape_into, micros};

/// Targets drawn per chart (the rest are named in a note).
pub const MAX_TARGETS_DRAWN: usize = 8;
/// Points per series at most.
pub const MAX_POINTS: usize = 600;
/// Points per percentile curve.
const CURVE_POINTS: usize = 240;
/// Deepest percentile drawn: 99.9999 % (x = 6).
const MAX_NINES: f64 = 6.0;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 34.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;

/// The chart rules, added to the page's style sheet.
pub(super) const STYLE: &str = "\
svg.chart{display:block;width:100%;max-width:60rem;height:auto;margin:.4rem 0}
svg.chart text{font:11px system-ui,sans-serif;fill:#475467}
svg.chart .grid line{stroke:#eaecf0}
svg.chart .frame{fill:none;stroke:#98a2b3}
svg.chart path.series{fill:none;stroke-width:1.7;stroke-linejoin:round}
svg.chart path.series[data-stat=p50]{stroke-dasharray:5 3;stroke-width:1.3}
.c0{stroke:#1f6feb;background:#1f6feb}.c1{stroke:#d1242f;background:#d1242f}
.c2{stroke:#1a7f37;background:#1a7f37}.c3{stroke:#9a6700;background:#9a6700}
.c4{stroke:#8250df;background:#8250df}.c5{stroke:#0a7c86;background:#0a7c86}
.c6{stroke:#bf3989;background:#bf3989}.c7{stroke:#57606a;background:#57606a}
ul.legend{list-style:none;padding:0;margin:.2rem 0 1rem;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
ul.legend li{font-size:.9em;overflow-wrap:anywhere}
ul.legend .swatch{display:inline-block;width:1.4em;height:.25em;vertical-align:middle;margin-right:.4em}
ul.legend .swatch.dashed{background:none;border-top:.2em dashed;border-color:inherit}
";

/// One line of a chart: `(x, y)` in data units, `None` for a gap.
struct Series<'a> {
    target: &'a str,
    stat: &'static str,
    color: usize,
    points: Vec<Option<(f64, f64)>>,
}

/// A linear axis from 0 to a "nice" bound above `max`, with its ticks.
fn nice_ticks(max: f64) -> (f64, Vec<f64>) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, vec![0.0, 1.0]);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let n = (top / step).round() as usize;
    (top, (0..=n).map(|i| i as f64 * step).collect())
}

/// A percentile axis label: x = log10(1 / (1 − q)).
fn percentile_label(x: u32) -> String {
    match x {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        2 => "99%".to_owned(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)),
    }
}

/// `v` with at most three decimals, trailing zeros dropped.
fn short(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    t.to_owned()
}

fn seconds_label(s: f64) -> String {
    if s >= 3600.0 && s % 60.0 == 0.0 {
        format!("{}m", short(s / 60.0))
    } else {
        format!("{}s", short(s))
    }
}

struct Frame {
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        LEFT + v / self.x_max * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        HEIGHT - BOTTOM - v / self.y_max * (HEIGHT - TOP - BOTTOM)
    }
}

/// Writes the chart's `<svg>`: frame, grid, labels, series.
fn draw(
    out: &mut String,
    class: &str,
    label: &str,
    (x_max, x_ticks): (f64, Vec<(f64, String)>),
    x_title: &str,
    series: &[Series<'_>],
) {
    let y_data = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().map(|p| p.1))
        .fold(0.0, f64::max);
    let (y_max, y_ticks) = nice_ticks(y_data);
    let f = Frame { x_max, y_max };
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" data-series=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"",
        series.len()
    );
    escape_into(out, label);
    out.push_str("\">\n<g class=\"grid\">");
    for v in &y_ticks {
        let y = f.y(*v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
            WIDTH - RIGHT
        );
    }
    for (v, _) in &x_ticks {
        let x = f.x(*v);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>",
            HEIGHT - BOTTOM
        );
    }
    let _ = write!(
        out,
        "</g>\n<rect class=\"frame\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/>\n\
         <g class=\"y-axis\">",
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM
    );
    for v in &y_ticks {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            f.y(*v) + 4.0,
            micros(*v as u64)
        );
    }
    out.push_str("</g>\n<g class=\"x-axis\">");
    for (v, text) in &x_ticks {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">",
            f.x(*v),
            HEIGHT - BOTTOM + 16.0
        );
        escape_into(out, text);
        out.push_str("</text>");
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">",
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 6.0
    );
    escape_into(out, x_title);
    out.push_str("</text></g>\n");
    for s in series {
        let _ = write!(out, "<path class=\"series c{}\" data-target=\"", s.color);
        escape_into(out, s.target);
        let _ = write!(out, "\" data-stat=\"{}\" d=\"", s.stat);
        // Points in the current stroke; a lone point gets a short tick so
        // that it shows.
        let mut stroke = 0usize;
        for p in s.points.iter().chain(std::iter::once(&None)) {
            match p {
                Some((x, y)) => {
                    let cmd = if stroke > 0 { 'L' } else { 'M' };
                    let _ = write!(out, "{cmd}{:.1} {:.1}", f.x(*x), f.y(*y));
                    stroke += 1;
                }
                None => {
                    if stroke == 1 {
                        out.push_str("h3");
                    }
                    stroke = 0;
                }
            }
        }
        out.push_str("\"/>\n");
    }
    out.push_str("</svg>\n");
}

/// The legend under a chart: one entry per series.
fn legend(out: &mut String, series: &[Series<'_>]) {
    out.push_str("<ul class=\"legend\">");
    for s in series {
        let dashed = if s.stat == "p50" { " dashed" } else { "" };
        let _ = write!(
            out,
            "<li><span class=\"swatch c{}{dashed}\"></span><code>",
            s.color
        );
        escape_into(out, s.target);
        let _ = write!(out, "</code> {}</li>", s.stat);
    }
    out.push_str("</ul>\n");
}

fn not_drawn(out: &mut String, total: usize) {
    if total > MAX_TARGETS_DRAWN {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more targets not drawn (see the tables and the JSON report).</p>",
            total - MAX_TARGETS_DRAWN
        );
    }
}

/// The points of one statistic of a series, thinned to [`MAX_POINTS`]:
/// each run of `stride` intervals becomes one point at the run's middle
/// with the run's highest value; a run without responses is a gap.
fn thinned(
    points: &[TimelinePoint],
    stat: impl Fn(&TimelinePoint) -> u64,
) -> Vec<Option<(f64, f64)>> {
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(stride)
        .map(|run| {
            let with: Vec<&TimelinePoint> = run.iter().filter(|p| p.count > 0).collect();
            let first = run.first()?;
            let last = run.last()?;
            if with.is_empty() {
                return None;
            }
            let end = last.start_us.saturating_add(last.length_us);
            let mid = (first.start_us as f64 + end as f64) / 2.0;
            let v = with.iter().map(|p| stat(p)).max().unwrap_or(0);
            Some((mid / 1e6, v as f64))
        })
        .collect()
}

/// Latency over time: p99 (solid) and p50 (dashed) per target.
pub(super) fn timeline(out: &mut String, t: &Timeline) {
    let mut series = Vec::new();
    for (i, s) in t.targets.iter().take(MAX_TARGETS_DRAWN).enumerate() {
        series.push(Series {
            target: &s.target,
            stat: "p99",
            color: i,
            points: thinned(&s.intervals, |p| p.p99_us),
        });
        series.push(Series {
            target: &s.target,
            stat: "p50",
            color: i,
            points: thinned(&s.intervals, |p| p.p50_us),
        });
    }
    let end = t
        .targets
        .iter()
        .chain(std::iter::once(&t.overall))
        .filter_map(|s| s.intervals.last())
        .map(|p| p.start_us.saturating_add(p.length_us) as f64 / 1e6)
        .fold(0.0, f64::max);
    let (x_max, ticks) = nice_ticks(end);
    let x_ticks = ticks.into_iter().map(|v| (v, seconds_label(v))).collect();
    draw(
        out,
        "timeline",
        "latency over time, p50 and p99 per interval",
        (x_max, x_ticks),
        &format!(
            "time since the start (intervals of {})",
            micros(t.interval_us)
        ),
        &series,
    );
    legend(out, &series);
    if t.len() == 1 {
        out.push_str(
            "<p class=\"note\">One interval: the run was not longer than the timeline's \
             interval, so each line is one point.</p>\n",
        );
    }
    not_drawn(out, t.targets.len());
}

/// The percentile distribution: x = log10(1 / (1 − q)), one curve per
/// target with responses.
pub(super) fn percentiles(out: &mut String, targets: &[(&str, Histogram<u64>)]) {
    let mut series = Vec::new();
    let mut deepest = 1.0f64;
    for (i, (name, h)) in targets.iter().take(MAX_TARGETS_DRAWN).enumerate() {
        if h.is_empty() {
            continue;
        }
        // As deep as the values support: q = 1 − 1/count, at most 6 nines.
        let depth = (h.len() as f64).log10().clamp(0.0, MAX_NINES);
        deepest = deepest.max(depth.ceil());
        let points = (0..=CURVE_POINTS)
            .map(|k| {
                let x = depth * k as f64 / CURVE_POINTS as f64;
                let q = 1.0 - 10f64.powf(-x);
                Some((x, h.value_at_quantile(q) as f64))
            })
            .collect();
        series.push(Series {
            target: name,
            stat: "latency",
            color: i,
            points,
        });
    }
    let x_ticks = (0..=deepest as u32)
        .map(|n| (f64::from(n), percentile_label(n)))
        .collect();
    draw(
        out,
        "percentiles",
        "latency by percentile",
        (deepest, x_ticks),
        "percentile (log scale of 1/(1−q))",
        &series,
    );
    legend(out, &series);
    not_drawn(out, targets.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ticks() {
        assert_eq!(percentile_label(0), "0%");
        assert_eq!(percentile_label(2), "99%");
        assert_eq!(percentile_label(3), "99.9%");
        assert_eq!(percentile_label(4), "99.99%");
        let (top, ticks) = nice_ticks(7.3);
        assert_eq!(top, 8.0);
        assert_eq!(ticks, [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(0.0).0, 1.0);
        assert_eq!(nice_ticks(f64::NAN).0, 1.0);
        assert_eq!(seconds_label(0.075_000_000_000_000_01), "0.075s");
        assert_eq!(seconds_label(2.0), "2s");
        assert_eq!(seconds_label(7200.0), "120m");
    }

    #[test]
    fn thinning_keeps_the_spike_and_the_gaps() {
        let p = |i: u64, count, p99| TimelinePoint {
            start_us: i * 1_000_000,
            length_us: 1_000_000,
            count,
            p99_us: p99,
            ..TimelinePoint::default()
        };
        let mut points: Vec<TimelinePoint> = (0..3000).map(|i| p(i, 1, 10)).collect();
        points[1234].p99_us = 99_999;
        for q in &mut points[2000..2010] {
            q.count = 0;
        }
        let t = thinned(&points, |p| p.p99_us);
        assert!(t.len() <= MAX_POINTS);
        assert_eq!(t.iter().flatten().filter(|p| p.1 == 99_999.0).count(), 1);
        assert!(t.iter().any(Option::is_none));
        assert_eq!(thinned(&points[..3], |p| p.p99_us).len(), 3);
    }
}
