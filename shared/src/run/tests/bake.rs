//! Bake analyses on a simulated clock (30 minutes in milliseconds), with an
//! in-memory ledger for the seal and the claims: hand-offs, early stops, the
//! hour, and the admission of runs (forged, edited, replayed, duplicate), the
//! run too short to measure and the continuation bound (issue 15).

use super::*;
use crate::analysis::{AnalysisState, Seal, DEFAULT_MAX_CONTINUATIONS};
use crate::judge::GateOutcome as MeasurementOutcome;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

/// The seal and the claims as SSM would keep them, and every hand-off.
#[derive(Default)]
pub(super) struct Ledger {
    seal: Mutex<Option<Seal>>,
    claims: Mutex<BTreeSet<u32>>,
    handoffs: Mutex<Vec<AnalysisState>>,
}

impl Ledger {
    /// A ledger that handed `state` off (its seal recorded).
    fn sealed(state: &AnalysisState) -> Ledger {
        let ledger = Ledger::default();
        *ledger.seal.lock().unwrap() = Some(Seal::of(state));
        ledger
    }

    pub(super) fn handoffs(&self) -> Vec<AnalysisState> {
        self.handoffs.lock().unwrap().clone()
    }
}

impl Continuation for Ledger {
    async fn seal(&self, _: &Execution) -> Result<Option<Seal>, EvidenceError> {
        Ok(self.seal.lock().unwrap().clone())
    }

    async fn claim(&self, _: &Execution, run: u32) -> Result<bool, EvidenceError> {
        Ok(self.claims.lock().unwrap().insert(run))
    }

    async fn hand_off(&self, _: &Execution, state: &AnalysisState) -> Result<(), EvidenceError> {
        *self.seal.lock().unwrap() = Some(Seal::of(state));
        self.handoffs.lock().unwrap().push(state.clone());
        Ok(())
    }

    async fn close(&self, _: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        *self.seal.lock().unwrap() = Some(seal.clone());
        self.claims.lock().unwrap().clear();
        Ok(())
    }

    async fn release(&self, _: &Execution, run: u32) -> Result<(), EvidenceError> {
        self.claims.lock().unwrap().remove(&run);
        Ok(())
    }
}

/// Healthy until `bad_from` (epoch seconds), then 10 % errors.
struct TurnsBad {
    bad_from: i64,
}

impl MetricSource for TurnsBad {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        if request.range.end > self.bad_from {
            BadCloudWatch.metric_data(request).await
        } else {
            FakeCloudWatch {
                delay: Duration::ZERO,
            }
            .metric_data(request)
            .await
        }
    }
    async fn metric_exists(&self, _: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(true)
    }
}

