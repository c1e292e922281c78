//! The statistical test a baseline gate is judged with: `test` (per period,
//! `two_proportion`, `mann_whitney`), its options (`alpha`, `direction`,
//! `nan_strategy`, `effect_size`, `critical_threshold`), whether the gate
//! fits the test it names, and the gate's `weight` in the hook's
//! `canary_score`. Each option is refused by name where it does not apply,
//! so a misplaced one never passes silently.

use super::baseline::parse_relative;
use super::scalars::describe;
use super::Validator;
use crate::policy::raw::{Location, RawGate, RawScalar, Spanned};
use crate::policy::{BaselineRule, BaselineTest, Comparison, NanStrategy, RelativeBound};
use crate::policy::{EffectSize, SeriesKind, Severity, Signal};

/// A gate's `test` and its options, as written.
pub(super) struct RawTest {
    test: Option<Spanned<String>>,
    alpha: Option<Spanned<f64>>,
    direction: Option<Spanned<String>>,
    nan_strategy: Option<Spanned<String>>,
    effect_size: Option<Spanned<String>>,
    critical_threshold: Option<Spanned<RawScalar>>,
}

impl RawTest {
    /// The test's fields, taken out of the gate.
    pub(super) fn take(raw: &mut RawGate) -> RawTest {
        RawTest {
            test: raw.test.take(),
            alpha: raw.alpha.take(),
            direction: raw.direction.take(),
            nan_strategy: raw.nan_strategy.take(),
            effect_size: raw.effect_size.take(),
            critical_threshold: raw.critical_threshold.take(),
        }
    }
}

