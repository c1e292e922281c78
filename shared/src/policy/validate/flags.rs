//! Feature flags: the `flag` gate and a hook's `kill_switch` list, both
//! naming an AWS AppConfig flag by application, environment, configuration
//! profile and key. Every part is required and checked against AppConfig's
//! own limits here, so a typo is a validation problem at deploy time rather
//! than a `ResourceNotFoundException` in the middle of a rollback.

use super::Validator;
use crate::policy::limits::MAX_KILL_SWITCH_FLAGS;
use crate::policy::raw::{Location, RawFlag, RawGate, Spanned};
use crate::policy::{FlagCheck, FlagProfile, FlagRef, FlagState};

/// AppConfig's limit on application, environment and profile names (an id
/// is shorter).
const MAX_APPCONFIG_NAME_CHARS: usize = 64;
/// AppConfig's limit on a feature flag's key.
const MAX_FLAG_KEY_CHARS: usize = 64;

impl Validator<'_> {
    /// A `flag` gate: exactly that, and none of the fields of other kinds.
    pub(super) fn flag_gate(
        &mut self,
        gate: &RawGate,
        raw: Spanned<RawFlag>,
        path: &str,
        at: Location,
    ) -> Option<FlagCheck> {
        let others: Vec<&str> = [
            ("metric", gate.metric.is_some()),
            ("ratio", gate.ratio.is_some()),
            (
                "alarms",
                gate.alarms.is_some() || gate.alarm_prefix.is_some(),
            ),
            ("probe", gate.probe.is_some()),
        ]
        .iter()
        .filter(|(_, present)| *present)
        .map(|(field, _)| *field)
        .collect();
        if !others.is_empty() {
            self.problem(at, path, format!("a gate needs exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found `flag` and `{}`", others.join("`, `")));
            return None;
        }
        self.refuse_threshold_fields(
            gate,
            path,
            at,
            "does not apply to a `flag` gate: it holds the flag to `flag.state`",
        );
        let path = format!("{path}.flag");
        let state = raw
            .value
            .state
            .as_ref()
            .map(|state| match state.value.as_str() {
                "enabled" => FlagState::Enabled,
                "disabled" => FlagState::Disabled,
                other => {
                    self.problem(
                        state.defined,
                        format!("{path}.state"),
                        format!("expected `enabled` or `disabled`, found {other:?}"),
                    );
                    FlagState::Enabled
                }
            });
        let flag = self.flag_ref(&raw, &path)?;
        Some(FlagCheck {
            flag,
            expect: state.unwrap_or(FlagState::Enabled),
        })
    }

    /// A hook's `kill_switch`: the flags turned off when it reports `Failed`.
    pub(super) fn kill_switch(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<RawFlag>>>>,
        path: &str,
    ) -> Vec<FlagRef> {
        let Some(raw) = raw else {
            return Vec::new();
        };
        if raw.value.len() > MAX_KILL_SWITCH_FLAGS {
            self.problem(
                raw.defined,
                format!("{path}.kill_switch"),
                format!("at most {MAX_KILL_SWITCH_FLAGS} flags, found {}: the decision record lists each one", raw.value.len()),
            );
        }
        if raw.value.is_empty() {
            self.problem(
                raw.defined,
                format!("{path}.kill_switch"),
                "name at least one flag, or leave `kill_switch` out",
            );
        }
        let mut flags: Vec<FlagRef> = Vec::new();
        for (i, flag) in raw.value.iter().enumerate() {
            let field = format!("{path}.kill_switch[{i}]");
            if let Some(state) = &flag.value.state {
                self.problem(
                    state.defined,
                    format!("{field}.state"),
                    "a kill switch always turns its flag off: leave `state` out",
                );
            }
            if let Some(found) = self.flag_ref(flag, &field) {
                if flags.contains(&found) {
                    self.problem(flag.defined, &field, format!("flag {found} is named twice"));
                } else {
                    flags.push(found);
                }
            }
        }
        flags
    }

    /// The four parts of a flag's address, each required.
    fn flag_ref(&mut self, raw: &Spanned<RawFlag>, path: &str) -> Option<FlagRef> {
        let flag = &raw.value;
        let mut part = |value: &Option<Spanned<String>>, name: &str, key: bool| {
            let field = format!("{path}.{name}");
            let Some(value) = value else {
                self.problem(raw.defined, &field, format!("required: the flag's {name}"));
                return None;
            };
            let text = self.text(value, &field);
            let chars = text.chars().count();
            let limit = if key {
                MAX_FLAG_KEY_CHARS
            } else {
                MAX_APPCONFIG_NAME_CHARS
            };
            if text.trim().is_empty() || chars > limit {
                self.problem(
                    value.defined,
                    &field,
                    format!("1 to {limit} characters (AppConfig's limit), found {chars}"),
                );
                return None;
            }
            if key
                && !(text.starts_with(|c: char| c.is_ascii_alphabetic())
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
            {
                self.problem(value.defined, &field, format!("a flag key starts with a letter and uses letters, digits, '_' and '-' (AppConfig's rule), found {text:?}"));
                return None;
            }
            if text.chars().any(char::is_control) {
                self.problem(
                    value.defined,
                    &field,
                    format!("control characters are not allowed, found {text:?}"),
                );
                return None;
            }
            Some(text)
        };
        let application = part(&flag.application, "application", false);
        let environment = part(&flag.environment, "environment", false);
        let profile = part(&flag.profile, "profile", false);
        let key = part(&flag.key, "key", true);
        Some(FlagRef {
            profile: FlagProfile {
                application: application?,
                environment: environment?,
                profile: profile?,
            },
            key: key?,
        })
    }
}
