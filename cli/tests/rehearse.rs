//! `gatectl rehearse`: every shipped scenario ends the way its file says, the
//! report draws every gate, and a wrong expectation is an exit code.

use std::path::Path;
use std::process::Command;

fn gatectl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_shipped_scenario_ends_as_its_file_says() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&scenarios).unwrap() {
        let path = entry.unwrap().path();
        let output = gatectl(&["rehearse", path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}:\n{stdout}", path.display());
        assert!(stdout.contains("as the scenario expects"), "{stdout}");
        names.push(path.file_stem().unwrap().to_string_lossy().to_string());
    }
    assert!(names.len() >= 6, "{names:?}");
    // --all runs the embedded copies, which must match the files, and ends
    // with how many did.
    let tour = gatectl(&["rehearse", "--all"]);
    assert!(tour.status.success());
    let stdout = String::from_utf8_lossy(&tour.stdout);
    assert_eq!(
        stdout.matches("as the scenario expects").count(),
        names.len()
    );
    let total = names.len();
    assert_eq!(
        stdout.trim_end().lines().last(),
        Some(format!("{total} of {total} as expected").as_str()),
        "{stdout}"
    );
}

#[test]
fn latency_names_its_unit() {
    let stdout = String::from_utf8_lossy(&gatectl(&["rehearse", "-v"]).stdout).to_string();
    // TargetResponseTime is in seconds: the threshold, the worst period
    // and the baseline say so.
    assert!(
        stdout.contains("0 of the last 5 periods > 1 s (fails at 3); worst 0.3 s"),
        "{stdout}"
    );
    assert!(stdout.contains("worst 0.3 s (baseline 0.3 s)"), "{stdout}");
    assert!(!stdout.contains("> 1 ("), "{stdout}");
}

#[test]
fn verbose_gate_columns_line_up_whatever_the_names() {
    let stdout = String::from_utf8_lossy(&gatectl(&["rehearse", "-v"]).stdout).to_string();
    // Each hook's gate lines (indented under it): the outcome column starts
    // at the same character in every line of a hook, the long preflight
    // names (preflight:HTTPCode_Target_5XX_Count) included.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut in_group = false;
    for line in stdout.lines() {
        let outcome = [" pass ", " fail ", " inconclusive ", " error "]
            .iter()
            .filter_map(|word| line.find(word))
            .min();
        match (line.starts_with("           "), outcome) {
            (true, Some(at)) => {
                if !in_group {
                    groups.push(Vec::new());
                }
                in_group = true;
                groups.last_mut().unwrap().push(line[..at].chars().count());
            }
            _ => in_group = false,
        }
    }
    assert!(groups.len() >= 4, "{stdout}");
    for group in &groups {
        assert!(
            group.iter().all(|column| *column == group[0]),
            "outcome columns {group:?} in:\n{stdout}"
        );
    }
}

#[test]
fn the_timeline_says_who_decided_what_and_when() {
    // No argument: the default scenario, latency-regression.
    let output = gatectl(&["rehearse"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("T+40m  traffic on the replacement -> 100%"),
        "{stdout}"
    );
    assert!(
        stdout.contains("T+47m  AfterAllowTraffic      Failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "latency-p95 [fail]: 5 of the last 5 periods > 1 s (fails at 3); worst 1.6 s; latency-vs-baseline not judged: no baseline  -> rollback"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("result: rolled back by AfterAllowTraffic, as the scenario expects"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn a_scenario_that_ends_otherwise_fails_the_command() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/error-spike.yaml"),
    )
    .unwrap();
    let wrong = text
        .replace("status: Failed", "status: Succeeded")
        .replace("  decided_by: BeforeAllowTraffic\n", "");
    let path = std::env::temp_dir().join(format!("wrong-expectation-{}.yaml", std::process::id()));
    std::fs::write(&path, wrong).unwrap();
    let output = gatectl(&["rehearse", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("NOT as the scenario expects"));
}

#[test]
fn the_report_draws_each_gate_with_threshold_and_breaches() {
    let path = std::env::temp_dir().join(format!("rehearsal-{}.html", std::process::id()));
    let output = gatectl(&["rehearse", "flapping", "--report", path.to_str().unwrap()]);
    assert!(output.status.success());
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    // Preflight checks have no series; then 2 + 4 + 4 gates with series (the
    // default's shadow gate latency-vs-baseline included).
    assert_eq!(html.matches("<svg").count(), 10, "{html}");
    // The flapping error rate: 3 breaching periods drawn in red at AfterAllowTraffic.
    assert_eq!(html.matches("class=\"breach\"").count(), 3);
    assert!(
        html.contains("stroke-dasharray"),
        "threshold lines are drawn"
    );
}

#[test]
fn unknown_scenarios_are_named() {
    let output = gatectl(&["rehearse", "no-such-thing"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("no scenario \"no-such-thing\": give a file, or one of healthy"));
}

/// Issue 19: on a game day a failing canary kills its feature flag, and the
/// timeline says so under the hook that failed.
#[test]
fn a_failing_canary_kills_its_flag() {
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/policies/default.yaml"),
    )
    .unwrap();
    let flag = "{application: shop, environment: prod, profile: checkout-flags, key: new_checkout}";
    let policy = default.replace(
        "  BeforeAllowTraffic: &production-gates\n",
        &format!("  BeforeAllowTraffic: &production-gates\n    kill_switch:\n      - {flag}\n"),
    );
    assert_ne!(
        policy, default,
        "the default policy has a BeforeAllowTraffic section"
    );
    let dir = std::env::temp_dir().join(format!("gatectl-rehearse-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flags.yaml");
    std::fs::write(&path, policy).unwrap();
    let output = gatectl(&[
        "rehearse",
        "error-spike",
        "--policy",
        path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("kill switch: shop/prod/checkout-flags:new_checkout turned off"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("kill switch:").count(), 1, "{stdout}");
}
