//! The statistical test a baseline gate is judged with: `test` (per period,
//! `two_proportion`, `mann_whitney`), its options (`alpha`, `direction`,
//! `nan_strategy`) and whether the gate fits the test it names. Each option is
//! refused by name where it does not apply, so a misplaced one never passes
//! silently.

use super::Validator;
use crate::policy::raw::Spanned;
use crate::policy::{BaselineRule, BaselineTest, Comparison, NanStrategy, RelativeBound};
use crate::policy::{SeriesKind, Signal};

/// A gate's `test`, `alpha`, `direction` and `nan_strategy`, as written.
pub(super) type RawTest = (
    Option<Spanned<String>>,
    Option<Spanned<f64>>,
    Option<Spanned<String>>,
    Option<Spanned<String>>,
);

impl Validator<'_> {
    pub(super) fn baseline_test(
        &mut self,
        (test, alpha, direction, nan_strategy): RawTest,
        signal: &Signal,
        rule: BaselineRule,
        comparison: Comparison,
        path: &str,
    ) -> Option<BaselineTest> {
        let alpha_value = match &alpha {
            None => 0.05,
            Some(a) => {
                if !(a.value > 0.0 && a.value <= 0.5) {
                    self.problem(
                        a.referenced,
                        format!("{path}.alpha"),
                        format!(
                            "a significance level in (0, 0.5], usually 0.05 or 0.01; found {}",
                            a.value
                        ),
                    );
                }
                a.value
            }
        };
        let either = match &direction {
            None => false,
            Some(d) if d.value == "either" => true,
            Some(d) if d.value == "increase" || d.value == "decrease" => {
                self.problem(d.referenced, format!("{path}.direction"), "the comparison gives the direction (`>`: an increase is bad, `<`: a decrease is bad); `direction` only says `either`");
                false
            }
            Some(d) => {
                self.problem(
                    d.referenced,
                    format!("{path}.direction"),
                    format!("expected `either`, found {:?}", d.value),
                );
                false
            }
        };
        if either && test.as_ref().is_none_or(|t| t.value != "mann_whitney") {
            if let Some(d) = &direction {
                self.problem(
                    d.referenced,
                    format!("{path}.direction"),
                    "applies to `test: mann_whitney` only",
                );
            }
        }
        let nan_value = match &nan_strategy {
            None => NanStrategy::Remove,
            Some(n) if n.value == "remove" => NanStrategy::Remove,
            Some(n) if n.value == "replace_with_zero" => NanStrategy::ReplaceWithZero,
            Some(n) => {
                self.problem(
                    n.referenced,
                    format!("{path}.nan_strategy"),
                    format!("expected `remove` (a period without a value is left out, the default) or `replace_with_zero` (it counts as 0), found {:?}", n.value),
                );
                NanStrategy::Remove
            }
        };
        if test.as_ref().is_none_or(|t| t.value != "mann_whitney") {
            if let Some(n) = &nan_strategy {
                self.problem(
                    n.referenced,
                    format!("{path}.nan_strategy"),
                    "applies to `test: mann_whitney` only: a per-period comparison has `missing_data`, a two-proportion test sums counts",
                );
            }
        }
        let Some(test) = test else {
            if let Some(a) = alpha {
                self.problem(a.referenced, format!("{path}.alpha"), "applies to a statistical test: add `test: two_proportion` or `test: mann_whitney`");
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
                let counters = matches!(signal, Signal::Ratio { numerator, denominator }
                    if numerator.iter().chain(denominator).all(|q| q.kind == SeriesKind::Counter));
                if !counters {
                    self.problem(test.referenced, &field, "`two_proportion` compares events out of trials: it needs a `ratio` of counters (e.g. 5XX Sum / RequestCount Sum)");
                }
                if !matches!(
                    comparison,
                    Comparison::GreaterThan | Comparison::GreaterThanOrEqual
                ) {
                    self.problem(test.referenced, &field, "`two_proportion` asks whether the canary's rate is higher than allowed: use comparison `>`");
                }
                match relative {
                    Some(RelativeBound::Factor(f)) if f < 1.0 => self.problem(test.referenced, &field, "the allowed rate must be at least the baseline's: a factor of 1 or more"),
                    Some(RelativeBound::Offset { value, .. }) if value < 0.0 => self.problem(test.referenced, &field, "the allowed rate must be at least the baseline's: add, do not subtract"),
                    Some(_) => {}
                    None => self.problem(test.referenced, &field, "a statistical test needs a threshold relative to the baseline (`baseline`, `baseline + 0.5pp`, `1.5 x baseline`)"),
                }
                Some(BaselineTest::TwoProportion { alpha: alpha_value })
            }
            "mann_whitney" => {
                match relative {
                    Some(RelativeBound::Factor(f)) if f >= 1.0 => {}
                    _ => self.problem(test.referenced, &field, "`mann_whitney` takes the effect-size tolerance as a factor of 1 or more: `threshold: 1.2 x baseline` (a shift under 20 % is not a failure)"),
                }
                if !matches!(comparison, Comparison::GreaterThan | Comparison::LessThan) {
                    self.problem(
                        test.referenced,
                        &field,
                        "`mann_whitney` takes `>` (an increase is bad) or `<` (a decrease is bad)",
                    );
                }
                Some(BaselineTest::MannWhitney {
                    alpha: alpha_value,
                    either,
                    nan_strategy: nan_value,
                })
            }
            other => {
                self.problem(test.referenced, &field, format!("expected `per_period` (default), `two_proportion` or `mann_whitney`, found {other:?}"));
                None
            }
        }
    }
}
