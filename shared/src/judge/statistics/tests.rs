//! Unit tests of the statistics: published or hand-computed reference values,
//! properties that must hold whatever the data, and the edge cases (no data,
//! NaN, zero errors, bad options). Reference p-values marked "SciPy" were
//! computed with SciPy 1.17 (`scipy.stats.mannwhitneyu`, `fisher_exact`,
//! `binomtest`; the Farrington-Manning restricted estimates with
//! `scipy.optimize.minimize_scalar`); the others are worked out in comments.
//! The false-positive-rate simulations live in `shared/tests/statistics_fpr.rs`.

use super::mann_whitney::{exact_p, u_frequencies, EXACT_MAX_TOTAL_LIMIT};
use super::*;
use crate::judge::GateOutcome;

fn close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "expected {expected}, got {actual} (tolerance {tolerance})"
    );
}

fn p_of(c: &[f64], b: &[f64], alternative: Alternative, exact_max_total: usize) -> MannWhitney {
    mann_whitney(c, b, alternative, exact_max_total).expect("valid samples")
}

// ---- Mann-Whitney: reference values ----

#[test]
fn exact_u_when_every_canary_value_is_above_every_baseline_value() {
    // By hand: U counts the 3 x 3 pairs where the canary is larger: all 9.
    // Of the C(6, 3) = 20 equally likely orderings only one puts the three
    // canary values on top, so P(U >= 9) = 1/20 = 0.05; two-sided 0.1.
    let (c, b) = ([4.0, 5.0, 6.0], [1.0, 2.0, 3.0]);
    let greater = p_of(&c, &b, Alternative::Greater, 100);
    assert_eq!(greater.u, 9.0);
    assert_eq!(greater.method, RankMethod::Exact);
    close(greater.p_value, 0.05, 1e-15);
    close(p_of(&c, &b, Alternative::TwoSided, 100).p_value, 0.1, 1e-15);
    close(p_of(&c, &b, Alternative::Less, 100).p_value, 1.0, 1e-15);
    close(greater.probability_of_superiority, 1.0, 0.0);
}

#[test]
fn exact_u_frequencies_are_the_gaussian_binomial_coefficients() {
    // By hand, m = n = 2: the 6 orderings of AABB give U = 0,1,2,2,3,4.
    assert_eq!(u_frequencies(2, 2, 4), vec![1, 1, 2, 1, 1]);
    // m = 1: every U in 0..=n once.
    assert_eq!(u_frequencies(1, 4, 4), vec![1; 5]);
    // The largest allowed sizes: counts sum to C(m + n, m) and are symmetric.
    let counts = u_frequencies(60, 60, 3600);
    let total: i128 = counts.iter().sum();
    // C(120, 60), exactly.
    assert_eq!(total, 96_614_908_840_363_322_603_893_139_521_372_656_i128);
    assert!(counts.iter().eq(counts.iter().rev()));
    assert!(counts.iter().all(|&c| c >= 1));
    assert_eq!(EXACT_MAX_TOTAL_LIMIT, 120);
    // Truncated at the middle, the lower half is the same.
    assert_eq!(u_frequencies(60, 60, 1800), counts[..=1800].to_vec());
    assert_eq!(
        u_frequencies(3, 5, 7),
        u_frequencies(3, 5, 15)[..=7].to_vec()
    );
}

#[test]
fn exact_tails_read_from_half_the_distribution_equal_full_sums() {
    // Every U for every size up to 7 x 8 (odd and even numbers of pairs):
    // the half-distribution shortcut against plain sums of all counts.
    for m in 1..=7 {
        for n in m..=8 {
            let counts = u_frequencies(m, n, m * n);
            let total: i128 = counts.iter().sum();
            for u in 0..=m * n {
                let upper = counts[u..].iter().sum::<i128>() as f64 / total as f64;
                let lower = counts[..=u].iter().sum::<i128>() as f64 / total as f64;
                close(exact_p(m, n, u, Alternative::Greater), upper, 1e-14);
                close(exact_p(n, m, u, Alternative::Less), lower, 1e-14);
                let two = (2.0 * upper.min(lower)).min(1.0);
                close(exact_p(m, n, u, Alternative::TwoSided), two, 1e-14);
            }
        }
    }
}

#[test]
fn exact_p_values_match_scipy_on_a_latency_like_example() {
    let c = [
        12.1, 15.3, 9.8, 14.2, 18.7, 11.0, 16.4, 13.3, 17.9, 10.5, 19.2, 14.9,
    ];
    let b = [
        9.1, 10.2, 8.7, 11.5, 12.6, 9.9, 13.1, 7.8, 10.8, 12.0, 8.3, 11.1, 14.0, 9.4, 10.0,
    ];
    let greater = p_of(&c, &b, Alternative::Greater, 100);
    assert_eq!(greater.u, 153.0);
    assert_eq!(greater.method, RankMethod::Exact);
    // SciPy, method="exact".
    close(greater.p_value, 0.0007106591976695625, 1e-12);
    close(
        p_of(&c, &b, Alternative::Less, 100).p_value,
        0.9994221076331724,
        1e-12,
    );
    close(
        p_of(&c, &b, Alternative::TwoSided, 100).p_value,
        0.001421318395339125,
        1e-12,
    );
    // SciPy, method="asymptotic" (continuity-corrected), forced with a 0 limit.
    let normal = p_of(&c, &b, Alternative::Greater, 0);
    assert_eq!(normal.method, RankMethod::NormalApproximation);
    close(normal.p_value, 0.0011453970798940287, 1e-9);
    close(
        p_of(&c, &b, Alternative::Less, 0).p_value,
        0.9990274284722475,
        1e-9,
    );
    close(
        p_of(&c, &b, Alternative::TwoSided, 0).p_value,
        0.0022907941597880574,
        1e-9,
    );
}

