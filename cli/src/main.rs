//! `gatectl`: the operator's command line for codedeploy-gates.
//!
//! Every subcommand shares the library with the hook functions, so what gatectl
//! says about a policy is what the hooks will do with it. One module per
//! subcommand, each an `Args` struct with a `run` method; `main` dispatches.

mod audit;
mod backtest;
mod evaluate;
mod rehearse;
mod render;
mod report;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Validate, evaluate, backtest and rehearse CodeDeploy gate policies; verify their audit trail.
#[derive(Debug, Parser)]
#[command(
    name = "gatectl",
    version,
    about,
    after_help = "Policy reference: README.md, section \"The gate policy\"."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check policy files; every problem with file, line, column and field.
    Validate(validate::Args),
    /// Judge a hook now against live CloudWatch (never reports to CodeDeploy).
    Evaluate(evaluate::Args),
    /// Replay exported CloudWatch data through a hook's gates.
    Backtest(backtest::Args),
    /// An offline game day: a scenario through the whole lifecycle on a simulated clock.
    Rehearse(rehearse::Args),
    /// Check the audit trail: the hash chain of the hooks' decision records.
    Audit(audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => args.run(),
        Command::Evaluate(args) => args.run(),
        Command::Backtest(args) => args.run(),
        Command::Rehearse(args) => args.run(),
        Command::Audit(args) => args.run(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("gatectl: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The policy a subcommand judges `hook` with: `--policy FILE`, else
/// `GATE_POLICY_FILE`, else the embedded default, as a hook would load it;
/// refused when it has no section for `hook`.
fn hook_policy(
    file: Option<&std::path::Path>,
    hook: metric_gate::Hook,
) -> anyhow::Result<metric_gate::policy::Policy> {
    use anyhow::Context;
    let file = file.map(|p| p.display().to_string());
    let env = |name: &str| match (name, &file) {
        (metric_gate::lambda::POLICY_FILE_VAR, Some(file)) => Some(file.clone()),
        _ => std::env::var(name).ok(),
    };
    let policy = metric_gate::lambda::load_policy(&env).context("loading the policy")?;
    if policy.hook(hook).is_none() {
        anyhow::bail!("the policy {} has no section for {hook}", policy.source);
    }
    Ok(policy)
}

/// `--hook`'s values: the four hooks by their AppSpec names, which `--help`
/// and the error for any other name list; their binary names
/// (`before-allow-traffic`) are accepted too.
fn hook_parser() -> impl clap::builder::TypedValueParser<Value = metric_gate::Hook> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        metric_gate::Hook::ALL
            .map(|hook| PossibleValue::new(hook.as_str()).alias(hook.binary_name())),
    )
    .map(|name| metric_gate::Hook::parse(&name).expect("clap let through only the hooks' names"))
}

/// A single-threaded runtime for the subcommands that call async library code.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
