//! Gates compared with a baseline: the version being replaced (live) or the
//! metric's own history, and the "not worse than current" excuse.

use crate::bind::{bind_discovery, BindError, Discovery};
use crate::evidence::{MetricData, PreflightEvidence, RawSeries};
use crate::judge::*;
use crate::policy::Policy;
use crate::Hook;

/// `policy.bind(hook, &found)`: the binding step, read left to right.
trait Bind {
    fn bind(&self, hook: Hook, found: &Discovery) -> Result<Policy, BindError>;
}

impl Bind for Policy {
    fn bind(&self, hook: Hook, found: &Discovery) -> Result<Policy, BindError> {
        bind_discovery(self, hook, found)
    }
}

const T0: i64 = 1_700_000_000 - 1_700_000_000 % 60;
const NOW: i64 = T0 + 300 + 120 + 30;
const WEEK: i64 = 7 * 86_400;
const GREEN: &str = "targetgroup/green/1";
const BLUE: &str = "targetgroup/blue/2";

const POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions:
    TargetGroup: ${canary.target_group}
    LoadBalancer: ${canary.load_balancer}
hooks:
  BeforeAllowTraffic:
    gates:
      - name: latency-vs-baseline
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: live
        comparison: ">"
        threshold: 1.4 x baseline
        datapoints_to_alarm: 3
        min_sample: { at_least: 100, metric: { name: RequestCount, stat: Sum } }
      - name: errors-not-worse
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: live
        comparison: ">"
        threshold: 1%
        pass_if_not_worse_than: baseline + 0.5pp
        datapoints_to_alarm: 2
  AfterAllowTraffic:
    gates:
      - name: latency-vs-last-week
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: { history: 7d }
        comparison: ">"
        threshold: 1.5 x baseline
        datapoints_to_alarm: 3
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "LOAD_BALANCER" => Some("app/web/9".into()),
        _ => None,
    }
}

fn discovery() -> Discovery {
    let side = |tg: &str| {
        [("target_group", tg), ("load_balancer", "app/web/9")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Discovery {
        canary: side(GREEN),
        baseline: side(BLUE),
        ..Discovery::default()
    }
}

fn bound_section(hook: Hook) -> HookPolicy {
    let policy = Policy::from_yaml(POLICY, "baseline.yaml", &env).unwrap();
    assert!(!policy.unbound(hook).is_empty());
    let bound = policy.bind(hook, &discovery()).unwrap();
    assert!(bound.unbound(hook).is_empty());
    bound.hook(hook).unwrap().clone()
}

/// Per-minute values of one side.
#[derive(Clone)]
struct Side {
    requests: f64,
    errors: f64,
    p95: Option<f64>,
}

fn side(requests: f64, errors: f64, p95: f64) -> Side {
    Side {
        requests,
        errors,
        p95: Some(p95),
    }
}

fn series(start: i64, value: Option<f64>) -> RawSeries {
    RawSeries {
        points: (0..5)
            .filter_map(|i| value.map(|v| (start + 60 * i, v)))
            .collect(),
        status: crate::evidence::SeriesStatus::Complete,
        messages: vec![],
    }
}

fn data(section: &HookPolicy, canary: &Side, baseline: &Side, start: i64) -> MetricData {
    let mut data = MetricData::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            continue;
        };
        for query in check.all_queries() {
            let tg = &query
                .dimensions
                .iter()
                .find(|(k, _)| k == "TargetGroup")
                .unwrap()
                .1;
            let who = if tg == GREEN { canary } else { baseline };
            let value = match query.metric_name.as_str() {
                "RequestCount" => Some(who.requests),
                "HTTPCode_Target_5XX_Count" => Some(who.errors),
                "TargetResponseTime" => who.p95,
                other => panic!("unexpected metric {other}"),
            };
            data.insert(query.clone(), series(start, value));
        }
    }
    data
}

fn judge_live(canary: Side, baseline: Side) -> Verdict {
    let section = bound_section(Hook::BeforeAllowTraffic);
    let evidence = Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(data(&section, &canary, &baseline, T0))),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    };
    judge(&section, &evidence)
}