#[test]
fn tie_corrected_normal_approximation_matches_scipy() {
    // Ranks of the 15 values (mid-ranks for ties):
    //   0 -> 1; 1 x3 -> 3; 2 x3 -> 6; 3 x3 -> 9; 4 x2 -> 11.5; 5 x2 -> 13.5; 6 -> 15.
    // Canary rank sum = 3 + 6 + 6 + 9 + 11.5 + 13.5 + 13.5 + 15 = 77.5,
    // U = 77.5 - 8 x 9 / 2 = 41.5 (of 56 pairs; mean 28).
    let c = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 5.0, 6.0];
    let b = [0.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0];
    let greater = p_of(&c, &b, Alternative::Greater, 100);
    assert_eq!(greater.u, 41.5);
    assert!(greater.ties);
    assert_eq!(greater.method, RankMethod::NormalApproximation);
    // SciPy, method="asymptotic", use_continuity=True.
    close(greater.p_value, 0.06380139459073368, 1e-9);
    close(
        p_of(&c, &b, Alternative::Less, 100).p_value,
        0.9495831584302612,
        1e-9,
    );
    close(
        p_of(&c, &b, Alternative::TwoSided, 100).p_value,
        0.12760278918146736,
        1e-9,
    );
}

// ---- Mann-Whitney: properties ----

#[test]
fn swapping_the_samples_flips_the_direction() {
    let c = [3.1, 4.7, 2.2, 5.9, 4.4, 3.8, 6.1, 5.0];
    let b = [2.0, 3.3, 1.9, 2.8, 4.1, 2.5, 3.0];
    for limit in [0, 100] {
        let forward = p_of(&c, &b, Alternative::Greater, limit);
        let backward = p_of(&b, &c, Alternative::Less, limit);
        close(forward.p_value, backward.p_value, 1e-12);
        close(forward.u + backward.u, (c.len() * b.len()) as f64, 0.0);
        close(
            p_of(&c, &b, Alternative::TwoSided, limit).p_value,
            p_of(&b, &c, Alternative::TwoSided, limit).p_value,
            1e-12,
        );
    }
    let options = RankTestOptions {
        direction: Direction::Either,
        min_values: 5,
        ..RankTestOptions::default()
    };
    let up = compare_samples(&c, &b, &options).unwrap();
    let down = compare_samples(&b, &c, &options).unwrap();
    assert_eq!(up.classification, Classification::High, "{}", up.reason);
    assert_eq!(down.classification, Classification::Low, "{}", down.reason);
}

#[test]
fn identical_samples_pass_in_every_direction() {
    let values: Vec<f64> = (0..40).map(|i| 100.0 + (i * 37 % 23) as f64).collect();
    for direction in [Direction::Increase, Direction::Decrease, Direction::Either] {
        let options = RankTestOptions {
            direction,
            ..RankTestOptions::default()
        };
        let result = compare_samples(&values, &values, &options).unwrap();
        assert_eq!(
            result.classification,
            Classification::Pass,
            "{}",
            result.reason
        );
        assert_eq!(result.effect_ratio, Some(1.0));
        let test = result.test.unwrap();
        assert_eq!(test.u, test.mean_u);
        assert!(test.p_value >= 0.5);
    }
}

#[test]
fn all_values_equal_gives_no_evidence() {
    let test = p_of(&[0.5, 0.5], &[0.5, 0.5, 0.5], Alternative::TwoSided, 100);
    // SciPy agrees: U = 3, p = 1.
    assert_eq!(test.u, 3.0);
    assert_eq!(test.p_value, 1.0);
}

#[test]
fn direction_of_concern_decides_what_counts() {
    let baseline: Vec<f64> = (0..30).map(|i| 100.0 + i as f64).collect();
    let slower: Vec<f64> = baseline.iter().map(|v| v * 1.5).collect();
    let faster: Vec<f64> = baseline.iter().map(|v| v / 1.5).collect();
    let classify = |canary: &[f64], direction| {
        let options = RankTestOptions {
            direction,
            ..RankTestOptions::default()
        };
        compare_samples(canary, &baseline, &options)
            .unwrap()
            .classification
    };
    assert_eq!(classify(&slower, Direction::Increase), Classification::High);
    assert_eq!(classify(&slower, Direction::Either), Classification::High);
    // A High on a metric where only a decrease is bad is a pass.
    assert_eq!(classify(&slower, Direction::Decrease), Classification::Pass);
    assert_eq!(classify(&faster, Direction::Increase), Classification::Pass);
    assert_eq!(classify(&faster, Direction::Decrease), Classification::Low);
    assert_eq!(classify(&faster, Direction::Either), Classification::Low);
}

#[test]
fn a_significant_shift_inside_the_effect_tolerance_passes() {
    // 5% slower, every value: overwhelmingly significant, small in effect.
    let baseline: Vec<f64> = (0..50).map(|i| 200.0 + (i % 10) as f64).collect();
    let canary: Vec<f64> = baseline.iter().map(|v| v * 1.05).collect();
    let strict = compare_samples(&canary, &baseline, &RankTestOptions::default()).unwrap();
    assert_eq!(
        strict.classification,
        Classification::High,
        "{}",
        strict.reason
    );
    let tolerant = RankTestOptions {
        effect: EffectTolerance {
            allowed_increase: 1.1,
            allowed_decrease: 1.0,
        },
        ..RankTestOptions::default()
    };
    let result = compare_samples(&canary, &baseline, &tolerant).unwrap();
    assert_eq!(result.classification, Classification::Pass);
    assert!(result.test.unwrap().p_value < 1e-6);
    close(result.effect_ratio.unwrap(), 1.05, 1e-12);
    assert!(
        result.reason.contains("within the allowed 1.1x"),
        "{}",
        result.reason
    );
}

#[test]
fn nan_strategy_remove_can_leave_too_few_values() {
    let baseline: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let mut canary = vec![f64::NAN; 4];
    canary.extend((0..8).map(|i| i as f64 + 0.5));
    let removed = compare_samples(&canary, &baseline, &RankTestOptions::default()).unwrap();
    assert_eq!(removed.classification, Classification::NoData);
    assert_eq!((removed.canary_count, removed.canary_non_finite), (8, 4));
    assert!(removed.test.is_none());
    assert!(
        removed
            .reason
            .contains("canary 8 (after removing 4 without a value)"),
        "{}",
        removed.reason
    );
    let replaced = RankTestOptions {
        nan_strategy: NanStrategy::ReplaceWithZero,
        ..RankTestOptions::default()
    };
    let result = compare_samples(&canary, &baseline, &replaced).unwrap();
    assert_ne!(result.classification, Classification::NoData);
    assert_eq!(result.canary_count, 12);
    assert!(result.test.unwrap().ties);
}

