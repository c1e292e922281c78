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

use crate::policy::{Policy, DISCOVERY_OVERRIDES};
use crate::vocab::Hook;
use std::borrow::Cow;

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
    pub not_judged: Vec<(String, String)>,
}

impl Placement<'_> {
    /// The policy the plan fetches for: [`Placement::policy`] without the
    /// gates that are not judged (itself, not a copy, when there are none).
    pub fn to_fetch(&self, hook: Hook) -> Cow<'_, Policy> {
        if self.not_judged.is_empty() {
            return Cow::Borrowed(&*self.policy);
        }
        let names: Vec<String> = self.not_judged.iter().map(|(n, _)| n.clone()).collect();
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
                let why = format!("not judged: deployment discovery: {error}");
                let not_judged = unbound_dry_runs(&partly, hook, &why);
                (Cow::Owned(partly), not_judged)
            }
        },
        Some(Err(error)) => {
            return Err(Unplaceable(format!(
                "deployment discovery failed: {error}; the gates that name the canary or baseline cannot be judged"
            )))
        }
        None => {
            let why = format!(
                "not judged: it names values deployment discovery would find, and discovery runs only for gates that can block (this one is a dry run); set the override variables ({}) to judge it without discovery",
                DISCOVERY_OVERRIDES.join(", ")
            );
            let not_judged = unbound_dry_runs(policy, hook, &why);
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
/// with the reason it is not judged (naming the values).
fn unbound_dry_runs(policy: &Policy, hook: Hook, why: &str) -> Vec<(String, String)> {
    policy
        .unbound_gates(hook)
        .into_iter()
        .filter(|(_, dry_run, _)| *dry_run)
        .map(|(name, _, refs)| {
            let named: Vec<String> = refs.iter().map(ToString::to_string).collect();
            (name, format!("{why} (it names {})", named.join(", ")))
        })
        .collect()
}

#[cfg(test)]
mod tests;
