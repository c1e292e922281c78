//! What happens once CodeDeploy has the status: the audit chain's head is
//! written and, on `Failed`, a person is alerted.
//!
//! Both come strictly after the report and neither can change it: the verdict
//! is CodeDeploy's already. They run concurrently, each bounded by the time the
//! invocation has left, and a failure is logged loudly and counted in the
//! metrics ([`super::emf`]) rather than turned into an invocation error, which
//! would make Lambda retry a hook whose status is already delivered.

use super::alert::{alert_for, AlertSink};
use super::DecisionRecord;
use crate::audit::HeadStore;
use std::fmt;
use std::time::Duration;
use tokio::time::timeout;

/// What became of the chain head's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditWrite {
    /// The head now names this record.
    Written,
    /// The record is not chained (no head kept, or it could not be read).
    NotChained,
    /// The write failed; the next record will fork the chain at this one.
    Failed(String),
}

/// What became of the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOutcome {
    /// No alert was due (not `Failed`, or a duplicate delivery).
    NotDue,
    /// One was due but no topic is configured (`GATE_ALERT_TOPIC_ARN` unset).
    NoTopic,
    /// Published.
    Sent,
    /// Publishing failed.
    Failed(String),
}

impl fmt::Display for AuditWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditWrite::Written => f.write_str("written"),
            AuditWrite::NotChained => f.write_str("not chained"),
            AuditWrite::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl fmt::Display for AlertOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertOutcome::NotDue => f.write_str("not due"),
            AlertOutcome::NoTopic => f.write_str("due, no topic configured"),
            AlertOutcome::Sent => f.write_str("sent"),
            AlertOutcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// The outcome of the steps after the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterReport {
    /// The chain head's write.
    pub audit_write: AuditWrite,
    /// The alert.
    pub alert: AlertOutcome,
}

/// Writes the chain head of `record` to `heads` and publishes its alert, if
/// one is due, to `alerts` (`None`: no topic), both within `budget`.
pub async fn after_report<H: HeadStore, S: AlertSink>(
    record: &DecisionRecord,
    heads: &H,
    alerts: Option<&S>,
    budget: Duration,
) -> AfterReport {
    let head = record.audit.as_ref().and_then(|link| link.head());
    let write = async {
        let Some(head) = head else {
            return AuditWrite::NotChained;
        };
        match timeout(budget, heads.write_head(&head)).await {
            Ok(Ok(())) => AuditWrite::Written,
            Ok(Err(error)) => AuditWrite::Failed(error.to_string()),
            Err(_) => AuditWrite::Failed(format!(
                "did not complete in the {} ms the invocation had left",
                budget.as_millis()
            )),
        }
    };
    let alert = async {
        let Some(alert) = alert_for(record) else {
            return AlertOutcome::NotDue;
        };
        let Some(sink) = alerts else {
            return AlertOutcome::NoTopic;
        };
        match timeout(budget, sink.publish(&alert.subject, &alert.message)).await {
            Ok(Ok(())) => AlertOutcome::Sent,
            Ok(Err(why)) => AlertOutcome::Failed(why),
            Err(_) => AlertOutcome::Failed(format!(
                "did not complete in the {} ms the invocation had left",
                budget.as_millis()
            )),
        }
    };
    let (audit_write, alert) = tokio::join!(write, alert);
    if let AuditWrite::Failed(why) = &audit_write {
        tracing::error!(
            deployment = %record.deployment_id,
            hook = %record.hook,
            error = %why,
            "AUDIT CHAIN HEAD NOT WRITTEN: the next record of this deployment will fork the chain here; the status was reported regardless"
        );
    }
    if let AlertOutcome::Failed(why) = &alert {
        tracing::error!(
            deployment = %record.deployment_id,
            hook = %record.hook,
            error = %why,
            "ALERT NOT SENT: the hook reported Failed but the SNS message could not be published"
        );
    }
    AfterReport { audit_write, alert }
}
