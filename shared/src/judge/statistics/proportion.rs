//! Error counts compared as proportions: is the canary's error rate worse than
//! the baseline's plus a tolerance?
//!
//! The question is one-sided (a canary with fewer errors is never a problem)
//! and a non-inferiority test: H0 "canary rate <= baseline rate + tolerance",
//! rejected (the gate fails) when the evidence that the canary is worse is
//! significant at `alpha`. Not rejecting is a pass once both sides have the
//! minimum number of requests; below it the answer is "not enough evidence".
//!
//! Which test:
//! - With enough expected counts, the Farrington-Manning score statistic
//!   corrected for skewness (Gart and Nam, 1988 for the ratio and 1990 for
//!   the difference, in the closed form of Laud, 2017): the statistic's variance is computed at the maximum-likelihood
//!   rates restricted to the null boundary (canary = baseline + d, or
//!   canary = r x baseline), over n rather than Miettinen-Nurminen's n - 1,
//!   without a continuity correction; its third moment at the same rates
//!   then turns it into a normal deviate by the Cornish-Fisher expansion.
//!   Without the correction a canary with a tenth to a fiftieth of the
//!   baseline's traffic, whose error count is the skewed side, failed 5.2%
//!   to 5.8% of good canaries at alpha 5%. With equal traffic and no
//!   tolerance the third moment is 0 and this is exactly the classic pooled
//!   two-proportion z-test; with a tolerance, it stays well behaved when the
//!   baseline has zero errors, where the textbook (Wald) variance would be
//!   zero.
//! - When any expected count under that boundary (errors or successes, on
//!   either side) is below `min_expected` (5, the usual rule of thumb), the
//!   normal approximation is not trusted and an exact method is used:
//!   Fisher's exact test (one-sided) with no tolerance; the conditional
//!   binomial test with a relative tolerance (given the total number of
//!   errors, the canary's share is binomial; exact for Poisson rates, so for
//!   the rare errors that make counts sparse); and with an absolute tolerance,
//!   an exact p-value computed at the restricted estimates (an estimated
//!   p-value in the manner of Storer and Kim, 1990: the two binomial
//!   distributions are summed exactly at the restricted rates, outcomes
//!   ordered by the difference of proportions, no normal approximation).
//!   docs/statistics.md, section 1, names each method and its reference.
//!
//! Probabilities are summed in log space from `statrs`'s log-factorials and
//! regularised incomplete beta, so a million requests cost no overflow.

use super::{check_alpha, format_p, Side, StatisticsError};
use crate::judge::GateOutcome;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::beta_reg;
use statrs::function::factorial::ln_binomial;
use std::fmt;

/// Events out of trials on one side: errors out of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Proportion {
    /// Events (errors).
    pub events: u64,
    /// Trials (requests).
    pub trials: u64,
}

impl Proportion {
    /// Events out of trials; more events than trials is an error.
    pub fn new(events: u64, trials: u64, side: Side) -> Result<Proportion, StatisticsError> {
        if events > trials {
            return Err(StatisticsError::EventsExceedTrials {
                side,
                events,
                trials,
            });
        }
        Ok(Proportion { events, trials })
    }

    /// From CloudWatch sums, which arrive as floats: each must be a finite,
    /// non-negative whole number (within 1e-6, for sums of many datapoints).
    pub fn from_sums(events: f64, trials: f64, side: Side) -> Result<Proportion, StatisticsError> {
        let count = |value: f64, what: &'static str| -> Result<u64, StatisticsError> {
            let rounded = value.round();
            if value.is_finite()
                && value >= 0.0
                && (value - rounded).abs() <= 1e-6
                && rounded < u64::MAX as f64
            {
                Ok(rounded as u64)
            } else {
                Err(StatisticsError::InvalidCount { side, what, value })
            }
        };
        Proportion::new(count(events, "events")?, count(trials, "trials")?, side)
    }

    /// events / trials; `None` with no trials.
    pub fn rate(&self) -> Option<f64> {
        (self.trials > 0).then(|| self.events as f64 / self.trials as f64)
    }
}

