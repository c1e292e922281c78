//! One gate as an SVG chart: the canary's values, the baseline's, and the
//! bound a period breaches past, on axes with units and at least four ticks
//! each; breaching periods as red dots; the evaluations a backtest's gate
//! failed as shaded bands. Only drawing happens here: which periods breach,
//! the bound each period was held to (`GateResult::bounds`) and whether the
//! gate was judged at all are the judge's.

use super::escape;
use metric_gate::judge::{GateResult, Observation};
use metric_gate::policy::{Gate, GateCheck, MetricQuery, Signal};
use std::fmt::Write;

/// The chart's size and its plot area's margins, in pixels.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 46.0;
/// Above this many periods, only breaching periods get a dot.
const DOTS_UP_TO: usize = 120;

const CANARY: &str = "#0969da";
const BASELINE: &str = "#a8b1bb";
const BOUND: &str = "#cf222e";

/// What the values are: how a tick is labelled and what the axis says.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Shares (0 to 1), labelled as percentages and never drawn past 100 %.
    pub percent: bool,
    /// After each tick's number: `" s"`, `" ms"`, or nothing.
    pub suffix: &'static str,
    /// The axis title: the unit, in a word or two.
    pub title: String,
    /// What is measured: the metric and its statistic, or the ratio.
    pub signal: String,
}

impl Unit {
    /// The unit of `gate`'s signal as the policy defines it: a percentage
    /// when its threshold is one, else the unit AWS publishes the metric in
    /// when it is a well-known AWS metric, else the metric's own numbers.
    pub fn of(gate: Option<&Gate>, result: &GateResult) -> Unit {
        let percent = result
            .threshold_figures()
            .is_some_and(|f| f.threshold.limit.unit == metric_gate::policy::ThresholdUnit::Percent);
        let signal = gate.and_then(|g| match &g.check {
            GateCheck::Threshold(check) => Some(&check.signal),
            _ => None,
        });
        match signal {
            Some(Signal::Metric(query)) => {
                let (suffix, unit) = if percent {
                    ("%", "share (%)")
                } else {
                    aws_unit(query)
                };
                Unit {
                    percent,
                    suffix,
                    title: unit.to_string(),
                    signal: format!("{} {}", query.metric_name, query.stat),
                }
            }
            Some(Signal::Ratio {
                numerator,
                denominator,
            }) => {
                let sum = |queries: &[MetricQuery]| {
                    let names: Vec<&str> = queries.iter().map(|q| q.metric_name.as_str()).collect();
                    if names.len() > 1 {
                        format!("({})", names.join(" + "))
                    } else {
                        names.join("")
                    }
                };
                Unit {
                    percent,
                    suffix: if percent { "%" } else { "" },
                    title: if percent { "share (%)" } else { "ratio" }.to_string(),
                    signal: format!("{} / {}", sum(numerator), sum(denominator)),
                }
            }
            None => Unit {
                percent,
                suffix: if percent { "%" } else { "" },
                title: if percent { "share (%)" } else { "value" }.to_string(),
                signal: String::new(),
            },
        }
    }

    /// A tick's label.
    fn label(&self, value: f64) -> String {
        if self.percent {
            format!("{}%", trim(value * 100.0))
        } else {
            format!("{}{}", trim(value), self.suffix)
        }
    }
}

/// The unit AWS publishes a well-known metric in (tick suffix, axis word).
/// A metric outside the table is labelled in its own numbers.
fn aws_unit(query: &MetricQuery) -> (&'static str, &'static str) {
    let name = query.metric_name.as_str();
    match (query.namespace.as_str(), name) {
        ("AWS/ApplicationELB", "TargetResponseTime") | ("AWS/ELB", "Latency") => (" s", "seconds"),
        ("AWS/Lambda", "Duration" | "PostRuntimeExtensionsDuration")
        | ("AWS/ApiGateway", "Latency" | "IntegrationLatency") => (" ms", "milliseconds"),
        (namespace, _)
            if namespace.starts_with("AWS/")
                && (name.ends_with("Count")
                    || name.ends_with("Errors")
                    || matches!(name, "Invocations" | "Throttles" | "5XXError" | "4XXError")) =>
        {
            ("", "count")
        }
        _ => ("", "as published"),
    }
}

