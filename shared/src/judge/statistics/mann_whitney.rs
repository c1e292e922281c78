//! The Mann-Whitney U test between a canary's and a baseline's per-period
//! values, and the Kayenta-style classification of one metric built on it.
//!
//! Why a rank test: per-period latency percentiles and CPU are skewed and
//! spiky, and a rank test assumes no distribution; one 10-second spike moves
//! one rank, not the mean. Why an effect-size tolerance on top: with a few
//! hundred periods a 1% shift is "significant" and nobody wants a rollback
//! for it, so a significant result counts only when the canary's location
//! also moved beyond a tolerated ratio.
//!
//! The effect size is a ratio, canary over baseline, of medians or of means
//! ([`EffectSize`]). The median ratio is the default: a mean follows the
//! same spikes the rank test is robust to. But two medians tie whenever both
//! sides are mostly one value, as a counter of errors that is 0 in most
//! periods is, and then the median ratio is 1 whatever the canary does: a
//! significant increase would pass "within the allowed 1x". The mean ratio
//! (Kayenta's default measure) still moves there, so a gate on a counter
//! uses it by default. The Hodges-Lehmann shift (median of all pairwise
//! differences) was not taken: it costs O(n m), and it ties too (0 for
//! eleven zeros and nine threes against twenty zeros). The ratio is reported
//! next to U, p and the two medians (and means, when they decide), so a
//! record shows both how sure and how much. When the baseline's value is 0
//! the ratio is 1 if the canary's is 0 too and infinite otherwise; with a
//! negative baseline a ratio means nothing, so it is `None` and significance
//! alone decides.
//!
//! A critical tolerance (Kayenta's `criticalIncrease` / `criticalDecrease`)
//! marks how far a `High` or `Low` must go before it is critical: the
//! comparison records whether it went that far (`critical_breach`), and the
//! score fails the analysis on a critical metric only then.
//!
//! The p-value: exact (the null distribution of U counted as the coefficients
//! of a Gaussian binomial, in 128-bit integers) for samples without ties and
//! at most `exact_max_total` values in all; otherwise the normal
//! approximation with the tie-corrected variance and a continuity
//! correction. Ranks come from sorting each side once and merging, O(n log n).
//!
//! The NaN strategy is for periods without a value (NaN) only: removed, or
//! read as 0. An infinity is no missing period but an impossible value, and
//! neither strategy may make it disappear into a pass: [`compare_samples`]
//! refuses a sample holding one ([`StatisticsError::InfiniteValue`]). (The
//! judge never gets that far: it makes a gate whose evidence holds a
//! non-finite datapoint an error before any test, see `judge::threshold`.)

use super::{check_alpha, format_p, Direction, Side, StatisticsError};
pub use crate::policy::{EffectSize, NanStrategy};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};
use std::fmt;

/// Above this many values in all the exact counts would overflow 128 bits
/// (C(120, 60) is about 1e35; C(132, 66) passes 1.7e38).
pub const EXACT_MAX_TOTAL_LIMIT: usize = 120;

/// What the test asks of the canary compared with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// The canary's values tend to be larger (one-sided).
    Greater,
    /// The canary's values tend to be smaller (one-sided).
    Less,
    /// Either way (two-sided).
    TwoSided,
}

impl Alternative {
    /// The test that looks only in the direction of concern.
    pub fn for_direction(direction: Direction) -> Alternative {
        match direction {
            Direction::Increase => Alternative::Greater,
            Direction::Decrease => Alternative::Less,
            Direction::Either => Alternative::TwoSided,
        }
    }
}

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankMethod {
    /// The exact null distribution of U (small samples, no ties).
    Exact,
    /// Normal approximation, tie-corrected, with continuity correction.
    NormalApproximation,
}

impl fmt::Display for RankMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RankMethod::Exact => "exact",
            RankMethod::NormalApproximation => "normal approximation",
        })
    }
}

/// The result of a Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// The canary's U: pairs where the canary's value is larger, plus half
    /// the tied pairs. Ranges over 0..=n1 n2.
    pub u: f64,
    /// U's mean under the null hypothesis, n1 n2 / 2.
    pub mean_u: f64,
    /// U / (n1 n2): the probability that a random canary value exceeds a
    /// random baseline value (ties counting half); 0.5 is no difference.
    pub probability_of_superiority: f64,
    /// The standardised statistic (normal approximation only).
    pub z: Option<f64>,
    /// The p-value for `alternative`.
    pub p_value: f64,
    /// How it was computed.
    pub method: RankMethod,
    /// Whether any values were tied.
    pub ties: bool,
    /// The hypothesis tested.
    pub alternative: Alternative,
}

