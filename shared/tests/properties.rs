//! Properties of the judgement, over generated policies and evidence.
//!
//! The table tests in `src/judge/tests/` pin the verdict for hand-picked
//! figures; these check rules that must hold for *every* policy and series a
//! hook can meet, the ones a rollback decision relies on:
//!
//! 1. a critical gate whose judged periods breach at least M times fails, and
//!    the hook never reports `Succeeded`;
//! 2. the verdict does not depend on the order CloudWatch returned the datapoints in;
//! 3. a worse series (every value moved in the breaching direction) never
//!    judges better: a `Fail` or `Inconclusive` never becomes a `Pass`;
//! 4. no evidence (empty series, a missing series, a failed or absent fetch)
//!    never yields `Succeeded`, not even under `on_inconclusive: pass` (that
//!    once let an all-empty hook succeed; the last property pins the fix);
//! 5. an impossible value (any `f64`: NaN, ±infinity, a negative count, a
//!    negative subnormal, a share above 100 %) in any period of any series a
//!    gate reads, the canary's or the baseline's, makes the gate an error
//!    naming the value, never a pass, whatever kind of gate reads it (a
//!    static threshold, a ratio, a baseline period by period, Mann-Whitney
//!    under either NaN strategy, two proportions, the canary score); a
//!    possible one (a positive subnormal, -0, a custom gauge below zero) is
//!    never called impossible (issue 15).
//!
//! Policies go through [`Policy::from_yaml`], as a hook's policy file does, so
//! the generated gates are exactly the ones validation lets through: one
//! threshold gate with a random comparison, threshold, period, window, N of M,
//! `missing_data`, series kind and `on_inconclusive`. Values include missing
//! periods and NaN (which is impossible: the properties that count breaches
//! read sound series, see [`sound`]). Datapoints are placed on the gate's own
//! window ([`gate_window`]), with strays just outside it that must not count.

use metric_gate::evidence::{
    Datapoint, Evidence, EvidenceError, MetricData, PreflightEvidence, RawSeries, SeriesStatus,
};
use metric_gate::judge::{judge, GateOutcome, LifecycleStatus, Verdict};
use metric_gate::policy::{GateCheck, HookPolicy, MetricQuery, Policy, Signal, ThresholdCheck};
use metric_gate::window::gate_window;
use metric_gate::Hook;
use proptest::prelude::*;

/// An arbitrary, period-aligned instant to judge at (2023-11-14).
const BASE_NOW: i64 = 1_699_920_000;

/// The knobs of one generated gate.
#[derive(Debug, Clone)]
struct GateSpec {
    /// `metric` or `ratio`.
    ratio: bool,
    comparison: &'static str,
    threshold: f64,
    period_secs: i64,
    /// Periods in the window.
    periods: usize,
    /// N.
    evaluation_periods: usize,
    /// M.
    datapoints_to_alarm: usize,
    missing_data: &'static str,
    /// `counter` or `gauge` (a ratio's queries are always counters).
    kind: &'static str,
    /// `None` leaves the key out, so the default applies.
    on_inconclusive: Option<&'static str>,
    ingestion_lag_secs: i64,
}

impl GateSpec {
    fn yaml(&self) -> String {
        let stat = if self.kind == "counter" {
            "Sum"
        } else {
            "Average"
        };
        let source = if self.ratio {
            "        ratio:\n          numerator: [{ name: Errors, stat: Sum }]\n          denominator: [{ name: Requests, stat: Sum }]\n".to_string()
        } else {
            format!(
                "        metric: {{ name: Signal, stat: {stat}, kind: {} }}\n",
                self.kind
            )
        };
        let on_inconclusive = self
            .on_inconclusive
            .map(|action| format!("    on_inconclusive: {action}\n"))
            .unwrap_or_default();
        format!(
            "version: 1\n\
             metric_defaults:\n  namespace: Prop\n  dimensions: {{ Service: web }}\n\
             hooks:\n  AfterAllowTraffic:\n{on_inconclusive}    ingestion_lag: {lag}s\n    gates:\n\
             \x20     - name: g\n{source}\
             \x20       comparison: \"{cmp}\"\n\
             \x20       threshold: {thr:?}\n\
             \x20       period: {period}s\n\
             \x20       window: {window}s\n\
             \x20       evaluation_periods: {n}\n\
             \x20       datapoints_to_alarm: {m}\n\
             \x20       missing_data: {missing}\n",
            lag = self.ingestion_lag_secs,
            cmp = self.comparison,
            thr = self.threshold,
            period = self.period_secs,
            window = self.period_secs * self.periods as i64,
            n = self.evaluation_periods,
            m = self.datapoints_to_alarm,
            missing = self.missing_data,
        )
    }

