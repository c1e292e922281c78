//! References to discovered values, as a policy writes them: `${canary.KEY}`
//! and `${baseline.KEY}` in dimension values, kept verbatim until a hook knows
//! its deployment (the binding, in [`crate::bind`], fills them in), and the
//! policy's own questions about them: which gates still name one, whether a
//! hook needs the deployment's start.

use super::{BaselineSource, GateCheck, Policy};
use crate::vocab::{Hook, Side};
use std::collections::BTreeSet;

/// The keys a policy may refer to as `${canary.KEY}` or `${baseline.KEY}`.
pub const SUBJECT_KEYS: &[&str] = &[
    "target_group",
    "load_balancer",
    "function_name",
    "resource",
    "version",
];

/// A reference to a discovered value, as written in a policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubjectRef {
    /// Canary or baseline.
    pub side: Side,
    /// One of [`SUBJECT_KEYS`].
    pub key: String,
}

impl std::fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${{{}.{}}}", self.side.as_str(), self.key)
    }
}

/// Parses `canary.KEY` / `baseline.KEY` (the text inside `${...}`): `None` when
/// the name is not a subject reference at all, `Err` when it looks like one but
/// names an unknown key.
pub(crate) fn parse_subject(name: &str) -> Option<Result<SubjectRef, String>> {
    let (side, key) = name.split_once('.')?;
    let side = match side {
        "canary" => Side::Canary,
        "baseline" => Side::Baseline,
        _ => return None,
    };
    if !SUBJECT_KEYS.contains(&key) {
        return Some(Err(format!(
            "unknown discovered value ${{{name}}}; expected {side_name}.KEY with KEY one of {}",
            SUBJECT_KEYS.join(", "),
            side_name = side.as_str()
        )));
    }
    Some(Ok(SubjectRef {
        side,
        key: key.to_string(),
    }))
}

/// The references in one dimension value, in order.
pub(crate) fn references(value: &str) -> impl Iterator<Item = (usize, usize, SubjectRef)> + '_ {
    let mut offset = 0;
    std::iter::from_fn(move || loop {
        let start = offset + value[offset..].find("${")?;
        let len = value[start + 2..].find('}')?;
        offset = start + 3 + len;
        if let Some(Ok(reference)) = parse_subject(&value[start + 2..start + 2 + len]) {
            return Some((start, offset, reference));
        }
    })
}

/// Whether a dimension value still holds a reference (a preflight skips it).
pub fn is_unbound(value: &str) -> bool {
    references(value).next().is_some()
}

impl Policy {
    /// Whether `hook`'s own gates compare with the window before the
    /// deployment began, so the hook must know when it began before it asks
    /// for metrics.
    pub fn needs_deployment_start(&self, hook: Hook) -> bool {
        self.hook(hook).is_some_and(|section| {
            section.gates.iter().any(|gate| {
                matches!(&gate.check, GateCheck::Threshold(check)
                    if matches!(check.baseline.as_deref(), Some(b) if matches!(b.source, BaselineSource::BeforeDeployment(_))))
            })
        })
    }

    /// The discovered values `hook`'s own gates need. A preflight's view of
    /// the other hooks does not count: at BeforeInstall the replacement does
    /// not exist yet, so discovery would fail the hook for gates it does not
    /// judge; the preflight skips the queries that still name it.
    pub fn unbound(&self, hook: Hook) -> BTreeSet<SubjectRef> {
        self.unbound_gates(hook)
            .into_iter()
            .flat_map(|(_, _, refs)| refs)
            .collect()
    }

    /// The discovered values `hook`'s gates that can block need: discovery
    /// runs for these only, so a gate in dry run (shadow mode) never makes
    /// the hook depend on discovery, nor adds its round trips.
    pub fn unbound_blocking(&self, hook: Hook) -> BTreeSet<SubjectRef> {
        self.unbound_gates(hook)
            .into_iter()
            .filter(|(_, dry_run, _)| !dry_run)
            .flat_map(|(_, _, refs)| refs)
            .collect()
    }

    /// `hook`'s gates that still name a discovered value: name, whether the
    /// gate is in dry run, and what it names.
    pub fn unbound_gates(&self, hook: Hook) -> Vec<(String, bool, BTreeSet<SubjectRef>)> {
        let mut gates = Vec::new();
        for gate in self.hook(hook).iter().flat_map(|section| &section.gates) {
            if let GateCheck::Threshold(check) = &gate.check {
                let refs: BTreeSet<SubjectRef> = check
                    .all_queries()
                    .flat_map(|query| &query.dimensions)
                    .flat_map(|(_, value)| references(value).map(|(_, _, r)| r))
                    .collect();
                if !refs.is_empty() {
                    gates.push((gate.name.clone(), gate.dry_run, refs));
                }
            }
        }
        gates
    }

    /// The policy without the gates of `hook` named in `names` (dry-run gates
    /// that cannot be judged, so nothing is fetched for them).
    pub fn without_gates(&self, hook: Hook, names: &[String]) -> Policy {
        let mut kept = self.clone();
        if let Some(section) = kept.hooks.get_mut(&hook) {
            section.gates.retain(|gate| !names.contains(&gate.name));
        }
        kept
    }
}

/// How long CloudWatch keeps data of a period, and that rule in words: finer
/// data ages out sooner.
pub fn cloudwatch_retention(period_secs: i64) -> (i64, &'static str) {
    match period_secs {
        p if p < 60 => (3 * 3600, "3 hours for periods under 60s"),
        p if p < 300 => (15 * 86_400, "15 days for 60-second periods"),
        p if p < 3600 => (63 * 86_400, "63 days for 5-minute periods"),
        _ => (455 * 86_400, "455 days for hourly periods"),
    }
}
