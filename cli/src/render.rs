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

/// One line for a gate: name, sparkline, outcome, reason. A gate the judge
/// did not judge shows `not judged` and why instead of an outcome, and no
/// sparkline: with no bound to scale against, its bars would say nothing.
pub fn gate_line(gate: &GateResult, colour: bool) -> String {
    let observations: Vec<Observation> = gate.observations().collect();
    let reference = gate.bounds().flatten().fold(None, |top: Option<f64>, b| {
        Some(top.map_or(b.abs(), |t| t.max(b.abs())))
    });
    let spark = match reference {
        Some(reference) if !observations.is_empty() && gate.not_judged.is_none() => {
            format!("{} ", sparkline(&observations, reference))
        }
        _ => String::new(),
    };
    let warning = if gate.severity == metric_gate::policy::Severity::Warning {
        " (warning)"
    } else {
        ""
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
    format!("{:<26} {spark}{outcome} {reason}{warning}", gate.name)
}

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