    /// The hook section, through the same parser and validator a policy file goes through.
    fn section(&self) -> HookPolicy {
        let yaml = self.yaml();
        let policy = Policy::from_yaml(&yaml, "prop.yaml", &|_| None)
            .unwrap_or_else(|e| panic!("generated an invalid policy ({e}):\n{yaml}"));
        policy
            .hook(Hook::AfterAllowTraffic)
            .expect("the generated section")
            .clone()
    }

    /// Whether `value` breaches, by the policy's own words (not the library's code).
    fn breaches(&self, value: f64) -> bool {
        match self.comparison {
            ">" => value > self.threshold,
            ">=" => value >= self.threshold,
            "<" => value < self.threshold,
            "<=" => value <= self.threshold,
            other => unreachable!("comparison {other}"),
        }
    }

    fn higher_is_worse(&self) -> bool {
        self.comparison.starts_with('>')
    }
}

fn the_check(section: &HookPolicy) -> &ThresholdCheck {
    match &section.gates[0].check {
        GateCheck::Threshold(check) => check,
        GateCheck::Alarms(_) | GateCheck::Probe(_) | GateCheck::Flag(_) => {
            unreachable!("only threshold gates are generated")
        }
    }
}

fn gate_spec(ratio: impl Strategy<Value = bool>) -> impl Strategy<Value = GateSpec> {
    let shape = (1usize..=8).prop_flat_map(|periods| {
        (1..=periods).prop_flat_map(move |n| (Just(periods), Just(n), 1..=n))
    });
    (
        ratio,
        shape,
        prop::sample::select(vec![">", ">=", "<", "<="]),
        // Halves from -2 to 10: integer-valued series hit the threshold exactly.
        (-4i32..=20).prop_map(|h| f64::from(h) / 2.0),
        prop::sample::select(vec![60i64, 120, 300]),
        prop::sample::select(vec!["breaching", "not_breaching", "ignore", "inconclusive"]),
        prop::sample::select(vec!["counter", "gauge"]),
        prop::sample::select(vec![None, Some("fail"), Some("pass")]),
        prop::sample::select(vec![0i64, 60, 90, 120, 150]),
    )
        .prop_map(
            |(ratio, (periods, n, m), comparison, threshold, period, missing, kind, inc, lag)| {
                GateSpec {
                    ratio,
                    comparison,
                    // A share is never below 0: validation refuses a threshold
                    // at or under 0 on a ratio (it can never pass, or never fail).
                    threshold: if ratio && threshold <= 0.0 {
                        0.5
                    } else {
                        threshold
                    },
                    period_secs: period,
                    periods,
                    evaluation_periods: n,
                    datapoints_to_alarm: m,
                    missing_data: missing,
                    kind: if ratio { "counter" } else { kind },
                    on_inconclusive: inc,
                    ingestion_lag_secs: lag,
                }
            },
        )
}

/// One period's value as CloudWatch might return it: usually a number, sometimes
/// no datapoint at all, sometimes NaN.
fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => (-4i32..=24).prop_map(|h| Some(f64::from(h) / 2.0)),
        2 => Just(None),
        1 => Just(Some(f64::NAN)),
    ]
}

fn values(len: usize) -> impl Strategy<Value = Vec<Option<f64>>> {
    prop::collection::vec(value(), len)
}

fn status() -> impl Strategy<Value = SeriesStatus> {
    prop_oneof![
        3 => Just(SeriesStatus::Complete),
        1 => Just(SeriesStatus::PartialData),
    ]
}

/// Seconds past [`BASE_NOW`], so windows start anywhere within a period.
fn now() -> impl Strategy<Value = i64> {
    (0i64..3600).prop_map(|s| BASE_NOW + s)
}

