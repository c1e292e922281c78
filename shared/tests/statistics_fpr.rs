//! False-positive rate and power of the statistical gates, by seeded
//! simulation of the real judge functions (issue 3: "document the method and
//! its false positive rate on synthetic identical distributions ... in a
//! test"; issue 16: "an A/A comparison of any distribution never fails more
//! often than alpha plus its interval; a shift of k x (its spread) is caught
//! with the power the docs state").
//!
//! Two kinds of test:
//! - properties (proptest): for any distribution proptest generates, with any
//!   location, scale, rounding and sample sizes, the rank test objects to a
//!   canary drawn from the baseline's own distribution no more often than
//!   alpha allows; and for the shapes docs/statistics.md lists, a shift of k
//!   standard deviations is caught with the power the docs state;
//! - fixed scenarios: a few of the table's rows at fewer trials.
//!
//! How a rate is judged: the simulation counts objections in `n` trials and
//! takes the two-sided 99.99% Clopper-Pearson interval of the rate (exact
//! binomial, from `statrs`). "At most alpha" holds unless the whole interval
//! lies above alpha; "equals x" holds while x is inside the interval. A
//! correct implementation fails one such check with probability at most
//! 5e-5 (one tail), so across the few dozen checks here a false alarm has
//! probability about 1e-3 for a random seed, and with the fixed seeds below
//! (proptest's seed too) the outcome is reproducible: these tests cannot
//! flake. They can fail: judging at alpha 0.07 while checking against 0.05,
//! or stating a power 0.03 off, makes them fail (see the report of issue 16).
//!
//! The full table, 100,000 trials a row with 95% intervals, is printed by
//! `shared/examples/fpr.rs`; the simulation code is shared with it
//! (`simulation/mod.rs`). Assumption built into both: per-period values are
//! independent; the last test measures what autocorrelation does.

mod simulation;

use metric_gate::judge::statistics::{Direction, ProportionOptions, RankTestOptions, Tolerance};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use simulation::{
    autocorrelated_objections, proportion_failures, rank_objections, Count, ProportionScenario,
    RankScenario, Shape, ALPHA, POWER_SHAPES,
};

/// Confidence of the intervals the checks use: 99.99%.
const CONFIDENCE: f64 = 0.9999;

/// Trials per generated case: enough for the interval's half-width to be
/// about 0.024 at alpha 0.05, few enough for a debug build to run a case in
/// a fraction of a second.
const PROPERTY_TRIALS: u64 = 1000;

/// Trials per stated power figure.
const POWER_TRIALS: u64 = 2000;

/// Trials per generated case of the proportion test, which is cheaper per
/// trial: the interval's half-width is about 0.006 at alpha 0.05.
const PROPORTION_TRIALS: u64 = 20_000;

/// Trials of each fixed scenario.
const TRIALS: u64 = 4000;

/// The alpha the judge is run at; a separate name from `ALPHA`, the level
/// the checks hold it to, so that setting this to 0.07 shows the checks fail.
const JUDGED_AT: f64 = ALPHA;

/// The power docs/statistics.md states (section 4, from `shared/examples/fpr.rs`
/// at 100,000 trials a row) for a canary shifted by k standard deviations, 30
/// values a side, one-sided at alpha 0.05, in the order of `POWER_SHAPES`.
const STATED_POWER: [(f64, [f64; 6]); 2] = [
    (0.5, [0.5873, 0.5696, 0.8524, 0.7583, 0.8230, 0.6757]),
    (1.0, [0.9815, 0.9673, 0.9984, 0.9969, 0.9993, 0.9929]),
];

fn at_most_alpha(count: &Count) -> Result<(), String> {
    let (lower, upper) = count.interval(CONFIDENCE);
    if lower <= ALPHA {
        Ok(())
    } else {
        Err(format!(
            "objected in {} of {} trials: rate {:.4}, 99.99% interval {lower:.4}-{upper:.4}, above alpha {ALPHA}",
            count.hits,
            count.trials,
            count.rate()
        ))
    }
}

