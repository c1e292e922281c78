//! Placing `baseline: before_deployment`: the window of the gate's length that
//! ends when the deployment began.
//!
//! The deployment's create time comes from `GetDeployment`, which otherwise runs
//! alongside the metrics; a hook whose own gates use this baseline asks for it
//! first, then binds it here, purely, per evaluation (`now` moves during a bake
//! analysis, the deployment's start does not, so the baseline's window stays
//! put while the canary's advances). Whatever stops the window from being
//! placed becomes the gate's reason, and the gate fails closed on it; the
//! other gates are judged as usual.

use crate::policy::reference::cloudwatch_retention;
use crate::policy::{BaselineSource, DeploymentStart, GateCheck, Policy};
use crate::vocab::{stamp, Hook};
use crate::window::gate_window;

/// The policy with `hook`'s `before_deployment` baselines placed at `now`,
/// given the deployment's create time (epoch seconds) or why it is not
/// known. Other hooks' sections are left as they are.
pub fn bind_deployment_start(
    policy: &Policy,
    hook: Hook,
    created_at: Result<i64, String>,
    now: i64,
) -> Policy {
    let mut bound = policy.clone();
    let Some(section) = bound.hooks.get_mut(&hook) else {
        return bound;
    };
    let lag = section.ingestion_lag_secs;
    for gate in &mut section.gates {
        let GateCheck::Threshold(check) = &mut gate.check else {
            continue;
        };
        let window = gate_window(check, now, lag);
        let (period, length) = (check.period_secs.max(1), check.window_secs);
        let Some(baseline) = check.baseline.as_deref_mut() else {
            continue;
        };
        if !matches!(baseline.source, BaselineSource::BeforeDeployment(_)) {
            continue;
        }
        let start = match &created_at {
                Err(why) => DeploymentStart::Unknown(format!(
                    "the baseline is the window before the deployment began, and its start is unknown: {why}"
                )),
                Ok(created) => place(*created, window.end, period, length, now),
            };
        baseline.source = BaselineSource::BeforeDeployment(start);
    }
    bound
}

