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

/// Whether an environment could hold a variable of this name (POSIX's
/// portable names: letters, digits and `_`, not starting with a digit).
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A name as quoted in a message: control characters escaped, and no more
/// than 64 characters of it.
fn quoted(name: &str) -> String {
    let mut text: String = name
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if name.chars().count() > 64 {
        text.push_str("...");
    }
    text
}

impl Validator<'_> {
    /// [`Validator::text`], and whether the result still holds an unset
    /// `${VAR}` left as written (only under `list_unset`): a check that
    /// needs the value (a host, a URL) cannot be made then.
    pub(super) fn text_resolved(&mut self, raw: &Spanned<String>, path: &str) -> (String, bool) {
        let before = self.unresolved;
        let text = self.text(raw, path);
        (text, self.unresolved > before)
    }

    /// Substitutes `${VAR}` references from the environment.
    pub(super) fn text(&mut self, raw: &Spanned<String>, path: &str) -> String {
        let mut out = String::new();
        let mut rest = raw.value.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start + 2..].find('}') else {
                self.problem(
                    raw.defined,
                    path,
                    format!("unterminated `${{` in {:?}", raw.value),
                );
                return out;
            };
            let var = &rest[start + 2..start + 2 + len];
            if let Some(subject) = parse_subject(var) {
                match subject {
                    Err(message) => self.problem(raw.defined, path, message),
                    Ok(_) if !self.in_dimension => self.problem(raw.defined, path, format!("${{{var}}} is filled in by deployment discovery and is only allowed in dimension values")),
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
            if !is_variable_name(var) {
                // No environment can set it: refused here, not at cold start.
                self.problem(raw.defined, path, format!("`{}` is not a variable name: write `${{NAME}}` with letters, digits and `_`, not starting with a digit", quoted(var)));
                rest = &rest[start + 3 + len..];
                continue;
            }
            match (self.env)(var) {
                Some(value) if !value.is_empty() => out.push_str(&value),
                Some(_) => self.problem(raw.defined, path, format!("environment variable {var} is set but empty")),
                // Listed by the caller (`gatectl validate`), left as written.
                None if self.list_unset => {
                    self.unresolved += 1;
                    out.push_str(&format!("${{{var}}}"));
                }
                None => self.problem(raw.defined, path, format!("environment variable {var} is not set (the policy refers to it as ${{{var}}})")),
            }
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        out
    }
}
