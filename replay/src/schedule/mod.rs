//! When each request is due, and how the replay waits for it.
//!
//! - [`Timeline`] turns capture timestamps into offsets from the replay's
//!   start: request `i` is due at `t0 + e_i / speed`, where `e_i` is the
//!   capture time since the first request with every gap capped at
//!   `--max-gap` (the cap is applied to each gap and the capped gaps are
//!   summed in integer nanoseconds, so nothing drifts: there are no summed
//!   sleeps, each deadline is computed from the one fixed start). A request
//!   whose timestamp is older than the previous one (the input's reorder
//!   window could not sort it) is due with the previous one. Loop `k + 1`
//!   starts one average gap of loop `k` after its last request.
//! - [`wait_precisely`] (what the engine uses) sleeps with tokio's timer
//!   until [`SPIN_MARGIN`] before the deadline, then lets an [`Alarm`] (a
//!   thread sleeping on a condition variable, microsecond resolution) wake
//!   it [`ALARM_LEAD`] before the deadline, and yields for that last lead,
//!   so sends land well below tokio's millisecond resolution without
//!   spinning a CPU; requests already due go out back to back.
//!   [`wait_until`] is the same without the alarm (it yields for the whole
//!   margin, a bounded number of times, then sleeps the rest).
//! - [`Pacer`] is the `--rate` limit: governor's GCRA over tokio's clock
//!   (so it runs under a paused test clock too), with `delay` and `drop`
//!   policies.

use std::fmt;
use std::future::Future;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// How fast the capture is replayed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Real time divided by this factor (`1x`, `2.5x`, `0.5x`).
    Factor(f64),
    /// As fast as `--concurrency` allows: capture timing ignored.
    Max,
}

impl Default for Speed {
    fn default() -> Speed {
        Speed::Factor(1.0)
    }
}

/// Values of `--speed`, `--rate` or `--rate-policy` that do not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// Not `max` nor a positive factor.
    #[error("invalid speed {0:?} (expected e.g. 1x, 2.5x, 0.5x or max)")]
    InvalidSpeed(String),
    /// Not `N/s`, `N/m` or `N`.
    #[error("invalid rate {0:?} (expected e.g. 500/s, 30/m, 0.5/s)")]
    InvalidRate(String),
    /// Not `delay` nor `drop`.
    #[error("invalid rate policy {0:?} (expected delay or drop)")]
    InvalidPolicy(String),
}

impl FromStr for Speed {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Speed, ScheduleError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let num = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match num.parse::<f64>() {
            // 1e-6x would turn one second into 11 days: bound it.
            Ok(f) if (1e-3..=1e6).contains(&f) => Ok(Speed::Factor(f)),
            _ => Err(ScheduleError::InvalidSpeed(s.to_owned())),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Factor(x) => write!(f, "{x}x"),
            Speed::Max => f.write_str("max"),
        }
    }
}

/// Capture timestamps → due offsets from the replay start (see the module
/// docs).
#[derive(Clone, Debug)]
pub struct Timeline {
    speed: f64,
    max_gap_ns: u64,
    /// Capped capture time of the last request, in ns since the first.
    e: u64,
    /// Capture timestamp of the previous request of this pass.
    prev_ts: Option<u64>,
    pass: u32,
    /// Capped time at the start of this pass, and its request count.
    pass_start_e: u64,
    pass_count: u64,
}

impl Timeline {
    /// A timeline for a speed factor and an optional gap cap (capture time).
    pub fn new(speed: f64, max_gap: Option<Duration>) -> Timeline {
        Timeline {
            speed,
            max_gap_ns: max_gap.map_or(u64::MAX, duration_ns),
            e: 0,
            prev_ts: None,
            pass: 0,
            pass_start_e: 0,
            pass_count: 0,
        }
    }

