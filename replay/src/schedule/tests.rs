use super::*;

const MS: u64 = 1_000_000;

#[test]
fn speed_parsing() {
    assert_eq!("1x".parse(), Ok(Speed::Factor(1.0)));
    assert_eq!("2.5x".parse(), Ok(Speed::Factor(2.5)));
    assert_eq!("10".parse(), Ok(Speed::Factor(10.0)));
    assert_eq!("max".parse(), Ok(Speed::Max));
    for bad in ["0x", "-1x", "fast", "", "nanx", "infx"] {
        assert!(bad.parse::<Speed>().is_err(), "{bad}");
    }
}

#[test]
fn rate_parsing() {
    assert_eq!("500/s".parse::<Rate>().unwrap().per_second, 500.0);
    assert_eq!("500".parse::<Rate>().unwrap().per_second, 500.0);
    assert_eq!("60/m".parse::<Rate>().unwrap().per_second, 1.0);
    assert_eq!("0.5/s".parse::<Rate>().unwrap().per_second, 0.5);
    for bad in ["0/s", "-5/s", "5/d", "x/s", "", "1e12/s"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad}");
    }
    assert_eq!("drop".parse(), Ok(RatePolicy::Drop));
    assert!("queue".parse::<RatePolicy>().is_err());
}

#[test]
fn offsets_are_absolute_and_scaled() {
    let mut t = Timeline::new(2.0, None);
    let base = 1_700_000_000_000 * MS;
    let got: Vec<Duration> = [0, 10, 30, 30, 100]
        .iter()
        .map(|ms| t.next(base + ms * MS, 0))
        .collect();
    let want: Vec<Duration> = [0, 5, 15, 15, 50]
        .iter()
        .map(|&ms| Duration::from_millis(ms))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn no_drift_over_many_requests() {
    // 1,000,000 requests 1 ms apart at 3x: the last is due at exactly
    // 999,999 ms / 3 (no summed rounding).
    let mut t = Timeline::new(3.0, None);
    let mut last = Duration::ZERO;
    for i in 0..1_000_000u64 {
        last = t.next(i * MS, 0);
    }
    let want = Duration::from_secs_f64(999_999.0 / 3.0 / 1e3);
    assert!(last.abs_diff(want) < Duration::from_nanos(10), "{last:?}");
}

#[test]
fn max_gap_caps_each_gap_cumulatively() {
    let mut t = Timeline::new(1.0, Some(Duration::from_secs(1)));
    let ts = [0, 100, 60_100, 60_200, 3_660_200];
    let got: Vec<u64> = ts
        .iter()
        .map(|s| t.next(s * MS, 0).as_millis() as u64)
        .collect();
    assert_eq!(got, [0, 100, 1_100, 1_200, 2_200]);
}

#[test]
fn late_timestamps_go_with_the_previous_request() {
    let mut t = Timeline::new(1.0, None);
    let got: Vec<u64> = [0, 50, 40, 60]
        .iter()
        .map(|ms| t.next(ms * MS, 0).as_millis() as u64)
        .collect();
    assert_eq!(got, [0, 50, 50, 60]);
}

#[test]
fn loops_continue_after_one_average_gap() {
    let mut t = Timeline::new(1.0, None);
    let mut got = Vec::new();
    for pass in 0..3 {
        for ms in [1_000, 1_010, 1_040] {
            got.push(t.next(ms * MS, pass).as_millis() as u64);
        }
    }
    // Average gap 20 ms.
    assert_eq!(got, [0, 10, 40, 60, 70, 100, 120, 130, 160]);
}

#[tokio::test(start_paused = true)]
async fn wait_until_lands_on_the_deadline() {
    let start = Instant::now();
    for ms in [0u64, 1, 5, 5, 250, 1_000] {
        let deadline = start + Duration::from_millis(ms);
        wait_until(deadline, SPIN_MARGIN).await;
        assert!(Instant::now() >= deadline);
        // Under the paused clock time only moves by timers: the wait
        // ends exactly at the deadline (or at once when it passed).
        assert_eq!(
            Instant::now(),
            deadline.max(start + Duration::from_millis(ms))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_alarm_does_not_move_a_paused_clock_off_the_deadline() {
    let alarm = Alarm::start().unwrap();
    let start = Instant::now();
    for ms in [0u64, 1, 2, 2, 5, 250, 1_000] {
        let deadline = start + Duration::from_millis(ms);
        wait_precisely(deadline, SPIN_MARGIN, Some(&alarm)).await;
        // Time moves only by tokio's timers: exactly the deadline.
        assert_eq!(Instant::now(), deadline);
    }
}

#[tokio::test]
async fn the_alarm_wakes_the_task_at_or_after_the_deadline() {
    let alarm = Alarm::start().unwrap();
    for us in [10u64, 80, 300, 1_200, 2_500] {
        let deadline = Instant::now() + Duration::from_micros(us);
        wait_precisely(deadline, SPIN_MARGIN, Some(&alarm)).await;
        assert!(Instant::now() >= deadline);
    }
    // Without an alarm (or without a margin) it is `wait_until`.
    let deadline = Instant::now() + Duration::from_micros(500);
    wait_precisely(deadline, SPIN_MARGIN, None).await;
    assert!(Instant::now() >= deadline);
}

#[tokio::test(start_paused = true)]
async fn pacer_delays_to_the_rate() {
    let pacer = Pacer::new(RateLimit {
        rate: "100/s".parse().unwrap(),
        burst: NonZeroU32::MIN,
        policy: RatePolicy::Delay,
    });
    let start = Instant::now();
    for _ in 0..101 {
        assert!(pacer.admit().await);
    }
    // 101 requests at 100/s with burst 1: the last goes out at 1 s.
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn pacer_drop_policy_drops_the_excess() {
    let pacer = Pacer::new(RateLimit {
        rate: "10/s".parse().unwrap(),
        burst: NonZeroU32::new(5).unwrap(),
        policy: RatePolicy::Drop,
    });
    let mut admitted = 0;
    for _ in 0..100 {
        admitted += usize::from(pacer.admit().await);
    }
    assert_eq!(admitted, 5);
    tokio::time::advance(Duration::from_millis(300)).await;
    let mut later = 0;
    for _ in 0..100 {
        later += usize::from(pacer.admit().await);
    }
    assert_eq!(later, 3);
}