/// A number without trailing zeros, to at most four significant decimals.
fn trim(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Evenly spaced round values from 0 covering `high`, at least four
/// (a step of 1, 2, 2.5 or 5 times a power of ten, at most a fifth of
/// `high`... so four to six ticks); shares stop at 100 %.
pub fn value_ticks(high: f64, percent: bool) -> Vec<f64> {
    let high = if high.is_finite() && high > 0.0 {
        high
    } else {
        1.0
    };
    let high = if percent { high.min(1.0) } else { high };
    let raw = high / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    let count = (high / step - 1e-9).ceil().max(3.0) as usize;
    (0..=count).map(|k| k as f64 * step).collect()
}

/// Round instants between `start` and `end` (epoch seconds), at least four:
/// the widest step of a familiar size that gives four or more.
pub fn time_ticks(start: i64, end: i64) -> (Vec<i64>, i64) {
    const STEPS: [i64; 17] = [
        15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
        604_800, 2_592_000,
    ];
    let ticks = |step: i64| -> Vec<i64> {
        let first =
            start.div_euclid(step) * step + if start.rem_euclid(step) == 0 { 0 } else { step };
        (0..)
            .map(|k| first + k * step)
            .take_while(|t| *t <= end)
            .collect()
    };
    for step in STEPS.iter().rev() {
        let found = ticks(*step);
        if found.len() >= 4 {
            return (found, *step);
        }
    }
    // A span under a minute: four evenly spaced instants, whatever they are.
    let step = ((end - start) / 3).max(1);
    ((0..4).map(|k| start + k * step).collect(), step)
}

/// `HH:MM`, `HH:MM:SS` or `MM-DD HH:MM` (UTC), as the tick step needs.
fn time_label(epoch: i64, step: i64, span: i64) -> String {
    let time = aws_smithy_types::DateTime::from_secs(epoch)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string());
    // 2026-11-23T10:04:00Z
    let (date, clock) = time.split_once('T').unwrap_or((&time, ""));
    let clock = clock.trim_end_matches('Z');
    if span >= 2 * 86_400 {
        let day = date.get(5..).unwrap_or(date);
        if step % 86_400 == 0 {
            day.to_string()
        } else {
            format!("{day} {}", clock.get(..5).unwrap_or(clock))
        }
    } else if step < 60 {
        clock.get(..8).unwrap_or(clock).to_string()
    } else {
        clock.get(..5).unwrap_or(clock).to_string()
    }
}

/// What to draw besides the gate itself.
#[derive(Debug, Default, Clone)]
pub struct Extras<'a> {
    /// Per period, whether the evaluation it stands for failed the gate (a
    /// backtest): drawn as a shaded band behind the values.
    pub failed: Option<&'a [bool]>,
}