    /// The due offset of the next request, captured at `ts_ns`, in loop
    /// `pass` (0-based, non-decreasing).
    pub fn next(&mut self, ts_ns: u64, pass: u32) -> Duration {
        if pass != self.pass {
            // The next loop starts one average gap after the last request.
            let span = self.e - self.pass_start_e;
            let avg = if self.pass_count > 1 {
                span / (self.pass_count - 1)
            } else {
                0
            };
            self.e = self.e.saturating_add(avg.min(self.max_gap_ns));
            self.pass = pass;
            self.prev_ts = None;
            self.pass_start_e = self.e;
            self.pass_count = 0;
        }
        if let Some(prev) = self.prev_ts {
            let gap = ts_ns.saturating_sub(prev).min(self.max_gap_ns);
            self.e = self.e.saturating_add(gap);
        }
        match self.prev_ts {
            Some(p) if p >= ts_ns => {}
            _ => self.prev_ts = Some(ts_ns),
        }
        self.pass_count += 1;
        let secs = self.e as f64 / 1e9 / self.speed;
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How long before a deadline [`wait_until`] stops sleeping and yields.
pub const SPIN_MARGIN: Duration = Duration::from_micros(1500);

/// At most this many yields per wait before sleeping the rest.
pub const MAX_SPINS: u32 = 20_000;

/// Waits until `deadline`: sleeps until `spin` before it, then yields to the
/// runtime until it passes (at most [`MAX_SPINS`] times, then sleeps the
/// rest). Returns at once when the deadline has passed.
pub async fn wait_until(deadline: Instant, spin: Duration) {
    let now = Instant::now();
    if now >= deadline {
        return;
    }
    if deadline - now > spin {
        tokio::time::sleep_until(deadline - spin).await;
    }
    let mut spins = 0;
    while Instant::now() < deadline && spins < MAX_SPINS {
        tokio::task::yield_now().await;
        spins += 1;
    }
    if Instant::now() < deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// [`wait_precisely`] has its [`Alarm`] ring this long before the deadline
/// (a sleeping thread wakes up to ~50 µs late, and waking the runtime takes
/// some more), then yields to the runtime for the rest.
pub const ALARM_LEAD: Duration = Duration::from_micros(50);

/// Wakes a task at a precise instant from a thread of its own.
///
/// tokio's timer has a resolution of one millisecond; a thread sleeping on a
/// condition variable with a timeout wakes within tens of microseconds. One
/// alarm serves one waiting task at a time (the scheduler). Unlike spinning,
/// waiting this way leaves the CPU to the workers and the target, and a
/// thread that sleeps is not the one the OS preempts under load.
#[derive(Debug)]
pub struct Alarm {
    shared: Arc<AlarmShared>,
}

#[derive(Debug)]
struct AlarmShared {
    state: Mutex<AlarmState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct AlarmState {
    at: Option<std::time::Instant>,
    waker: Option<Waker>,
    stop: bool,
}

fn lock_alarm(m: &Mutex<AlarmState>) -> MutexGuard<'_, AlarmState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Alarm {
    /// Starts the alarm's thread; `None` when no thread can be started (the
    /// waits then use tokio's timer alone).
    pub fn start() -> Option<Alarm> {
        let shared = Arc::new(AlarmShared {
            state: Mutex::new(AlarmState::default()),
            changed: Condvar::new(),
        });
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("shadowtap-alarm".into())
            .spawn(move || theirs.run())
            .ok()?;
        Some(Alarm { shared })
    }

    /// Wakes `waker` at `at` (replacing any earlier request).
    fn set(&self, at: std::time::Instant, waker: &Waker) {
        let mut s = lock_alarm(&self.shared.state);
        let unchanged = s.at == Some(at) && s.waker.as_ref().is_some_and(|w| w.will_wake(waker));
        if unchanged {
            return;
        }
        s.at = Some(at);
        s.waker = Some(waker.clone());
        drop(s);
        self.shared.changed.notify_one();
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        lock_alarm(&self.shared.state).stop = true;
        self.shared.changed.notify_one();
    }
}

impl AlarmShared {
    fn run(&self) {
        let mut s = lock_alarm(&self.state);
        loop {
            if s.stop {
                return;
            }
            let Some(at) = s.at else {
                s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let now = std::time::Instant::now();
            if now >= at {
                s.at = None;
                let waker = s.waker.take();
                drop(s);
                if let Some(w) = waker {
                    w.wake();
                }
                s = lock_alarm(&self.state);
            } else {
                s = self
                    .changed
                    .wait_timeout(s, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}

/// Waits until `deadline` like [`wait_until`], but the last `spin` before
/// it is waited with `alarm` (a thread's precise timer) set [`ALARM_LEAD`]
/// before the deadline, and only that lead is yielded away (at most
/// [`MAX_SPINS`] times). tokio's timer for the deadline itself stays armed
/// as a fallback, so a paused test clock (which the alarm's thread does not
/// follow) still ends the wait at exactly the deadline.
pub async fn wait_precisely(deadline: Instant, spin: Duration, alarm: Option<&Alarm>) {
    let now = Instant::now();
    if now >= deadline {
        return;
    }
    let Some(alarm) = alarm.filter(|_| !spin.is_zero()) else {
        return wait_until(deadline, spin).await;
    };
    if deadline - now > spin {
        tokio::time::sleep_until(deadline - spin).await;
    }
    let fallback = tokio::time::sleep_until(deadline);
    let mut fallback = std::pin::pin!(fallback);
    // Set once: under a paused clock the alarm's thread and tokio's clock
    // disagree, and re-arming would keep the runtime busy forever.
    let mut armed = false;
    let mut spins = 0u32;
    std::future::poll_fn(|cx| {
        let now = Instant::now();
        if now >= deadline || fallback.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if deadline - now <= ALARM_LEAD {
            if spins < MAX_SPINS {
                spins += 1;
                cx.waker().wake_by_ref();
            }
        } else if !armed {
            armed = true;
            alarm.set((deadline - ALARM_LEAD).into_std(), cx.waker());
        }
        Poll::Pending
    })
    .await;
}

/// What happens to a request the rate limit does not allow yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RatePolicy {
    /// Wait until the limit allows it (the lag shows in the report).
    #[default]
    Delay,
    /// Drop it and count it.
    Drop,
}

impl FromStr for RatePolicy {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<RatePolicy, ScheduleError> {
        match s {
            "delay" => Ok(RatePolicy::Delay),
            "drop" => Ok(RatePolicy::Drop),
            _ => Err(ScheduleError::InvalidPolicy(s.to_owned())),
        }
    }
}

/// A `--rate` value: requests per period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Requests per second.
    pub per_second: f64,
}

impl Rate {
    /// The time between two requests at this rate.
    pub fn period(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

impl FromStr for Rate {
    type Err = ScheduleError;
    /// `500/s`, `500`, `30/m`, `30/min`, `3600/h`, `0.5/s`.
    fn from_str(s: &str) -> Result<Rate, ScheduleError> {
        let t = s.trim();
        let (num, unit) = t.split_once('/').unwrap_or((t, "s"));
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(ScheduleError::InvalidRate(s.to_owned())),
        };
        match num.trim().parse::<f64>() {
            // Between one an hour and a billion a second.
            Ok(n) if n.is_finite() && n / per >= 1.0 / 3600.0 && n / per <= 1e9 => Ok(Rate {
                per_second: n / per,
            }),
            _ => Err(ScheduleError::InvalidRate(s.to_owned())),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

/// The `--rate` settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// The sustained rate.
    pub rate: Rate,
    /// How many requests may go out back to back (default 1: evenly paced).
    pub burst: NonZeroU32,
    /// Delay or drop what the limit does not allow.
    pub policy: RatePolicy,
}

/// governor's clock on tokio's time (paused in tests): instants are the
/// time since the pacer was made.
#[derive(Clone, Debug)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

/// The rate limiter.
pub struct Pacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
    policy: RatePolicy,
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Pacer {
    /// A pacer for a limit.
    pub fn new(limit: RateLimit) -> Pacer {
        let period = limit.rate.period().max(Duration::from_nanos(1));
        // `with_period` only fails for a zero period.
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(limit.burst);
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Pacer {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            policy: limit.policy,
        }
    }

    /// Asks to send one request now. `true`: go (after waiting, with the
    /// delay policy); `false`: dropped by the drop policy.
    pub async fn admit(&self) -> bool {
        loop {
            match self.limiter.check() {
                Ok(()) => return true,
                Err(_) if self.policy == RatePolicy::Drop => return false,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait.max(Duration::from_nanos(1))).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