#[test]
fn the_median_ratio_handles_a_zero_baseline() {
    let zeros = vec![0.0; 20];
    let ones = vec![1.0; 20];
    let result = compare_samples(&ones, &zeros, &RankTestOptions::default()).unwrap();
    assert_eq!(result.effect_ratio, Some(f64::INFINITY));
    assert_eq!(result.classification, Classification::High);
    let both = compare_samples(&zeros, &zeros, &RankTestOptions::default()).unwrap();
    assert_eq!(both.effect_ratio, Some(1.0));
    assert_eq!(both.classification, Classification::Pass);
}

#[test]
fn the_mean_ratio_catches_an_increase_when_the_medians_tie() {
    // Issue 16's example: a counter that is 0 in most periods. Both medians
    // are 0, so the median ratio is 1 and a significant increase
    // (p = 4.1e-4) passed "within the allowed 1x"; the means are 1.35 and 0.
    let mut canary = vec![0.0; 11];
    canary.extend([3.0; 9]);
    let baseline = [0.0; 20];
    let median = compare_samples(&canary, &baseline, &RankTestOptions::default()).unwrap();
    assert_eq!(median.classification, Classification::Pass);
    close(median.test.unwrap().p_value, 4.1e-4, 0.5e-4);
    let options = RankTestOptions {
        effect_size: EffectSize::MeanRatio,
        ..RankTestOptions::default()
    };
    let mean = compare_samples(&canary, &baseline, &options).unwrap();
    assert_eq!(mean.classification, Classification::High, "{}", mean.reason);
    assert_eq!(mean.canary_mean, Some(1.35));
    assert_eq!(mean.baseline_mean, Some(0.0));
    assert_eq!(mean.mean_ratio, Some(f64::INFINITY));
    assert!(mean.reason.contains("mean"), "{}", mean.reason);
    // The tolerance reads the means too: 1.35 against 1.0 is 1.35x.
    let baseline = [1.0; 20];
    let tolerant = RankTestOptions {
        effect: EffectTolerance {
            allowed_increase: 1.5,
            ..EffectTolerance::default()
        },
        ..options
    };
    let within = compare_samples(&canary, &baseline, &tolerant).unwrap();
    close(within.mean_ratio.unwrap(), 1.35, 1e-12);
    assert_eq!(
        within.classification,
        Classification::Pass,
        "{}",
        within.reason
    );
}

#[test]
fn a_critical_threshold_marks_only_a_large_enough_shift_as_critical() {
    // Kayenta's criticalIncrease: a High on a critical metric fails the
    // canary only beyond its own threshold. Means 23.6 against 1.96: 12.0x.
    let canary = [20.0, 22.0, 21.0, 25.0, 30.0];
    let baseline = [1.0, 2.2, 1.1, 2.5, 3.0];
    let options = |critical: Option<f64>| RankTestOptions {
        min_values: 5,
        effect_size: EffectSize::MeanRatio,
        critical: critical.map(|c| EffectTolerance {
            allowed_increase: c,
            ..EffectTolerance::default()
        }),
        ..RankTestOptions::default()
    };
    let none = compare_samples(&canary, &baseline, &options(None)).unwrap();
    assert_eq!(none.classification, Classification::High);
    assert_eq!(
        none.critical_breach, None,
        "no critical threshold: every High counts"
    );
    let beyond = compare_samples(&canary, &baseline, &options(Some(10.0))).unwrap();
    assert_eq!(beyond.critical_breach, Some(true), "{}", beyond.reason);
    let within = compare_samples(&canary, &baseline, &options(Some(13.0))).unwrap();
    assert_eq!(within.classification, Classification::High);
    assert_eq!(within.critical_breach, Some(false));
    assert!(within.reason.contains("critical"), "{}", within.reason);
    // Scored: critical and High, but within its critical threshold, it
    // only lowers the score.
    let scored = |rank: RankComparison| MetricResult {
        name: "latency".into(),
        group: None,
        weight: 1.0,
        critical: true,
        evidence: MetricEvidence::Rank(rank),
    };
    let mut metrics: Vec<MetricResult> = (0..19)
        .map(|i| metric(&format!("m{i}"), 1.0, false, Classification::Pass))
        .collect();
    metrics.push(scored(within));
    let report = score(metrics.clone(), &ScoreOptions::default()).unwrap();
    assert_eq!(report.outcome, ScoreOutcome::Pass, "{}", report.reason);
    assert!(report.critical_failures.is_empty());
    metrics.pop();
    metrics.push(scored(beyond));
    let report = score(metrics, &ScoreOptions::default()).unwrap();
    assert_eq!(report.outcome, ScoreOutcome::Fail, "{}", report.reason);
    // A critical threshold inside the allowed effect is refused.
    let inverted = RankTestOptions {
        effect: EffectTolerance {
            allowed_increase: 2.0,
            ..EffectTolerance::default()
        },
        ..options(Some(1.5))
    };
    assert!(matches!(
        compare_samples(&canary, &baseline, &inverted),
        Err(StatisticsError::InvalidOption {
            name: "critical.allowed_increase",
            ..
        })
    ));
}

#[test]
fn rank_inputs_and_options_are_validated() {
    assert_eq!(
        mann_whitney(&[], &[1.0], Alternative::Greater, 100),
        Err(StatisticsError::EmptySample { side: Side::Canary })
    );
    assert_eq!(
        mann_whitney(&[1.0], &[f64::NAN], Alternative::Greater, 100),
        Err(StatisticsError::NonFiniteValue {
            side: Side::Baseline
        })
    );
    let bad = [
        RankTestOptions {
            alpha: 0.0,
            ..RankTestOptions::default()
        },
        RankTestOptions {
            alpha: f64::NAN,
            ..RankTestOptions::default()
        },
        RankTestOptions {
            effect: EffectTolerance {
                allowed_increase: 0.9,
                allowed_decrease: 1.0,
            },
            ..RankTestOptions::default()
        },
        RankTestOptions {
            effect: EffectTolerance {
                allowed_increase: 1.0,
                allowed_decrease: 1.2,
            },
            ..RankTestOptions::default()
        },
        RankTestOptions {
            min_values: 0,
            ..RankTestOptions::default()
        },
        RankTestOptions {
            exact_max_total: 121,
            ..RankTestOptions::default()
        },
    ];
    for options in bad {
        let error = compare_samples(&[1.0], &[1.0], &options).unwrap_err();
        assert!(
            matches!(error, StatisticsError::InvalidOption { .. }),
            "{error}"
        );
    }
}