/// How much worse than the baseline the canary may be before it fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    /// Canary rate <= baseline rate + this, as a fraction: 0.005 is 0.5
    /// percentage points. 0 means "no worse than the baseline".
    Absolute(f64),
    /// Canary rate <= baseline rate x this factor (at least 1): 1.5 allows
    /// 50% more errors than the baseline.
    Relative(f64),
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::Absolute(0.0)
    }
}

impl Tolerance {
    fn validate(self) -> Result<(), StatisticsError> {
        match self {
            Tolerance::Absolute(d) if !(d.is_finite() && (0.0..1.0).contains(&d)) => {
                Err(StatisticsError::InvalidOption {
                    name: "tolerance (absolute)",
                    expected: "a fraction in [0, 1), e.g. 0.005 for 0.5 percentage points",
                    value: d,
                })
            }
            Tolerance::Relative(r) if !(r.is_finite() && r >= 1.0) => {
                Err(StatisticsError::InvalidOption {
                    name: "tolerance (relative)",
                    expected: "a finite factor of at least 1, e.g. 1.5",
                    value: r,
                })
            }
            _ => Ok(()),
        }
    }

    /// No tolerance at all: the plain "canary worse than baseline" question.
    fn is_none(self) -> bool {
        matches!(self, Tolerance::Absolute(d) if d == 0.0)
            || matches!(self, Tolerance::Relative(r) if r == 1.0)
    }

    /// The rate the canary may reach given the baseline's rate.
    fn allowed(self, baseline_rate: f64) -> f64 {
        match self {
            Tolerance::Absolute(d) => baseline_rate + d,
            Tolerance::Relative(r) => baseline_rate * r,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            t if t.is_none() => f.write_str("no worse than baseline"),
            Tolerance::Absolute(d) => write!(f, "baseline + {} pp", trim(d * 100.0)),
            Tolerance::Relative(r) => write!(f, "{} x baseline", trim(*r)),
        }
    }
}

/// Options of [`compare_proportions`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProportionOptions {
    /// Significance level of the one-sided test (default 0.05): the
    /// long-run fraction of equally good canaries that fail.
    pub alpha: f64,
    /// How much worse the canary may be (default: not at all).
    pub tolerance: Tolerance,
    /// Minimum trials (requests) on each side (default 100); fewer on
    /// either side is "not enough evidence".
    pub min_trials: u64,
    /// Below this expected count in any cell the exact test replaces the
    /// normal approximation (default 5).
    pub min_expected: f64,
}

impl Default for ProportionOptions {
    fn default() -> Self {
        ProportionOptions {
            alpha: 0.05,
            tolerance: Tolerance::default(),
            min_trials: 100,
            min_expected: 5.0,
        }
    }
}

/// The answer of a proportion comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProportionOutcome {
    /// No significant evidence that the canary is worse beyond the tolerance.
    Pass,
    /// Significant evidence that it is.
    Fail,
    /// A side has fewer trials than the minimum.
    NotEnoughEvidence,
}

impl ProportionOutcome {
    /// The gate outcome: not enough evidence is inconclusive.
    pub fn gate_outcome(self) -> GateOutcome {
        match self {
            ProportionOutcome::Pass => GateOutcome::Pass,
            ProportionOutcome::Fail => GateOutcome::Fail,
            ProportionOutcome::NotEnoughEvidence => GateOutcome::Inconclusive,
        }
    }
}

/// The test that produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProportionTest {
    /// Farrington-Manning score z-test corrected for skewness (Gart-Nam);
    /// the pooled z-test with equal sides and no tolerance.
    ScoreZ,
    /// Fisher's exact test, one-sided (no tolerance, sparse counts).
    FisherExact,
    /// Conditional binomial test (relative tolerance, sparse counts).
    ConditionalBinomial,
    /// Exact binomial sums at the restricted estimates (absolute tolerance,
    /// sparse counts).
    ExactAtRestrictedEstimate,
}

