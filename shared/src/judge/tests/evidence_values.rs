//! Impossible values in the evidence (issue 15, "Evidence values"): a
//! non-finite datapoint, a negative count or latency, a share outside
//! [0, 1]. Each is an error of the gate that reads it, named with its series
//! and value, whatever kind of gate it is and whatever `missing_data` says;
//! values that are merely unusual (a custom gauge below zero, a subnormal)
//! are judged as before.

use crate::evidence::{MetricData, PreflightEvidence, RawSeries, SeriesStatus};
use crate::judge::*;
use crate::policy::Policy;
use crate::Hook;
use std::collections::BTreeMap;

/// Window [T0, T0 + 5 min) for the default 2-minute lag.
const T0: i64 = 1_700_000_000 - 1_700_000_000 % 60;
const NOW: i64 = T0 + 300 + 120 + 30;
/// The history baselines below look back ten minutes.
const BACK: i64 = 600;

const HEAD: &str = "version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: targetgroup/green/1, LoadBalancer: app/web/2 }
  period: 60s
  window: 5m
hooks:
  BeforeAllowTraffic:
";

const ERROR_RATE: &str = "      - name: error-rate
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \">\"
        threshold: 1%
        evaluation_periods: 5
        datapoints_to_alarm: 2
";

const LATENCY_IGNORE: &str = "      - name: latency-p95
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: \">\"
        threshold: 1.0
        evaluation_periods: 3
        datapoints_to_alarm: 2
        missing_data: ignore
";

fn section(hook_body: &str) -> HookPolicy {
    let yaml = format!("{HEAD}{hook_body}");
    Policy::from_yaml(&yaml, "values.yaml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
        .hook(Hook::BeforeAllowTraffic)
        .unwrap()
        .clone()
}

fn gates(gates: &[&str]) -> String {
    format!("    gates:\n{}", gates.concat())
}

/// Five minutes of values from `start`; `None` is no datapoint.
fn series(start: i64, values: &[Option<f64>]) -> RawSeries {
    RawSeries {
        points: values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (start + 60 * i as i64, v)))
            .collect(),
        status: SeriesStatus::Complete,
        messages: vec![],
    }
}

fn every(value: f64) -> Vec<Option<f64>> {
    vec![Some(value); 5]
}

/// `every(usual)` with `odd` in period `at`.
fn with(usual: f64, at: usize, odd: f64) -> Vec<Option<f64>> {
    let mut values = every(usual);
    values[at] = Some(odd);
    values
}

type Values<'a> = &'a [(&'a str, Vec<Option<f64>>)];

/// The values of each metric by name: the canary's, and a history
/// baseline's ([`BACK`] earlier).
fn judged(section: &HookPolicy, canary: Values<'_>, baseline: Values<'_>) -> Verdict {
    let lookup = |side: Values<'_>, name: &str| -> Vec<Option<f64>> {
        side.iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no values for {name}"))
            .1
            .clone()
    };
    let mut live = MetricData::new();
    let mut history = MetricData::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            continue;
        };
        for query in check.canary_queries() {
            let values = lookup(canary, &query.metric_name);
            live.insert(query.clone(), series(T0, &values));
        }
        if let Some(b) = check.baseline.as_deref() {
            assert_eq!(b.offset_secs(), BACK, "history baselines only");
            for query in b.queries() {
                let values = lookup(baseline, &query.metric_name);
                history.insert(query.clone(), series(T0 - BACK, &values));
            }
        }
    }
    let evidence = Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(live)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: BTreeMap::from([(BACK, Ok(history))]),
        probes: Default::default(),
    };
    judge(section, &evidence)
}

fn gate<'v>(verdict: &'v Verdict, name: &str) -> &'v GateResult {
    verdict
        .gates
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no gate {name} in {verdict:?}"))
}

/// The gate is an error naming the series and the value, and the hook fails.
#[track_caller]
fn refused(verdict: &Verdict, name: &str, series: &str, value: &str) {
    let gate = gate(verdict, name);
    assert_eq!(gate.outcome, GateOutcome::Error, "{}", gate.reason);
    assert!(
        gate.reason.contains(series) && gate.reason.contains(value),
        "the reason should name {series} and {value}: {}",
        gate.reason
    );
    assert_eq!(
        verdict.status,
        LifecycleStatus::Failed,
        "{}",
        verdict.reason
    );
}