// ---- Two proportions ----

fn proportions(
    canary: (u64, u64),
    baseline: (u64, u64),
    options: ProportionOptions,
) -> ProportionComparison {
    compare_proportions(
        Proportion::new(canary.0, canary.1, Side::Canary).unwrap(),
        Proportion::new(baseline.0, baseline.1, Side::Baseline).unwrap(),
        &options,
    )
    .unwrap()
}

#[test]
fn pooled_z_test_matches_the_textbook_formula() {
    // By hand: 60/500 = 12% vs 40/500 = 8%; pooled p = 100/1000 = 0.1;
    // SE = sqrt(0.1 x 0.9 x (1/500 + 1/500)) = 0.018974;
    // z = 0.04 / 0.018974 = 2.10819; one-sided p = 1 - Phi(z) = 0.017507.
    let result = proportions((60, 500), (40, 500), ProportionOptions::default());
    assert_eq!(result.test, Some(ProportionTest::ScoreZ));
    close(result.z.unwrap(), 2.1081851067789197, 1e-9);
    close(result.p_value.unwrap(), 0.017507490509831244, 1e-9);
    assert_eq!(result.outcome, ProportionOutcome::Fail);
    assert_eq!(result.outcome.gate_outcome(), GateOutcome::Fail);
}

#[test]
fn an_unbalanced_score_test_is_corrected_for_the_canarys_skew() {
    // 20/1000 vs 100/10000 (2% against 1%, a tenth of the traffic), by hand:
    // pooled p = 120/11000 = 0.0109091; V = p(1 - p)(1/1000 + 1/10000)
    // = 1.18696e-5; t = 0.01 / sqrt(V) = 2.902627 (the uncorrected z, one-
    // sided p 0.00185). Third moment of the difference at p:
    // p(1 - p)(1 - 2p)(1/1000^2 - 1/10000^2) = 1.05441e-8; A = that over
    // 6 V^1.5 = 0.0425895. z solves A z^2 + z - (t + A) = 0:
    // (-1 + sqrt(1 + 4A(t + A))) / 2A = 2.646844, p = 0.004062. (SciPy gives
    // the same digits.)
    let result = proportions((20, 1000), (100, 10000), ProportionOptions::default());
    assert_eq!(result.test, Some(ProportionTest::ScoreZ));
    close(result.z.unwrap(), 2.646844182074302, 1e-9);
    close(result.p_value.unwrap(), 0.004062338984037221, 1e-9);
    assert_eq!(result.outcome, ProportionOutcome::Fail);
    // 12/150 vs 400/7500 (8% against 5.3%, a fiftieth of the traffic):
    // t = 1.432576 and p 0.0760 uncorrected, A = 0.052196, z = 1.384693.
    let small = proportions((12, 150), (400, 7500), ProportionOptions::default());
    close(small.z.unwrap(), 1.3846931309774702, 1e-9);
    close(small.p_value.unwrap(), 0.08307316017952565, 1e-9);
    // A tolerance on an unbalanced split: 10% of 200 against 3% of 10000,
    // 1 pp allowed. SciPy: t = 4.25178 (p 1.06e-5), A = 0.05339.
    let tolerance = ProportionOptions {
        tolerance: Tolerance::Absolute(0.01),
        ..ProportionOptions::default()
    };
    let beyond = proportions((20, 200), (300, 10000), tolerance);
    close(beyond.z.unwrap(), 3.609559116029667, 1e-6);
    close(beyond.p_value.unwrap(), 0.00015335893524015987, 1e-8);
}

#[test]
fn the_skewness_correction_inverts_the_cornish_fisher_expansion_and_keeps_order() {
    use super::proportion::skewness_corrected;
    // Where the expansion t = z + A (z^2 - 1) has a root, the corrected
    // statistic is it; without skew it is t itself.
    for a in [-0.08, -0.01, 0.0, 0.01, 0.05, 0.2] {
        for t in [-3.0, -1.0, 0.0, 0.5, 1.645, 3.0, 6.0] {
            let z = skewness_corrected(t, a);
            if 1.0 + 4.0 * a * (t + a) >= 0.0 {
                close(z + a * (z * z - 1.0), t, 1e-12);
            }
        }
        close(skewness_corrected(1.7, 0.0), 1.7, 0.0);
    }
    // Increasing in t everywhere, through the vertex where the expansion
    // has no root (for A = -0.1 at t = 2.6, for A = 0.1 at t = -2.6), and
    // never less extreme than the vertex: a canary with many more requests
    // than the baseline can still fail however small alpha is.
    for a in [-0.1, 0.1] {
        let mut previous = f64::NEG_INFINITY;
        for step in -1000..=1000 {
            let z = skewness_corrected(f64::from(step) / 50.0, a);
            assert!(
                z >= previous,
                "A = {a}: {z} after {previous} at t = {}",
                f64::from(step) / 50.0
            );
            previous = z;
        }
    }
    assert_eq!(skewness_corrected(20.0, -0.1), 20.0);
    assert_eq!(skewness_corrected(-20.0, 0.1), -20.0);
    assert!(skewness_corrected(f64::INFINITY, 0.1).is_infinite());
}

#[test]
fn fisher_exact_matches_the_tea_tasting_example() {
    // Fisher's lady tasting tea: 3 of 4 right vs 1 of 4. One-sided p =
    // (C(4,3) C(4,1) + C(4,4) C(4,0)) / C(8,4) = (16 + 1) / 70 = 0.242857.
    let options = ProportionOptions {
        min_trials: 1,
        ..ProportionOptions::default()
    };
    let result = proportions((3, 4), (1, 4), options);
    assert_eq!(result.test, Some(ProportionTest::FisherExact));
    close(result.p_value.unwrap(), 17.0 / 70.0, 1e-12);
    assert_eq!(result.outcome, ProportionOutcome::Pass);
}

