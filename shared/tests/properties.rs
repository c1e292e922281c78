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
//!    once let an all-empty hook succeed; the last property pins the fix).
//!
//! Policies go through [`Policy::from_yaml`], as a hook's policy file does, so
//! the generated gates are exactly the ones validation lets through: one
//! threshold gate with a random comparison, threshold, period, window, N of M,
//! `missing_data`, series kind and `on_inconclusive`. Values include missing
//! periods and NaN. Datapoints are placed on the gate's own window
//! ([`gate_window`]), with strays just outside it that must not count.

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
        GateCheck::Alarms(_) | GateCheck::Probe(_) => {
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
        let mut values = values;
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
        prop_assert_eq!(outcome(&verdict), GateOutcome::Fail, "{}", verdict.reason);
        prop_assert!(
            verdict.gates[0].breaching().unwrap_or(0) >= spec.datapoints_to_alarm,
            "{:?}",
            verdict.gates[0]
        );
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
            prop_assert_eq!(is, GateOutcome::Fail, "{} -> {}", before.reason, after.reason);
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
