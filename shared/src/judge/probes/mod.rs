//! Probe gates: HTTP attempts held to the policy's expectations.
//!
//! Each attempt either meets every expectation (status, latency, body text,
//! JSON value) or fails with the first reasons found; the gate passes when the
//! share of good attempts reaches `min_success` (all of them by default). The
//! reason names the first failing attempt with what was expected and what came,
//! so a person reading one line knows whether to look at the endpoint, the
//! network or the policy. A probe that was not sent (a rehearsal) is
//! inconclusive, never a pass. An attempt the prober refused to connect
//! (the Lambda Runtime API, a link-local or metadata address) makes the gate
//! an error naming the address, whatever `min_success` allows: the policy
//! points where no probe may go, and nothing was measured there.
//!
//! The record keeps each attempt's figures (status, latency, bytes, error),
//! bounded: `repeat` may be in the thousands and a CloudWatch Logs event takes
//! 256 KB, so at most [`MAX_RECORDED_ATTEMPTS`] are listed, failed attempts
//! first chosen, and the record says how many were left out.

use super::{AttemptFigures, GateFigures, GateOutcome, GateResult, ProbeFigures, ProbeGateFigures};
use crate::evidence::probes::{ProbeAttempt, ProbeRun, MAX_BODY_BYTES};
use crate::evidence::EvidenceError;
use crate::policy::{Gate, ProbeCheck};

/// The longest quote of a body or JSON value in a reason.
const MAX_QUOTE_CHARS: usize = 80;

/// The most attempts a probe gate lists in the record.
pub const MAX_RECORDED_ATTEMPTS: usize = 20;

impl ProbeFigures {
    /// The figures of `attempts`; `failed[i]` says whether attempt `i` failed.
    fn new(attempts: &[ProbeAttempt], failed: &[bool]) -> ProbeFigures {
        let failed_count = failed.iter().filter(|f| **f).count();
        let good_room = MAX_RECORDED_ATTEMPTS.saturating_sub(failed_count);
        let mut good_taken = 0;
        let mut failed_taken = 0;
        let listed: Vec<AttemptFigures> = attempts
            .iter()
            .zip(failed)
            .filter(|(_, &failed)| {
                let take = if failed {
                    failed_taken < MAX_RECORDED_ATTEMPTS
                } else {
                    good_taken < good_room
                };
                if take {
                    if failed {
                        failed_taken += 1;
                    } else {
                        good_taken += 1;
                    }
                }
                take
            })
            .map(|(a, &failed)| AttemptFigures {
                index: a.index,
                met: !failed,
                status: a.status,
                latency_ms: a.latency_ms,
                bytes: a.body_bytes,
                error: a.error.as_ref().map(|e| cut(e)),
            })
            .collect();
        ProbeFigures {
            attempts: attempts.len(),
            met: attempts.len() - failed_count,
            not_listed: attempts.len() - listed.len(),
            listed,
        }
    }
}

/// Judges one probe gate.
pub fn judge(
    gate: &Gate,
    check: &ProbeCheck,
    evidence: Option<&Result<ProbeRun, EvidenceError>>,
) -> GateResult {
    let target = format!("{} {}", check.method, check.url);
    let (outcome, reason, failed, figures) = match evidence {
        None => (
            GateOutcome::Error,
            "no probe evidence was collected for this gate".to_string(),
            None,
            None,
        ),
        Some(Err(error)) => (
            GateOutcome::Error,
            format!("probe {target}: evidence unavailable: {error}"),
            None,
            None,
        ),
        Some(Ok(ProbeRun::NotRun(why))) => (
            GateOutcome::Inconclusive,
            format!("probe {target} was not sent: {why}"),
            None,
            None,
        ),
        Some(Ok(ProbeRun::Attempts(attempts))) if attempts.is_empty() => (
            GateOutcome::Error,
            format!("probe {target}: no attempt was made"),
            None,
            None,
        ),
        Some(Ok(ProbeRun::Attempts(attempts))) => judge_attempts(check, &target, attempts),
    };
    let mut result = GateResult::new(&gate.name, gate.severity, outcome, reason);
    result.figures = GateFigures::Probe(ProbeGateFigures {
        max_latency_ms: check.max_latency_ms,
        min_success: check.min_success,
        repeat: check.repeat,
        failed,
        attempts: figures,
    });
    result
}