#[test]
fn sparse_errors_on_a_baseline_without_errors_fail() {
    let result = proportions((8, 1000), (0, 5000), ProportionOptions::default());
    assert_eq!(result.test, Some(ProportionTest::FisherExact));
    // SciPy fisher_exact([[8, 992], [0, 5000]], alternative="greater").
    close(result.p_value.unwrap(), 5.816032027150682e-07, 1e-15);
    assert_eq!(result.outcome, ProportionOutcome::Fail, "{}", result.reason);
    assert_eq!(result.baseline_rate, Some(0.0));
    assert!(
        result
            .reason
            .contains("0.8% (8/1000) vs baseline 0% (0/5000)")
            && result.reason.contains("no worse than baseline")
            && result.reason.contains("p = 5.82e-7"),
        "{}",
        result.reason
    );
    close(result.difference.unwrap(), 0.008, 1e-15);
}

#[test]
fn noise_on_a_low_error_rate_passes() {
    let result = proportions((2, 1000), (10, 10000), ProportionOptions::default());
    // SciPy fisher_exact([[2, 998], [10, 9990]], alternative="greater").
    close(result.p_value.unwrap(), 0.2990121723317403, 1e-10);
    assert_eq!(result.outcome, ProportionOutcome::Pass, "{}", result.reason);
    assert_eq!(result.outcome.gate_outcome(), GateOutcome::Pass);
}

#[test]
fn a_side_below_the_minimum_sample_is_not_enough_evidence() {
    let result = proportions((5, 50), (0, 5000), ProportionOptions::default());
    assert_eq!(result.outcome, ProportionOutcome::NotEnoughEvidence);
    assert_eq!(result.outcome.gate_outcome(), GateOutcome::Inconclusive);
    assert_eq!((result.p_value, result.test), (None, None));
    assert!(result.reason.contains("canary 50"), "{}", result.reason);
    let none = proportions((0, 0), (0, 0), ProportionOptions::default());
    assert_eq!(none.outcome, ProportionOutcome::NotEnoughEvidence);
    assert_eq!(none.canary_rate, None);
}

#[test]
fn absolute_tolerance_uses_the_farrington_manning_score_test() {
    // SciPy: restricted estimates by numerical maximisation, then the score
    // z, then the skewness correction solved in Laud's (2017) form
    // (-1 + sqrt(1 + 4A(t + A))) / 2A: t = 2.18323 and A = 0.00162 for
    // the first case, so a correction of -0.006 on the equal sides.
    let tolerance = |d| ProportionOptions {
        tolerance: Tolerance::Absolute(d),
        ..ProportionOptions::default()
    };
    let worse = proportions((60, 1000), (30, 1000), tolerance(0.01));
    assert_eq!(worse.test, Some(ProportionTest::ScoreZ));
    close(worse.z.unwrap(), 2.1771608937824998, 1e-6);
    close(worse.p_value.unwrap(), 0.014734282479408153, 1e-7);
    assert_eq!(worse.outcome, ProportionOutcome::Fail);
    close(worse.allowed_rate.unwrap(), 0.04, 1e-15);
    assert!(
        worse.reason.contains("tolerance: baseline + 1 pp"),
        "{}",
        worse.reason
    );
    let within = proportions((45, 2000), (50, 4000), tolerance(0.005));
    close(within.z.unwrap(), 1.3926329896832454, 1e-6);
    close(within.p_value.unwrap(), 0.0818654008638291, 1e-7);
    assert_eq!(within.outcome, ProportionOutcome::Pass);
}

#[test]
fn relative_tolerance_uses_the_ratio_score_test() {
    let options = ProportionOptions {
        tolerance: Tolerance::Relative(1.2),
        ..ProportionOptions::default()
    };
    // SciPy, as for the absolute tolerance: t = 2.90688, A = 0.00538.
    let result = proportions((90, 1000), (100, 2000), options);
    assert_eq!(result.test, Some(ProportionTest::ScoreZ));
    close(result.z.unwrap(), 2.8679752013057564, 1e-6);
    close(result.p_value.unwrap(), 0.0020655395592004593, 1e-7);
    assert_eq!(result.outcome, ProportionOutcome::Fail);
}

#[test]
fn sparse_counts_with_a_relative_tolerance_use_the_conditional_binomial() {
    // 10 errors in all; on the boundary the canary's share is
    // 1.5 x 1000 / (1.5 x 1000 + 4000) = 0.2727; P(X >= 7) for Binomial(10, .2727).
    let options = ProportionOptions {
        tolerance: Tolerance::Relative(1.5),
        ..ProportionOptions::default()
    };
    let result = proportions((7, 1000), (3, 4000), options);
    assert_eq!(result.test, Some(ProportionTest::ConditionalBinomial));
    // SciPy binomtest(7, 10, 1500 / 5500, alternative="greater").
    close(result.p_value.unwrap(), 0.005972013466365042, 1e-10);
    assert_eq!(result.outcome, ProportionOutcome::Fail);
}

#[test]
fn sparse_counts_with_an_absolute_tolerance_use_the_exact_restricted_test() {
    let options = ProportionOptions {
        tolerance: Tolerance::Absolute(0.005),
        ..ProportionOptions::default()
    };
    // 0.8% against 0% + 0.5% allowed: not significant with 1000 requests.
    let within = proportions((8, 1000), (0, 5000), options);
    assert_eq!(within.test, Some(ProportionTest::ExactAtRestrictedEstimate));
    // Reference: the same sum over the full support of both binomials (SciPy).
    close(within.p_value.unwrap(), 0.13284761596616587, 1e-6);
    assert_eq!(within.outcome, ProportionOutcome::Pass);
    let beyond = proportions((12, 1000), (1, 5000), options);
    assert_eq!(beyond.test, Some(ProportionTest::ExactAtRestrictedEstimate));
    close(beyond.p_value.unwrap(), 0.006002905195028569, 1e-6);
    assert_eq!(beyond.outcome, ProportionOutcome::Fail);
}

