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

/// Runs `gatectl validate` on `paths`, failing the test if it takes more than
/// 20 s (a FIFO used to hang it, /dev/zero to read 2 GB).
fn validate_within_20s(paths: &[&str]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .arg("validate")
        .args(paths)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
            return (status.success(), stdout);
        }
        if started.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("gatectl validate {paths:?} hung");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatectl-validate-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// Issue 15: a FIFO hung validation, /dev/zero was read for 2 GB.
#[test]
fn a_fifo_a_device_and_a_directory_are_refused_by_name() {
    let dir = temp_dir("special");
    let fifo = dir.join("fifo.yaml");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap().to_string();
    let dir_name = dir.to_str().unwrap().to_string();
    let (ok, stdout) = validate_within_20s(&[&fifo, "/dev/zero", &dir_name]);
    assert!(!ok, "{stdout}");
    for want in [
        format!("{fifo}: cannot read: a named pipe (FIFO), not a regular file"),
        "/dev/zero: cannot read: a character device, not a regular file".to_string(),
        format!("{dir_name}: cannot read: a directory, not a regular file"),
    ] {
        assert!(stdout.contains(&want), "wanted {want:?} in {stdout}");
    }
}

// Issue 15: the size is bounded and the message names the limit.
#[test]
fn a_policy_over_one_mebibyte_is_refused_naming_the_limit() {
    let path = temp_dir("big").join("big.yaml");
    std::fs::write(&path, "#".repeat(1024 * 1024 + 1)).unwrap();
    let (ok, stdout) = validate_within_20s(&[path.to_str().unwrap()]);
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("larger than 1 MiB"), "{stdout}");
}

// Issue 15: every problem at once, unknown fields with the nearest field,
// unset variables in probe hosts listed, not errors.
#[test]
fn every_problem_at_once_with_suggestions() {
    check("every-problem", false);
}

#[test]
fn unset_variables_in_probe_hosts_are_listed_not_errors() {
    check("probe-variables", true);
}

#[test]
fn the_decision_rules_are_accepted_as_meant() {
    check("decision-rules-valid", true);
}

#[test]
fn the_decision_rules_are_refused_naming_what_each_allows() {
    check("decision-rules", false);
}

/// Issue 19: a flag gate, a kill switch and `require_kill_switch` are accepted.
#[test]
fn a_policy_with_feature_flags_is_accepted() {
    check("flags", true);
}

/// Issue 19: every feature-flag problem at once, each with its place.
#[test]
fn every_feature_flag_problem_with_line_column_and_field() {
    check("flags-invalid", false);
}
