//! The ECS-native bake (issue 18): `IN_PROGRESS` rounds carrying the state,
//! the seal that tells ECS's own callbacks from forged `hookDetails`, the
//! same answer for a repeated invocation, and rollbacks answered `SUCCEEDED`.

use super::*;
use crate::analysis::{AnalysisState, Seal};
use crate::run::ecs::{
    answer_rollback, execute_ecs_round, give_up_rollback_check, Carried, EcsBake, EcsRound,
    SealStore, LONGEST_ROUND_SECS, OVERLAP_RECHECK_DELAY_SECS,
};

/// The seal and the rounds claimed (when), as SSM would keep them; claiming
/// fails while the third field is set (SSM unreachable).
#[derive(Default)]
struct MemSeals(
    Mutex<Option<Seal>>,
    Mutex<std::collections::BTreeMap<u32, i64>>,
    std::sync::atomic::AtomicBool,
);

impl MemSeals {
    fn claims(&self) -> Vec<u32> {
        self.1.lock().unwrap().keys().copied().collect()
    }

    /// Round `round` claimed at `at` by another invocation.
    fn claimed_elsewhere(&self, round: u32, at: i64) {
        assert!(self.1.lock().unwrap().insert(round, at).is_none());
    }
}

impl SealStore for MemSeals {
    async fn seal(&self, _: &Execution) -> Result<Option<Seal>, EvidenceError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn put_seal(&self, _: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        *self.0.lock().unwrap() = Some(seal.clone());
        Ok(())
    }
    async fn claim(&self, execution: &Execution, round: u32) -> Result<bool, EvidenceError> {
        if self.2.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EvidenceError::Api {
                service: "SSM",
                operation: "PutParameter",
                message: "ThrottlingException: Rate exceeded".into(),
            });
        }
        let mut claims = self.1.lock().unwrap();
        if claims.contains_key(&round) {
            return Ok(false);
        }
        claims.insert(round, execution.now);
        Ok(true)
    }
    async fn claimed_at(&self, _: &Execution, round: u32) -> Result<Option<i64>, EvidenceError> {
        Ok(self.1.lock().unwrap().get(&round).copied())
    }
    async fn drop_claims(&self, _: &Execution, rounds: u32) -> Result<(), EvidenceError> {
        self.1.lock().unwrap().retain(|round, _| *round > rounds);
        Ok(())
    }
}

const STAGE: Hook = Hook::EcsProductionTrafficShift;

fn ecs_policy() -> Policy {
    let yaml = crate::policy::DEFAULT_POLICY_YAML.replace(
        "  BeforeAllowTraffic: &production-gates\n    on_inconclusive: fail\n    gates:\n",
        "  BeforeAllowTraffic: &production-gates\n    on_inconclusive: fail\n    gates: &gates\n",
    ) + "\n  PRODUCTION_TRAFFIC_SHIFT:\n    analysis: { duration: 3m, interval: 1m }\n    gates: *gates\n";
    Policy::from_yaml(&yaml, "ecs.yaml", &env).unwrap()
}

fn at(now: i64) -> Execution {
    Execution {
        hook: STAGE,
        deployment_id: "ecs.web-cluster.web.01275892".into(),
        execution_id: "exec-ecs-1".into(),
        now,
        ..execution(STAGE, Duration::from_secs(60))
    }
}

async fn round(
    policy: &Policy,
    metrics: &(impl MetricSource + AlarmSource),
    seals: &MemSeals,
    now: i64,
    carried: Carried,
) -> EcsRound {
    let analysis = policy.hook(STAGE).unwrap().analysis.unwrap();
    let providers = Providers {
        metrics,
        alarms: metrics,
        deployments: &FakeCodeDeploy,
        reporter: &crate::report::ecs::ReturnedToEcs,
        switches: &crate::evidence::switches::NoSwitches,
        probes: &NoProbes,
        flags: &crate::evidence::NoFlags,
    };
    execute_ecs_round(
        policy,
        &at(now),
        providers,
        judge,
        EcsBake {
            analysis: &analysis,
            seals,
            carried,
            max_rounds: 20,
        },
    )
    .await
}

