//! Terminal rendering shared by the subcommands: gate lines with sparklines,
//! coloured only when standard output is a terminal.

use metric_gate::judge::{GateOutcome, GateResult, Observation};
use std::io::IsTerminal;

/// Whether to colour standard output.
pub fn colour_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// ANSI colours used for outcomes.
#[derive(Debug, Clone, Copy)]
pub enum Colour {
    Green,
    Red,
    Yellow,
    Dim,
}

/// `text` in `colour` when `enabled`.
pub fn paint(text: &str, colour: Colour, enabled: bool) -> String {
    if !enabled {
        return text.to_string();
    }
    let code = match colour {
        Colour::Green => "32",
        Colour::Red => "31",
        Colour::Yellow => "33",
        Colour::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The colour of an outcome.
pub fn outcome_colour(outcome: GateOutcome) -> Colour {
    match outcome {
        GateOutcome::Pass => Colour::Green,
        GateOutcome::Inconclusive => Colour::Yellow,
        GateOutcome::Fail | GateOutcome::Error => Colour::Red,
    }
}

/// A sparkline of a gate's observations, scaled from zero to the larger of
/// the largest value and `reference` (the highest bound the gate was held
/// to), so a line under its bound looks low. Missing periods are `·`.
pub fn sparkline(observations: &[Observation], reference: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = observations
        .iter()
        .filter_map(|o| o.value)
        .fold(reference.abs(), f64::max);
    observations
        .iter()
        .map(|o| match o.value {
            None => '·',
            Some(_) if top <= 0.0 => BARS[0],
            Some(v) => BARS[((v / top) * 7.0).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// One line per gate: name, sparkline, outcome, reason, in columns as wide
/// as the longest name and sparkline among `gates` (at least
/// [`NAME_COLUMN`] for the name), so a long name or a longer window does not
/// push its line out of line with the others. A gate the judge did not judge
/// shows `not judged` and why instead of an outcome, and no sparkline: with
/// no bound to scale against, its bars would say nothing. Other sparklines
/// are scaled to the bound the judge held the gate to.
pub fn gate_lines<'a>(
    gates: impl IntoIterator<Item = &'a GateResult>,
    colour: bool,
) -> Vec<String> {
    let cells: Vec<(&GateResult, String)> = gates
        .into_iter()
        .map(|gate| {
            let observations: Vec<Observation> = gate.observations().collect();
            let reference = gate.bounds().flatten().fold(None, |top: Option<f64>, b| {
                Some(top.map_or(b.abs(), |t| t.max(b.abs())))
            });
            let spark = match reference {
                Some(reference) if !observations.is_empty() && gate.not_judged.is_none() => {
                    sparkline(&observations, reference)
                }
                _ => String::new(),
            };
            (gate, spark)
        })
        .collect();
    let name_width = cells
        .iter()
        .map(|(gate, _)| gate.name.chars().count())
        .fold(NAME_COLUMN, usize::max);
    let spark_width = cells
        .iter()
        .map(|(_, spark)| spark.chars().count())
        .max()
        .unwrap_or(0);
    cells
        .iter()
        .map(|(gate, spark)| {
            let warning = if gate.severity == metric_gate::policy::Severity::Warning {
                " (warning)"
            } else {
                ""
            };
            let spark = if spark_width == 0 {
                String::new()
            } else {
                format!("{spark:<spark_width$} ")
            };
            let (outcome, reason) = match gate.not_judged {
                Some(why) => (
                    paint(&format!("{:<12}", "not judged"), Colour::Dim, colour),
                    format!("{why}: {}", gate.reason),
                ),
                None => (
                    paint(
                        &format!("{:<12}", gate.outcome.to_string()),
                        outcome_colour(gate.outcome),
                        colour,
                    ),
                    gate.reason.clone(),
                ),
            };
            format!(
                "{:<name_width$} {spark}{outcome} {reason}{warning}",
                gate.name
            )
        })
        .collect()
}

/// The narrowest name column: most gate names fit.
pub const NAME_COLUMN: usize = 26;

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(values: &[Option<f64>]) -> Vec<Observation> {
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| Observation {
                timestamp: i as i64 * 60,
                value,
                breaching: false,
                judged: true,
                baseline: None,
            })
            .collect()
    }

    #[test]
    fn sparkline_scales_to_the_threshold_and_marks_gaps() {
        assert_eq!(
            sparkline(&obs(&[Some(0.0), Some(0.5), None, Some(1.0)]), 1.0),
            "▁▅·█"
        );
        // Values far under the threshold stay low.
        assert_eq!(sparkline(&obs(&[Some(0.01), Some(0.01)]), 1.0), "▁▁");
        assert_eq!(sparkline(&obs(&[Some(3.0), Some(1.5)]), 1.0), "█▅");
    }

    /// A `> 1.4 x baseline` gate over five periods of 0.3 s, with the
    /// baseline's values (`None`: it had none).
    fn relative_gate(baseline: Option<f64>) -> GateResult {
        use metric_gate::judge::{
            BaselineFigure, GateFigures, GateSeries, Rule, ThresholdFigure, ThresholdFigures,
        };
        use metric_gate::policy::{
            BaselineRule, BaselineSource, Comparison, RelativeBound, Severity, Threshold,
            ThresholdUnit,
        };
        let mut observations = obs(&[Some(0.3); 5]);
        for o in &mut observations {
            o.baseline = baseline;
        }
        let threshold = ThresholdFigure {
            comparison: Comparison::GreaterThan,
            limit: Threshold {
                value: 1.4,
                unit: ThresholdUnit::Plain,
            },
            baseline: Some(BaselineFigure {
                rule: BaselineRule::Relative(RelativeBound::Factor(1.4)),
                source: BaselineSource::Live,
            }),
        };
        let rule = Rule {
            datapoints_to_alarm: 3,
            evaluation_periods: 5,
            period_secs: 60,
        };
        let window = metric_gate::vocab::TimeRange { start: 0, end: 300 };
        let mut figures = ThresholdFigures::new(threshold, rule, window);
        figures.series = Some(GateSeries::from_observations(60, &observations));
        let mut gate = GateResult::new(
            "latency-vs-baseline",
            Severity::Critical,
            GateOutcome::Pass,
            "0 of the last 5 periods > 1.4 x baseline".into(),
        );
        gate.figures = GateFigures::Threshold(figures);
        gate
    }

    /// Issue 17: a gate with no baseline drew full bars (scaled to its own
    /// values, with no bound) and read as an outcome.
    #[test]
    fn a_gate_not_judged_says_so_and_draws_no_bars() {
        let mut gate = relative_gate(None);
        gate.outcome = GateOutcome::Inconclusive;
        gate.not_judged = Some(metric_gate::judge::NotJudged::NoBaseline);
        gate.reason = "the baseline had no datapoint in the window".into();
        let line = gate_lines([&gate], false).remove(0);
        assert!(
            line.contains("not judged   no baseline: the baseline had no datapoint"),
            "{line}"
        );
        assert!(
            !line.contains('█') && !line.contains("inconclusive"),
            "{line}"
        );
    }

    #[test]
    fn a_relative_gate_is_scaled_to_the_bound_its_baseline_gives() {
        // 0.3 s against a bound of 1.4 x 0.3 s = 0.42 s: five bars at 5/7.
        let line = gate_lines([&relative_gate(Some(0.3))], false).remove(0);
        assert!(line.contains("▆▆▆▆▆ pass"), "{line}");
    }

    #[test]
    fn no_colour_means_plain_text() {
        assert_eq!(paint("fail", Colour::Red, false), "fail");
        assert_eq!(paint("fail", Colour::Red, true), "\x1b[31mfail\x1b[0m");
    }
}
