//! References in a policy's text: `${VAR}` is read from the environment when
//! the policy loads; `${canary.KEY}` (and `${baseline.KEY}`) is left for
//! deployment discovery, or replaced by an overriding variable such as
//! `TARGET_GROUP`. Every text field goes through [`Validator::text`], so this
//! is the one place a reference is resolved or refused.

use super::Validator;
use crate::policy::raw::Spanned;
use crate::policy::reference::parse_subject;
use crate::vocab::Side;

/// Every environment variable that overrides a discovered value.
pub const DISCOVERY_OVERRIDES: &[&str] = &[
    "TARGET_GROUP",
    "LOAD_BALANCER",
    "BASELINE_TARGET_GROUP",
    "BASELINE_LOAD_BALANCER",
];

/// The environment variables that override a discovered value, in order.
pub fn override_variable(side: Side, key: &str) -> &'static [&'static str] {
    match (side, key) {
        (Side::Canary, "target_group") => &["TARGET_GROUP"],
        (Side::Canary, "load_balancer") => &["LOAD_BALANCER"],
        (Side::Baseline, "target_group") => &["BASELINE_TARGET_GROUP"],
        // Blue and green target groups normally sit behind the same load balancer.
        (Side::Baseline, "load_balancer") => &["BASELINE_LOAD_BALANCER", "LOAD_BALANCER"],
        _ => &[],
    }
}

impl Validator<'_> {
    /// Substitutes `${VAR}` references from the environment.
    pub(super) fn text(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let mut out = String::new();
        let mut rest = raw.value.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start + 2..].find('}') else {
                self.problem(
                    raw.referenced,
                    path,
                    format!("unterminated `${{` in {:?}", raw.value),
                );
                return out;
            };
            let var = &rest[start + 2..start + 2 + len];
            if let Some(subject) = parse_subject(var) {
                match subject {
                    Err(message) => self.problem(raw.referenced, path, message),
                    Ok(_) if !self.in_dimension => self.problem(raw.referenced, path, format!("${{{var}}} is filled in by deployment discovery and is only allowed in dimension values")),
                    Ok(mut subject) => {
                        if self.side == Side::Baseline {
                            subject.side = Side::Baseline;
                        }
                        let overrides = if self.apply_overrides {
                            override_variable(subject.side, &subject.key)
                        } else {
                            &[]
                        };
                        let overridden = overrides
                            .iter()
                            .find_map(|name| (self.env)(name).filter(|v| !v.is_empty()));
                        match overridden {
                            Some(value) => out.push_str(&value),
                            None => out.push_str(&subject.to_string()),
                        }
                    }
                }
                rest = &rest[start + 3 + len..];
                continue;
            }
            match (self.env)(var) {
                Some(value) if !value.is_empty() => out.push_str(&value),
                Some(_) => self.problem(raw.referenced, path, format!("environment variable {var} is set but empty")),
                None => self.problem(raw.referenced, path, format!("environment variable {var} is not set (the policy refers to it as ${{{var}}})")),
            }
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        out
    }
}