impl AlarmSource for TurnsBad {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

fn baked_policy() -> Policy {
    let yaml = crate::policy::DEFAULT_POLICY_YAML.replace(
        "  AfterAllowTraffic: *production-gates",
        "  AfterAllowTraffic:\n    analysis: { duration: 30m, interval: 1m }\n    gates: *gates",
    );
    let yaml = yaml.replace(
        "    on_inconclusive: fail\n    gates:\n",
        "    on_inconclusive: fail\n    gates: &gates\n",
    );
    Policy::from_yaml(&yaml, "bake.yaml", &env).unwrap()
}

const T0: i64 = NOW;

/// Lambda runs of 15 minutes.
const RUN_SECS: i64 = 15 * 60;

/// One run of the analysis: `run_secs` long from now by `clock`.
async fn one_run(
    metrics: &(impl MetricSource + AlarmSource),
    reporter: &impl StatusReporter,
    ledger: &Ledger,
    clock: &SimClock,
    run_secs: i64,
    max_continuations: u32,
    arrival: Arrival,
) -> AnalysisRun {
    let policy = baked_policy();
    let analysis = policy
        .hook(Hook::AfterAllowTraffic)
        .unwrap()
        .analysis
        .unwrap();
    let providers = Providers {
        flags: &crate::evidence::NoFlags,
        metrics,
        alarms: metrics,
        deployments: &FakeCodeDeploy,
        reporter,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
    };
    execute_analysis(
        &policy,
        &execution(Hook::AfterAllowTraffic, Duration::from_secs(60)),
        providers,
        judge,
        Bake {
            analysis: &analysis,
            clock,
            continuation: ledger,
            deadline_at: clock.now() + run_secs,
            run_secs,
            max_continuations,
            arrival,
        },
    )
    .await
}

/// Runs the analysis as Lambda would: each run gets `run_secs`, a handed-off
/// state starts the next run. Returns the final record and every hand-off.
async fn bake(
    metrics: &(impl MetricSource + AlarmSource),
    reporter: &FakeReporter,
    ledger: &Ledger,
    first: Arrival,
    clock: &SimClock,
    max_continuations: u32,
) -> (Option<DecisionRecord>, Vec<AnalysisState>) {
    let mut arrival = first;
    for _run in 0..10 {
        match one_run(
            metrics,
            reporter,
            ledger,
            clock,
            RUN_SECS,
            max_continuations,
            arrival,
        )
        .await
        {
            AnalysisRun::Reported(record) => return (Some(*record), ledger.handoffs()),
            AnalysisRun::HandedOff(next) => {
                // The continuation arrives a few seconds later.
                clock.0.fetch_add(5, Ordering::SeqCst);
                arrival = Arrival::Continued(next);
            }
            AnalysisRun::StoodDown(reason) => panic!("stood down: {reason}"),
        }
    }
    (None, ledger.handoffs())
}

fn first(chain: &str) -> Arrival {
    Arrival::First {
        chain: chain.into(),
    }
}

fn healthy() -> FakeCloudWatch {
    FakeCloudWatch {
        delay: Duration::ZERO,
    }
}

fn statuses(reporter: &FakeReporter) -> Vec<LifecycleStatus> {
    reporter
        .reports
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.0)
        .collect()
}

