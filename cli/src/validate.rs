//! `gatectl validate POLICY...`: the hooks' own validation, run ahead of a deploy.
//!
//! `${VAR}` references to variables this shell does not set are not errors here
//! (the functions set them, not the operator's shell): they are left as written,
//! the checks that need their value are left to the functions, and they are
//! listed in a note. Files are read as the functions read them: regular files
//! of at most 1 MiB (`policy::read_policy_file`).

use anyhow::Result;
use metric_gate::policy::{read_policy_file, Policy, PolicyError, DISCOVERY_OVERRIDES};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gatectl validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files to check.
    #[arg(required = true)]
    policies: Vec<PathBuf>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        let mut failed = false;
        for path in &self.policies {
            let name = path.display().to_string();
            let text = match read_policy_file(path) {
                Ok(text) => text,
                Err(PolicyError::Read { source, .. }) => {
                    println!("{name}: cannot read: {source}");
                    failed = true;
                    continue;
                }
                Err(PolicyError::Unreadable { why, .. }) => {
                    println!("{name}: cannot read: {why}");
                    failed = true;
                    continue;
                }
                Err(other) => {
                    println!("{name}: {other}");
                    failed = true;
                    continue;
                }
            };
            let unset = RefCell::new(BTreeSet::new());
            let env = |var: &str| {
                let value = std::env::var(var).ok();
                if value.is_none() {
                    unset.borrow_mut().insert(var.to_string());
                }
                value
            };
            match Policy::from_yaml_for_discovery(&text, &name, &env) {
                Ok(policy) => {
                    for warning in &policy.warnings {
                        println!("{warning} (warning)");
                    }
                    let hooks: Vec<String> = policy
                        .hooks
                        .iter()
                        .map(|(hook, section)| {
                            let kill_switch = match section.kill_switch.len() {
                                0 => String::new(),
                                1 => " + kill switch of 1 flag".to_string(),
                                n => format!(" + kill switch of {n} flags"),
                            };
                            format!(
                                "{hook} ({} gate{}{}{kill_switch})",
                                section.gates.len(),
                                if section.gates.len() == 1 { "" } else { "s" },
                                if section.preflight {
                                    " + preflight"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect();
                    println!("{name}: valid: {}", hooks.join(", "));
                    let discovered: BTreeSet<String> = policy
                        .hooks
                        .keys()
                        .flat_map(|hook| policy.unbound(*hook))
                        .map(|r| r.to_string())
                        .collect();
                    if !discovered.is_empty() {
                        let refs: Vec<&str> = discovered.iter().map(String::as_str).collect();
                        println!(
                            "{name}: note: found by deployment discovery when a hook runs: {} (or set {})",
                            refs.join(", "),
                            DISCOVERY_OVERRIDES.join(", ")
                        );
                    }
                }
                Err(PolicyError::Invalid { problems, warnings }) => {
                    failed = true;
                    // In file order, so one pass over the file fixes both.
                    let mut lines: Vec<(u64, u64, String)> = problems
                        .iter()
                        .map(|p| (p.line, p.column, p.to_string()))
                        .chain(
                            warnings
                                .iter()
                                .map(|w| (w.line, w.column, format!("{w} (warning)"))),
                        )
                        .collect();
                    lines.sort_by_key(|(line, column, _)| (*line, *column));
                    for (_, _, line) in &lines {
                        println!("{line}");
                    }
                    println!(
                        "{name}: {} problem{}",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    );
                }
                Err(other) => {
                    failed = true;
                    println!("{name}: {other}");
                }
            }
            let unset = unset.into_inner();
            if !unset.is_empty() {
                let names: Vec<&str> = unset.iter().map(String::as_str).collect();
                println!(
                    "{name}: note: not set in this shell, the functions must set: {}",
                    names.join(", ")
                );
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}
