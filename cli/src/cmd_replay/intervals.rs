//! The per-second reader of the run's interval histograms: the report's
//! timeline always, the `--hdr-log` file when asked for.

use std::fs::File;
use std::time::Duration;

use shadowtap_replay::engine::Monitor;
use shadowtap_replay::hdrlog::{HdrLog, HdrLogError};
use shadowtap_replay::report::{Timeline, TimelineRecorder};

/// Once per second, and for the last partial interval: reads the interval
/// histograms into the timeline and the `--hdr-log` file (when given), then
/// clears them. The timeline is `None` if it could not be kept (a
/// histogram that would not encode: not expected).
pub(super) async fn write_intervals(
    mut log: Option<HdrLog<std::io::BufWriter<File>>>,
    mut timeline: TimelineRecorder,
    monitor: Monitor,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> (Result<(), HdrLogError>, Option<Timeline>) {
    let origin = tokio::time::Instant::now();
    let mut from = Duration::ZERO;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut log_result = Ok(());
    let mut kept = true;
    loop {
        let finished = tokio::select! {
            _ = tick.tick() => false,
            _ = done.wait_for(|d| *d) => true,
        };
        let to = origin.elapsed();
        monitor.with_stats(|s| {
            if let Some(l) = log.as_mut() {
                if let Err(e) = l.write_interval_histograms(from, to, s) {
                    log_result = Err(e);
                    log = None;
                }
            }
            timeline.observe(from, to, s);
            s.reset_interval();
        });
        // Encoding and coarsening, out of the stats' lock.
        kept &= timeline.settle().is_ok();
        from = to;
        if finished {
            if let Some(l) = log {
                if let Err(e) = l.finish() {
                    log_result = log_result.and(Err(e));
                }
            }
            return (log_result, kept.then(|| timeline.finish()));
        }
    }
}
