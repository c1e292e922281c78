//! Decision-record goldens: every shipped scenario rehearsed under four
//! policies (the embedded default, the annotated example, the Lambda example
//! and a statistical fixture), plus the switch precedence (freeze, override, an
//! unreadable switch store) on one hook, each record compared in full with the
//! JSON file under `tests/golden/records/`.
//!
//! The goldens pin what a hook decides and writes, gate by gate and word by
//! word, so a restructuring of the library that changes a decision shows up
//! here. Only what differs between runs is left out: `elapsed_ms`, and the
//! audit link, whose digest covers it.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p metric-gate --test decision_records`
//! only when a change of behaviour is intended, and say why in the commit.

use metric_gate::evidence::switches::{SwitchSource, SwitchValues};
use metric_gate::evidence::EvidenceError;
use metric_gate::policy::Policy;
use metric_gate::rehearsal::source::ScenarioSource;
use metric_gate::rehearsal::{
    rehearsal_env, rehearse, Scenario, Step, REHEARSAL_START, SHIPPED_SCENARIOS,
};
use metric_gate::run::{execute, Execution, Providers};
use metric_gate::Hook;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn policies() -> Vec<(&'static str, Policy)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = |name: &'static str, path: PathBuf| {
        let text = std::fs::read_to_string(&path).unwrap();
        (name, Policy::from_yaml(&text, name, &golden_env).unwrap())
    };
    vec![
        ("default", Policy::embedded_default(&golden_env).unwrap()),
        file("example", root.join("gates.example.yaml")),
        file(
            "lambda-canary",
            root.join("examples/lambda-canary/gates.yaml"),
        ),
        file(
            "statistical",
            golden_dir().join("policies/statistical.yaml"),
        ),
    ]
}

/// The rehearsal's environment, with the example's other variables set, so
/// no golden depends on the machine's environment.
fn golden_env(name: &str) -> Option<String> {
    match name {
        "SERVICE_NAME" => Some("checkout".into()),
        "FUNCTION_NAME" => Some("orders".into()),
        "ALIAS" | "FUNCTION_ALIAS" => Some("live".into()),
        _ => rehearsal_env(name),
    }
}

/// A record as JSON without what differs from run to run.
fn stable(record: &impl serde::Serialize) -> Value {
    let mut value = serde_json::to_value(record).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("elapsed_ms");
    object.remove("audit");
    value
}

fn compare(name: &str, actual: Value) {
    let path = golden_dir().join("records").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != text {
        let first = expected
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(text.lines().count()));
        panic!(
            "{name}: the decision records differ from {} at line {}:\n  golden: {}\n  now:    {}",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

#[tokio::test]
async fn every_scenario_under_every_policy_decides_as_recorded() {
    for (policy_name, policy) in policies() {
        for (scenario_name, text) in SHIPPED_SCENARIOS {
            let scenario = Scenario::from_yaml(text, scenario_name).unwrap();
            let rehearsal = rehearse(&scenario, &policy, |_| {}).await;
            let steps: Vec<Value> = rehearsal
                .steps
                .iter()
                .map(|step| match step {
                    Step::Traffic { minute, share } => {
                        serde_json::json!({"minute": minute, "traffic": share})
                    }
                    Step::Skipped { minute, hook } => {
                        serde_json::json!({"minute": minute, "skipped": hook.to_string()})
                    }
                    Step::Hook { minute, record } => {
                        serde_json::json!({"minute": minute, "record": stable(record)})
                    }
                })
                .collect();
            compare(
                &format!("{policy_name}--{scenario_name}"),
                serde_json::json!({
                    "status": rehearsal.status.to_string(),
                    "decided_by": rehearsal.decided_by.map(|h| h.to_string()),
                    "steps": steps,
                }),
            );
        }
    }
}

/// Fixed switch values, or a store that cannot be read.
struct FixedSwitches(Option<(Option<String>, Option<String>)>);

impl SwitchSource for FixedSwitches {
    async fn read(&self, _hook: Hook) -> Result<SwitchValues, EvidenceError> {
        match &self.0 {
            Some(values) => Ok(SwitchValues::from(values.clone())),
            None => Err(EvidenceError::TimedOut { budget_ms: 5 }),
        }
    }
}

#[tokio::test]
async fn the_switches_take_precedence_as_recorded() {
    let (_, text) = SHIPPED_SCENARIOS
        .iter()
        .find(|(name, _)| *name == "latency-regression")
        .unwrap();
    let scenario = Scenario::from_yaml(text, "latency-regression").unwrap();
    let freeze = r#"{"reason": "quarter-end freeze", "by": "ops"}"#.to_string();
    // A day after the rehearsal's start: still in force at every hook.
    let override_ =
        r#"{"reason": "known slow start", "by": "alice", "expires": "2026-01-02T00:00:00Z"}"#
            .to_string();
    let cases = [
        ("no-switches", Some((None, None))),
        ("freeze", Some((Some(freeze.clone()), None))),
        ("override", Some((None, Some(override_.clone())))),
        ("freeze-and-override", Some((Some(freeze), Some(override_)))),
        ("unreadable", None),
    ];
    for policy_name in ["default", "statistical"] {
        let policy = policies()
            .into_iter()
            .find(|(name, _)| *name == policy_name)
            .unwrap()
            .1;
        for (case, values) in &cases {
            let mut records = Vec::new();
            for (hook, minute) in [
                (Hook::AfterAllowTestTraffic, 7),
                (Hook::BeforeAllowTraffic, 10),
                (Hook::AfterAllowTraffic, 47),
            ] {
                let source = ScenarioSource::new(
                    &scenario,
                    REHEARSAL_START,
                    "targetgroup/rehearsal-blue/0000000000000000",
                );
                source.set_minute(minute);
                let switches = FixedSwitches(values.clone());
                let execution = Execution {
                    hook,
                    deployment_id: "d-golden".into(),
                    execution_id: format!("golden-{case}-{minute}"),
                    now: REHEARSAL_START + minute * 60,
                    deadline: tokio::time::Instant::now() + Duration::from_secs(60),
                    safety_margin: Duration::from_secs(3),
                    function_version: Some("7".into()),
                };
                let providers = Providers {
                    flags: &metric_gate::evidence::NoFlags,
                    metrics: &source,
                    alarms: &source,
                    deployments: &source,
                    reporter: &source,
                    switches: &switches,
                    probes: &source,
                };
                let record =
                    execute(&policy, &execution, providers, metric_gate::judge::judge).await;
                records.push(stable(&record));
            }
            compare(
                &format!("switches--{policy_name}--{case}"),
                Value::Array(records),
            );
        }
    }
}
