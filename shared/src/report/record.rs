//! The decision record: one JSON line per invocation, the audit trail of a hook.

use super::{ReportError, ReportOutcome};
use crate::evidence::deployment::DeploymentInfo;
use crate::hook::Hook;
use crate::judge::{GateResult, LifecycleStatus};
use serde::Serialize;

/// Schema name and version of the record, so log queries can filter on it.
pub const RECORD_KIND: &str = "codedeploy-gates.decision.v1";

/// Which policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRef {
    /// File path or the embedded default's name.
    pub source: String,
    /// SHA-256 of the policy text.
    pub digest: String,
}

/// What became of the status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "error")]
pub enum ReportSummary {
    /// CodeDeploy took the status.
    Accepted,
    /// CodeDeploy already had one: this was a duplicate delivery.
    AlreadyCompleted,
    /// The report failed; the invocation returns an error so Lambda retries it.
    Failed(String),
}

impl From<&Result<ReportOutcome, ReportError>> for ReportSummary {
    fn from(result: &Result<ReportOutcome, ReportError>) -> Self {
        match result {
            Ok(ReportOutcome::Accepted) => ReportSummary::Accepted,
            Ok(ReportOutcome::AlreadyCompleted) => ReportSummary::AlreadyCompleted,
            Err(error) => ReportSummary::Failed(error.to_string()),
        }
    }
}

/// A finished bake analysis, as the final record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalysisSummary {
    /// The analysis' chain id.
    pub chain: String,
    /// When it started (epoch seconds).
    pub started_at: i64,
    /// How many Lambda runs carried it.
    pub runs: u32,
    /// Every measurement, oldest first.
    pub measurements: Vec<crate::analysis::Measurement>,
}

/// What a hook in dry run would have reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunSummary {
    /// The verdict's status; `Succeeded` was reported regardless.
    pub would_have_reported: LifecycleStatus,
}

/// One hook execution's decision, with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Always [`RECORD_KIND`].
    pub record: &'static str,
    /// The deployment gated.
    pub deployment_id: String,
    /// The hook execution reported on.
    pub lifecycle_event_hook_execution_id: String,
    /// Which hook.
    pub hook: Hook,
    /// What was reported (or would have been, if the report failed).
    pub status: LifecycleStatus,
    /// Set when the hook runs in dry run: what the verdict was, although
    /// `Succeeded` was reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunSummary>,
    /// Why, in one line.
    pub reason: String,
    /// The freeze and override switches as read, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switches: Option<crate::evidence::switches::Switches>,
    /// Why the switches could not be read (the hook then fails closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_error: Option<String>,
    /// Every gate's figures.
    pub gates: Vec<GateResult>,
    /// What CodeDeploy said.
    pub report: ReportSummary,
    /// The deployment as CodeDeploy describes it, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentInfo>,
    /// Why the deployment could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_error: Option<String>,
    /// What deployment discovery found (canary and baseline), when the policy needed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::evidence::discovery::Discovery>,
    /// Why deployment discovery failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_error: Option<String>,
    /// The policy that decided.
    pub policy: PolicyRef,
    /// The evaluation instant, epoch seconds.
    pub evaluated_at: i64,
    /// Wall time from invocation to report, milliseconds.
    pub elapsed_ms: u64,
    /// The bake analysis behind the verdict: every measurement, for hooks with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSummary>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, when running on Lambda.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_version: Option<String>,
    /// This library's version.
    pub gate_version: &'static str,
    /// The record's place in its deployment's hash chain (see [`crate::audit`]).
    /// Set by [`DecisionRecord::seal`]; last, so a reader sees it after the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<crate::audit::AuditLink>,
}

impl DecisionRecord {
    /// Links the record into its chain with `link` and computes its digest
    /// over everything else it says. Call once the record is complete: any
    /// later change breaks the chain, which is the point.
    pub fn seal(&mut self, link: crate::audit::AuditLink) {
        self.audit = Some(link);
        let digest = serde_json::to_value(&*self)
            .map(|value| crate::audit::record_digest(&value))
            .unwrap_or_default();
        if let Some(audit) = self.audit.as_mut() {
            audit.digest = digest;
        }
    }

    /// The record as one JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Serialising plain data cannot fail; if it ever does, still say what was decided.
            format!(
                "{{\"record\":\"{RECORD_KIND}\",\"status\":\"{}\",\"serialization_error\":{:?}}}",
                self.status,
                e.to_string()
            )
        })
    }
}
