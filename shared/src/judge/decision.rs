//! The judge's last steps: from gate results to the hook's verdict, and from
//! the verdict, dry run and the switches to the hook's decision. Which gates
//! block, what the hook reports, and the one line that says why are decided
//! here and nowhere else; renderers read [`GateResult::blocking`] and the
//! decision.

use super::{GateOutcome, GateResult, LifecycleStatus, Verdict};
use crate::bind::LeftOut;
use crate::evidence::switches::Switches;
use crate::policy::{FlagRef, HookPolicy, InconclusiveAction, Severity};
use crate::vocab::stamp;
use serde::Serialize;

/// The hook's verdict from its gate results.
pub fn combine(on_inconclusive: InconclusiveAction, mut gates: Vec<GateResult>) -> Verdict {
    for gate in &mut gates {
        gate.blocking = gate.blocks(on_inconclusive);
    }
    let blocking: Vec<&GateResult> = gates.iter().filter(|g| g.blocking).collect();
    let is_critical = |g: &&GateResult| g.severity == Severity::Critical && !g.dry_run;
    let critical = gates.iter().filter(is_critical).count();
    // Shadow-mode gates that would have blocked, named in the reason so a
    // dry run is visible in the one line people read. A gate that was not
    // judged would have blocked only for want of evidence, which says
    // nothing about the release: it is a note of its own instead.
    let shadow: Vec<String> = gates
        .iter()
        .filter(|g| g.dry_run && g.not_judged.is_none() && g.would_block(on_inconclusive))
        .map(|g| format!("{} [{}]", g.name, g.outcome))
        .collect();
    let notes: Vec<String> = gates
        .iter()
        .filter(|g| !g.blocking)
        .filter_map(|g| Some(format!("{} not judged: {}", g.name, g.not_judged?)))
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
            .map(|g| match g.not_judged {
                Some(why) => format!("{} [not judged: {why}]: {}", g.name, g.reason),
                None => format!("{} [{}]: {}", g.name, g.outcome, g.reason),
            })
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
    let reason = if notes.is_empty() {
        reason
    } else {
        format!("{reason}; {}", notes.join("; "))
    };
    Verdict {
        status,
        reason,
        gates,
    }
}

/// `verdict` (judged without the `not_judged` gates) with those gates back in
/// policy order, not judged (inconclusive, no evidence), and the hook's
/// status recombined. They are dry-run gates, so they never block; the
/// reason names them as not judged.
pub fn with_not_judged(verdict: Verdict, section: &HookPolicy, not_judged: &[LeftOut]) -> Verdict {
    let left_out = |name: &str| not_judged.iter().any(|l| l.gate == name);
    let kept: Vec<&str> = section
        .gates
        .iter()
        .map(|g| g.name.as_str())
        .filter(|name| !left_out(name))
        .collect();
    let answered = verdict.gates.len() >= kept.len()
        && verdict
            .gates
            .iter()
            .zip(&kept)
            .all(|(g, name)| g.name == *name);
    if not_judged.is_empty() || !answered {
        // Nothing left out, or the judge did not answer gate by gate (it panicked).
        return verdict;
    }
    let mut judged = verdict.gates.into_iter();
    let mut gates: Vec<GateResult> = section
        .gates
        .iter()
        .filter_map(
            |gate| match not_judged.iter().find(|l| l.gate == gate.name) {
                Some(left_out) => {
                    let mut result = GateResult::new(
                        &gate.name,
                        gate.severity,
                        GateOutcome::Inconclusive,
                        left_out.reason.clone(),
                    );
                    result.dry_run = gate.dry_run;
                    // Were it ever not a dry run, no evidence would block.
                    result.no_evidence = true;
                    result.not_judged = Some(left_out.why);
                    Some(result)
                }
                None => judged.next(),
            },
        )
        .collect();
    gates.extend(judged); // the canary score and the preflight's checks
    combine(section.on_inconclusive, gates)
}

impl Verdict {
    /// `Failed` for `reason`, as one critical gate named `gate` in error: the
    /// answer when nothing could be judged (discovery failed, the judgement
    /// panicked), so nothing can pass.
    pub fn failed_closed(gate: &str, reason: String) -> Verdict {
        let mut failed =
            GateResult::new(gate, Severity::Critical, GateOutcome::Error, reason.clone());
        failed.blocking = true;
        Verdict {
            status: LifecycleStatus::Failed,
            reason,
            gates: vec![failed],
        }
    }

    /// `Failed` for `reason`, with no gate at all: the hook has nothing it
    /// could judge (no policy section, an unusable continuation).
    pub fn nothing_judged(reason: String) -> Verdict {
        Verdict {
            status: LifecycleStatus::Failed,
            reason,
            gates: Vec::new(),
        }
    }
}

/// What a hook in dry run would have reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunSummary {
    /// The verdict's status; `Succeeded` was reported regardless.
    pub would_have_reported: LifecycleStatus,
}

/// The switches as the hook read them: interpreted, or why they could not be.
pub type SwitchReading = Result<Switches, String>;