/// Runs the Mann-Whitney U test on finite values. Uses the exact
/// distribution when there are no ties and at most `exact_max_total` values
/// (capped at [`EXACT_MAX_TOTAL_LIMIT`]); pass 0 to always approximate.
pub fn mann_whitney(
    canary: &[f64],
    baseline: &[f64],
    alternative: Alternative,
    exact_max_total: usize,
) -> Result<MannWhitney, StatisticsError> {
    let sorted = |values: &[f64], side: Side| -> Result<Vec<f64>, StatisticsError> {
        if values.is_empty() {
            return Err(StatisticsError::EmptySample { side });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(StatisticsError::NonFiniteValue { side });
        }
        let mut values: Vec<f64> = values.iter().map(|v| v + 0.0).collect();
        values.sort_unstable_by(f64::total_cmp);
        Ok(values)
    };
    let canary = sorted(canary, Side::Canary)?;
    let baseline = sorted(baseline, Side::Baseline)?;
    Ok(test_sorted(
        &canary,
        &baseline,
        alternative,
        exact_max_total,
    ))
}

/// The test on sorted, finite, non-empty, zero-normalised samples.
fn test_sorted(
    canary: &[f64],
    baseline: &[f64],
    alternative: Alternative,
    exact_max_total: usize,
) -> MannWhitney {
    let (n1, n2) = (canary.len(), baseline.len());
    let ranks = merge_ranks(canary, baseline);
    let pairs = n1 as f64 * n2 as f64;
    let u = ranks.canary_rank_sum - n1 as f64 * (n1 as f64 + 1.0) / 2.0;
    let mean_u = pairs / 2.0;
    let exact_allowed = exact_max_total.min(EXACT_MAX_TOTAL_LIMIT);
    let (z, p_value, method) = if !ranks.ties && n1 + n2 <= exact_allowed {
        // Without ties U is a whole number; round away float dust.
        let p = exact_p(n1, n2, u.round() as usize, alternative);
        (None, p, RankMethod::Exact)
    } else {
        let (z, p) = normal_p(n1, n2, u, ranks.tie_term, alternative);
        (Some(z), p, RankMethod::NormalApproximation)
    };
    MannWhitney {
        u,
        mean_u,
        probability_of_superiority: u / pairs,
        z,
        p_value: p_value.clamp(0.0, 1.0),
        method,
        ties: ranks.ties,
        alternative,
    }
}

struct Ranks {
    canary_rank_sum: f64,
    /// Sum of t^3 - t over groups of t tied values.
    tie_term: f64,
    ties: bool,
}

