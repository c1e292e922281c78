//! Reporting: the status call to CodeDeploy, the decision record, and what
//! follows the report.
//!
//! One model, several outputs (as ripgrep's printers share one search result):
//! [`DecisionRecord`] is built once from the verdict and rendered as a JSON log
//! line, each gate's typed figures written as the record has always shown
//! them (`gate.rs`: [`threshold_text`], [`rule_text`] and a gate's JSON);
//! [`codedeploy`] sends the status; [`emf`] renders its metrics and [`alert`]
//! the message a person gets on `Failed`; [`kill_switch`] turns feature flags
//! off and records it; [`after`] writes the audit chain
//! head and publishes the alert once the status is delivered. None of them
//! recomputes anything.

pub mod after;
pub mod alert;
pub mod codedeploy;
pub mod ecs;
pub mod emf;
mod gate;
pub mod kill_switch;
mod record;

pub use gate::{rule_text, threshold_figure_text, threshold_text};
pub use record::{
    AnalysisSummary, DecisionRecord, DryRunSummary, Omission, OmissionStep, Omitted, PolicyRef,
    ReportSummary, Subject, LOG_EVENT_BOUND, RECORD_KIND,
};

use crate::judge::LifecycleStatus;
use std::future::Future;

/// What became of a status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// CodeDeploy took the status.
    Accepted,
    /// CodeDeploy already had a status for this execution (a duplicate delivery
    /// of the same event): the hook is done, and must not report again.
    AlreadyCompleted,
}

/// Why a status could not be reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// CodeDeploy refused or failed, after the SDK's retries.
    #[error("PutLifecycleEventHookExecutionStatus failed: {message}")]
    Api {
        /// The service's error code, when there is one.
        code: Option<String>,
        /// The full error.
        message: String,
    },
    /// The report did not complete before the invocation's deadline.
    #[error("PutLifecycleEventHookExecutionStatus did not complete before the invocation deadline ({budget_ms} ms left)")]
    TimedOut {
        /// Time that was left for it.
        budget_ms: u64,
    },
}

/// Sends a hook's status to CodeDeploy.
pub trait StatusReporter: Sync {
    /// Reports `status` for one hook execution.
    fn report(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: LifecycleStatus,
    ) -> impl Future<Output = Result<ReportOutcome, ReportError>> + Send;
}