fn about(count: &Count, expected: f64) -> Result<(), String> {
    let (lower, upper) = count.interval(CONFIDENCE);
    if (lower..=upper).contains(&expected) {
        Ok(())
    } else {
        Err(format!(
            "objected in {} of {} trials: rate {:.4}, 99.99% interval {lower:.4}-{upper:.4}, which excludes {expected}",
            count.hits,
            count.trials,
            count.rate()
        ))
    }
}

fn rank_options(direction: Direction) -> RankTestOptions {
    RankTestOptions {
        alpha: JUDGED_AT,
        direction,
        ..RankTestOptions::default()
    }
}

/// Any distribution the module can draw: continuous ones with light, heavy
/// and no tails, skewed ones, and counts with many ties.
fn any_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Normal),
        Just(Shape::Uniform),
        Just(Shape::Exponential),
        Just(Shape::Gumbel),
        Just(Shape::Cauchy),
        (0.05..2.5_f64).prop_map(|sigma| Shape::LogNormal { sigma }),
        (1.0..10.0_f64).prop_map(|degrees| Shape::StudentT { degrees }),
        (0.2..30.0_f64).prop_map(|mean| Shape::Poisson { mean }),
        (0.3..0.98_f64, 0.1..5.0_f64).prop_map(|(zeros, mean)| Shape::MostlyZero { zeros, mean }),
    ]
}

fn any_direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Increase),
        Just(Direction::Decrease),
        Just(Direction::Either)
    ]
}

prop_compose! {
    /// Canary and baseline from one distribution: any shape, location and
    /// scale, rounded to a grid or not (ties), 10 (the minimum judged) to 60
    /// values a side, any direction of concern.
    fn identical_sides()(
        shape in any_shape(),
        location in -1000.0..1000.0_f64,
        log_scale in -3.0..3.0_f64,
        grid in prop_oneof![Just(0.0), 0.05..2.0_f64],
        canary_values in 10..=60_usize,
        baseline_values in 10..=60_usize,
        direction in any_direction(),
    ) -> RankScenario {
        let scale = 10_f64.powf(log_scale);
        RankScenario {
            location,
            scale,
            round_to: grid * scale,
            canary_values: canary_values..=canary_values,
            baseline_values: baseline_values..=baseline_values,
            ..RankScenario::identical(shape, 10..=10, rank_options(direction))
        }
    }
}

/// proptest's configuration here: a fixed seed (so the generated cases are
/// the same on every run), no failure files, few shrink steps (a case costs
/// up to 20,000 judgements).
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(16),
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// An A/A comparison of any distribution never draws an objection more
    /// often than alpha (plus its interval).
    #[test]
    fn an_identical_canary_is_objected_to_at_most_alpha_of_the_time(
        scenario in identical_sides(),
        seed in any::<u64>(),
    ) {
        let count = rank_objections(&scenario, seed, PROPERTY_TRIALS);
        if let Err(problem) = at_most_alpha(&count) {
            return Err(TestCaseError::fail(format!("{problem} ({})", count.tests_used())));
        }
    }

}