#[tokio::test]
async fn a_30_minute_bake_passes_through_continuations() {
    let clock = SimClock(AtomicI64::new(T0));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let ledger = Ledger::default();
    let (record, handoffs) = bake(
        &healthy(),
        &reporter,
        &ledger,
        first("chain-1"),
        &clock,
        DEFAULT_MAX_CONTINUATIONS,
    )
    .await;
    let record = record.expect("the analysis concluded");
    assert!(handoffs.len() >= 2, "{} hand-offs", handoffs.len());
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert!(
        record
            .reason
            .starts_with("analysis passed: 31 measurements over 1800s"),
        "{}",
        record.reason
    );
    let analysis = record.analysis.unwrap();
    assert_eq!(analysis.measurements.len(), 31);
    assert_eq!(analysis.runs as usize, handoffs.len() + 1);
    assert_eq!(analysis.continuations as usize, handoffs.len());
    assert_eq!(analysis.max_continuations, DEFAULT_MAX_CONTINUATIONS);
    assert!(analysis
        .measurements
        .iter()
        .all(|m| m.outcome == MeasurementOutcome::Pass));
    assert!(
        clock.now() >= T0 + 1800,
        "succeeds only after the full duration"
    );
    assert_eq!(statuses(&reporter), [LifecycleStatus::Succeeded]);
    // The seal is left as a tombstone: a late delivery stands down.
    let seal = ledger.seal.lock().unwrap().clone().unwrap();
    assert_eq!(seal.concluded.as_deref(), Some("Succeeded"));
    assert!(ledger.claims.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failure_in_the_middle_stops_the_bake() {
    let clock = SimClock(AtomicI64::new(T0));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let metrics = TurnsBad {
        bad_from: T0 + 17 * 60,
    };
    let (record, handoffs) = bake(
        &metrics,
        &reporter,
        &Ledger::default(),
        first("chain-2"),
        &clock,
        DEFAULT_MAX_CONTINUATIONS,
    )
    .await;
    let record = record.unwrap();
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record
            .reason
            .starts_with("1 failed measurements, more than the 0 allowed"),
        "{}",
        record.reason
    );
    assert!(!handoffs.is_empty(), "the failure came after a hand-off");
    assert!(
        clock.now() < T0 + 1800,
        "stopped early, at {}",
        clock.now() - T0
    );
    let m = record.analysis.unwrap().measurements;
    assert_eq!(m.last().unwrap().outcome, MeasurementOutcome::Fail);
    assert_eq!(reporter.reports.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_continuation_after_the_hour_reports_failed() {
    let clock = SimClock(AtomicI64::new(T0 + 56 * 60));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let mut late = AnalysisState::new("chain-3".into(), T0);
    late.runs = 4;
    let ledger = Ledger::sealed(&late);
    let (record, handoffs) = bake(
        &healthy(),
        &reporter,
        &ledger,
        Arrival::Continued(late),
        &clock,
        DEFAULT_MAX_CONTINUATIONS,
    )
    .await;
    let record = record.unwrap();
    assert!(handoffs.is_empty());
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record
            .reason
            .starts_with("the analysis ran out of time: 0 of 31 measurements"),
        "{}",
        record.reason
    );
}

/// Four passing measurements, as a forger would write them.
fn forged_passes(runs: u32) -> AnalysisState {
    let mut state = AnalysisState::new("chain-f".into(), T0);
    state.runs = runs;
    for i in 0..4 {
        state.measurements.push(Measurement {
            at: T0 + 60 * i,
            outcome: MeasurementOutcome::Pass,
            reason: "all gates passed".into(),
        });
    }
    state
}

#[tokio::test]
async fn a_continuation_no_run_handed_off_fails_as_forged() {
    let clock = SimClock(AtomicI64::new(T0 + 300));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let ledger = Ledger::default();
    let run = one_run(
        &BadCloudWatch,
        &reporter,
        &ledger,
        &clock,
        RUN_SECS,
        DEFAULT_MAX_CONTINUATIONS,
        Arrival::Continued(forged_passes(2)),
    )
    .await;
    let AnalysisRun::Reported(record) = run else {
        panic!("{run:?}")
    };
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(record.reason.contains("forged"), "{}", record.reason);
    assert!(
        record.analysis.unwrap().measurements.is_empty(),
        "the forged measurements are not the analysis'"
    );
    assert_eq!(statuses(&reporter), [LifecycleStatus::Failed]);
    assert!(ledger.handoffs().is_empty());
    // Later deliveries of the execution stand down.
    assert_eq!(
        ledger
            .seal
            .lock()
            .unwrap()
            .clone()
            .unwrap()
            .concluded
            .as_deref(),
        Some("Failed")
    );
}

#[tokio::test]
async fn an_edited_continuation_fails_the_hook() {
    // The genuine state handed to run 2 had one failed measurement; the
    // payload says it passed.
    let mut genuine = forged_passes(2);
    genuine.measurements[3].outcome = MeasurementOutcome::Fail;
    let ledger = Ledger::sealed(&genuine);
    for edited in [forged_passes(2), forged_passes(3)] {
        let clock = SimClock(AtomicI64::new(T0 + 300));
        let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
        let run = one_run(
            &healthy(),
            &reporter,
            &ledger,
            &clock,
            RUN_SECS,
            DEFAULT_MAX_CONTINUATIONS,
            Arrival::Continued(edited),
        )
        .await;
        let AnalysisRun::Reported(record) = run else {
            panic!("{run:?}")
        };
        assert_eq!(record.status, LifecycleStatus::Failed);
        assert!(
            record.reason.contains("forged or edited"),
            "{}",
            record.reason
        );
        assert_eq!(statuses(&reporter), [LifecycleStatus::Failed]);
        *ledger.seal.lock().unwrap() = Some(Seal::of(&genuine));
    }
}

#[tokio::test]
async fn replayed_and_duplicate_runs_stand_down_without_measuring_or_reporting() {
    let metrics = healthy();
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let clock = SimClock(AtomicI64::new(T0 + 300));
    let mut handed = forged_passes(3);
    handed.measurements.truncate(2);
    let mut earlier = handed.clone();
    earlier.runs = 2;
    earlier.measurements.truncate(1);
    let ledger = Ledger::sealed(&handed);
    let cases: Vec<(Arrival, &str)> = vec![
        // A duplicate CodeDeploy delivery while the bake runs.
        (first("chain-dup"), "already running"),
        // An earlier continuation replayed: its run was handed on.
        (
            Arrival::Continued(earlier.clone()),
            "run 2 was already handed on to run 3",
        ),
    ];
    for (arrival, why) in cases {
        let run = one_run(
            &metrics,
            &reporter,
            &ledger,
            &clock,
            RUN_SECS,
            DEFAULT_MAX_CONTINUATIONS,
            arrival,
        )
        .await;
        let AnalysisRun::StoodDown(reason) = run else {
            panic!("{run:?}")
        };
        assert!(reason.contains(why), "{reason}");
    }
    // Two deliveries of the genuine continuation: the first claims run 3.
    ledger.claims.lock().unwrap().insert(3);
    let run = one_run(
        &metrics,
        &reporter,
        &ledger,
        &clock,
        RUN_SECS,
        DEFAULT_MAX_CONTINUATIONS,
        Arrival::Continued(handed.clone()),
    )
    .await;
    let AnalysisRun::StoodDown(reason) = run else {
        panic!("{run:?}")
    };
    assert!(
        reason.contains("run 3 of this execution's analysis is already running"),
        "{reason}"
    );
    // After the report, the tombstone turns every delivery away.
    *ledger.seal.lock().unwrap() = Some(Seal::concluded(&handed, LifecycleStatus::Succeeded));
    for arrival in [first("chain-late"), Arrival::Continued(handed)] {
        let run = one_run(
            &metrics,
            &reporter,
            &ledger,
            &clock,
            RUN_SECS,
            DEFAULT_MAX_CONTINUATIONS,
            arrival,
        )
        .await;
        let AnalysisRun::StoodDown(reason) = run else {
            panic!("{run:?}")
        };
        assert!(reason.contains("already concluded (Succeeded"), "{reason}");
    }
    assert!(statuses(&reporter).is_empty(), "nothing reported");
    assert!(ledger.handoffs().is_empty());
}

#[tokio::test]
async fn a_run_too_short_to_measure_fails_at_once_naming_the_minimum() {
    let clock = SimClock(AtomicI64::new(T0));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let ledger = Ledger::default();
    // 80 s: 3 s margin + 20 s leaves 57 s, less than a 1-minute interval
    // plus the hand-off's slack.
    let run = one_run(
        &healthy(),
        &reporter,
        &ledger,
        &clock,
        80,
        DEFAULT_MAX_CONTINUATIONS,
        first("chain-short"),
    )
    .await;
    let AnalysisRun::Reported(record) = run else {
        panic!("{run:?}")
    };
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record.reason.starts_with(
            "the function's timeout of 80 s leaves no time to measure: this analysis (interval 60s, initial delay 0s) needs a Lambda timeout of at least 86 s"
        ),
        "{}",
        record.reason
    );
    assert!(record.analysis.unwrap().measurements.is_empty());
    assert!(ledger.handoffs().is_empty(), "no self-invocation");
    assert_eq!(statuses(&reporter), [LifecycleStatus::Failed]);
    // 86 s is enough: every run measures before it hands off.
    let clock = SimClock(AtomicI64::new(T0));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let ledger = Ledger::default();
    let mut arrival = first("chain-86");
    let mut runs = 0;
    let record = loop {
        runs += 1;
        let before = match &arrival {
            Arrival::Continued(state) => state.measurements.len(),
            Arrival::First { .. } => 0,
        };
        match one_run(
            &healthy(),
            &reporter,
            &ledger,
            &clock,
            86,
            DEFAULT_MAX_CONTINUATIONS,
            arrival,
        )
        .await
        {
            AnalysisRun::Reported(record) => break record,
            AnalysisRun::HandedOff(next) => {
                assert!(
                    next.measurements.len() > before,
                    "run {runs} measured nothing"
                );
                clock.0.fetch_add(2, Ordering::SeqCst);
                arrival = Arrival::Continued(next);
            }
            AnalysisRun::StoodDown(reason) => panic!("{reason}"),
        }
    };
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert_eq!(record.analysis.unwrap().measurements.len(), 31);
}

#[tokio::test]
async fn reaching_the_continuation_bound_fails_the_hook() {
    let clock = SimClock(AtomicI64::new(T0));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let (record, handoffs) = bake(
        &healthy(),
        &reporter,
        &Ledger::default(),
        first("chain-bound"),
        &clock,
        1,
    )
    .await;
    let record = record.unwrap();
    assert_eq!(handoffs.len(), 1);
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record.reason.starts_with(
            "the analysis reached its bound of 1 continuation (GATE_MAX_CONTINUATIONS)"
        ),
        "{}",
        record.reason
    );
    let analysis = record.analysis.unwrap();
    assert_eq!((analysis.continuations, analysis.max_continuations), (1, 1));
    assert_eq!(statuses(&reporter), [LifecycleStatus::Failed]);
}