/// The baseline window for a deployment created at `created`, against a gate
/// window ending at `window_end`.
fn place(created: i64, window_end: i64, period: i64, length: i64, now: i64) -> DeploymentStart {
    // Whole periods only: the period the deployment began in already holds
    // some of its traffic.
    let ends_at = created.div_euclid(period) * period;
    let offset_secs = window_end - ends_at;
    let began = stamp(created);
    if offset_secs < 0 {
        return DeploymentStart::Unknown(format!(
            "the deployment began at {began}, after the newest settled period (ending {}): the window before it has not settled in CloudWatch yet",
            stamp(window_end)
        ));
    }
    if offset_secs == 0 {
        return DeploymentStart::Unknown(format!(
            "the deployment began at {began}, where the gate's window ends: the window holds none of the deployment's traffic yet, and the window before the deployment would be the same periods"
        ));
    }
    let (kept, kept_text) = cloudwatch_retention(period);
    if now - (ends_at - length) > kept {
        return DeploymentStart::Unknown(format!(
            "the deployment began at {began}; CloudWatch keeps data for {kept_text}, so the window before it is gone: use a longer period"
        ));
    }
    DeploymentStart::At {
        created_at: created,
        ends_at,
        offset_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::GateOutcome;

    const POLICY: &str = r#"
version: 1
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions: { TargetGroup: tg }
hooks:
  AfterAllowTraffic:
    gates:
      - name: latency-vs-before
        metric: { name: TargetResponseTime, stat: p95 }
        baseline: before_deployment
        comparison: ">"
        threshold: 1.4 x baseline
        window: 10m
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1
  BeforeAllowTraffic:
    gates:
      - name: latency-static
        metric: { name: TargetResponseTime, stat: p95 }
        comparison: ">"
        threshold: 1
"#;
    /// 2023-11-14T22:13:00Z, on a minute.
    const T: i64 = 1_700_000_000 - 1_700_000_000 % 60 + 60;

    fn policy() -> Policy {
        Policy::from_yaml(POLICY, "before.yaml", &|_| None).unwrap()
    }

    fn source(policy: &Policy) -> BaselineSource {
        let GateCheck::Threshold(check) =
            &policy.hook(Hook::AfterAllowTraffic).unwrap().gates[0].check
        else {
            panic!()
        };
        check.baseline.as_ref().unwrap().source.clone()
    }

    #[test]
    fn only_hooks_whose_gates_compare_with_it_need_the_start() {
        let policy = policy();
        assert!(policy.needs_deployment_start(Hook::AfterAllowTraffic));
        assert!(!policy.needs_deployment_start(Hook::BeforeAllowTraffic));
        assert!(!policy.needs_deployment_start(Hook::BeforeInstall));
        assert_eq!(
            source(&policy),
            BaselineSource::BeforeDeployment(DeploymentStart::Unbound)
        );
    }

    #[test]
    fn the_window_ends_at_the_last_whole_period_before_the_deployment() {
        // Created 20 minutes and 30 seconds before now; the gate's window ends
        // at now - 2m (ingestion lag), rounded down to the minute.
        let now = T + 45;
        let created = T - 20 * 60 + 15;
        let bound = bind_deployment_start(&policy(), Hook::AfterAllowTraffic, Ok(created), now);
        let BaselineSource::BeforeDeployment(DeploymentStart::At {
            created_at,
            ends_at,
            offset_secs,
        }) = source(&bound)
        else {
            panic!("{:?}", source(&bound))
        };
        assert_eq!(created_at, created);
        assert_eq!(ends_at, T - 20 * 60, "the period it began in is left out");
        assert_eq!(offset_secs, (T - 120) - (T - 20 * 60));
        // The plan fetches the window [ends_at - 10m, ends_at).
        let plan = crate::evidence::plan(&bound, Hook::AfterAllowTraffic, now);
        assert_eq!(plan.history.len(), 1);
        assert_eq!(plan.history[0].0, offset_secs);
        assert_eq!(plan.history[0].1.range.end, ends_at);
        assert_eq!(plan.history[0].1.range.start, ends_at - 600);

        // Later in a bake the canary's window moves on; the baseline's does not.
        let later =
            bind_deployment_start(&policy(), Hook::AfterAllowTraffic, Ok(created), now + 600);
        let plan = crate::evidence::plan(&later, Hook::AfterAllowTraffic, now + 600);
        assert_eq!(plan.history[0].1.range.end, ends_at);
        assert_eq!(plan.history[0].0, offset_secs + 600);
        // Other hooks are left alone, and an unplaced baseline fetches nothing.
        assert_eq!(
            bound.hook(Hook::BeforeAllowTraffic),
            policy().hook(Hook::BeforeAllowTraffic)
        );
        assert!(
            crate::evidence::plan(&policy(), Hook::AfterAllowTraffic, now)
                .history
                .is_empty()
        );
    }

    /// Half an hour of a 0.3 s p95 for the canary, nothing else.
    fn canary_evidence(section: &crate::policy::HookPolicy, now: i64) -> crate::evidence::Evidence {
        let mut data = crate::evidence::MetricData::new();
        for gate in &section.gates {
            let GateCheck::Threshold(check) = &gate.check else {
                continue;
            };
            for query in check.canary_queries() {
                let series = crate::evidence::RawSeries {
                    points: (1..=30).map(|i| (now - now % 60 - 60 * i, 0.3)).collect(),
                    status: crate::evidence::SeriesStatus::Complete,
                    messages: vec![],
                };
                data.insert(query.clone(), series);
            }
        }
        crate::evidence::Evidence {
            flags: Default::default(),
            now,
            metrics: Some(Ok(data)),
            alarms: None,
            preflight: Default::default(),
            history: Default::default(),
            probes: Default::default(),
        }
    }

    #[test]
    fn a_window_that_cannot_be_placed_fails_the_gate_naming_why() {
        let now = T + 45;
        let cases: [(Result<i64, String>, &str); 5] = [
            (
                Err("CodeDeploy GetDeployment failed: AccessDenied".into()),
                "its start is unknown: CodeDeploy GetDeployment failed: AccessDenied",
            ),
            // Began a minute ago: the newest settled period ends two minutes ago.
            (Ok(T - 60), "has not settled in CloudWatch yet"),
            (
                Ok(T - 120),
                "the window holds none of the deployment's traffic yet",
            ),
            // 60-second periods are kept 15 days.
            (
                Ok(T - 16 * 86_400),
                "CloudWatch keeps data for 15 days for 60-second periods",
            ),
            (Ok(T - 14 * 86_400), ""),
        ];
        for (created, want) in cases {
            let bound =
                bind_deployment_start(&policy(), Hook::AfterAllowTraffic, created.clone(), now);
            let section = bound.hook(Hook::AfterAllowTraffic).unwrap();
            let reason = source(&bound).unplaced();
            if want.is_empty() {
                assert_eq!(reason, None, "{created:?}");
                continue;
            }
            let reason = reason.unwrap_or_default();
            assert!(reason.contains(want), "{created:?}: {reason}");
            // The judge fails the gate with it, and judges the others as usual.
            let plan = crate::evidence::plan(&bound, Hook::AfterAllowTraffic, now);
            assert!(plan.history.is_empty());
            let evidence = canary_evidence(section, now);
            let verdict = crate::judge::judge(section, &evidence);
            assert_eq!(verdict.gates[0].outcome, GateOutcome::Error);
            assert!(
                verdict.gates[0].reason.contains(want),
                "{}",
                verdict.gates[0].reason
            );
            assert_eq!(
                verdict.gates[1].outcome,
                GateOutcome::Pass,
                "{}",
                verdict.gates[1].reason
            );
        }
    }
}