/// Plays ECS: calls back after each delay with the state returned, until
/// the stage concludes. Returns the record and the states seen.
async fn play(
    policy: &Policy,
    metrics: &(impl MetricSource + AlarmSource),
    seals: &MemSeals,
) -> (DecisionRecord, Vec<(u32, AnalysisState)>) {
    let mut now = NOW;
    let mut carried = Carried::Nothing;
    let mut rounds = Vec::new();
    for _ in 0..20 {
        match round(policy, metrics, seals, now, carried).await {
            EcsRound::Concluded(record) => return (*record, rounds),
            EcsRound::InProgress {
                state,
                callback_delay_secs,
                ..
            } => {
                now += i64::from(callback_delay_secs);
                rounds.push((callback_delay_secs, state.clone()));
                // Through JSON, as hookDetails travels.
                carried = Carried::State(AnalysisState::from_json(&state.to_json(), now).unwrap());
            }
            other => panic!("expected IN_PROGRESS or a conclusion, got {other:?}"),
        }
    }
    panic!("no conclusion in 20 rounds");
}

#[tokio::test]
async fn a_healthy_bake_answers_in_progress_then_succeeded() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let (record, rounds) = play(
        &policy,
        &FakeCloudWatch {
            delay: Duration::ZERO,
        },
        &seals,
    )
    .await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert!(rounds.len() >= 3, "{} rounds", rounds.len());
    // One measurement per invocation, a minute apart: ECS waits, not Lambda.
    for (i, (delay, state)) in rounds.iter().enumerate() {
        assert_eq!(*delay, 60, "round {i}");
        assert_eq!(state.measurements.len(), i + 1);
        assert_eq!(state.runs as usize, i + 2);
    }
    let analysis = record.analysis.expect("the record carries the bake");
    assert_eq!(analysis.measurements.len(), rounds.len() + 1);
    assert_eq!(record.hook, STAGE);
    assert!(seals
        .0
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .concluded
        .is_some());
}

#[tokio::test]
async fn a_regression_ends_the_bake_failed() {
    let policy = ecs_policy();
    let (record, _) = play(&policy, &BadCloudWatch, &MemSeals::default()).await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(record.reason.contains("error-rate"), "{}", record.reason);
}

#[tokio::test]
async fn forged_or_unsealed_hook_details_fail_the_stage() {
    let policy = ecs_policy();
    let healthy = FakeCloudWatch {
        delay: Duration::ZERO,
    };
    let seals = MemSeals::default();
    let EcsRound::InProgress { state, .. } =
        round(&policy, &healthy, &seals, NOW, Carried::Nothing).await
    else {
        panic!("expected IN_PROGRESS");
    };
    // Edited on the way (or written into the service's hookDetails): the
    // measurements say more than was measured.
    let mut forged = state.clone();
    forged.measurements.extend(forged.measurements.clone());
    forged.measurements.extend(forged.measurements.clone());
    let EcsRound::Concluded(record) =
        round(&policy, &healthy, &seals, NOW + 60, Carried::State(forged)).await
    else {
        panic!("a forged state must conclude");
    };
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(
        record.reason.contains("forged or edited"),
        "{}",
        record.reason
    );

    // A state no seal vouches for (another function's, or invented).
    let EcsRound::Concluded(record) = round(
        &policy,
        &healthy,
        &MemSeals::default(),
        NOW + 60,
        Carried::State(state),
    )
    .await
    else {
        panic!("an unsealed state must conclude");
    };
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(record.reason.contains("forged"), "{}", record.reason);

    let EcsRound::Concluded(record) = round(
        &policy,
        &healthy,
        &MemSeals::default(),
        NOW,
        Carried::Unusable("not an object".into()),
    )
    .await
    else {
        panic!("an unusable state must conclude");
    };
    assert_eq!(record.status, LifecycleStatus::Failed);
}

