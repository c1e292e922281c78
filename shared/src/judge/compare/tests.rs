//! Statistically tested gates judged from policy text: what the policy's
//! options change in the answer.

use crate::evidence::{Evidence, MetricData, PreflightEvidence, RawSeries, SeriesStatus};
use crate::judge::statistics::Classification;
use crate::judge::{judge, GateOutcome, GateResult, Statistics};
use crate::policy::{GateCheck, Policy};
use crate::window::{gate_window, period_starts};
use crate::Hook;

const NOW: i64 = 1_700_000_000 - 1_700_000_000 % 60 + 30;
const DAY: i64 = 86_400;

/// A throughput gauge (a decrease is bad) against the same window a day
/// earlier, with the NaN strategy given (or none).
fn policy(nan_strategy: Option<&str>) -> Policy {
    let strategy = nan_strategy
        .map(|s| format!("        nan_strategy: {s}\n"))
        .unwrap_or_default();
    let yaml = format!(
        r#"version: 1
hooks:
  AfterAllowTraffic:
    gates:
      - name: throughput
        metric: {{ namespace: App, name: OrdersPerMinute, stat: Average, dimensions: {{ Service: web }} }}
        baseline: {{ history: 1d }}
        test: mann_whitney
{strategy}        comparison: "<"
        threshold: 1.1 x baseline
        window: 15m
"#
    );
    Policy::from_yaml(&yaml, "nan.yaml", &|_| None).unwrap()
}

/// Judges the gate with `canary` and `baseline` per period (`None`: no datapoint).
fn throughput(policy: &Policy, canary: &[Option<f64>], baseline: &[Option<f64>]) -> GateResult {
    let section = policy.hook(Hook::AfterAllowTraffic).unwrap();
    let GateCheck::Threshold(check) = &section.gates[0].check else {
        panic!("a threshold gate");
    };
    let range = gate_window(check, NOW, section.ingestion_lag_secs);
    let starts: Vec<i64> = period_starts(range, check.period_secs).collect();
    assert_eq!(starts.len(), canary.len());
    let series = |values: &[Option<f64>], offset: i64| RawSeries {
        points: starts
            .iter()
            .zip(values)
            .filter_map(|(t, v)| v.map(|v| (t - offset, v)))
            .collect(),
        status: SeriesStatus::Complete,
        messages: vec![],
    };
    let query = check.signal.primary_queries()[0].clone();
    let live: MetricData = [(query.clone(), series(canary, 0))].into();
    let history: MetricData = [(query, series(baseline, DAY))].into();
    let evidence = Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(live)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: [(DAY, Ok(history))].into(),
        probes: Default::default(),
    };
    judge(section, &evidence).gates.remove(0)
}

/// Fifteen minutes of orders; the canary published nothing in ten of them
/// (a gauge: no datapoint is no value, not zero).
fn gappy_canary() -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let baseline: Vec<Option<f64>> = (0..15).map(|i| Some(100.0 + (i % 5) as f64)).collect();
    let canary = baseline
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 3 == 0 { *v } else { None })
        .collect();
    (canary, baseline)
}

#[test]
fn the_two_nan_strategies_answer_differently_on_the_same_data() {
    let (canary, baseline) = gappy_canary();
    assert_eq!(canary.iter().filter(|v| v.is_none()).count(), 10);

    // Removed (Kayenta's default, and ours): five values like the baseline's.
    for policy in [policy(None), policy(Some("remove"))] {
        let removed = throughput(&policy, &canary, &baseline);
        assert_eq!(removed.outcome, GateOutcome::Pass, "{}", removed.reason);
        let Some(Statistics::MannWhitney(figures)) = removed.statistics() else {
            panic!("Mann-Whitney figures: {:?}", removed.statistics());
        };
        assert_eq!(figures.canary_count, 5, "{figures:?}");
        assert_eq!(figures.canary_non_finite, 10, "{figures:?}");
    }

    // Read as zero: ten periods of no orders is a significant drop.
    let zeros = throughput(&policy(Some("replace_with_zero")), &canary, &baseline);
    assert_eq!(zeros.outcome, GateOutcome::Fail, "{}", zeros.reason);
    let Some(Statistics::MannWhitney(figures)) = zeros.statistics() else {
        panic!("Mann-Whitney figures: {:?}", zeros.statistics());
    };
    assert_eq!(figures.canary_count, 15, "{figures:?}");
    assert_eq!(figures.classification, Classification::Low, "{figures:?}");
}

#[test]
fn removing_periods_without_a_value_can_leave_too_few_to_judge() {
    // Eleven of fifteen canary periods empty: removed, four are left (five
    // needed) and the gate is inconclusive; read as zero, it is a clear drop.
    let (_, baseline) = gappy_canary();
    let canary: Vec<Option<f64>> = (0..15).map(|i| (i >= 11).then_some(104.0)).collect();
    let removed = throughput(&policy(None), &canary, &baseline);
    assert_eq!(
        removed.outcome,
        GateOutcome::Inconclusive,
        "{}",
        removed.reason
    );
    assert!(
        removed.reason.contains("after removing 11 without a value"),
        "{}",
        removed.reason
    );
    let zeros = throughput(&policy(Some("replace_with_zero")), &canary, &baseline);
    assert_eq!(zeros.outcome, GateOutcome::Fail, "{}", zeros.reason);
}