/// The datapoints of one series: `values[i]` at the window's i-th period, plus
/// two strays (the period before the window, and the still-filling one after
/// it) that the judge must leave out.
fn points(section: &HookPolicy, now: i64, values: &[Option<f64>], stray: f64) -> Vec<Datapoint> {
    let check = the_check(section);
    let range = gate_window(check, now, section.ingestion_lag_secs);
    let mut points: Vec<Datapoint> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (range.start + check.period_secs * i as i64, v)))
        .collect();
    points.push((range.start - check.period_secs, stray));
    points.push((range.end, stray));
    points
}

fn evidence(now: i64, data: MetricData) -> Evidence {
    Evidence {
        flags: Default::default(),
        now,
        metrics: Some(Ok(data)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    }
}

/// Evidence for a metric gate: one series.
fn metric_evidence(section: &HookPolicy, now: i64, series: RawSeries) -> Evidence {
    let Signal::Metric(query) = &the_check(section).signal else {
        unreachable!("a metric gate")
    };
    evidence(now, MetricData::from([(query.clone(), series)]))
}

fn series(points: Vec<Datapoint>, status: SeriesStatus) -> RawSeries {
    RawSeries {
        points,
        status,
        messages: Vec::new(),
    }
}

/// Whether the policy's words make `value` impossible for the generated
/// gate's series (namespace `Prop`, not AWS's): not finite, or a negative count.
fn impossible(spec: &GateSpec, value: f64) -> bool {
    !value.is_finite() || (spec.kind == "counter" && value < 0.0)
}

/// `values` with every impossible value made possible: NaN as no datapoint,
/// a negative count as its magnitude.
fn sound(spec: &GateSpec, values: &[Option<f64>]) -> Vec<Option<f64>> {
    values
        .iter()
        .map(|v| {
            v.filter(|v| !v.is_nan())
                .map(|v| if impossible(spec, v) { v.abs() } else { v })
        })
        .collect()
}

/// The only gate's outcome.
fn outcome(verdict: &Verdict) -> GateOutcome {
    assert_eq!(verdict.gates.len(), 1, "{verdict:?}");
    verdict.gates[0].outcome
}

/// A value that breaches the spec's threshold by `by` (>= 0; strictly more for `>`/`<`).
fn breaching_value(spec: &GateSpec, by: f64) -> f64 {
    let by = if spec.comparison.len() == 1 {
        by + 0.5
    } else {
        by
    };
    if spec.higher_is_worse() {
        spec.threshold + by
    } else {
        spec.threshold - by
    }
}

prop_compose! {
    /// A metric gate and a series in which at least M of the newest N periods
    /// hold a real, breaching value (M chosen positions are overwritten).
    fn breaching_case()(spec in gate_spec(Just(false)))(
        values in values(spec.periods),
        positions in Just((0..spec.evaluation_periods).collect::<Vec<_>>()).prop_shuffle(),
        amounts in prop::collection::vec((0i32..=10).prop_map(|h| f64::from(h) / 2.0), spec.datapoints_to_alarm),
        status in status(),
        now in now(),
        stray in value(),
        spec in Just(spec),
    ) -> (GateSpec, Vec<Option<f64>>, SeriesStatus, i64, f64) {
        let mut values = sound(&spec, &values);
        let first_judged = spec.periods - spec.evaluation_periods;
        for (position, amount) in positions.iter().zip(&amounts) {
            values[first_judged + position] = Some(breaching_value(&spec, *amount));
        }
        (spec, values, status, now, stray.unwrap_or(0.0))
    }
}

prop_compose! {
    /// A gate (metric or ratio) with its series in CloudWatch order and shuffled.
    fn shuffled_case()(spec in gate_spec(any::<bool>()))(
        signal in values(spec.periods),
        requests in values(spec.periods),
        status in status(),
        now in now(),
        stray in value(),
        // Each series has at most `periods` values plus two strays.
        orders in prop::array::uniform2(Just((0..spec.periods + 2).collect::<Vec<_>>()).prop_shuffle()),
        spec in Just(spec),
    ) -> (GateSpec, Vec<Option<f64>>, Vec<Option<f64>>, SeriesStatus, i64, f64, [Vec<usize>; 2]) {
        (spec, signal, requests, status, now, stray.unwrap_or(0.0), orders)
    }
}

prop_compose! {
    /// A metric gate, a series, and a non-negative amount per period to move it
    /// in the breaching direction by.
    fn worsening_case()(spec in gate_spec(Just(false)))(
        values in values(spec.periods),
        amounts in prop::collection::vec((0i32..=12).prop_map(|h| f64::from(h) / 2.0), spec.periods),
        status in status(),
        now in now(),
        spec in Just(spec),
    ) -> (GateSpec, Vec<Option<f64>>, Vec<f64>, SeriesStatus, i64) {
        (spec, values, amounts, status, now)
    }
}

/// `points` in the order `order` gives: a permutation of at least as many
/// indices as there are points (indices past the end are skipped).
fn permuted(points: &[Datapoint], order: &[usize]) -> Vec<Datapoint> {
    let reordered: Vec<Datapoint> = order
        .iter()
        .filter_map(|&i| points.get(i).copied())
        .collect();
    assert_eq!(
        reordered.len(),
        points.len(),
        "{order:?} does not cover the points"
    );
    reordered
}

/// The ways a hook can end up with no metric evidence at all.
#[derive(Debug, Clone)]
enum NoEvidence {
    /// Every query answered, with no datapoint (wrong dimensions, no traffic).
    EmptySeries(SeriesStatus),
    /// The answer lacks the query's series.
    MissingSeries,
    /// `GetMetricData` failed after retries.
    FetchFailed,
    /// Nothing was collected (the plan asked for nothing).
    NotCollected,
}

fn no_evidence() -> impl Strategy<Value = NoEvidence> {
    prop_oneof![
        3 => status().prop_map(NoEvidence::EmptySeries),
        1 => Just(NoEvidence::MissingSeries),
        1 => Just(NoEvidence::FetchFailed),
        1 => Just(NoEvidence::NotCollected),
    ]
}

fn without_evidence(section: &HookPolicy, now: i64, how: &NoEvidence) -> Evidence {
    let queries: Vec<MetricQuery> = the_check(section).queries().cloned().collect();
    let metrics = match how {
        NoEvidence::EmptySeries(status) => Some(Ok(queries
            .into_iter()
            .map(|q| (q, series(Vec::new(), status.clone())))
            .collect())),
        NoEvidence::MissingSeries => Some(Ok(MetricData::new())),
        NoEvidence::FetchFailed => Some(Err(EvidenceError::Api {
            service: "CloudWatch",
            operation: "GetMetricData",
            message: "ThrottlingException: Rate exceeded".into(),
        })),
        NoEvidence::NotCollected => None,
    };
    Evidence {
        flags: Default::default(),
        now,
        metrics,
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    }
}

proptest! {
    #[test]
    fn m_breaching_judged_periods_fail_the_hook(
        (spec, values, status, now, stray) in breaching_case()
    ) {
        let section = spec.section();
        // A breach of `< -1` by a counter is itself impossible: an error,
        // which blocks as a failure does.
        let corrupt = values.iter().flatten().any(|v| impossible(&spec, *v));
        // The case's own count, independent of the judge: real breaching values
        // among the newest N periods of the window.
        let judged = &values[spec.periods - spec.evaluation_periods..];
        let breaching = judged
            .iter()
            .flatten()
            .filter(|v| v.is_finite() && spec.breaches(**v))
            .count();
        prop_assert!(breaching >= spec.datapoints_to_alarm, "generator: {breaching} breaching in {values:?}");

        let evidence = metric_evidence(&section, now, series(points(&section, now, &values, stray), status));
        let verdict = judge(&section, &evidence);
        prop_assert_ne!(verdict.status, LifecycleStatus::Succeeded, "{}", verdict.reason);
        if corrupt {
            prop_assert_eq!(outcome(&verdict), GateOutcome::Error, "{}", verdict.reason);
        } else {
            prop_assert_eq!(outcome(&verdict), GateOutcome::Fail, "{}", verdict.reason);
            prop_assert!(
                verdict.gates[0].breaching().unwrap_or(0) >= spec.datapoints_to_alarm,
                "{:?}",
                verdict.gates[0]
            );
        }
    }

    #[test]
    fn the_verdict_ignores_datapoint_order(
        (spec, signal, requests, status, now, stray, orders) in shuffled_case()
    ) {
        let section = spec.section();
        let check = the_check(&section);
        let mut ordered = MetricData::new();
        let mut shuffled = MetricData::new();
        for (n, query) in check.queries().enumerate() {
            // A ratio's numerator gets `signal`, its denominator `requests`.
            let values = if n == 0 { &signal } else { &requests };
            let points = points(&section, now, values, stray);
            ordered.insert(query.clone(), series(points.clone(), status.clone()));
            shuffled.insert(query.clone(), series(permuted(&points, &orders[n]), status.clone()));
        }
        let as_returned = judge(&section, &evidence(now, ordered));
        let reordered = judge(&section, &evidence(now, shuffled));
        prop_assert_eq!(as_returned, reordered);
    }

    #[test]
    fn a_worse_series_never_judges_better(
        (spec, values, amounts, status, now) in worsening_case()
    ) {
        let section = spec.section();
        // The series before is sound; the worse one may not be (a count moved
        // below zero), and an error is worse than any other outcome.
        let values = sound(&spec, &values);
        let worse: Vec<Option<f64>> = values
            .iter()
            .zip(&amounts)
            .map(|(v, d)| v.map(|v| if spec.higher_is_worse() { v + d } else { v - d }))
            .collect();
        let before = judge(
            &section,
            &metric_evidence(&section, now, series(points(&section, now, &values, 0.0), status.clone())),
        );
        let after = judge(
            &section,
            &metric_evidence(&section, now, series(points(&section, now, &worse, 0.0), status)),
        );
        let (was, is) = (outcome(&before), outcome(&after));
        if matches!(was, GateOutcome::Fail | GateOutcome::Inconclusive) {
            prop_assert_ne!(is, GateOutcome::Pass, "{} -> {}", before.reason, after.reason);
        }
        if was == GateOutcome::Fail {
            prop_assert!(
                matches!(is, GateOutcome::Fail | GateOutcome::Error),
                "{} -> {}",
                before.reason,
                after.reason
            );
        }
        // Pass < Inconclusive < Fail: the outcome only moves towards Fail.
        prop_assert!(is >= was, "{was} -> {is}: {} -> {}", before.reason, after.reason);
        if after.status == LifecycleStatus::Succeeded {
            prop_assert_eq!(before.status, LifecycleStatus::Succeeded, "{}", before.reason);
        }
    }

    #[test]
    fn no_evidence_never_succeeds(
        spec in gate_spec(any::<bool>()).prop_map(|s| GateSpec {
            on_inconclusive: if s.on_inconclusive == Some("pass") { None } else { s.on_inconclusive },
            ..s
        }),
        how in no_evidence(),
        now in now(),
    ) {
        let section = spec.section();
        let verdict = judge(&section, &without_evidence(&section, now, &how));
        prop_assert_eq!(verdict.status, LifecycleStatus::Failed, "{}", verdict.reason);
        prop_assert_ne!(outcome(&verdict), GateOutcome::Pass, "{}", verdict.reason);
    }

    /// "No data is never a pass" holds under `on_inconclusive: pass` too:
    /// thin evidence may be allowed through, absent evidence may not.
    #[test]
    fn no_evidence_never_succeeds_even_when_inconclusive_may_pass(
        spec in gate_spec(any::<bool>()).prop_map(|s| GateSpec { on_inconclusive: Some("pass"), ..s }),
        status in status(),
        now in now(),
    ) {
        let section = spec.section();
        let verdict = judge(&section, &without_evidence(&section, now, &NoEvidence::EmptySeries(status)));
        prop_assert_ne!(verdict.status, LifecycleStatus::Succeeded, "{}", verdict.reason);
    }
}

// ---------------------------------------------------------------- impossible values

/// Any `f64` at all, with the awkward ones drawn often: NaN, the
/// infinities, negatives, subnormals of either sign, -0, huge values.
fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => (1u64..(1 << 52)).prop_map(f64::from_bits),
        1 => (1u64..(1 << 52)).prop_map(|bits| -f64::from_bits(bits)),
        2 => (-2000i32..2000).prop_map(|h| f64::from(h) / 2.0),
    ]
}