/// Mid-ranks by merging two sorted samples: O(n1 + n2), no allocation.
fn merge_ranks(canary: &[f64], baseline: &[f64]) -> Ranks {
    let (mut i, mut j, mut assigned) = (0usize, 0usize, 0usize);
    let mut ranks = Ranks {
        canary_rank_sum: 0.0,
        tie_term: 0.0,
        ties: false,
    };
    loop {
        let value = match (canary.get(i), baseline.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let in_canary = canary[i..].iter().take_while(|&&v| v == value).count();
        let in_baseline = baseline[j..].iter().take_while(|&&v| v == value).count();
        let tied = in_canary + in_baseline;
        // Ranks assigned+1 ..= assigned+tied share their average.
        let mid_rank = assigned as f64 + (tied as f64 + 1.0) / 2.0;
        ranks.canary_rank_sum += in_canary as f64 * mid_rank;
        if tied > 1 {
            let t = tied as f64;
            ranks.tie_term += t * t * t - t;
            ranks.ties = true;
        }
        assigned += tied;
        i += in_canary;
        j += in_baseline;
    }
    ranks
}

/// Normal approximation: U's variance n1 n2 / 12 ((N + 1) - sum(t^3 - t) /
/// (N (N - 1))), and U moved 0.5 towards its mean (continuity correction).
fn normal_p(n1: usize, n2: usize, u: f64, tie_term: f64, alternative: Alternative) -> (f64, f64) {
    let (a, b) = (n1 as f64, n2 as f64);
    let total = a + b;
    let mean = a * b / 2.0;
    let variance = if total > 1.0 {
        a * b / 12.0 * ((total + 1.0) - tie_term / (total * (total - 1.0)))
    } else {
        0.0
    };
    if variance <= 0.0 {
        // Every value equal: no evidence of any difference.
        return (0.0, 1.0);
    }
    let sd = variance.sqrt();
    let normal = Normal::standard();
    match alternative {
        Alternative::Greater => {
            let z = (u - mean - 0.5) / sd;
            (z, normal.sf(z))
        }
        Alternative::Less => {
            let z = (u - mean + 0.5) / sd;
            (z, normal.cdf(z))
        }
        Alternative::TwoSided => {
            let distance = ((u - mean).abs() - 0.5).max(0.0);
            let z = distance / sd;
            ((u - mean).signum() * z, (2.0 * normal.sf(z)).min(1.0))
        }
    }
}

/// Exact p-value from the null distribution of U without ties. The
/// distribution is symmetric about n1 n2 / 2, so only the counts up to the
/// middle are built and every tail is read from the lower half.
pub(super) fn exact_p(n1: usize, n2: usize, u: usize, alternative: Alternative) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let pairs = m * n;
    let half = pairs / 2;
    let counts = u_frequencies(m, n, half);
    // C(m + n, m), built so every intermediate is itself a binomial
    // coefficient times a factor below 121: exact in 128 bits.
    let total = (1..=m).fold(1_i128, |c, i| c * (n + i) as i128 / i as i128) as f64;
    let at_most = |k: usize| -> f64 {
        if k >= pairs {
            1.0
        } else if k <= half {
            counts[..=k].iter().sum::<i128>() as f64 / total
        } else {
            // P(U <= k) = 1 - P(U >= k + 1) = 1 - P(U <= pairs - k - 1).
            1.0 - counts[..=pairs - k - 1].iter().sum::<i128>() as f64 / total
        }
    };
    let u = u.min(pairs);
    let (upper, lower) = (at_most(pairs - u), at_most(u));
    match alternative {
        Alternative::Greater => upper,
        Alternative::Less => lower,
        Alternative::TwoSided => (2.0 * upper.min(lower)).min(1.0),
    }
}

/// How many of the C(m + n, m) orderings give each U = 0..=upto (at most
/// m n): the coefficients of the Gaussian binomial [m + n choose m]_q, built
/// as the product over i = 1..=m of (1 - q^(n + i)) / (1 - q^i). Each step
/// is a polynomial multiplication then an exact division, both reading only
/// lower coefficients, so truncating at `upto` loses nothing; O(m upto).
/// Integer arithmetic keeps the small tail counts exact, which floats would
/// lose to cancellation against counts near 1e35.
pub(super) fn u_frequencies(m: usize, n: usize, upto: usize) -> Vec<i128> {
    let top = upto.min(m * n);
    let mut counts = vec![0_i128; top + 1];
    counts[0] = 1;
    let mut degree = 0;
    for i in 1..=m {
        let step = n + i;
        let end = (degree + step).min(top);
        for d in (step..=end).rev() {
            counts[d] -= counts[d - step];
        }
        for d in i..=end {
            counts[d] += counts[d - i];
        }
        degree = i * n;
    }
    counts
}

/// How far the canary's median may move, as a ratio to the baseline's,
/// before a significant difference counts (Kayenta's `allowedIncrease` and
/// `allowedDecrease`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffectTolerance {
    /// A significant increase is `High` only if the median ratio exceeds
    /// this (at least 1; default 1, any increase of the median).
    pub allowed_increase: f64,
    /// A significant decrease is `Low` only if the median ratio is below
    /// this (in (0, 1]; default 1).
    pub allowed_decrease: f64,
}

impl Default for EffectTolerance {
    fn default() -> Self {
        EffectTolerance {
            allowed_increase: 1.0,
            allowed_decrease: 1.0,
        }
    }
}

