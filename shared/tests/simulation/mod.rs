//! Seeded simulation of the statistical gates: how often they object to a
//! canary, by drawing canary and baseline many times and asking the real
//! judge functions (`compare_samples`, `compare_proportions`) each time.
//!
//! Shared by the property tests (`shared/tests/statistics_fpr.rs`) and the
//! program that regenerates the false-positive and power table of
//! docs/statistics.md (`shared/examples/fpr.rs`), so the table and the tests
//! measure the same thing the same way. A count of objections comes with its
//! Clopper-Pearson interval (from `statrs`'s beta quantiles), the exact
//! binomial interval, which never covers less than its confidence.
//!
//! Every generator is seeded (Xoshiro256++, whose output is fixed by its
//! specification), so a figure is reproducible to the last digit and a test
//! built on one cannot flake. Floating point is IEEE without fast-math in
//! every profile, so debug and release builds give the same figures.
//!
//! Not every file including this module uses every item.
#![allow(dead_code)]

use metric_gate::judge::statistics::{
    compare_proportions, compare_samples, Classification, Proportion, ProportionOptions,
    ProportionOutcome, ProportionTest, RankMethod, RankTestOptions, Side,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{
    Binomial, Cauchy, Distribution, Exp1, Gumbel, LogNormal, Poisson, StandardNormal, StudentT,
};
use statrs::distribution::{Beta, ContinuousCDF};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

/// The significance level every simulation uses: the gates' default.
pub const ALPHA: f64 = 0.05;

/// Objections (High, Low or Fail) out of trials.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Count {
    /// Trials in which the gate objected.
    pub hits: u64,
    /// Trials run.
    pub trials: u64,
    /// How many trials each test (exact, normal approximation, Fisher, ...)
    /// decided, by name.
    pub tests: BTreeMap<String, u64>,
}

impl Count {
    /// hits / trials.
    pub fn rate(&self) -> f64 {
        self.hits as f64 / self.trials as f64
    }

    /// The two-sided Clopper-Pearson interval at `confidence` (0.95 for a
    /// 95% interval): the rates whose binomial tails at the observed count
    /// are each at least (1 - confidence) / 2.
    pub fn interval(&self, confidence: f64) -> (f64, f64) {
        let tail = (1.0 - confidence) / 2.0;
        let (k, n) = (self.hits as f64, self.trials as f64);
        let lower = if self.hits == 0 {
            0.0
        } else {
            Beta::new(k, n - k + 1.0)
                .expect("valid beta")
                .inverse_cdf(tail)
        };
        let upper = if self.hits == self.trials {
            1.0
        } else {
            Beta::new(k + 1.0, n - k)
                .expect("valid beta")
                .inverse_cdf(1.0 - tail)
        };
        (lower, upper)
    }

    fn tally(&mut self, objected: bool, test: Option<String>) {
        self.trials += 1;
        self.hits += u64::from(objected);
        if let Some(test) = test {
            *self.tests.entry(test).or_default() += 1;
        }
    }

