//! The scenario file of a rehearsal: how the replacement behaves, minute by
//! minute, and when CodeDeploy runs each hook.
//!
//! A scenario speaks in the terms of a deployment, not of CloudWatch: traffic
//! shares, an error rate, a p95, host counts, and what the replacement answers
//! a smoke probe. [`super::source`] turns that into the datapoints CloudWatch
//! would hold and the answers a probe would get, so the real judgement runs on
//! it.

use crate::policy::PolicyError;
use crate::vocab::hook::{Hook, Platform};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What happens, for people.
    pub description: String,
    /// The outcome the scenario file promises.
    pub expect: Expectation,
    /// Minute (after the deployment starts) at which each hook runs, in lifecycle order.
    pub schedule: Vec<(Hook, i64)>,
    /// Production share on the replacement, as (from minute, fraction), sorted.
    pub traffic: Vec<(i64, f64)>,
    /// Production requests per minute across both versions.
    pub requests_per_minute: f64,
    /// Test-listener requests per minute to the replacement.
    pub test_requests_per_minute: f64,
    /// The replacement's behaviour, sorted by start minute.
    pub canary: Vec<Segment>,
    /// The version being replaced, sorted by start minute (empty: it publishes
    /// nothing). It takes the production traffic the replacement does not.
    pub baseline: Vec<Segment>,
    /// What the replacement answers a smoke probe, sorted by start minute
    /// (empty: the scenario says nothing, and a probe gate is not sent).
    pub probe: Vec<ProbeAnswer>,
}

/// What every attempt of a smoke probe gets from minute `from` on (until the
/// next answer's `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    /// Start minute.
    pub from: i64,
    /// The HTTP status, when the replacement answers.
    pub status: Option<u16>,
    /// How long the answer takes.
    pub latency_ms: u64,
    /// The body of the answer.
    pub body: String,
    /// A transport failure instead of an answer (`connection refused`).
    pub error: Option<String>,
}

/// Which version's target group a metric belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The replacement (green), which also receives the test listener's traffic.
    Canary,
    /// The version being replaced (blue).
    Baseline,
}

/// What a scenario promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// `Succeeded` (promoted) or `Failed` (rolled back).
    pub status: crate::judge::LifecycleStatus,
    /// For a rollback: which hook must have decided it.
    pub decided_by: Option<Hook>,
}

/// The replacement's behaviour from `from` (inclusive) to `to` (exclusive),
/// overriding earlier segments for the fields it sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// Start minute.
    pub from: i64,
    /// End minute, if bounded.
    pub to: Option<i64>,
    /// 5XX share of requests.
    pub error_rate: Option<f64>,
    /// p95 response time, seconds.
    pub p95: Option<f64>,
    /// Healthy targets.
    pub healthy_hosts: Option<f64>,
    /// Unhealthy targets.
    pub unhealthy_hosts: Option<f64>,
    /// Override of the production requests per minute (a traffic dip).
    pub requests_per_minute: Option<f64>,
    /// Nothing at all is published (an ingestion gap).
    pub missing: bool,
}

/// The replacement's state in one minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minute {
    /// Requests reaching the replacement.
    pub requests: f64,
    /// 5XX share.
    pub error_rate: f64,
    /// p95 seconds.
    pub p95: f64,
    /// Healthy targets.
    pub healthy_hosts: f64,
    /// Unhealthy targets.
    pub unhealthy_hosts: f64,
    /// Production share on the replacement.
    pub canary_share: f64,
    /// Nothing published this minute.
    pub missing: bool,
}

impl Scenario {
    /// Which service's lifecycle the scenario schedules: ECS when any of its
    /// hooks is an ECS stage.
    pub fn platform(&self) -> Platform {
        if self
            .schedule
            .iter()
            .any(|(hook, _)| hook.platform() == Platform::Ecs)
        {
            Platform::Ecs
        } else {
            Platform::CodeDeploy
        }
    }