/// Options of [`compare_samples`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankTestOptions {
    /// Significance level (default 0.05).
    pub alpha: f64,
    /// Which way is bad; decides the test's sides (default: increase).
    pub direction: Direction,
    /// What to do with NaN, a period without a value (default: remove). An
    /// infinity is refused whatever the strategy.
    pub nan_strategy: NanStrategy,
    /// Fewest values per side, after NaN handling, to judge at all
    /// (default 10; at least 1).
    pub min_values: usize,
    /// Which ratio the tolerances are read against (default: medians).
    pub effect_size: EffectSize,
    /// The effect size a significant difference must exceed.
    pub effect: EffectTolerance,
    /// How far a `High` or `Low` must go to be critical (`None`: any).
    /// At least as far as `effect` in each direction.
    pub critical: Option<EffectTolerance>,
    /// Largest total sample judged with the exact distribution when there
    /// are no ties (default 100, at most [`EXACT_MAX_TOTAL_LIMIT`]).
    pub exact_max_total: usize,
}

impl Default for RankTestOptions {
    fn default() -> Self {
        RankTestOptions {
            alpha: 0.05,
            direction: Direction::Increase,
            nan_strategy: NanStrategy::Remove,
            min_values: 10,
            effect_size: EffectSize::MedianRatio,
            effect: EffectTolerance::default(),
            critical: None,
            exact_max_total: 100,
        }
    }
}

impl RankTestOptions {
    fn validate(&self) -> Result<(), StatisticsError> {
        check_alpha(self.alpha)?;
        let invalid = |name, expected, value: f64| {
            Err(StatisticsError::InvalidOption {
                name,
                expected,
                value,
            })
        };
        let increase = self.effect.allowed_increase;
        if !(increase.is_finite() && increase >= 1.0) {
            return invalid("allowed_increase", "a finite ratio of at least 1", increase);
        }
        let decrease = self.effect.allowed_decrease;
        if !(decrease > 0.0 && decrease <= 1.0) {
            return invalid("allowed_decrease", "a ratio in (0, 1]", decrease);
        }
        if let Some(critical) = self.critical {
            let up = critical.allowed_increase;
            if !(up.is_finite() && up >= increase) {
                return invalid(
                    "critical.allowed_increase",
                    "a finite ratio at least the allowed increase",
                    up,
                );
            }
            let down = critical.allowed_decrease;
            if !(down > 0.0 && down <= decrease) {
                return invalid(
                    "critical.allowed_decrease",
                    "a ratio above 0 and at most the allowed decrease",
                    down,
                );
            }
        }
        if self.min_values == 0 {
            return invalid("min_values", "at least 1", 0.0);
        }
        if self.exact_max_total > EXACT_MAX_TOTAL_LIMIT {
            return invalid(
                "exact_max_total",
                "at most 120 (larger counts overflow; the normal approximation is accurate there)",
                self.exact_max_total as f64,
            );
        }
        Ok(())
    }
}

/// One metric's classification, Kayenta's vocabulary: `High` and `Low` are
/// only ever reported in a direction of concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// No significant change beyond the tolerance in a bad direction.
    Pass,
    /// Significantly higher than the baseline, beyond the tolerance.
    High,
    /// Significantly lower than the baseline, beyond the tolerance.
    Low,
    /// Too few values on a side to judge.
    NoData,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Classification::Pass => "pass",
            Classification::High => "high",
            Classification::Low => "low",
            Classification::NoData => "no data",
        })
    }
}

/// Everything the rank comparison of one metric found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankComparison {
    /// The verdict on this metric.
    pub classification: Classification,
    /// The direction of concern applied.
    pub direction: Direction,
    /// Canary values used (after NaN handling).
    pub canary_count: usize,
    /// Baseline values used (after NaN handling).
    pub baseline_count: usize,
    /// Canary values that were NaN or infinite (removed or replaced).
    pub canary_non_finite: usize,
    /// Baseline values that were NaN or infinite (removed or replaced).
    pub baseline_non_finite: usize,
    /// Median of the canary values used.
    pub canary_median: Option<f64>,
    /// Median of the baseline values used.
    pub baseline_median: Option<f64>,
    /// Canary median / baseline median (see the module's note on zero and
    /// negative medians).
    pub effect_ratio: Option<f64>,
    /// The ratio the tolerances were read against (left out of the record
    /// when it is the median ratio, as it always was before issue 16).
    #[serde(skip_serializing_if = "EffectSize::is_median_ratio")]
    pub effect_size: EffectSize,
    /// Mean of the canary values used, when the mean ratio decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_mean: Option<f64>,
    /// Mean of the baseline values used, when the mean ratio decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_mean: Option<f64>,
    /// Canary mean / baseline mean, when it decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_ratio: Option<f64>,
    /// With a critical tolerance, for a `High` or `Low`: whether the shift
    /// went beyond it. `None` otherwise; without a critical tolerance every
    /// `High` or `Low` is critical on a critical metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical_breach: Option<bool>,
    /// The test, when both sides had enough values.
    pub test: Option<MannWhitney>,
    /// The significance level.
    pub alpha: f64,
    /// One line for a person.
    pub reason: String,
}

