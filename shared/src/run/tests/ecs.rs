//! The ECS-native bake (issue 18): `IN_PROGRESS` rounds carrying the state,
//! the seal that tells ECS's own callbacks from forged `hookDetails`, the
//! same answer for a repeated invocation, and rollbacks answered `SUCCEEDED`.

use super::*;
use crate::analysis::{AnalysisState, Seal};
use crate::run::ecs::{answer_rollback, execute_ecs_round, Carried, EcsBake, EcsRound, SealStore};

/// The seal as SSM would keep it.
#[derive(Default)]
struct MemSeals(Mutex<Option<Seal>>);

impl SealStore for MemSeals {
    async fn seal(&self, _: &Execution) -> Result<Option<Seal>, EvidenceError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn put_seal(&self, _: &Execution, seal: &Seal) -> Result<(), EvidenceError> {
        *self.0.lock().unwrap() = Some(seal.clone());
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
            EcsRound::Repeated { .. } => panic!("repeated"),
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
