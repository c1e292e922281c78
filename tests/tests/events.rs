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