#[tokio::test]
async fn the_same_execution_invoked_again_gets_the_same_answer() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let (record, rounds) = play(&policy, &BadCloudWatch, &seals).await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    let last = rounds.last().map(|(_, state)| state.clone());
    for carried in [
        Carried::Nothing,
        last.map_or(Carried::Nothing, Carried::State),
    ] {
        match round(
            &policy,
            &FakeCloudWatch {
                delay: Duration::ZERO,
            },
            &seals,
            NOW + 600,
            carried,
        )
        .await
        {
            EcsRound::Repeated { status, reason } => {
                assert_eq!(status, LifecycleStatus::Failed, "{reason}");
                assert!(reason.contains("already concluded"), "{reason}");
            }
            other => panic!("expected the same answer, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_rollback_is_answered_succeeded_even_under_a_freeze() {
    let policy = ecs_policy();
    let reporter = crate::report::ecs::ReturnedToEcs;
    let freeze = FakeSwitches(Ok(
        (Some("{\"reason\": \"incident\"}".to_string()), None).into()
    ));
    let providers = Providers {
        metrics: &BadCloudWatch,
        alarms: &BadCloudWatch,
        deployments: &FakeCodeDeploy,
        reporter: &reporter,
        switches: &freeze,
        probes: &NoProbes,
        flags: &crate::evidence::NoFlags,
    };
    let record = answer_rollback(
        &policy,
        &at(NOW),
        providers,
        "the service deployment is ROLLBACK_IN_PROGRESS".into(),
    )
    .await;
    assert_eq!(record.status, LifecycleStatus::Succeeded);
    assert!(
        record.reason.contains("ROLLBACK_IN_PROGRESS"),
        "{}",
        record.reason
    );
    assert!(record.gates.is_empty());
}

/// Healthy numbers, counting the metric queries: a repeated answer must not
/// measure.
#[derive(Default)]
struct CountingCloudWatch(std::sync::atomic::AtomicUsize);

impl CountingCloudWatch {
    fn queries(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl MetricSource for CountingCloudWatch {
    async fn metric_data(&self, request: &MetricRequest) -> Result<MetricData, EvidenceError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        FakeCloudWatch {
            delay: Duration::ZERO,
        }
        .metric_data(request)
        .await
    }

    async fn metric_exists(&self, _: &MetricIdentity) -> Result<bool, EvidenceError> {
        Ok(true)
    }
}

impl AlarmSource for CountingCloudWatch {
    async fn alarm_states(&self, _: &[String]) -> Result<AlarmStates, EvidenceError> {
        Ok(AlarmStates::new())
    }
}

/// The state an `IN_PROGRESS` answer carried, as ECS passes it back.
fn in_progress(round: EcsRound) -> (AnalysisState, u32, String) {
    match round {
        EcsRound::InProgress {
            state,
            callback_delay_secs,
            reason,
        } => (
            AnalysisState::from_json(&state.to_json(), NOW + 3600).unwrap(),
            callback_delay_secs,
            reason,
        ),
        other => panic!("expected IN_PROGRESS, got {other:?}"),
    }
}

fn failed(round: EcsRound) -> String {
    match round {
        EcsRound::Concluded(record) => {
            assert_eq!(record.status, LifecycleStatus::Failed, "{}", record.reason);
            record.reason
        }
        other => panic!("expected FAILED, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retried_round_gets_its_in_progress_answer_again_without_measuring() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let (first, delay, _) =
        in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    assert_eq!(delay, 60);
    let (second, delay, _) = in_progress(
        round(
            &policy,
            &metrics,
            &seals,
            NOW + 60,
            Carried::State(first.clone()),
        )
        .await,
    );
    assert_eq!(delay, 60);
    let (queries, sealed) = (metrics.queries(), seals.0.lock().unwrap().clone());

    // ECS retries the second round 5 s later: the same state again, the
    // delay still until the next measurement is due, nothing measured, the
    // seal where it was.
    let (repeated, delay, reason) = in_progress(
        round(
            &policy,
            &metrics,
            &seals,
            NOW + 65,
            Carried::State(first.clone()),
        )
        .await,
    );
    assert_eq!(repeated, second);
    assert_eq!(delay, 55);
    assert!(reason.contains("repeat"), "{reason}");
    assert_eq!(metrics.queries(), queries, "the repeat measured");
    assert_eq!(
        *seals.0.lock().unwrap(),
        sealed,
        "the repeat moved the seal"
    );

    // The first round retried after the bake moved on is stale: ECS calls
    // back with the last answer, never with one two rounds old.
    let (third, _, _) = in_progress(
        round(
            &policy,
            &metrics,
            &seals,
            NOW + 120,
            Carried::State(second.clone()),
        )
        .await,
    );
    assert_eq!(third.measurements.len(), 3);
    let stale = failed(round(&policy, &metrics, &seals, NOW + 125, Carried::State(first)).await);
    assert!(stale.contains("stale"), "{stale}");
    assert!(stale.contains("round 2"), "{stale}");
}

#[tokio::test]
async fn a_retried_first_round_gets_its_answer_again_and_a_late_one_is_stale() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let (first, _, _) = in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    let queries = metrics.queries();
    let (repeated, delay, _) =
        in_progress(round(&policy, &metrics, &seals, NOW + 2, Carried::Nothing).await);
    assert_eq!(repeated, first);
    assert_eq!(delay, 58);
    assert_eq!(metrics.queries(), queries);

    in_progress(round(&policy, &metrics, &seals, NOW + 60, Carried::State(first)).await);
    let stale = failed(round(&policy, &metrics, &seals, NOW + 61, Carried::Nothing).await);
    assert!(stale.contains("stale"), "{stale}");
    assert!(stale.contains("without"), "{stale}");
}

/// Two rounds of a bake: returns the state the second was invoked with.
async fn two_rounds(
    policy: &Policy,
    metrics: &CountingCloudWatch,
    seals: &MemSeals,
) -> AnalysisState {
    let (first, _, _) = in_progress(round(policy, metrics, seals, NOW, Carried::Nothing).await);
    in_progress(
        round(
            policy,
            metrics,
            seals,
            NOW + 60,
            Carried::State(first.clone()),
        )
        .await,
    );
    first
}

#[tokio::test]
async fn a_previous_round_edited_or_of_another_execution_still_fails_closed() {
    let policy = ecs_policy();
    let metrics = CountingCloudWatch::default();
    let seals = MemSeals::default();
    let mut edited = two_rounds(&policy, &metrics, &seals).await;
    edited.measurements[0].reason = "all fine, trust me".into();
    let reason = failed(round(&policy, &metrics, &seals, NOW + 65, Carried::State(edited)).await);
    assert!(reason.contains("forged or edited"), "{reason}");

    let seals = MemSeals::default();
    let mut other = two_rounds(&policy, &metrics, &seals).await;
    other.chain = "exec-other".into();
    let reason = failed(round(&policy, &metrics, &seals, NOW + 65, Carried::State(other)).await);
    assert!(reason.contains("another execution"), "{reason}");
    assert!(reason.contains("exec-other"), "{reason}");
}

#[test]
fn an_unanswered_rollback_check_asks_again_then_fails_closed() {
    use crate::run::ecs::{
        rollback_unanswered, RollbackUnanswered, ROLLBACK_CHECK_TRIES, ROLLBACK_CHECK_WINDOW_SECS,
        ROLLBACK_RECHECK_DELAY_SECS,
    };
    let mut carried = None;
    let mut now = NOW;
    for tries in 1..=ROLLBACK_CHECK_TRIES {
        match rollback_unanswered(carried.as_ref(), now, "ECS timed out") {
            RollbackUnanswered::AskAgain {
                recheck,
                callback_delay_secs,
                reason,
            } => {
                assert_eq!((recheck.tries, recheck.since), (tries, NOW));
                assert_eq!(callback_delay_secs, ROLLBACK_RECHECK_DELAY_SECS);
                assert!(reason.contains("neither passed nor blocked"), "{reason}");
                carried = Some(serde_json::to_value(recheck).unwrap());
            }
            other => panic!("try {tries}: {other:?}"),
        }
        now += i64::from(ROLLBACK_RECHECK_DELAY_SECS);
    }
    let RollbackUnanswered::GiveUp(reason) =
        rollback_unanswered(carried.as_ref(), now, "ECS timed out")
    else {
        panic!("no end to the asking");
    };
    assert!(reason.contains("failing closed"), "{reason}");
    assert!(reason.contains("ECS timed out"), "{reason}");

    // ECS calling back much later than asked: the window ends it too.
    let late = serde_json::json!({"tries": 1, "since": NOW});
    let at = NOW + ROLLBACK_CHECK_WINDOW_SECS + 1;
    assert!(matches!(
        rollback_unanswered(Some(&late), at, "x"),
        RollbackUnanswered::GiveUp(_)
    ));
    // An unreadable or impossible count fails closed, naming the field.
    for bad in [
        serde_json::json!("many"),
        serde_json::json!({"tries": 1, "since": NOW + 600}),
        serde_json::json!({"tries": 1, "since": NOW, "more": true}),
    ] {
        let RollbackUnanswered::GiveUp(reason) = rollback_unanswered(Some(&bad), NOW, "x") else {
            panic!("{bad} was believed");
        };
        assert!(reason.contains("gate_rollback_check"), "{reason}");
    }
}

#[tokio::test]
async fn a_repeat_long_after_its_round_is_stale() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    // The second round was due at NOW + 60; a repeat of the first a whole
    // interval after that is no retry: ECS would have called back since.
    let stale = failed(round(&policy, &metrics, &seals, NOW + 121, Carried::Nothing).await);
    assert!(stale.contains("stale"), "{stale}");
}

/// The seal keeps a round's measurement (for a retry) and must stay a
/// standard SSM parameter: 4096 bytes, with the longest execution id ECS may
/// send and a reason that JSON escapes at every character.
#[test]
fn a_seal_with_the_longest_id_and_reason_fits_a_standard_parameter() {
    use crate::analysis::Measurement;
    use crate::run::ecs::MEASUREMENT_REASON_BYTES;
    let chain = "x".repeat(crate::event::ecs::EXECUTION_ID_MAX_CHARS);
    let mut state = AnalysisState::new(chain, NOW);
    let took = Measurement {
        at: NOW,
        outcome: crate::judge::GateOutcome::Fail,
        reason: crate::vocab::text::escaped_within(
            &"\"\\".repeat(10_000),
            MEASUREMENT_REASON_BYTES,
        ),
    };
    state.measurements.push(took.clone());
    state.runs = 7;
    let from = Some(AnalysisState::new("y".into(), NOW).digest());
    let seal = Seal::answered(&state, from, Some(took));
    assert!(
        seal.to_text().len() <= 4096,
        "{} bytes",
        seal.to_text().len()
    );
    assert_eq!(Seal::from_text(&seal.to_text()).unwrap(), seal);
}

#[tokio::test]
async fn an_overlapping_invocation_of_a_claimed_round_measures_nothing_and_answers_in_progress() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let (first, _, _) = in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    assert_eq!(seals.claims(), vec![1], "the first round is claimed");
    // Round 2 is being measured by another invocation (it claimed the round
    // and has not sealed yet) when ECS invokes it again.
    seals.claimed_elsewhere(2, NOW + 60);
    let (queries, sealed) = (metrics.queries(), seals.0.lock().unwrap().clone());
    let overlapping = round(
        &policy,
        &metrics,
        &seals,
        NOW + 61,
        Carried::State(first.clone()),
    )
    .await;
    let EcsRound::Overlapping {
        carried,
        callback_delay_secs,
        reason,
    } = overlapping
    else {
        panic!("expected an overlapping IN_PROGRESS, got {overlapping:?}");
    };
    assert_eq!(carried.as_ref(), Some(&first), "hookDetails as they came");
    assert_eq!(callback_delay_secs, OVERLAP_RECHECK_DELAY_SECS);
    assert!(reason.contains("round 2"), "{reason}");
    assert!(reason.contains("claimed"), "{reason}");
    assert_eq!(
        metrics.queries(),
        queries,
        "the overlapping invocation measured"
    );
    assert_eq!(
        *seals.0.lock().unwrap(),
        sealed,
        "the overlapping invocation moved the seal"
    );

    // The first round overlapping in the same way: hookDetails without a
    // state, as they came.
    let fresh = MemSeals::default();
    fresh.claimed_elsewhere(1, NOW);
    match round(&policy, &metrics, &fresh, NOW, Carried::Nothing).await {
        EcsRound::Overlapping { carried: None, .. } => {}
        other => panic!("expected an overlapping first round, got {other:?}"),
    }
    assert_eq!(metrics.queries(), queries);
    assert!(fresh.0.lock().unwrap().is_none(), "sealed without a claim");
}

#[tokio::test]
async fn the_claims_of_a_concluded_execution_are_dropped_with_its_tombstone() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let (record, rounds) = play(
        &policy,
        &FakeCloudWatch {
            delay: Duration::ZERO,
        },
        &seals,
    )
    .await;
    assert_eq!(record.status, LifecycleStatus::Succeeded);
    assert!(rounds.len() >= 3);
    assert!(seals.claims().is_empty(), "left: {:?}", seals.claims());

    // A refused round drops the claims of the rounds before it too.
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let mut edited = two_rounds(&policy, &metrics, &seals).await;
    assert_eq!(seals.claims(), vec![1, 2]);
    edited.measurements[0].reason = "all fine, trust me".into();
    let reason = failed(round(&policy, &metrics, &seals, NOW + 65, Carried::State(edited)).await);
    assert!(reason.contains("forged or edited"), "{reason}");
    assert!(seals.claims().is_empty(), "left: {:?}", seals.claims());
}

#[tokio::test]
async fn a_claim_that_cannot_be_taken_fails_the_stage_closed_without_measuring() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let (first, _, _) = in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    let queries = metrics.queries();
    seals.2.store(true, std::sync::atomic::Ordering::SeqCst);
    let reason = failed(round(&policy, &metrics, &seals, NOW + 60, Carried::State(first)).await);
    assert!(reason.contains("could not be claimed"), "{reason}");
    assert!(reason.contains("Rate exceeded"), "{reason}");
    assert_eq!(metrics.queries(), queries, "measured without a claim");
    let tombstone = seals.0.lock().unwrap().clone().unwrap();
    assert_eq!(
        tombstone.concluded,
        Some(LifecycleStatus::Failed.to_string())
    );
}

