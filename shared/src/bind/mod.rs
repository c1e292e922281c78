//! Binding: placing a policy on one deployment. What deployment discovery
//! found fills `${canary.KEY}` and `${baseline.KEY}`, and the deployment's
//! create time places `baseline: before_deployment` windows, so the plan and
//! the judge only ever see concrete queries and windows.
//!
//! Pure: the values come in as arguments (the providers that fetch them are in
//! [`crate::evidence`]), and the same inputs always bind the same way.

mod deployment_start;
mod discovered;

pub use deployment_start::bind_deployment_start;
pub use discovered::{
    bind_discovery, bind_found, BindError, Discovery, EcsTaskSet, LambdaTraffic, SubjectValues,
};

use crate::policy::{override_variable, Policy, SubjectRef};
use crate::vocab::{Hook, Side};
use std::borrow::Cow;
use std::fmt;

/// Why a gate was not judged. Not an outcome of the release (the gate
/// neither passed nor failed) but of the evidence around it: the judge
/// records it on the gate, and renderers write it as `not judged: <why>`.
///
/// The rule (docs/not-judged.md): a dry-run or warning gate that is not
/// judged never blocks and is named in the hook's reason as a note, never as
/// "would have blocked"; a blocking gate that is not judged still blocks
/// (fail closed), its reason saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotJudged {
    /// Nothing to compare the canary with: the baseline's dimensions were
    /// not discovered, or its metric had not one datapoint in the window.
    NoBaseline,
    /// The gate names canary values deployment discovery did not find.
    Undiscovered,
}

impl fmt::Display for NotJudged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotJudged::NoBaseline => "no baseline",
            NotJudged::Undiscovered => "canary not discovered",
        })
    }
}

/// A dry-run gate binding left out: nothing is fetched for it, and the
/// judge records it as not judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// The gate's name.
    pub gate: String,
    /// Why, in a word.
    pub why: NotJudged,
    /// Why, for a person: the values it names and how to supply them.
    pub reason: String,
}

/// A policy placed on one deployment for one hook at one instant: what the
/// plan fetches for and the judge judges.
///
/// The policy is borrowed when nothing had to be filled in or placed (the
/// common case of a policy without `${canary.*}` or `before_deployment`), so a
/// measurement copies it only when binding changed it.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    /// The policy with every discovered value it could use filled in and its
    /// `before_deployment` baselines placed: the judge reads this hook's
    /// section of it, in full.
    pub policy: Cow<'a, Policy>,
    /// Dry-run gates that still name an undiscovered value, each with why it
    /// is not judged: nothing is fetched for them, and the judge records
    /// them as not judged.
    pub not_judged: Vec<LeftOut>,
}

impl Placement<'_> {
    /// The policy the plan fetches for: [`Placement::policy`] without the
    /// gates that are not judged (itself, not a copy, when there are none).
    pub fn to_fetch(&self, hook: Hook) -> Cow<'_, Policy> {
        if self.not_judged.is_empty() {
            return Cow::Borrowed(&*self.policy);
        }
        let names: Vec<String> = self.not_judged.iter().map(|l| l.gate.clone()).collect();
        Cow::Owned(self.policy.without_gates(hook, &names))
    }
}

/// Why a hook cannot judge its blocking gates: discovery failed, or did not
/// find a value they name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unplaceable(pub String);

/// Places `policy` for `hook` at `now` on a deployment:
/// - `discovered`: what discovery found (`None` when it did not run, which it
///   does only when a blocking gate names a discovered value);
/// - `created_at`: the deployment's create time (`None` when no gate of the
///   hook compares with the window before the deployment).
///
/// Binding fails when a blocking gate cannot be bound; a dry-run gate that
/// cannot be is left out and named in [`Placement::not_judged`]. Pure.
pub fn place<'a>(
    policy: &'a Policy,
    hook: Hook,
    discovered: Option<Result<&Discovery, String>>,
    created_at: Option<Result<i64, String>>,
    now: i64,
) -> Result<Placement<'a>, Unplaceable> {
    let (bound, not_judged) = match discovered {
        Some(Ok(found)) => match bind_discovery(policy, hook, found) {
            Ok(bound) => (Cow::Owned(bound), Vec::new()),
            Err(error) => {
                let partly = bind_found(policy, hook, found);
                if !partly.unbound_blocking(hook).is_empty() {
                    return Err(Unplaceable(format!(
                        "deployment discovery: {error}; the gates that name them cannot be judged"
                    )));
                }
                let why = format!("deployment discovery: {error}");
                let not_judged = unbound_dry_runs(&partly, hook, |_| why.clone());
                (Cow::Owned(partly), not_judged)
            }
        },
        Some(Err(error)) => {
            return Err(Unplaceable(format!(
                "deployment discovery failed: {error}; the gates that name the canary or baseline cannot be judged"
            )))
        }
        None => {
            let not_judged = unbound_dry_runs(policy, hook, |refs| {
                format!(
                    "deployment discovery finds these values, and discovery runs only for gates that can block (this one is a dry run); {} to judge it without discovery",
                    how_to_set(refs)
                )
            });
            (Cow::Borrowed(policy), not_judged)
        }
    };
    let policy = match created_at {
        Some(created_at) => Cow::Owned(bind_deployment_start(&bound, hook, created_at, now)),
        None => bound,
    };
    Ok(Placement { policy, not_judged })
}

/// `hook`'s dry-run gates that still name an unbound discovered value, each
/// with why it is not judged: no baseline when every value it lacks is the
/// baseline's, and the reason (`why` of the values, then the values named).
fn unbound_dry_runs(
    policy: &Policy,
    hook: Hook,
    why: impl Fn(&[&SubjectRef]) -> String,
) -> Vec<LeftOut> {
    policy
        .unbound_gates(hook)
        .into_iter()
        .filter(|(_, dry_run, _)| *dry_run)
        .map(|(gate, _, refs)| {
            let refs: Vec<&SubjectRef> = refs.iter().collect();
            let named: Vec<String> = refs.iter().map(ToString::to_string).collect();
            let kind = if refs.iter().all(|r| r.side == Side::Baseline) {
                NotJudged::NoBaseline
            } else {
                NotJudged::Undiscovered
            };
            LeftOut {
                gate,
                why: kind,
                reason: format!("it names {}: {}", named.join(", "), why(&refs)),
            }
        })
        .collect()
}

/// `set BASELINE_TARGET_GROUP`: the variables that fill `refs` without
/// discovery, each once.
fn how_to_set(refs: &[&SubjectRef]) -> String {
    let mut variables: Vec<String> = Vec::new();
    for reference in refs {
        let named = override_variable(reference.side, &reference.key);
        let any = match named {
            [] => continue,
            [one] => one.to_string(),
            many => many.join(" or "),
        };
        if !variables.contains(&any) {
            variables.push(any);
        }
    }
    if variables.is_empty() {
        "no variable fills them".to_string()
    } else {
        format!("set {}", variables.join(" and "))
    }
}

#[cfg(test)]
mod tests;
