//! `gatectl backtest`: replay exported CloudWatch data through a hook's gates.
//!
//! The data is what the real AWS CLI writes for `aws cloudwatch get-metric-data
//! --output json`. `--print-queries` writes the `--metric-data-queries` file for
//! that command, with the ids the policy's queries map to, so the export and the
//! policy line up:
//!
//! ```text
//! gatectl backtest --hook AfterAllowTraffic --print-queries > queries.json
//! aws cloudwatch get-metric-data --metric-data-queries file://queries.json \
//!     --start-time 2026-11-20T00:00:00Z --end-time 2026-11-21T00:00:00Z --output json > day.json
//! gatectl backtest --hook AfterAllowTraffic --data day.json
//! ```
//!
//! The hook's window then slides over the data one period at a time, and each
//! gate's outcome at every step is shown: how users tune thresholds and count
//! the false alarms a policy would have raised on past releases.

use crate::render::{colour_enabled, paint, Colour};
use crate::report;
use anyhow::{anyhow, bail, Context, Result};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use indicatif::ProgressBar;
use metric_gate::bind::Discovery;
use metric_gate::evidence::deployment::{DeploymentInfo, DeploymentSource};
use metric_gate::evidence::probes::NoProbes;
use metric_gate::evidence::switches::NoSwitches;
use metric_gate::evidence::{
    plan, AlarmSource, AlarmStates, EvidenceError, MetricData, MetricIdentity, MetricRequest,
    MetricSource, RawSeries, SeriesStatus,
};
use metric_gate::judge::{
    judge, GateOutcome, GateResult, GateSeries, LifecycleStatus, Observation, Verdict,
};
use metric_gate::policy::GateCheck;
use metric_gate::policy::Policy;
use metric_gate::run::{decide, Question, Sources};
use metric_gate::Hook;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gatectl backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook whose gates to replay.
    #[arg(long)]
    hook: String,
    /// The policy; the embedded default when absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// `aws cloudwatch get-metric-data --output json` files (several are merged).
    #[arg(long = "data", value_name = "FILE")]
    data: Vec<PathBuf>,
    /// Print the MetricDataQueries to export with, and exit.
    #[arg(long)]
    print_queries: bool,
    /// Write an HTML report: one chart per gate over the whole replay.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// The AWS CLI's JSON output of `get-metric-data`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Export {
    metric_data_results: Vec<ExportedSeries>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExportedSeries {
    id: String,
    /// ISO 8601 strings (AWS CLI v2, or v1 with `cli_timestamp_format = iso8601`)
    /// or epoch numbers (AWS CLI v1's default, which prints the wire value).
    #[serde(default)]
    timestamps: Vec<serde_json::Value>,
    #[serde(default)]
    values: Vec<f64>,
    status_code: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let hook =
            Hook::parse(&self.hook).ok_or_else(|| anyhow!("unknown hook {:?}", self.hook))?;
        let policy = crate::hook_policy(self.policy.as_deref(), hook)?;
        let section = policy.hook(hook).expect("hook_policy checked the section");
        refuse_unbound(&policy, hook)?;
        let queries = plan(&policy, hook, 0)
            .metrics
            .map(|m| m.queries)
            .unwrap_or_default();
        if queries.is_empty() {
            bail!("{hook} has no metric gates to backtest");
        }
        if self.print_queries {
            let exported: Vec<_> = queries
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    json!({
                        "Id": format!("q{i}"),
                        "MetricStat": {
                            "Metric": {
                                "Namespace": q.namespace,
                                "MetricName": q.metric_name,
                                "Dimensions": q.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                            },
                            "Period": q.period_secs,
                            "Stat": q.stat,
                        },
                        "ReturnData": true,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&exported)?);
            return Ok(ExitCode::SUCCESS);
        }
        if self.data.is_empty() {
            bail!("give --data FILE (the output of aws cloudwatch get-metric-data --output json), or --print-queries to make the export");
        }
        let data = read_exports(&self.data, &queries)?;
        let (first, last) = data
            .values()
            .flat_map(|s| s.points.iter().map(|(t, _)| *t))
            .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if first > last {
            bail!("the export has no datapoints");
        }
        let (step, reach) = section
            .gates
            .iter()
            .filter_map(|g| match &g.check {
                GateCheck::Threshold(t) => Some((t.period_secs, t.window_secs)),
                GateCheck::Alarms(_) | GateCheck::Probe(_) => None,
            })
            .fold((i64::MAX, 0), |(step, reach), (p, w)| {
                (step.min(p), reach.max(w))
            });
        let lag = section.ingestion_lag_secs;
        // CloudWatch keeps 15 months: a longer span is a broken export, and
        // would mean billions of evaluations.
        if last - first > 455 * 86_400 {
            bail!(
                "the export spans {} days; CloudWatch keeps at most 15 months",
                (last - first) / 86_400
            );
        }
        // From the first instant a whole window of data exists to the last datapoint.
        let times: Vec<i64> = (first + reach + lag..=last + step + lag)
            .step_by(step as usize)
            .collect();
        if times.is_empty() {
            bail!("the export covers {}s of data; {hook}'s gates need at least one whole window ({reach}s) to judge", last - first + step);
        }
        let progress = ProgressBar::new(times.len() as u64);
        let mut timelines: BTreeMap<String, String> = BTreeMap::new();
        // Per gate: its latest result, and the newest judged period of each
        // evaluation.
        let mut replay: BTreeMap<String, (GateResult, Vec<Observation>)> = BTreeMap::new();
        let mut failures = Vec::new();
        let source = ExportSource::new(data);
        let runtime = crate::runtime()?;
        for &now in &times {
            let verdict = runtime.block_on(source.decide(&policy, hook, now));
            for gate in &verdict.gates {
                let mark = match gate.outcome {
                    GateOutcome::Pass => '.',
                    GateOutcome::Inconclusive => '?',
                    GateOutcome::Fail => 'X',
                    GateOutcome::Error => 'E',
                };
                timelines.entry(gate.name.clone()).or_default().push(mark);
                let newest = gate.observations().rev().find(|o| o.judged);
                let (entry, observations) = replay.entry(gate.name.clone()).or_insert_with(|| {
                    let mut result = gate.clone();
                    if let Some(figures) = result.threshold_figures_mut() {
                        figures.series = None;
                    }
                    (result, Vec::new())
                });
                entry.outcome = gate.outcome.max(entry.outcome);
                if let Some(newest) = newest {
                    observations.push(Observation {
                        breaching: gate.outcome == GateOutcome::Fail,
                        ..newest
                    });
                }
            }
            if verdict.status == LifecycleStatus::Failed {
                failures.push((now, verdict.reason));
            }
            progress.inc(1);
        }
        progress.finish_and_clear();
        let colour = colour_enabled();
        println!(
            "{hook} with {}: {} evaluations, every {step}s, from {} to {}",
            policy.source,
            times.len(),
            stamp(times[0]),
            stamp(*times.last().unwrap_or(&times[0]))
        );
        println!("  legend: . pass  X fail  ? inconclusive  E error");
        for (name, line) in &timelines {
            let fails = line.chars().filter(|c| *c == 'X').count();
            println!(
                "  {name:<26} {line}  {}",
                paint(
                    &format!("{fails} failing"),
                    if fails > 0 {
                        Colour::Red
                    } else {
                        Colour::Green
                    },
                    colour
                )
            );
        }
        println!(
            "the hook would have reported Failed in {} of {} evaluations",
            failures.len(),
            times.len()
        );
        if let Some(path) = &self.report {
            let gates: Vec<GateResult> = replay
                .into_values()
                .map(|(mut g, observations)| {
                    g.reason = format!("worst outcome over the replay: {}", g.outcome);
                    // One period per evaluation, `step` apart.
                    if let Some(figures) = g.threshold_figures_mut() {
                        figures.series = (!observations.is_empty())
                            .then(|| GateSeries::from_observations(step, &observations));
                    }
                    g
                })
                .collect();
            let title = format!("Backtest of {hook}: {} evaluations", times.len());
            std::fs::write(path, report::backtest_html(&policy, &title, &gates))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("report: {}", path.display());
        }
        for (now, reason) in failures.iter().take(20) {
            println!("  {}  {reason}", stamp(*now));
        }
        if failures.len() > 20 {
            println!("  ... and {} more", failures.len() - 20);
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Refuses a hook whose blocking gates name values only a deployment has:
/// a backtest has no deployment to discover them from, so it would judge
/// queries that match nothing.
fn refuse_unbound(policy: &Policy, hook: Hook) -> Result<()> {
    let unbound = policy.unbound_blocking(hook);
    if unbound.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unbound.iter().map(ToString::to_string).collect();
    bail!(
        "{hook}'s gates name {}, which only a deployment's discovery finds; a backtest has no deployment: set the override variables ({}) to the dimensions the export was made for",
        names.join(", "),
        metric_gate::policy::DISCOVERY_OVERRIDES.join(", ")
    )
}

/// The export as an evidence source: each query's datapoints sorted once, and
/// each request answered with the points in its range (found by binary
/// search), so a replay reads each point a bounded number of times. Nothing
/// else is in an export: alarms, the deployment and probes answer with an
/// error that says so, and the judge fails their gates closed.
struct ExportSource {
    data: MetricData,
}

impl ExportSource {
    fn new(mut data: MetricData) -> Self {
        for series in data.values_mut() {
            series.points.sort_by_key(|(t, _)| *t);
        }
        ExportSource { data }
    }

    /// The hook's decision at `now` on the export, through the hook's own
    /// pipeline; the gates' verdict (before a hook-level dry run).
    async fn decide(&self, policy: &Policy, hook: Hook, now: i64) -> Verdict {
        let sources = Sources {
            metrics: self,
            alarms: self,
            deployments: self,
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
}

fn not_in_export(service: &'static str, operation: &'static str, what: &str) -> EvidenceError {
    EvidenceError::Api {
        service,
        operation,
        message: format!("a backtest replays exported metrics only: {what} is not in the export"),
    }
}

impl MetricSource for ExportSource {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        Ok(request
            .queries
            .iter()
            .filter_map(|query| {
                let series = self.data.get(query)?;
                let from = series
                    .points
                    .partition_point(|(t, _)| *t < request.range.start);
                let to = series
                    .points
                    .partition_point(|(t, _)| *t < request.range.end);
                let window = RawSeries {
                    points: series.points[from..to].to_vec(),
                    status: series.status.clone(),
                    messages: series.messages.clone(),
                };
                Some((query.clone(), window))
            })
            .collect())
    }

    async fn metric_exists(&self, metric: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(self.data.iter().any(|(query, series)| {
            &MetricIdentity::from(query) == metric && !series.points.is_empty()
        }))
    }
}

impl AlarmSource for ExportSource {
    async fn alarm_states(&self, _names: &[String]) -> Result<AlarmStates, EvidenceError> {
        Err(not_in_export(
            "CloudWatch",
            "DescribeAlarms",
            "an alarm's state",
        ))
    }
}

impl DeploymentSource for ExportSource {
    async fn deployment(&self, _id: &str) -> Result<DeploymentInfo, EvidenceError> {
        Err(not_in_export(
            "CodeDeploy",
            "GetDeployment",
            "the deployment",
        ))
    }

    async fn discover(&self, _id: &str) -> Result<Discovery, EvidenceError> {
        Err(not_in_export("CodeDeploy", "discovery", "the deployment"))
    }
}

/// Reads and merges exports, mapping ids back to the policy's queries.
fn read_exports(
    paths: &[PathBuf],
    queries: &[metric_gate::policy::MetricQuery],
) -> Result<MetricData> {
    let mut data: MetricData = queries
        .iter()
        .map(|q| {
            (
                q.clone(),
                RawSeries {
                    points: Vec::new(),
                    status: SeriesStatus::Complete,
                    messages: Vec::new(),
                },
            )
        })
        .collect();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let export: Export = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not the JSON output of aws cloudwatch get-metric-data",
                path.display()
            )
        })?;
        for series in export.metric_data_results {
            let index: usize = series
                .id
                .strip_prefix('q')
                .and_then(|n| n.parse().ok())
                .filter(|i| *i < queries.len())
                .ok_or_else(|| anyhow!("{}: id {:?} is not one of this hook's queries (export with --print-queries)", path.display(), series.id))?;
            if series.timestamps.len() != series.values.len() {
                bail!(
                    "{}: {} has {} timestamps but {} values",
                    path.display(),
                    series.id,
                    series.timestamps.len(),
                    series.values.len()
                );
            }
            let target = data
                .get_mut(&queries[index])
                .expect("every query has a series");
            for (stamp, value) in series.timestamps.iter().zip(&series.values) {
                target.points.push((
                    parse_stamp(stamp)
                        .with_context(|| format!("{}: timestamp {stamp:?}", path.display()))?,
                    *value,
                ));
            }
            if series.status_code.as_deref() == Some("PartialData") {
                target.status = SeriesStatus::PartialData;
            }
        }
    }
    Ok(data)
}

