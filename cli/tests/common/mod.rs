//! What the CLI's test binaries share: running the built `gatectl` in a
//! directory, with the variables a developer's shell may set (a policy file,
//! a target group) removed, so that each test sees only what it sets.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `gatectl` with `args` in `dir`, without colour.
pub fn gatectl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .current_dir(dir)
        .env_remove("GATE_POLICY_FILE")
        .env_remove("TARGET_GROUP")
        .env_remove("LOAD_BALANCER")
        .env_remove("BASELINE_TARGET_GROUP")
        .env_remove("BASELINE_LOAD_BALANCER")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}
