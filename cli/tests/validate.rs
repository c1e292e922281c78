//! `gatectl validate`: golden outputs, one fixture policy each. Regenerate the
//! golden files with `UPDATE_GOLDEN=1 cargo test --workspace --test validate`
//! and review the diff.

use std::path::Path;
use std::process::Command;

fn check(fixture: &str, expect_success: bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .current_dir(dir.join("fixtures"))
        .env_remove("TARGET_GROUP")
        .env_remove("LOAD_BALANCER")
        .args(["validate", &format!("{fixture}.yaml")])
        .output()
        .unwrap();
    assert_eq!(output.status.success(), expect_success, "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let golden = dir.join("golden").join(format!("{fixture}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        stdout,
        expected,
        "gatectl validate {fixture}.yaml differs from {}",
        golden.display()
    );
}

#[test]
fn a_valid_policy_lists_its_hooks_and_unset_variables() {
    check("valid", true);
}

#[test]
fn every_semantic_problem_with_line_column_and_field() {
    check("semantic", false);
}

#[test]
fn an_unknown_key_names_its_line() {
    check("shape", false);
}

#[test]
fn every_probe_problem_with_line_column_and_field() {
    check("probes", false);
}
