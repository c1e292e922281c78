//! One gate: its name and severity, which kind of check it is (exactly one of
//! `metric`, `ratio`, `alarms`, `probe` or `flag`), and the `alarms` gate, whose check
//! is no more than names. The threshold, probe and flag gates have files of their
//! own ([`super::threshold`], [`super::probes`], [`super::flags`]); the fields only a threshold
//! gate reads are listed here, once, for the other kinds to refuse by name.

use super::metrics::Defaults;
use super::Validator;
use crate::policy::limits::{
    MAX_CLOUDWATCH_NAME_CHARS, MAX_DESCRIPTION_CHARS, MAX_GATE_NAME_CHARS,
};
use crate::policy::raw::{Location, RawGate, Spanned};
use crate::policy::{AlarmCheck, Gate, GateCheck, Severity};

impl Validator<'_> {
    pub(super) fn gate(
        &mut self,
        raw: Spanned<RawGate>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<Gate> {
        let at = raw.defined;
        let mut raw = raw.value;
        let name = raw.name.value.clone();
        let description = raw.description.take();
        if let Some(chars) = description
            .as_ref()
            .map(|d| d.chars().count())
            .filter(|chars| *chars > MAX_DESCRIPTION_CHARS)
        {
            self.problem(
                at,
                format!("{path}.description"),
                format!("at most {MAX_DESCRIPTION_CHARS} characters, found {chars}"),
            );
        }
        let dry_run = raw.dry_run.unwrap_or(false);
        self.gate_name(&raw.name, path);
        let severity = self.severity(raw.severity.as_ref(), path);
        self.severity = severity;
        let check = self.gate_check(raw, path, at, defaults)?;
        Some(Gate {
            name,
            description,
            severity,
            dry_run,
            check,
        })
    }

    fn gate_name(&mut self, name: &Spanned<String>, path: &str) {
        let chars = name.value.chars().count();
        if chars > MAX_GATE_NAME_CHARS {
            // Not quoted: it is what is too long.
            self.problem(
                name.defined,
                format!("{path}.name"),
                format!("at most {MAX_GATE_NAME_CHARS} characters, found {chars}: every decision record names every gate, and must fit one CloudWatch Logs event"),
            );
        } else if name.value.is_empty()
            || !name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.problem(
                name.defined,
                format!("{path}.name"),
                format!(
                    "gate names use letters, digits, '-', '_' and '.', found {:?}",
                    name.value
                ),
            );
        }
    }

    fn severity(&mut self, raw: Option<&Spanned<String>>, path: &str) -> Severity {
        match raw {
            None => Severity::Critical,
            Some(s) => match s.value.as_str() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                other => {
                    self.problem(
                        s.defined,
                        format!("{path}.severity"),
                        format!("expected `critical` or `warning`, found {other:?}"),
                    );
                    Severity::Critical
                }
            },
        }
    }

    /// What the gate checks. A probe is told apart first, as it names its
    /// own conflicts, and so is a flag; otherwise exactly one of `metric`,
    /// `ratio` and `alarms`.
    fn gate_check(
        &mut self,
        mut raw: RawGate,
        path: &str,
        at: Location,
        defaults: &Defaults,
    ) -> Option<GateCheck> {
        if let Some(flag) = raw.flag.take() {
            return self.flag_gate(&raw, flag, path, at).map(GateCheck::Flag);
        }
        if let Some(probe) = raw.probe.take() {
            let check = self.probe_gate(&raw, probe, path, at)?;
            return Some(GateCheck::Probe(Box::new(check)));
        }
        let sources = [
            raw.metric.is_some(),
            raw.ratio.is_some(),
            raw.alarms.is_some() || raw.alarm_prefix.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            self.problem(
                at,
                path,
                format!(
                    "a gate needs exactly one of `metric`, `ratio`, `alarms`, `probe` or `flag`, found {sources}"
                ),
            );
            return None;
        }
        if raw.alarms.is_some() || raw.alarm_prefix.is_some() {
            Some(GateCheck::Alarms(self.alarm_check(&raw, path, at)))
        } else {
            let check = self.threshold_check(raw, path, at, defaults)?;
            Some(GateCheck::Threshold(Box::new(check)))
        }
    }

    fn alarm_check(&mut self, raw: &RawGate, path: &str, at: Location) -> AlarmCheck {
        self.refuse_threshold_fields(
            raw,
            path,
            at,
            "does not apply to an `alarms` gate: the alarm's own configuration decides its state",
        );
        if let Some(alarms) = raw.alarms.as_ref().filter(|a| a.value.is_empty()) {
            if raw.alarm_prefix.is_none() {
                self.problem(
                    alarms.defined,
                    format!("{path}.alarms"),
                    "name at least one alarm, or an `alarm_prefix`",
                );
            }
        }
        let names = raw
            .alarms
            .iter()
            .flat_map(|a| a.value.iter())
            .enumerate()
            .map(|(i, n)| {
                let field = format!("{path}.alarms[{i}]");
                let name = self.text(n, &field);
                self.cloudwatch_name(n, &name, &field, MAX_CLOUDWATCH_NAME_CHARS);
                name
            })
            .collect();
        let prefix = raw.alarm_prefix.as_ref().map(|p| {
            let text = self.text(p, &format!("{path}.alarm_prefix"));
            self.cloudwatch_name(
                p,
                &text,
                &format!("{path}.alarm_prefix"),
                MAX_CLOUDWATCH_NAME_CHARS,
            );
            if text.trim().is_empty() {
                self.problem(
                    p.defined,
                    format!("{path}.alarm_prefix"),
                    "must not be empty: an empty prefix would watch every alarm in the account",
                );
            }
            text
        });
        AlarmCheck { names, prefix }
    }

    /// A name or value CloudWatch takes (an alarm, a namespace, a metric, a
    /// dimension): at most `limit` characters, no control characters (a NUL
    /// or a newline would reach the API and every log line that names it).
    pub(super) fn cloudwatch_name(
        &mut self,
        raw: &Spanned<String>,
        text: &str,
        path: &str,
        limit: usize,
    ) {
        let chars = text.chars().count();
        if chars > limit {
            self.problem(
                raw.defined,
                path,
                format!("at most {limit} characters (CloudWatch's limit), found {chars}"),
            );
        } else if text.chars().any(char::is_control) {
            self.problem(
                raw.defined,
                path,
                format!("control characters are not allowed, found {:?}", text),
            );
        }
    }

    /// Names, one problem each, the threshold-gate fields a gate of another
    /// kind sets, with `why` they do not apply to it.
    pub(super) fn refuse_threshold_fields(
        &mut self,
        raw: &RawGate,
        path: &str,
        at: Location,
        why: &str,
    ) {
        for (field, present) in threshold_fields(raw) {
            if present {
                self.problem(at, format!("{path}.{field}"), why);
            }
        }
    }
}

/// The fields only a threshold gate reads, in the order they are reported,
/// each with whether `raw` sets it.
fn threshold_fields(raw: &RawGate) -> [(&'static str, bool); 17] {
    [
        ("comparison", raw.comparison.is_some()),
        ("threshold", raw.threshold.is_some()),
        ("window", raw.window.is_some()),
        ("period", raw.period.is_some()),
        ("evaluation_periods", raw.evaluation_periods.is_some()),
        ("datapoints_to_alarm", raw.datapoints_to_alarm.is_some()),
        ("missing_data", raw.missing_data.is_some()),
        ("min_sample", raw.min_sample.is_some()),
        ("baseline", raw.baseline.is_some()),
        (
            "pass_if_not_worse_than",
            raw.pass_if_not_worse_than.is_some(),
        ),
        ("test", raw.test.is_some()),
        ("alpha", raw.alpha.is_some()),
        ("weight", raw.weight.is_some()),
        ("direction", raw.direction.is_some()),
        ("nan_strategy", raw.nan_strategy.is_some()),
        ("effect_size", raw.effect_size.is_some()),
        ("critical_threshold", raw.critical_threshold.is_some()),
    ]
}