#[tokio::test]
async fn a_duplicate_delivery_yields_one_bake_and_one_report() {
    // The same first event twice, the second while the first run measures:
    // it finds the first run's claim and stands down.
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let ledger = Ledger::default();
    ledger.claims.lock().unwrap().insert(1);
    let clock = SimClock(AtomicI64::new(T0));
    let run = one_run(
        &healthy(),
        &reporter,
        &ledger,
        &clock,
        RUN_SECS,
        DEFAULT_MAX_CONTINUATIONS,
        first("duplicate"),
    )
    .await;
    let AnalysisRun::StoodDown(reason) = run else {
        panic!("{run:?}")
    };
    assert!(
        reason.contains("run 1 of this execution's analysis is already running"),
        "{reason}"
    );
    assert!(statuses(&reporter).is_empty());
    assert_eq!(clock.now(), T0, "nothing measured");
}

#[tokio::test]
async fn a_report_that_failed_leaves_the_run_to_lambdas_retry() {
    // The status call fails: the invocation errs and Lambda delivers the same
    // continuation again, which must not stand down as a duplicate.
    let mut handed = AnalysisState::new("chain-retry".into(), T0);
    handed.runs = 2;
    let ledger = Ledger::sealed(&handed);
    let clock = SimClock(AtomicI64::new(T0 + 56 * 60));
    let failing = FakeReporter::answering(Err(ReportError::Api {
        code: Some("ThrottlingException".into()),
        message: "slow down".into(),
    }));
    let run = one_run(
        &healthy(),
        &failing,
        &ledger,
        &clock,
        RUN_SECS,
        DEFAULT_MAX_CONTINUATIONS,
        Arrival::Continued(handed.clone()),
    )
    .await;
    let AnalysisRun::Reported(record) = run else {
        panic!("{run:?}")
    };
    assert!(matches!(record.report, ReportSummary::Failed(_)));
    assert!(ledger.claims.lock().unwrap().is_empty(), "claim released");
    assert_eq!(ledger.seal.lock().unwrap().clone(), Some(Seal::of(&handed)));
    let reporter = FakeReporter::answering(Ok(ReportOutcome::Accepted));
    let retry = one_run(
        &healthy(),
        &reporter,
        &ledger,
        &clock,
        RUN_SECS,
        DEFAULT_MAX_CONTINUATIONS,
        Arrival::Continued(handed),
    )
    .await;
    let AnalysisRun::Reported(record) = retry else {
        panic!("{retry:?}")
    };
    assert_eq!(record.report, ReportSummary::Accepted);
    assert_eq!(statuses(&reporter), [LifecycleStatus::Failed]);
}