fn gate<'a>(verdict: &'a Verdict, name: &str) -> &'a GateResult {
    verdict.gates.iter().find(|g| g.name == name).unwrap()
}

#[test]
fn a_canary_slower_than_its_baseline_fails_under_the_static_threshold() {
    // 0.6 s against 0.4 s: well under any static 1 s threshold, 1.5 x the baseline.
    let verdict = judge_live(side(1000.0, 1.0, 0.6), side(1000.0, 1.0, 0.4));
    let latency = gate(&verdict, "latency-vs-baseline");
    assert_eq!(latency.outcome, GateOutcome::Fail, "{}", latency.reason);
    assert!(
        latency.reason.contains("1.4 x baseline"),
        "{}",
        latency.reason
    );
    assert!(
        latency.reason.contains("(baseline 0.4 s)"),
        "{}",
        latency.reason
    );
    let judged: Vec<_> = latency.observations().filter(|o| o.judged).collect();
    assert!(judged.iter().all(|o| o.baseline == Some(0.4)));
    assert_eq!(verdict.status, LifecycleStatus::Failed);
}

#[test]
fn relative_gate_table() {
    let cases = [
        // (canary, baseline, latency outcome)
        (
            side(1000.0, 1.0, 0.4),
            side(1000.0, 1.0, 0.4),
            GateOutcome::Pass,
        ),
        // Exactly 1.4 x is not above 1.4 x.
        (
            side(1000.0, 1.0, 0.56),
            side(1000.0, 1.0, 0.4),
            GateOutcome::Pass,
        ),
        (
            side(1000.0, 1.0, 0.57),
            side(1000.0, 1.0, 0.4),
            GateOutcome::Fail,
        ),
        // Faster than the baseline is never a breach of "> 1.4 x".
        (
            side(1000.0, 1.0, 0.1),
            side(1000.0, 1.0, 0.4),
            GateOutcome::Pass,
        ),
        // Low traffic on either side: not enough to compare.
        (
            side(10.0, 0.0, 0.9),
            side(1000.0, 1.0, 0.4),
            GateOutcome::Inconclusive,
        ),
        (
            side(1000.0, 1.0, 0.9),
            side(10.0, 0.0, 0.4),
            GateOutcome::Inconclusive,
        ),
        // No baseline latency at all: nothing to compare with.
        (
            side(1000.0, 1.0, 0.9),
            Side {
                requests: 1000.0,
                errors: 0.0,
                p95: None,
            },
            GateOutcome::Inconclusive,
        ),
    ];
    for (i, (canary, baseline, want)) in cases.into_iter().enumerate() {
        let verdict = judge_live(canary, baseline);
        let latency = gate(&verdict, "latency-vs-baseline");
        assert_eq!(latency.outcome, want, "case {i}: {}", latency.reason);
    }
    let low_baseline = judge_live(side(1000.0, 1.0, 0.9), side(10.0, 0.0, 0.4));
    assert!(gate(&low_baseline, "latency-vs-baseline")
        .reason
        .contains("baseline sample too small"));
}

#[test]
fn a_fix_no_worse_than_an_unhealthy_baseline_can_pass() {
    // Production already fails at 3 %: a canary at 3 % is no worse, and passes.
    let verdict = judge_live(side(1000.0, 30.0, 0.4), side(1000.0, 30.0, 0.4));
    let errors = gate(&verdict, "errors-not-worse");
    assert_eq!(errors.outcome, GateOutcome::Pass, "{}", errors.reason);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    // 3.4 % against 3 %: within the 0.5 pp allowance.
    let verdict = judge_live(side(1000.0, 34.0, 0.4), side(1000.0, 30.0, 0.4));
    assert_eq!(
        gate(&verdict, "errors-not-worse").outcome,
        GateOutcome::Pass
    );
    // 4 % against 3 %: worse than production, and over the static 1 %.
    let verdict = judge_live(side(1000.0, 40.0, 0.4), side(1000.0, 30.0, 0.4));
    let errors = gate(&verdict, "errors-not-worse");
    assert_eq!(errors.outcome, GateOutcome::Fail, "{}", errors.reason);
    assert!(
        errors.reason.contains("> 1% and > baseline + 0.5pp"),
        "{}",
        errors.reason
    );
    // 3 % against a healthy 0.1 %: the static threshold decides.
    let verdict = judge_live(side(1000.0, 30.0, 0.4), side(1000.0, 1.0, 0.4));
    assert_eq!(
        gate(&verdict, "errors-not-worse").outcome,
        GateOutcome::Fail
    );
    // Under the static threshold the baseline does not matter.
    let verdict = judge_live(side(1000.0, 5.0, 0.4), side(1000.0, 0.0, 0.4));
    assert_eq!(
        gate(&verdict, "errors-not-worse").outcome,
        GateOutcome::Pass
    );
}

