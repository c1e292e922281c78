//! Probe judgement from tables: each kind of failed expectation, ratios, and
//! evidence that is missing or was never collected.

use super::*;
use crate::policy::{
    AllowedHost, JsonPointerExpectation, ProbeExpectations, Severity, StatusMatch,
};
use serde_json::json;

fn check() -> ProbeCheck {
    ProbeCheck {
        method: "GET".into(),
        url: "http://test.internal.example.com/health".into(),
        headers: Vec::new(),
        expect: ProbeExpectations {
            status: vec![StatusMatch::Code(200)],
            body_contains: None,
            json_pointer: None,
        },
        max_latency_ms: Some(500),
        repeat: 3,
        concurrency: 1,
        min_success: 1.0,
        connect_timeout_ms: 2000,
        total_timeout_ms: 5000,
        allowed_hosts: vec![AllowedHost {
            host: "test.internal.example.com".into(),
            port: None,
        }],
    }
}

fn gate() -> Gate {
    Gate {
        name: "health".into(),
        description: None,
        severity: Severity::Critical,
        dry_run: false,
        check: crate::policy::GateCheck::Probe(Box::new(check())),
    }
}

fn ok(index: u32, latency_ms: u64, body: &str) -> ProbeAttempt {
    ProbeAttempt {
        index,
        status: Some(200),
        latency_ms,
        body: body.as_bytes().to_vec(),
        body_bytes: body.len(),
        ..ProbeAttempt::default()
    }
}

fn run(check: &ProbeCheck, attempts: Vec<ProbeAttempt>) -> GateResult {
    judge(&gate(), check, Some(&Ok(ProbeRun::Attempts(attempts))))
}

#[test]
fn every_attempt_meeting_the_expectations_passes() {
    let result = run(&check(), vec![ok(1, 20, ""), ok(2, 40, ""), ok(3, 30, "")]);
    assert_eq!(result.outcome, GateOutcome::Pass, "{}", result.reason);
    assert_eq!(
        result.reason,
        "probe GET http://test.internal.example.com/health: all 3 attempts met the expectations (latency p50 30ms, max 40ms)"
    );
    assert_eq!(result.breaching(), Some(0));
    assert_eq!(
        crate::report::threshold_text(&result).as_deref(),
        Some("latency <= 500ms")
    );
    assert_eq!(
        crate::report::rule_text(&result).as_deref(),
        Some("min_success 100% of 3 attempts")
    );
}

#[test]
fn each_failed_expectation_is_named_with_got_and_expected() {
    let mut with_body = check();
    with_body.expect.body_contains = Some("\"ok\"".into());
    with_body.expect.json_pointer = Some(JsonPointerExpectation {
        pointer: "/status".into(),
        equals: json!("UP"),
    });
    let mut classes = check();
    classes.expect.status = vec![StatusMatch::Code(200), StatusMatch::Class(3)];
    let truncated = ProbeAttempt {
        body_truncated: true,
        body_bytes: MAX_BODY_BYTES,
        ..ok(1, 10, "{\"status\": \"UP\", \"padding\": \"xxxxxxxx")
    };
    let cases: Vec<(&str, ProbeCheck, ProbeAttempt, &str)> = vec![
        (
            "wrong status",
            check(),
            ProbeAttempt { status: Some(503), ..ok(1, 10, "") },
            "attempt 1: status 503, expected 200",
        ),
        (
            "wrong status among several",
            classes,
            ProbeAttempt { status: Some(404), ..ok(1, 10, "") },
            "attempt 1: status 404, expected 200 or 3xx",
        ),
        (
            "latency over",
            check(),
            ok(1, 900, ""),
            "attempt 1: latency 900ms over max_latency 500ms",
        ),
        (
            "status and latency both",
            check(),
            ProbeAttempt { status: Some(500), ..ok(1, 700, "") },
            "attempt 1: status 500, expected 200; latency 700ms over max_latency 500ms",
        ),
        (
            "body text missing",
            with_body.clone(),
            ok(1, 10, "{\"status\": \"UP\"}"),
            "the body (16 bytes, starting \"{\\\"status\\\": \\\"UP\\\"}\") does not contain \"\\\"ok\\\"\"",
        ),
        (
            "pointer value differs",
            with_body.clone(),
            ok(1, 10, "{\"status\": \"DOWN\", \"x\": \"ok\"}"),
            "JSON \"/status\" is \"DOWN\", expected \"UP\"",
        ),
        (
            "pointer absent",
            with_body.clone(),
            ok(1, 10, "{\"state\": \"UP\", \"x\": \"ok\"}"),
            "the JSON body has no value at \"/status\", expected \"UP\"",
        ),
        (
            "invalid JSON",
            with_body.clone(),
            ok(1, 10, "<html>ok</html>"),
            "the body is not JSON (expected value at line 1 column 1; it starts \"<html>ok</html>\")",
        ),
        (
            "truncated body",
            with_body.clone(),
            truncated,
            "the body is not JSON (EOF while parsing a string at line 1 column 37; it starts \"{\\\"status\\\": \\\"UP\\\", \\\"padding\\\": \\\"xxxxxxxx\") (only the first 65536 bytes were read: the body is longer)",
        ),
        (
            "non-UTF-8 body",
            with_body,
            ProbeAttempt {
                body: vec![0xff, 0xfe, b'o'],
                body_bytes: 3,
                ..ok(1, 10, "")
            },
            "the body (3 bytes, starting \"\u{fffd}\u{fffd}o\") does not contain",
        ),
        (
            "transport error",
            check(),
            ProbeAttempt {
                status: None,
                error: Some("client error (Connect): tcp connect error: Connection refused (os error 111)".into()),
                ..ok(1, 3, "")
            },
            "attempt 1: client error (Connect): tcp connect error: Connection refused (os error 111)",
        ),
        (
            "timeout after a redirect",
            check(),
            ProbeAttempt {
                error: Some("no complete answer within the total timeout of 5000ms (status 200 received, 10 body bytes read so far)".into()),
                redirects: vec!["http://test.internal.example.com/next".into()],
                ..ok(1, 5000, "")
            },
            "no complete answer within the total timeout of 5000ms (status 200 received, 10 body bytes read so far) (after redirects, last to http://test.internal.example.com/next)",
        ),
    ];
    for (case, check, failing, want) in cases {
        let result = run(&check, vec![failing]);
        assert_eq!(
            result.outcome,
            GateOutcome::Fail,
            "{case}: {}",
            result.reason
        );
        assert!(
            result.reason.contains(want),
            "{case}: {:?} lacks {want:?}",
            result.reason
        );
        assert_eq!(result.breaching(), Some(1), "{case}");
    }
}

