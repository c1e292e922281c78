//! Scalars written with a unit: durations (`90s`, `5m`, `1h`, `7d`, or bare
//! seconds), and how any scalar is quoted back in a message. Shared by every
//! part of the walk that reads a duration; probe limits in milliseconds are
//! read in [`super::probes`].

use super::Validator;
use crate::policy::raw::{RawScalar, Spanned};

impl Validator<'_> {
    /// A duration in seconds; 0 only when `zero_ok`. A wrong one is reported
    /// and read as 0 (when allowed) or 60, so the walk can carry on.
    pub(super) fn duration(&mut self, raw: &Spanned<RawScalar>, path: &str, zero_ok: bool) -> i64 {
        let parsed = match &raw.value {
            RawScalar::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < 1e9 => Some(*n as i64),
            RawScalar::Number(_) => None,
            RawScalar::Text(t) => parse_duration(t),
        };
        match parsed {
            Some(secs) if secs > 0 || zero_ok => secs,
            _ => {
                self.problem(
                    raw.defined,
                    path,
                    format!(
                        "expected a duration such as `60s`, `5m` or `1h`{}, found {}",
                        if zero_ok { " (or 0)" } else { "" },
                        describe(&raw.value)
                    ),
                );
                if zero_ok {
                    0
                } else {
                    60
                }
            }
        }
    }
}

/// A scalar as quoted in a message: a number as is, text in quotes.
pub(super) fn describe(raw: &RawScalar) -> String {
    match raw {
        RawScalar::Number(n) => n.to_string(),
        RawScalar::Text(t) => format!("{t:?}"),
    }
}

/// `90s`, `5m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}
