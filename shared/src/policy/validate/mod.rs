//! Turning a [`RawPolicy`] into a [`Policy`](super::Policy)'s hook sections.
//!
//! The validator walks the whole file and collects problems instead of stopping at
//! the first, each tagged with line, column and a field path such as
//! `hooks.BeforeAllowTraffic.gates[1].threshold`. Defaults are applied here and
//! only here, so the rest of the library never wonders what an absent field meant.
//!
//! This file holds the entry point and the [`Validator`] itself: the state one
//! walk over a file carries, and the problem list it collects. The walk is split
//! by what it reads, one file each, from the top of the file down:
//!
//! - [`hooks`]: the file's version and its hook sections (with their
//!   `canary_score`), and the rule that every section can block;
//! - [`analysis`]: a hook's bake analysis;
//! - [`gates`]: one gate's name, severity and kind, and the `alarms` gate;
//! - [`threshold`]: a threshold gate's window, comparison, threshold and M of N;
//! - [`baseline`]: what a threshold gate compares the canary with;
//! - [`statistics`]: the statistical test that compares them, and the weight;
//! - [`metrics`]: `metric_defaults`, signals, metric queries and dimensions;
//! - [`probes`]: probe gates: request, expectations and limits;
//! - [`hosts`]: `probe_hosts`, and each probe's URL held to them;
//! - [`resolve`]: `${VAR}` and `${canary.KEY}` references in text;
//! - [`scalars`]: durations, and how a wrong scalar is quoted in a message;
//! - [`problem`]: the errors a caller sees.

mod analysis;
mod baseline;
mod gates;
mod hooks;
mod hosts;
mod metrics;
mod probes;
mod problem;
mod resolve;
mod scalars;
mod statistics;
mod threshold;

pub use problem::{PolicyError, Problem};
pub use resolve::{override_variable, DISCOVERY_OVERRIDES};

use super::raw::{Location, RawPolicy};
use super::{AllowedHost, HookPolicy};
use crate::vocab::hook::Hook;
use crate::vocab::Side;
use std::collections::BTreeMap;

/// Parses and validates; on success returns the hook sections.
pub(super) fn validate(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
    apply_overrides: bool,
) -> Result<BTreeMap<Hook, HookPolicy>, PolicyError> {
    let raw: RawPolicy = super::raw::parse_policy(text).map_err(|err| PolicyError::Invalid {
        problems: vec![Problem {
            source: source.to_string(),
            line: err.line,
            column: err.column,
            field: String::new(),
            message: problem::first_line(&err.message),
        }],
    })?;
    let mut v = Validator {
        source,
        env,
        problems: Vec::new(),
        side: Side::Canary,
        in_dimension: false,
        apply_overrides,
        probe_hosts: None,
        hook: None,
    };
    let hooks = v.policy(raw);
    if v.problems.is_empty() {
        Ok(hooks)
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(PolicyError::Invalid {
            problems: v.problems,
        })
    }
}

/// One walk over a policy file: what it has read that later fields depend on,
/// and every problem found so far.
struct Validator<'a> {
    source: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    /// The side queries are resolved for: a live baseline's queries are the
    /// canary's, validated again with `${canary.KEY}` read as `${baseline.KEY}`.
    side: Side,
    /// Discovered values (`${canary.KEY}`) are only allowed in dimension values.
    in_dimension: bool,
    /// Whether `TARGET_GROUP` and friends replace discovered values at load time.
    apply_overrides: bool,
    /// The top-level `probe_hosts`, `None` when the policy has none.
    probe_hosts: Option<Vec<AllowedHost>>,
    /// The hook whose gates are being validated (`baseline: default` depends on it).
    hook: Option<Hook>,
}

impl Validator<'_> {
    /// Records one problem at `at`; the walk carries on.
    fn problem(&mut self, at: Location, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            source: self.source.to_string(),
            line: at.line(),
            column: at.column(),
            field: field.into(),
            message: message.into(),
        });
    }

    /// Runs `f` with queries resolved for the baseline side. Its problems are
    /// dropped: the canary pass over the same text reports them once.
    fn as_baseline<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let (side, kept) = (self.side, self.problems.len());
        self.side = Side::Baseline;
        let out = f(self);
        self.side = side;
        self.problems.truncate(kept);
        out
    }
}