    /// The share of trials each test decided, most used first, e.g.
    /// "exact 52%, normal approximation 48%".
    pub fn tests_used(&self) -> String {
        let mut used: Vec<(&String, &u64)> = self.tests.iter().collect();
        used.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        used.iter()
            .map(|(name, n)| {
                let share = **n as f64 / self.trials as f64 * 100.0;
                if **n == self.trials {
                    (*name).clone()
                } else if share < 0.05 {
                    format!("{name} <0.1%")
                } else if !(1.0..=99.0).contains(&share) {
                    format!("{name} {share:.1}%")
                } else {
                    format!("{name} {share:.0}%")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A standard distribution of per-period values before location and scale.
/// Continuous shapes have no ties; the counting shapes have many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Standard normal.
    Normal,
    /// Uniform on [0, 1).
    Uniform,
    /// Exponential with mean 1 (skewed, like queueing delays).
    Exponential,
    /// exp(Normal(0, sigma)): per-period latency percentiles.
    LogNormal { sigma: f64 },
    /// Student's t (heavy tails; infinite variance at 2 degrees or fewer).
    StudentT { degrees: f64 },
    /// Standard Gumbel (the maximum of many values: a per-period max).
    Gumbel,
    /// Standard Cauchy: no mean, no variance.
    Cauchy,
    /// Poisson counts (ties everywhere).
    Poisson { mean: f64 },
    /// A counter that is 0 in a share `zeros` of periods and
    /// 1 + Poisson(mean) otherwise: error counts of a healthy service.
    MostlyZero { zeros: f64, mean: f64 },
}

impl Shape {
    /// One value.
    pub fn sample(self, rng: &mut impl Rng) -> f64 {
        match self {
            Shape::Normal => StandardNormal.sample(rng),
            Shape::Uniform => rng.random::<f64>(),
            Shape::Exponential => Exp1.sample(rng),
            Shape::LogNormal { sigma } => LogNormal::new(0.0, sigma)
                .expect("valid lognormal")
                .sample(rng),
            Shape::StudentT { degrees } => {
                StudentT::new(degrees).expect("valid Student t").sample(rng)
            }
            Shape::Gumbel => Gumbel::new(0.0, 1.0).expect("valid Gumbel").sample(rng),
            Shape::Cauchy => Cauchy::new(0.0, 1.0).expect("valid Cauchy").sample(rng),
            Shape::Poisson { mean } => Poisson::new(mean).expect("valid Poisson").sample(rng),
            Shape::MostlyZero { zeros, mean } => {
                if rng.random::<f64>() < zeros {
                    0.0
                } else {
                    1.0 + Poisson::new(mean).expect("valid Poisson").sample(rng)
                }
            }
        }
    }

    /// The standard deviation, the "spread" a shift is measured in; `None`
    /// where there is none (Cauchy, Student's t with 2 degrees or fewer).
    pub fn spread(self) -> Option<f64> {
        match self {
            Shape::Normal | Shape::Exponential => Some(1.0),
            Shape::Uniform => Some((1.0_f64 / 12.0).sqrt()),
            Shape::LogNormal { sigma } => {
                let s2 = sigma * sigma;
                Some(((s2.exp() - 1.0) * s2.exp()).sqrt())
            }
            Shape::StudentT { degrees } if degrees > 2.0 => {
                Some((degrees / (degrees - 2.0)).sqrt())
            }
            Shape::StudentT { .. } | Shape::Cauchy => None,
            Shape::Gumbel => Some(std::f64::consts::PI / 6.0_f64.sqrt()),
            Shape::Poisson { mean } => Some(mean.sqrt()),
            Shape::MostlyZero { zeros, mean } => {
                let (on, value) = (1.0 - zeros, 1.0 + mean);
                let second_moment = on * (mean + value * value);
                Some((second_moment - (on * value).powi(2)).sqrt())
            }
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Normal => f.write_str("normal"),
            Shape::Uniform => f.write_str("uniform"),
            Shape::Exponential => f.write_str("exponential"),
            Shape::LogNormal { sigma } => write!(f, "lognormal (sigma {sigma})"),
            Shape::StudentT { degrees } => write!(f, "Student t ({degrees} df)"),
            Shape::Gumbel => f.write_str("Gumbel"),
            Shape::Cauchy => f.write_str("Cauchy"),
            Shape::Poisson { mean } => write!(f, "Poisson (mean {mean})"),
            Shape::MostlyZero { zeros, mean } => write!(
                f,
                "counter, 0 in {}% of periods, else 1 + Poisson({mean})",
                zeros * 100.0
            ),
        }
    }
}

/// The shapes whose power against a shift of k spreads the docs state, and
/// the property test checks (`a_shift_of_k_spreads_is_caught_with_the_stated_power`).
pub const POWER_SHAPES: [(&str, Shape); 6] = [
    ("normal", Shape::Normal),
    ("uniform", Shape::Uniform),
    ("exponential", Shape::Exponential),
    ("lognormal, sigma 0.5", Shape::LogNormal { sigma: 0.5 }),
    ("Student t, 3 df", Shape::StudentT { degrees: 3.0 }),
    ("Gumbel", Shape::Gumbel),
];

/// Where the canary's values come from, relative to the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct RankScenario {
    /// The baseline's values: `location + scale x shape`, then rounded.
    pub shape: Shape,
    pub location: f64,
    pub scale: f64,
    /// Values rounded to a multiple of this (0: not rounded). Rounding
    /// creates ties, so the normal approximation decides.
    pub round_to: f64,
    /// The canary's values are the baseline's distribution times this...
    pub canary_factor: f64,
    /// ...plus this many of the distribution's spreads (its standard
    /// deviation times `scale`).
    pub canary_shift_in_spreads: f64,
    /// Values per side, drawn uniformly from these ranges each trial.
    pub canary_values: RangeInclusive<usize>,
    pub baseline_values: RangeInclusive<usize>,
    /// The test's options (alpha, direction, ...).
    pub options: RankTestOptions,
}

impl RankScenario {
    /// Canary and baseline from the same distribution, `values` per side.
    pub fn identical(
        shape: Shape,
        values: RangeInclusive<usize>,
        options: RankTestOptions,
    ) -> Self {
        RankScenario {
            shape,
            location: 0.0,
            scale: 1.0,
            round_to: 0.0,
            canary_factor: 1.0,
            canary_shift_in_spreads: 0.0,
            canary_values: values.clone(),
            baseline_values: values,
            options,
        }
    }

    fn value(&self, shape_value: f64) -> f64 {
        let value = self.location + self.scale * shape_value;
        if self.round_to > 0.0 {
            (value / self.round_to).round() * self.round_to
        } else {
            value
        }
    }
}

/// How often `compare_samples` objects (High or Low) over `trials` seeded
/// trials of `scenario`.
pub fn rank_objections(scenario: &RankScenario, seed: u64, trials: u64) -> Count {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let shift = scenario.canary_shift_in_spreads
        * scenario.scale
        * scenario.shape.spread().unwrap_or_else(|| {
            assert!(
                scenario.canary_shift_in_spreads == 0.0,
                "{} has no spread to shift by",
                scenario.shape
            );
            0.0
        });
    let (mut canary, mut baseline) = (Vec::new(), Vec::new());
    let mut count = Count::default();
    for _ in 0..trials {
        let n_canary = rng.random_range(scenario.canary_values.clone());
        let n_baseline = rng.random_range(scenario.baseline_values.clone());
        canary.clear();
        baseline.clear();
        for _ in 0..n_canary {
            let value = scenario.value(scenario.shape.sample(&mut rng));
            canary.push(value * scenario.canary_factor + shift);
        }
        for _ in 0..n_baseline {
            baseline.push(scenario.value(scenario.shape.sample(&mut rng)));
        }
        let result = compare_samples(&canary, &baseline, &scenario.options)
            .expect("valid options and finite values");
        count.tally(
            matches!(
                result.classification,
                Classification::High | Classification::Low
            ),
            result.test.map(|t| rank_method_name(t.method).to_string()),
        );
    }
    count
}

fn rank_method_name(method: RankMethod) -> &'static str {
    match method {
        RankMethod::Exact => "exact",
        RankMethod::NormalApproximation => "normal approx.",
    }
}

/// How often `compare_samples` objects when both sides are the same
/// autocorrelated process: log latency an AR(1) with coefficient `phi` and
/// innovations of standard deviation `sigma`, started from its stationary
/// distribution, 30 to 60 values a side.
pub fn autocorrelated_objections(
    phi: f64,
    sigma: f64,
    options: &RankTestOptions,
    seed: u64,
    trials: u64,
) -> Count {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let innovation = rand_distr::Normal::new(0.0, sigma).expect("valid normal");
    let series = |len: usize, rng: &mut Xoshiro256PlusPlus| -> Vec<f64> {
        let mut level = innovation.sample(rng) / (1.0 - phi * phi).sqrt();
        (0..len)
            .map(|_| {
                level = phi * level + innovation.sample(rng);
                0.120 * level.exp()
            })
            .collect()
    };
    let mut count = Count::default();
    for _ in 0..trials {
        let (n_canary, n_baseline) = (rng.random_range(30..=60), rng.random_range(30..=60));
        let canary = series(n_canary, &mut rng);
        let baseline = series(n_baseline, &mut rng);
        let result = compare_samples(&canary, &baseline, options).expect("valid options");
        count.tally(
            matches!(
                result.classification,
                Classification::High | Classification::Low
            ),
            result.test.map(|t| rank_method_name(t.method).to_string()),
        );
    }
    count
}

/// Error rates and request counts on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ProportionScenario {
    pub baseline_rate: f64,
    pub canary_rate: f64,
    /// Requests per side, drawn uniformly from these ranges each trial.
    pub canary_requests: RangeInclusive<u64>,
    pub baseline_requests: RangeInclusive<u64>,
    /// The test's options (alpha, tolerance, ...).
    pub options: ProportionOptions,
}

/// How often `compare_proportions` fails the canary over `trials` seeded
/// trials of `scenario`.
pub fn proportion_failures(scenario: &ProportionScenario, seed: u64, trials: u64) -> Count {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut count = Count::default();
    let draw = |n: u64, p: f64, rng: &mut Xoshiro256PlusPlus| {
        Binomial::new(n, p).expect("valid binomial").sample(rng)
    };
    for _ in 0..trials {
        let n_canary = rng.random_range(scenario.canary_requests.clone());
        let n_baseline = rng.random_range(scenario.baseline_requests.clone());
        let canary_errors = draw(n_canary, scenario.canary_rate, &mut rng);
        let baseline_errors = draw(n_baseline, scenario.baseline_rate, &mut rng);
        let result = compare_proportions(
            Proportion::new(canary_errors, n_canary, Side::Canary).expect("errors <= requests"),
            Proportion::new(baseline_errors, n_baseline, Side::Baseline)
                .expect("errors <= requests"),
            &scenario.options,
        )
        .expect("valid options");
        count.tally(
            result.outcome == ProportionOutcome::Fail,
            result.test.map(|t| proportion_test_name(t).to_string()),
        );
    }
    count
}

fn proportion_test_name(test: ProportionTest) -> &'static str {
    match test {
        ProportionTest::ScoreZ => "score z",
        ProportionTest::FisherExact => "Fisher",
        ProportionTest::ConditionalBinomial => "cond. binomial",
        ProportionTest::ExactAtRestrictedEstimate => "exact at restricted",
    }
}