impl fmt::Display for ProportionTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProportionTest::ScoreZ => "skewness-corrected score z-test",
            ProportionTest::FisherExact => "Fisher's exact test",
            ProportionTest::ConditionalBinomial => "conditional binomial test",
            ProportionTest::ExactAtRestrictedEstimate => "exact test at restricted estimates",
        })
    }
}

/// Everything a proportion comparison found, for the decision record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProportionComparison {
    /// The answer.
    pub outcome: ProportionOutcome,
    /// The canary's counts.
    pub canary: Proportion,
    /// The baseline's counts.
    pub baseline: Proportion,
    /// Canary events / trials, if it had trials.
    pub canary_rate: Option<f64>,
    /// Baseline events / trials, if it had trials.
    pub baseline_rate: Option<f64>,
    /// canary rate - baseline rate.
    pub difference: Option<f64>,
    /// The rate the canary may reach by the tolerance, given the observed
    /// baseline rate (the null boundary at the point estimate).
    pub allowed_rate: Option<f64>,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// The score statistic after the skewness correction, the normal
    /// deviate the p-value is read from (`None` for exact tests and without
    /// a test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// One-sided p-value of "canary worse than allowed"; `None` without a test.
    pub p_value: Option<f64>,
    /// The test used; `None` when the sample was too small to test.
    pub test: Option<ProportionTest>,
    /// The significance level.
    pub alpha: f64,
    /// One line for a person.
    pub reason: String,
}

/// Compares the canary's error proportion with the baseline's. Pure.
///
/// Fails when the one-sided p-value of "canary rate > allowed rate" is below
/// `alpha`; passes otherwise; `NotEnoughEvidence` when either side has fewer
/// than `min_trials` trials.
pub fn compare_proportions(
    canary: Proportion,
    baseline: Proportion,
    options: &ProportionOptions,
) -> Result<ProportionComparison, StatisticsError> {
    check_proportion_inputs(canary, baseline, options)?;
    let (canary_rate, baseline_rate) = (canary.rate(), baseline.rate());
    let mut result = ProportionComparison {
        outcome: ProportionOutcome::NotEnoughEvidence,
        canary,
        baseline,
        canary_rate,
        baseline_rate,
        difference: canary_rate.zip(baseline_rate).map(|(c, b)| c - b),
        allowed_rate: baseline_rate.map(|b| options.tolerance.allowed(b)),
        tolerance: options.tolerance,
        z: None,
        p_value: None,
        test: None,
        alpha: options.alpha,
        reason: String::new(),
    };
    let min_trials = options.min_trials.max(1);
    let short: Vec<String> = [(Side::Canary, canary), (Side::Baseline, baseline)]
        .iter()
        .filter(|(_, p)| p.trials < min_trials)
        .map(|(side, p)| format!("{side} {}", p.trials))
        .collect();
    if !short.is_empty() {
        result.reason = format!(
            "not enough requests to compare error rates: {} (at least {min_trials} needed on each side)",
            short.join(", ")
        );
        return Ok(result);
    }

    let (test, z, p) = one_sided_test(canary, baseline, options);
    let p = p.clamp(0.0, 1.0);
    result.test = Some(test);
    result.z = z;
    result.p_value = Some(p);
    let failed = p < options.alpha;
    result.outcome = if failed {
        ProportionOutcome::Fail
    } else {
        ProportionOutcome::Pass
    };
    let verdict = if failed {
        "significantly worse than allowed"
    } else {
        "not significantly worse than allowed"
    };
    result.reason = format!(
        "canary error rate {} ({}/{}) vs baseline {} ({}/{}), tolerance: {}: {verdict} (one-sided p = {}, {test}, alpha {})",
        percent(canary.events, canary.trials),
        canary.events,
        canary.trials,
        percent(baseline.events, baseline.trials),
        baseline.events,
        baseline.trials,
        options.tolerance,
        format_p(p),
        options.alpha
    );
    Ok(result)
}

