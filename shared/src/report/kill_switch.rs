//! The kill switch's part of the decision record: who turned which flags
//! off, why, and what became of each (the playbook's "turn it off
//! instantly"), and the run of it after the report.
//!
//! Whether a kill switch is due is the judge's decision
//! ([`crate::judge::kill_switch_due`]); this module carries it out and
//! records it. It runs strictly after CodeDeploy took the status, so it can
//! neither delay nor change the report, and only when CodeDeploy *accepted*
//! it: a duplicate delivery of the same event (CodeDeploy answers
//! `LifecycleEventAlreadyCompleted`) finds the flags already handled by the
//! first, and a report that failed is retried by Lambda, whose retry flips
//! them once it gets through. So each flag is written at most once per hook
//! execution, and the writer itself leaves a flag already off alone. A flip
//! that fails is recorded, counted ([`super::emf`]) and named in the alert;
//! it is not retried: a person decides next.

use crate::evidence::{EvidenceError, FlagFlip, FlagWriter};
use crate::judge::KillSwitchDue;
use crate::report::ReportOutcome;
use serde::Serialize;
use std::time::Duration;
use tokio::time::timeout;

/// What the kill switch did, as the record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillSwitchRecord {
    /// Who turned the flags off: this hook, of this deployment's execution.
    pub by: String,
    /// Why: the hook's reason.
    pub why: String,
    /// The hook runs in dry run: nothing was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Why nothing was attempted, when nothing was (a duplicate delivery, a
    /// report that failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Each flag and what became of it, in policy order.
    pub flags: Vec<FlagAction>,
}

impl KillSwitchRecord {
    /// How many flags could not be turned off.
    pub fn failed(&self) -> usize {
        self.flags
            .iter()
            .filter(|f| matches!(f.outcome, FlagOutcome::Failed { .. }))
            .count()
    }

    /// How many flags were turned off by this run.
    pub fn turned_off(&self) -> usize {
        self.flags
            .iter()
            .filter(|f| matches!(f.outcome, FlagOutcome::TurnedOff { .. }))
            .count()
    }
}

/// One flag of the kill switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagAction {
    /// `application/environment/profile:key`.
    pub flag: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: FlagOutcome,
}

/// What became of one flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum FlagOutcome {
    /// A new version with the flag off was deployed.
    TurnedOff {
        /// The deployed version it was made from.
        from_version: i32,
        /// The new hosted configuration version.
        version: i32,
        /// The AppConfig deployment.
        deployment: i32,
        /// The deployment strategy.
        strategy: String,
    },
    /// Already off in the deployed version: nothing written.
    AlreadyOff {
        /// The deployed version.
        version: i32,
    },
    /// Dry run: it would have been turned off.
    WouldTurnOff,
    /// Not attempted (see the record's `skipped`).
    NotAttempted,
    /// The write failed; not retried.
    Failed {
        /// Why.
        error: String,
    },
}

impl From<Result<FlagFlip, EvidenceError>> for FlagOutcome {
    fn from(result: Result<FlagFlip, EvidenceError>) -> Self {
        match result {
            Ok(FlagFlip::TurnedOff {
                from_version,
                version,
                deployment,
                strategy,
            }) => FlagOutcome::TurnedOff {
                from_version,
                version,
                deployment,
                strategy,
            },
            Ok(FlagFlip::AlreadyOff { version }) => FlagOutcome::AlreadyOff { version },
            Err(error) => FlagOutcome::Failed {
                error: error.to_string(),
            },
        }
    }
}

