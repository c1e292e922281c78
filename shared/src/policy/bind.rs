//! Binding: filling `${canary.KEY}` and `${baseline.KEY}` with what deployment
//! discovery found.
//!
//! Validation resolves environment references at load time, including the
//! explicit overrides (`TARGET_GROUP`, `LOAD_BALANCER`, `BASELINE_TARGET_GROUP`,
//! `BASELINE_LOAD_BALANCER`); what is left are references only the deployment
//! can answer. They are kept verbatim in dimension values until the hook knows
//! its deployment, then bound here, purely, so the plan and the judge only ever
//! see concrete dimensions.

use super::{GateCheck, Policy};
use crate::evidence::discovery::{Discovery, Side, SUBJECT_KEYS};
use crate::hook::Hook;
use std::collections::BTreeSet;

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
pub(super) fn parse_subject(name: &str) -> Option<Result<SubjectRef, String>> {
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
fn references(value: &str) -> impl Iterator<Item = (usize, usize, SubjectRef)> + '_ {
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

/// Why a policy could not be bound to a deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the policy refers to {missing}, which deployment discovery did not find ({found})")]
pub struct BindError {
    /// The first reference without a value.
    pub missing: String,
    /// What discovery did find, for the person reading the reason.
    pub found: String,
}

impl Policy {
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

    /// [`Policy::bind`] that never fails: what discovery could not answer is
    /// left as written (see [`Policy::unbound_gates`]).
    pub fn bind_found(&self, hook: Hook, discovery: &Discovery) -> Policy {
        self.bind_all(hook, discovery).0
    }

    /// The policy with every reference `discovery` can answer filled in. A
    /// reference left unanswered in `hook`'s own section is an error; in the
    /// other sections (a preflight's view) it stays, and the preflight skips it.
    pub fn bind(&self, hook: Hook, discovery: &Discovery) -> Result<Policy, BindError> {
        match self.bind_all(hook, discovery) {
            (bound, None) => Ok(bound),
            (_, Some(reference)) => Err(BindError {
                missing: reference.to_string(),
                found: describe(discovery),
            }),
        }
    }

    fn bind_all(&self, hook: Hook, discovery: &Discovery) -> (Policy, Option<SubjectRef>) {
        let mut bound = self.clone();
        let mut missing: Option<SubjectRef> = None;
        for (section_hook, section) in bound.hooks.iter_mut() {
            let own = *section_hook == hook;
            for gate in &mut section.gates {
                if let GateCheck::Threshold(check) = &mut gate.check {
                    check.map_queries(&mut |query| {
                        for (_, value) in &mut query.dimensions {
                            let (text, unanswered) = bind_value(value, discovery);
                            *value = text;
                            if own && missing.is_none() {
                                missing = unanswered;
                            }
                        }
                    });
                }
            }
        }
        (bound, missing)
    }
}

fn bind_value(value: &str, discovery: &Discovery) -> (String, Option<SubjectRef>) {
    let mut out = String::new();
    let mut last = 0;
    let mut unanswered = None;
    for (start, end, reference) in references(value) {
        out.push_str(&value[last..start]);
        match discovery.side(reference.side).get(&reference.key) {
            Some(found) => out.push_str(found),
            None => {
                out.push_str(&value[start..end]);
                unanswered.get_or_insert(reference);
            }
        }
        last = end;
    }
    out.push_str(&value[last..]);
    (out, unanswered)
}

fn describe(discovery: &Discovery) -> String {
    let side = |values: &crate::evidence::discovery::SubjectValues| {
        if values.is_empty() {
            "nothing".to_string()
        } else {
            values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!(
        "canary: {}; baseline: {}",
        side(&discovery.canary),
        side(&discovery.baseline)
    )
}

/// Whether a dimension value still holds a reference (a preflight skips it).
pub fn is_unbound(value: &str) -> bool {
    references(value).next().is_some()
}