#[test]
fn min_success_allows_a_share_of_failures() {
    let mut lenient = check();
    lenient.repeat = 10;
    lenient.min_success = 0.9;
    let attempts = |bad: u32| -> Vec<ProbeAttempt> {
        (1..=10)
            .map(|i| {
                if i <= bad {
                    ProbeAttempt {
                        status: Some(502),
                        ..ok(i, 10, "")
                    }
                } else {
                    ok(i, 10, "")
                }
            })
            .collect()
    };
    let one_bad = run(&lenient, attempts(1));
    assert_eq!(one_bad.outcome, GateOutcome::Pass, "{}", one_bad.reason);
    assert!(
        one_bad.reason.contains("9 of 10 attempts met the expectations, 90% required; first failure, attempt 1: status 502, expected 200"),
        "{}",
        one_bad.reason
    );
    let two_bad = run(&lenient, attempts(2));
    assert_eq!(two_bad.outcome, GateOutcome::Fail, "{}", two_bad.reason);
    assert_eq!(two_bad.breaching(), Some(2));
}

#[test]
fn the_first_failing_attempt_is_named_by_index() {
    let attempts = vec![
        ok(1, 10, ""),
        ok(2, 10, ""),
        ProbeAttempt {
            status: Some(500),
            ..ok(3, 10, "")
        },
    ];
    let result = run(&check(), attempts);
    assert!(
        result.reason.contains("2 of 3 attempts"),
        "{}",
        result.reason
    );
    assert!(
        result
            .reason
            .contains("first failure, attempt 3: status 500"),
        "{}",
        result.reason
    );
}

#[test]
fn missing_or_unsent_evidence_never_passes() {
    let none = judge(&gate(), &check(), None);
    assert_eq!(none.outcome, GateOutcome::Error);
    let failed = judge(
        &gate(),
        &check(),
        Some(&Err(EvidenceError::TimedOut { budget_ms: 1200 })),
    );
    assert_eq!(failed.outcome, GateOutcome::Error);
    assert!(
        failed.reason.contains("within 1200 ms"),
        "{}",
        failed.reason
    );
    let unsent = judge(
        &gate(),
        &check(),
        Some(&Ok(ProbeRun::NotRun(
            "a rehearsal sends no HTTP probes".into(),
        ))),
    );
    assert_eq!(unsent.outcome, GateOutcome::Inconclusive);
    assert!(
        unsent
            .reason
            .contains("was not sent: a rehearsal sends no HTTP probes"),
        "{}",
        unsent.reason
    );
    let empty = run(&check(), Vec::new());
    assert_eq!(empty.outcome, GateOutcome::Error);
}

#[test]
fn numbers_compare_by_value_in_json_expectations() {
    let mut numeric = check();
    numeric.expect.json_pointer = Some(JsonPointerExpectation {
        pointer: "/replicas/0/ready".into(),
        equals: json!(1),
    });
    let result = run(
        &numeric,
        vec![ok(1, 10, "{\"replicas\": [{\"ready\": 1.0}]}")],
    );
    assert_eq!(result.outcome, GateOutcome::Pass, "{}", result.reason);
    let result = run(
        &numeric,
        vec![ok(1, 10, "{\"replicas\": [{\"ready\": \"1\"}]}")],
    );
    assert_eq!(result.outcome, GateOutcome::Fail);
    assert!(
        result.reason.contains("is \"1\", expected 1"),
        "{}",
        result.reason
    );
}

