//! The sample events in `events/`: each good one is accepted by its hook, each
//! bad one is refused with an error that names what is wrong.

use gate_tests::{invoke, workspace_root, AlbMinute, Emulator, HookProcess};
use serde_json::Value;

fn read(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_sample_event_drives_its_hook() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    for hook in [
        "before-install",
        "after-allow-test-traffic",
        "before-allow-traffic",
        "after-allow-traffic",
    ] {
        let path = workspace_root().join(format!("events/{hook}.json"));
        let mut event = read(&path);
        let id = event["DeploymentId"].as_str().unwrap();
        assert!(
            id.len() == 11 && id.starts_with("d-"),
            "{}: {id}",
            path.display()
        );
        assert!(event["LifecycleEventHookExecutionId"]
            .as_str()
            .is_some_and(|s| s.len() > 20));
        // The emulator knows only the deployment it created.
        event["DeploymentId"] = Value::String(deployment.clone());
        let process = HookProcess::start(&emulator, hook, &[]);
        let invocation = invoke(&emulator, event, 30_000);
        drop(process);
        assert_eq!(
            invocation["body"]["status"], "Succeeded",
            "{hook}: {invocation}"
        );
    }
    assert_eq!(emulator.accepted_statuses().len(), 4);
}

#[test]
fn each_bad_event_is_refused_naming_the_problem() {
    let expected = [
        ("missing-deployment-id", "no `DeploymentId` field"),
        ("missing-execution-id", "no `LifecycleEventHookExecutionId` field"),
        ("wrong-type", "`DeploymentId` field must be a non-empty string, found a number"),
        ("empty-execution-id", "`LifecycleEventHookExecutionId` field must be a non-empty string, found an empty string"),
        ("not-an-object", "the event is not a JSON object (found an array)"),
        ("path-in-deployment-id", "the event's `DeploymentId` field is not an id CodeDeploy sends: '.' (U+002E) at position 1, where CodeDeploy's deployment ids are `d-` and 9 upper-case letters or digits, such as d-A1B2C3123; found \"../../codedeploy-gates/freeze\""),
        ("control-characters-in-execution-id", "the event's `LifecycleEventHookExecutionId` field is not an id CodeDeploy sends: U+000D at position 4, where CodeDeploy's execution ids are 1 to 2048 letters, digits and + / = - _ (a base64 token); found \"eyJ\\r\\nX-Injected: yes\""),
    ];
    let dir = workspace_root().join("events/bad");
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        files,
        expected.len(),
        "every file in events/bad has an expectation here"
    );
    let emulator = Emulator::start();
    let process = HookProcess::start(&emulator, "after-allow-traffic", &[]);
    for (name, message) in expected {
        let invocation = invoke(&emulator, read(&dir.join(format!("{name}.json"))), 10_000);
        assert_eq!(
            invocation["errorType"], "InvalidEvent",
            "{name}: {invocation}"
        );
        let text = invocation["errorMessage"].as_str().unwrap();
        assert!(
            text.starts_with("invalid CodeDeploy lifecycle event: "),
            "{name}: {text}"
        );
        assert!(text.contains(message), "{name}: {text:?} lacks {message:?}");
    }
    drop(process);
    assert!(
        emulator.lifecycle().is_empty(),
        "nothing may be reported for a malformed event"
    );
}

/// Queues an invocation whose body is `raw` as is (not necessarily JSON).
fn invoke_raw(emulator: &Emulator, raw: &str) -> Value {
    let queued = emulator.control(
        "POST",
        "invoke",
        Some(serde_json::json!({"raw": raw, "timeout_ms": 10_000})),
    );
    gate_tests::await_invocation(emulator, queued["requestId"].as_str().unwrap())
}

