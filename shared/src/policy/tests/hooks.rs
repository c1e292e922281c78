//! Hook sections and gates: the file's shape, every problem named with its
//! line and field, gate kinds, names, severities and dry runs.

use super::*;

#[test]
fn every_semantic_problem_is_reported_with_line_and_field() {
    let yaml = "\
version: 1
hooks:
  BeforeAllowTraffic:
    on_inconclusive: maybe
    gates:
      - name: latency
        metric: { namespace: AWS/ApplicationELB, name: TargetResponseTime, stat: p101 }
        comparison: \"=>\"
        threshold: 1.0
        window: 5m
        period: 45s
      - name: errors
        metric: { namespace: AWS/ApplicationELB, name: HTTPCode_Target_5XX_Count, stat: Sum }
        comparison: \">\"
        threshold: lots
        datapoints_to_alarm: 9
";
    let found = problems(yaml);
    let expect = [
        "gates.yaml:4:22: hooks.BeforeAllowTraffic.on_inconclusive: expected `fail` or `pass`",
        "gates.yaml:7:82: hooks.BeforeAllowTraffic.gates[0].metric.stat: unknown statistic \"p101\"",
        "gates.yaml:8:21: hooks.BeforeAllowTraffic.gates[0].comparison: expected one of",
        "gates.yaml:11:17: hooks.BeforeAllowTraffic.gates[0].period: CloudWatch periods are 1, 5, 10, 30 or a multiple of 60 seconds, found 45s",
        "gates.yaml:15:20: hooks.BeforeAllowTraffic.gates[1].threshold: expected a number or a percentage",
        "gates.yaml:16:30: hooks.BeforeAllowTraffic.gates[1].datapoints_to_alarm: must be between 1 and evaluation_periods (5), found 9",
    ];
    for want in expect {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "no problem starting {want:?} in {found:#?}"
        );
    }
}

#[test]
fn shape_errors_name_line_and_key() {
    // The unknown field, and what the gate lacks besides: every problem at once.
    let found = problems("version: 1\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: x\n        treshold: 3\n");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("exactly one of"), "{found:?}");
    assert_eq!(
        found[1],
        "gates.yaml:6:9: hooks.BeforeAllowTraffic.gates[0].treshold: unknown field; did you mean `threshold`?"
    );

    let found = problems("version: 1\nhooks: [\n");
    assert!(found[0].starts_with("gates.yaml:"), "{found:?}");
}

#[test]
fn gate_shape_rules() {
    let found = problems(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: both\n        metric: { namespace: N, name: M, stat: Sum }\n        alarms: [a]\n      - name: both\n        alarms: [a]\n        threshold: 3\n  Deploy:\n    gates: []\n",
    );
    let joined = found.join("\n");
    assert!(
        joined.contains("exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found 2"),
        "{joined}"
    );
    assert!(joined.contains("duplicate gate name \"both\""), "{joined}");
    assert!(
        joined.contains("gates[1].threshold: does not apply to an `alarms` gate"),
        "{joined}"
    );
    assert!(joined.contains("unknown hook \"Deploy\""), "{joined}");
}

#[test]
fn a_hook_with_nothing_to_check_is_refused() {
    let found = problems("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates: []\n");
    assert!(
        found[0].contains("needs at least one critical gate"),
        "{found:?}"
    );
    let found = problems(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: w\n        severity: warning\n        alarms: [a]\n",
    );
    assert!(
        found[0].contains("needs at least one critical gate"),
        "{found:?}"
    );
}

#[test]
fn dry_run_is_read_per_hook_and_per_gate() {
    let yaml = "version: 1\nhooks:\n  AfterAllowTraffic:\n    dry_run: true\n    gates:\n      - name: veto\n        alarms: [a]\n      - name: new-gate\n        dry_run: true\n        alarms: [b]\n";
    let policy = Policy::from_yaml(yaml, "p.yaml", &alb_env).unwrap();
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap();
    assert!(section.dry_run);
    assert_eq!(
        section.gates.iter().map(|g| g.dry_run).collect::<Vec<_>>(),
        [false, true]
    );
    // Only dry-run gates: nothing could ever block.
    let found = problems("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: new-gate\n        dry_run: true\n        alarms: [b]\n");
    assert!(
        found[0].contains("at least one critical gate that is not a dry run"),
        "{found:?}"
    );
}

#[test]
fn comparison_options_on_alarm_and_probe_gates_are_refused_by_name() {
    let found = problems("version: 1\nprobe_hosts: [h.example.com]\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: a\n        alarms: [x]\n        baseline: live\n        test: mann_whitney\n        nan_strategy: remove\n        effect_size: mean_ratio\n      - name: p\n        probe: { url: \"http://h.example.com/\" }\n        weight: 2\n        alpha: 0.01\n");
    for want in [
        "gates[0].baseline: does not apply to an `alarms` gate",
        "gates[0].test: does not apply to an `alarms` gate",
        "gates[0].nan_strategy: does not apply to an `alarms` gate",
        "gates[0].effect_size: does not apply to an `alarms` gate",
        "gates[1].weight: does not apply to a `probe` gate",
        "gates[1].alpha: does not apply to a `probe` gate",
    ] {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "wanted {want:?} in {found:#?}"
        );
    }
}