/// Carries out `due` once the report's outcome is known: each flag turned
/// off through `writer`, all at once, within `budget`; nothing attempted
/// unless CodeDeploy accepted the status (see the module's documentation).
pub async fn run_kill_switch<F: FlagWriter>(
    due: KillSwitchDue,
    report: Result<ReportOutcome, String>,
    writer: &F,
    by: String,
    why: String,
    budget: Duration,
) -> KillSwitchRecord {
    let names = due.flags.iter().map(ToString::to_string);
    let skipped = match (&report, due.dry_run) {
        (_, true) => None,
        (Ok(ReportOutcome::Accepted), false) => None,
        (Ok(ReportOutcome::AlreadyCompleted), false) => Some("a duplicate delivery: CodeDeploy already had this hook's status, so the delivery it accepted ran the kill switch".to_string()),
        (Err(error), false) => Some(format!("the status was not delivered ({error}); the retry that delivers it runs the kill switch")),
    };
    let flags = if due.dry_run {
        names
            .map(|flag| FlagAction {
                flag,
                outcome: FlagOutcome::WouldTurnOff,
            })
            .collect()
    } else if skipped.is_some() {
        names
            .map(|flag| FlagAction {
                flag,
                outcome: FlagOutcome::NotAttempted,
            })
            .collect()
    } else {
        let description = format!("kill switch: {by}: {why}");
        let flips = futures_util::future::join_all(due.flags.iter().map(|flag| {
            let description = &description;
            async move {
                let outcome = match timeout(budget, writer.turn_off(flag, description)).await {
                    Ok(result) => FlagOutcome::from(result),
                    Err(_) => FlagOutcome::Failed {
                        error: format!(
                            "did not complete in the {} ms the invocation had left",
                            budget.as_millis()
                        ),
                    },
                };
                FlagAction {
                    flag: flag.to_string(),
                    outcome,
                }
            }
        }))
        .await;
        for failed in flips
            .iter()
            .filter(|f| matches!(f.outcome, FlagOutcome::Failed { .. }))
        {
            tracing::error!(
                flag = %failed.flag,
                outcome = ?failed.outcome,
                "KILL SWITCH FAILED: the flag could not be turned off; the status was reported regardless; turn it off by hand"
            );
        }
        flips
    };
    KillSwitchRecord {
        by,
        why,
        dry_run: due.dry_run,
        skipped,
        flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{FlagProfile, FlagRef};
    use std::sync::Mutex;

    /// Counts the flips it is asked for.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl FlagWriter for Recorder {
        async fn turn_off(&self, flag: &FlagRef, _why: &str) -> Result<FlagFlip, EvidenceError> {
            self.0.lock().unwrap().push(flag.to_string());
            Ok(FlagFlip::TurnedOff {
                from_version: 1,
                version: 2,
                deployment: 2,
                strategy: "AppConfig.AllAtOnce".into(),
            })
        }
    }

    fn due(dry_run: bool) -> KillSwitchDue {
        KillSwitchDue {
            flags: vec![FlagRef {
                profile: FlagProfile {
                    application: "shop".into(),
                    environment: "prod".into(),
                    profile: "flags".into(),
                },
                key: "new_checkout".into(),
            }],
            dry_run,
        }
    }

    async fn run(
        due: KillSwitchDue,
        report: Result<ReportOutcome, String>,
        writer: &Recorder,
    ) -> KillSwitchRecord {
        run_kill_switch(
            due,
            report,
            writer,
            "hook".into(),
            "failed".into(),
            Duration::from_secs(1),
        )
        .await
    }

    #[tokio::test]
    async fn flags_flip_only_when_codedeploy_accepted_the_status() {
        let writer = Recorder::default();
        let accepted = run(due(false), Ok(ReportOutcome::Accepted), &writer).await;
        assert_eq!(accepted.turned_off(), 1);
        let duplicate = run(due(false), Ok(ReportOutcome::AlreadyCompleted), &writer).await;
        assert!(duplicate
            .skipped
            .as_deref()
            .unwrap()
            .contains("duplicate delivery"));
        assert_eq!(duplicate.flags[0].outcome, FlagOutcome::NotAttempted);
        let undelivered = run(due(false), Err("throttled".into()), &writer).await;
        assert!(undelivered.skipped.is_some());
        let dry = run(due(true), Ok(ReportOutcome::Accepted), &writer).await;
        assert_eq!(dry.flags[0].outcome, FlagOutcome::WouldTurnOff);
        assert_eq!(
            writer.0.lock().unwrap().as_slice(),
            ["shop/prod/flags:new_checkout"],
            "one write, by the accepted delivery"
        );
    }
}