#[test]
fn long_bodies_are_quoted_briefly() {
    let mut wants_text = check();
    wants_text.expect.body_contains = Some("needle".into());
    let body = "y".repeat(10_000);
    let result = run(&wants_text, vec![ok(1, 10, &body)]);
    assert!(result.reason.len() < 400, "{}", result.reason);
    assert!(
        result.reason.contains("10000 bytes, starting \"yyyy"),
        "{}",
        result.reason
    );
}

#[test]
fn each_attempts_figures_are_recorded_without_the_body() {
    let refused = ProbeAttempt {
        index: 2,
        latency_ms: 3,
        error: Some("connection refused".into()),
        ..ProbeAttempt::default()
    };
    let result = run(
        &check(),
        vec![ok(1, 20, "{\"secret\":1}"), refused, ok(3, 700, "")],
    );
    let figures = result.probe().expect("probe figures");
    assert_eq!(
        (figures.attempts, figures.met, figures.not_listed),
        (3, 1, 0)
    );
    let json = serde_json::to_value(figures).unwrap();
    assert_eq!(
        json["listed"],
        json!([
            {"index": 1, "met": true, "status": 200, "latency_ms": 20, "bytes": 12},
            {"index": 2, "met": false, "latency_ms": 3, "bytes": 0, "error": "connection refused"},
            {"index": 3, "met": false, "status": 200, "latency_ms": 700, "bytes": 0},
        ])
    );
    let record = serde_json::to_string(&result).unwrap();
    assert!(!record.contains("secret"), "{record}");
}

#[test]
fn a_large_repeat_lists_a_bounded_number_of_attempts_failures_first() {
    // 500 attempts, every 100th too slow: all 5 failures are listed, then the
    // earliest good ones up to the cap, in index order.
    let attempts: Vec<ProbeAttempt> = (1..=500)
        .map(|i| ok(i, if i % 100 == 0 { 900 } else { 10 }, ""))
        .collect();
    let mut many = check();
    many.repeat = 500;
    many.min_success = 0.9;
    let result = run(&many, attempts);
    assert_eq!(result.outcome, GateOutcome::Pass, "{}", result.reason);
    let figures = result.probe().unwrap();
    assert_eq!(figures.listed.len(), MAX_RECORDED_ATTEMPTS);
    assert_eq!(figures.not_listed, 500 - MAX_RECORDED_ATTEMPTS);
    assert_eq!(figures.met, 495);
    let failed: Vec<u32> = figures
        .listed
        .iter()
        .filter(|a| !a.met)
        .map(|a| a.index)
        .collect();
    assert_eq!(failed, [100, 200, 300, 400, 500]);
    let good: Vec<u32> = figures
        .listed
        .iter()
        .filter(|a| a.met)
        .map(|a| a.index)
        .collect();
    assert_eq!(good, (1..=15).collect::<Vec<u32>>());
    let indexes: Vec<u32> = figures.listed.iter().map(|a| a.index).collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
}

#[test]
fn a_probe_that_was_not_sent_records_no_attempts() {
    let result = judge(
        &gate(),
        &check(),
        Some(&Ok(ProbeRun::NotRun("a rehearsal".into()))),
    );
    assert_eq!(result.probe(), None);
}

/// Issue 15: an attempt the prober refused (the Runtime API, a link-local
/// address) makes the gate an error naming the address, even when
/// `min_success` would let the share of good attempts pass.
#[test]
fn a_refused_attempt_is_an_error_naming_the_address_never_a_pass() {
    let mut lenient = check();
    lenient.repeat = 10;
    lenient.min_success = 0.5;
    let mut attempts: Vec<ProbeAttempt> = (1..=10).map(|i| ok(i, 10, "")).collect();
    attempts[3] = ProbeAttempt {
        status: None,
        error: Some("refused to connect to 127.0.0.1:9001: it is the Lambda Runtime API's address (AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001), where a probe would take the function's own invocations".into()),
        refused: Some("127.0.0.1:9001".into()),
        redirects: vec!["http://127.0.0.1:9001/2018-06-01/runtime/invocation/next".into()],
        ..ok(4, 1, "")
    };
    let result = run(&lenient, attempts);
    assert_eq!(result.outcome, GateOutcome::Error, "{}", result.reason);
    assert_eq!(
        result.reason,
        "probe GET http://test.internal.example.com/health: attempt 4 was not sent: the prober refused to connect to 127.0.0.1:9001 (after redirects, last to http://127.0.0.1:9001/2018-06-01/runtime/invocation/next); refused to connect to 127.0.0.1:9001: it is the Lambda Runtime API's address (AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001), where a probe would take the function's own invocations"
    );
}