/// Characters that must never reach an error message or a log line raw: C0
/// and C1 controls, DEL, line and paragraph separators, bidi overrides.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|c| {
        (c.is_control() && *c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// Issue 15: ids CodeDeploy never sends are refused as `InvalidEvent` before
/// any AWS call; the message names the field, escapes what it quotes and is
/// bounded; nothing of the id reaches the logs; the function stays healthy.
#[test]
fn hostile_event_ids_are_refused_before_any_aws_call() {
    let huge = format!("d-{}", "A".repeat(5_000_000));
    let real_execution = "eyJlbmNyeXB0ZWREYXRhIjoiMDZ5ZUQwUm1GREhaNEpLeCtYSnNMMzBDeWFSM1RoTzR1";
    let cases: Vec<(&str, String, String)> = vec![
        ("NUL", "d-ABC\u{0}DEF12".into(), real_execution.into()),
        (
            "newline and a forged log line",
            "d-CATAGDYBL\n{\"status\":\"Succeeded\"}".into(),
            real_execution.into(),
        ),
        (
            "terminal escape",
            "\u{1b}[2J\u{1b}[31md-CATAGDYBL".into(),
            real_execution.into(),
        ),
        (
            "path traversal",
            "../../codedeploy-gates/freeze".into(),
            real_execution.into(),
        ),
        (
            "bidi override",
            "d-\u{202e}LBYDGATAC".into(),
            real_execution.into(),
        ),
        (
            "DEL and C1",
            "d-CATAG\u{7f}\u{85}".into(),
            real_execution.into(),
        ),
        ("lower case", "d-catagdybl".into(), real_execution.into()),
        ("5 MB", huge.clone(), real_execution.into()),
        (
            "execution id with CRLF",
            "d-CATAGDYBL".into(),
            "eyJ\r\nX-Injected: yes".into(),
        ),
        (
            "execution id of 5 MB",
            "d-CATAGDYBL".into(),
            "e".repeat(5_000_000),
        ),
        (
            "execution id with a path",
            "d-CATAGDYBL".into(),
            "../../../etc/passwd".into(),
        ),
    ];
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let seeding = emulator.calls().len();
    // At the most verbose level, where the runtime would log each raw body.
    let process = HookProcess::start(&emulator, "after-allow-traffic", &[("RUST_LOG", "trace")]);
    for (name, deployment_id, execution_id) in &cases {
        let event = serde_json::json!({
            "DeploymentId": deployment_id,
            "LifecycleEventHookExecutionId": execution_id,
        });
        let invocation = invoke(&emulator, event, 10_000);
        assert_eq!(
            invocation["errorType"], "InvalidEvent",
            "{name}: {invocation:.500}"
        );
        let text = invocation["errorMessage"].as_str().unwrap();
        assert!(
            text.starts_with("invalid CodeDeploy lifecycle event: "),
            "{name}: {text:.500}"
        );
        let field = if name.starts_with("execution id") {
            "`LifecycleEventHookExecutionId`"
        } else {
            "`DeploymentId`"
        };
        assert!(text.contains(field), "{name}: {text:.500}");
        assert!(text.chars().count() <= 600, "{name}: {} chars", text.len());
        assert_eq!(raw_control(text), None, "{name}: {text:?}");
        assert_eq!(
            emulator.calls().len(),
            seeding,
            "{name}: an AWS call was made: {:?}",
            emulator.calls()
        );
    }
    // The function is still healthy: the next, genuine event is judged.
    let invocation = invoke(
        &emulator,
        gate_tests::lifecycle_event(&deployment, real_execution),
        30_000,
    );
    assert_eq!(invocation["body"]["status"], "Succeeded", "{invocation}");
    let (stdout, stderr) = process.finish();
    // The logs quote a refused id only as the error does: escaped, at most
    // 40 characters of it, in the line that says it was refused.
    for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert_eq!(raw_control(text), None, "{stream}: {text}");
        for line in text.lines() {
            if line.contains("../../codedeploy-gates") || line.contains("etc/passwd") {
                assert!(line.contains("InvalidId"), "{stream}: {line}");
            }
            assert!(!line.contains(&"A".repeat(41)), "{stream}: {line:.300}");
            if line.contains("InvalidId") {
                assert!(line.len() < 2_000, "{stream}: {line:.300}");
            }
        }
    }
    assert_eq!(emulator.accepted_statuses(), vec!["Succeeded"]);
}

/// Issue 15: a body that is not JSON at all (truncated, empty, a number out
/// of range) is `InvalidEvent` naming the problem, not the runtime's
/// `DeserializeError`, and the next invocation is served.
#[test]
fn a_malformed_json_event_is_invalid_event() {
    let emulator = Emulator::start();
    let process = HookProcess::start(&emulator, "after-allow-traffic", &[]);
    let cases = [
        (
            r#"{"DeploymentId": "d-CATAGDYBL", "LifecycleEventHook"#,
            "not valid JSON",
        ),
        (r#"{"DeploymentId": 1e400}"#, "not valid JSON"),
        ("", "not valid JSON"),
        ("\u{1b}[2J", "not valid JSON"),
    ];
    for (raw, expected) in cases {
        let invocation = invoke_raw(&emulator, raw);
        assert_eq!(
            invocation["errorType"], "InvalidEvent",
            "{raw:?}: {invocation}"
        );
        let text = invocation["errorMessage"].as_str().unwrap();
        assert!(
            text.starts_with("invalid CodeDeploy lifecycle event: ") && text.contains(expected),
            "{raw:?}: {text}"
        );
        assert_eq!(raw_control(text), None, "{raw:?}: {text:?}");
    }
    // Still alive: a well-formed event with an unknown deployment is judged
    // and reported (and refused by CodeDeploy), not lost.
    let invocation = invoke(
        &emulator,
        gate_tests::lifecycle_event("d-NOSUCHDEP", "exec-after-malformed"),
        30_000,
    );
    assert_ne!(invocation["state"], "pending", "{invocation}");
    assert_ne!(invocation["errorType"], "InvalidEvent", "{invocation}");
    drop(process);
}