#[tokio::test]
async fn a_round_claimed_by_an_invocation_that_never_answered_fails_closed() {
    let policy = ecs_policy();
    let seals = MemSeals::default();
    let metrics = CountingCloudWatch::default();
    let (first, _, _) = in_progress(round(&policy, &metrics, &seals, NOW, Carried::Nothing).await);
    // Round 2 was claimed by an invocation that failed or timed out before
    // sealing: every callback would find it claimed, for ever.
    seals.claimed_elsewhere(2, NOW + 60);
    let queries = metrics.queries();
    let still_running = round(
        &policy,
        &metrics,
        &seals,
        NOW + 60 + LONGEST_ROUND_SECS,
        Carried::State(first.clone()),
    )
    .await;
    assert!(
        matches!(still_running, EcsRound::Overlapping { .. }),
        "{still_running:?}"
    );
    let reason = failed(
        round(
            &policy,
            &metrics,
            &seals,
            NOW + 61 + LONGEST_ROUND_SECS,
            Carried::State(first),
        )
        .await,
    );
    assert!(reason.contains("round 2"), "{reason}");
    assert!(reason.contains("never sealed"), "{reason}");
    assert_eq!(metrics.queries(), queries, "measured a claimed round");
}

/// A rollback question unanswered too long fails the stage, unless the
/// operator's override for it says otherwise: the switches decide as they do
/// everywhere else (an outage of ECS's API must not make an override useless).
#[tokio::test]
async fn a_rollback_check_given_up_fails_closed_unless_an_override_decides() {
    let policy = ecs_policy();
    let reporter = crate::report::ecs::ReturnedToEcs;
    let reason = "ECS did not say whether this deployment is rolling back at 7 invocations";
    let end = |switches: FakeSwitches| {
        let policy = &policy;
        let reporter = &reporter;
        async move {
            let providers = Providers {
                metrics: &BadCloudWatch,
                alarms: &BadCloudWatch,
                deployments: &FakeCodeDeploy,
                reporter,
                switches: &switches,
                probes: &NoProbes,
                flags: &crate::evidence::NoFlags,
            };
            give_up_rollback_check(policy, &at(NOW), providers, reason.to_string()).await
        }
    };

    let record = end(FakeSwitches(Ok((None, None).into()))).await;
    assert_eq!(record.status, LifecycleStatus::Failed);
    assert!(record.reason.contains(reason), "{}", record.reason);
    assert!(record.gates.is_empty());

    let value =
        r#"{"reason": "ECS API outage, INC-9", "by": "alice", "expires": "2099-01-01T00:00:00Z"}"#;
    let record = end(FakeSwitches(Ok((None, Some(value.into())).into()))).await;
    assert_eq!(
        record.status,
        LifecycleStatus::Succeeded,
        "{}",
        record.reason
    );
    assert!(
        record.reason.starts_with("override by alice"),
        "{}",
        record.reason
    );
    assert!(record.reason.contains(reason), "{}", record.reason);
}
