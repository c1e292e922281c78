//! Feature flags (issue 19): the `flag` gate, a hook's `kill_switch` and
//! `require_kill_switch`, each refused with its place when written wrong.

use super::*;

const FLAG: &str =
    "{application: shop, environment: prod, profile: checkout-flags, key: new_checkout}";

#[test]
fn a_flag_gate_and_a_kill_switch_are_read_with_their_defaults() {
    let yaml = format!(
        "version: 1\nhooks:\n  BeforeInstall:\n    preflight: true\n    require_kill_switch: true\n  AfterAllowTraffic:\n    kill_switch:\n      - {FLAG}\n    gates:\n      - name: behind-flag\n        flag: {FLAG}\n      - name: old-path-off\n        flag: {{application: shop, environment: prod, profile: checkout-flags, key: old_checkout, state: disabled}}\n"
    );
    let policy = Policy::from_yaml(&yaml, "gates.yaml", &alb_env).unwrap();
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap();
    let flag = FlagRef {
        profile: FlagProfile {
            application: "shop".into(),
            environment: "prod".into(),
            profile: "checkout-flags".into(),
        },
        key: "new_checkout".into(),
    };
    assert_eq!(section.kill_switch, vec![flag.clone()]);
    match &section.gates[0].check {
        GateCheck::Flag(check) => {
            assert_eq!(check.flag, flag);
            assert_eq!(check.expect, FlagState::Enabled, "enabled by default");
        }
        other => panic!("not a flag gate: {other:?}"),
    }
    assert!(
        matches!(&section.gates[1].check, GateCheck::Flag(c) if c.expect == FlagState::Disabled)
    );
    assert!(
        policy
            .hook(Hook::BeforeInstall)
            .unwrap()
            .require_kill_switch
    );
    assert_eq!(policy.other_kill_switches(Hook::BeforeInstall), vec![flag]);
    assert!(policy.uses_flags());
    assert_eq!(flag_display(), "shop/prod/checkout-flags:new_checkout");
}

fn flag_display() -> String {
    FlagRef {
        profile: FlagProfile {
            application: "shop".into(),
            environment: "prod".into(),
            profile: "checkout-flags".into(),
        },
        key: "new_checkout".into(),
    }
    .to_string()
}

#[test]
fn a_flag_written_wrong_is_refused_with_every_problem_and_its_place() {
    let yaml = "\
version: 1
hooks:
  AfterAllowTraffic:
    kill_switch:
      - {application: shop, environment: prod, profile: checkout-flags, key: new_checkout, state: disabled}
      - {application: shop, profile: checkout-flags, key: 9lives}
    gates:
      - name: behind-flag
        flag: {application: shop, environment: prod, profile: checkout-flags, key: new_checkout, state: on}
      - name: both
        flag: {application: shop, environment: prod, profile: checkout-flags, key: a}
        alarms: [x]
      - name: stray
        flag: {application: shop, environment: prod, profile: checkout-flags, key: a}
        threshold: 3
";
    let found = problems(yaml);
    let expect = [
        "gates.yaml:5:99: hooks.AfterAllowTraffic.kill_switch[0].state: a kill switch always turns its flag off",
        "hooks.AfterAllowTraffic.kill_switch[1].environment: required: the flag's environment",
        "hooks.AfterAllowTraffic.kill_switch[1].key: a flag key starts with a letter",
        "hooks.AfterAllowTraffic.gates[0].flag.state: expected `enabled` or `disabled`, found \"on\"",
        "hooks.AfterAllowTraffic.gates[1]: a gate needs exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found `flag` and `alarms`",
        "hooks.AfterAllowTraffic.gates[2].threshold: does not apply to a `flag` gate",
    ];
    for want in expect {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "no problem containing {want:?} in {found:#?}"
        );
    }
}

#[test]
fn require_kill_switch_needs_the_preflight_and_a_kill_switch_elsewhere() {
    let yaml = "\
version: 1
hooks:
  BeforeInstall:
    require_kill_switch: true
  AfterAllowTraffic:
    gates:
      - name: a
        alarms: [x]
";
    let found = problems(yaml);
    for want in [
        "hooks.BeforeInstall.require_kill_switch: is checked by the preflight: set `preflight: true` too",
        "hooks.BeforeInstall.require_kill_switch: no other hook names a `kill_switch`",
    ] {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "no problem containing {want:?} in {found:#?}"
        );
    }
}

#[test]
fn an_unknown_field_of_a_flag_is_named_with_the_nearest() {
    let yaml = "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: f\n        flag: {application: shop, environment: prod, profile: p, key: k, stat: enabled}\n";
    let found = problems(yaml);
    assert!(
        found.iter().any(
            |p| p.contains("hooks.AfterAllowTraffic.gates[0].flag.stat") && p.contains("state")
        ),
        "{found:#?}"
    );
}
