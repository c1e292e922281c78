//! Policy parsing and validation: the embedded default, and every error naming its place.

use super::*;

fn alb_env(name: &str) -> Option<String> {
    match name {
        "TARGET_GROUP" => Some("targetgroup/web-green/0123456789abcdef".into()),
        "LOAD_BALANCER" => Some("app/web/fedcba9876543210".into()),
        _ => None,
    }
}

fn problems(yaml: &str) -> Vec<String> {
    Policy::from_yaml(yaml, "gates.yaml", &alb_env)
        .unwrap_err()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn embedded_default_encodes_the_adr_triggers() {
    let policy = Policy::embedded_default(&alb_env).unwrap();
    assert_eq!(policy.source, DEFAULT_POLICY_SOURCE);
    assert!(policy.digest.starts_with("sha256:"));
    for hook in [Hook::BeforeAllowTraffic, Hook::AfterAllowTraffic] {
        let section = policy.hook(hook).unwrap();
        assert_eq!(section.on_inconclusive, InconclusiveAction::Fail);
        assert_eq!(section.ingestion_lag_secs, 120);
        let by_name =
            |name: &str| match &section.gates.iter().find(|g| g.name == name).unwrap().check {
                GateCheck::Threshold(t) => t.clone(),
                GateCheck::Alarms(_) | GateCheck::Probe(_) => {
                    panic!("{name} is not a threshold gate")
                }
            };
        let errors = by_name("error-rate");
        assert_eq!(
            (errors.comparison, errors.threshold.value),
            (Comparison::GreaterThan, 0.01)
        );
        assert_eq!((errors.window_secs, errors.period_secs), (300, 60));
        assert_eq!(
            errors.min_sample.as_ref().unwrap().query.metric_name,
            "RequestCount"
        );
        let Signal::Ratio {
            numerator,
            denominator,
        } = &errors.signal
        else {
            panic!()
        };
        assert_eq!(numerator[0].metric_name, "HTTPCode_Target_5XX_Count");
        assert_eq!(numerator[0].kind, SeriesKind::Counter);
        assert_eq!(denominator[0].metric_name, "RequestCount");
        assert_eq!(
            denominator[0].dimensions,
            vec![
                (
                    "LoadBalancer".to_string(),
                    "app/web/fedcba9876543210".to_string()
                ),
                (
                    "TargetGroup".to_string(),
                    "targetgroup/web-green/0123456789abcdef".to_string()
                ),
            ]
        );
        let latency = by_name("latency-p95");
        assert_eq!(
            (latency.comparison, latency.threshold.value),
            (Comparison::GreaterThan, 1.0)
        );
        let Signal::Metric(q) = &latency.signal else {
            panic!()
        };
        assert_eq!((q.stat.as_str(), q.kind), ("p95", SeriesKind::Gauge));
        let health = by_name("healthy-hosts");
        assert_eq!(
            (health.comparison, health.threshold.value),
            (Comparison::LessThan, 0.95)
        );
    }
    assert!(policy.hook(Hook::BeforeInstall).unwrap().preflight);
    assert!(!policy
        .hook(Hook::AfterAllowTestTraffic)
        .unwrap()
        .gates
        .is_empty());
}

#[test]
fn example_policy_is_valid() {
    let text = include_str!("../../../gates.example.yaml");
    let env = |name: &str| alb_env(name).or_else(|| Some(format!("value-of-{name}")));
    let policy = Policy::from_yaml(text, "gates.example.yaml", &env).unwrap();
    let names: Vec<&str> = policy
        .hook(Hook::AfterAllowTraffic)
        .unwrap()
        .gates
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    for custom in [
        "session-errors",
        "critical-path-failures",
        "db-connection-errors",
    ] {
        assert!(names.contains(&custom), "{custom} missing from {names:?}");
    }
}

#[test]
fn missing_environment_reference_is_named() {
    let yaml = "version: 1\nmetric_defaults:\n  namespace: N\n  dimensions: { TargetGroup: \"${TARGET_GROUP}\" }\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: g\n        metric: { name: M, stat: Sum }\n        comparison: \">\"\n        threshold: 1\n";
    let err = Policy::from_yaml(yaml, "gates.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("environment variable TARGET_GROUP is not set"),
        "{err}"
    );
    assert!(err.contains("gates.yaml:4:"), "{err}");
    assert!(
        err.contains("metric_defaults.dimensions.TargetGroup"),
        "{err}"
    );
}

#[test]
fn the_default_needs_no_environment_and_leaves_the_canary_to_discovery() {
    let policy = Policy::embedded_default(&|_| None).unwrap();
    let unbound: Vec<String> = policy
        .unbound(Hook::BeforeAllowTraffic)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        unbound,
        vec![
            "${canary.load_balancer}",
            "${canary.target_group}",
            "${baseline.load_balancer}",
            "${baseline.target_group}"
        ]
    );
    // The baseline is named only by the shadow gate (dry run): discovery runs
    // for the canary, which the blocking gates need.
    let blocking: Vec<String> = policy
        .unbound_blocking(Hook::BeforeAllowTraffic)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        blocking,
        vec!["${canary.load_balancer}", "${canary.target_group}"]
    );
    // BeforeInstall's preflight judges no gate of its own: it must not depend
    // on discovery, which cannot see the replacement before it is installed.
    assert!(policy.unbound(Hook::BeforeInstall).is_empty());
    // The overrides resolve them at load time: the canary's leave nothing for
    // a blocking gate to discover (the baseline's load balancer falls back to
    // LOAD_BALANCER), and BASELINE_TARGET_GROUP resolves the shadow gate too.
    let overridden = Policy::embedded_default(&alb_env).unwrap();
    assert!(overridden
        .unbound_blocking(Hook::BeforeAllowTraffic)
        .is_empty());
    let left: Vec<String> = overridden
        .unbound(Hook::BeforeAllowTraffic)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(left, ["${baseline.target_group}"]);
    let with_baseline = |name: &str| match name {
        "BASELINE_TARGET_GROUP" => Some("targetgroup/web-blue/0123456789abcdef".into()),
        other => alb_env(other),
    };
    assert!(Policy::embedded_default(&with_baseline)
        .unwrap()
        .unbound(Hook::BeforeAllowTraffic)
        .is_empty());
}

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
    let found = problems("version: 1\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: x\n        treshold: 3\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("gates.yaml:6:"), "{found:?}");
    assert!(found[0].contains("treshold"), "{found:?}");

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
        joined.contains("exactly one of `metric`, `ratio`, `alarms` or `probe`, found 2"),
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
fn percentile_statistics_are_accepted() {
    for stat in ["p50", "p95", "p99.9", "p99.99", "p100"] {
        let yaml = format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: l\n        metric: {{ namespace: N, name: M, stat: {stat} }}\n        comparison: \">\"\n        threshold: 1\n");
        Policy::from_yaml(&yaml, "p.yaml", &alb_env).unwrap_or_else(|e| panic!("{stat}: {e}"));
    }
    for stat in ["p0", "p101", "p9.", "P95", "p99.999", "avg"] {
        let yaml = format!("version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: l\n        metric: {{ namespace: N, name: M, stat: {stat} }}\n        comparison: \">\"\n        threshold: 1\n");
        assert!(
            Policy::from_yaml(&yaml, "p.yaml", &alb_env).is_err(),
            "{stat} was accepted"
        );
    }
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

fn gate_yaml(gate: &str) -> String {
    format!(
        "version: 1\nmetric_defaults:\n  namespace: AWS/ApplicationELB\n  dimensions: {{ TargetGroup: \"${{canary.target_group}}\" }}\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: g\n        metric: {{ name: TargetResponseTime, stat: p95 }}\n        comparison: \">\"\n{gate}"
    )
}

#[test]
fn baseline_rules_are_checked() {
    let cases = [
        (
            "        threshold: 1.4 x baseline\n",
            "a threshold relative to the baseline needs `baseline: live`",
        ),
        (
            "        threshold: 1.0\n        baseline: live\n",
            "with `baseline`, write the threshold relative to it",
        ),
        (
            "        threshold: 1.4 x baseline\n        baseline: live\n        pass_if_not_worse_than: baseline\n",
            "applies to an absolute threshold only",
        ),
        (
            "        threshold: 1.0\n        pass_if_not_worse_than: baseline\n",
            "pass_if_not_worse_than: needs `baseline`",
        ),
        (
            "        threshold: twice the baseline\n        baseline: live\n",
            "expected a bound relative to the baseline such as `1.4 x baseline`",
        ),
        (
            "        threshold: 1.4 x baseline\n        baseline: yesterday\n",
            "expected `live` (the version being replaced, same window)",
        ),
        (
            "        threshold: 1.4 x baseline\n        baseline: { history: 2m }\n",
            "must reach back at least one window (300s)",
        ),
        (
            "        threshold: 1.4 x baseline\n        baseline: { history: 30d }\n",
            "CloudWatch keeps data for 15 days for 60-second periods",
        ),
        (
            "        threshold: 1.4 x baseline\n        baseline: live\n        dimensions_note: x\n",
            "unknown field `dimensions_note`",
        ),
        (
            "        threshold: 1.0\n        test: mann_whitney\n        alpha: 0.01\n",
            "test: needs `baseline`: a statistical test compares the canary with it",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: two_proportion\n",
            "`two_proportion` compares events out of trials: it needs a `ratio` of counters",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: mann_whitney\n        direction: increase\n",
            "`direction` only says `either`",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: t_test\n",
            "expected `per_period` (default), `two_proportion` or `mann_whitney`",
        ),
    ];
    for (gate, want) in cases {
        let found = problems(&gate_yaml(gate));
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{gate}: wanted {want:?} in {found:#?}"
        );
    }
    // A live baseline over literal dimensions would compare a series with itself.
    let literal = "version: 1\nmetric_defaults:\n  namespace: N\n  dimensions: { TargetGroup: tg }\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: g\n        metric: { name: M, stat: p95 }\n        comparison: \">\"\n        threshold: 1.4 x baseline\n        baseline: live\n";
    assert!(problems(literal)
        .iter()
        .any(|p| p.contains("the live baseline would be the same series as the canary")));
}

#[test]
fn relative_thresholds_are_parsed() {
    let bound = |text: &str| {
        let policy = Policy::from_yaml(
            &gate_yaml(&format!(
                "        threshold: {text}\n        baseline: live\n"
            )),
            "g",
            &alb_env,
        )
        .unwrap();
        let GateCheck::Threshold(check) =
            &policy.hook(Hook::BeforeAllowTraffic).unwrap().gates[0].check
        else {
            panic!()
        };
        check.baseline.as_ref().unwrap().rule.bound().to_string()
    };
    assert_eq!(bound("1.4 x baseline"), "1.4 x baseline");
    assert_eq!(bound("1.4x baseline"), "1.4 x baseline");
    assert_eq!(bound("baseline * 2"), "2 x baseline");
    assert_eq!(bound("baseline + 0.5pp"), "baseline + 0.5pp");
    assert_eq!(bound("baseline + 0.5%"), "baseline + 0.5pp");
    assert_eq!(bound("baseline - 0.1"), "baseline - 0.1");
    assert_eq!(bound("baseline"), "1 x baseline");
}

#[test]
fn discovered_values_are_only_allowed_in_dimension_values() {
    let found = problems("version: 1\nmetric_defaults:\n  namespace: ${canary.target_group}\n  dimensions: { TargetGroup: \"${canary.bogus}\" }\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: g\n        alarms: [\"${baseline.version}\"]\n");
    for want in [
        "metric_defaults.namespace: ${canary.target_group} is filled in by deployment discovery and is only allowed in dimension values",
        "unknown discovered value ${canary.bogus}",
        "alarms[0]: ${baseline.version} is filled in by deployment discovery",
    ] {
        assert!(found.iter().any(|p| p.contains(want)), "wanted {want:?} in {found:#?}");
    }
}

#[test]
fn the_default_baseline_fits_the_hook() {
    let yaml = "version: 1\nmetric_defaults:\n  namespace: N\n  dimensions: { TargetGroup: \"${canary.target_group}\" }\nhooks:\n  BeforeAllowTraffic: &gates\n    gates:\n      - name: g\n        metric: { name: M, stat: p95 }\n        baseline: default\n        comparison: \">\"\n        threshold: 1.4 x baseline\n  AfterAllowTraffic: *gates\n";
    let policy = Policy::from_yaml(yaml, "g.yaml", &|_| None).unwrap();
    let source = |hook: Hook| {
        let GateCheck::Threshold(check) = &policy.hook(hook).unwrap().gates[0].check else {
            panic!()
        };
        check.baseline.as_ref().unwrap().source.clone()
    };
    // The old version still serves production before traffic shifts ...
    assert_eq!(source(Hook::BeforeAllowTraffic), BaselineSource::Live);
    // ... and no longer after: the same hour a week earlier.
    assert_eq!(
        source(Hook::AfterAllowTraffic),
        BaselineSource::History {
            offset_secs: 7 * 86_400
        }
    );
}

#[test]
fn a_canary_score_needs_tested_gates_and_sane_thresholds() {
    let found = problems("version: 1\nmetric_defaults:\n  namespace: N\n  dimensions: { TargetGroup: \"${canary.target_group}\" }\nhooks:\n  BeforeAllowTraffic:\n    canary_score: { pass: 60, marginal: 80 }\n    gates:\n      - name: g\n        metric: { name: M, stat: p95 }\n        comparison: \">\"\n        threshold: 1\n        weight: 2\n");
    for want in [
        "hooks.BeforeAllowTraffic.canary_score: scores the hook's statistically tested gates, and there is none",
        "`marginal` (80) must not be above `pass` (60)",
        "weight: weighs a statistically tested gate",
    ] {
        assert!(found.iter().any(|p| p.contains(want)), "wanted {want:?} in {found:#?}");
    }
}

#[test]
fn nan_strategy_is_a_rank_test_option_named_in_errors() {
    let strategy = |extra: &str| {
        let policy = Policy::from_yaml(
            &gate_yaml(&format!(
                "        threshold: 1.2 x baseline\n        baseline: live\n        test: mann_whitney\n{extra}"
            )),
            "g",
            &alb_env,
        )
        .unwrap();
        let GateCheck::Threshold(check) =
            &policy.hook(Hook::BeforeAllowTraffic).unwrap().gates[0].check
        else {
            panic!()
        };
        match check.baseline.as_ref().unwrap().test {
            BaselineTest::MannWhitney { nan_strategy, .. } => nan_strategy,
            other => panic!("{other:?}"),
        }
    };
    // Kayenta's default: a period without a value is left out.
    assert_eq!(strategy(""), NanStrategy::Remove);
    assert_eq!(
        strategy("        nan_strategy: remove\n"),
        NanStrategy::Remove
    );
    assert_eq!(
        strategy("        nan_strategy: replace_with_zero\n"),
        NanStrategy::ReplaceWithZero
    );
    let cases = [
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: mann_whitney\n        nan_strategy: zero\n",
            "nan_strategy: expected `remove` (a period without a value is left out, the default) or `replace_with_zero`",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        nan_strategy: remove\n",
            "nan_strategy: applies to `test: mann_whitney` only",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: per_period\n        nan_strategy: replace_with_zero\n",
            "nan_strategy: applies to `test: mann_whitney` only",
        ),
        (
            "        threshold: 1.0\n        nan_strategy: remove\n",
            "nan_strategy: needs `baseline`: a statistical test compares the canary with it",
        ),
    ];
    for (gate, want) in cases {
        let found = problems(&gate_yaml(gate));
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{gate}: wanted {want:?} in {found:#?}"
        );
    }
}

