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
mod flags;
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

use super::raw::Location;
use super::{AllowedHost, HookPolicy, Severity};
use crate::vocab::hook::Hook;
use crate::vocab::Side;
use std::collections::BTreeMap;

/// What a walk found: the hook sections when there is no problem, and the
/// warnings either way.
pub(super) struct Validated {
    pub(super) hooks: Result<BTreeMap<Hook, HookPolicy>, PolicyError>,
    pub(super) warnings: Vec<Problem>,
}

/// Parses and validates: every problem in one pass. The unknown fields are
/// found first, by a walk over the YAML itself (serde would stop at the
/// first); then the raw structs are read and the values validated, unless the
/// text is not YAML of the policy's shape at all.
pub(super) fn validate(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
    apply_overrides: bool,
) -> Validated {
    let mut v = Validator {
        source,
        env,
        problems: Vec::new(),
        warnings: Vec::new(),
        side: Side::Canary,
        in_dimension: false,
        apply_overrides,
        list_unset: !apply_overrides,
        unresolved: 0,
        hosts_unresolved: false,
        probe_hosts: None,
        hook: None,
        scored: false,
        severity: Severity::Critical,
    };
    // The shape first: every unknown field and wrong-sort value, and the
    // text with each wrong-sort value replaced by a stand-in, so that serde
    // reads the file anyway and no value problem waits for a second run.
    let shape = super::raw::shape_check(text);
    let hooks = match super::raw::parse_policy(shape.repaired.as_deref().unwrap_or(text)) {
        Ok(raw) => Some(v.policy(raw)),
        Err(err) => {
            v.problems.push(Problem {
                source: source.to_string(),
                line: err.line,
                column: err.column,
                field: String::new(),
                message: problem::first_line(&err.message),
            });
            None
        }
    };
    // What the walk said about a stand-in, and serde's error where the walk
    // already named the place, would say the same thing again.
    let stood_in = |field: &str| {
        shape.repaired_paths.iter().any(|path| {
            field.strip_prefix(path.as_str()).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        })
    };
    let shape_places: Vec<(u64, u64)> = shape.problems.iter().map(|p| (p.line, p.column)).collect();
    // serde's own error carries no field: it is the walk's, when at its place.
    let named_by_the_walk =
        |p: &Problem| p.field.is_empty() && shape_places.contains(&(p.line, p.column));
    v.problems
        .retain(|p| !(stood_in(&p.field) || named_by_the_walk(p)));
    v.warnings.retain(|p| !stood_in(&p.field));
    let mut meant = Vec::new();
    for found in shape.problems {
        meant.extend(found.meant);
        v.problems.push(Problem {
            source: source.to_string(),
            line: found.line,
            column: found.column,
            field: found.path,
            message: found.message,
        });
    }
    // `treshold: 3` is one mistake: "did you mean `threshold`?" says it,
    // and "threshold: missing" would say it again.
    v.problems
        .retain(|p| !(p.message.starts_with("missing") && meant.contains(&p.field)));
    let problems = once_each(v.problems);
    let warnings = once_each(v.warnings);
    let hooks = match hooks {
        Some(hooks) if problems.is_empty() => Ok(hooks),
        _ => Err(PolicyError::Invalid {
            problems,
            warnings: warnings.clone(),
        }),
    };
    Validated { hooks, warnings }
}

/// `problems` in file order, each once: a block reused through a YAML alias
/// (`- *errors` in a second hook) is read again at every use, and problems
/// are placed where a value is defined (`Spanned::defined`: the anchored
/// block, which is where it is fixed), so the same problem comes back with
/// the same place, message and field name, under another hook's path. The
/// first use's path is kept.
fn once_each(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| (p.line, p.column));
    let mut seen = std::collections::BTreeSet::new();
    problems.retain(|p| {
        let field = p.field.rsplit('.').next().unwrap_or_default().to_string();
        p.line == 0 || seen.insert((p.line, p.column, field, p.message.clone()))
    });
    problems
}

/// One walk over a policy file: what it has read that later fields depend on,
/// and every problem found so far.
struct Validator<'a> {
    source: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
    /// What is allowed but probably not meant (a loopback probe host with
    /// no port): reported, never refused.
    warnings: Vec<Problem>,
    /// The side queries are resolved for: a live baseline's queries are the
    /// canary's, validated again with `${canary.KEY}` read as `${baseline.KEY}`.
    side: Side,
    /// Discovered values (`${canary.KEY}`) are only allowed in dimension values.
    in_dimension: bool,
    /// Whether `TARGET_GROUP` and friends replace discovered values at load time.
    apply_overrides: bool,
    /// Whether an unset `${VAR}` is left as written and counted in
    /// `unresolved` instead of refused: `gatectl validate` runs where the
    /// functions' variables are not set, and lists them (README).
    list_unset: bool,
    /// How many unset references have been left as written so far: a field
    /// compares it before and after reading its text to know whether it can
    /// check the value at all.
    unresolved: usize,
    /// A `probe_hosts` entry names an unset variable: a probe URL outside
    /// the other entries cannot be judged.
    hosts_unresolved: bool,
    /// The top-level `probe_hosts`, `None` when the policy has none.
    probe_hosts: Option<Vec<AllowedHost>>,
    /// The hook whose gates are being validated (`baseline: default` depends on it).
    hook: Option<Hook>,
    /// Whether that hook has a `canary_score` (`critical_threshold` needs one).
    scored: bool,
    /// The severity of the gate being validated (`critical_threshold` needs
    /// a critical gate).
    severity: Severity,
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

    /// Records one warning at `at`.
    fn warning(&mut self, at: Location, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
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
        let (side, kept, warned) = (self.side, self.problems.len(), self.warnings.len());
        self.side = Side::Baseline;
        let out = f(self);
        self.side = side;
        self.problems.truncate(kept);
        self.warnings.truncate(warned);
        out
    }
}
