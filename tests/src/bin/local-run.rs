//! `./dev demo`: the main job, locally. Runs the real hook binaries, with the
//! embedded default policy, through the Lambda Runtime API against the local
//! AWS emulator, for a handful of release scenarios, and prints what each hook
//! decided and why. No AWS account, nothing to set up by hand.
//!
//! `local-run --event FILE --hook BINARY [--scenario NAME]` instead sends one
//! event file (e.g. from `events/`) to one hook on one scenario's metrics.
//!
//! `local-run --serve [--scenario NAME] [--env-file PATH]` (`./dev emulator`)
//! keeps the emulator running for `cargo lambda watch` and `cargo lambda
//! invoke`: seeded with the deployment the sample events name and one
//! scenario's metrics (a new minute each minute), its address written to an
//! env file for `cargo lambda watch --env-file`.

use gate_tests::{invoke, AlbMinute, Emulator, HookProcess};
use serde_json::Value;
use std::process::ExitCode;

struct Scenario {
    name: &'static str,
    story: &'static str,
    hooks: &'static [&'static str],
    extra_env: &'static [(&'static str, &'static str)],
    minute: fn(usize) -> AlbMinute,
}

const ALL_HOOKS: &[&str] = &[
    "before-install",
    "after-allow-test-traffic",
    "before-allow-traffic",
    "after-allow-traffic",
];

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "healthy",
            story: "1000 req/min, 0.2 % 5XX, p95 0.25 s, 4 of 4 hosts healthy",
            hooks: ALL_HOOKS,
            extra_env: &[],
            minute: |_| AlbMinute::healthy(),
        },
        Scenario {
            name: "error-spike",
            story: "the new version answers 3 % of requests with 5XX",
            hooks: &["after-allow-traffic"],
            extra_env: &[],
            minute: |_| AlbMinute {
                errors_5xx: Some(30.0),
                ..AlbMinute::healthy()
            },
        },
        Scenario {
            name: "latency-regression",
            story: "a tenth of requests take 1.5 s: p95 1.5 s against a 1.0 s threshold",
            hooks: &["before-allow-traffic"],
            extra_env: &[],
            minute: |_| AlbMinute {
                latencies: vec![(0.2, 900.0), (1.5, 100.0)],
                ..AlbMinute::healthy()
            },
        },
        Scenario {
            name: "unhealthy-hosts",
            story: "half of the replacement's targets fail their health checks",
            hooks: &["after-allow-test-traffic", "after-allow-traffic"],
            extra_env: &[],
            minute: |_| AlbMinute {
                healthy: Some(2.0),
                unhealthy: Some(2.0),
                ..AlbMinute::healthy()
            },
        },
        Scenario {
            name: "no-traffic",
            story: "nothing reaches the target group: no evidence is never a pass",
            hooks: &["after-allow-traffic"],
            extra_env: &[],
            minute: |_| AlbMinute::default(),
        },
        Scenario {
            name: "misconfigured",
            story: "TARGET_GROUP names a target group with no metrics: caught before traffic moves",
            hooks: &["before-install"],
            extra_env: &[("TARGET_GROUP", "targetgroup/web-typo/0000000000000000")],
            minute: |_| AlbMinute::healthy(),
        },
    ]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: local-run [--scenario NAME]\n       local-run --event FILE --hook BINARY [--scenario NAME]\n       local-run --serve [--scenario NAME] [--env-file PATH]   (default {DEFAULT_ENV_FILE})\nscenarios: {}", scenarios().iter().map(|s| s.name).collect::<Vec<_>>().join(", "));
        return ExitCode::SUCCESS;
    }
    let chosen = flag("--scenario");
    let all = scenarios();
    let selected: Vec<&Scenario> = all
        .iter()
        .filter(|s| chosen.as_deref().is_none_or(|c| c == s.name))
        .collect();
    if selected.is_empty() {
        eprintln!(
            "unknown scenario {:?}: use one of {}",
            chosen.unwrap_or_default(),
            all.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        );
        return ExitCode::from(2);
    }
    if args.iter().any(|a| a == "--serve") {
        let env_file = flag("--env-file").unwrap_or_else(|| DEFAULT_ENV_FILE.to_string());
        return serve(selected[0], &env_file);
    }
    if let Some(path) = flag("--event") {
        let Some(hook) = flag("--hook") else {
            eprintln!(
                "--event needs --hook BINARY (one of {})",
                ALL_HOOKS.join(", ")
            );
            return ExitCode::from(2);
        };
        return run_event(&path, &hook, selected[0]);
    }
    println!("codedeploy-gates, locally: the real hook binaries and the embedded default policy,");
    println!("under the Lambda Runtime API, against a local AWS emulator (moto).\n");
    // One emulator for every scenario, emptied between them: its start is
    // most of a scenario's time.
    let emulator = Emulator::start();
    for scenario in selected {
        println!("scenario {}: {}", scenario.name, scenario.story);
        emulator.reset();
        let deployment = emulator.create_deployment();
        emulator.seed_alb(10, scenario.minute);
        for (i, hook) in scenario.hooks.iter().enumerate() {
            let event =
                gate_tests::lifecycle_event(&deployment, &format!("local-{}-{i}", scenario.name));
            run_hook(&emulator, hook, scenario, event);
        }
        println!();
    }
    ExitCode::SUCCESS
}