impl Validator<'_> {
    /// The test's options are read (and refused where they do not apply)
    /// before the test itself, which then checks the gate fits it.
    pub(super) fn baseline_test(
        &mut self,
        raw: RawTest,
        signal: &Signal,
        rule: BaselineRule,
        comparison: Comparison,
        path: &str,
    ) -> Option<BaselineTest> {
        let RawTest {
            test,
            alpha,
            direction,
            nan_strategy,
            effect_size,
            critical_threshold,
        } = raw;
        let alpha_value = self.alpha(alpha.as_ref(), path);
        let either = self.direction(direction.as_ref(), test.as_ref(), path);
        let nan_value = self.nan_strategy(nan_strategy.as_ref(), test.as_ref(), path);
        let effect_value = self.effect_size(effect_size.as_ref(), test.as_ref(), signal, path);
        let critical_factor =
            self.critical_threshold(critical_threshold.as_ref(), test.as_ref(), rule, path);
        let Some(test) = test else {
            if let Some(a) = alpha {
                self.problem(a.defined, format!("{path}.alpha"), "applies to a statistical test: add `test: two_proportion` or `test: mann_whitney`");
            }
            return Some(BaselineTest::PerPeriod);
        };
        let field = format!("{path}.test");
        let relative = match rule {
            BaselineRule::Relative(bound) => Some(bound),
            BaselineRule::PassIfNotWorseThan(_) => None,
        };
        match test.value.as_str() {
            "per_period" => Some(BaselineTest::PerPeriod),
            "two_proportion" => {
                self.two_proportion_fits(test.defined, &field, signal, relative, comparison);
                Some(BaselineTest::TwoProportion { alpha: alpha_value })
            }
            "mann_whitney" => {
                self.mann_whitney_fits(test.defined, &field, relative, comparison);
                Some(BaselineTest::MannWhitney {
                    alpha: alpha_value,
                    either,
                    nan_strategy: nan_value,
                    effect_size: effect_value,
                    critical_factor,
                })
            }
            other => {
                self.problem(test.defined, &field, format!("expected `per_period` (default), `two_proportion` or `mann_whitney`, found {other:?}"));
                None
            }
        }
    }

    fn alpha(&mut self, alpha: Option<&Spanned<f64>>, path: &str) -> f64 {
        match alpha {
            None => 0.05,
            Some(a) => {
                if !(a.value > 0.0 && a.value <= 0.5) {
                    self.problem(
                        a.defined,
                        format!("{path}.alpha"),
                        format!(
                            "a significance level in (0, 0.5], usually 0.05 or 0.01; found {}",
                            a.value
                        ),
                    );
                }
                a.value
            }
        }
    }

    /// Whether a shift either way fails (`direction: either`, Mann-Whitney only).
    fn direction(
        &mut self,
        direction: Option<&Spanned<String>>,
        test: Option<&Spanned<String>>,
        path: &str,
    ) -> bool {
        let either = match direction {
            None => false,
            Some(d) if d.value == "either" => true,
            Some(d) if d.value == "increase" || d.value == "decrease" => {
                self.problem(d.defined, format!("{path}.direction"), "the comparison gives the direction (`>`: an increase is bad, `<`: a decrease is bad); `direction` only says `either`");
                false
            }
            Some(d) => {
                self.problem(
                    d.defined,
                    format!("{path}.direction"),
                    format!("expected `either`, found {:?}", d.value),
                );
                false
            }
        };
        if either && test.is_none_or(|t| t.value != "mann_whitney") {
            if let Some(d) = direction {
                self.problem(
                    d.defined,
                    format!("{path}.direction"),
                    "applies to `test: mann_whitney` only",
                );
            }
        }
        either
    }

    /// `nan_strategy`, Mann-Whitney only.
    fn nan_strategy(
        &mut self,
        nan_strategy: Option<&Spanned<String>>,
        test: Option<&Spanned<String>>,
        path: &str,
    ) -> NanStrategy {
        let nan_value = match nan_strategy {
            None => NanStrategy::Remove,
            Some(n) if n.value == "remove" => NanStrategy::Remove,
            Some(n) if n.value == "replace_with_zero" => NanStrategy::ReplaceWithZero,
            Some(n) => {
                self.problem(
                    n.defined,
                    format!("{path}.nan_strategy"),
                    format!("expected `remove` (a period without a value is left out, the default) or `replace_with_zero` (it counts as 0), found {:?}", n.value),
                );
                NanStrategy::Remove
            }
        };
        if test.is_none_or(|t| t.value != "mann_whitney") {
            if let Some(n) = nan_strategy {
                self.problem(
                    n.defined,
                    format!("{path}.nan_strategy"),
                    "applies to `test: mann_whitney` only: a per-period comparison has `missing_data`, a two-proportion test sums counts",
                );
            }
        }
        nan_value
    }

    /// `effect_size`, Mann-Whitney only. Without it, a counter (or a ratio
    /// of counters) is judged on its means, as it is mostly 0 and its
    /// medians tie; anything else on its medians.
    fn effect_size(
        &mut self,
        effect_size: Option<&Spanned<String>>,
        test: Option<&Spanned<String>>,
        signal: &Signal,
        path: &str,
    ) -> EffectSize {
        let field = format!("{path}.effect_size");
        if test.is_none_or(|t| t.value != "mann_whitney") {
            if let Some(e) = effect_size {
                self.problem(e.defined, &field, "applies to `test: mann_whitney` only: a two-proportion test compares rates, a per-period comparison each period's value");
            }
        }
        match effect_size {
            None if signal.queries().all(|q| q.kind == SeriesKind::Counter) => {
                EffectSize::MeanRatio
            }
            None => EffectSize::MedianRatio,
            Some(e) if e.value == "median_ratio" => EffectSize::MedianRatio,
            Some(e) if e.value == "mean_ratio" => EffectSize::MeanRatio,
            Some(e) => {
                self.problem(e.defined, &field, format!("expected `median_ratio` (canary median over baseline median, the default for gauges) or `mean_ratio` (means, the default for counters: it still moves when both medians are 0), found {:?}", e.value));
                EffectSize::MedianRatio
            }
        }
    }

    /// `critical_threshold: 2 x baseline`, Mann-Whitney only: a factor at
    /// least the gate's own, on a critical gate of a hook with a
    /// `canary_score` (below it a shift only counts against the score).
    fn critical_threshold(
        &mut self,
        raw: Option<&Spanned<RawScalar>>,
        test: Option<&Spanned<String>>,
        rule: BaselineRule,
        path: &str,
    ) -> Option<f64> {
        let raw = raw?;
        let field = format!("{path}.critical_threshold");
        let at = raw.defined;
        if test.is_none_or(|t| t.value != "mann_whitney") {
            self.problem(
                at,
                &field,
                "applies to `test: mann_whitney` only (Kayenta's critical effect size)",
            );
            return None;
        }
        let factor = match &raw.value {
            RawScalar::Text(text) => match parse_relative(text) {
                Some(RelativeBound::Factor(f)) => Some(f),
                _ => None,
            },
            _ => None,
        };
        let Some(factor) = factor else {
            self.problem(
                at,
                &field,
                format!(
                    "expected a factor of the baseline such as `2 x baseline`, found {}",
                    describe(&raw.value)
                ),
            );
            return None;
        };
        let gate_factor = match rule {
            BaselineRule::Relative(RelativeBound::Factor(f)) => f,
            _ => 1.0,
        };
        if factor < gate_factor {
            self.problem(at, &field, format!("must be at least the gate's own threshold ({gate_factor} x baseline): the critical threshold is where a shift beyond the allowed one starts to block"));
        }
        if self.severity != Severity::Critical {
            self.problem(at, &field, "applies to a critical gate: a warning never blocks, so it has nothing to make critical");
        }
        if !self.scored {
            self.problem(at, &field, "needs the hook's `canary_score`: a shift beyond the threshold but within the critical threshold only counts against the score, and without one it would count nowhere");
        }
        Some(factor)
    }

    /// `two_proportion` needs counters, `>`, and an allowed rate at least the baseline's.
    fn two_proportion_fits(
        &mut self,
        at: Location,
        field: &str,
        signal: &Signal,
        relative: Option<RelativeBound>,
        comparison: Comparison,
    ) {
        let counters = matches!(signal, Signal::Ratio { numerator, denominator }
            if numerator.iter().chain(denominator).all(|q| q.kind == SeriesKind::Counter));
        if !counters {
            self.problem(at, field, "`two_proportion` compares events out of trials: it needs a `ratio` of counters (e.g. 5XX Sum / RequestCount Sum)");
        }
        if !matches!(
            comparison,
            Comparison::GreaterThan | Comparison::GreaterThanOrEqual
        ) {
            self.problem(at, field, "`two_proportion` asks whether the canary's rate is higher than allowed: use comparison `>`");
        }
        match relative {
            Some(RelativeBound::Factor(f)) if f < 1.0 => self.problem(at, field, "the allowed rate must be at least the baseline's: a factor of 1 or more"),
            Some(RelativeBound::Offset { value, .. }) if value < 0.0 => self.problem(at, field, "the allowed rate must be at least the baseline's: add, do not subtract"),
            Some(_) => {}
            None => self.problem(at, field, "a statistical test needs a threshold relative to the baseline (`baseline`, `baseline + 0.5pp`, `1.5 x baseline`)"),
        }
    }

    /// `mann_whitney` needs a factor of 1 or more and a strict comparison.
    fn mann_whitney_fits(
        &mut self,
        at: Location,
        field: &str,
        relative: Option<RelativeBound>,
        comparison: Comparison,
    ) {
        match relative {
            Some(RelativeBound::Factor(f)) if f >= 1.0 => {}
            _ => self.problem(at, field, "`mann_whitney` takes the effect-size tolerance as a factor of 1 or more: `threshold: 1.2 x baseline` (a shift under 20 % is not a failure)"),
        }
        if !matches!(comparison, Comparison::GreaterThan | Comparison::LessThan) {
            self.problem(
                at,
                field,
                "`mann_whitney` takes `>` (an increase is bad) or `<` (a decrease is bad)",
            );
        }
    }

    /// The gate's weight in the hook's `canary_score` (1 by default).
    pub(super) fn weight(&mut self, raw: Option<&Spanned<f64>>, test: &RawTest, path: &str) -> f64 {
        match raw {
            None => 1.0,
            Some(w) => {
                if !(w.value.is_finite() && w.value > 0.0) {
                    self.problem(
                        w.defined,
                        format!("{path}.weight"),
                        format!("a positive number, found {}", w.value),
                    );
                }
                if test.test.is_none() {
                    self.problem(w.defined, format!("{path}.weight"), "weighs a statistically tested gate in the hook's `canary_score`: add `baseline` and `test`");
                }
                w.value
            }
        }
    }

    /// A gate without `baseline`: every test field it sets is refused.
    pub(super) fn test_without_baseline(&mut self, test: &RawTest, path: &str) {
        for (field, at) in [
            ("test", test.test.as_ref().map(|t| t.defined)),
            ("alpha", test.alpha.as_ref().map(|a| a.defined)),
            ("direction", test.direction.as_ref().map(|d| d.defined)),
            (
                "nan_strategy",
                test.nan_strategy.as_ref().map(|n| n.defined),
            ),
            ("effect_size", test.effect_size.as_ref().map(|e| e.defined)),
            (
                "critical_threshold",
                test.critical_threshold.as_ref().map(|c| c.defined),
            ),
        ] {
            if let Some(at) = at {
                self.problem(
                    at,
                    format!("{path}.{field}"),
                    "needs `baseline`: a statistical test compares the canary with it",
                );
            }
        }
    }
}
