//! Table-driven judgement tests on the ADR's thresholds (default policy), with
//! the edges: exactly at the threshold, empty series, NaN, one datapoint.
//! Impossible values (NaN, infinities, negative counts) are in
//! [`evidence_values`].
//! Gates compared with a baseline are in [`baseline`].

mod baseline;
mod evidence_values;

use super::*;
use crate::evidence::{
    AlarmObservation, EvidenceError, MetricData, MetricIdentity, PreflightEvidence, RawSeries,
    SeriesStatus,
};
use crate::policy::{InconclusiveAction, MetricQuery, MissingData, Policy};
use crate::Hook;

/// Window [T0, T0 + 5 min) for a 2-minute lag.
const T0: i64 = 1_700_000_000 - 1_700_000_000 % 60;
const NOW: i64 = T0 + 300 + 120 + 30;

fn env(name: &str) -> Option<String> {
    match name {
        "TARGET_GROUP" => Some("targetgroup/green/1".into()),
        "LOAD_BALANCER" => Some("app/web/2".into()),
        _ => None,
    }
}

fn section(hook: Hook) -> HookPolicy {
    Policy::embedded_default(&env)
        .unwrap()
        .hook(hook)
        .unwrap()
        .clone()
}

/// Per-minute values for the ALB metrics; `None` = no datapoint that minute.
#[derive(Clone)]
struct Alb {
    requests: Vec<Option<f64>>,
    errors: Vec<Option<f64>>,
    p95: Vec<Option<f64>>,
    healthy: Vec<Option<f64>>,
    unhealthy: Vec<Option<f64>>,
}

fn healthy() -> Alb {
    Alb {
        requests: vec![Some(1000.0); 5],
        errors: vec![Some(2.0); 5],
        p95: vec![Some(0.3); 5],
        healthy: vec![Some(4.0); 5],
        unhealthy: vec![Some(0.0); 5],
    }
}

fn series(values: &[Option<f64>]) -> RawSeries {
    RawSeries {
        points: values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (T0 + 60 * i as i64, v)))
            .collect(),
        status: SeriesStatus::Complete,
        messages: vec![],
    }
}

fn evidence(section: &HookPolicy, alb: &Alb) -> Evidence {
    let mut data = MetricData::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            continue;
        };
        for query in check.queries() {
            let values = match query.metric_name.as_str() {
                "RequestCount" => &alb.requests,
                "HTTPCode_Target_5XX_Count" => &alb.errors,
                "TargetResponseTime" => &alb.p95,
                "HealthyHostCount" => &alb.healthy,
                "UnHealthyHostCount" => &alb.unhealthy,
                other => panic!("unexpected metric {other}"),
            };
            data.insert(query.clone(), series(values));
        }
    }
    Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(data)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    }
}

fn outcome_of(verdict: &Verdict, gate: &str) -> GateOutcome {
    verdict
        .gates
        .iter()
        .find(|g| g.name == gate)
        .unwrap_or_else(|| panic!("no gate {gate}"))
        .outcome
}

fn minutes(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().map(|v| Some(*v)).collect()
}

