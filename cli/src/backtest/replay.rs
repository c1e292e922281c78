//! The replay: the hook's window slides over the export one period at a time,
//! and each step is one evaluation through the hooks' own pipeline
//! (`run::decide`), the export answering as the metric source.
//!
//! Time and memory follow the data, not the span. An evaluation whose ranges
//! (the gates' windows, and the history a baseline reads) hold no datapoint
//! is judged once; every following evaluation whose ranges are certainly as
//! empty (until the next datapoint can enter a range) gets the same outcomes
//! without being run again, as nothing it would read differs. Ten points over
//! fifteen months are a few dozen evaluations, not 650,000. What is kept per
//! gate is fixed in size (`summary`): a timeline of at most 100 marks, a chart
//! of at most 1,000 points, the first 20 runs of failed evaluations.

use super::summary::{stamp, Chart, Failures, Timeline};
use crate::report::BacktestGate;
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use metric_gate::evidence::export::ExportSource;
use metric_gate::evidence::plan;
use metric_gate::evidence::probes::NoProbes;
use metric_gate::evidence::switches::NoSwitches;
use metric_gate::judge::{judge, GateResult, LifecycleStatus, Verdict};
use metric_gate::policy::{GateCheck, Policy};
use metric_gate::run::{decide, Question, Sources};
use metric_gate::vocab::TimeRange;
use metric_gate::Hook;
use std::collections::BTreeMap;

/// CloudWatch keeps 15 months: a longer span is a broken export.
const MAX_SPAN_SECS: i64 = 455 * 86_400;

/// The evaluation instants: `count` of them, `step` apart from `first`.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// The first evaluation's `now`.
    pub first: i64,
    /// Seconds between evaluations: the hook's shortest period.
    pub step: i64,
    /// How many evaluations.
    pub count: u64,
}

impl Grid {
    /// The `now` of evaluation `i`.
    pub fn at(&self, i: u64) -> i64 {
        self.first + i as i64 * self.step
    }
}

/// One gate over the replay.
pub struct GateReplay {
    /// Its first result with the worst outcome seen (its outcome and
    /// reason), without its series.
    pub result: GateResult,
    /// When that result was judged (the evaluation's `now`).
    pub worst_at: i64,
    /// Its outcome at every evaluation, in at most 100 marks.
    pub timeline: Timeline,
    /// Its newest judged period at every evaluation, for `--report`.
    pub chart: Option<Chart>,
}

/// What a replay found, in a size that does not grow with the span.
pub struct Replayed {
    /// When the evaluations were.
    pub grid: Grid,
    /// By gate name.
    pub gates: BTreeMap<String, GateReplay>,
    /// The evaluations the hook would have reported Failed in.
    pub failures: Failures,
    /// Evaluations counted from an earlier one because no range held a
    /// datapoint, and in how many spans.
    pub copied: u64,
    /// The spans those were in.
    pub empty_spans: u64,
}