/// The hook's decision: what to report and why, from the gates' verdict, the
/// hook's dry run and the switches. Made once, here; the hooks report it and
/// record it, `gatectl` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What to report to CodeDeploy.
    pub status: LifecycleStatus,
    /// Why, in one line.
    pub reason: String,
    /// The gates' verdict, before dry run and the switches.
    pub verdict: Verdict,
    /// Set when the hook's section is in dry run.
    pub dry_run: Option<DryRunSummary>,
    /// The switches as read, when they were and could be.
    pub switches: Option<Switches>,
    /// Why the switches could not be read (the hook then fails closed).
    pub switch_error: Option<String>,
}

/// Whether a switch is on that decides whatever the gates say (a freeze or
/// an override): a bake analysis stops measuring at once.
pub fn switched(switches: &Switches) -> bool {
    switches.freeze.is_some() || switches.override_.is_some()
}

/// The kill switch a decision calls for: which flags go off, and whether
/// only in dry run (recorded, not written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitchDue {
    /// The hook's `kill_switch` flags.
    pub flags: Vec<FlagRef>,
    /// The hook is in dry run: what would have been turned off is recorded.
    pub dry_run: bool,
}

/// Whether `decision` turns the hook's `kill_switch` flags off: when the
/// gates failed the hook (at least one gate blocked) and the hook reports
/// `Failed`, or would have, in dry run. Not when the hook fails for want of
/// switches or of a policy section with nothing judged (no gate blocked: the
/// release was not shown to misbehave), nor under an override.
pub fn kill_switch_due(decision: &Decision, flags: &[FlagRef]) -> Option<KillSwitchDue> {
    let gates_failed = decision.verdict.status == LifecycleStatus::Failed
        && decision.verdict.gates.iter().any(|g| g.blocking);
    if flags.is_empty() || !gates_failed {
        return None;
    }
    let would_have_failed = decision
        .dry_run
        .as_ref()
        .is_some_and(|d| d.would_have_reported == LifecycleStatus::Failed);
    match decision.status {
        LifecycleStatus::Failed => Some(KillSwitchDue {
            flags: flags.to_vec(),
            dry_run: false,
        }),
        LifecycleStatus::Succeeded
            if would_have_failed
                && decision
                    .switches
                    .as_ref()
                    .is_none_or(|s| s.override_.is_none()) =>
        {
            Some(KillSwitchDue {
                flags: flags.to_vec(),
                dry_run: true,
            })
        }
        LifecycleStatus::Succeeded => None,
    }
}