prop_compose! {
    /// A generated gate with a sound series (and, for a ratio, sound request
    /// counts), and one period of one of its series replaced by any value.
    fn injected_case()(spec in gate_spec(any::<bool>()))(
        signal in values(spec.periods),
        requests in values(spec.periods),
        at in 0..spec.periods,
        into_requests in any::<bool>(),
        odd in any_value(),
        now in now(),
        spec in Just(spec),
    ) -> (GateSpec, Vec<Option<f64>>, Vec<Option<f64>>, usize, bool, f64, i64) {
        let signal = sound(&spec, &signal);
        let requests = sound(&spec, &requests);
        let into_requests = into_requests && spec.ratio;
        (spec, signal, requests, at, into_requests, odd, now)
    }
}

/// Whether a reason names a value as the judge writes it.
fn names_value(reason: &str, value: f64) -> bool {
    reason.contains(&format!("{value:?}"))
}

proptest! {
    #[test]
    fn an_impossible_value_in_any_period_never_passes(
        (spec, signal, requests, at, into_requests, odd, now) in injected_case()
    ) {
        let section = spec.section();
        let check = the_check(&section);
        let (mut signal, mut requests) = (signal, requests);
        let target = if into_requests { &mut requests } else { &mut signal };
        target[at] = Some(odd);
        let data = |stray: f64| -> MetricData {
            check
                .queries()
                .enumerate()
                .map(|(n, query)| {
                    let values = if n == 0 { &signal } else { &requests };
                    (query.clone(), series(points(&section, now, values, stray), SeriesStatus::Complete))
                })
                .collect()
        };
        let verdict = judge(&section, &evidence(now, data(0.0)));
        // The strays just outside the window are none of the gate's business,
        // whatever they hold.
        prop_assert_eq!(&judge(&section, &evidence(now, data(f64::NAN))), &verdict);
        prop_assert_eq!(&judge(&section, &evidence(now, data(-1.0))), &verdict);
        let gate = &verdict.gates[0];
        if impossible(&spec, odd) {
            prop_assert_eq!(gate.outcome, GateOutcome::Error, "{}", gate.reason);
            prop_assert_eq!(verdict.status, LifecycleStatus::Failed, "{}", verdict.reason);
            prop_assert!(names_value(&gate.reason, odd), "{odd:?} in {}", gate.reason);
            prop_assert!(gate.reason.contains("Prop/"), "the series: {}", gate.reason);
        } else {
            prop_assert!(!gate.reason.contains("cannot pass on it"), "{odd:?}: {}", gate.reason);
        }
    }
}

