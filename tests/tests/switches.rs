//! The freeze and override switches in SSM Parameter Store, end to end: set
//! with the real SDK in the emulator, read by the real hook at run time, no
//! redeploy.

use gate_tests::{invoke, lifecycle_event, AlbMinute, Emulator, HookProcess};

#[test]
fn freeze_and_override_change_the_answer_without_a_redeploy() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    // A release the gates would fail: 3 % errors.
    emulator.seed_alb(10, |_| AlbMinute {
        errors_5xx: Some(30.0),
        ..AlbMinute::healthy()
    });
    let hook = HookProcess::start(&emulator, "after-allow-traffic", &[]);

    let gates_alone = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    assert_eq!(gates_alone["body"]["status"], "Failed", "{gates_alone}");

    emulator.put_parameter(
        "/codedeploy-gates/override/AfterAllowTraffic",
        r#"{"reason": "error spike is the load test, INC-9", "by": "alice", "expires": "2099-01-01T00:00:00Z"}"#,
    );
    let overridden = invoke(&emulator, lifecycle_event(&deployment, "exec-2"), 30_000);
    assert_eq!(overridden["body"]["status"], "Succeeded", "{overridden}");
    assert!(
        overridden["body"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("override by alice until 2099-01-01T00:00:00Z"),
        "{overridden}"
    );

    emulator.put_parameter("/codedeploy-gates/freeze", "change freeze for the holidays");
    let frozen = invoke(&emulator, lifecycle_event(&deployment, "exec-3"), 30_000);
    assert_eq!(frozen["body"]["status"], "Failed", "{frozen}");
    assert!(
        frozen["body"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("deployment freeze: change freeze for the holidays"),
        "{frozen}"
    );

    emulator.delete_parameter("/codedeploy-gates/freeze");
    emulator.delete_parameter("/codedeploy-gates/override/AfterAllowTraffic");
    let back = invoke(&emulator, lifecycle_event(&deployment, "exec-4"), 30_000);
    assert_eq!(back["body"]["status"], "Failed", "{back}");
    drop(hook);
    assert_eq!(
        emulator.accepted_statuses(),
        ["Failed", "Succeeded", "Failed", "Failed"]
    );
}

#[test]
fn a_freeze_stops_a_healthy_release_and_switches_can_be_turned_off() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    emulator.put_parameter("/team-a/gates/freeze", "incident INC-12 in progress");
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("GATE_SWITCH_PREFIX", "/team-a/gates/")],
    );
    let frozen = invoke(&emulator, lifecycle_event(&deployment, "exec-f"), 30_000);
    drop(hook);
    assert_eq!(frozen["body"]["status"], "Failed", "{frozen}");
    let off = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("GATE_SWITCH_PREFIX", "none")],
    );
    let unswitched = invoke(&emulator, lifecycle_event(&deployment, "exec-g"), 30_000);
    drop(off);
    assert_eq!(unswitched["body"]["status"], "Succeeded", "{unswitched}");
}

/// `GATE_SWITCH_PREFIX=/team-a/gates` (no trailing slash) means the same
/// folder as `/team-a/gates/`: the freeze at `/team-a/gates/freeze` is found,
/// never missed by reading `/team-a/gatesfreeze`. A prefix that is no SSM path
/// stops the function at init, naming the variable.
#[test]
fn a_prefix_without_its_trailing_slash_still_finds_the_freeze() {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    emulator.put_parameter("/team-a/gates/freeze", "incident INC-13 in progress");
    let hook = HookProcess::start(
        &emulator,
        "before-allow-traffic",
        &[("GATE_SWITCH_PREFIX", "/team-a/gates")],
    );
    let frozen = invoke(&emulator, lifecycle_event(&deployment, "exec-p"), 30_000);
    drop(hook);
    assert_eq!(frozen["body"]["status"], "Failed", "{frozen}");
    assert!(
        frozen["body"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("deployment freeze: incident INC-13")),
        "{frozen}"
    );
    assert_eq!(emulator.accepted_statuses(), vec!["Failed"]);
}
