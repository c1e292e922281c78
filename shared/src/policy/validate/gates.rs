//! One gate: its name and severity, which kind of check it is (exactly one of
//! `metric`, `ratio`, `alarms` or `probe`), and the `alarms` gate, whose check
//! is no more than names. The threshold and probe gates have files of their
//! own ([`super::threshold`], [`super::probes`]).

use super::metrics::Defaults;
use super::Validator;
use crate::policy::raw::{RawGate, Spanned};
use crate::policy::{AlarmCheck, Gate, GateCheck, Severity};

impl Validator<'_> {
    pub(super) fn gate(
        &mut self,
        raw: Spanned<RawGate>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<Gate> {
        let at = raw.referenced;
        let mut raw = raw.value;
        let name = raw.name.value.clone();
        let description = raw.description.take();
        let raw_dry_run = raw.dry_run.unwrap_or(false);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.problem(
                raw.name.referenced,
                format!("{path}.name"),
                format!("gate names use letters, digits, '-', '_' and '.', found {name:?}"),
            );
        }
        let severity = match &raw.severity {
            None => Severity::Critical,
            Some(s) => match s.value.as_str() {
                "critical" => Severity::Critical,
                "warning" => Severity::Warning,
                other => {
                    self.problem(
                        s.referenced,
                        format!("{path}.severity"),
                        format!("expected `critical` or `warning`, found {other:?}"),
                    );
                    Severity::Critical
                }
            },
        };
        if let Some(probe) = raw.probe.take() {
            let check = self.probe_gate(&raw, probe, path, at)?;
            return Some(Gate {
                name,
                description,
                severity,
                dry_run: raw_dry_run,
                check: GateCheck::Probe(Box::new(check)),
            });
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
                    "a gate needs exactly one of `metric`, `ratio`, `alarms` or `probe`, found {sources}"
                ),
            );
            return None;
        }
        let check = if raw.alarms.is_some() || raw.alarm_prefix.is_some() {
            for (field, present) in [
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
            ] {
                if present {
                    self.problem(at, format!("{path}.{field}"), "does not apply to an `alarms` gate: the alarm's own configuration decides its state");
                }
            }
            if let Some(alarms) = raw.alarms.as_ref().filter(|a| a.value.is_empty()) {
                if raw.alarm_prefix.is_none() {
                    self.problem(
                        alarms.referenced,
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
                .map(|(i, n)| self.text(n, &format!("{path}.alarms[{i}]")))
                .collect();
            let prefix = raw.alarm_prefix.as_ref().map(|p| {
                let text = self.text(p, &format!("{path}.alarm_prefix"));
                if text.trim().is_empty() {
                    self.problem(
                        p.referenced,
                        format!("{path}.alarm_prefix"),
                        "must not be empty: an empty prefix would watch every alarm in the account",
                    );
                }
                text
            });
            GateCheck::Alarms(AlarmCheck { names, prefix })
        } else {
            GateCheck::Threshold(Box::new(self.threshold_check(raw, path, at, defaults)?))
        };
        Some(Gate {
            name,
            description,
            severity,
            dry_run: raw_dry_run,
            check,
        })
    }
}