/// Window [T0, T0 + 5 min) for the default 2-minute lag; baselines ten minutes back.
const T0: i64 = BASE_NOW;
const NOW: i64 = T0 + 300 + 120 + 30;
const BACK: i64 = 600;

/// The gates compared with a baseline, one per kind, the statistically
/// tested ones advisory under a canary score (so the score alone stands
/// between an impossible value and a pass).
const BASELINE_GATES: [&str; 5] = [
    "      - name: g
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.4 x baseline
        evaluation_periods: 5
        datapoints_to_alarm: 3
        missing_data: ignore
",
    "      - name: g
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1%
        pass_if_not_worse_than: baseline + 0.5pp
        datapoints_to_alarm: 2
        missing_data: not_breaching
",
    "      - name: g
        severity: warning
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.2 x baseline
        test: mann_whitney
        nan_strategy: remove
",
    "      - name: g
        severity: warning
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.2 x baseline
        test: mann_whitney
        nan_strategy: replace_with_zero
",
    "      - name: g
        severity: warning
        ratio:
          numerator: [{ name: HTTPCode_Target_5XX_Count, stat: Sum }]
          denominator: [{ name: RequestCount, stat: Sum }]
        baseline: { history: 10m }
        comparison: \">\"
        threshold: 1.5 x baseline
        test: two_proportion
",
];