#[test]
fn a_better_canary_and_no_errors_at_all_pass() {
    let better = proportions((10, 5000), (40, 5000), ProportionOptions::default());
    assert_eq!(better.outcome, ProportionOutcome::Pass);
    assert!(better.p_value.unwrap() > 0.99);
    let clean = proportions((0, 5000), (0, 5000), ProportionOptions::default());
    assert_eq!(clean.outcome, ProportionOutcome::Pass);
    assert_eq!(clean.p_value, Some(1.0));
    for tolerance in [Tolerance::Absolute(0.01), Tolerance::Relative(2.0)] {
        let options = ProportionOptions {
            tolerance,
            ..ProportionOptions::default()
        };
        let result = proportions((0, 5000), (0, 5000), options);
        assert_eq!(result.outcome, ProportionOutcome::Pass, "{}", result.reason);
    }
}

#[test]
fn swapping_the_proportions_flips_the_one_sided_answer() {
    let worse = proportions((30, 2000), (12, 2000), ProportionOptions::default());
    let better = proportions((12, 2000), (30, 2000), ProportionOptions::default());
    assert_eq!(worse.outcome, ProportionOutcome::Fail);
    assert_eq!(better.outcome, ProportionOutcome::Pass);
    close(worse.z.unwrap(), -better.z.unwrap(), 1e-12);
}

#[test]
fn proportion_inputs_and_options_are_validated() {
    assert_eq!(
        Proportion::new(11, 10, Side::Canary),
        Err(StatisticsError::EventsExceedTrials {
            side: Side::Canary,
            events: 11,
            trials: 10
        })
    );
    assert_eq!(
        Proportion::from_sums(3.0, 1000.0, Side::Baseline),
        Ok(Proportion {
            events: 3,
            trials: 1000
        })
    );
    for (events, trials) in [
        (1.5, 10.0),
        (f64::NAN, 10.0),
        (-1.0, 10.0),
        (1.0, f64::INFINITY),
    ] {
        assert!(matches!(
            Proportion::from_sums(events, trials, Side::Canary),
            Err(StatisticsError::InvalidCount { .. })
        ));
    }
    let p = Proportion::new(1, 100, Side::Canary).unwrap();
    for options in [
        ProportionOptions {
            alpha: 1.0,
            ..ProportionOptions::default()
        },
        ProportionOptions {
            tolerance: Tolerance::Relative(0.9),
            ..ProportionOptions::default()
        },
        ProportionOptions {
            tolerance: Tolerance::Absolute(-0.01),
            ..ProportionOptions::default()
        },
        ProportionOptions {
            min_expected: f64::NAN,
            ..ProportionOptions::default()
        },
    ] {
        assert!(matches!(
            compare_proportions(p, p, &options),
            Err(StatisticsError::InvalidOption { .. })
        ));
    }
    // A hand-built struct bypassing `new` is still checked.
    let impossible = Proportion {
        events: 5,
        trials: 1,
    };
    assert!(matches!(
        compare_proportions(impossible, p, &ProportionOptions::default()),
        Err(StatisticsError::EventsExceedTrials { .. })
    ));
}

// ---- Scoring ----

/// Real rank evidence with the wanted classification.
fn rank(class: Classification) -> MetricEvidence {
    let baseline: Vec<f64> = (0..20).map(|i| 100.0 + i as f64).collect();
    let canary: Vec<f64> = match class {
        Classification::Pass => baseline.clone(),
        Classification::High => baseline.iter().map(|v| v * 2.0).collect(),
        Classification::Low => baseline.iter().map(|v| v / 2.0).collect(),
        Classification::NoData => Vec::new(),
    };
    let options = RankTestOptions {
        direction: Direction::Either,
        ..RankTestOptions::default()
    };
    let result = compare_samples(&canary, &baseline, &options).unwrap();
    assert_eq!(result.classification, class);
    MetricEvidence::Rank(result)
}

fn metric(name: &str, weight: f64, critical: bool, class: Classification) -> MetricResult {
    MetricResult {
        name: name.into(),
        group: None,
        weight,
        critical,
        evidence: rank(class),
    }
}