fn healthy_alb() -> Vec<(&'static str, Vec<Option<f64>>)> {
    vec![
        ("RequestCount", every(1000.0)),
        ("HTTPCode_Target_5XX_Count", every(2.0)),
        ("TargetResponseTime", every(0.3)),
    ]
}

fn alb_with(name: &str, values: Vec<Option<f64>>) -> Vec<(&'static str, Vec<Option<f64>>)> {
    let mut alb = healthy_alb();
    alb.iter_mut().find(|(n, _)| *n == name).unwrap().1 = values;
    alb
}

#[test]
fn the_healthy_evidence_passes() {
    // The control for every case below: the same gates pass on sound values.
    let hook = section(&gates(&[ERROR_RATE, LATENCY_IGNORE]));
    let verdict = judged(&hook, &healthy_alb(), &[]);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
}

#[test]
fn a_non_finite_error_count_is_an_error_not_zero_errors() {
    let hook = section(&gates(&[ERROR_RATE]));
    for (odd, text) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let verdict = judged(
            &hook,
            &alb_with("HTTPCode_Target_5XX_Count", with(2.0, 3, odd)),
            &[],
        );
        refused(&verdict, "error-rate", "HTTPCode_Target_5XX_Count", text);
    }
}

#[test]
fn an_infinite_p95_in_the_newest_periods_is_not_skipped_under_ignore() {
    let hook = section(&gates(&[LATENCY_IGNORE]));
    let mut p95 = every(0.3);
    p95[3] = Some(f64::INFINITY);
    p95[4] = Some(f64::INFINITY);
    let verdict = judged(&hook, &alb_with("TargetResponseTime", p95), &[]);
    refused(&verdict, "latency-p95", "TargetResponseTime p95", "inf");
}

#[test]
fn a_negative_request_count_is_an_error_not_a_negative_share() {
    let hook = section(&gates(&[ERROR_RATE]));
    let verdict = judged(
        &hook,
        &alb_with("RequestCount", with(1000.0, 4, -1000.0)),
        &[],
    );
    refused(&verdict, "error-rate", "RequestCount", "-1000");
}

#[test]
fn a_negative_latency_and_a_negative_host_count_are_errors() {
    // An AWS metric is never negative, whatever its statistic: a latency, a
    // utilisation, a count of hosts.
    let hook = section(&gates(&[LATENCY_IGNORE]));
    let verdict = judged(
        &hook,
        &alb_with("TargetResponseTime", with(0.3, 0, -0.5)),
        &[],
    );
    refused(&verdict, "latency-p95", "TargetResponseTime", "-0.5");

    let hosts = "      - name: healthy-hosts
        metric: { name: HealthyHostCount, stat: Minimum }
        comparison: \"<\"
        threshold: 2
";
    let verdict = judged(
        &section(&gates(&[hosts])),
        &[("HealthyHostCount", with(4.0, 2, -3.0))],
        &[],
    );
    refused(&verdict, "healthy-hosts", "HealthyHostCount", "-3");
}