#[test]
fn comparison_options_on_alarm_and_probe_gates_are_refused_by_name() {
    let found = problems("version: 1\nprobe_hosts: [h.example.com]\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: a\n        alarms: [x]\n        baseline: live\n        test: mann_whitney\n        nan_strategy: remove\n      - name: p\n        probe: { url: \"http://h.example.com/\" }\n        weight: 2\n        alpha: 0.01\n");
    for want in [
        "gates[0].baseline: does not apply to an `alarms` gate",
        "gates[0].test: does not apply to an `alarms` gate",
        "gates[0].nan_strategy: does not apply to an `alarms` gate",
        "gates[1].weight: does not apply to a `probe` gate",
        "gates[1].alpha: does not apply to a `probe` gate",
    ] {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "wanted {want:?} in {found:#?}"
        );
    }
}

#[test]
fn a_query_reads_namespace_name_stat_then_its_dimensions_in_brackets() {
    let mut query = MetricQuery {
        namespace: "AWS/ApplicationELB".into(),
        metric_name: "TargetResponseTime".into(),
        dimensions: vec![],
        stat: "p95".into(),
        period_secs: 60,
        kind: SeriesKind::Gauge,
    };
    assert_eq!(
        query.to_string(),
        "AWS/ApplicationELB/TargetResponseTime p95"
    );
    query.dimensions = vec![("LoadBalancer".into(), "app/web/1".into())];
    assert_eq!(
        query.to_string(),
        "AWS/ApplicationELB/TargetResponseTime p95 [LoadBalancer=app/web/1]"
    );
    query
        .dimensions
        .push(("TargetGroup".into(), "targetgroup/green/2".into()));
    assert_eq!(
        query.to_string(),
        "AWS/ApplicationELB/TargetResponseTime p95 [LoadBalancer=app/web/1, TargetGroup=targetgroup/green/2]"
    );
}

#[test]
fn thresholds_are_written_without_trailing_zeros() {
    let percent = |value| Threshold {
        value,
        unit: ThresholdUnit::Percent,
    };
    let plain = |value| Threshold {
        value,
        unit: ThresholdUnit::Plain,
    };
    assert_eq!(percent(0.01).format_value(0.01), "1%");
    assert_eq!(percent(0.0125).format_value(0.0125), "1.25%");
    assert_eq!(percent(0.0).format_value(-0.0), "0%");
    assert_eq!(plain(1.0).format_value(1.0), "1");
    assert_eq!(plain(1.0).format_value(0.3125), "0.3125");
    assert_eq!(plain(1.0).format_value(0.31254), "0.3125");
    assert_eq!(plain(1.0).format_value(-0.00001), "0");
    assert_eq!(plain(1.0).format_value(120.5), "120.5");
}