/// Classifies one metric from the canary's and the baseline's per-period
/// values. Pure; NaN values (periods without one) follow
/// `options.nan_strategy`; an infinite value is an error
/// ([`StatisticsError::InfiniteValue`]), never removed or replaced.
pub fn compare_samples(
    canary: &[f64],
    baseline: &[f64],
    options: &RankTestOptions,
) -> Result<RankComparison, StatisticsError> {
    options.validate()?;
    for (side, values) in [(Side::Canary, canary), (Side::Baseline, baseline)] {
        if let Some(&value) = values.iter().find(|v| v.is_infinite()) {
            return Err(StatisticsError::InfiniteValue { side, value });
        }
    }
    let (canary, canary_non_finite) = clean(canary, options.nan_strategy);
    let (baseline, baseline_non_finite) = clean(baseline, options.nan_strategy);
    let (canary_median, baseline_median) = (median(&canary), median(&baseline));
    let effect_ratio = canary_median
        .zip(baseline_median)
        .and_then(|(c, b)| ratio_of(c, b));
    let (canary_mean, baseline_mean) = match options.effect_size {
        EffectSize::MedianRatio => (None, None),
        EffectSize::MeanRatio => (mean(&canary), mean(&baseline)),
    };
    let mean_ratio = canary_mean
        .zip(baseline_mean)
        .and_then(|(c, b)| ratio_of(c, b));
    let mut result = RankComparison {
        classification: Classification::NoData,
        direction: options.direction,
        canary_count: canary.len(),
        baseline_count: baseline.len(),
        canary_non_finite,
        baseline_non_finite,
        canary_median,
        baseline_median,
        effect_ratio,
        effect_size: options.effect_size,
        canary_mean,
        baseline_mean,
        mean_ratio,
        critical_breach: None,
        test: None,
        alpha: options.alpha,
        reason: String::new(),
    };
    if let Some(reason) = too_few(&result, options) {
        result.reason = reason;
        return Ok(result);
    }

    let alternative = Alternative::for_direction(options.direction);
    let test = test_sorted(&canary, &baseline, alternative, options.exact_max_total);
    result.test = Some(test);
    let (effect, what, canary_value, baseline_value) = match options.effect_size {
        EffectSize::MedianRatio => (effect_ratio, "median", canary_median, baseline_median),
        EffectSize::MeanRatio => (mean_ratio, "mean", canary_mean, baseline_mean),
    };
    let ratio_text = effect.map_or_else(|| "n/a".to_string(), |r| format!("{}x", num(r)));
    let figures = format!(
        "canary {what} {} vs baseline {} ({ratio_text}), U = {}, {} p = {} ({}, n = {}/{})",
        num(canary_value.unwrap_or(f64::NAN)),
        num(baseline_value.unwrap_or(f64::NAN)),
        num(test.u),
        match alternative {
            Alternative::TwoSided => "two-sided",
            _ => "one-sided",
        },
        format_p(test.p_value),
        test.method,
        canary.len(),
        baseline.len()
    );
    let (classification, verdict) = classify(&test, alternative, effect, options);
    result.classification = classification;
    result.critical_breach = options
        .critical
        .and_then(|critical| critical_breach(classification, effect, critical));
    let critical_note = match (result.critical_breach, options.critical) {
        (Some(false), Some(critical)) if classification != Classification::Pass => format!(
            ", within the critical {}x (counts against the score only)",
            num(match classification {
                Classification::Low => critical.allowed_decrease,
                _ => critical.allowed_increase,
            })
        ),
        _ => String::new(),
    };
    result.reason = format!("{verdict}{critical_note}: {figures}");
    Ok(result)
}