#[test]
fn a_share_above_one_is_an_error() {
    // More errors than requests in a period: no error share can be 300 %.
    // Under `<` (a success share that must stay high) it would read as the
    // healthiest period of all.
    let hook = section(&gates(&[ERROR_RATE]));
    let verdict = judged(
        &hook,
        &alb_with("HTTPCode_Target_5XX_Count", with(2.0, 1, 3000.0)),
        &[],
    );
    refused(&verdict, "error-rate", "HTTPCode_Target_5XX_Count", "300%");

    let success = "      - name: success-share
        ratio:
          numerator: [{ name: HTTPCode_Target_2XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \"<\"
        threshold: 99%
";
    let verdict = judged(
        &section(&gates(&[success])),
        &[
            ("HTTPCode_Target_2XX_Count", with(1000.0, 4, 2500.0)),
            ("RequestCount", every(1000.0)),
        ],
        &[],
    );
    refused(
        &verdict,
        "success-share",
        "HTTPCode_Target_2XX_Count",
        "250%",
    );
}

#[test]
fn a_ratio_written_as_a_plain_number_may_exceed_one() {
    // Bytes per request is a ratio of counters but no share: written as a
    // plain number, it is judged as it is.
    let per_request = "      - name: bytes-per-request
        ratio:
          numerator: [{ name: ProcessedBytes, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        comparison: \">\"
        threshold: 5000
";
    let verdict = judged(
        &section(&gates(&[per_request])),
        &[
            ("ProcessedBytes", every(2_000_000.0)),
            ("RequestCount", every(1000.0)),
        ],
        &[],
    );
    assert_eq!(
        gate(&verdict, "bytes-per-request").outcome,
        GateOutcome::Pass,
        "{}",
        verdict.reason
    );
}

#[test]
fn a_custom_gauge_may_be_negative_and_a_subnormal_is_a_value() {
    // A team's own gauge (a clock offset, a balance) can be below zero; a
    // counter of its own cannot.
    let offset = "      - name: clock-offset
        metric: { namespace: Web/Clock, name: OffsetSeconds, stat: Average }
        comparison: \"<\"
        threshold: -5
";
    let verdict = judged(
        &section(&gates(&[offset])),
        &[("OffsetSeconds", every(-0.25))],
        &[],
    );
    assert_eq!(
        gate(&verdict, "clock-offset").outcome,
        GateOutcome::Pass,
        "{}",
        verdict.reason
    );

    let counter = "      - name: refunds
        metric: { namespace: Web/Shop, name: Refunds, stat: Sum }
        comparison: \">\"
        threshold: 10
";
    let verdict = judged(
        &section(&gates(&[counter])),
        &[("Refunds", with(1.0, 2, -4.0))],
        &[],
    );
    refused(&verdict, "refunds", "Refunds", "-4");

    let tiny = f64::from_bits(1); // the smallest positive subnormal
    let verdict = judged(
        &section(&gates(&[LATENCY_IGNORE])),
        &alb_with("TargetResponseTime", with(0.3, 4, tiny)),
        &[],
    );
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    // -0 is zero.
    let verdict = judged(
        &section(&gates(&[ERROR_RATE])),
        &alb_with("HTTPCode_Target_5XX_Count", with(2.0, 4, -0.0)),
        &[],
    );
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
}

#[test]
fn an_impossible_value_outside_the_window_is_not_read() {
    // A datapoint before the window is none of the gate's business.
    let hook = section(&gates(&[ERROR_RATE]));
    let mut data = MetricData::new();
    let GateCheck::Threshold(check) = &hook.gates[0].check else {
        unreachable!()
    };
    for query in check.queries() {
        let mut s = series(
            T0,
            &every(if query.metric_name == "RequestCount" {
                1000.0
            } else {
                2.0
            }),
        );
        s.points.insert(0, (T0 - 60, f64::NAN));
        data.insert(query.clone(), s);
    }
    let evidence = Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(data)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: BTreeMap::new(),
        probes: Default::default(),
    };
    let verdict = judge(&hook, &evidence);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
}

const VS_LAST_RUN: &str = "      - name: latency-vs-before
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.4 x baseline
        evaluation_periods: 5
        datapoints_to_alarm: 3
";

const ERRORS_NOT_WORSE: &str = "      - name: errors-not-worse
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1%
        pass_if_not_worse_than: baseline + 0.5pp
        datapoints_to_alarm: 2
";

#[test]
fn an_impossible_baseline_never_lets_the_canary_pass() {
    let hook = section(&gates(&[VS_LAST_RUN]));
    let canary = healthy_alb();
    assert_eq!(
        judged(&hook, &canary, &healthy_alb()).status,
        LifecycleStatus::Succeeded
    );
    // An infinite baseline would excuse any canary; a negative one is no latency.
    for (odd, text) in [(f64::INFINITY, "inf"), (f64::NAN, "NaN"), (-2.0, "-2")] {
        let baseline = alb_with("TargetResponseTime", with(0.3, 2, odd));
        let verdict = judged(&hook, &canary, &baseline);
        refused(&verdict, "latency-vs-before", "TargetResponseTime", text);
        assert!(gate(&verdict, "latency-vs-before")
            .reason
            .contains("baseline"));
    }

    // The canary breaches 1 %, and a baseline with 400 % errors would excuse it.
    let hook = section(&gates(&[ERRORS_NOT_WORSE]));
    let canary = alb_with("HTTPCode_Target_5XX_Count", every(30.0));
    let baseline = alb_with("HTTPCode_Target_5XX_Count", every(4000.0));
    let verdict = judged(&hook, &canary, &baseline);
    refused(
        &verdict,
        "errors-not-worse",
        "HTTPCode_Target_5XX_Count",
        "400%",
    );
    let baseline = alb_with("RequestCount", with(1000.0, 0, -1.0));
    let verdict = judged(&hook, &canary, &baseline);
    refused(&verdict, "errors-not-worse", "RequestCount", "-1");
}

fn mann_whitney(nan_strategy: &str) -> String {
    format!(
        "      - name: latency-ranked
        metric: {{ name: TargetResponseTime, stat: p95 }}
        baseline: {{ history: 10m }}
        comparison: \">\"
        threshold: 1.2 x baseline
        test: mann_whitney
        nan_strategy: {nan_strategy}
"
    )
}

const TWO_PROPORTION: &str = "      - name: errors-tested
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.5 x baseline
        test: two_proportion
";

#[test]
fn nan_strategy_never_drops_an_impossible_value() {
    // `remove` leaves out periods without a datapoint, `replace_with_zero`
    // reads them as 0; neither applies to a datapoint that is NaN or
    // infinite, which is no missing period but a corrupt one.
    for strategy in ["remove", "replace_with_zero"] {
        let hook = section(&gates(&[&mann_whitney(strategy)]));
        let p95 = |v: f64| alb_with("TargetResponseTime", vec![Some(v); 5]);
        // The control: the same values pass, and a missing period is not an error.
        let mut gap = every(0.3);
        gap[2] = None;
        let verdict = judged(&hook, &alb_with("TargetResponseTime", gap), &p95(0.3));
        assert_ne!(
            gate(&verdict, "latency-ranked").outcome,
            GateOutcome::Error,
            "{}",
            verdict.reason
        );
        for (odd, text) in [(f64::INFINITY, "inf"), (f64::NAN, "NaN"), (-0.1, "-0.1")] {
            let odd_side = alb_with("TargetResponseTime", with(0.3, 1, odd));
            refused(
                &judged(&hook, &odd_side, &p95(0.3)),
                "latency-ranked",
                "TargetResponseTime",
                text,
            );
            refused(
                &judged(&hook, &p95(0.3), &odd_side),
                "latency-ranked",
                "TargetResponseTime",
                text,
            );
        }
    }
}

#[test]
fn a_two_proportion_test_never_reads_impossible_counts() {
    let hook = section(&gates(&[TWO_PROPORTION]));
    let verdict = judged(&hook, &healthy_alb(), &healthy_alb());
    assert_eq!(
        gate(&verdict, "errors-tested").outcome,
        GateOutcome::Pass,
        "{}",
        verdict.reason
    );
    for (name, odd, text) in [
        ("HTTPCode_Target_5XX_Count", f64::NAN, "NaN"),
        ("HTTPCode_Target_5XX_Count", f64::INFINITY, "inf"),
        ("RequestCount", -1000.0, "-1000"),
        ("HTTPCode_Target_5XX_Count", 5000.0, "500%"),
    ] {
        let usual = if name == "RequestCount" { 1000.0 } else { 2.0 };
        let odd_side = alb_with(name, with(usual, 3, odd));
        refused(
            &judged(&hook, &odd_side, &healthy_alb()),
            "errors-tested",
            name,
            text,
        );
        refused(
            &judged(&hook, &healthy_alb(), &odd_side),
            "errors-tested",
            name,
            text,
        );
    }
}

#[test]
fn the_canary_score_never_passes_over_a_gate_that_read_an_impossible_value() {
    // The tested gate is only advisory, so its error alone does not block:
    // the score, which reads its values too, must not pass without it.
    let body = format!(
        "    canary_score: {{ pass: 50, marginal: 25 }}\n    gates:\n{}{}",
        TWO_PROPORTION,
        mann_whitney("remove").replace(
            "        test: mann_whitney\n",
            "        test: mann_whitney\n        severity: warning\n"
        )
    );
    let hook = section(&body);
    let varied = || {
        let p95 = [0.30, 0.31, 0.29, 0.32, 0.28];
        alb_with("TargetResponseTime", p95.iter().map(|v| Some(*v)).collect())
    };
    let verdict = judged(&hook, &varied(), &varied());
    let score = gate(&verdict, "canary-score");
    assert_eq!(score.outcome, GateOutcome::Pass, "{}", score.reason);

    let mut odd = varied();
    odd[2].1[2] = Some(f64::INFINITY);
    let verdict = judged(&hook, &odd, &varied());
    assert_eq!(gate(&verdict, "latency-ranked").outcome, GateOutcome::Error);
    let score = gate(&verdict, "canary-score");
    assert_eq!(score.outcome, GateOutcome::Error, "{}", score.reason);
    assert!(score.reason.contains("latency-ranked"), "{}", score.reason);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Failed,
        "{}",
        verdict.reason
    );
}