/// One side's ALB minutes: requests, 5XX and p95 per period.
#[derive(Debug, Clone)]
struct Minutes {
    requests: Vec<f64>,
    errors: Vec<f64>,
    p95: Vec<f64>,
}

fn minutes() -> impl Strategy<Value = Minutes> {
    (
        prop::collection::vec(500u32..2000, 5),
        prop::collection::vec(0u32..10, 5),
        prop::collection::vec(100u32..500, 5),
    )
        .prop_map(|(requests, errors, p95)| Minutes {
            requests: requests.into_iter().map(f64::from).collect(),
            errors: errors.into_iter().map(f64::from).collect(),
            p95: p95.into_iter().map(|ms| f64::from(ms) / 1000.0).collect(),
        })
}

impl Minutes {
    fn of(&mut self, metric: &str) -> &mut Vec<f64> {
        match metric {
            "RequestCount" => &mut self.requests,
            "HTTPCode_Target_5XX_Count" => &mut self.errors,
            "TargetResponseTime" => &mut self.p95,
            other => unreachable!("metric {other}"),
        }
    }
}

proptest! {
    #[test]
    fn an_impossible_value_never_passes_a_comparison_with_a_baseline(
        kind in 0..BASELINE_GATES.len(),
        mut canary in minutes(),
        mut baseline in minutes(),
        on_baseline in any::<bool>(),
        which in 0usize..3,
        at in 0usize..5,
        odd in any_value(),
    ) {
        let yaml = format!(
            "version: 1\n\
             metric_defaults:\n  namespace: AWS/ApplicationELB\n  dimensions: {{ TargetGroup: tg/green }}\n  period: 60s\n  window: 5m\n\
             hooks:\n  BeforeAllowTraffic:\n{}    gates:\n{}",
            if BASELINE_GATES[kind].contains("test:") {
                "    canary_score: { pass: 50, marginal: 25 }\n"
            } else {
                ""
            },
            BASELINE_GATES[kind]
        );
        let section = Policy::from_yaml(&yaml, "prop.yaml", &|_| None)
            .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
            .hook(Hook::BeforeAllowTraffic)
            .unwrap()
            .clone();
        let check = the_check(&section);
        let metrics: Vec<&str> = check.canary_queries().map(|q| q.metric_name.as_str()).collect();
        let metric = metrics[which % metrics.len()];
        let ratio = matches!(check.signal, Signal::Ratio { .. });
        let side = if on_baseline { &mut baseline } else { &mut canary };
        let usual = side.of(metric)[at];
        side.of(metric)[at] = odd;
        // By the policy's words: an AWS metric is finite and not negative;
        // a share (this ratio is one under either rule) counts no more
        // errors than requests.
        let share_broken = ratio && side.errors[at] > side.requests[at];
        let is_impossible = !odd.is_finite() || odd < 0.0 || share_broken;

        let data = |minutes: &Minutes, start: i64| -> MetricData {
            let mut minutes = minutes.clone();
            check
                .all_queries()
                .map(|q| {
                    let points = minutes
                        .of(&q.metric_name)
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (start + 60 * i as i64, *v))
                        .collect();
                    (q.clone(), series(points, SeriesStatus::Complete))
                })
                .collect()
        };
        let evidence = Evidence {
            flags: Default::default(),
            now: NOW,
            metrics: Some(Ok(data(&canary, T0))),
            alarms: None,
            preflight: PreflightEvidence::default(),
            history: std::collections::BTreeMap::from([(BACK, Ok(data(&baseline, T0 - BACK)))]),
            probes: Default::default(),
        };
        let verdict = judge(&section, &evidence);
        let gate = &verdict.gates[0];
        if is_impossible {
            prop_assert_eq!(gate.outcome, GateOutcome::Error, "{} -> {:?}: {}", usual, odd, gate.reason);
            prop_assert_ne!(verdict.status, LifecycleStatus::Succeeded, "{}", verdict.reason);
            prop_assert!(
                verdict.gates.iter().all(|g| g.outcome != GateOutcome::Pass),
                "{:?}",
                verdict.gates.iter().map(|g| (&g.name, g.outcome, &g.reason)).collect::<Vec<_>>()
            );
            prop_assert!(
                share_broken || names_value(&gate.reason, odd),
                "{odd:?} in {}",
                gate.reason
            );
            prop_assert!(gate.reason.contains(metric) || share_broken, "{}", gate.reason);
        } else {
            prop_assert!(!gate.reason.contains("cannot pass on it"), "{odd:?}: {}", gate.reason);
        }
    }
}