/// The outcome and reason of a probe gate whose attempts were made, with
/// how many failed and their figures.
fn judge_attempts(
    check: &ProbeCheck,
    target: &str,
    attempts: &[ProbeAttempt],
) -> (GateOutcome, String, Option<usize>, Option<ProbeFigures>) {
    let problems: Vec<Vec<String>> = attempts
        .iter()
        .map(|a| attempt_failures(check, a))
        .collect();
    let failed: Vec<bool> = problems.iter().map(|p| !p.is_empty()).collect();
    let figures = ProbeFigures::new(attempts, &failed);
    let failures: Vec<(&ProbeAttempt, Vec<String>)> = attempts
        .iter()
        .zip(problems)
        .filter(|(_, problems)| !problems.is_empty())
        .collect();
    let total = attempts.len();
    let good = total - failures.len();
    let share = good as f64 / total as f64;
    // A small tolerance so that 9 of 10 meets `90%` despite binary fractions.
    let enough = share + 1e-9 >= check.min_success;
    let latency = latency_summary(attempts);
    let reason = match failures.first() {
        None => format!("probe {target}: all {total} attempts met the expectations ({latency})"),
        Some((attempt, problems)) => format!(
            "probe {target}: {good} of {total} attempts met the expectations, {} required; first failure, attempt {}: {} ({latency})",
            percent(check.min_success),
            attempt.index,
            problems.join("; ")
        ),
    };
    if let Some((attempt, address)) = attempts
        .iter()
        .find_map(|a| a.refused.as_deref().map(|address| (a, address)))
    {
        let reason = format!(
            "probe {target}: attempt {} was not sent: the prober refused to connect to {address}{}; {}",
            attempt.index,
            match attempt.redirects.last() {
                Some(last) => format!(" (after redirects, last to {last})"),
                None => String::new(),
            },
            attempt.error.as_deref().unwrap_or("refused")
        );
        return (
            GateOutcome::Error,
            reason,
            Some(failures.len()),
            Some(figures),
        );
    }
    let outcome = if enough {
        GateOutcome::Pass
    } else {
        GateOutcome::Fail
    };
    (outcome, reason, Some(failures.len()), Some(figures))
}

/// Everything wrong with one attempt, most fundamental first; empty when it
/// met every expectation.
pub fn attempt_failures(check: &ProbeCheck, attempt: &ProbeAttempt) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(error) = &attempt.error {
        problems.push(match attempt.redirects.last() {
            Some(last) => format!("{error} (after redirects, last to {last})"),
            None => error.clone(),
        });
        return problems;
    }
    let Some(status) = attempt.status else {
        problems.push("no status was received".into());
        return problems;
    };
    let expect = &check.expect;
    if !expect.status.iter().any(|s| s.matches(status)) {
        let wanted: Vec<String> = expect.status.iter().map(ToString::to_string).collect();
        problems.push(format!("status {status}, expected {}", wanted.join(" or ")));
    }
    if let Some(max) = check.max_latency_ms {
        if attempt.latency_ms > max {
            problems.push(format!(
                "latency {}ms over max_latency {max}ms",
                attempt.latency_ms
            ));
        }
    }
    let truncated = if attempt.body_truncated {
        format!(" (only the first {MAX_BODY_BYTES} bytes were read: the body is longer)")
    } else {
        String::new()
    };
    if let Some(needle) = &expect.body_contains {
        if !contains(&attempt.body, needle.as_bytes()) {
            problems.push(format!(
                "the body ({} bytes, starting {}) does not contain {}{truncated}",
                attempt.body_bytes,
                quote_bytes(&attempt.body),
                quote(needle)
            ));
        }
    }
    if let Some(expected) = &expect.json_pointer {
        match serde_json::from_slice::<serde_json::Value>(&attempt.body) {
            Err(error) => problems.push(format!(
                "the body is not JSON ({error}; it starts {}){truncated}",
                quote_bytes(&attempt.body)
            )),
            Ok(json) => match json.pointer(&expected.pointer) {
                None => problems.push(format!(
                    "the JSON body has no value at {:?}, expected {}",
                    expected.pointer,
                    json_text(&expected.equals)
                )),
                Some(found) if !json_equal(found, &expected.equals) => problems.push(format!(
                    "JSON {:?} is {}, expected {}",
                    expected.pointer,
                    json_text(found),
                    json_text(&expected.equals)
                )),
                Some(_) => {}
            },
        }
    }
    problems
}

/// JSON equality, except that numbers compare by value: a policy's `1` and a
/// body's `1.0` are the same number.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JSON value for a reason: compact, cut to a bounded length.
fn json_text(value: &serde_json::Value) -> String {
    cut(&value.to_string())
}

fn quote(text: &str) -> String {
    cut(&format!("{text:?}"))
}

/// The start of a body, quoted; non-UTF-8 bytes shown as U+FFFD.
fn quote_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(MAX_QUOTE_CHARS * 4)];
    quote(&String::from_utf8_lossy(head))
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE_CHARS) {
        None => text.to_string(),
        Some((at, _)) => format!("{}...", &text[..at]),
    }
}

/// A share as a percentage, without trailing zeros: `90%`, `99.5%`.
pub(crate) fn percent(fraction: f64) -> String {
    let text = format!("{:.2}", fraction * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Median and maximum latency of the attempts that got an answer.
fn latency_summary(attempts: &[ProbeAttempt]) -> String {
    let mut answered: Vec<u64> = attempts
        .iter()
        .filter(|a| a.error.is_none())
        .map(|a| a.latency_ms)
        .collect();
    if answered.is_empty() {
        return "no attempt was answered".into();
    }
    answered.sort_unstable();
    format!(
        "latency p50 {}ms, max {}ms",
        answered[(answered.len() - 1) / 2],
        answered[answered.len() - 1]
    )
}

#[cfg(test)]
mod tests;