#[test]
fn a_history_baseline_reads_the_same_metric_a_week_earlier() {
    let section = bound_section(Hook::AfterAllowTraffic);
    let plan = crate::evidence::plan(
        &Policy::from_yaml(POLICY, "b", &env)
            .unwrap()
            .bind(Hook::AfterAllowTraffic, &discovery())
            .unwrap(),
        Hook::AfterAllowTraffic,
        NOW,
    );
    assert_eq!(plan.history.len(), 1);
    let (offset, request) = &plan.history[0];
    assert_eq!(*offset, WEEK);
    assert_eq!(request.range.start, T0 - WEEK);
    assert_eq!(request.range.end, T0 + 300 - WEEK);

    let run = |now_p95: f64, then_p95: f64, history_ok: bool| {
        let now = data(
            &section,
            &side(1000.0, 0.0, now_p95),
            &side(0.0, 0.0, 0.0),
            T0,
        );
        let then = data(
            &section,
            &side(1000.0, 0.0, then_p95),
            &side(0.0, 0.0, 0.0),
            T0 - WEEK,
        );
        let evidence = Evidence {
            flags: Default::default(),
            now: NOW,
            metrics: Some(Ok(now)),
            alarms: None,
            preflight: PreflightEvidence::default(),
            probes: Default::default(),
            history: [(
                WEEK,
                if history_ok {
                    Ok(then)
                } else {
                    Err(crate::evidence::EvidenceError::TimedOut { budget_ms: 5 })
                },
            )]
            .into_iter()
            .collect(),
        };
        judge(&section, &evidence)
    };
    let slower = run(0.8, 0.5, true);
    let gate_result = gate(&slower, "latency-vs-last-week");
    assert_eq!(
        gate_result.outcome,
        GateOutcome::Fail,
        "{}",
        gate_result.reason
    );
    assert_eq!(
        crate::report::threshold_text(gate_result).as_deref(),
        Some("> 1.5 x baseline (7d earlier)")
    );
    assert_eq!(
        gate(&run(0.55, 0.5, true), "latency-vs-last-week").outcome,
        GateOutcome::Pass
    );
    let unavailable = run(0.55, 0.5, false);
    let gate_result = gate(&unavailable, "latency-vs-last-week");
    assert_eq!(gate_result.outcome, GateOutcome::Error);
    assert!(gate_result.reason.contains("baseline evidence unavailable"));
}

#[test]
fn binding_names_what_discovery_did_not_find() {
    let policy = Policy::from_yaml(POLICY, "b", &env).unwrap();
    let unbound: Vec<String> = policy
        .unbound(Hook::BeforeAllowTraffic)
        .iter()
        .map(ToString::to_string)
        .collect();
    // LOAD_BALANCER overrides both sides' load balancer at load time.
    assert_eq!(
        unbound,
        vec!["${canary.target_group}", "${baseline.target_group}"]
    );
    let mut canary_only = discovery();
    canary_only.baseline.clear();
    let error = policy
        .bind(Hook::BeforeAllowTraffic, &canary_only)
        .unwrap_err();
    assert_eq!(error.missing, "${baseline.target_group}");
    assert!(error.to_string().contains("baseline: nothing"), "{error}");
    // The AfterAllowTraffic section has no live baseline: the canary suffices.
    assert!(policy.bind(Hook::AfterAllowTraffic, &canary_only).is_ok());
}

