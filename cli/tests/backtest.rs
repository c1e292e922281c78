//! `gatectl backtest` on hand-made exports in the AWS CLI's shape: what it
//! refuses and how it reads what it accepts (issue 15, "Backtest and
//! exports"). The end-to-end path through the real AWS CLI and the emulator is
//! in `tests/tests/gatectl.rs`.

mod common;

use common::gatectl;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two gates on fixed dimensions (no discovery), one-minute periods, no
/// ingestion lag: `errors` (Sum > 10 in any of the 5 periods fails) and
/// `latency` (p95 > 1.5 fails).
const POLICY: &str = r#"version: 1
metric_defaults: {namespace: App, dimensions: {Service: web}, period: 60s, window: 5m}
hooks:
  AfterAllowTraffic:
    ingestion_lag: 0s
    gates:
      - name: errors
        metric: {name: Errors, stat: Sum}
        comparison: ">"
        threshold: 10
        evaluation_periods: 5
        datapoints_to_alarm: 1
        missing_data: not_breaching
      - name: latency
        metric: {name: Latency, stat: p95}
        comparison: ">"
        threshold: 1.5
        missing_data: ignore
"#;

/// 2026-11-23T00:00:00Z.
const T0: i64 = 1_795_392_000;

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatectl-backtest-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The ids `--print-queries` gives each metric name, so the exports below
/// line up with the policy as a real export would.
fn ids(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let output = gatectl(
        dir,
        &[
            "backtest",
            "--hook",
            "AfterAllowTraffic",
            "--policy",
            "policy.yaml",
            "--print-queries",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let queries: Value = serde_json::from_slice(&output.stdout).unwrap();
    queries
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["MetricStat"]["Metric"]["MetricName"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                q["Id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// One series as the AWS CLI v2 prints it.
fn series(id: &str, stamps: &[Value], values: &[f64], status: &str) -> Value {
    json!({
        "Id": id,
        "Label": "label",
        "Timestamps": stamps,
        "Values": values,
        "StatusCode": status,
    })
}

/// `minutes` one-minute stamps from `T0`, newest first (as CloudWatch
/// answers by default), in the CLI's ISO 8601 form.
fn stamps(minutes: i64) -> Vec<Value> {
    (0..minutes)
        .rev()
        .map(|m| json!(iso(T0 + 60 * m)))
        .collect()
}

fn iso(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400) - T0 / 86_400;
    let secs = epoch.rem_euclid(86_400);
    assert!((0..7).contains(&days), "the helper covers one week");
    format!(
        "2026-11-{:02}T{:02}:{:02}:{:02}+00:00",
        23 + days,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn export(results: Vec<Value>) -> String {
    json!({ "MetricDataResults": results, "Messages": [] }).to_string()
}

/// Sets up the policy and an export of both series (30 healthy minutes),
/// with `edit` applied to the list of series; returns the run's output.
fn backtest_with(test: &str, edit: impl FnOnce(&mut Vec<Value>, &BTreeIds)) -> Output {
    let dir = scratch(test);
    write(&dir, "policy.yaml", POLICY);
    let ids = ids(&dir);
    let mut results = vec![
        series(&ids["Errors"], &stamps(30), &[1.0; 30], "Complete"),
        series(&ids["Latency"], &stamps(30), &[0.2; 30], "Complete"),
    ];
    edit(&mut results, &ids);
    write(&dir, "day.json", &export(results));
    gatectl(
        &dir,
        &[
            "backtest",
            "--hook",
            "AfterAllowTraffic",
            "--policy",
            "policy.yaml",
            "--data",
            "day.json",
        ],
    )
}

type BTreeIds = std::collections::BTreeMap<String, String>;

/// The timeline line of `gate`.
fn timeline<'a>(stdout: &'a str, gate: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(gate))
        .unwrap_or_else(|| panic!("no line for {gate}:\n{stdout}"))
}

#[test]
fn a_healthy_export_passes_every_evaluation() {
    let output = backtest_with("healthy", |_, _| {});
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("the hook would have reported Failed in 0 of 26 evaluations"),
        "{stdout}"
    );
    assert!(
        timeline(&stdout, "errors").contains(&".".repeat(26)),
        "{stdout}"
    );
}

/// Issue 15: `q01` and `q+1` were read as `q1`.
#[test]
fn query_ids_match_exactly() {
    for alias in ["q01", "q+1", "q1 ", "Q1"] {
        let output = backtest_with("ids", |results, _| {
            results[1]["Id"] = json!(alias);
        });
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{alias}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!("{alias:?}")) && stderr.contains("day.json"),
            "{alias}: {stderr}"
        );
    }
}

/// Issue 15: a query missing from the export made its gate pass every
/// evaluation.
#[test]
fn a_query_missing_from_the_export_is_an_error_naming_it() {
    let output = backtest_with("missing", |results, _| {
        results.remove(1);
    });
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("q1") && stderr.contains("Latency") && stderr.contains("no series"),
        "{stderr}"
    );
}

