//! Baselines and statistical tests: sources, relative bounds, the rules that
//! tie them to a threshold, `nan_strategy`, and the hook's canary score.

use super::*;

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
            "gates[0].dimensions_note: unknown field",
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

/// A hook with a canary score and one rank-tested gate on `signal`.
fn scored_yaml(signal: &str, gate: &str) -> String {
    format!(
        "version: 1\nmetric_defaults:\n  namespace: AWS/ApplicationELB\n  dimensions: {{ TargetGroup: \"${{canary.target_group}}\" }}\nhooks:\n  BeforeAllowTraffic:\n    canary_score: {{ pass: 90, marginal: 70 }}\n    gates:\n      - name: g\n        {signal}\n        comparison: \">\"\n        threshold: 1.2 x baseline\n        baseline: live\n        test: mann_whitney\n{gate}"
    )
}

fn rank_test(yaml: &str) -> BaselineTest {
    let policy = Policy::from_yaml(yaml, "g", &alb_env).unwrap();
    let GateCheck::Threshold(check) =
        &policy.hook(Hook::BeforeAllowTraffic).unwrap().gates[0].check
    else {
        panic!()
    };
    check.baseline.as_ref().unwrap().test
}

#[test]
fn the_effect_size_defaults_to_means_for_counters_and_medians_otherwise() {
    let effect = |signal: &str, extra: &str| match rank_test(&scored_yaml(signal, extra)) {
        BaselineTest::MannWhitney { effect_size, .. } => effect_size,
        other => panic!("{other:?}"),
    };
    let latency = "metric: { name: TargetResponseTime, stat: p95 }";
    let errors = "metric: { name: HTTPCode_Target_5XX_Count, stat: Sum }";
    let error_rate = "ratio: { numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }], denominator: [{ name: RequestCount, stat: Sum }] }";
    assert_eq!(effect(latency, ""), EffectSize::MedianRatio);
    // Mostly 0 per period: the medians tie, the means do not.
    assert_eq!(effect(errors, ""), EffectSize::MeanRatio);
    assert_eq!(effect(error_rate, ""), EffectSize::MeanRatio);
    assert_eq!(
        effect(latency, "        effect_size: mean_ratio\n"),
        EffectSize::MeanRatio
    );
    assert_eq!(
        effect(errors, "        effect_size: median_ratio\n"),
        EffectSize::MedianRatio
    );
}

#[test]
fn a_critical_threshold_is_a_factor_on_a_critical_scored_rank_gate() {
    let latency = "metric: { name: TargetResponseTime, stat: p95 }";
    match rank_test(&scored_yaml(
        latency,
        "        critical_threshold: 2 x baseline\n",
    )) {
        BaselineTest::MannWhitney {
            critical_factor, ..
        } => assert_eq!(critical_factor, Some(2.0)),
        other => panic!("{other:?}"),
    }
    let scored_cases = [
        (
            "        effect_size: mode\n",
            "gates[0].effect_size: expected `median_ratio` (canary median over baseline median, the default for gauges) or `mean_ratio`",
        ),
        (
            "        critical_threshold: 1.1 x baseline\n",
            "gates[0].critical_threshold: must be at least the gate's own threshold (1.2 x baseline)",
        ),
        (
            "        critical_threshold: 3\n",
            "gates[0].critical_threshold: expected a factor of the baseline such as `2 x baseline`, found 3",
        ),
        (
            "        critical_threshold: baseline + 5\n",
            "expected a factor of the baseline such as `2 x baseline`",
        ),
        (
            "        severity: warning\n        critical_threshold: 2 x baseline\n",
            "critical_threshold: applies to a critical gate",
        ),
    ];
    for (gate, want) in scored_cases {
        let found = problems(&scored_yaml(latency, gate));
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{gate}: wanted {want:?} in {found:#?}"
        );
    }
    let unscored_cases = [
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: mann_whitney\n        critical_threshold: 2 x baseline\n",
            "critical_threshold: needs the hook's `canary_score`",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        critical_threshold: 2 x baseline\n",
            "critical_threshold: applies to `test: mann_whitney` only",
        ),
        (
            "        threshold: 1.2 x baseline\n        baseline: live\n        test: per_period\n        effect_size: mean_ratio\n",
            "effect_size: applies to `test: mann_whitney` only",
        ),
        (
            "        threshold: 1.0\n        effect_size: mean_ratio\n        critical_threshold: 2 x baseline\n",
            "effect_size: needs `baseline`",
        ),
        (
            "        threshold: 1.0\n        critical_threshold: 2 x baseline\n",
            "critical_threshold: needs `baseline`",
        ),
    ];
    for (gate, want) in unscored_cases {
        let found = problems(&gate_yaml(gate));
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{gate}: wanted {want:?} in {found:#?}"
        );
    }
}

#[test]
fn the_no_data_limit_is_a_percentage_no_laxer_than_kayentas() {
    let latency = "metric: { name: TargetResponseTime, stat: p95 }";
    let limit = |score: &str| {
        let yaml = scored_yaml(latency, "").replace("{ pass: 90, marginal: 70 }", score);
        Policy::from_yaml(&yaml, "g", &alb_env)
            .map(|p| {
                p.hook(Hook::BeforeAllowTraffic)
                    .unwrap()
                    .canary_score
                    .unwrap()
                    .no_data_limit
            })
            .map_err(|e| e.to_string())
    };
    assert_eq!(limit("{ pass: 90 }"), Ok(0.5));
    assert_eq!(limit("{ pass: 90, no_data_limit: 25 }"), Ok(0.25));
    for bad in ["{ no_data_limit: 60 }", "{ no_data_limit: 0 }"] {
        let error = limit(bad).unwrap_err();
        assert!(
            error.contains("canary_score.no_data_limit: the percentage of the scored gates' weight without data that fails the score: above 0 and at most 50"),
            "{bad}: {error}"
        );
    }
    let error = limit("{ no_data_limit: half }").unwrap_err();
    assert!(
        error.contains("no_data_limit: expected a number"),
        "{error}"
    );
}