#[test]
fn explicit_variables_override_discovery() {
    let env = |name: &str| match name {
        "TARGET_GROUP" => Some(GREEN.to_string()),
        "BASELINE_TARGET_GROUP" => Some(BLUE.to_string()),
        "LOAD_BALANCER" => Some("app/web/9".to_string()),
        _ => None,
    };
    let policy = Policy::from_yaml(POLICY, "b", &env).unwrap();
    assert!(policy.unbound(Hook::BeforeAllowTraffic).is_empty());
    let section = policy.hook(Hook::BeforeAllowTraffic).unwrap();
    let GateCheck::Threshold(check) = &section.gates[0].check else {
        panic!()
    };
    let baseline = check.baseline.as_deref().unwrap();
    assert!(baseline
        .queries()
        .all(|q| q.dimensions.contains(&("TargetGroup".into(), BLUE.into()))));
    assert!(check
        .canary_queries()
        .all(|q| q.dimensions.contains(&("TargetGroup".into(), GREEN.into()))));
}

const STATISTICAL: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: "${canary.target_group}" }
  window: 10m
hooks:
  BeforeAllowTraffic:
    gates:
      - name: errors-two-proportion
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: live
        test: two_proportion
        comparison: ">"
        threshold: baseline
        min_sample: { at_least: 500 }
      - name: latency-rank-sum
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: live
        test: mann_whitney
        alpha: 0.01
        comparison: ">"
        threshold: 1.1 x baseline
"#;

/// Judges STATISTICAL with ten minutes per side: per-minute requests, errors
/// and p95 values.
fn judge_statistical(canary: [&[f64]; 3], baseline: [&[f64]; 3]) -> Verdict {
    judge_yaml(STATISTICAL, canary, baseline)
}

fn judge_yaml(yaml: &str, canary: [&[f64]; 3], baseline: [&[f64]; 3]) -> Verdict {
    let policy = Policy::from_yaml(yaml, "stats.yaml", &|_| None)
        .unwrap()
        .bind(Hook::BeforeAllowTraffic, &discovery())
        .unwrap();
    let section = policy.hook(Hook::BeforeAllowTraffic).unwrap().clone();
    let start = NOW - 120 - (NOW - 120) % 60 - 600;
    let mut data = MetricData::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            continue;
        };
        for query in check.all_queries() {
            let tg = &query.dimensions[0].1;
            let side = if tg == GREEN { canary } else { baseline };
            let values = match query.metric_name.as_str() {
                "RequestCount" => side[0],
                "HTTPCode_Target_5XX_Count" => side[1],
                _ => side[2],
            };
            let points = values
                .iter()
                .enumerate()
                .map(|(i, v)| (start + 60 * i as i64, *v))
                .collect();
            let series = RawSeries {
                points,
                status: crate::evidence::SeriesStatus::Complete,
                messages: vec![],
            };
            data.insert(query.clone(), series);
        }
    }
    let evidence = Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(data)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    };
    judge(&section, &evidence)
}

