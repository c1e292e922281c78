//! Security: credentials and request signatures never reach the logs.
//!
//! A hook runs with the most verbose logging (`RUST_LOG=trace`, and `debug`),
//! with recognisable credentials (a secret access key and a session token no
//! other text contains), through a healthy and a failing evaluation. Whatever
//! it prints, on stdout (the decision record) or stderr (the JSON logs), must
//! not contain the secret key, the session token, a signed request's
//! `Authorization` or `X-Amz-Security-Token` header, or a SigV4 `Signature=`.

use gate_tests::{invoke, lifecycle_event, AlbMinute, Emulator, HookProcess};
use serde_json::Value;

/// A secret access key no log line could contain by chance.
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/SECRET/never+logged/0123456789";
/// A session token likewise; with it set the SDK signs `X-Amz-Security-Token`.
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjSESSIONTOKENneverlogged0123456789abcdef==";

/// What must never be printed. Header names are matched in any case, as
/// HTTP libraries print them lower-cased.
const NEEDLES: &[&str] = &[
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    "authorization",
    "x-amz-security-token",
    "signature=",
];

struct Run {
    invocation: Value,
    accepted: Vec<String>,
    stdout: String,
    stderr: String,
}

/// One evaluation of `after-allow-traffic` at `level`, on ten minutes of metrics.
fn run(level: &str, per_minute: impl Fn(usize) -> AlbMinute) -> Run {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, per_minute);
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[
            ("RUST_LOG", level),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ],
    );
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-secrets"),
        30_000,
    );
    let (stdout, stderr) = hook.finish();
    Run {
        invocation,
        accepted: emulator.accepted_statuses(),
        stdout,
        stderr,
    }
}

/// The lines of `text` that contain a needle, with the needle.
fn leaks(text: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let lower = line.to_lowercase();
        for needle in NEEDLES {
            if line.contains(needle) || lower.contains(&needle.to_lowercase()) {
                // Show where, not the whole (possibly huge) line.
                let shown: String = line.chars().take(300).collect();
                found.push((*needle, shown));
            }
        }
    }
    found
}

fn assert_nothing_leaks(run: &Run, level: &str) {
    // The run was real: signed calls went out and were answered, and the
    // logging was as verbose as asked (the SDK's own events are there).
    assert_eq!(run.invocation["state"], "success", "{}", run.invocation);
    assert_eq!(run.accepted.len(), 1, "{}", run.stderr);
    let lines = run.stderr.lines().count();
    assert!(
        lines > 20,
        "RUST_LOG={level} printed only {lines} log lines: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"level\":\"DEBUG\""),
        "no DEBUG event at RUST_LOG={level}"
    );
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let found = leaks(text);
        assert!(
            found.is_empty(),
            "RUST_LOG={level}: {} line(s) of {stream} leak, first: {:?}",
            found.len(),
            found.first()
        );
    }
}

#[test]
fn trace_logs_of_a_healthy_evaluation_hold_no_secret() {
    let run = run("trace", |_| AlbMinute::healthy());
    assert_eq!(run.accepted, vec!["Succeeded"]);
    assert!(run.stderr.contains("\"level\":\"TRACE\""), "no TRACE event");
    assert_nothing_leaks(&run, "trace");
}

#[test]
fn trace_logs_of_a_failing_evaluation_hold_no_secret() {
    let run = run("trace", |_| AlbMinute {
        errors_5xx: Some(30.0),
        ..AlbMinute::healthy()
    });
    assert_eq!(run.accepted, vec!["Failed"]);
    assert_nothing_leaks(&run, "trace");
}

#[test]
fn debug_logs_of_a_healthy_evaluation_hold_no_secret() {
    let run = run("debug", |_| AlbMinute::healthy());
    assert_eq!(run.accepted, vec!["Succeeded"]);
    assert_nothing_leaks(&run, "debug");
}

#[test]
fn debug_logs_of_a_failing_evaluation_hold_no_secret() {
    let run = run("debug", |_| AlbMinute {
        errors_5xx: Some(30.0),
        ..AlbMinute::healthy()
    });
    assert_eq!(run.accepted, vec!["Failed"]);
    assert_nothing_leaks(&run, "debug");
}

#[test]
fn the_leak_check_finds_what_it_looks_for() {
    // The search itself is not vacuous: each needle, as a log line would carry it.
    let sample = format!(
        "{{\"headers\":\"Authorization: AWS4-HMAC-SHA256 Credential=x, Signature=abc\"}}\n\
         {{\"header\":\"x-amz-security-token: {SESSION_TOKEN}\"}}\n\
         {{\"secret\":\"{SECRET_ACCESS_KEY}\"}}\n\
         {{\"message\":\"clean\"}}"
    );
    let found: Vec<&str> = leaks(&sample).into_iter().map(|(n, _)| n).collect();
    for needle in NEEDLES {
        assert!(found.contains(needle), "{needle} not found in {found:?}");
    }
    assert!(leaks("{\"message\":\"GetMetricData answered\"}").is_empty());
}