#[test]
fn adr_thresholds_table() {
    use GateOutcome::*;
    type Tweak = fn(&mut Alb);
    let cases: Vec<(&str, Tweak, &str, GateOutcome, LifecycleStatus)> = vec![
        (
            "healthy release",
            |_| {},
            "error-rate",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "3% errors",
            |a| a.errors = vec![Some(30.0); 5],
            "error-rate",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            "exactly 1% errors is not above 1%",
            |a| a.errors = vec![Some(10.0); 5],
            "error-rate",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "1.1% errors",
            |a| a.errors = vec![Some(11.0); 5],
            "error-rate",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            "one bad minute of five (M=2)",
            |a| a.errors = minutes(&[2.0, 2.0, 50.0, 2.0, 2.0]),
            "error-rate",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "two bad minutes of five (M=2)",
            |a| a.errors = minutes(&[50.0, 2.0, 2.0, 2.0, 50.0]),
            "error-rate",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            "no 5XX datapoints: a counter CloudWatch omits is zero",
            |a| a.errors = vec![None; 5],
            "error-rate",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "p95 1.5 s",
            |a| a.p95 = vec![Some(1.5); 5],
            "latency-p95",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            "p95 exactly 1.0 s",
            |a| a.p95 = vec![Some(1.0); 5],
            "latency-p95",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "p95 without a datapoint is missing, ignored",
            |a| a.p95 = vec![None, Some(1.5), Some(1.5), Some(1.5), None],
            "latency-p95",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            // CloudWatch stores no NaN: one in an answer is no missing
            // period but a corrupt one (issue 15; `evidence_values`).
            "p95 NaN is an error, not a period to skip",
            |a| a.p95 = minutes(&[f64::NAN, 0.2, 0.2, 0.2, f64::NAN]),
            "latency-p95",
            Error,
            LifecycleStatus::Failed,
        ),
        (
            "p95 with only two values (M=3)",
            |a| a.p95 = vec![None, None, Some(0.2), None, Some(0.2)],
            "latency-p95",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
        (
            "half the hosts unhealthy",
            |a| {
                a.healthy = vec![Some(2.0); 5];
                a.unhealthy = vec![Some(2.0); 5];
            },
            "healthy-hosts",
            Fail,
            LifecycleStatus::Failed,
        ),
        (
            "exactly 95% healthy is not below 95%",
            |a| {
                a.healthy = vec![Some(19.0); 5];
                a.unhealthy = vec![Some(1.0); 5];
            },
            "healthy-hosts",
            Pass,
            LifecycleStatus::Succeeded,
        ),
        (
            "no data at all",
            |a| {
                *a = Alb {
                    requests: vec![None; 5],
                    errors: vec![None; 5],
                    p95: vec![None; 5],
                    healthy: vec![None; 5],
                    unhealthy: vec![None; 5],
                };
            },
            "error-rate",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
        (
            "empty latency series is never a pass",
            |a| a.p95 = vec![None; 5],
            "latency-p95",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
        (
            "low traffic is inconclusive",
            |a| a.requests = vec![Some(10.0); 5],
            "error-rate",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
        (
            "one datapoint of traffic",
            |a| {
                a.requests = vec![None, None, None, None, Some(1000.0)];
                a.errors = vec![None; 5];
            },
            "error-rate",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
        (
            "an unknown host count could hide a breach",
            |a| a.unhealthy = vec![Some(0.0), None, None, None, Some(0.0)],
            "healthy-hosts",
            Inconclusive,
            LifecycleStatus::Failed,
        ),
    ];
    let section = section(Hook::BeforeAllowTraffic);
    for (name, tweak, gate, want_gate, want_status) in cases {
        let mut alb = healthy();
        tweak(&mut alb);
        let verdict = judge(&section, &evidence(&section, &alb));
        assert_eq!(
            outcome_of(&verdict, gate),
            want_gate,
            "{name}: {gate}: {:#?}",
            verdict.gates
        );
        assert_eq!(verdict.status, want_status, "{name}: {}", verdict.reason);
    }
}

#[test]
fn a_failing_gate_explains_itself() {
    let section = section(Hook::AfterAllowTraffic);
    let mut alb = healthy();
    alb.errors = vec![Some(30.0); 5];
    let verdict = judge(&section, &evidence(&section, &alb));
    let gate = verdict
        .gates
        .iter()
        .find(|g| g.name == "error-rate")
        .unwrap();
    assert_eq!(
        gate.reason,
        "5 of the last 5 periods > 1% (fails at 2); worst 3%"
    );
    assert_eq!(crate::report::threshold_text(gate).as_deref(), Some("> 1%"));
    assert_eq!(gate.breaching(), Some(5));
    assert_eq!(gate.observations().count(), 5);
    assert!(gate
        .observations()
        .all(|o| o.breaching && o.judged && o.value == Some(0.03)));
    let figures = gate.threshold_figures().unwrap();
    assert_eq!(figures.sample.as_ref().unwrap().observed, 5000.0);
    assert!(figures
        .completeness
        .iter()
        .all(|c| c.expected == 5 && c.present == 5));
    assert!(
        verdict
            .reason
            .starts_with("1 of 3 critical gates blocked: error-rate [fail]"),
        "{}",
        verdict.reason
    );
}

#[test]
fn the_still_filling_period_is_not_judged() {
    let section = section(Hook::BeforeAllowTraffic);
    let mut evidence = evidence(&section, &healthy());
    // A terrible datapoint in the period after the window (inside the ingestion lag).
    if let Some(Ok(data)) = &mut evidence.metrics {
        for (query, series) in data.iter_mut() {
            if query.metric_name == "HTTPCode_Target_5XX_Count" {
                series.points.push((T0 + 300, 900.0));
            }
        }
    }
    assert_eq!(
        judge(&section, &evidence).status,
        LifecycleStatus::Succeeded
    );
}

#[test]
fn inconclusive_can_be_allowed_per_hook() {
    let mut section = section(Hook::BeforeAllowTraffic);
    section.on_inconclusive = InconclusiveAction::Pass;
    let mut alb = healthy();
    alb.requests = vec![Some(10.0); 5];
    let verdict = judge(&section, &evidence(&section, &alb));
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    assert!(
        verdict
            .reason
            .contains("inconclusive, allowed by on_inconclusive: pass"),
        "{}",
        verdict.reason
    );
}

#[test]
fn no_evidence_blocks_even_when_inconclusive_may_pass() {
    let mut section = section(Hook::BeforeAllowTraffic);
    section.on_inconclusive = InconclusiveAction::Pass;
    let mut alb = healthy();
    alb.p95 = vec![None; 5];
    let verdict = judge(&section, &evidence(&section, &alb));
    let latency = verdict
        .gates
        .iter()
        .find(|g| g.name == "latency-p95")
        .unwrap();
    assert!(latency.no_evidence);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Failed,
        "{}",
        verdict.reason
    );
}

#[test]
fn warning_gates_never_block() {
    let section = section(Hook::AfterAllowTestTraffic);
    let mut alb = healthy();
    alb.errors = vec![Some(500.0); 5];
    let verdict = judge(&section, &evidence(&section, &alb));
    assert_eq!(
        outcome_of(&verdict, "test-traffic-error-rate"),
        GateOutcome::Fail
    );
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
}

#[test]
fn partial_data_cannot_pass_but_can_fail() {
    let section = section(Hook::BeforeAllowTraffic);
    for (errors, want) in [(2.0, GateOutcome::Inconclusive), (50.0, GateOutcome::Fail)] {
        let mut alb = healthy();
        alb.errors = vec![Some(errors); 5];
        let mut evidence = evidence(&section, &alb);
        if let Some(Ok(data)) = &mut evidence.metrics {
            for (query, series) in data.iter_mut() {
                if query.metric_name == "RequestCount" {
                    series.status = SeriesStatus::PartialData;
                }
            }
        }
        let verdict = judge(&section, &evidence);
        assert_eq!(outcome_of(&verdict, "error-rate"), want);
        assert_eq!(verdict.status, LifecycleStatus::Failed);
    }
}

#[test]
fn unavailable_evidence_fails_closed() {
    let section = section(Hook::BeforeAllowTraffic);
    let mut evidence = evidence(&section, &healthy());
    evidence.metrics = Some(Err(EvidenceError::Api {
        service: "CloudWatch",
        operation: "GetMetricData",
        message: "InternalFailure: injected".into(),
    }));
    let verdict = judge(&section, &evidence);
    assert_eq!(verdict.status, LifecycleStatus::Failed);
    assert!(verdict
        .gates
        .iter()
        .all(|g| g.outcome == GateOutcome::Error));
    assert!(
        verdict
            .reason
            .contains("CloudWatch GetMetricData failed: InternalFailure: injected"),
        "{}",
        verdict.reason
    );

    // A single failed series errors only the gates that use it.
    let mut evidence = self::evidence(&section, &healthy());
    if let Some(Ok(data)) = &mut evidence.metrics {
        for (query, series) in data.iter_mut() {
            if query.metric_name == "TargetResponseTime" {
                series.status = SeriesStatus::Failed("Forbidden".into());
            }
        }
    }
    let verdict = judge(&section, &evidence);
    assert_eq!(outcome_of(&verdict, "latency-p95"), GateOutcome::Error);
    assert_eq!(outcome_of(&verdict, "error-rate"), GateOutcome::Pass);
}

#[test]
fn missing_data_treatments() {
    let base = section(Hook::BeforeAllowTraffic);
    let latency = |missing: MissingData| {
        let mut section = base.clone();
        section.gates.retain(|g| g.name == "latency-p95");
        let GateCheck::Threshold(check) = &mut section.gates[0].check else {
            unreachable!()
        };
        check.missing_data = missing;
        check.datapoints_to_alarm = 2;
        section
    };
    let mut alb = healthy();
    alb.p95 = vec![Some(1.5), None, None, Some(0.2), Some(0.2)];
    for (missing, want) in [
        (MissingData::Breaching, GateOutcome::Fail),
        (MissingData::NotBreaching, GateOutcome::Pass),
        (MissingData::Inconclusive, GateOutcome::Inconclusive),
        (MissingData::Ignore, GateOutcome::Pass),
    ] {
        let section = latency(missing);
        let verdict = judge(&section, &evidence(&section, &alb));
        assert_eq!(
            verdict.gates[0].outcome, want,
            "{missing:?}: {}",
            verdict.gates[0].reason
        );
    }
}

fn alarm_section(names: &[&str]) -> HookPolicy {
    let yaml = format!(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: veto\n        alarms: [{}]\n",
        names.join(", ")
    );
    Policy::from_yaml(&yaml, "t.yaml", &env)
        .unwrap()
        .hook(Hook::AfterAllowTraffic)
        .unwrap()
        .clone()
}

/// Evidence holding only these alarm states.
fn alarm_evidence(states: &[(&str, &str)]) -> Evidence {
    Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: None,
        alarms: Some(Ok(states
            .iter()
            .map(|(name, state)| {
                (
                    name.to_string(),
                    AlarmObservation {
                        state: state.to_string(),
                        reason: Some("set by hand".into()),
                    },
                )
            })
            .collect())),
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    }
}

#[test]
fn alarm_prefix_gates() {
    let policy = Policy::from_yaml(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: veto\n        alarm_prefix: web-\n",
        "t.yaml",
        &env,
    )
    .unwrap();
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap().clone();
    let plan = crate::evidence::plan(&policy, Hook::AfterAllowTraffic, NOW);
    assert_eq!(plan.alarm_prefixes, vec!["web-".to_string()]);
    let cases = [
        (vec![("web-a", "OK"), ("web-b", "OK")], GateOutcome::Pass),
        (vec![("web-a", "OK"), ("web-b", "ALARM")], GateOutcome::Fail),
        (
            vec![("web-a", "INSUFFICIENT_DATA")],
            GateOutcome::Inconclusive,
        ),
        // No alarm under the prefix: a typo must not disarm the gate.
        (vec![("other", "ALARM")], GateOutcome::Error),
    ];
    for (states, want) in cases {
        let evidence = alarm_evidence(&states);
        let verdict = judge(&section, &evidence);
        assert_eq!(
            verdict.gates[0].outcome, want,
            "{states:?}: {}",
            verdict.gates[0].reason
        );
    }
}

/// An alarm prefix may match hundreds of alarms, each with a reason of up to
/// 1,023 characters that CloudWatch (or whoever set the alarm's state) wrote:
/// the gate's reason stays within what validation budgets for it, so the
/// decision record always fits one log event, and it reaches the record
/// escaped.
#[test]
fn an_alarm_prefix_matching_hundreds_of_alarms_keeps_its_reason_bounded() {
    let policy = Policy::from_yaml(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: veto\n        alarm_prefix: web-\n",
        "t.yaml",
        &env,
    )
    .unwrap();
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap().clone();
    let mut evidence = alarm_evidence(&[]);
    evidence.alarms = Some(Ok((0..300)
        .map(|i| {
            (
                format!("web-{i:03}-{}", "x".repeat(200)),
                AlarmObservation {
                    state: "ALARM".into(),
                    reason: Some(format!("Threshold Crossed\n\u{1b}[2J{}", "y".repeat(1000))),
                },
            )
        })
        .collect()));
    let verdict = judge(&section, &evidence);
    let gate = &verdict.gates[0];
    assert_eq!(gate.outcome, GateOutcome::Fail);
    assert!(
        gate.reason.len() <= crate::policy::limits::REASON_BYTES,
        "{} bytes: {}",
        gate.reason.len(),
        gate.reason
    );
    assert!(gate.reason.contains("300 alarms"), "{}", gate.reason);
    assert!(
        !gate.reason.chars().any(crate::vocab::text::is_unsafe),
        "{}",
        gate.reason
    );
}

#[test]
fn alarm_gates() {
    let section = alarm_section(&["a", "b"]);
    let cases = [
        (vec![("a", "OK"), ("b", "OK")], GateOutcome::Pass),
        (vec![("a", "OK"), ("b", "ALARM")], GateOutcome::Fail),
        (
            vec![("a", "INSUFFICIENT_DATA"), ("b", "OK")],
            GateOutcome::Inconclusive,
        ),
        (vec![("a", "OK")], GateOutcome::Error),
    ];
    for (states, want) in cases {
        let evidence = alarm_evidence(&states);
        let verdict = judge(&section, &evidence);
        assert_eq!(
            verdict.gates[0].outcome, want,
            "{states:?}: {}",
            verdict.gates[0].reason
        );
    }
}

#[test]
fn preflight_blocks_on_a_missing_required_metric_only() {
    let policy = Policy::embedded_default(&env).unwrap();
    let section = policy.hook(Hook::BeforeInstall).unwrap().clone();
    let plan = crate::evidence::plan(&policy, Hook::BeforeInstall, NOW);
    let request = plan.preflight.unwrap();
    let exists = |present: &dyn Fn(&MetricIdentity) -> bool| Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: None,
        alarms: None,
        history: Default::default(),
        preflight: PreflightEvidence {
            flags: Default::default(),
            metrics: request
                .metrics
                .iter()
                .map(|(m, b)| (m.clone(), (*b, Ok(present(m)))))
                .collect(),
            alarms: Default::default(),
        },
        probes: Default::default(),
    };
    assert_eq!(
        judge(&section, &exists(&|_| true)).status,
        LifecycleStatus::Succeeded
    );
    // 5XX is only published when non-zero: its absence is a warning.
    let verdict = judge(
        &section,
        &exists(&|m| m.metric_name != "HTTPCode_Target_5XX_Count"),
    );
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    let verdict = judge(&section, &exists(&|m| m.metric_name != "RequestCount"));
    assert_eq!(verdict.status, LifecycleStatus::Failed);
    assert!(verdict.reason.contains("AWS/ApplicationELB/RequestCount [LoadBalancer=app/web/2, TargetGroup=targetgroup/green/1] is not in CloudWatch"), "{}", verdict.reason);
}

#[test]
fn evidence_plan_is_one_request_for_all_gates() {
    let policy = Policy::embedded_default(&env).unwrap();
    let plan = crate::evidence::plan(&policy, Hook::BeforeAllowTraffic, NOW);
    let request = plan.metrics.unwrap();
    // RequestCount serves as denominator and as sample for three gates:
    // fetched once for the canary (and once for the baseline of the shadow
    // gate latency-vs-baseline).
    let canary = |q: &&MetricQuery| !q.dimensions.iter().any(|(_, v)| v.contains("baseline"));
    let names: Vec<&str> = request
        .queries
        .iter()
        .filter(canary)
        .map(|q: &MetricQuery| q.metric_name.as_str())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "RequestCount").count(),
        1,
        "{names:?}"
    );
    assert_eq!(names.len(), 5, "{names:?}");
    assert_eq!(request.queries.len(), 7, "{:?}", request.queries);
    assert_eq!((request.range.start, request.range.end), (T0, T0 + 300));
}

#[test]
fn a_dry_run_gate_is_judged_and_recorded_but_never_blocks() {
    let mut section = section(Hook::AfterAllowTraffic);
    // The default's own shadow gate needs history this evidence does not have.
    section
        .gates
        .retain(|gate| gate.name != "latency-vs-baseline");
    for gate in &mut section.gates {
        gate.dry_run = gate.name == "error-rate";
    }
    let mut alb = healthy();
    alb.errors = vec![Some(30.0); 5];
    let verdict = judge(&section, &evidence(&section, &alb));
    let gate = verdict
        .gates
        .iter()
        .find(|g| g.name == "error-rate")
        .unwrap();
    assert!(gate.dry_run);
    assert_eq!(gate.outcome, GateOutcome::Fail);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    assert_eq!(
        verdict.reason,
        "all 2 critical gates passed; dry run, would have blocked: error-rate [fail]"
    );
}