/// Issue 15: a series CloudWatch could not return (`Forbidden`,
/// `InternalError`) was judged as complete; the hooks make its gate an error.
#[test]
fn a_failed_series_is_an_error_as_in_the_hooks() {
    for status in ["Forbidden", "InternalError", "SomethingNew"] {
        let output = backtest_with("failed", |results, _| {
            results[1]["StatusCode"] = json!(status);
        });
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(
            timeline(&stdout, "latency").contains(&"E".repeat(26)),
            "{status}: {stdout}"
        );
        assert!(
            stdout.contains("the hook would have reported Failed in 26 of 26 evaluations"),
            "{status}: {stdout}"
        );
    }
}

/// `PartialData` can fail a gate but never pass it, as in the hooks; on an
/// entry followed by another entry of the same id (the AWS CLI joins the
/// pages of a paginated answer) it only means "read on", as on a page with a
/// successor.
#[test]
fn partial_data_cannot_pass_unless_a_later_page_completes_it() {
    let output = backtest_with("partial", |results, _| {
        results[1]["StatusCode"] = json!("PartialData");
    });
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(!timeline(&stdout, "latency").contains('.'), "{stdout}");

    let output = backtest_with("paged", |results, ids| {
        let newer = series(
            &ids["Latency"],
            &stamps(30)[..10],
            &[0.2; 10],
            "PartialData",
        );
        let older = series(&ids["Latency"], &stamps(30)[10..], &[0.2; 20], "Complete");
        results[1] = newer;
        results.push(older);
    });
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        timeline(&stdout, "latency").contains(&".".repeat(26)),
        "{stdout}"
    );
}

/// Issue 15: a timestamp without a zone got a message about Smithy.
#[test]
fn a_bad_timestamp_is_named_with_file_series_and_value() {
    for (bad, why) in [
        (json!("2026-11-23T10:04:00"), "no time zone"),
        (json!("2026-11-23 10:04"), "not an ISO 8601"),
        (json!("2026-13-23T10:04:00Z"), "not an ISO 8601"),
        (json!(true), "neither"),
    ] {
        let output = backtest_with("stamp", |results, _| {
            results[1]["Timestamps"][3] = bad.clone();
        });
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stdout}{stderr}");
        assert!(
            stderr.contains("day.json")
                && stderr.contains("q1")
                && stderr.contains(&bad.to_string())
                && stderr.contains(why)
                && !stderr.contains("Smithy"),
            "{bad}: {stderr}"
        );
    }
}