/// Where `--serve` writes the hooks' environment, relative to the workspace.
const DEFAULT_ENV_FILE: &str = "tests/.work/cargo-lambda.env";

/// `--serve`: the emulator for `cargo lambda watch`, until interrupted.
fn serve(scenario: &Scenario, env_file: &str) -> ExitCode {
    let emulator = Emulator::start();
    emulator.ready_for_sample_events(30, scenario.minute);
    let path = gate_tests::workspace_root().join(env_file);
    if let Err(e) = emulator.write_hook_env_file(&path, scenario.extra_env) {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    println!(
        "The local AWS emulator is listening on http://{}, scenario {}: {}.",
        emulator.address, scenario.name, scenario.story
    );
    println!(
        "It knows deployment {} (the one events/*.json name) and has 30 minutes of ALB metrics\n(a new minute each minute) for the replacement and for the version it replaces.",
        gate_tests::SAMPLE_EVENTS_DEPLOYMENT_ID
    );
    println!("The hooks' environment is in {env_file}. In a second terminal:");
    println!("  source .venv/bin/activate   # cargo-lambda, installed by ./dev");
    println!("  cargo lambda watch --env-file {env_file}");
    println!("and in a third:");
    println!("  source .venv/bin/activate");
    println!(
        "  cargo lambda invoke before-allow-traffic --data-file events/before-allow-traffic.json"
    );
    println!("Ctrl-C stops the emulator.");
    // The gates read the last minutes: a new minute each minute keeps them
    // fed however long the session lasts.
    let minute = scenario.minute;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
        emulator.seed_sample_minutes(1, minute);
    }
}

fn run_event(path: &str, hook: &str, scenario: &Scenario) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, scenario.minute);
    // The emulator only knows the deployment it created: a well-formed event is
    // pointed at it, a malformed one is sent exactly as written.
    let event = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(mut map)) if map.get("DeploymentId").is_some_and(Value::is_string) => {
            map.insert("DeploymentId".into(), Value::String(deployment));
            Value::Object(map)
        }
        Ok(other) => other,
        Err(_) => Value::String(text),
    };
    println!(
        "{hook} <- {path} (scenario {}: {})",
        scenario.name, scenario.story
    );
    let invocation = run_hook(&emulator, hook, scenario, event);
    if invocation["state"] == "success" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts `hook`, sends it `event`, prints its decision; returns the invocation.
fn run_hook(emulator: &Emulator, hook: &str, scenario: &Scenario, event: Value) -> Value {
    let process = HookProcess::start(emulator, hook, scenario.extra_env);
    let invocation = invoke(emulator, event, 30_000);
    let (stdout, _) = process.finish();
    print_decision(
        hook,
        &invocation,
        gate_tests::decision_records(&stdout).first(),
    );
    invocation
}

fn print_decision(hook: &str, invocation: &Value, record: Option<&Value>) {
    match record {
        Some(record) => {
            println!(
                "  {hook:<26} {:<9} {}",
                record["status"].as_str().unwrap_or("?"),
                record["reason"].as_str().unwrap_or("")
            );
            for gate in record["gates"].as_array().into_iter().flatten() {
                // A gate the judge did not judge is a note, not an outcome.
                let mark = match (gate["not_judged"].as_str(), gate["outcome"].as_str()) {
                    (Some(_), _) => "--  ",
                    (_, Some("pass")) => "ok  ",
                    (_, Some("fail")) => "FAIL",
                    (_, Some("inconclusive")) => "??  ",
                    _ => "ERR ",
                };
                let note = gate["not_judged"]
                    .as_str()
                    .map(|why| format!("not judged: {why}: "))
                    .unwrap_or_default();
                let warning = if gate["severity"] == "warning" {
                    " (warning)"
                } else {
                    ""
                };
                println!(
                    "      {mark} {:<28} {note}{}{warning}",
                    gate["name"].as_str().unwrap_or(""),
                    gate["reason"].as_str().unwrap_or("")
                );
            }
        }
        None => println!(
            "  {hook:<26} invocation error {}: {}",
            invocation["errorType"].as_str().unwrap_or("?"),
            invocation["errorMessage"].as_str().unwrap_or("")
        ),
    }
}