/// The SVG of `gate`'s periods. `unit` says what the values are.
pub fn svg(gate: &GateResult, unit: &Unit, extras: &Extras<'_>) -> String {
    let observations: Vec<Observation> = gate.observations().collect();
    let bounds: Vec<Option<f64>> = gate.bounds().collect();
    let absolute = gate.threshold_value();
    let not_judged = gate.not_judged;
    let period = gate.series().map_or(60, |s| s.period.max(1));

    // Time runs over the periods' starts; one period's width when there is one.
    let start = observations.first().map_or(0, |o| o.timestamp);
    let last = observations.last().map_or(0, |o| o.timestamp);
    let (t0, t1) = if last > start {
        (start, last)
    } else {
        (start - period, start + period)
    };
    let high = observations
        .iter()
        .flat_map(|o| [o.value, o.baseline])
        .chain(bounds.iter().copied())
        .chain([absolute])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        * 1.08;
    let ticks = value_ticks(high, unit.percent);
    let top = *ticks.last().unwrap_or(&1.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: i64| LEFT + plot_w * (t - t0) as f64 / (t1 - t0) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - (v / top).clamp(0.0, 1.02));

    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        escape(&format!("{}: {}", gate.name, gate.reason))
    );
    let _ = write!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"#fff\" stroke=\"#d0d7de\"/>"
    );
    // The evaluations that failed the gate, behind everything.
    if let Some(failed) = extras.failed {
        let half = (x(t0 + period) - x(t0)) / 2.0;
        for (o, _) in observations.iter().zip(failed).filter(|(_, f)| **f) {
            let left = (x(o.timestamp) - half).max(LEFT);
            let right = (x(o.timestamp) + half).min(LEFT + plot_w);
            let _ = write!(
                svg,
                "<rect class=\"failed\" x=\"{left:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#ffebe9\"/>",
                (right - left).max(1.0)
            );
        }
    }
    // The value axis: a gridline and a label per tick, the unit as its title.
    for value in &ticks {
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/><text class=\"tick y\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            LEFT - 5.0,
            y(*value) + 3.5,
            escape(&unit.label(*value)),
            y = y(*value)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis-title y\" transform=\"translate(12 {:.1}) rotate(-90)\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        escape(&shorten(&unit.title, 40))
    );
    // The time axis.
    let (times, step) = time_ticks(t0, t1);
    for t in &times {
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#8c959f\"/><text class=\"tick x\" x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 4.0,
            TOP + plot_h + 15.0,
            time_label(*t, step, t1 - t0),
            x = x(*t)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis-title x\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"middle\">time (UTC), period start; {}s periods</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0,
        period
    );

    // The bound: one line for a fixed threshold, a step per period for a
    // bound the baseline gives.
    let varying = bounds.iter().flatten().any(|b| Some(*b) != absolute);
    if varying {
        let points: Vec<Option<(f64, f64)>> = observations
            .iter()
            .zip(&bounds)
            .map(|(o, b)| b.map(|b| (x(o.timestamp), y(b))))
            .collect();
        polylines(&mut svg, &points, "bound", BOUND, "5 4", 1.5);
    } else if let Some(threshold) = absolute.filter(|t| *t <= top * 1.02) {
        let _ = write!(
            svg,
            "<line class=\"bound\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{BOUND}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>",
            LEFT + plot_w,
            y = y(threshold)
        );
    }
    // The baseline, then the canary on top.
    let baseline: Vec<Option<(f64, f64)>> = observations
        .iter()
        .map(|o| o.baseline.map(|b| (x(o.timestamp), y(b))))
        .collect();
    // Wider than the canary, so the two stay visible where they meet.
    polylines(&mut svg, &baseline, "baseline", BASELINE, "", 4.0);
    let canary: Vec<Option<(f64, f64)>> = observations
        .iter()
        .map(|o| o.value.map(|v| (x(o.timestamp), y(v))))
        .collect();
    polylines(&mut svg, &canary, "canary", CANARY, "", 2.0);
    let dots = observations.len() <= DOTS_UP_TO;
    for o in &observations {
        let Some(v) = o.value else { continue };
        let (cx, cy) = (x(o.timestamp), y(v));
        if o.breaching {
            let _ = write!(
                svg,
                "<circle class=\"breach\" data-value=\"{v}\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"4.5\" fill=\"{BOUND}\" stroke=\"#fff\"/>"
            );
        } else if dots && o.judged {
            let _ = write!(
                svg,
                "<circle class=\"judged\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{CANARY}\"/>"
            );
        } else if dots {
            let _ = write!(
                svg,
                "<circle class=\"unjudged\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2.5\" fill=\"#fff\" stroke=\"{CANARY}\"/>"
            );
        }
    }
    if observations.iter().all(|o| o.value.is_none()) {
        let _ = write!(
            svg,
            "<text class=\"no-data\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#57606a\" text-anchor=\"middle\">no datapoint in the window</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0 + if not_judged.is_some() { 18.0 } else { 0.0 }
        );
    }
    if let Some(why) = not_judged {
        let _ = write!(
            svg,
            "<text class=\"not-judged\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" fill=\"#57606a\" text-anchor=\"middle\">not judged: {why}</text>",
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    legend(
        &mut svg,
        observations.iter().any(|o| o.baseline.is_some()),
        varying || absolute.is_some(),
        observations.iter().any(|o| o.breaching),
        extras.failed.is_some_and(|f| f.contains(&true)),
    );
    svg.push_str("</svg>");
    svg
}

/// The key above the plot: only what is drawn.
fn legend(svg: &mut String, baseline: bool, bound: bool, breach: bool, failed: bool) {
    enum Mark {
        Line(&'static str, &'static str),
        Dot,
        Band,
    }
    let items = [
        (true, Mark::Line(CANARY, ""), "canary"),
        (baseline, Mark::Line(BASELINE, ""), "baseline"),
        (bound, Mark::Line(BOUND, "5 4"), "bound"),
        (breach, Mark::Dot, "breaching period"),
        (failed, Mark::Band, "gate failed"),
    ];
    let mut at = LEFT;
    for (_, mark, label) in items.iter().filter(|(shown, _, _)| *shown) {
        let drawn = match mark {
            Mark::Line(colour, dash) => format!(
                "<line x1=\"{at:.1}\" x2=\"{:.1}\" y1=\"14\" y2=\"14\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>",
                at + 16.0
            ),
            Mark::Dot => format!(
                "<circle cx=\"{:.1}\" cy=\"14\" r=\"4.5\" fill=\"{BOUND}\"/>",
                at + 8.0
            ),
            Mark::Band => format!(
                "<rect x=\"{at:.1}\" y=\"8\" width=\"16\" height=\"12\" fill=\"#ffebe9\" stroke=\"#ffcecb\"/>"
            ),
        };
        let _ = write!(
            svg,
            "<g class=\"legend\">{drawn}<text x=\"{:.1}\" y=\"17\" font-size=\"10\" fill=\"#24292f\">{label}</text></g>",
            at + 20.0
        );
        at += 30.0 + 5.5 * label.len() as f64;
    }
}

/// `points` as polylines, broken where a period has no value.
fn polylines(
    svg: &mut String,
    points: &[Option<(f64, f64)>],
    class: &str,
    colour: &str,
    dash: &str,
    width: f64,
) {
    let mut run: Vec<String> = Vec::new();
    let flush = |svg: &mut String, run: &mut Vec<String>| {
        if !run.is_empty() {
            let _ = write!(
                svg,
                "<polyline class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-dasharray=\"{dash}\" points=\"{}\"/>",
                run.join(" ")
            );
            run.clear();
        }
    };
    for point in points {
        match point {
            Some((x, y)) => run.push(format!("{x:.1},{y:.1}")),
            None => flush(svg, &mut run),
        }
    }
    flush(svg, &mut run);
}

/// `text` cut to `width` characters with an ellipsis.
fn shorten(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ticks_are_round_at_least_four_and_shares_stop_at_100_percent() {
        assert_eq!(
            value_ticks(1.0, false),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(value_ticks(1.1, true).last(), Some(&1.0));
        for high in [0.0003, 0.07, 0.42, 1.6, 7.0, 13.0, 999.0, 1e6] {
            let ticks = value_ticks(high, false);
            assert!(ticks.len() >= 4, "{high}: {ticks:?}");
            assert!(*ticks.last().unwrap() >= high, "{high}: {ticks:?}");
        }
        assert_eq!(value_ticks(0.0, false).len(), 6, "no values: 0 to 1");
    }

    #[test]
    fn time_ticks_are_at_least_four_round_instants() {
        let (ticks, step) = time_ticks(1_767_225_720, 1_767_225_840);
        assert_eq!(step, 30);
        assert_eq!(ticks.len(), 5);
        let (ticks, step) = time_ticks(0, 455 * 86_400);
        assert!(ticks.len() >= 4 && step >= 86_400, "{step} {ticks:?}");
        assert_eq!(time_label(1_767_225_720, 60, 300), "00:02");
        assert_eq!(time_label(1_767_225_750, 30, 300), "00:02:30");
    }
}