/// Issue 15: ten points over 454 days took 17 s and 620 MB and printed four
/// lines of 650,000 characters. The span no longer costs evaluations where no
/// window holds a datapoint, and no line grows with the span. (How long it
/// takes is measured, not asserted: see the issue's report.)
#[test]
fn a_sparse_export_over_fifteen_months_prints_narrow_lines() {
    let dir = scratch("sparse");
    write(&dir, "policy.yaml", POLICY);
    let ids = ids(&dir);
    let every = 454 * 86_400 / 9;
    let epochs: Vec<Value> = (0..10)
        .map(|i| json!(T0 - 454 * 86_400 + i * every))
        .collect();
    let results = vec![
        series(&ids["Errors"], &epochs, &[50.0; 10], "Complete"),
        series(&ids["Latency"], &epochs, &[0.2; 10], "Complete"),
    ];
    write(&dir, "sparse.json", &export(results));
    let output = gatectl(
        &dir,
        &[
            "backtest",
            "--hook",
            "AfterAllowTraffic",
            "--policy",
            "policy.yaml",
            "--data",
            "sparse.json",
            "--report",
            "sparse.html",
        ],
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 200,
            "a line of {} characters",
            line.len()
        );
    }
    // Each point fails `errors` in the five windows that hold it (the first
    // and the last in one: the replay starts at the first whole window and
    // ends a period after the last point); `latency` is inconclusive
    // throughout (one value at most in a window), so every evaluation fails.
    assert!(stdout.contains("653757 evaluations, every 60s"), "{stdout}");
    assert!(
        stdout.contains("the hook would have reported Failed in 653757 of 653757 evaluations"),
        "{stdout}"
    );
    assert!(
        timeline(&stdout, "errors").contains("42 failing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("each mark is the worst of 6538 evaluations"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(dir.join("sparse.html")).unwrap();
    assert!(html.len() < 2_000_000, "a report of {} bytes", html.len());
}

/// Issue 15: `--print-queries` wrote `${canary.*}` placeholders with exit 0.
#[test]
fn print_queries_fills_references_or_names_the_variable_to_set() {
    let dir = scratch("references");
    write(
        &dir,
        "policy.yaml",
        r#"version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: {TargetGroup: "${canary.target_group}"}
hooks:
  AfterAllowTraffic:
    gates:
      - name: errors
        metric: {name: HTTPCode_Target_5XX_Count, stat: Sum}
        comparison: ">"
        threshold: 10
      - name: shadow
        dry_run: true
        metric: {name: TargetResponseTime, stat: p95, dimensions: {TargetGroup: "${baseline.target_group}"}}
        comparison: ">"
        threshold: 1
"#,
    );
    let args = [
        "backtest",
        "--hook",
        "AfterAllowTraffic",
        "--policy",
        "policy.yaml",
        "--print-queries",
    ];
    let run = |vars: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_gatectl"))
            .current_dir(&dir)
            .env_remove("TARGET_GROUP")
            .env_remove("LOAD_BALANCER")
            .env_remove("BASELINE_TARGET_GROUP")
            .env_remove("BASELINE_LOAD_BALANCER")
            .envs(vars.iter().copied())
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&[("TARGET_GROUP", "targetgroup/green/1")]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("${baseline.target_group}")
            && stderr.contains("BASELINE_TARGET_GROUP")
            && stderr.contains("shadow"),
        "{stderr}"
    );

    let output = run(&[
        ("TARGET_GROUP", "targetgroup/green/1"),
        ("BASELINE_TARGET_GROUP", "targetgroup/blue/2"),
    ]);
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("${"), "{stdout}");
    assert!(
        stdout.contains("targetgroup/green/1") && stdout.contains("targetgroup/blue/2"),
        "{stdout}"
    );
}

/// Found by probing before issue 15: one datapoint, or a span shorter than a
/// window, panicked on an empty list of evaluations.
#[test]
fn an_export_shorter_than_a_window_says_so() {
    let dir = scratch("short");
    write(&dir, "policy.yaml", POLICY);
    let ids = ids(&dir);
    let results = vec![
        series(&ids["Errors"], &stamps(2), &[1.0; 2], "Complete"),
        series(&ids["Latency"], &stamps(2), &[0.2; 2], "Complete"),
    ];
    write(&dir, "short.json", &export(results));
    let output = gatectl(
        &dir,
        &[
            "backtest",
            "--hook",
            "AfterAllowTraffic",
            "--policy",
            "policy.yaml",
            "--data",
            "short.json",
        ],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("at least one whole window"), "{stderr}");
}

#[test]
fn the_hook_option_lists_the_hooks() {
    let dir = scratch("hook-option");
    let help = text(&gatectl(&dir, &["backtest", "--help"])).0;
    assert!(
        help.contains(
            "[possible values: BeforeInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic]"
        ),
        "{help}"
    );
    let output = gatectl(&dir, &["backtest", "--hook", "Foo"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output).1;
    assert!(
        stderr.contains("invalid value 'Foo' for '--hook <HOOK>'"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "[possible values: BeforeInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic]"
        ),
        "{stderr}"
    );
    // The binary names still work.
    let policy = write(&dir, "gates.yaml", POLICY);
    let output = gatectl(
        &dir,
        &[
            "backtest",
            "--hook",
            "after-allow-traffic",
            "--policy",
            policy.to_str().unwrap(),
            "--print-queries",
        ],
    );
    assert!(output.status.success(), "{:?}", text(&output));
}
