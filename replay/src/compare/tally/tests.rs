use super::*;

fn diff(field: Field, kind: Kind, noise: Option<Noise>) -> Difference {
    Difference {
        field,
        kind,
        baseline: Some("a".into()),
        candidate: Some("b".into()),
        noise,
    }
}

fn cmp(ds: Vec<Difference>) -> Comparison {
    Comparison {
        differences: ds,
        ..Comparison::default()
    }
}

fn ptr(p: &str) -> Field {
    Field::Pointer(p.into())
}

fn field<'a>(e: &'a EndpointReport, path: &str) -> &'a FieldReport {
    e.fields
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no field {path} in {:?}", e.fields))
}

#[test]
fn requests_are_equal_noise_only_or_differing() {
    let mut t = Tally::new(&["c".into()], TallyConfig::default());
    let ts = || Some(Noise::Builtin("timestamp"));
    for id in 0..10 {
        let mut ds = vec![diff(ptr("/ts"), Kind::Value, ts())];
        if id < 3 {
            ds.push(diff(ptr("/price"), Kind::Value, None));
        }
        t.record(0, "GET /items/{id}", id, &cmp(ds), None);
    }
    t.record(0, "GET /items/{id}", 10, &cmp(vec![]), None);
    t.record(0, "GET /health", 11, &cmp(vec![]), None);
    t.record_error(0, "GET /health");
    let r = t.report();
    let e = &r.targets[0].endpoints[0];
    assert_eq!(e.endpoint, "GET /items/{id}");
    assert_eq!(
        (e.compared, e.equal, e.noise_only, e.differing),
        (11, 1, 7, 3)
    );
    assert!((e.diff_rate - 3.0 / 11.0).abs() < 1e-12);
    let price = field(e, "body:/price");
    assert_eq!(
        (price.count, price.noise, price.kind),
        (3, false, Kind::Value)
    );
    assert_eq!(price.examples.len(), 3);
    assert_eq!(price.examples[0].request_id, 0);
    let ts = field(e, "body:/ts");
    assert_eq!((ts.count, ts.noise), (10, true));
    assert_eq!(ts.noise_reason.as_deref(), Some("built-in: timestamp"));
    // Candidate differences come before noise.
    assert_eq!(e.fields[0].path, "body:/price");
    let h = &r.targets[0].endpoints[1];
    assert_eq!(
        (h.endpoint.as_str(), h.compared, h.equal, h.errors),
        ("GET /health", 1, 1, 1)
    );
    assert_eq!(
        (r.overall.compared, r.overall.differing, r.overall.errors),
        (12, 3, 1)
    );
}

#[test]
fn a_field_is_noise_unless_it_differs_clearly_more_than_between_copies() {
    let mut t = Tally::new(&["c".into()], TallyConfig::default());
    t.set_noise_source(NoiseSource::Secondary);
    for id in 0..1000 {
        // /rid differs everywhere, in both pairs; /v on 10% of the
        // candidate's answers and never between primary and secondary;
        // /jitter on 5% of both.
        let mut ds = vec![diff(ptr("/rid"), Kind::Value, None)];
        let mut noise = vec![diff(ptr("/rid"), Kind::Value, None)];
        if id % 10 == 0 {
            ds.push(diff(ptr("/v"), Kind::Value, None));
        }
        if id % 20 == 1 {
            ds.push(diff(ptr("/jitter"), Kind::Value, None));
            noise.push(diff(ptr("/jitter"), Kind::Value, None));
        }
        t.record(0, "GET /x", id, &cmp(ds), None);
        t.record_noise("GET /x", &cmp(noise));
    }
    let r = t.report();
    let e = &r.targets[0].endpoints[0];
    let v = field(e, "body:/v");
    assert!(!v.noise);
    assert_eq!(v.noise_rate, Some(0.0));
    let rid = field(e, "body:/rid");
    assert!(rid.noise);
    assert_eq!(rid.noise_rate, Some(1.0));
    assert_eq!(
        rid.noise_reason.as_deref(),
        Some("differs as often between primary and secondary")
    );
    assert!(field(e, "body:/jitter").noise);
    assert_eq!((e.differing, e.noise_only, e.equal), (100, 900, 0));
}