    /// Parses a scenario file. `source` names it in errors.
    pub fn from_yaml(text: &str, source: &str) -> Result<Scenario, PolicyError> {
        let raw: RawScenario = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            invalid(
                source,
                line,
                column,
                "",
                e.to_string().lines().next().unwrap_or("").trim(),
            )
        })?;
        let mut problems = Vec::new();
        let mut schedule: Vec<(Hook, i64)> = Vec::new();
        for (name, at) in &raw.schedule {
            match Hook::sections().find(|h| h.as_str() == name) {
                Some(hook) => {
                    // An ECS linear or canary deployment runs its traffic
                    // stages once a step: a list of minutes.
                    let at: Vec<String> = match at {
                        RawAt::One(at) => vec![at.clone()],
                        RawAt::Many(all) => all.clone(),
                        RawAt::Number(n) => vec![n.to_string()],
                    };
                    for at in &at {
                        schedule.push((
                            hook,
                            minutes(&mut problems, &format!("schedule.{name}"), at),
                        ));
                    }
                }
                None => problems.push(format!("schedule.{name}: unknown hook")),
            }
        }
        schedule.sort_by_key(|(hook, at)| (*at, *hook));
        let mut traffic: Vec<(i64, f64)> = Vec::new();
        for (i, step) in raw.traffic.iter().enumerate() {
            let at = minutes(&mut problems, &format!("traffic[{i}].at"), &step.at);
            traffic.push((at, 0.0));
            let share = parse_share(&step.canary);
            match share {
                Some(s) if (0.0..=1.0).contains(&s) => traffic.last_mut().unwrap().1 = s,
                _ => problems.push(format!(
                    "traffic[{i}].canary: expected a share such as `25%`, found {:?}",
                    step.canary
                )),
            }
        }
        traffic.sort_by_key(|(at, _)| *at);
        let canary = segments(&raw.canary, "canary", &mut problems);
        let baseline = segments(&raw.baseline, "baseline", &mut problems);
        let probe = probe_answers(&raw.probe, &mut problems);
        let status = match raw.expect.status.as_str() {
            "Succeeded" => crate::judge::LifecycleStatus::Succeeded,
            "Failed" => crate::judge::LifecycleStatus::Failed,
            other => {
                problems.push(format!(
                    "expect.status: expected `Succeeded` or `Failed`, found {other:?}"
                ));
                crate::judge::LifecycleStatus::Failed
            }
        };
        let decided_by = raw.expect.decided_by.as_deref().and_then(|name| {
            let hook = Hook::sections().find(|h| h.as_str() == name);
            if hook.is_none() {
                problems.push(format!("expect.decided_by: unknown hook {name:?}"));
            }
            hook
        });
        if schedule.is_empty() {
            problems.push("schedule: name at least one hook and the minute it runs".into());
        }
        if problems.is_empty() {
            Ok(Scenario {
                name: raw.name,
                description: raw.description,
                expect: Expectation { status, decided_by },
                schedule,
                traffic,
                requests_per_minute: raw.requests_per_minute,
                test_requests_per_minute: raw.test_requests_per_minute.unwrap_or(0.0),
                canary,
                baseline,
                probe,
            })
        } else {
            Err(PolicyError::Invalid {
                warnings: Vec::new(),
                problems: problems
                    .into_iter()
                    .map(|p| {
                        let (field, message) = p.split_once(": ").unwrap_or(("", &p));
                        crate::policy::Problem {
                            source: source.to_string(),
                            line: 0,
                            column: 0,
                            field: field.to_string(),
                            message: message.to_string(),
                        }
                    })
                    .collect(),
            })
        }
    }

    /// Production share on the replacement at `minute`.
    pub fn canary_share(&self, minute: i64) -> f64 {
        self.traffic
            .iter()
            .take_while(|(at, _)| *at <= minute)
            .last()
            .map(|(_, share)| *share)
            .unwrap_or(0.0)
    }

    /// What a smoke probe gets during `minute`, if the scenario says.
    pub fn probe_answer(&self, minute: i64) -> Option<&ProbeAnswer> {
        self.probe.iter().take_while(|a| a.from <= minute).last()
    }

    /// The replacement's state during `minute`.
    pub fn minute(&self, minute: i64) -> Minute {
        self.version_minute(Version::Canary, minute)
    }

    /// One version's state during `minute`.
    pub fn version_minute(&self, version: Version, minute: i64) -> Minute {
        let mut state = Minute {
            requests: 0.0,
            error_rate: 0.0,
            p95: 0.0,
            healthy_hosts: 0.0,
            unhealthy_hosts: 0.0,
            canary_share: self.canary_share(minute),
            missing: false,
        };
        let mut rpm = self.requests_per_minute;
        let segments = match version {
            Version::Canary => &self.canary,
            Version::Baseline => &self.baseline,
        };
        for segment in segments {
            if segment.from > minute || segment.to.is_some_and(|to| minute >= to) {
                continue;
            }
            if let Some(v) = segment.error_rate {
                state.error_rate = v;
            }
            if let Some(v) = segment.p95 {
                state.p95 = v;
            }
            if let Some(v) = segment.healthy_hosts {
                state.healthy_hosts = v;
            }
            if let Some(v) = segment.unhealthy_hosts {
                state.unhealthy_hosts = v;
            }
            if let Some(v) = segment.requests_per_minute {
                rpm = v;
            }
            state.missing = segment.missing;
        }
        state.requests = match version {
            Version::Canary => self.test_requests_per_minute + rpm * state.canary_share,
            Version::Baseline => rpm * (1.0 - state.canary_share),
        }
        .round();
        state
    }
}