/// Whether a `High` or `Low` went beyond the critical tolerance (an effect
/// that cannot be computed counts as beyond, as significance alone decided);
/// `None` for any other classification.
fn critical_breach(
    classification: Classification,
    effect: Option<f64>,
    critical: EffectTolerance,
) -> Option<bool> {
    match classification {
        Classification::High => Some(effect.is_none_or(|r| r > critical.allowed_increase)),
        Classification::Low => Some(effect.is_none_or(|r| r < critical.allowed_decrease)),
        Classification::Pass | Classification::NoData => None,
    }
}

/// A side's values for the test, sorted: the finite ones (-0 read as 0, so
/// ties compare equal), and under `ReplaceWithZero` a 0 for each NaN; with
/// how many were NaN (the caller refused infinities).
fn clean(values: &[f64], nan_strategy: NanStrategy) -> (Vec<f64>, usize) {
    let mut kept = Vec::with_capacity(values.len());
    let mut non_finite = 0;
    for &v in values {
        if v.is_finite() {
            kept.push(v + 0.0); // -0.0 becomes 0.0, so ties compare equal
        } else {
            non_finite += 1;
            if nan_strategy == NanStrategy::ReplaceWithZero {
                kept.push(0.0);
            }
        }
    }
    kept.sort_unstable_by(f64::total_cmp);
    (kept, non_finite)
}

/// Why there is no test, when a side has fewer than `min_values` values.
fn too_few(counts: &RankComparison, options: &RankTestOptions) -> Option<String> {
    let short: Vec<String> = [
        (Side::Canary, counts.canary_count, counts.canary_non_finite),
        (
            Side::Baseline,
            counts.baseline_count,
            counts.baseline_non_finite,
        ),
    ]
    .iter()
    .filter(|(_, used, _)| *used < options.min_values)
    .map(
        |(side, used, dropped)| match (options.nan_strategy, dropped) {
            (NanStrategy::Remove, d) if *d > 0 => {
                format!("{side} {used} (after removing {d} without a value)")
            }
            _ => format!("{side} {used}"),
        },
    )
    .collect();
    (!short.is_empty()).then(|| {
        format!(
            "no data: too few values to compare, {} (at least {} per side)",
            short.join(", "),
            options.min_values
        )
    })
}

/// The classification the test's answer gives, and why: not significant
/// passes; a significant shift fails (high or low) unless the effect ratio
/// is within the allowed effect.
fn classify(
    test: &MannWhitney,
    alternative: Alternative,
    effect_ratio: Option<f64>,
    options: &RankTestOptions,
) -> (Classification, String) {
    let significant = test.p_value < options.alpha;
    let higher = match alternative {
        Alternative::Greater => true,
        Alternative::Less => false,
        Alternative::TwoSided => test.u > test.mean_u,
    };
    if !significant {
        let what = match options.direction {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
            Direction::Either => "change",
        };
        (
            Classification::Pass,
            format!("no significant {what} at alpha {}", options.alpha),
        )
    } else if higher {
        let allowed = options.effect.allowed_increase;
        if effect_ratio.is_none_or(|r| r > allowed) {
            (Classification::High, beyond("higher", allowed))
        } else {
            (
                Classification::Pass,
                format!(
                    "significantly higher but within the allowed {}x",
                    num(allowed)
                ),
            )
        }
    } else {
        let allowed = options.effect.allowed_decrease;
        if effect_ratio.is_none_or(|r| r < allowed) {
            (Classification::Low, beyond("lower", allowed))
        } else {
            (
                Classification::Pass,
                format!(
                    "significantly lower but within the allowed {}x",
                    num(allowed)
                ),
            )
        }
    }
}

/// "significantly higher", naming the tolerance when there is one.
fn beyond(way: &str, allowed: f64) -> String {
    if allowed == 1.0 {
        format!("significantly {way}")
    } else {
        format!("significantly {way}, beyond the allowed {}x", num(allowed))
    }
}

/// Median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Mean of values (none when there are none).
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Canary over baseline, for medians or means: 1 when both are 0, infinite
/// when only the baseline is, `None` when the baseline is negative.
fn ratio_of(canary: f64, baseline: f64) -> Option<f64> {
    if baseline > 0.0 {
        Some(canary / baseline)
    } else if baseline == 0.0 {
        Some(if canary > 0.0 {
            f64::INFINITY
        } else if canary < 0.0 {
            f64::NEG_INFINITY
        } else {
            1.0
        })
    } else {
        None
    }
}

/// Four significant digits, without trailing zeros.
fn num(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let magnitude = if value == 0.0 {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = (3 - magnitude).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}
