//! The judge's last step: from gate results to the hook's verdict. Which
//! gates block, and the one line that says so, are decided here and nowhere
//! else; renderers read [`GateResult::blocking`] and the verdict's reason.

use super::{GateOutcome, GateResult, LifecycleStatus, Verdict};
use crate::policy::{InconclusiveAction, Severity};

/// The hook's verdict from its gate results.
pub fn combine(on_inconclusive: InconclusiveAction, mut gates: Vec<GateResult>) -> Verdict {
    for gate in &mut gates {
        gate.blocking = gate.blocks(on_inconclusive);
    }
    let blocking: Vec<&GateResult> = gates.iter().filter(|g| g.blocking).collect();
    let is_critical = |g: &&GateResult| g.severity == Severity::Critical && !g.dry_run;
    let critical = gates.iter().filter(is_critical).count();
    // Shadow-mode gates that would have blocked, named in the reason so a
    // dry run is visible in the one line people read.
    let shadow: Vec<String> = gates
        .iter()
        .filter(|g| g.dry_run && g.would_block(on_inconclusive))
        .map(|g| format!("{} [{}]", g.name, g.outcome))
        .collect();
    let (status, reason) = if critical == 0 {
        (
            LifecycleStatus::Failed,
            "no critical gate was evaluated; a hook with nothing to check does not pass"
                .to_string(),
        )
    } else if blocking.is_empty() {
        let inconclusive = gates
            .iter()
            .filter(is_critical)
            .filter(|g| g.outcome == GateOutcome::Inconclusive)
            .count();
        let mut reason = match critical {
            1 => "the critical gate passed".to_string(),
            n => format!("all {n} critical gates passed"),
        };
        if inconclusive > 0 {
            reason = format!(
                "{} of {critical} critical gates passed; {inconclusive} inconclusive, allowed by on_inconclusive: pass",
                critical - inconclusive
            );
        }
        (LifecycleStatus::Succeeded, reason)
    } else {
        let details: Vec<String> = blocking
            .iter()
            .map(|g| format!("{} [{}]: {}", g.name, g.outcome, g.reason))
            .collect();
        (
            LifecycleStatus::Failed,
            format!(
                "{} of {critical} critical gates blocked: {}",
                blocking.len(),
                details.join("; ")
            ),
        )
    };
    let reason = if shadow.is_empty() {
        reason
    } else {
        format!(
            "{reason}; dry run, would have blocked: {}",
            shadow.join(", ")
        )
    };
    Verdict {
        status,
        reason,
        gates,
    }
}
