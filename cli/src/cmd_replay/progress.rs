//! `replay`'s progress line: exchanges of the input done out of those to
//! replay, the percentage, the rate and the time left.
//!
//! **Done** is the input's exchanges whose fate is settled: every target
//! finished its request (a response or an error) or dropped it, or the
//! exchange was left out (sampled out, filtered out, not replayable).
//! Requests in flight are not done yet.
//!
//! **Total** comes from the logs' block index (FORMAT.md §4: each run of
//! blocks holds its record count), read by seeking to the trailer, or,
//! for a log whose writer did not close it, from its block headers
//! (seeking over the payloads): nothing is decoded. Times `--loop N`;
//! `--loop 0` has no total (a count and a rate, no bar). With `--limit`
//! and nothing that could leave exchanges out (no sampling, no filter),
//! the limit caps it. It is read on the ticker's thread, so a large log
//! does not delay the first request.
//!
//! **Counters** are the engine's own ([`Monitor::with_stats`]): each tick
//! merges the workers' shards into the run's stats, which takes each
//! shard's lock for a swap of its entry list. That is the lock a worker
//! takes once per request to append to its own shard, so the ticker meets a
//! worker there about five times a second, for a moment, and does the
//! merging the workers would otherwise do themselves every 128 entries. A
//! run-wide atomic counter of requests done would instead put one
//! cache line that every worker writes on every response: more cost on the
//! hot path than the ticker's few swaps.
//!
//! **Time left**: at `--speed max`, from the rate (indicatif's estimate).
//! At a paced speed the run ends when the schedule does, whatever the
//! rate, so the time left is the schedule's: the logs' capture span
//! (from the same index) over the speed, times the loops, less the time
//! since the first request. With `--max-gap` the schedule is shorter than
//! the span by an amount only reading the whole log would tell, so the
//! estimate from the rate is used there too.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::HumanCount;
use shadowtap_format::index::{read_index, scan_blocks, IndexEntry};
use shadowtap_replay::engine::{Config, Mode, Monitor};
use shadowtap_replay::schedule::Speed;

use crate::progress::{self, Ticker};

/// What the input holds, as its indexes tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Extent {
    exchanges: u64,
    /// Smallest and largest request time over all the logs.
    first_ns: Option<u64>,
    last_ns: u64,
}

impl Extent {
    fn add(&mut self, entries: &[IndexEntry]) {
        for e in entries {
            self.exchanges += u64::from(e.record_count);
            self.first_ns = Some(self.first_ns.map_or(e.min_ts_ns, |f| f.min(e.min_ts_ns)));
            self.last_ns = self.last_ns.max(e.max_ts_ns);
        }
    }

    fn span(&self) -> Duration {
        Duration::from_nanos(
            self.last_ns
                .saturating_sub(self.first_ns.unwrap_or(self.last_ns)),
        )
    }
}

/// The extent of `files` from their indexes (or block headers); `None`
/// when one cannot be read that way (the replay will say why).
fn extent(files: &[PathBuf]) -> Option<Extent> {
    let mut ext = Extent::default();
    for path in files {
        // Unbuffered: each block header is one small read after a seek.
        let mut f = File::open(path).ok()?;
        let entries = match read_index(&mut f) {
            Ok(Some(entries)) => entries,
            _ => scan_blocks(&mut f).ok()?,
        };
        ext.add(&entries);
    }
    Some(ext)
}

/// What the line shows, fixed for the run.
#[derive(Clone, Debug)]
struct Plan {
    files: Vec<PathBuf>,
    loops: u32,
    /// `--limit`, when nothing can be left out (it then caps the total).
    cap: Option<u64>,
    /// The speed factor, when the time left follows the schedule.
    paced: Option<f64>,
}

impl Plan {
    fn of(config: &Config) -> Plan {
        let speed = match config.mode {
            Mode::Replay { speed } => speed,
            Mode::Live => Speed::Max,
        };
        Plan {
            files: config.inputs.clone(),
            loops: config.loops,
            cap: config
                .limit
                .filter(|_| config.sampler.keeps_all() && config.filter.is_empty()),
            paced: match speed {
                Speed::Factor(f) if config.max_gap.is_none() && f > 0.0 => Some(f),
                _ => None,
            },
        }
    }

    /// Exchanges to replay in all, and the schedule's length, if known.
    fn total(&self, ext: Option<Extent>) -> (Option<u64>, Option<Duration>) {
        let Some(ext) = ext.filter(|_| self.loops > 0) else {
            return (None, None);
        };
        let mut total = ext.exchanges.saturating_mul(u64::from(self.loops));
        if let Some(cap) = self.cap {
            total = total.min(cap);
        }
        let schedule = self
            .paced
            .and_then(|f| Duration::try_from_secs_f64(ext.span().as_secs_f64() / f).ok())
            .map(|d| d.saturating_mul(self.loops));
        (Some(total), schedule)
    }
}