/// The options in range and both sides' counts valid.
fn check_proportion_inputs(
    canary: Proportion,
    baseline: Proportion,
    options: &ProportionOptions,
) -> Result<(), StatisticsError> {
    check_alpha(options.alpha)?;
    options.tolerance.validate()?;
    if !(options.min_expected.is_finite() && options.min_expected >= 0.0) {
        return Err(StatisticsError::InvalidOption {
            name: "min_expected",
            expected: "a finite number of at least 0 (5 is the usual rule)",
            value: options.min_expected,
        });
    }
    for (side, p) in [(Side::Canary, canary), (Side::Baseline, baseline)] {
        Proportion::new(p.events, p.trials, side)?;
    }
    Ok(())
}

/// The test the counts allow and its one-sided p-value of "the canary's
/// rate is above the allowed rate" (with the z statistic, for the score
/// test): an exact test when an expected count under the null is below
/// `min_expected`, the score z test otherwise.
fn one_sided_test(
    canary: Proportion,
    baseline: Proportion,
    options: &ProportionOptions,
) -> (ProportionTest, Option<f64>, f64) {
    let restricted = restricted_estimates(canary, baseline, options.tolerance);
    let sparse = [
        canary.trials as f64 * restricted.canary,
        canary.trials as f64 * (1.0 - restricted.canary),
        baseline.trials as f64 * restricted.baseline,
        baseline.trials as f64 * (1.0 - restricted.baseline),
    ]
    .iter()
    .any(|&expected| expected < options.min_expected);
    if sparse {
        match options.tolerance {
            t if t.is_none() => (
                ProportionTest::FisherExact,
                None,
                fisher_upper(canary, baseline),
            ),
            Tolerance::Relative(r) => (
                ProportionTest::ConditionalBinomial,
                None,
                conditional_binomial_upper(canary, baseline, r),
            ),
            Tolerance::Absolute(_) => (
                ProportionTest::ExactAtRestrictedEstimate,
                None,
                exact_at_restricted(canary, baseline, restricted),
            ),
        }
    } else {
        let z = corrected_score_z(canary, baseline, options.tolerance, restricted);
        let p = if z.is_nan() {
            1.0
        } else {
            Normal::standard().sf(z)
        };
        (ProportionTest::ScoreZ, Some(z), p)
    }
}

/// Rates maximising the likelihood on the null boundary.
#[derive(Debug, Clone, Copy)]
struct Restricted {
    canary: f64,
    baseline: f64,
}