/// Replays the export through `hook`'s pipeline; `charts` keeps what
/// `--report` draws.
pub fn replay(
    policy: &Policy,
    hook: Hook,
    source: &ExportSource,
    charts: bool,
) -> Result<Replayed> {
    let section = policy.hook(hook).expect("hook_policy checked the section");
    let Some((first, last)) = source.span() else {
        bail!("the export has no datapoints");
    };
    let (step, reach) = section
        .gates
        .iter()
        .filter_map(|g| match &g.check {
            GateCheck::Threshold(t) => Some((t.period_secs, t.window_secs)),
            GateCheck::Alarms(_) | GateCheck::Probe(_) | GateCheck::Flag(_) => None,
        })
        .fold((i64::MAX, 0), |(step, reach), (p, w)| {
            (step.min(p), reach.max(w))
        });
    let lag = section.ingestion_lag_secs;
    if last - first > MAX_SPAN_SECS {
        bail!(
            "the export spans {} days; CloudWatch keeps at most 15 months",
            (last - first) / 86_400
        );
    }
    // From the first instant a whole window of data exists to the last datapoint.
    let (start, end) = (first + reach + lag, last + step + lag);
    if end < start {
        bail!("the export covers {}s of data; {hook}'s gates need at least one whole window ({reach}s) to judge", last - first + step);
    }
    let grid = Grid {
        first: start,
        step,
        count: ((end - start) / step) as u64 + 1,
    };
    let mut replayed = Replayed {
        grid,
        gates: BTreeMap::new(),
        failures: Failures::new(step),
        copied: 0,
        empty_spans: 0,
    };
    let runtime = crate::runtime()?;
    let progress = ProgressBar::new(grid.count);
    let mut i = 0;
    while i < grid.count {
        let now = grid.at(i);
        let verdict = runtime.block_on(evaluate(source, policy, hook, now));
        // Not skipping is always right; the plan is only asked when the
        // window just behind `now` holds no datapoint, so dense data pays
        // one binary search per evaluation for the shortcut.
        let recent = TimeRange {
            start: now - lag - reach,
            end: now - lag + 1,
        };
        let copies = if source.any_in(recent) {
            0
        } else {
            empty_after(policy, hook, source, &grid, i).unwrap_or(0)
        };
        if copies > 0 {
            replayed.copied += copies;
            replayed.empty_spans += 1;
        }
        replayed.record(i, 1 + copies, &verdict, charts);
        i += 1 + copies;
        progress.set_position(i);
    }
    progress.finish_and_clear();
    replayed.failures.finish();
    Ok(replayed)
}

/// The hook's decision at `now` on the export, through the hook's own
/// pipeline; the gates' verdict (before a hook-level dry run).
async fn evaluate(source: &ExportSource, policy: &Policy, hook: Hook, now: i64) -> Verdict {
    let sources = Sources {
        flags: &metric_gate::evidence::NoFlags,
        metrics: source,
        alarms: source,
        deployments: source,
        switches: &NoSwitches,
        probes: &NoProbes,
    };
    let question = Question {
        policy,
        hook,
        deployment_id: "backtest",
        now,
        budget: std::time::Duration::from_secs(60),
    };
    decide(question, &sources, judge).await.decision.verdict
}

/// When no range evaluation `i` reads holds a datapoint: how many of the
/// following evaluations are certainly as empty. `None` when a range holds
/// one.
///
/// Every range the plan reads at `now` (the gates' windows, and each history
/// range a baseline reads `offset` seconds earlier) ends at most `now - lag -
/// offset`, and its start only moves forward with `now`. So a range that holds
/// nothing now holds nothing until its end passes the next datapoint `t` after
/// it, which takes `now > t + lag + offset`. Binding may leave gates out, which
/// only shrinks the ranges: the full policy's plan is a safe bound.
fn empty_after(
    policy: &Policy,
    hook: Hook,
    source: &ExportSource,
    grid: &Grid,
    i: u64,
) -> Option<u64> {
    let lag = policy.hook(hook)?.ingestion_lag_secs;
    let plan = plan(policy, hook, grid.at(i));
    let ranges: Vec<(TimeRange, i64)> = plan
        .metrics
        .iter()
        .map(|request| (request.range, 0))
        .chain(plan.history.iter().map(|(offset, r)| (r.range, *offset)))
        .collect();
    if ranges.iter().any(|(range, _)| source.any_in(*range)) {
        return None;
    }
    let bound = ranges
        .iter()
        .map(|(range, offset)| {
            source
                .next_time(range.end)
                .map_or(i64::MAX, |t| t.saturating_add(lag + offset))
        })
        .min()
        .unwrap_or(i64::MAX);
    let last_empty = if bound == i64::MAX {
        grid.count - 1
    } else {
        let j = (bound - grid.first).div_euclid(grid.step);
        (j.max(0) as u64).min(grid.count - 1)
    };
    Some(last_empty.saturating_sub(i))
}

