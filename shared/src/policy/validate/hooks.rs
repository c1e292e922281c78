//! The top of a policy file: its `version`, its hook sections, and what a
//! section holds besides gates (`on_inconclusive`, `ingestion_lag`,
//! `preflight`, `canary_score`). The rules that look at a section's gates
//! together live here too: unique names, a score that has tested gates to
//! score, and at least one gate that can block.

use super::metrics::Defaults;
use super::Validator;
use crate::policy::limits::{self, MAX_GATES_PER_HOOK};
use crate::policy::raw::{Location, RawCanaryScore, RawGate, RawHookPolicy, RawPolicy};
use crate::policy::raw::{RawScalar, Spanned};
use crate::policy::{
    BaselineTest, CanaryScore, Gate, GateCheck, HookPolicy, InconclusiveAction, Severity,
    KAYENTA_NO_DATA_LIMIT,
};
use crate::vocab::hook::Hook;
use std::collections::{BTreeMap, BTreeSet};

const DEFAULT_INGESTION_LAG_SECS: i64 = 120;

/// Every section name a policy may use, for a message: the CodeDeploy hooks,
/// then the ECS-native lifecycle stages.
fn known_sections() -> String {
    let names = |hooks: &[Hook]| {
        hooks
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "the CodeDeploy hooks {} or the ECS lifecycle stages {}",
        names(&Hook::ALL),
        names(&Hook::ECS_STAGES)
    )
}

