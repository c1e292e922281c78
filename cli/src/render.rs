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
/// the largest value and `reference` (the threshold), so a line under the
/// threshold looks low. Missing periods are `·`.
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
/// push its line out of line with the others.
pub fn gate_lines<'a>(
    gates: impl IntoIterator<Item = &'a GateResult>,
    colour: bool,
) -> Vec<String> {
    let cells: Vec<(&GateResult, String)> = gates
        .into_iter()
        .map(|gate| {
            let observations: Vec<Observation> = gate.observations().collect();
            let spark = if observations.is_empty() {
                String::new()
            } else {
                sparkline(&observations, gate.threshold_value().unwrap_or(0.0))
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
            let outcome = format!("{:<12}", gate.outcome.to_string());
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
            format!(
                "{:<name_width$} {spark}{} {}{warning}",
                gate.name,
                paint(&outcome, outcome_colour(gate.outcome), colour),
                gate.reason
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

    #[test]
    fn no_colour_means_plain_text() {
        assert_eq!(paint("fail", Colour::Red, false), "fail");
        assert_eq!(paint("fail", Colour::Red, true), "\x1b[31mfail\x1b[0m");
    }
}