/// The bar takes what the text leaves of the terminal's width (the message
/// padded, so the bar keeps its width as the numbers change).
const WITH_TOTAL: &str = "[{wide_bar}] {human_pos}/{human_len} exchanges {percent:>3}%  {msg:<32}";
const WITHOUT_TOTAL: &str = "{elapsed} {human_pos} exchanges  {msg}";

/// Starts the line for a replay of `config`'s logs (`tee`, live, has no
/// line: its stats lines say the same every `--stats-interval`).
pub(super) fn start(config: &Config, monitor: Monitor) -> Option<Ticker> {
    if config.mode.is_live() {
        return None;
    }
    let plan = Plan::of(config);
    let bar = progress::bar(None, WITHOUT_TOTAL);
    let mut known: Option<Option<Duration>> = None;
    Some(Ticker::start(bar, move |bar| {
        let schedule = *known.get_or_insert_with(|| {
            let (total, schedule) = plan.total(extent(&plan.files));
            if let Some(t) = total {
                bar.set_style(progress::style(WITH_TOTAL));
                bar.set_length(t);
            }
            progress::show(bar);
            schedule
        });
        let (done, errors, dropped) = monitor.with_stats(|s| {
            let targets = s.targets().len().max(1) as u64;
            let requests = (s.sent() + s.dropped()) / targets;
            let left_out = s.sampled_out() + s.filtered_out() + s.skipped_total();
            (requests + left_out, s.errors(), s.dropped())
        });
        // A damaged log (--salvage) may hold more than its block headers
        // told: the bar then grows instead of passing 100%.
        if bar.length().is_some_and(|len| done > len) {
            bar.set_length(done);
        }
        bar.set_position(done);
        let left = match (schedule, monitor.start()) {
            (Some(s), Some(t0)) => Some(s.saturating_sub(t0.elapsed())),
            (Some(s), None) => Some(s),
            (None, _) if bar.length().is_some() && done > 0 => Some(bar.eta()),
            (None, _) => None,
        };
        let mut msg = format!("{}/s", HumanCount(bar.per_sec() as u64));
        if let Some(left) = left {
            msg.push_str(&format!("  ETA {}", progress::clock(left)));
        }
        for (n, what) in [(errors, "errors"), (dropped, "dropped")] {
            if n > 0 {
                msg.push_str(&format!("  {} {what}", HumanCount(n)));
            }
        }
        bar.set_message(msg);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(records: u32, min: u64, max: u64) -> IndexEntry {
        IndexEntry {
            offset: 0,
            first_id: 0,
            min_ts_ns: min,
            max_ts_ns: max,
            record_count: records,
            block_count: 1,
        }
    }

    fn plan(loops: u32, cap: Option<u64>, paced: Option<f64>) -> Plan {
        Plan {
            files: Vec::new(),
            loops,
            cap,
            paced,
        }
    }

    #[test]
    fn the_total_is_the_index_counts_times_the_loops_capped_by_the_limit() {
        let mut ext = Extent::default();
        ext.add(&[entry(10, 5_000_000_000, 9_000_000_000)]);
        ext.add(&[entry(5, 1_000_000_000, 7_000_000_000)]);
        assert_eq!(ext.exchanges, 15);
        assert_eq!(ext.span(), Duration::from_secs(8));
        assert_eq!(plan(2, None, None).total(Some(ext)), (Some(30), None));
        assert_eq!(plan(2, Some(12), None).total(Some(ext)), (Some(12), None));
        // Until stopped: no total.
        assert_eq!(plan(0, None, Some(1.0)).total(Some(ext)), (None, None));
        assert_eq!(plan(1, None, None).total(None), (None, None));
    }

    #[test]
    fn at_a_paced_speed_the_schedule_is_the_span_over_the_speed() {
        let mut ext = Extent::default();
        ext.add(&[entry(3, 0, 10_000_000_000)]);
        let (_, schedule) = plan(3, None, Some(2.0)).total(Some(ext));
        assert_eq!(schedule, Some(Duration::from_secs(15)));
    }

    #[test]
    fn the_extent_of_a_sample_log_is_read_from_its_index() {
        let path = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../samples/api-mix.stlog"
        ));
        let ext = extent(&[path.clone(), path]).unwrap();
        assert_eq!(ext.exchanges, 2 * 3043);
        assert!(ext.span() > Duration::from_secs(40), "{:?}", ext.span());
        assert_eq!(extent(&[PathBuf::from("/nonexistent.stlog")]), None);
    }
}
