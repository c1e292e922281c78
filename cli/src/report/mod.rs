//! The HTML reports of `gatectl rehearse` and `gatectl backtest`: a summary
//! table on top (every scenario's result, or every gate's over the replay),
//! each row linking to its section, then one chart per gate decision with
//! the gate's reason under it (`chart`). Self-contained: no scripts, no
//! external assets, nothing fetched, so it can be attached to a ticket or a
//! post-mortem and opened offline.
//!
//! A renderer: every outcome, breach, bound and "not judged" it shows is the
//! judge's, read from the records and the replay.

mod chart;

use chart::{Extras, Unit};
use metric_gate::judge::{GateOutcome, GateResult, LifecycleStatus};
use metric_gate::policy::Policy;
use metric_gate::rehearsal::{Rehearsal, Scenario, Step};
use metric_gate::report::{rule_text, threshold_text};
use metric_gate::Hook;
use std::fmt::Write;

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#24292f;background:#f6f8fa;line-height:1.45}\
main{max-width:1400px;margin:0 auto;padding:24px 32px 48px}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 4px;padding-top:12px;border-top:1px solid #d0d7de}\
h3{font-size:15px;margin:22px 0 6px}.meta{color:#57606a;font-size:13px;margin:0 0 16px}\
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0 16px}\
th,td{border:1px solid #d0d7de;padding:5px 10px;text-align:left;vertical-align:top}th{background:#f6f8fa}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;margin:1px 2px 1px 0}\
.pass,.Succeeded{background:#dafbe1;color:#116329}.fail,.error,.Failed{background:#ffebe9;color:#a40e26}\
.inconclusive{background:#fff8c5;color:#7d4e00}.not-judged{background:#eaeef2;color:#57606a}\
.grid{display:flex;flex-wrap:wrap;gap:16px}\
figure.gate{box-sizing:border-box;margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 12px;width:600px}\
figure.gate header{font-size:14px;margin-bottom:2px}figure.gate header small{color:#57606a}\
svg.chart{display:block;max-width:100%;height:auto}\
p.reason{font-size:13px;margin:6px 0 0;color:#24292f;overflow-wrap:anywhere}\
details{font-size:13px;margin:6px 0}summary{cursor:pointer;color:#57606a}\
.traffic{color:#57606a;font-size:13px;margin:4px 0}.why{font-size:14px;margin:0 0 8px;overflow-wrap:anywhere}\
";

/// The page head: title, styles, and the policy that decided.
fn head(title: &str, policy: &Policy) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>{STYLE}</style></head><body><main><h1>{title}</h1><p class=\"meta\">Policy {} <code>{}</code></p>",
        escape(&policy.source),
        escape(&policy.digest)
    )
}

const FOOT: &str = "</main></body></html>\n";

/// An outcome as a badge, or "not judged" and why.
fn outcome_badge(gate: &GateResult) -> String {
    match gate.not_judged {
        Some(why) => format!("<span class=\"badge not-judged\">not judged: {why}</span>"),
        None => format!(
            "<span class=\"badge {}\">{}</span>",
            outcome_class(gate.outcome),
            gate.outcome
        ),
    }
}

fn outcome_class(outcome: GateOutcome) -> &'static str {
    match outcome {
        GateOutcome::Pass => "pass",
        GateOutcome::Inconclusive => "inconclusive",
        GateOutcome::Fail => "fail",
        GateOutcome::Error => "error",
    }
}

/// One gate's figure: its name, outcome, threshold and rule; the chart; its
/// reason under it.
fn figure(id: &str, gate: &GateResult, unit: &Unit, extras: &Extras<'_>, reason: &str) -> String {
    let mut held = Vec::new();
    if !unit.signal.is_empty() {
        held.push(unit.signal.clone());
    }
    if let Some(threshold) = threshold_text(gate) {
        held.push(format!("breaches {threshold}"));
    }
    if let Some(rule) = rule_text(gate) {
        held.push(format!("fails at {rule}"));
    }
    if gate.dry_run {
        held.push("dry run".into());
    }
    if gate.severity == metric_gate::policy::Severity::Warning {
        held.push("warning".into());
    }
    format!(
        "<figure class=\"gate\" id=\"{id}\"><header><b>{}</b> {} <small>{}</small></header>{}<p class=\"reason\">{}</p></figure>",
        escape(&gate.name),
        outcome_badge(gate),
        escape(&held.join(" · ")),
        chart::svg(gate, unit, extras),
        escape(reason)
    )
}

/// An id made of `parts`: letters, digits and `-` only.
fn anchor(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("--")
}

/// A gate's unit, from the policy's definition of it for `hook`.
fn unit(policy: &Policy, hook: Hook, gate: &GateResult) -> Unit {
    let defined = policy
        .hook(hook)
        .and_then(|section| section.gates.iter().find(|g| g.name == gate.name));
    Unit::of(defined, gate)
}

/// Renders rehearsals as one HTML page: the summary of every scenario, then
/// each scenario's hooks with a chart per gate that read a series. Each
/// rehearsal comes with the policy it ran under (an ECS scenario's is the
/// ECS example's unless `--policy` names one), which defines its gates'
/// units; the page's head names `policy`, the one `--policy` chose.
pub fn html(policy: &Policy, rehearsals: &[(Scenario, &Policy, Rehearsal)]) -> String {
    let mut out = head("Rehearsal report", policy);
    let expected = rehearsals
        .iter()
        .filter(|(s, _, r)| r.matches(&s.expect))
        .count();
    let _ = write!(
        out,
        "<p class=\"why\">{expected} of {} scenarios ended as expected.</p><table class=\"summary\" id=\"summary\"><tr><th>Scenario</th><th>Result</th><th>As expected</th><th>Hooks</th></tr>",
        rehearsals.len()
    );
    for (scenario, _, rehearsal) in rehearsals {
        let _ = write!(
            out,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>",
            anchor(&[&scenario.name]),
            escape(&scenario.name),
            ended(rehearsal),
            if rehearsal.matches(&scenario.expect) {
                "<span class=\"badge pass\">yes</span>".to_string()
            } else {
                format!(
                    "<span class=\"badge fail\">no</span> expected {}",
                    scenario.expect.status
                )
            }
        );
        for step in &rehearsal.steps {
            if let Step::Hook { minute, record } = step {
                let _ = write!(
                    out,
                    "<a class=\"badge {}\" href=\"#{}\">T+{minute}m {}</a> ",
                    record.status,
                    hook_anchor(scenario, *minute, record.hook),
                    record.hook
                );
            }
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</table>");
    for (scenario, ran_under, rehearsal) in rehearsals {
        let _ = write!(
            out,
            "<section id=\"{}\"><h2>{} {}</h2><p class=\"meta\">{} · {}</p>",
            anchor(&[&scenario.name]),
            escape(&scenario.name),
            if rehearsal.matches(&scenario.expect) {
                "<span class=\"badge pass\">as expected</span>"
            } else {
                "<span class=\"badge fail\">not as expected</span>"
            },
            escape(&scenario.description),
            ended(rehearsal)
        );
        for step in &rehearsal.steps {
            match step {
                Step::Traffic { minute, share } => {
                    let _ = write!(
                        out,
                        "<p class=\"traffic\">T+{minute:02}m production traffic on the replacement: {}%</p>",
                        share * 100.0
                    );
                }
                Step::Skipped { minute, hook } => {
                    let _ = write!(
                        out,
                        "<p class=\"traffic\">T+{minute:02}m {hook} skipped (no section in the policy)</p>"
                    );
                }
                Step::Hook { minute, record } => {
                    let _ = write!(
                        out,
                        "<h3 id=\"{}\">T+{minute:02}m {} <span class=\"badge {}\">{}</span></h3><p class=\"why\">{}</p>",
                        hook_anchor(scenario, *minute, record.hook),
                        record.hook,
                        record.status,
                        record.status,
                        escape(&record.reason)
                    );
                    let (charted, listed): (Vec<&GateResult>, Vec<&GateResult>) = record
                        .gates
                        .iter()
                        .partition(|g| g.series().is_some_and(|s| !s.is_empty()));
                    if !charted.is_empty() {
                        out.push_str("<div class=\"grid\">");
                        for gate in charted {
                            let id = anchor(&[
                                &scenario.name,
                                &format!("t{minute}"),
                                record.hook.as_str(),
                                &gate.name,
                            ]);
                            let unit = unit(ran_under, record.hook, gate);
                            let reason = match gate.not_judged {
                                Some(why) => {
                                    format!("Not judged: {why}. {}", sentence(&gate.reason))
                                }
                                None => gate.reason.clone(),
                            };
                            out.push_str(&figure(&id, gate, &unit, &Extras::default(), &reason));
                        }
                        out.push_str("</div>");
                    }
                    if !listed.is_empty() {
                        // Open when one of them did not pass.
                        let all_pass = listed.iter().all(|g| g.outcome == GateOutcome::Pass);
                        let _ = write!(
                            out,
                            "<details{}><summary>{} {} without a series ({})</summary><table class=\"gates\"><tr><th>Gate</th><th>Outcome</th><th>Reason</th></tr>",
                            if all_pass { "" } else { " open" },
                            listed.len(),
                            if listed.len() == 1 { "gate" } else { "gates" },
                            if all_pass { "all pass" } else { "not all pass" }
                        );
                        for gate in listed {
                            let _ = write!(
                                out,
                                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                escape(&gate.name),
                                outcome_badge(gate),
                                escape(&gate.reason)
                            );
                        }
                        out.push_str("</table></details>");
                    }
                }
            }
        }
        out.push_str("</section>");
    }
    out.push_str(FOOT);
    out
}

fn ended(rehearsal: &Rehearsal) -> String {
    match (rehearsal.status, rehearsal.decided_by) {
        (LifecycleStatus::Failed, Some(hook)) => {
            format!("<span class=\"badge Failed\">rolled back</span> by {hook}")
        }
        (LifecycleStatus::Failed, None) => "<span class=\"badge Failed\">rolled back</span>".into(),
        (LifecycleStatus::Succeeded, _) => "<span class=\"badge Succeeded\">promoted</span>".into(),
    }
}

fn hook_anchor(scenario: &Scenario, minute: i64, hook: Hook) -> String {
    anchor(&[&scenario.name, &format!("t{minute}"), hook.as_str()])
}

/// A backtest, as the report shows it.
pub struct Backtest<'a> {
    /// The page's title.
    pub title: String,
    /// The hook replayed.
    pub hook: Hook,
    /// Evaluations replayed.
    pub evaluations: u64,
    /// Seconds between two evaluations.
    pub step: i64,
    /// The first evaluation's instant, as people read it.
    pub from: String,
    /// The last evaluation's instant.
    pub to: String,
    /// Evaluations in which the hook would have reported Failed.
    pub failed: u64,
    /// Each gate over the replay.
    pub gates: Vec<BacktestGate>,
    /// The policy replayed.
    pub policy: &'a Policy,
}

/// One gate over a backtest's replay.
pub struct BacktestGate {
    /// Its outcome over the replay (the worst), its figures with the chart's
    /// series, and the reason of the first evaluation with that outcome.
    pub result: GateResult,
    /// When that evaluation was.
    pub worst_at: String,
    /// Evaluations that failed the gate.
    pub failing: u64,
    /// Per charted period, whether the evaluation it stands for failed the gate.
    pub failed_points: Vec<bool>,
}

/// Renders a backtest: the summary of every gate over the window, then one
/// chart per gate, each period the newest judged one of an evaluation, red
/// where that period breached, shaded where the evaluation failed the gate.
pub fn backtest_html(page: &Backtest<'_>) -> String {
    let mut out = head(&escape(&page.title), page.policy);
    let _ = write!(
        out,
        "<p class=\"why\">{} evaluations of {}, every {}s, from {} to {}: the hook would have reported <span class=\"badge {}\">Failed</span> in {} of {}.</p>",
        page.evaluations,
        page.hook,
        page.step,
        escape(&page.from),
        escape(&page.to),
        if page.failed > 0 { "Failed" } else { "Succeeded" },
        page.failed,
        page.evaluations
    );
    out.push_str("<table class=\"summary\" id=\"summary\"><tr><th>Gate</th><th>Worst outcome</th><th>Failing evaluations</th><th>Worst first seen</th></tr>");
    for gate in &page.gates {
        let _ = write!(
            out,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td class=\"num\">{} of {}</td><td>{}</td></tr>",
            anchor(&["gate", &gate.result.name]),
            escape(&gate.result.name),
            outcome_badge(&gate.result),
            gate.failing,
            page.evaluations,
            escape(&gate.worst_at)
        );
    }
    out.push_str("</table><div class=\"grid\">");
    for gate in &page.gates {
        let unit = unit(page.policy, page.hook, &gate.result);
        let extras = Extras {
            failed: Some(&gate.failed_points),
        };
        let reason = match (gate.result.not_judged, gate.result.outcome) {
            (Some(why), _) => format!(
                "Not judged: {why} (first at {}). {}",
                gate.worst_at,
                sentence(&gate.result.reason)
            ),
            (None, GateOutcome::Pass) => format!("Passed in all {} evaluations.", page.evaluations),
            (None, outcome) => format!(
                "Failed in {} of {} evaluations; first {outcome} at {}: {}",
                gate.failing, page.evaluations, gate.worst_at, gate.result.reason
            ),
        };
        out.push_str(&figure(
            &anchor(&["gate", &gate.result.name]),
            &gate.result,
            &unit,
            &extras,
            &reason,
        ));
    }
    out.push_str("</div>");
    out.push_str(FOOT);
    out
}

/// `text` with a capital first letter, to follow a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