/// A canary shifted by k standard deviations is caught with the power
/// docs/statistics.md states, for every shape and shift the docs list, at a
/// location and scale drawn at random (the rank test is invariant to both,
/// so the stated figure holds for all of them). Not a proptest: each of the
/// twelve figures is checked, every run, at `POWER_TRIALS` trials. At that
/// count the 99.99% interval resolves a misstatement of about 0.045 where
/// the power is near 0.6, and of about 0.012 where it is near 0.98.
#[test]
fn a_shift_of_k_spreads_is_caught_with_the_stated_power() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    let mut problems = Vec::new();
    for (spreads, powers) in STATED_POWER {
        for ((name, shape), stated) in POWER_SHAPES.into_iter().zip(powers) {
            let scenario = RankScenario {
                location: rng.random_range(-1000.0..1000.0),
                scale: 10_f64.powf(rng.random_range(-3.0..3.0)),
                canary_shift_in_spreads: spreads,
                ..RankScenario::identical(shape, 30..=30, rank_options(Direction::Increase))
            };
            let count = rank_objections(&scenario, rng.random(), POWER_TRIALS);
            if let Err(problem) = about(&count, stated) {
                problems.push(format!("{name} shifted by {spreads} sd: {problem}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

prop_compose! {
    /// Error counts on both sides at the null boundary: any baseline rate,
    /// the canary's rate exactly as much worse as the tolerance allows, from
    /// the minimum (100) to 20,000 canary requests, the baseline with a tenth
    /// to fifty times as many (half the cases within a factor of two).
    fn boundary_counts()(
        baseline_rate in 0.0005..0.3_f64,
        tolerance in prop_oneof![
            Just(Tolerance::Absolute(0.0)),
            (0.001..0.05_f64).prop_map(Tolerance::Absolute),
            (1.1..3.0_f64).prop_map(Tolerance::Relative),
        ],
        canary_requests in 100..=20_000_u64,
        baseline_per_canary in prop_oneof![0.5..2.0_f64, 0.1..0.5_f64, 2.0..50.0_f64],
    ) -> ProportionScenario {
        let baseline_requests = ((canary_requests as f64 * baseline_per_canary) as u64).max(100);
        let canary_rate = match tolerance {
            Tolerance::Absolute(d) => baseline_rate + d,
            Tolerance::Relative(r) => (baseline_rate * r).min(1.0),
        };
        ProportionScenario {
            baseline_rate,
            canary_rate,
            canary_requests: canary_requests..=canary_requests,
            baseline_requests: baseline_requests..=baseline_requests,
            options: ProportionOptions {
                alpha: JUDGED_AT,
                tolerance,
                ..ProportionOptions::default()
            },
        }
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// A canary exactly as much worse as the tolerance allows (or as good as
    /// the baseline, without one) fails no more often than alpha allows,
    /// however the traffic is split. (Before the score test's skewness
    /// correction this held only with the sides within a factor of two.)
    #[test]
    fn a_canary_on_the_tolerance_boundary_fails_at_most_alpha_of_the_time(
        scenario in boundary_counts(),
        seed in any::<u64>(),
    ) {
        let count = proportion_failures(&scenario, seed, PROPORTION_TRIALS);
        if let Err(problem) = at_most_alpha(&count) {
            return Err(TestCaseError::fail(format!("{problem} ({})", count.tests_used())));
        }
    }
}

fn proportion_scenario(
    baseline_rate: f64,
    canary_rate: f64,
    requests: std::ops::RangeInclusive<u64>,
    tolerance: Tolerance,
) -> ProportionScenario {
    ProportionScenario {
        baseline_rate,
        canary_rate,
        canary_requests: requests.clone(),
        baseline_requests: requests,
        options: ProportionOptions {
            alpha: JUDGED_AT,
            tolerance,
            ..ProportionOptions::default()
        },
    }
}

#[test]
fn rank_test_false_positive_rate_is_alpha_on_identical_lognormals() {
    // Not merely at most alpha (the property) but about alpha: the test
    // spends the error it is allowed, so it is not needlessly blind.
    let scenario = RankScenario {
        scale: 0.120,
        ..RankScenario::identical(
            Shape::LogNormal { sigma: 0.5 },
            30..=60,
            rank_options(Direction::Either),
        )
    };
    let count = rank_objections(&scenario, 1, TRIALS);
    about(&count, ALPHA).unwrap_or_else(|problem| panic!("{problem}"));
}

#[test]
fn proportion_test_false_positive_rate_is_alpha_on_identical_rates() {
    // 2% errors on 1000-5000 requests a side: the score z-test.
    let scenario = proportion_scenario(0.02, 0.02, 1000..=5000, Tolerance::Absolute(0.0));
    let count = proportion_failures(&scenario, 6, TRIALS);
    about(&count, ALPHA).unwrap_or_else(|problem| panic!("{problem}"));
}

#[test]
fn proportion_test_on_sparse_errors_never_exceeds_alpha() {
    // 0.1% errors on 1000-3000 requests: one to three expected errors a
    // side, so Fisher's exact test decides. Exact tests of discrete counts
    // are conservative: the rate may sit well below alpha, never above.
    let scenario = proportion_scenario(0.001, 0.001, 1000..=3000, Tolerance::Absolute(0.0));
    let count = proportion_failures(&scenario, 7, TRIALS);
    at_most_alpha(&count).unwrap_or_else(|problem| panic!("{problem}"));
}

#[test]
fn proportion_test_at_the_tolerance_boundary_fails_at_about_alpha() {
    // A canary exactly as much worse as allowed sits on the null boundary:
    // it should fail about alpha of the time, whichever tolerance is used.
    for (tolerance, seed) in [
        (Tolerance::Absolute(0.005), 8),
        (Tolerance::Relative(1.5), 9),
    ] {
        let scenario = proportion_scenario(0.01, 0.015, 2000..=6000, tolerance);
        let count = proportion_failures(&scenario, seed, TRIALS);
        about(&count, ALPHA).unwrap_or_else(|problem| panic!("{tolerance:?}: {problem}"));
    }
}

#[test]
fn proportion_test_detects_a_doubled_error_rate() {
    let doubled = proportion_scenario(0.01, 0.02, 3000..=5000, Tolerance::Absolute(0.0));
    let count = proportion_failures(&doubled, 10, TRIALS);
    assert!(
        count.interval(CONFIDENCE).1 >= 0.95,
        "detected a doubled error rate in only {} of {} trials",
        count.hits,
        count.trials
    );
}

/// Trials per generated case of the unbalanced property: the 99.99%
/// interval's half-width is about 0.0045 at alpha 0.05, narrow enough that
/// the uncorrected score test's 0.055-0.058 on a 1:10 to 1:50 split lies
/// wholly above alpha.
const UNBALANCED_TRIALS: u64 = 40_000;

prop_compose! {
    /// An A/A comparison with unbalanced traffic, as a canary deployment
    /// splits it: the same error rate on both sides, the canary with a half
    /// to a fiftieth of the baseline's requests (1:10 and 1:50 each a third
    /// of the cases, the rest anywhere between), from the minimum (100) to
    /// 2000 canary requests, no tolerance.
    fn unbalanced_identical_counts()(
        error_rate in 0.002..0.3_f64,
        baseline_per_canary in prop_oneof![Just(10.0), Just(50.0), 2.0..50.0_f64],
        canary_requests in 100..=2000_u64,
    ) -> ProportionScenario {
        let baseline_requests = (canary_requests as f64 * baseline_per_canary).round() as u64;
        ProportionScenario {
            baseline_rate: error_rate,
            canary_rate: error_rate,
            canary_requests: canary_requests..=canary_requests,
            baseline_requests: baseline_requests..=baseline_requests,
            options: ProportionOptions {
                alpha: JUDGED_AT,
                ..ProportionOptions::default()
            },
        }
    }
}

proptest! {
    #![proptest_config(config(24))]

    /// A canary as good as the baseline fails no more often than alpha
    /// allows however unevenly the traffic is split (issue 16: "an A/A
    /// comparison of any distribution never fails more often than alpha
    /// plus its interval"). The uncorrected score z-test failed this: 0.058
    /// at 1:50 and 5% errors, 0.056 at 1:10 and 1% (docs/statistics.md,
    /// section 5); the skewness-corrected one holds it.
    #[test]
    fn an_unbalanced_identical_canary_fails_at_most_alpha_of_the_time(
        scenario in unbalanced_identical_counts(),
        seed in any::<u64>(),
    ) {
        let count = proportion_failures(&scenario, seed, UNBALANCED_TRIALS);
        if let Err(problem) = at_most_alpha(&count) {
            return Err(TestCaseError::fail(format!("{problem} ({})", count.tests_used())));
        }
    }
}

#[test]
fn autocorrelation_inflates_the_rank_test_false_positive_rate() {
    // Not a property to keep but a limitation to measure: per-minute values
    // of a real service drift (AR(1) on the log scale, phi = 0.5), the two
    // samples still come from the same process, and the test, which assumes
    // independent values, objects far more often than alpha. The docs
    // quote this number; a policy should judge longer windows or coarser
    // periods rather than trust alpha on autocorrelated series.
    let count =
        autocorrelated_objections(0.5, 0.35, &rank_options(Direction::Either), 12, TRIALS / 2);
    assert!(
        count.interval(CONFIDENCE).0 > ALPHA,
        "expected autocorrelation to inflate the false positive rate, measured {}",
        count.rate()
    );
}