/// Decides what the hook reports, in this precedence, highest first:
/// 1. switches that could not be read: `Failed` (fail closed);
/// 2. a freeze: `Failed`, whatever the gates or dry run say;
/// 3. an override: `Succeeded`, whatever the gates say;
/// 4. the hook in dry run: `Succeeded`, the verdict recorded;
/// 5. the gates' verdict.
///
/// `switches` is `None` when they were not read at all (nothing to apply).
pub fn decide(verdict: Verdict, dry_run: bool, switches: Option<SwitchReading>) -> Decision {
    let dry_run = dry_run.then_some(DryRunSummary {
        would_have_reported: verdict.status,
    });
    let gates_say = if dry_run.is_some() {
        LifecycleStatus::Succeeded
    } else {
        verdict.status
    };
    let (status, reason, switches, switch_error) = match switches {
        None => (gates_say, verdict.reason.clone(), None, None),
        Some(Err(error)) => (
            LifecycleStatus::Failed,
            format!(
                "could not read the deployment switches (freeze, override): {error}; failing closed (the gates said: {}: {})",
                verdict.status, verdict.reason
            ),
            None,
            Some(error),
        ),
        Some(Ok(switches)) => {
            let (status, reason) = if let Some(freeze) = &switches.freeze {
                let by = freeze
                    .by
                    .as_deref()
                    .map(|b| format!(" (set by {b})"))
                    .unwrap_or_default();
                (
                    LifecycleStatus::Failed,
                    format!(
                        "deployment freeze: {}{by} (the gates said: {}: {})",
                        freeze.reason, verdict.status, verdict.reason
                    ),
                )
            } else if let Some(o) = &switches.override_ {
                (
                    LifecycleStatus::Succeeded,
                    format!(
                        "override by {} until {}: {} (the gates said: {}: {})",
                        o.by,
                        stamp(o.expires),
                        o.reason,
                        verdict.status,
                        verdict.reason
                    ),
                )
            } else {
                (gates_say, verdict.reason.clone())
            };
            (status, reason, Some(switches), None)
        }
    };
    Decision {
        status,
        reason,
        verdict,
        dry_run,
        switches,
        switch_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::switches::{Freeze, Override};
    use LifecycleStatus::{Failed, Succeeded};

    fn verdict(status: LifecycleStatus) -> Verdict {
        Verdict {
            status,
            reason: format!("the gates say {status}"),
            gates: Vec::new(),
        }
    }

    fn freeze() -> Switches {
        Switches {
            freeze: Some(Freeze {
                reason: "quarter end".into(),
                by: Some("ops".into()),
            }),
            ..Switches::default()
        }
    }

    fn override_() -> Switches {
        Switches {
            override_: Some(Override {
                reason: "known slow start".into(),
                by: "alice".into(),
                expires: 1_767_312_000,
            }),
            ..Switches::default()
        }
    }

    /// The precedence, row by row: unreadable switches, freeze, override,
    /// dry run, the gates. Each row would read differently under any other
    /// order.
    #[test]
    fn the_switches_then_dry_run_then_the_gates_decide() {
        let both = Switches {
            override_: override_().override_,
            ..freeze()
        };
        // name, the gates' status, dry run, the switches, reported, reason.
        type Row<'a> = (
            &'a str,
            LifecycleStatus,
            bool,
            Option<SwitchReading>,
            LifecycleStatus,
            &'a str,
        );
        let rows: Vec<Row> = vec![
            ("gates pass", Succeeded, false, None, Succeeded, "the gates say Succeeded"),
            ("gates fail", Failed, false, Some(Ok(Switches::default())), Failed, "the gates say Failed"),
            ("dry run hides a failure", Failed, true, Some(Ok(Switches::default())), Succeeded, "the gates say Failed"),
            ("unreadable switches fail closed", Succeeded, true, Some(Err("throttled".into())), Failed, "could not read the deployment switches (freeze, override): throttled; failing closed (the gates said: Succeeded: the gates say Succeeded)"),
            ("a freeze beats dry run", Succeeded, true, Some(Ok(freeze())), Failed, "deployment freeze: quarter end (set by ops) (the gates said: Succeeded: the gates say Succeeded)"),
            ("a freeze beats an override", Succeeded, false, Some(Ok(both)), Failed, "deployment freeze: quarter end"),
            ("an override beats failing gates", Failed, false, Some(Ok(override_())), Succeeded, "override by alice until 2026-01-02T00:00:00Z: known slow start (the gates said: Failed: the gates say Failed)"),
        ];
        for (name, gates, dry_run, switches, status, reason) in rows {
            let decision = decide(verdict(gates), dry_run, switches);
            assert_eq!(decision.status, status, "{name}");
            assert!(
                decision.reason.starts_with(reason),
                "{name}: {}",
                decision.reason
            );
            assert_eq!(
                decision.verdict.status, gates,
                "{name}: the verdict is kept"
            );
            assert_eq!(
                decision.dry_run.map(|d| d.would_have_reported),
                dry_run.then_some(gates),
                "{name}"
            );
        }
    }

    #[test]
    fn only_a_freeze_or_an_override_decides_by_switch() {
        assert!(switched(&freeze()));
        assert!(switched(&override_()));
        let ignored = Switches {
            ignored_override: Some("expired".into()),
            ..Switches::default()
        };
        assert!(!switched(&ignored));
        let decision = decide(verdict(Failed), false, Some(Ok(ignored)));
        assert!(!decision.switches.as_ref().is_some_and(switched));
        assert_eq!(decision.status, Failed);
    }

    fn blocked(status: LifecycleStatus) -> Verdict {
        let mut gate = GateResult::new(
            "errors",
            Severity::Critical,
            GateOutcome::Fail,
            "3% > 1%".into(),
        );
        gate.blocking = status == Failed;
        Verdict {
            gates: vec![gate],
            ..verdict(status)
        }
    }

    /// The kill switch fires when the gates failed the hook, and only then:
    /// row by row.
    #[test]
    fn the_kill_switch_is_due_when_the_gates_fail_the_hook() {
        let flags = vec![FlagRef {
            profile: crate::policy::FlagProfile {
                application: "shop".into(),
                environment: "prod".into(),
                profile: "flags".into(),
            },
            key: "new_checkout".into(),
        }];
        // name, verdict, dry run, switches, due (dry run?).
        type Row = (
            &'static str,
            Verdict,
            bool,
            Option<SwitchReading>,
            Option<bool>,
        );
        let rows: Vec<Row> = vec![
            (
                "gates fail",
                blocked(Failed),
                false,
                Some(Ok(Switches::default())),
                Some(false),
            ),
            ("gates pass", blocked(Succeeded), false, None, None),
            (
                "dry run records it",
                blocked(Failed),
                true,
                None,
                Some(true),
            ),
            (
                "an override lets it through",
                blocked(Failed),
                false,
                Some(Ok(override_())),
                None,
            ),
            (
                "unreadable switches are no canary failure",
                verdict(Succeeded),
                false,
                Some(Err("x".into())),
                None,
            ),
            (
                "nothing judged is no canary failure",
                verdict(Failed),
                false,
                None,
                None,
            ),
        ];
        for (name, verdict, dry_run, switches, want) in rows {
            let decision = decide(verdict, dry_run, switches);
            let due = kill_switch_due(&decision, &flags).map(|d| d.dry_run);
            assert_eq!(due, want, "{name}");
        }
        let decision = decide(blocked(Failed), false, None);
        assert_eq!(
            kill_switch_due(&decision, &[]),
            None,
            "no flags, nothing due"
        );
    }
}
