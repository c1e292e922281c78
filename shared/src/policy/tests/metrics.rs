//! Metric queries and thresholds: statistics, references in text and
//! dimensions, and how queries and threshold values are written.

use super::*;

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

#[test]
fn a_bare_threshold_on_a_time_metric_names_the_metrics_unit() {
    let yaml = "version: 1\nmetric_defaults:\n  dimensions: { TargetGroup: tg }\nhooks:\n  BeforeAllowTraffic:\n    gates:\n      - name: alb\n        metric: { namespace: AWS/ApplicationELB, name: TargetResponseTime, stat: p95 }\n        comparison: \">\"\n        threshold: 1\n      - name: lambda\n        metric: { namespace: AWS/Lambda, name: Duration, stat: p99 }\n        comparison: \">\"\n        threshold: 250\n      - name: samples\n        metric: { namespace: AWS/ApplicationELB, name: TargetResponseTime, stat: SampleCount }\n        comparison: \"<\"\n        threshold: 100\n      - name: custom\n        metric: { namespace: App, name: Latency, stat: p95 }\n        comparison: \">\"\n        threshold: 0.5\n";
    let policy = Policy::from_yaml(yaml, "gates.yaml", &|_| None).unwrap();
    let shown: Vec<String> = policy
        .hook(Hook::BeforeAllowTraffic)
        .unwrap()
        .gates
        .iter()
        .map(|gate| match &gate.check {
            GateCheck::Threshold(check) => check.threshold.format_value(check.threshold.value),
            _ => unreachable!(),
        })
        .collect();
    // A count of a time metric is a count; an unknown metric's unit is unknown.
    assert_eq!(shown, ["1 s", "250 ms", "100", "0.5"]);
}
