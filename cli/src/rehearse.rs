//! `gatectl rehearse [SCENARIO]`: an offline game day.
//!
//! Runs a scenario (a shipped one by name, or a file) through the lifecycle with
//! the real hook code on a simulated clock, prints the timeline, optionally
//! writes an HTML report, and exits 0 only if the rehearsal ended the way the
//! scenario file says. With no argument it runs the default scenario,
//! `latency-regression`: a release that looks fine until production load, the
//! case a canary gate exists for. `--all` runs every shipped scenario.

use crate::render::{colour_enabled, gate_lines, paint, Colour};
use crate::report;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use metric_gate::judge::LifecycleStatus;
use metric_gate::policy::Policy;
use metric_gate::rehearsal::{
    rehearsal_env, rehearse, Rehearsal, Scenario, Step, ECS_EXAMPLE_POLICY,
    ECS_EXAMPLE_POLICY_SOURCE, SHIPPED_ECS_SCENARIOS, SHIPPED_SCENARIOS,
};
use metric_gate::vocab::hook::Platform;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `gatectl rehearse` runs with no argument.
const DEFAULT_SCENARIO: &str = "latency-regression";

/// Arguments of `gatectl rehearse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A shipped scenario's name (see --list) or a scenario file [default: latency-regression].
    scenario: Option<String>,
    /// Run every shipped scenario.
    #[arg(long, conflicts_with = "scenario")]
    all: bool,
    /// The policy to rehearse; the embedded default when absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Write an HTML report with one chart per gate decision.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print every gate of every hook, not only the deciding ones.
    #[arg(long, short)]
    verbose: bool,
    /// List the shipped scenarios.
    #[arg(long)]
    list: bool,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        if self.list {
            for (name, text) in SHIPPED_SCENARIOS.iter().chain(&SHIPPED_ECS_SCENARIOS) {
                let scenario = Scenario::from_yaml(text, name)?;
                println!("{name:<20} {}", scenario.description);
            }
            return Ok(ExitCode::SUCCESS);
        }
        let policy = match &self.policy {
            None => Policy::embedded_default(&rehearsal_env)?,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Policy::from_yaml(&text, &path.display().to_string(), &rehearsal_env)?
            }
        };
        // An ECS scenario without --policy: the ECS example's policy, the
        // default one having no ECS stage sections.
        let ecs_policy = match self.policy {
            None => Some(Policy::from_yaml(
                ECS_EXAMPLE_POLICY,
                ECS_EXAMPLE_POLICY_SOURCE,
                &rehearsal_env,
            )?),
            Some(_) => None,
        };
        let scenarios = self.scenarios()?;
        let colour = colour_enabled();
        let runtime = crate::runtime()?;
        let mut not_as_expected = Vec::new();
        let mut finished = Vec::new();
        for scenario in &scenarios {
            let progress =
                ProgressBar::new(scenario.schedule.len() as u64 + scenario.traffic.len() as u64);
            progress.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{bar:20}] {pos}/{len}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            progress.set_message(format!("rehearsing {}", scenario.name));
            let policy = match (&ecs_policy, scenario.platform()) {
                (Some(ecs), Platform::Ecs) => ecs,
                _ => &policy,
            };
            let rehearsal = runtime.block_on(rehearse(scenario, policy, |_| progress.inc(1)));
            progress.finish_and_clear();
            if !print_timeline(scenario, policy, &rehearsal, self.verbose, colour) {
                not_as_expected.push(scenario.name.as_str());
            }
            finished.push((scenario.clone(), policy, rehearsal));
        }
        if let Some(path) = &self.report {
            std::fs::write(path, report::html(&policy, &finished))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("report: {}", path.display());
        }
        if scenarios.len() > 1 {
            println!("{}", summary(scenarios.len(), &not_as_expected, colour));
        }
        Ok(if not_as_expected.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    fn scenarios(&self) -> Result<Vec<Scenario>> {
        match &self.scenario {
            None if !self.all => self.named(DEFAULT_SCENARIO),
            None => SHIPPED_SCENARIOS
                .iter()
                .chain(&SHIPPED_ECS_SCENARIOS)
                .map(|(name, text)| Ok(Scenario::from_yaml(text, name)?))
                .collect(),
            Some(name) => self.named(name),
        }
    }

    /// A shipped scenario by name, or a scenario file.
    fn named(&self, name: &str) -> Result<Vec<Scenario>> {
        let shipped = SHIPPED_SCENARIOS.iter().chain(SHIPPED_ECS_SCENARIOS.iter());
        if let Some((_, text)) = shipped.clone().find(|(n, _)| *n == name) {
            return Ok(vec![Scenario::from_yaml(text, name)?]);
        }
        let path = PathBuf::from(name);
        if !path.exists() {
            let names: Vec<&str> = shipped.map(|(n, _)| *n).collect();
            bail!(
                "no scenario {name:?}: give a file, or one of {}",
                names.join(", ")
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(vec![Scenario::from_yaml(&text, name)?])
    }
}

/// The closing line of several rehearsals: `8 of 8 as expected`, or how
/// many were not and which.
fn summary(total: usize, not_as_expected: &[&str], colour: bool) -> String {
    let as_expected = total - not_as_expected.len();
    if not_as_expected.is_empty() {
        paint(
            &format!("{as_expected} of {total} as expected"),
            Colour::Green,
            colour,
        )
    } else {
        paint(
            &format!(
                "{as_expected} of {total} as expected; not as expected: {}",
                not_as_expected.join(", ")
            ),
            Colour::Red,
            colour,
        )
    }
}

/// Prints a rehearsal's timeline; returns whether it ended as expected.
fn print_timeline(
    scenario: &Scenario,
    policy: &Policy,
    rehearsal: &Rehearsal,
    verbose: bool,
    colour: bool,
) -> bool {
    println!(
        "{} {}: {}",
        paint("rehearsal", Colour::Dim, colour),
        scenario.name,
        scenario.description
    );
    println!(
        "  policy {} ({})",
        policy.source,
        &policy.digest[..19.min(policy.digest.len())]
    );
    for step in &rehearsal.steps {
        match step {
            Step::Traffic { minute, share } => {
                println!(
                    "  T+{minute:02}m  {}",
                    paint(
                        &format!("traffic on the replacement -> {}%", share * 100.0),
                        Colour::Dim,
                        colour
                    )
                );
            }
            Step::Skipped { minute, hook } => {
                println!("  T+{minute:02}m  {hook:<22} skipped: no section in the policy");
            }
            Step::Hook { minute, record } => {
                let status = format!("{:<9}", record.status.to_string());
                let status = match record.status {
                    LifecycleStatus::Succeeded => paint(&status, Colour::Green, colour),
                    LifecycleStatus::Failed => paint(&status, Colour::Red, colour),
                };
                let rollback = if record.status == LifecycleStatus::Failed {
                    "  -> rollback"
                } else {
                    ""
                };
                println!(
                    "  T+{minute:02}m  {:<22} {status} {}{rollback}",
                    record.hook.to_string(),
                    record.reason
                );
                let shown = record.gates.iter().filter(|gate| {
                    let deciding = gate.outcome != metric_gate::judge::GateOutcome::Pass;
                    verbose || deciding || record.status == LifecycleStatus::Failed
                });
                for line in gate_lines(shown, colour) {
                    println!("           {line}");
                }
                // The kill switch, as the record has it (issue 19).
                for flag in record.kill_switch.iter().flat_map(|k| &k.flags) {
                    let outcome = serde_json::to_value(&flag.outcome)
                        .ok()
                        .and_then(|v| v["outcome"].as_str().map(str::to_string))
                        .unwrap_or_default();
                    println!(
                        "           {}",
                        paint(
                            &format!("kill switch: {} {}", flag.flag, outcome.replace('_', " ")),
                            Colour::Red,
                            colour
                        )
                    );
                }
            }
        }
    }
    let ended = match (rehearsal.status, rehearsal.decided_by) {
        (LifecycleStatus::Failed, Some(hook)) => format!("rolled back by {hook}"),
        _ => "promoted: every hook succeeded".to_string(),
    };
    let as_expected = rehearsal.matches(&scenario.expect);
    let verdict = if as_expected {
        paint("as the scenario expects", Colour::Green, colour)
    } else {
        paint("NOT as the scenario expects", Colour::Red, colour)
    };
    println!("  result: {ended}, {verdict}\n");
    as_expected
}