#[test]
fn score_is_the_passed_share_of_weight() {
    use Classification::*;
    // 3 of 4 units of weight pass: exactly the marginal threshold.
    let report = score(
        vec![
            metric("latency_p99", 1.0, false, Pass),
            metric("cpu", 1.0, false, High),
            metric("latency_p50", 2.0, false, Pass),
        ],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!(report.score, Some(75.0));
    assert_eq!(report.outcome, ScoreOutcome::Marginal);
    assert_eq!(report.gate_outcome(), GateOutcome::Inconclusive);
    assert!(report.reason.contains("cpu high"), "{}", report.reason);
    // 19 of 20 equal weights is 95: a pass, not float dust below it.
    let mut many: Vec<MetricResult> = (0..19)
        .map(|i| metric(&format!("m{i}"), 0.1, false, Pass))
        .collect();
    many.push(metric("m19", 0.1, false, Low));
    let report = score(many, &ScoreOptions::default()).unwrap();
    assert_eq!(report.outcome, ScoreOutcome::Pass, "{}", report.reason);
    let low = score(
        vec![metric("a", 1.0, false, High), metric("b", 1.0, false, Pass)],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!(low.outcome, ScoreOutcome::Fail);
    assert_eq!(low.gate_outcome(), GateOutcome::Fail);
}

#[test]
fn a_critical_metric_fails_whatever_the_score() {
    use Classification::*;
    let mut metrics: Vec<MetricResult> = (0..30)
        .map(|i| metric(&format!("m{i}"), 1.0, false, Pass))
        .collect();
    metrics.push(metric("errors", 0.5, true, High));
    let report = score(metrics, &ScoreOptions::default()).unwrap();
    assert!(report.score.unwrap() > 98.0);
    assert_eq!(report.outcome, ScoreOutcome::Fail);
    assert_eq!(report.critical_failures, vec!["errors".to_string()]);
    assert!(
        report.reason.starts_with("critical metric failed"),
        "{}",
        report.reason
    );
    assert!(report.reason.contains("errors high"), "{}", report.reason);
}

#[test]
fn no_data_is_excluded_or_counted_as_failed() {
    use Classification::*;
    // Two of three measured and passing: the unmeasured third is left out
    // of the score (a third of the weight is under the no-data limit).
    let metrics = || {
        vec![
            metric("a", 1.0, false, Pass),
            metric("b", 1.0, false, Pass),
            metric("c", 1.0, false, NoData),
        ]
    };
    let excluded = score(metrics(), &ScoreOptions::default()).unwrap();
    assert_eq!(excluded.score, Some(100.0));
    assert_eq!(excluded.outcome, ScoreOutcome::Pass, "{}", excluded.reason);
    let counted = ScoreOptions {
        no_data: NoDataPolicy::CountAsFailed,
        ..ScoreOptions::default()
    };
    let failed = score(metrics(), &counted).unwrap();
    assert!((failed.score.unwrap() - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!(failed.outcome, ScoreOutcome::Fail);
}

#[test]
fn half_the_weight_without_data_fails_the_score_whatever_it_is() {
    use Classification::*;
    // Issue 16: one pass and one metric without data scored 100 and passed.
    // Kayenta fails a canary when 50 % or more of its metrics have no data.
    let report = score(
        vec![
            metric("a", 1.0, false, Pass),
            metric("b", 1.0, false, NoData),
        ],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!(report.score, Some(100.0), "the score itself is kept");
    assert_eq!(report.outcome, ScoreOutcome::Fail, "{}", report.reason);
    assert_eq!(report.gate_outcome(), GateOutcome::Fail);
    assert!(report.reason.contains("no data"), "{}", report.reason);
    assert!(report.reason.contains("b"), "{}", report.reason);
    // Nothing measured at all: the share is 100 %, a fail, not a shrug.
    let nothing = score(
        vec![metric("a", 1.0, false, NoData)],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!((nothing.score, nothing.outcome), (None, ScoreOutcome::Fail));
    // The share is by weight: a light unmeasured metric stays under it...
    let light = score(
        vec![
            metric("a", 3.0, false, Pass),
            metric("b", 1.0, false, NoData),
        ],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!(light.outcome, ScoreOutcome::Pass, "{}", light.reason);
    // ...unless a stricter limit says a quarter is already too much.
    let strict = ScoreOptions {
        no_data_limit: 0.25,
        ..ScoreOptions::default()
    };
    let light = score(
        vec![
            metric("a", 3.0, false, Pass),
            metric("b", 1.0, false, NoData),
        ],
        &strict,
    )
    .unwrap();
    assert_eq!(light.outcome, ScoreOutcome::Fail, "{}", light.reason);
    // Only stricter than Kayenta's half: a laxer limit is refused.
    for limit in [0.0, 0.51, f64::NAN] {
        let lax = ScoreOptions {
            no_data_limit: limit,
            ..ScoreOptions::default()
        };
        assert!(matches!(
            score(vec![metric("a", 1.0, false, Pass)], &lax),
            Err(StatisticsError::InvalidOption {
                name: "no_data_limit",
                ..
            })
        ));
    }
}

#[test]
fn a_critical_metric_without_data_caps_the_outcome_at_marginal() {
    use Classification::*;
    let report = score(
        vec![
            metric("a", 1.0, false, Pass),
            metric("b", 1.0, false, Pass),
            metric("errors", 1.0, true, NoData),
        ],
        &ScoreOptions::default(),
    )
    .unwrap();
    assert_eq!(report.score, Some(100.0));
    assert_eq!(report.outcome, ScoreOutcome::Marginal);
    assert_eq!(report.critical_without_data, vec!["errors".to_string()]);
    assert!(report.reason.contains("errors"), "{}", report.reason);
}

#[test]
fn groups_get_sub_scores_and_proportions_score_too() {
    use Classification::*;
    let mut latency = metric("p99", 1.0, false, High);
    latency.group = Some("latency".into());
    let mut latency2 = metric("p50", 1.0, false, Pass);
    latency2.group = Some("latency".into());
    let errors = MetricResult {
        name: "5xx".into(),
        group: Some("errors".into()),
        weight: 2.0,
        critical: false,
        evidence: MetricEvidence::Proportion(proportions(
            (8, 1000),
            (0, 5000),
            ProportionOptions::default(),
        )),
    };
    assert_eq!(errors.evidence.classification(), High);
    let report = score(vec![latency, latency2, errors], &ScoreOptions::default()).unwrap();
    assert_eq!(report.score, Some(25.0));
    let groups: Vec<(&str, Option<f64>)> = report
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.score))
        .collect();
    assert_eq!(groups, vec![("latency", Some(50.0)), ("errors", Some(0.0))]);
    assert!(report.reason.contains("5xx high"), "{}", report.reason);
}

#[test]
fn score_inputs_and_options_are_validated() {
    use Classification::*;
    assert_eq!(
        score(Vec::new(), &ScoreOptions::default()),
        Err(StatisticsError::NoMetrics)
    );
    for weight in [0.0, -1.0, f64::NAN] {
        assert!(matches!(
            score(
                vec![metric("w", weight, false, Pass)],
                &ScoreOptions::default()
            ),
            Err(StatisticsError::InvalidWeight { .. })
        ));
    }
    for (pass, marginal) in [(101.0, 75.0), (90.0, 95.0), (95.0, -1.0)] {
        let options = ScoreOptions {
            pass_threshold: pass,
            marginal_threshold: marginal,
            ..ScoreOptions::default()
        };
        assert!(matches!(
            score(vec![metric("a", 1.0, false, Pass)], &options),
            Err(StatisticsError::InvalidOption { .. })
        ));
    }
}

#[test]
fn results_serialise_for_the_decision_record() {
    let report = score(
        vec![metric("a", 1.0, true, Classification::High)],
        &ScoreOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "fail");
    assert_eq!(json["metrics"][0]["evidence"]["kind"], "rank");
    assert_eq!(json["metrics"][0]["evidence"]["classification"], "high");
    assert_eq!(json["metrics"][0]["evidence"]["test"]["method"], "exact");
}

// ---- Properties over generated inputs ----

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn tolerance() -> impl Strategy<Value = Tolerance> {
        prop_oneof![
            Just(Tolerance::Absolute(0.0)),
            Just(Tolerance::Absolute(0.005)),
            Just(Tolerance::Relative(1.5)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn rank_test_is_symmetric_and_bounded(
            canary in proptest::collection::vec(0.0f64..1000.0, 1..40),
            baseline in proptest::collection::vec(0.0f64..1000.0, 1..40),
            exact_max_total in prop_oneof![Just(0usize), Just(100usize)],
        ) {
            let greater = mann_whitney(&canary, &baseline, Alternative::Greater, exact_max_total).unwrap();
            let mirrored = mann_whitney(&baseline, &canary, Alternative::Less, exact_max_total).unwrap();
            let pairs = (canary.len() * baseline.len()) as f64;
            prop_assert!((0.0..=1.0).contains(&greater.p_value));
            prop_assert!((greater.p_value - mirrored.p_value).abs() < 1e-9);
            prop_assert!((greater.u + mirrored.u - pairs).abs() < 1e-9);
            prop_assert!(greater.u >= 0.0 && greater.u <= pairs);
            // Moving every canary value up never lowers U.
            let shifted: Vec<f64> = canary.iter().map(|v| v + 50.0).collect();
            let moved = mann_whitney(&shifted, &baseline, Alternative::Greater, exact_max_total).unwrap();
            prop_assert!(moved.u >= greater.u);
        }

        #[test]
        fn more_canary_errors_never_make_the_canary_look_better_within_a_test(
            canary_errors in 0u64..60,
            canary_requests in 100u64..4000,
            baseline_errors in 0u64..60,
            baseline_requests in 100u64..4000,
            tolerance in tolerance(),
        ) {
            let options = ProportionOptions { tolerance, ..ProportionOptions::default() };
            let fewer = proportions((canary_errors, canary_requests), (baseline_errors, baseline_requests), options);
            let more = proportions((canary_errors + 1, canary_requests), (baseline_errors, baseline_requests), options);
            let (p_fewer, p_more) = (fewer.p_value.unwrap(), more.p_value.unwrap());
            prop_assert!((0.0..=1.0).contains(&p_fewer));
            if fewer.test == more.test {
                prop_assert!(
                    p_more <= p_fewer + 1e-9,
                    "{} errors: p {}; {} errors: p {} ({:?})",
                    canary_errors, p_fewer, canary_errors + 1, p_more, more.test
                );
                prop_assert!(!(fewer.outcome == ProportionOutcome::Fail
                    && more.outcome == ProportionOutcome::Pass));
            } else {
                // The one place the p-value may move the other way, by a
                // little: more errors make the counts less sparse and switch
                // an exact test to the score test, never back.
                prop_assert_eq!(more.test, Some(ProportionTest::ScoreZ));
                prop_assert_ne!(fewer.test, Some(ProportionTest::ScoreZ));
            }
        }

        #[test]
        fn a_verdict_beyond_a_tolerance_is_beyond_it_in_the_measure_chosen(
            canary in proptest::collection::vec(prop_oneof![Just(0.0f64), 0.0f64..10.0], 5..40),
            baseline in proptest::collection::vec(prop_oneof![Just(0.0f64), 0.0f64..10.0], 5..40),
            mean in any::<bool>(),
            allowed in 1.0f64..3.0,
            critical_extra in 0.0f64..3.0,
        ) {
            // Whatever the data: a High is significant and beyond the allowed
            // ratio of the measure the gate chose; a critical breach is
            // beyond the critical ratio too; and the score calls it critical
            // exactly then.
            let effect_size = if mean { EffectSize::MeanRatio } else { EffectSize::MedianRatio };
            let options = RankTestOptions {
                min_values: 5,
                direction: Direction::Either,
                effect_size,
                effect: EffectTolerance { allowed_increase: allowed, allowed_decrease: 1.0 / allowed },
                critical: Some(EffectTolerance {
                    allowed_increase: allowed + critical_extra,
                    allowed_decrease: 1.0 / (allowed + critical_extra),
                }),
                ..RankTestOptions::default()
            };
            let result = compare_samples(&canary, &baseline, &options).unwrap();
            let ratio = if mean { result.mean_ratio } else { result.effect_ratio };
            prop_assert_eq!(mean, result.mean_ratio.is_some());
            match result.classification {
                Classification::High | Classification::Low => {
                    prop_assert!(result.test.unwrap().p_value < options.alpha);
                    let (beyond, beyond_critical) = match result.classification {
                        Classification::High => (ratio.is_none_or(|r| r > allowed), ratio.is_none_or(|r| r > allowed + critical_extra)),
                        _ => (ratio.is_none_or(|r| r < 1.0 / allowed), ratio.is_none_or(|r| r < 1.0 / (allowed + critical_extra))),
                    };
                    prop_assert!(beyond, "{}", result.reason);
                    prop_assert_eq!(result.critical_breach, Some(beyond_critical));
                    let evidence = MetricEvidence::Rank(result);
                    prop_assert_eq!(evidence.critical_breach(), beyond_critical);
                }
                _ => prop_assert_eq!(result.critical_breach, None),
            }
        }
    }
}

#[test]
fn no_nan_strategy_drops_or_zeroes_an_infinity() {
    // `remove` and `replace_with_zero` are for periods without a value; an
    // infinity is an impossible one, and must not vanish into a pass.
    let baseline: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let mut canary = baseline.clone();
    canary[3] = f64::INFINITY;
    for nan_strategy in [NanStrategy::Remove, NanStrategy::ReplaceWithZero] {
        let options = RankTestOptions {
            nan_strategy,
            ..RankTestOptions::default()
        };
        assert_eq!(
            compare_samples(&canary, &baseline, &options),
            Err(StatisticsError::InfiniteValue {
                side: Side::Canary,
                value: f64::INFINITY
            })
        );
        let error = compare_samples(&baseline, &[f64::NEG_INFINITY], &options).unwrap_err();
        assert!(
            error.to_string().contains("baseline sample holds -inf"),
            "{error}"
        );
    }
}