fn invalid(source: &str, line: u64, column: u64, field: &str, message: &str) -> PolicyError {
    PolicyError::Invalid {
        warnings: Vec::new(),
        problems: vec![crate::policy::Problem {
            source: source.to_string(),
            line,
            column,
            field: field.to_string(),
            message: message.to_string(),
        }],
    }
}

/// Validated segments of the `canary` or `baseline` list, sorted by start.
fn segments(raw: &[RawSegment], list: &str, problems: &mut Vec<String>) -> Vec<Segment> {
    let mut segments: Vec<Segment> = raw
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let from = minutes(problems, &format!("{list}[{i}].from"), &raw.from);
            let to = raw
                .to
                .as_ref()
                .map(|t| minutes(problems, &format!("{list}[{i}].to"), t));
            let error_rate = raw.error_rate.as_ref().map(|r| {
                parse_share(r).unwrap_or_else(|| {
                    problems.push(format!(
                        "{list}[{i}].error_rate: expected a share such as `0.5%`, found {r:?}"
                    ));
                    0.0
                })
            });
            Segment {
                from,
                to,
                error_rate,
                p95: raw.p95,
                healthy_hosts: raw.healthy_hosts,
                unhealthy_hosts: raw.unhealthy_hosts,
                requests_per_minute: raw.requests_per_minute,
                missing: raw.missing.unwrap_or(false),
            }
        })
        .collect();
    segments.sort_by_key(|s| s.from);
    segments
}

/// Validated probe answers, sorted by start.
fn probe_answers(raw: &[RawProbeAnswer], problems: &mut Vec<String>) -> Vec<ProbeAnswer> {
    let mut answers: Vec<ProbeAnswer> = raw
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let from = minutes(problems, &format!("probe[{i}].from"), &raw.from);
            match (raw.status, &raw.error) {
                (Some(status), None) if !(100..=599).contains(&status) => problems.push(format!(
                    "probe[{i}].status: expected an HTTP status (100 to 599), found {status}"
                )),
                (Some(_), Some(_)) => problems.push(format!(
                    "probe[{i}]: either a `status` (an answer) or an `error` (no answer), not both"
                )),
                (None, None) => problems.push(format!(
                    "probe[{i}]: give a `status` (the answer) or an `error` (such as `connection refused`)"
                )),
                _ => {}
            }
            if raw.body.is_some() && raw.error.is_some() {
                problems.push(format!("probe[{i}].body: an attempt that failed has no body"));
            }
            ProbeAnswer {
                from,
                status: raw.status,
                latency_ms: raw.latency_ms.unwrap_or(DEFAULT_PROBE_LATENCY_MS),
                body: raw.body.clone().unwrap_or_default(),
                error: raw.error.clone(),
            }
        })
        .collect();
    answers.sort_by_key(|a| a.from);
    answers
}

/// How long a probe answer takes when the scenario does not say.
const DEFAULT_PROBE_LATENCY_MS: u64 = 20;

/// `12m` as 12, or a problem recorded for `field`.
fn minutes(problems: &mut Vec<String>, field: &str, text: &str) -> i64 {
    parse_minutes(text).unwrap_or_else(|| {
        problems.push(format!(
            "{field}: expected minutes such as `12m`, found {text:?}"
        ));
        0
    })
}

fn parse_minutes(text: &str) -> Option<i64> {
    text.trim().strip_suffix('m')?.trim().parse().ok()
}

fn parse_share(text: &str) -> Option<f64> {
    let text = text.trim();
    match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok().map(|p| p / 100.0),
        None => text.parse().ok(),
    }
    .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    description: String,
    expect: RawExpect,
    schedule: BTreeMap<String, RawAt>,
    #[serde(default)]
    traffic: Vec<RawStep>,
    requests_per_minute: f64,
    test_requests_per_minute: Option<f64>,
    canary: Vec<RawSegment>,
    #[serde(default)]
    baseline: Vec<RawSegment>,
    #[serde(default)]
    probe: Vec<RawProbeAnswer>,
}

/// When a scheduled hook runs: one minute, or (an ECS traffic stage run at
/// every step) several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawAt {
    One(String),
    Many(Vec<String>),
    // A bare number (`3`): read as its text, so the problem names the field.
    Number(f64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbeAnswer {
    from: String,
    status: Option<u16>,
    latency_ms: Option<u64>,
    body: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: String,
    decided_by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: String,
    canary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    from: String,
    to: Option<String>,
    error_rate: Option<String>,
    p95: Option<f64>,
    healthy_hosts: Option<f64>,
    unhealthy_hosts: Option<f64>,
    requests_per_minute: Option<f64>,
    missing: Option<bool>,
}
