//! `gatectl validate POLICY...`: the hooks' own validation, run ahead of a deploy.
//!
//! `${VAR}` references to variables this shell does not set are not errors here
//! (the functions set them, not the operator's shell): they are filled with a
//! placeholder and listed in a note.

use anyhow::Result;
use metric_gate::policy::{Policy, PolicyError, DISCOVERY_OVERRIDES};
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
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    println!("{name}: cannot read: {e}");
                    failed = true;
                    continue;
                }
            };
            let unset = RefCell::new(BTreeSet::new());
            let env = |var: &str| {
                std::env::var(var).ok().or_else(|| {
                    unset.borrow_mut().insert(var.to_string());
                    Some(format!("<{var}>"))
                })
            };
            match Policy::from_yaml_for_discovery(&text, &name, &env) {
                Ok(policy) => {
                    let hooks: Vec<String> = policy
                        .hooks
                        .iter()
                        .map(|(hook, section)| {
                            format!(
                                "{hook} ({} gate{}{})",
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
                Err(PolicyError::Invalid { problems }) => {
                    failed = true;
                    for problem in &problems {
                        println!("{problem}");
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
