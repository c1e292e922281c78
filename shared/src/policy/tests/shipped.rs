//! The policies that ship: the embedded default and `gates.example.yaml` are
//! valid, encode what they promise, and leave the canary to discovery.

use super::*;

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
                GateCheck::Alarms(_) | GateCheck::Probe(_) | GateCheck::Flag(_) => {
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
    let text = include_str!("../../../../gates.example.yaml");
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
