//! Statistics for comparing a canary with its baseline: pure functions, no I/O.
//!
//! A static threshold catches a disaster; these tests catch a canary that is
//! merely worse than what it replaces. Three pieces, each usable alone:
//!
//! - [`proportion`]: error counts as proportions (errors / requests on each
//!   side), a one-sided test of "is the canary worse than the baseline plus a
//!   tolerance?" that answers pass, fail or not enough evidence. Rank tests
//!   miss sparse errors on a baseline with none (every period's count is 0 on
//!   both sides, so the ranks barely move); a proportion test pools every
//!   request and does not.
//! - [`mann_whitney`]: the Mann-Whitney U test on per-period values (latency
//!   percentiles, CPU), with an effect-size tolerance and a direction of
//!   concern, classifying one metric as pass, high, low or no data, as
//!   Kayenta's classifier does.
//! - [`score`]: Kayenta-style weighted scoring of those classifications, with
//!   pass and marginal thresholds, critical metrics that fail the analysis
//!   whatever the score (beyond their critical tolerance, when they have
//!   one), and a limit on the share of weight without data.
//!
//! Why a module of its own and not code inside the gates: the statistics are
//! where a subtle mistake silently changes how often production rolls back
//! for nothing (false positives) or keeps a bad release (false negatives), so
//! they are tested against published values and by seeded simulation of their
//! false-positive rate, apart from any policy plumbing. Distributions and
//! special functions come from `statrs` rather than hand-written
//! approximations. The method, its assumptions and the measured error rates
//! are written up in `docs/statistics.md`.
//!
//! Every function validates its options and inputs and returns a
//! [`StatisticsError`] naming the problem: a NaN alpha or a count of errors
//! above the count of requests is a configuration or collection bug, never a
//! silent pass.

pub mod mann_whitney;
pub mod proportion;
pub mod score;

pub use mann_whitney::{
    compare_samples, mann_whitney, Alternative, Classification, EffectSize, EffectTolerance,
    MannWhitney, NanStrategy, RankComparison, RankMethod, RankTestOptions,
};
pub use proportion::{
    compare_proportions, Proportion, ProportionComparison, ProportionOptions, ProportionOutcome,
    ProportionTest, Tolerance,
};
pub use score::{
    score, GroupScore, MetricEvidence, MetricResult, NoDataPolicy, ScoreOptions, ScoreOutcome,
    ScoreReport, KAYENTA_NO_DATA_LIMIT,
};

pub use crate::vocab::Side;
use serde::Serialize;
use std::fmt;

/// Which way a metric moving is bad. The tests look only that way: a faster
/// canary never fails a latency metric whose concern is `Increase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is worse (latency, errors, CPU): the default.
    #[default]
    Increase,
    /// Lower is worse (throughput, success count, cache hit rate).
    Decrease,
    /// Any significant change is suspect.
    Either,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
            Direction::Either => "either",
        })
    }
}

/// A statistical comparison that cannot be made as asked. Each message names
/// the option or input at fault and what it should be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatisticsError {
    /// An option is out of its range (alpha outside (0, 1), a negative
    /// tolerance, thresholds in the wrong order, ...).
    #[error("option {name} must be {expected}, got {value}")]
    InvalidOption {
        /// The option's name as documented on its struct.
        name: &'static str,
        /// The allowed range, in words.
        expected: &'static str,
        /// What was given.
        value: f64,
    },
    /// A count that is not a finite, non-negative whole number.
    #[error("the {side} {what} must be a finite, non-negative whole number, got {value}")]
    InvalidCount {
        /// Which side.
        side: Side,
        /// `events` or `trials`.
        what: &'static str,
        /// What was given.
        value: f64,
    },
    /// More events (errors) than trials (requests): the two counts come from
    /// different windows or dimensions.
    #[error("the {side} has {events} events out of {trials} trials: events cannot exceed trials (were the two counts fetched over the same window and dimensions?)")]
    EventsExceedTrials {
        /// Which side.
        side: Side,
        /// Events (errors).
        events: u64,
        /// Trials (requests).
        trials: u64,
    },
    /// A sample with no values where the test needs at least one.
    #[error("the {side} sample is empty: the test needs at least one value per side")]
    EmptySample {
        /// Which side.
        side: Side,
    },
    /// NaN or an infinity given to a test that takes finite values only
    /// (use `compare_samples`, which applies a NaN strategy).
    #[error(
        "the {side} sample has a NaN or infinite value: remove or replace missing values first"
    )]
    NonFiniteValue {
        /// Which side.
        side: Side,
    },
    /// An infinity in a sample given to `compare_samples`: the NaN strategy
    /// covers periods without a value, and no metric's value is infinite.
    #[error("the {side} sample holds {value}: no metric is infinite, and the NaN strategy applies to periods without a value, never to an impossible one")]
    InfiniteValue {
        /// Which side.
        side: Side,
        /// The infinity.
        value: f64,
    },
    /// A scored metric's weight is not a finite positive number.
    #[error("metric {metric}: weight must be a finite number above 0, got {weight}")]
    InvalidWeight {
        /// The metric's name.
        metric: String,
        /// What was given.
        weight: f64,
    },
    /// Nothing to score.
    #[error("no metrics to score: a statistical analysis needs at least one metric")]
    NoMetrics,
}

/// Checks `alpha` lies strictly between 0 and 1.
fn check_alpha(alpha: f64) -> Result<(), StatisticsError> {
    if alpha.is_finite() && alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(StatisticsError::InvalidOption {
            name: "alpha",
            expected: "strictly between 0 and 1 (e.g. 0.05)",
            value: alpha,
        })
    }
}

/// A p-value for reasons: four significant digits, scientific when tiny.
fn format_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

#[cfg(test)]
mod tests;
