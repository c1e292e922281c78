//! Security: credentials and request signatures never reach the logs.
//!
//! A hook runs with the most verbose logging (`RUST_LOG=trace`, and `debug`),
//! with recognisable credentials (a secret access key and a session token no
//! other text contains), through a healthy and a failing evaluation. Whatever
//! it prints, on stdout (the JSON logs and the decision record) or stderr, must
//! not contain the secret key, the session token, a SigV4 signature
//! (`Signature=`, `Credential=`), or the value of a signed request's
//! `Authorization` or `X-Amz-Security-Token` header.
//!
//! The header *names* do appear at TRACE: the SDK logs each request's headers
//! and each canonical request, printing those two as
//! `"authorization": ** redacted (length=N) **` and
//! `x-amz-security-token:** redacted (length=N) **`. A name followed by that
//! marker is allowed; a name followed by any other value is a leak.

use gate_tests::{hook_binary, invoke, lifecycle_event, AlbMinute, Emulator, HookProcess};
use serde_json::Value;

/// A secret access key no log line could contain by chance.
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/SECRET/never+logged/0123456789";
/// A session token likewise; with it set the SDK signs `X-Amz-Security-Token`.
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjSESSIONTOKENneverlogged0123456789abcdef==";

/// Text that must never be printed, matched in any case.
const NEEDLES: &[&str] = &[
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    "signature=",
    "credential=",
];
/// Headers whose values must never be printed (names matched in any case).
const SIGNED_HEADERS: &[&str] = &["authorization", "x-amz-security-token"];
/// How the SDK prints a sensitive header's value.
const REDACTED: &str = "** redacted";

struct Run {
    invocation: Value,
    accepted: Vec<String>,
    stdout: String,
    stderr: String,
}

/// One evaluation of `after-allow-traffic` at `level`, on ten minutes of metrics.
fn run(level: &str, per_minute: impl Fn(usize) -> AlbMinute) -> Run {
    // Build first: a build after seeding would let the evaluation window slide
    // past the seeded minutes.
    hook_binary("after-allow-traffic");
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

/// Whether `name` (lower case) appears in `line` followed by a value
/// (`name: v`, `"name": v`, `name=v`, JSON-escaped or not) other than the
/// SDK's redaction marker.
fn unredacted_header(line: &str, name: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name) {
        let after = &line[from + at + name.len()..];
        let rest = after.trim_start_matches(['"', '\\']);
        if let Some(value) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) {
            if !value
                .trim_start_matches([' ', '"', '\\'])
                .starts_with(REDACTED)
            {
                return true;
            }
        }
        from += at + name.len();
    }
    false
}

/// What leaks in `text`: (what, the line's start) for each finding.
fn leaks(text: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        let what = NEEDLES
            .iter()
            .filter(|needle| lower.contains(&needle.to_ascii_lowercase()))
            .chain(
                SIGNED_HEADERS
                    .iter()
                    .filter(|name| unredacted_header(line, name)),
            );
        for needle in what {
            // Show where, not the whole (possibly huge) line.
            found.push((*needle, line.chars().take(300).collect()));
        }
    }
    found
}

fn assert_nothing_leaks(run: &Run, level: &str) {
    // The run was real: signed calls went out and were answered, and the
    // logging was as verbose as asked (the SDK's own events are there).
    assert_eq!(run.invocation["state"], "success", "{}", run.invocation);
    assert_eq!(run.accepted.len(), 1, "{}", run.stdout);
    let lines = run.stdout.lines().count();
    assert!(
        lines > 50,
        "RUST_LOG={level} printed only {lines} lines: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\"level\":\"DEBUG\""),
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
    assert!(run.stdout.contains("\"level\":\"TRACE\""), "no TRACE event");
    assert!(
        run.stdout.contains("signing request"),
        "no SDK signing event"
    );
    // At TRACE the SDK does print the signed headers' names, redacted: the
    // check below is not vacuous.
    assert!(run.stdout.contains("\\\"authorization\\\": ** redacted"));
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
    // The search is not vacuous: each secret, as a log line would carry it.
    let leaking = [
        (
            r#"{"headers":"Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc"}"#
                .to_string(),
            vec!["signature=", "credential=", "authorization"],
        ),
        (
            format!(
                r#"{{"fields":{{"canonical_request":"host:h\nx-amz-security-token:{SESSION_TOKEN}\n"}}}}"#
            ),
            vec![SESSION_TOKEN, "x-amz-security-token"],
        ),
        (
            r#"{"request":"{\"authorization\": \"AWS4 x\"}"}"#.to_string(),
            vec!["authorization"],
        ),
        (
            format!(r#"{{"secret":"{}"}}"#, SECRET_ACCESS_KEY.to_lowercase()),
            vec![SECRET_ACCESS_KEY],
        ),
    ];
    for (line, expected) in leaking {
        let found: Vec<&str> = leaks(&line).into_iter().map(|(n, _)| n).collect();
        assert_eq!(found.len(), expected.len(), "{line}: {found:?}");
        for needle in expected {
            assert!(found.contains(&needle), "{needle} not found in {line}");
        }
    }
    // What the SDK really prints at TRACE is clean: names with redacted values,
    // names in lists of header names.
    let clean = [
        r#"{"message":"transmitting request","fields":{"request":"{\"x-amz-date\": \"20261123T122535Z\", \"authorization\": ** redacted (length=292) **, \"x-amz-security-token\": ** redacted (length=8) **}"}}"#,
        r#"{"fields":{"canonical_request":"POST\n/\nx-amz-security-token:** redacted (length=8) **\n\ncontent-length;host;x-amz-date;x-amz-security-token;x-amz-target\n"}}"#,
        r#"{"settings":"excluded_headers: Some([\"authorization\", \"user-agent\"]), signature_location: Headers"}"#,
        r#"{"message":"GetMetricData answered"}"#,
    ];
    for line in clean {
        assert!(leaks(line).is_empty(), "{line}: {:?}", leaks(line));
    }
}