impl Validator<'_> {
    /// The whole file: its version, what every gate inherits
    /// (`metric_defaults`, `probe_hosts`), then each hook section.
    pub(super) fn policy(&mut self, raw: RawPolicy) -> BTreeMap<Hook, HookPolicy> {
        if raw.version.value != 1 {
            self.problem(
                raw.version.defined,
                "version",
                format!(
                    "unsupported policy version {}; this build reads version 1",
                    raw.version.value
                ),
            );
        }
        let defaults = self.defaults(raw.metric_defaults.unwrap_or_default());
        self.probe_hosts = raw.probe_hosts.map(|hosts| self.allowed_hosts(hosts));
        let mut hooks = BTreeMap::new();
        if raw.hooks.value.is_empty() {
            self.problem(
                raw.hooks.defined,
                "hooks",
                format!(
                    "no hook sections: name at least one of {}",
                    known_sections()
                ),
            );
        }
        for (name, section) in raw.hooks.value {
            let Some(hook) = Hook::sections().find(|h| h.as_str() == name) else {
                // A key may be 1,024 characters: named by its first 64.
                let shown: String = name
                    .chars()
                    .take(64)
                    .flat_map(char::escape_default)
                    .collect();
                let shown = if name.chars().count() > 64 {
                    format!("{shown}...")
                } else {
                    shown
                };
                let message =
                    match crate::policy::raw::nearest(&name, Hook::sections().map(Hook::as_str)) {
                        Some(near) => format!("unknown hook \"{shown}\"; did you mean `{near}`?"),
                        None => format!(
                            "unknown hook \"{shown}\"; expected one of {}",
                            known_sections()
                        ),
                    };
                self.problem(section.defined, format!("hooks.{shown}"), message);
                continue;
            };
            let path = format!("hooks.{name}");
            let section = self.hook_section(hook, &name, section, &path, &defaults);
            hooks.insert(hook, section);
        }
        for (hook, section) in &hooks {
            let others = hooks
                .iter()
                .any(|(other, s)| other != hook && !s.kill_switch.is_empty());
            if section.require_kill_switch && !others {
                self.problem(Location::UNKNOWN, format!("hooks.{hook}.require_kill_switch"), "no other hook names a `kill_switch`: the release must be behind a flag that a failing hook turns off");
            }
        }
        hooks
    }

    /// One hook's section: its settings, its gates, then the rules that look
    /// at the gates together.
    fn hook_section(
        &mut self,
        hook: Hook,
        name: &str,
        section: Spanned<RawHookPolicy>,
        path: &str,
        defaults: &Defaults,
    ) -> HookPolicy {
        let section_at = section.defined;
        let section = section.value;
        let on_inconclusive = self.on_inconclusive(section.on_inconclusive, path);
        let ingestion_lag_secs = self.ingestion_lag(section.ingestion_lag, path);
        let preflight = section.preflight.map(|p| p.value).unwrap_or(false);
        let analysis = section
            .analysis
            .map(|a| self.analysis(a, &format!("{path}.analysis")));
        let kill_switch = self.kill_switch(section.kill_switch, path);
        let require_kill_switch = section.require_kill_switch.map(|r| (r.defined, r.value));
        if let Some((at, true)) = require_kill_switch {
            if !preflight {
                self.problem(
                    at,
                    format!("{path}.require_kill_switch"),
                    "is checked by the preflight: set `preflight: true` too",
                );
            }
        }
        let problems_before = self.problems.len();
        self.scored = section.canary_score.is_some();
        let gates = self.hook_gates(hook, name, section.gates, path, defaults);
        let canary_score = section
            .canary_score
            .and_then(|raw| self.canary_score(raw, path, &gates));
        let has_critical = gates
            .iter()
            .any(|g: &Gate| g.severity == Severity::Critical && !g.dry_run)
            || canary_score.is_some();
        let section_policy = HookPolicy {
            on_inconclusive,
            ingestion_lag_secs,
            preflight,
            dry_run: section.dry_run.unwrap_or(false),
            analysis,
            canary_score,
            kill_switch,
            require_kill_switch: require_kill_switch.is_some_and(|(_, r)| r),
            gates,
        };
        if section_policy.gates.len() > MAX_GATES_PER_HOOK {
            self.problem(section_at, format!("{path}.gates"), format!("at most {MAX_GATES_PER_HOOK} gates per hook, found {}: every decision record names every gate, and must fit one CloudWatch Logs event", section_policy.gates.len()));
        } else if self.problems.len() == problems_before {
            let bytes = limits::record_bytes_at_most(&section_policy);
            if bytes > limits::RECORD_BUDGET {
                self.problem(section_at, format!("{path}.gates"), format!("the decision record of this hook could reach {bytes} bytes, more than one CloudWatch Logs event holds ({} bytes): fewer gates, fewer queries, or shorter names and labels", limits::RECORD_BUDGET));
            }
        }
        if !has_critical && !preflight && self.problems.len() == problems_before {
            self.problem(section_at, format!("{path}.gates"), "a hook section needs at least one critical gate that is not a dry run (or `preflight: true`); a hook with nothing that can block would always succeed, so leave the hook out of the AppSpec instead");
        }
        section_policy
    }

    fn on_inconclusive(&mut self, raw: Option<Spanned<String>>, path: &str) -> InconclusiveAction {
        match raw {
            None => InconclusiveAction::Fail,
            Some(s) => match s.value.as_str() {
                "fail" => InconclusiveAction::Fail,
                "pass" => InconclusiveAction::Pass,
                other => {
                    self.problem(
                        s.defined,
                        format!("{path}.on_inconclusive"),
                        format!("expected `fail` or `pass`, found {other:?}"),
                    );
                    InconclusiveAction::Fail
                }
            },
        }
    }

    fn ingestion_lag(&mut self, raw: Option<Spanned<RawScalar>>, path: &str) -> i64 {
        match raw {
            None => DEFAULT_INGESTION_LAG_SECS,
            Some(lag) => {
                let secs = self.duration(&lag, &format!("{path}.ingestion_lag"), true);
                if secs > 3600 {
                    self.problem(lag.defined, format!("{path}.ingestion_lag"), "at most 1h: CodeDeploy waits an hour for a hook, a longer lag judges nothing that happened during it");
                }
                secs
            }
        }
    }

    /// The section's gates in policy order, each name used once.
    fn hook_gates(
        &mut self,
        hook: Hook,
        name: &str,
        raw: Vec<Spanned<RawGate>>,
        path: &str,
        defaults: &Defaults,
    ) -> Vec<Gate> {
        let mut names = BTreeSet::new();
        let mut gates = Vec::new();
        for (i, gate) in raw.into_iter().enumerate() {
            let gate_path = format!("{path}.gates[{i}]");
            if !names.insert(gate.value.name.value.clone()) {
                self.problem(
                    gate.value.name.defined,
                    format!("{gate_path}.name"),
                    format!("duplicate gate name {:?} in {name}", gate.value.name.value),
                );
            }
            self.hook = Some(hook);
            if let Some(gate) = self.gate(gate, &gate_path, defaults) {
                gates.push(gate);
            }
        }
        gates
    }

    fn canary_score(
        &mut self,
        raw: Spanned<RawCanaryScore>,
        path: &str,
        gates: &[Gate],
    ) -> Option<CanaryScore> {
        let field = format!("{path}.canary_score");
        let tested = gates.iter().any(|g| {
            matches!(&g.check, GateCheck::Threshold(t)
                if t.baseline.as_ref().is_some_and(|b| b.test != BaselineTest::PerPeriod))
        });
        if !tested {
            self.problem(raw.defined, &field, "scores the hook's statistically tested gates, and there is none: give gates `baseline` and `test: mann_whitney` or `test: two_proportion`");
        }
        let mut read = |value: Option<Spanned<f64>>, name: &str, default: f64| match value {
            None => default,
            Some(v) => {
                if !(0.0..=100.0).contains(&v.value) {
                    self.problem(
                        v.defined,
                        format!("{field}.{name}"),
                        format!("a score between 0 and 100, found {}", v.value),
                    );
                }
                v.value
            }
        };
        let raw = raw.value;
        let pass = read(raw.pass, "pass", 95.0);
        let marginal = read(raw.marginal, "marginal", 75.0);
        let no_data_limit = match raw.no_data_limit {
            None => KAYENTA_NO_DATA_LIMIT,
            Some(limit) => {
                if !(limit.value > 0.0 && limit.value <= 50.0) {
                    self.problem(
                        limit.defined,
                        format!("{field}.no_data_limit"),
                        format!("the percentage of the scored gates' weight without data that fails the score: above 0 and at most 50 (Kayenta's rule; lower is stricter, higher would let a canary pass on half its evidence), found {}", limit.value),
                    );
                }
                limit.value / 100.0
            }
        };
        if marginal > pass {
            self.problem(
                Location::UNKNOWN,
                &field,
                format!("`marginal` ({marginal}) must not be above `pass` ({pass})"),
            );
        }
        tested.then_some(CanaryScore {
            pass,
            marginal,
            no_data_limit,
        })
    }
}