/// A timestamp as the AWS CLI prints it: ISO 8601 (`2026-11-23T10:04:00+00:00`
/// or `...Z`) or epoch seconds.
fn parse_stamp(value: &serde_json::Value) -> Result<i64> {
    // From CloudWatch's launch to 2200: anything else is not a datapoint's time.
    const RANGE: std::ops::RangeInclusive<i64> = 1_136_073_600..=7_258_118_400;
    let secs = parse_any_stamp(value)?;
    if !RANGE.contains(&secs) {
        bail!("{secs} is not a plausible CloudWatch timestamp");
    }
    Ok(secs)
}

fn parse_any_stamp(value: &serde_json::Value) -> Result<i64> {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
            .ok_or_else(|| anyhow!("not an epoch number")),
        serde_json::Value::String(text) => {
            let normalised = match text.strip_suffix("+00:00") {
                Some(head) => format!("{head}Z"),
                None => text.clone(),
            };
            Ok(DateTime::from_str(&normalised, Format::DateTime)?.secs())
        }
        _ => bail!("neither an ISO 8601 string nor an epoch number"),
    }
}

fn stamp(epoch: i64) -> String {
    DateTime::from_secs(epoch)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| epoch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aws_cli_timestamps() {
        let at = 1_795_428_240;
        assert_eq!(
            parse_stamp(&json!("2026-11-23T10:04:00+00:00")).unwrap(),
            at
        );
        assert_eq!(parse_stamp(&json!("2026-11-23T10:04:00Z")).unwrap(), at);
        assert_eq!(parse_stamp(&json!(at)).unwrap(), at);
        assert!(parse_stamp(&json!("yesterday")).is_err());
        assert!(parse_stamp(&json!(null)).is_err());
        // Found by probing: these used to overflow or loop for billions of steps.
        for absurd in [json!(0), json!(1e11), json!(1e300), json!(-5)] {
            assert!(parse_stamp(&absurd).is_err(), "{absurd}");
        }
    }
}
