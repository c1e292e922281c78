//! The HTML report: one SVG chart per gate decision, with the series, the
//! threshold and the breaching periods. Self-contained (no scripts, no
//! external assets), so it can be attached to a ticket or a post-mortem.

use metric_gate::judge::{GateOutcome, GateResult, Observation};
use metric_gate::policy::Policy;
use metric_gate::rehearsal::{Rehearsal, Scenario, Step};
use metric_gate::report::threshold_text;
use std::fmt::Write;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 150.0;
const PAD: f64 = 30.0;

/// The page head: title, styles, and the policy that decided.
fn head(title: &str, policy: &Policy) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} h2{{margin-top:2em}} .gate{{display:inline-block;margin:0 1em 1em 0;vertical-align:top}}\
         .pass{{color:#1a7f37}} .fail,.error{{color:#cf222e}} .inconclusive{{color:#9a6700}} svg{{background:#fafafa;border:1px solid #ddd}} small{{color:#666}}\
         </style></head><body><h1>{title}</h1><p>Policy {} <small>{}</small></p>",
        escape(&policy.source),
        escape(&policy.digest)
    )
}

/// Renders a backtest: one chart per gate over the whole replay, the newest
/// judged value of each evaluation, red where the gate would have failed.
pub fn backtest_html(policy: &Policy, title: &str, gates: &[GateResult]) -> String {
    let mut out = head(&escape(title), policy);
    for gate in gates {
        let _ = write!(out, "<div class=\"gate\">{}</div>", chart(gate));
    }
    out.push_str("</body></html>\n");
    out
}

/// Renders rehearsals as one HTML page.
pub fn html(policy: &Policy, rehearsals: &[(Scenario, Rehearsal)]) -> String {
    let mut out = head("Rehearsal report", policy);
    for (scenario, rehearsal) in rehearsals {
        let _ = write!(
            out,
            "<h2>{}</h2><p>{}</p>",
            escape(&scenario.name),
            escape(&scenario.description)
        );
        for step in &rehearsal.steps {
            match step {
                Step::Traffic { minute, share } => {
                    let _ = write!(
                        out,
                        "<p><small>T+{minute:02}m traffic on the replacement: {}%</small></p>",
                        share * 100.0
                    );
                }
                Step::Skipped { minute, hook } => {
                    let _ = write!(out, "<p><small>T+{minute:02}m {hook} skipped (no section in the policy)</small></p>");
                }
                Step::Hook { minute, record } => {
                    let class = if record.status == metric_gate::judge::LifecycleStatus::Failed {
                        "fail"
                    } else {
                        "pass"
                    };
                    let _ = write!(
                        out,
                        "<h3>T+{minute:02}m {} <span class=\"{class}\">{}</span></h3><p>{}</p>",
                        record.hook,
                        record.status,
                        escape(&record.reason)
                    );
                    for gate in record
                        .gates
                        .iter()
                        .filter(|g| g.series().is_some_and(|s| !s.is_empty()))
                    {
                        let _ = write!(out, "<div class=\"gate\">{}</div>", chart(gate));
                    }
                }
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn outcome_class(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Pass => "pass",
        GateOutcome::Inconclusive => "inconclusive",
        GateOutcome::Fail => "fail",
        GateOutcome::Error => "error",
    }
}

/// One gate as an SVG line chart with its threshold and breaches.
pub fn chart(gate: &GateResult) -> String {
    let observations: Vec<Observation> = gate.observations().collect();
    let values: Vec<Option<f64>> = observations.iter().map(|o| o.value).collect();
    let top = values
        .iter()
        .flatten()
        .copied()
        .chain(gate.threshold_value())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let n = values.len().max(2) as f64 - 1.0;
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / n;
    let y = |v: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * (v / top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\"><title>{}</title>",
        escape(&format!("{}: {} ({})", gate.name, gate.outcome, gate.reason))
    );
    // The series, broken where values are missing.
    let mut run = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
            None => flush(&mut svg, &mut run),
        }
    }
    flush(&mut svg, &mut run);
    if let Some(threshold) = gate.threshold_value() {
        let _ = write!(
            svg,
            "<line x1=\"{PAD}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"5 4\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"10\" fill=\"#cf222e\" text-anchor=\"end\">{}</text>",
            WIDTH - PAD,
            WIDTH - PAD,
            y(threshold) - 3.0,
            escape(&threshold_text(gate).unwrap_or_default()),
            y = y(threshold)
        );
    }
    for (i, o) in observations.iter().enumerate() {
        if let Some(v) = o.value {
            let (fill, r) = if o.breaching {
                ("#cf222e", 4.0)
            } else if o.judged {
                ("#0969da", 2.5)
            } else {
                ("#999", 2.0)
            };
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{r}\" fill=\"{fill}\"/>",
                x(i),
                y(v)
            );
        }
    }
    // Axes: the value scale on the left, the first and last period below.
    // Percentages when the threshold is one, on its own (not beside a baseline).
    let percent = gate
        .threshold_figures()
        .is_some_and(|f| f.threshold.plain_percent());
    let label = |v: f64| {
        if percent {
            format!("{:.2}%", v * 100.0)
        } else {
            format!("{v:.2}")
        }
    };
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\">{}</text><text x=\"4\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\">0</text>",
        PAD - 4.0,
        label(top),
        HEIGHT - PAD
    );
    if let (Some(first), Some(last)) = (observations.first(), observations.last()) {
        let _ = write!(
            svg,
            "<text x=\"{PAD}\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\">{}</text><text x=\"{}\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\" text-anchor=\"end\">{}</text>",
            HEIGHT - 10.0,
            clock(first.timestamp),
            WIDTH - PAD,
            HEIGHT - 10.0,
            clock(last.timestamp)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"16\" font-size=\"12\">{} <tspan class=\"{}\">{}</tspan></text></svg>",
        escape(&gate.name),
        outcome_class(gate.outcome),
        gate.outcome
    );
    svg
}

/// `HH:MM` UTC of an epoch second.
fn clock(epoch: i64) -> String {
    let minutes = epoch.div_euclid(60);
    format!(
        "{:02}:{:02} UTC",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}

fn flush(svg: &mut String, run: &mut Vec<String>) {
    if !run.is_empty() {
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"{}\"/>",
            run.join(" ")
        );
        run.clear();
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