/// The maximum-likelihood rates under the constraint canary = baseline + d
/// (or r x baseline). Without tolerance they are the pooled rate. Otherwise
/// the constrained log-likelihood is concave in the baseline rate, so the
/// root of its derivative is found by bisection: robust where the published
/// closed-form cubic is delicate (zero counts, tiny rates), and 200 cheap
/// steps reach machine precision.
fn restricted_estimates(canary: Proportion, baseline: Proportion, tol: Tolerance) -> Restricted {
    let (x1, n1) = (canary.events as f64, canary.trials as f64);
    let (x2, n2) = (baseline.events as f64, baseline.trials as f64);
    if tol.is_none() {
        let pooled = (x1 + x2) / (n1 + n2);
        return Restricted {
            canary: pooled,
            baseline: pooled,
        };
    }
    // A term x/p whose count is 0 contributes nothing, even at p = 0.
    let term = |count: f64, p: f64| if count == 0.0 { 0.0 } else { count / p };
    // On the boundary the canary's rate is slope x baseline + shift.
    let (slope, shift, upper) = match tol {
        Tolerance::Absolute(d) => (1.0, d, 1.0 - d),
        Tolerance::Relative(r) => (r, 0.0, 1.0 / r),
    };
    let canary_of = |p2: f64| slope * p2 + shift;
    let derivative = |p2: f64| {
        let p1 = canary_of(p2);
        slope * (term(x1, p1) - term(n1 - x1, 1.0 - p1)) + term(x2, p2) - term(n2 - x2, 1.0 - p2)
    };
    let (mut lo, mut hi) = (0.0_f64, upper);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if derivative(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let p2 = (0.5 * (lo + hi)).clamp(0.0, upper);
    Restricted {
        canary: canary_of(p2).clamp(0.0, 1.0),
        baseline: p2,
    }
}

/// The score statistic, skewness-corrected: the Farrington-Manning z (`t`,
/// the numerator over its standard deviation at the restricted estimates)
/// turned into a normal deviate by Gart and Nam's (1990) correction for
/// skewness, in the closed form Laud (2017) gives it. With `A` the third
/// central moment of the numerator at the restricted estimates over
/// 6 V^(3/2), the Cornish-Fisher expansion of the numerator's quantiles,
/// t = z + A (z^2 - 1), is solved for z. `A` is 0 when both sides have as
/// many requests and there is no tolerance: then z = t, the pooled z-test.
/// When the canary has far fewer requests its error count is the skewed
/// side (A > 0 below 50% errors) and z < t in the upper tail: the normal
/// tail the uncorrected statistic was read against is too thin there, and
/// it failed good canaries more often than alpha (docs/statistics.md,
/// section 5).
///
/// NaN when the uncorrected statistic is 0 / 0 (no variance and no
/// difference: nothing to test).
fn corrected_score_z(
    canary: Proportion,
    baseline: Proportion,
    tol: Tolerance,
    r: Restricted,
) -> f64 {
    let (n1, n2) = (canary.trials as f64, baseline.trials as f64);
    let (p1, p2) = (canary.events as f64 / n1, baseline.events as f64 / n2);
    // The numerator is p1 - slope p2 - shift; zero on the null boundary.
    let (numerator, slope) = match tol {
        Tolerance::Absolute(d) => (p1 - p2 - d, 1.0),
        Tolerance::Relative(ratio) => (p1 - ratio * p2, ratio),
    };
    let variance =
        r.canary * (1.0 - r.canary) / n1 + slope * slope * r.baseline * (1.0 - r.baseline) / n2;
    if variance.is_nan() || variance <= 0.0 {
        return if numerator > 0.0 {
            f64::INFINITY
        } else if numerator < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::NAN
        };
    }
    let uncorrected = numerator / variance.sqrt();
    // The third central moment of a binomial proportion: p (1 - p) (1 - 2p) / n^2.
    let third_moment = |p: f64, n: f64| p * (1.0 - p) * (1.0 - 2.0 * p) / (n * n);
    let skew = third_moment(r.canary, n1) - slope.powi(3) * third_moment(r.baseline, n2);
    skewness_corrected(uncorrected, skew / (6.0 * variance.powf(1.5)))
}

/// The root z of a z^2 + z - (t + a) = 0 on the branch through z = t at
/// a = 0, written 2 (t + a) / (1 + sqrt(1 + 4 a (t + a))) so that it stays
/// exact as a goes to 0. Past the parabola's vertex (a negative
/// discriminant, only far in a tail) the expansion has no root; there the
/// vertex -1 / (2a) is taken until the uncorrected t goes beyond it, so the
/// statistic stays continuous and increasing in t. (For a < 0, the canary
/// being the larger side, the upper tail would otherwise stop at the vertex,
/// and with `min_expected` set near 0 the vertex can fall below a critical
/// value: a test that could never fail.)
pub(super) fn skewness_corrected(t: f64, a: f64) -> f64 {
    if a == 0.0 || !t.is_finite() || !a.is_finite() {
        return t;
    }
    let discriminant = 1.0 + 4.0 * a * (t + a);
    if discriminant >= 0.0 {
        2.0 * (t + a) / (1.0 + discriminant.sqrt())
    } else if a > 0.0 {
        (-1.0 / (2.0 * a)).min(t)
    } else {
        (-1.0 / (2.0 * a)).max(t)
    }
}