impl Replayed {
    /// Evaluation `i`'s verdict, standing for `n` evaluations from `i` on.
    fn record(&mut self, i: u64, n: u64, verdict: &Verdict, charts: bool) {
        let grid = self.grid;
        for gate in &verdict.gates {
            let entry = self.gates.entry(gate.name.clone()).or_insert_with(|| {
                let mut result = gate.clone();
                if let Some(figures) = result.threshold_figures_mut() {
                    figures.series = None;
                }
                GateReplay {
                    result,
                    worst_at: grid.at(i),
                    timeline: Timeline::new(grid.count),
                    chart: charts.then(|| Chart::new(grid)),
                }
            });
            if gate.outcome > entry.result.outcome {
                entry.result.outcome = gate.outcome;
                entry.result.reason.clone_from(&gate.reason);
                entry.result.not_judged = gate.not_judged;
                entry.worst_at = grid.at(i);
            }
            entry.timeline.add(i, n, gate.outcome);
            if let Some(chart) = &mut entry.chart {
                if let Some(newest) = gate.observations().rev().find(|o| o.judged) {
                    chart.add(i, newest, gate.outcome);
                }
            }
        }
        if verdict.status == LifecycleStatus::Failed {
            self.failures.add(grid.at(i), n, &verdict.reason);
        }
    }

    /// Each gate with its replay drawn as its series: what `--report` charts.
    pub fn chart_gates(&self) -> Vec<BacktestGate> {
        self.gates
            .values()
            .map(|g| {
                let mut result = g.result.clone();
                if let (Some(figures), Some(chart)) = (result.threshold_figures_mut(), &g.chart) {
                    figures.series = chart.series(self.grid.step);
                }
                BacktestGate {
                    result,
                    worst_at: stamp(g.worst_at),
                    failing: g.timeline.failing,
                    failed_points: g.chart.as_ref().map(Chart::failed).unwrap_or_default(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metric_gate::evidence::{MetricData, RawSeries, SeriesStatus};

    const POLICY: &str = r#"version: 1
metric_defaults: {namespace: App, dimensions: {Service: web}, period: 60s, window: 5m}
hooks:
  AfterAllowTraffic:
    ingestion_lag: 2m
    on_inconclusive: pass
    gates:
      - name: errors
        metric: {name: Errors, stat: Sum}
        comparison: ">"
        threshold: 10
        evaluation_periods: 5
        datapoints_to_alarm: 1
        missing_data: not_breaching
      - name: latency
        metric: {name: Latency, stat: p95}
        comparison: ">"
        threshold: 1.5
        missing_data: ignore
"#;

    /// The shortcut over empty spans counts exactly what evaluating every
    /// instant counts: a sparse export replayed both ways.
    #[test]
    fn skipping_empty_spans_changes_no_count() {
        let policy = Policy::from_yaml(POLICY, "p.yaml", &|_| None).unwrap();
        let hook = Hook::AfterAllowTraffic;
        let queries = plan(&policy, hook, 0).metrics.unwrap().queries;
        let t0 = 1_795_392_000;
        let times = [0, 60, 600, 660, 3600, 3900, 86_400, 86_460, 86_520, 200_000];
        let mut data = MetricData::new();
        for (q, value) in queries.iter().zip([50.0, 2.0]) {
            let points = times
                .iter()
                .enumerate()
                .map(|(k, t)| (t0 + t, if k % 3 == 0 { value } else { 0.0 }))
                .collect();
            data.insert(
                q.clone(),
                RawSeries {
                    points,
                    status: SeriesStatus::Complete,
                    messages: vec![],
                },
            );
        }
        let source = ExportSource::new(data);
        let fast = replay(&policy, hook, &source, false).unwrap();
        assert!(fast.copied > 3000, "{}", fast.copied);

        // Every instant, as before the shortcut.
        let runtime = crate::runtime().unwrap();
        let grid = fast.grid;
        let mut slow = Replayed {
            grid,
            gates: BTreeMap::new(),
            failures: Failures::new(grid.step),
            copied: 0,
            empty_spans: 0,
        };
        for i in 0..grid.count {
            let verdict = runtime.block_on(evaluate(&source, &policy, hook, grid.at(i)));
            slow.record(i, 1, &verdict, false);
        }
        slow.failures.finish();
        assert_eq!(fast.failures.total, slow.failures.total);
        assert!(slow.failures.total > 0 && slow.failures.total < grid.count);
        for (name, gate) in &slow.gates {
            assert_eq!(fast.gates[name].timeline, gate.timeline, "{name}");
        }
    }
}