#[test]
fn sparse_errors_on_a_clean_baseline_fail_the_two_proportion_test() {
    let p95 = [0.3; 10];
    // 8 errors in 1000 requests against none in 5000.
    let verdict = judge_statistical(
        [
            &[100.0; 10],
            &[0.0, 1.0, 0.0, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0, 1.0],
            &p95,
        ],
        [&[500.0; 10], &[0.0; 10], &p95],
    );
    let errors = gate(&verdict, "errors-two-proportion");
    assert_eq!(errors.outcome, GateOutcome::Fail, "{}", errors.reason);
    let Some(Statistics::TwoProportion(figures)) = errors.statistics() else {
        panic!("two-proportion figures: {:?}", errors.statistics());
    };
    assert_eq!(figures.canary.events, 8);
    assert_eq!(figures.baseline.trials, 5000);
    // 2 in 1000 against 10 in 10000: noise.
    let verdict = judge_statistical(
        [
            &[100.0; 10],
            &[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            &p95,
        ],
        [&[1000.0; 10], &[1.0; 10], &p95],
    );
    assert_eq!(
        gate(&verdict, "errors-two-proportion").outcome,
        GateOutcome::Pass
    );
    // 300 requests: under the 500 the gate asks for.
    let verdict = judge_statistical(
        [&[30.0; 10], &[0.0; 10], &p95],
        [&[1000.0; 10], &[1.0; 10], &p95],
    );
    assert_eq!(
        gate(&verdict, "errors-two-proportion").outcome,
        GateOutcome::Inconclusive
    );
}

#[test]
fn a_shifted_latency_distribution_fails_the_rank_sum_test() {
    let requests = [1000.0; 10];
    let errors = [0.0; 10];
    let base = [0.30, 0.32, 0.29, 0.31, 0.33, 0.30, 0.28, 0.31, 0.30, 0.32];
    let slower: Vec<f64> = base.iter().map(|v| v * 1.5).collect();
    let verdict = judge_statistical([&requests, &errors, &slower], [&requests, &errors, &base]);
    let latency = gate(&verdict, "latency-rank-sum");
    assert_eq!(latency.outcome, GateOutcome::Fail, "{}", latency.reason);
    // The same distribution, reordered: no shift.
    let mut shuffled = base;
    shuffled.reverse();
    let verdict = judge_statistical([&requests, &errors, &shuffled], [&requests, &errors, &base]);
    assert_eq!(
        gate(&verdict, "latency-rank-sum").outcome,
        GateOutcome::Pass
    );
    // 5 % slower: significant perhaps, but inside the 1.1 x tolerance.
    let slightly: Vec<f64> = base.iter().map(|v| v * 1.05).collect();
    let verdict = judge_statistical([&requests, &errors, &slightly], [&requests, &errors, &base]);
    assert_eq!(
        gate(&verdict, "latency-rank-sum").outcome,
        GateOutcome::Pass
    );
}

/// STATISTICAL with a rank-tested gate on a counter (5XX per minute).
fn with_counter_rank_gate(extra: &str) -> String {
    STATISTICAL.replace(
        "      - name: latency-rank-sum\n",
        &format!("      - name: errors-rank-sum\n        metric: {{ name: HTTPCode_Target_5XX_Count, stat: Sum }}\n        baseline: live\n        test: mann_whitney\n        comparison: \">\"\n        threshold: baseline\n{extra}      - name: latency-rank-sum\n"),
    )
}

#[test]
fn a_rank_test_on_a_mostly_zero_counter_catches_an_increase_the_medians_hide() {
    // Issue 16: both medians are 0, so a median ratio is 1 whatever the
    // canary does; a counter's gate compares means by default (Kayenta's
    // measure), and 0.0 against 1.2 errors a minute is High.
    let requests = [1000.0; 10];
    let p95 = [0.3; 10];
    let canary_errors = [0.0, 3.0, 0.0, 0.0, 3.0, 0.0, 3.0, 0.0, 3.0, 0.0];
    let yaml = with_counter_rank_gate("");
    let verdict = judge_yaml(
        &yaml,
        [&requests, &canary_errors, &p95],
        [&requests, &[0.0; 10], &p95],
    );
    let errors = gate(&verdict, "errors-rank-sum");
    assert_eq!(errors.outcome, GateOutcome::Fail, "{}", errors.reason);
    // Asked for the median ratio, the gate passes it, and says why.
    let yaml = with_counter_rank_gate("        effect_size: median_ratio\n");
    let verdict = judge_yaml(
        &yaml,
        [&requests, &canary_errors, &p95],
        [&requests, &[0.0; 10], &p95],
    );
    let errors = gate(&verdict, "errors-rank-sum");
    assert_eq!(errors.outcome, GateOutcome::Pass, "{}", errors.reason);
    assert!(errors.reason.contains("median"), "{}", errors.reason);
}

#[test]
fn a_critical_threshold_blocks_only_a_large_shift_and_scores_the_rest() {
    // Kayenta's criticalIncrease: latency allowed 1.1x, critical beyond 2x.
    // At 1.5x the gate itself passes (its shift counts against the score
    // only); at 3x it fails, and fails the score whatever its value.
    let yaml = STATISTICAL
        .replace(
            "  BeforeAllowTraffic:\n    gates:",
            "  BeforeAllowTraffic:\n    canary_score: { pass: 40, marginal: 20 }\n    gates:",
        )
        .replace(
            "        threshold: 1.1 x baseline\n",
            "        threshold: 1.1 x baseline\n        critical_threshold: 2 x baseline\n",
        );
    let requests = [1000.0; 10];
    let clean = [0.0; 10];
    let base = [0.30, 0.32, 0.29, 0.31, 0.33, 0.30, 0.28, 0.31, 0.30, 0.32];
    let times = |k: f64| -> Vec<f64> { base.iter().map(|v| v * k).collect() };

    let slower = judge_yaml(
        &yaml,
        [&requests, &clean, &times(1.5)],
        [&requests, &clean, &base],
    );
    let latency = gate(&slower, "latency-rank-sum");
    assert_eq!(latency.outcome, GateOutcome::Pass, "{}", latency.reason);
    assert!(
        latency.reason.contains("within the critical 2x"),
        "{}",
        latency.reason
    );
    let score = gate(&slower, "canary-score");
    let Some(Statistics::CanaryScore(figures)) = score.statistics() else {
        panic!("canary score figures: {:?}", score.statistics());
    };
    assert_eq!(figures.score, Some(50.0), "{}", score.reason);
    assert!(figures.critical_failures.is_empty(), "{}", score.reason);
    assert_eq!(score.outcome, GateOutcome::Pass, "{}", score.reason);

    let much_slower = judge_yaml(
        &yaml,
        [&requests, &clean, &times(3.0)],
        [&requests, &clean, &base],
    );
    let latency = gate(&much_slower, "latency-rank-sum");
    assert_eq!(latency.outcome, GateOutcome::Fail, "{}", latency.reason);
    let score = gate(&much_slower, "canary-score");
    assert_eq!(score.outcome, GateOutcome::Fail, "{}", score.reason);
    assert!(
        score.reason.starts_with("critical metric failed"),
        "{}",
        score.reason
    );
    assert_eq!(much_slower.status, LifecycleStatus::Failed);
}

#[test]
fn a_canary_score_weighs_the_tested_gates() {
    // Both tested gates only count through the score (warnings), latency
    // three times as much as errors.
    let yaml = STATISTICAL
        .replace(
            "  BeforeAllowTraffic:\n    gates:",
            "  BeforeAllowTraffic:\n    canary_score: { pass: 90, marginal: 70 }\n    gates:",
        )
        .replace(
            "        test: two_proportion\n",
            "        test: two_proportion\n        severity: warning\n        weight: 1\n",
        )
        .replace(
            "        test: mann_whitney\n",
            "        test: mann_whitney\n        severity: warning\n        weight: 3\n",
        );
    let requests = [1000.0; 10];
    let clean = [0.0; 10];
    let base = [0.30, 0.32, 0.29, 0.31, 0.33, 0.30, 0.28, 0.31, 0.30, 0.32];
    let slower: Vec<f64> = base.iter().map(|v| v * 1.5).collect();
    let score = |verdict: &Verdict| gate(verdict, "canary-score").clone();

    let same = judge_yaml(
        &yaml,
        [&requests, &clean, &base],
        [&requests, &clean, &base],
    );
    assert_eq!(
        score(&same).outcome,
        GateOutcome::Pass,
        "{}",
        score(&same).reason
    );
    assert_eq!(same.status, LifecycleStatus::Succeeded, "{}", same.reason);

    // Latency alone fails: 1 of 4 weight passed, 25 < 70.
    let slow = judge_yaml(
        &yaml,
        [&requests, &clean, &slower],
        [&requests, &clean, &base],
    );
    assert_eq!(
        score(&slow).outcome,
        GateOutcome::Fail,
        "{}",
        score(&slow).reason
    );
    assert_eq!(slow.status, LifecycleStatus::Failed);
    let slow_score = score(&slow);
    let Some(Statistics::CanaryScore(figures)) = slow_score.statistics() else {
        panic!("canary score figures: {:?}", slow_score.statistics());
    };
    assert_eq!(figures.score, Some(25.0), "{figures:?}");

    // Errors alone fail: 3 of 4 weight passed, 75: marginal, which blocks
    // under on_inconclusive: fail.
    let errors = [5.0; 10];
    let erring = judge_yaml(
        &yaml,
        [&requests, &errors, &base],
        [&requests, &clean, &base],
    );
    assert_eq!(
        score(&erring).outcome,
        GateOutcome::Inconclusive,
        "{}",
        score(&erring).reason
    );
    assert_eq!(erring.status, LifecycleStatus::Failed);
}

#[test]
fn a_rank_test_in_either_direction_fails_a_faster_canary_too() {
    let requests = [1000.0; 10];
    let clean = [0.0; 10];
    let base = [0.30, 0.32, 0.29, 0.31, 0.33, 0.30, 0.28, 0.31, 0.30, 0.32];
    let faster: Vec<f64> = base.iter().map(|v| v * 0.5).collect();
    // `>`: only an increase is bad, so twice as fast passes.
    let verdict = judge_statistical([&requests, &clean, &faster], [&requests, &clean, &base]);
    assert_eq!(
        gate(&verdict, "latency-rank-sum").outcome,
        GateOutcome::Pass
    );
    // `direction: either`: a shift either way is a different release.
    let either = STATISTICAL.replace(
        "        test: mann_whitney\n",
        "        test: mann_whitney\n        direction: either\n",
    );
    let verdict = judge_yaml(
        &either,
        [&requests, &clean, &faster],
        [&requests, &clean, &base],
    );
    let latency = gate(&verdict, "latency-rank-sum");
    assert_eq!(latency.outcome, GateOutcome::Fail, "{}", latency.reason);
}

/// The not-judged rule (docs/not-judged.md), row by row: a relative gate
/// whose baseline has not one datapoint is not judged. It blocks only as a
/// critical gate that is not a dry run (fail closed, and saying why); as a
/// dry run or a warning it is a note in the hook's reason, never "would have
/// blocked".
#[test]
fn a_gate_without_a_baseline_is_not_judged_and_blocks_only_when_it_must() {
    use crate::policy::Severity;
    let no_baseline_latency = Side {
        requests: 1000.0,
        errors: 0.0,
        p95: None,
    };
    // dry run, severity, whether it blocks the hook.
    let rows = [
        (true, Severity::Critical, false),
        (false, Severity::Warning, false),
        (false, Severity::Critical, true),
    ];
    for (dry_run, severity, blocks) in rows {
        let mut section = bound_section(Hook::BeforeAllowTraffic);
        let shadow = section
            .gates
            .iter_mut()
            .find(|g| g.name == "latency-vs-baseline")
            .unwrap();
        shadow.dry_run = dry_run;
        shadow.severity = severity;
        let evidence = Evidence {
            now: NOW,
            metrics: Some(Ok(data(
                &section,
                &side(1000.0, 0.0, 0.3),
                &no_baseline_latency,
                T0,
            ))),
            alarms: None,
            preflight: PreflightEvidence::default(),
            history: Default::default(),
            probes: Default::default(),
            flags: Default::default(),
        };
        let verdict = judge(&section, &evidence);
        let row = format!("dry run {dry_run}, {severity:?}: {}", verdict.reason);
        let latency = gate(&verdict, "latency-vs-baseline");
        assert_eq!(latency.not_judged, Some(NotJudged::NoBaseline), "{row}");
        assert_eq!(latency.outcome, GateOutcome::Inconclusive, "{row}");
        assert!(
            latency.reason.starts_with("the baseline had no datapoint"),
            "{row}: {}",
            latency.reason
        );
        assert_eq!(latency.blocking, blocks, "{row}");
        assert!(!verdict.reason.contains("would have blocked"), "{row}");
        if blocks {
            assert_eq!(verdict.status, LifecycleStatus::Failed, "{row}");
            assert!(
                verdict.reason.starts_with(
                    "1 of 2 critical gates blocked: latency-vs-baseline [not judged: no baseline]: the baseline had no datapoint"
                ),
                "{row}"
            );
        } else {
            assert_eq!(verdict.status, LifecycleStatus::Succeeded, "{row}");
            assert!(
                verdict
                    .reason
                    .ends_with("; latency-vs-baseline not judged: no baseline"),
                "{row}"
            );
        }
    }
}