/// Fisher's exact test, one-sided: P(canary errors >= observed) given both
/// margins, a hypergeometric upper tail summed in log space.
fn fisher_upper(canary: Proportion, baseline: Proportion) -> f64 {
    let total = canary.trials + baseline.trials;
    let events = canary.events + baseline.events;
    let log_all = ln_binomial(total, canary.trials);
    let log_pmf =
        |k: u64| ln_binomial(events, k) + ln_binomial(total - events, canary.trials - k) - log_all;
    // The support of the canary's count given the margins.
    let highest = events.min(canary.trials);
    let lowest = (canary.trials + events).saturating_sub(total);
    if canary.events <= lowest {
        return 1.0;
    }
    log_sum_exp((canary.events..=highest).map(log_pmf))
}

/// The conditional binomial test for a ratio of rates: given the total
/// events, the canary's share is Binomial(total, r n1 / (r n1 + n2)) on the
/// null boundary. P(X >= observed) = I_pi(observed, total - observed + 1).
fn conditional_binomial_upper(canary: Proportion, baseline: Proportion, ratio: f64) -> f64 {
    let total = canary.events + baseline.events;
    if canary.events == 0 {
        return 1.0;
    }
    let weighted = ratio * canary.trials as f64;
    let share = weighted / (weighted + baseline.trials as f64);
    beta_reg(
        canary.events as f64,
        (total - canary.events) as f64 + 1.0,
        share,
    )
}

/// Exact p-value at the restricted estimates: P(X1/n1 - X2/n2 >= observed)
/// for independent binomials with the restricted rates, summed over the
/// canary's count (its negligible tails skipped) with the baseline's
/// cumulative distribution from the regularised incomplete beta. Differences
/// are compared in integers (x1 n2 - x2 n1) so ties are exact.
fn exact_at_restricted(canary: Proportion, baseline: Proportion, r: Restricted) -> f64 {
    let (n1, n2) = (canary.trials, baseline.trials);
    let observed =
        i128::from(canary.events) * i128::from(n2) - i128::from(baseline.events) * i128::from(n1);
    let (lo, hi) = binomial_span(n1, r.canary);
    let mut p = 0.0;
    for x1 in lo..=hi {
        let mass = binomial_pmf(n1, x1, r.canary);
        if mass == 0.0 {
            continue;
        }
        // x2 <= (x1 n2 - observed) / n1, floored.
        let bound = (i128::from(x1) * i128::from(n2) - observed).div_euclid(i128::from(n1));
        if bound < 0 {
            continue;
        }
        let cdf = if bound >= i128::from(n2) {
            1.0
        } else {
            binomial_cdf(n2, bound as u64, r.baseline)
        };
        p += mass * cdf;
    }
    p
}

/// The counts holding all but a negligible (< 1e-20) share of a binomial's mass.
fn binomial_span(n: u64, p: f64) -> (u64, u64) {
    let mean = n as f64 * p;
    let sd = (mean * (1.0 - p)).sqrt();
    let reach = 12.0 * sd + 15.0;
    let lo = (mean - reach).floor().max(0.0) as u64;
    let hi = ((mean + reach).ceil() as u64).min(n);
    (lo, hi)
}

fn binomial_pmf(n: u64, k: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    (ln_binomial(n, k) + k as f64 * p.ln() + (n - k) as f64 * (-p).ln_1p()).exp()
}

/// P(X <= k) for X ~ Binomial(n, p), k < n: I_{1-p}(n - k, k + 1).
fn binomial_cdf(n: u64, k: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    beta_reg((n - k) as f64, k as f64 + 1.0, 1.0 - p)
}

/// log(sum(exp(terms))) without overflow, then exponentiated.
fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return 0.0;
    }
    let sum: f64 = terms.map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp()
}

fn percent(events: u64, trials: u64) -> String {
    if trials == 0 {
        return "n/a".into();
    }
    format!("{}%", trim(events as f64 / trials as f64 * 100.0))
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}