#[test]
fn status_mismatches_and_unlisted_differences() {
    let mut t = Tally::new(&["c".into()], TallyConfig::default());
    t.record(
        0,
        "GET /",
        1,
        &cmp(vec![diff(Field::Status, Kind::Value, None)]),
        None,
    );
    let truncated = Comparison {
        differences: vec![diff(ptr("/a"), Kind::Value, Some(Noise::Builtin("uuid")))],
        more: 5,
        uncompared: None,
    };
    t.record(0, "GET /", 2, &truncated, None);
    let r = t.report();
    let e = &r.targets[0].endpoints[0];
    assert_eq!((e.status_mismatch, e.differing), (1, 2));
}

#[test]
fn endpoints_past_the_bound_are_other() {
    let config = TallyConfig {
        max_endpoints: 2,
        ..TallyConfig::default()
    };
    let mut t = Tally::new(&["c".into()], config);
    for (i, ep) in ["GET /a", "GET /b", "GET /c", "GET /d", "GET /a"]
        .iter()
        .enumerate()
    {
        t.record(0, ep, i as u64, &cmp(vec![]), None);
    }
    let r = t.report();
    let mut names: Vec<(&str, u64)> = r.targets[0]
        .endpoints
        .iter()
        .map(|e| (e.endpoint.as_str(), e.compared))
        .collect();
    names.sort();
    assert_eq!(names, vec![("GET /a", 2), ("GET /b", 1), ("other", 2)]);
}

#[test]
fn merged_tallies_count_as_one() {
    let mut a = Tally::new(&["c".into()], TallyConfig::default());
    let mut b = Tally::new(&["c".into()], TallyConfig::default());
    let mut one = Tally::new(&["c".into()], TallyConfig::default());
    for id in 0..40u64 {
        let ds = match id % 4 {
            0 => vec![diff(ptr("/x"), Kind::Value, None)],
            1 => vec![
                diff(ptr("/y"), Kind::Missing, None),
                diff(ptr("/x"), Kind::Value, None),
            ],
            2 => vec![diff(
                Field::Header("date".into()),
                Kind::Value,
                Some(Noise::Builtin("date header")),
            )],
            _ => vec![],
        };
        let lat = Some((
            Duration::from_millis(id + 1),
            Duration::from_millis(2 * id + 2),
        ));
        let half = if id < 20 { &mut a } else { &mut b };
        half.record(0, "GET /m", id, &cmp(ds.clone()), lat);
        one.record(0, "GET /m", id, &cmp(ds), lat);
    }
    a.merge(&b);
    let (m, o) = (a.report(), one.report());
    let (em, eo) = (&m.targets[0].endpoints[0], &o.targets[0].endpoints[0]);
    assert_eq!(
        (em.compared, em.equal, em.differing, em.noise_only),
        (eo.compared, eo.equal, eo.differing, eo.noise_only)
    );
    assert_eq!(
        (em.compared, em.equal, em.differing, em.noise_only),
        (40, 10, 20, 10)
    );
    for f in ["body:/x", "body:/y", "header:date"] {
        assert_eq!(field(em, f).count, field(eo, f).count, "{f}");
    }
    let (lm, lo) = (em.latency_us.unwrap(), eo.latency_us.unwrap());
    assert_eq!(
        (lm.baseline.p99, lm.candidate.p99),
        (lo.baseline.p99, lo.candidate.p99)
    );
    let ratio = lm.ratio_p50.unwrap();
    assert!((1.9..2.1).contains(&ratio), "{ratio}");
}

#[test]
fn the_report_serializes_with_the_documented_names() {
    let mut t = Tally::new(&["http://c".into()], TallyConfig::default());
    t.record(
        0,
        "GET /",
        7,
        &cmp(vec![diff(ptr("/a"), Kind::Extra, None)]),
        None,
    );
    let v = serde_json::to_value(t.report()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["noise_source"], "rules");
    assert_eq!(v["targets"][0]["target"], "http://c");
    assert!(v["overall"].get("target").is_none());
    let f = &v["targets"][0]["endpoints"][0]["fields"][0];
    assert_eq!(f["path"], "body:/a");
    assert_eq!(f["kind"], "extra");
    assert_eq!(f["kinds"]["extra"], 1);
    assert_eq!(f["examples"][0]["request_id"], 7);
    assert_eq!(v["overall"]["diff_rate"], 1.0);
}
