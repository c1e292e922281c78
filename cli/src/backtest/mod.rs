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
//!
//! This module is the verb's shell: the export is read and validated by the
//! library (`metric_gate::evidence::export`, where the fuzzer reaches it),
//! `replay` slides the window through the hooks' pipeline, and `summary` keeps
//! what is shown in a size that does not grow with the span.

mod replay;
mod summary;

use crate::report;
use anyhow::{bail, Context, Result};
use metric_gate::evidence::export::{query_id, ExportReader, ExportSource};
use metric_gate::evidence::plan;
use metric_gate::policy::{override_variable, MetricQuery, Policy};
use metric_gate::Hook;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gatectl backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The hook whose gates to replay (its binary name, such as before-allow-traffic, also works).
    #[arg(long, value_parser = crate::hook_parser())]
    hook: Hook,
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

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let hook = self.hook;
        let policy = crate::hook_policy(self.policy.as_deref(), hook)?;
        refuse_unresolved(&policy, hook)?;
        let queries = needed_queries(&policy, hook);
        if queries.is_empty() {
            bail!("{hook} has no metric gates to backtest");
        }
        if self.print_queries {
            println!(
                "{}",
                serde_json::to_string_pretty(&export_queries(&queries))?
            );
            return Ok(ExitCode::SUCCESS);
        }
        if self.data.is_empty() {
            bail!("give --data FILE (the output of aws cloudwatch get-metric-data --output json), or --print-queries to make the export");
        }
        let source = ExportSource::new(read_exports(&self.data, &queries)?);
        let replayed = replay::replay(&policy, hook, &source, self.report.is_some())?;
        summary::print(&replayed, &policy, hook);
        if let Some(path) = &self.report {
            let grid = replayed.grid;
            let page = report::Backtest {
                title: format!("Backtest of {hook}: {} evaluations", grid.count),
                hook,
                evaluations: grid.count,
                step: grid.step,
                from: summary::stamp(grid.first),
                to: summary::stamp(grid.at(grid.count - 1)),
                failed: replayed.failures.total,
                gates: replayed.chart_gates(),
                policy: &policy,
            };
            std::fs::write(path, report::backtest_html(&page))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("report: {}", path.display());
        }
        summary::print_failures(&replayed);
        Ok(ExitCode::SUCCESS)
    }
}

/// Every query the hook reads, in its own window or (a history baseline's)
/// shifted back, each once and in order: the export's ids are their places.
fn needed_queries(policy: &Policy, hook: Hook) -> Vec<MetricQuery> {
    let plan = plan(policy, hook, 0);
    let queries: std::collections::BTreeSet<MetricQuery> = plan
        .metrics
        .into_iter()
        .chain(plan.history.into_iter().map(|(_, request)| request))
        .flat_map(|request| request.queries)
        .collect();
    queries.into_iter().collect()
}

/// The `--metric-data-queries` of `aws cloudwatch get-metric-data`: one per
/// query, with the id the export reader maps back to it.
fn export_queries(queries: &[MetricQuery]) -> Vec<serde_json::Value> {
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let dimensions: Vec<_> = q
                .dimensions
                .iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect();
            json!({
                "Id": query_id(i),
                "MetricStat": {
                    "Metric": {
                        "Namespace": q.namespace,
                        "MetricName": q.metric_name,
                        "Dimensions": dimensions,
                    },
                    "Period": q.period_secs,
                    "Stat": q.stat,
                },
                "ReturnData": true,
            })
        })
        .collect()
}

/// Refuses a hook any of whose gates (blocking or dry run) still names a value
/// only a deployment has: a backtest has no deployment to discover it from,
/// so the query would match nothing, and leaving the gate out would renumber
/// the queries between `--print-queries` and the replay. Each reference is
/// named with the variable that fills it, as the hooks and `gatectl
/// evaluate` read them.
fn refuse_unresolved(policy: &Policy, hook: Hook) -> Result<()> {
    let unbound = policy.unbound_gates(hook);
    if unbound.is_empty() {
        return Ok(());
    }
    let mut named = Vec::new();
    for (gate, _, references) in &unbound {
        for reference in references {
            let fix = match override_variable(reference.side, &reference.key) {
                [] => "no variable overrides it: a backtest cannot judge this gate".to_string(),
                [one] => format!("set {one}"),
                many => format!("set {}", many.join(" or ")),
            };
            named.push(format!("{reference} (gate {gate}): {fix}"));
        }
    }
    bail!(
        "{hook}'s gates name values only a deployment's discovery finds, and a backtest has no deployment; fill them with the dimensions the export was made for: {}",
        named.join("; ")
    )
}

/// Reads, validates and merges the exports (the library's reader), naming
/// the file in every error.
fn read_exports(
    paths: &[PathBuf],
    queries: &[MetricQuery],
) -> Result<metric_gate::evidence::MetricData> {
    use std::io::Read;
    let mut reader = ExportReader::new(queries);
    for path in paths {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if size > MAX_EXPORT_BYTES {
            bail!(
                "{} is {} MiB, more than {} MiB: export shorter time ranges into several files (each --data is merged)",
                path.display(),
                size >> 20,
                MAX_EXPORT_BYTES >> 20
            );
        }
        // Parsed as it is read, and read bounded: a pipe or a device
        // (`/dev/zero`) stops at its first byte that is no JSON, or at the
        // bound, never filling memory.
        let stream = std::io::BufReader::new(file.take(MAX_EXPORT_BYTES));
        reader.read_from(&path.display().to_string(), stream)?;
    }
    Ok(reader.finish()?)
}

/// The largest export file read: fifteen months of one-minute data for a
/// dozen queries is about 300 MB as the AWS CLI writes it.
const MAX_EXPORT_BYTES: u64 = 1 << 30;
