//! Properties of the comparison tally, whatever comparisons it is fed:
//! every request is counted once (equal, noise only or differing), the
//! bounds hold, merging two tallies is tallying both, and a field that
//! differs between two copies of the baseline as often as between the
//! candidate and the baseline is noise.

use proptest::prelude::*;
use shadowtap_replay::compare::tally::{
    ComparisonReport, EndpointReport, Tally, TallyConfig, MAX_EXAMPLES, MAX_FIELDS, OTHER,
};
use shadowtap_replay::compare::{Comparison, Difference, Field, Kind, Noise};

/// A comparison: each `(field, kind, rule noise)` a difference.
fn comparison(diffs: &[(u8, u8, bool)]) -> Comparison {
    let mut c = Comparison::default();
    for &(f, k, noise) in diffs {
        let field = match f % 4 {
            0 => Field::Status,
            1 => Field::Header(format!("x-h{}", f % 7)),
            2 => Field::Body,
            _ => Field::Pointer(format!("/a/{}", f % 11)),
        };
        let kind = [
            Kind::Value,
            Kind::Type,
            Kind::Missing,
            Kind::Extra,
            Kind::Length,
            Kind::Order,
        ][usize::from(k % 6)];
        c.differences.push(Difference {
            field,
            kind,
            baseline: Some(format!("b{f}")),
            candidate: Some(format!("c{f}")),
            noise: noise.then_some(Noise::Builtin("timestamp")),
        });
    }
    c
}

/// A request as fed to the tally.
type Request = (usize, u8, Vec<(u8, u8, bool)>, bool);

/// One request to one of `endpoints` endpoints: its target, endpoint,
/// differences, and whether it failed.
fn request(endpoints: u8) -> impl Strategy<Value = Request> {
    (
        0..2usize,
        0..endpoints,
        proptest::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..5),
        proptest::bool::weighted(0.1),
    )
}

fn config() -> TallyConfig {
    TallyConfig {
        max_endpoints: 8,
        ..TallyConfig::default()
    }
}

fn feed(t: &mut Tally, reqs: &[Request], first_id: u64) {
    for (i, (target, endpoint, diffs, error)) in reqs.iter().enumerate() {
        let name = format!("GET /e{endpoint}");
        if *error {
            t.record_error(*target, &name);
        } else {
            t.record(
                *target,
                &name,
                first_id + i as u64,
                &comparison(diffs),
                None,
            );
        }
    }
}

/// An endpoint's name, request counts, and (path, count, noise) per field.
type Counts = (String, Vec<u64>, Vec<(String, u64, bool)>);

/// The counts of an endpoint, without its examples (merging keeps the
/// first examples of each side, not those of a single tally).
fn counts(e: &EndpointReport) -> Counts {
    let mut fields: Vec<(String, u64, bool)> = e
        .fields
        .iter()
        .map(|f| (f.path.clone(), f.count, f.noise))
        .collect();
    fields.sort();
    (
        e.endpoint.clone(),
        vec![
            e.compared,
            e.equal,
            e.differing,
            e.noise_only,
            e.errors,
            e.status_mismatch,
        ],
        fields,
    )
}

fn all_counts(r: &ComparisonReport) -> Vec<Vec<Counts>> {
    r.targets
        .iter()
        .map(|t| {
            let mut v: Vec<_> = t.endpoints.iter().map(counts).collect();
            v.sort();
            v
        })
        .collect()
}

proptest! {
    #[test]
    fn every_request_is_counted_once_and_the_bounds_hold(
        reqs in proptest::collection::vec(request(12), 0..300),
    ) {
        let targets = ["http://a".to_owned(), "http://b".to_owned()];
        let mut t = Tally::new(&targets, config());
        feed(&mut t, &reqs, 0);
        let r = t.report();
        let mut overall = 0;
        for (i, target) in r.targets.iter().enumerate() {
            let sent: Vec<_> = reqs.iter().filter(|q| q.0 == i).collect();
            let compared = sent.iter().filter(|q| !q.3).count() as u64;
            let errors = sent.iter().filter(|q| q.3).count() as u64;
            prop_assert_eq!(target.compared, compared);
            prop_assert_eq!(target.errors, errors);
            prop_assert_eq!(target.compared, target.equal + target.differing + target.noise_only);
            let equal = sent.iter().filter(|q| !q.3 && q.2.is_empty()).count() as u64;
            prop_assert_eq!(target.equal, equal);
            // Endpoints past the bound are one `other`.
            prop_assert!(target.endpoints.len() <= config().max_endpoints + 1);
            let mut sum = 0;
            for e in &target.endpoints {
                prop_assert_eq!(e.compared, e.equal + e.differing + e.noise_only);
                prop_assert!(e.fields.len() <= MAX_FIELDS);
                for f in &e.fields {
                    prop_assert!(f.examples.len() <= MAX_EXAMPLES);
                    prop_assert!(f.count <= e.compared);
                }
                sum += e.compared;
                if e.endpoint == OTHER {
                    prop_assert_eq!(target.endpoints.len(), config().max_endpoints + 1);
                }
            }
            prop_assert_eq!(sum, target.compared);
            overall += target.compared;
        }
        prop_assert_eq!(r.overall.compared, overall);
    }

    #[test]
    fn merging_two_tallies_is_tallying_both(
        // No more endpoints than the bound: past it, which ones are
        // `other` depends on the order they came in.
        a in proptest::collection::vec(request(8), 0..150),
        b in proptest::collection::vec(request(8), 0..150),
    ) {
        let targets = ["http://a".to_owned(), "http://b".to_owned()];
        let mut whole = Tally::new(&targets, config());
        feed(&mut whole, &a, 0);
        feed(&mut whole, &b, 1_000);
        let mut left = Tally::new(&targets, config());
        feed(&mut left, &a, 0);
        let mut right = Tally::new(&targets, config());
        feed(&mut right, &b, 1_000);
        left.merge(&right);
        prop_assert_eq!(all_counts(&left.report()), all_counts(&whole.report()));
    }

    #[test]
    fn differences_as_frequent_between_two_copies_are_noise(
        reqs in proptest::collection::vec(
            proptest::collection::vec((any::<u8>(), any::<u8>()), 1..4), 1..100),
    ) {
        let mut t = Tally::new(&["http://a".to_owned()], TallyConfig::default());
        for (i, diffs) in reqs.iter().enumerate() {
            let c = comparison(&diffs.iter().map(|&(f, k)| (f, k, false)).collect::<Vec<_>>());
            t.record(0, "GET /e", i as u64, &c, None);
            // The two copies differed in the same fields on the same
            // requests.
            t.record_noise("GET /e", &c);
        }
        let r = t.report();
        let e = &r.targets[0].endpoints[0];
        prop_assert_eq!(e.differing, 0, "{:#?}", e);
        prop_assert_eq!(e.noise_only, reqs.len() as u64);
        for f in &e.fields {
            prop_assert!(f.noise, "{:#?}", f);
        }
    }
}
