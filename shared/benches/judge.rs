//! Benchmarks of the judgement: `metric_gate::judge::judge(&HookPolicy, &Evidence)`.
//!
//! The judge runs inside the hook's invocation, between collecting evidence and
//! reporting to CodeDeploy, so its time comes out of the same deadline as the
//! CloudWatch calls. The budget for it is 2 ms for 500 series of 1440 points
//! each: a day of one-minute periods, the most one gate may judge (the policy
//! validator caps a window at 1440 periods). Two cases are measured:
//!
//! - `judge/500x1440`: the budget case. 200 ratio gates (errors / requests,
//!   with a minimum sample) and 100 p95 latency gates, 500 distinct queries in
//!   all, each with a datapoint for every period of a 24-hour window (put
//!   together from 15 valid 20-gate policy files: validation holds one hook
//!   to what its worst record can carry in one log event). Every
//!   period is judged (`evaluation_periods` is left at the whole window), so
//!   this is the upper bound of the per-period work, and every gate passes, so
//!   every step of a threshold gate runs.
//! - `judge/default-before-allow-traffic`: what a hook does on most days, the
//!   embedded default policy's BeforeAllowTraffic section (four gates, the
//!   last a dry-run comparison with the baseline target group, over seven ALB
//!   series of five one-minute periods).
//!
//! - `judge/250x1440` and `judge/1000x1440`: the budget case's shape at
//!   half and twice its size, to show the work grows linearly with the input.
//!
//! - `record/500x1440/fit-log-event`: what the hook does with the budget
//!   case's verdict afterwards, off the status report's path: the decision
//!   record serialised, fitted to one CloudWatch Logs event and sealed again.
//!
//! Policy parsing and evidence building happen once, outside the timed loop:
//! they are paid at cold start and by the providers, not by the judge. The
//! record's sizes (whole, and as logged) are printed before timing.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use metric_gate::audit::AuditLink;
use metric_gate::evidence::{Evidence, MetricData, PreflightEvidence, RawSeries, SeriesStatus};
use metric_gate::judge::{judge, GateOutcome, LifecycleStatus};
use metric_gate::policy::{GateCheck, HookPolicy, MetricQuery, Policy};
use metric_gate::report::{DecisionRecord, PolicyRef, ReportSummary, LOG_EVENT_BOUND, RECORD_KIND};
use metric_gate::window::gate_window;
use metric_gate::Hook;
use std::hint::black_box;
use std::time::Instant;

/// 2026-01-01T00:00:30Z: half a minute into a period, as a real invocation is.
const NOW: i64 = 1_767_225_630;
const RATIO_GATES: usize = 200;
const LATENCY_GATES: usize = 100;

/// Gates per generated policy file: a validated hook section is held to what
/// its worst decision record can carry in one CloudWatch Logs event
/// (`policy::limits`), a few dozen gates of this size.
const GATES_PER_FILE: usize = 20;

/// The budget case's BeforeAllowTraffic gates: 500 distinct queries (two per
/// ratio gate, one per latency gate), all over a 1440-period window.
fn large_section() -> HookPolicy {
    scaled_section(RATIO_GATES, LATENCY_GATES)
}

/// `ratio_gates` ratio gates and `latency_gates` latency gates shaped like
/// the budget case's: `2 * ratio_gates + latency_gates` distinct queries.
///
/// No single valid policy holds 300 gates any more (the record bound), so the
/// section is put together from 15 valid policy files of 20 gates each: the
/// judge's budget is about its throughput on 500 series, whatever the files.
fn scaled_section(ratio_gates: usize, latency_gates: usize) -> HookPolicy {
    let mut gates: Vec<String> = Vec::new();
    for i in 0..ratio_gates {
        gates.push(format!(
            "      - name: error-rate-{i:03}\n        \
                     ratio:\n          \
                       numerator: [{{ name: Errors{i:03}, stat: Sum }}]\n          \
                       denominator: [{{ name: Requests{i:03}, stat: Sum }}]\n        \
                     comparison: \">\"\n        \
                     threshold: 1%\n        \
                     datapoints_to_alarm: 15\n        \
                     min_sample: {{ at_least: 100 }}\n"
        ));
    }
    for i in 0..latency_gates {
        gates.push(format!(
            "      - name: latency-p95-{i:03}\n        \
                     metric: {{ name: Latency{i:03}, stat: p95 }}\n        \
                     comparison: \">\"\n        \
                     threshold: 1.0\n        \
                     datapoints_to_alarm: 15\n        \
                     missing_data: ignore\n        \
                     min_sample: {{ at_least: 100, metric: {{ name: Requests{i:03}, stat: Sum }} }}\n"
        ));
    }
    let mut section: Option<HookPolicy> = None;
    for (file, chunk) in gates.chunks(GATES_PER_FILE).enumerate() {
        let mut yaml = String::from(
            "version: 1\n\
             metric_defaults:\n  \
               namespace: Bench/Checkout\n  \
               dimensions:\n    \
                 TargetGroup: targetgroup/checkout-green/0123456789abcdef\n    \
                 LoadBalancer: app/checkout/fedcba9876543210\n  \
               period: 60s\n  \
               window: 1440m\n\
             hooks:\n  \
               BeforeAllowTraffic:\n    \
                 gates:\n",
        );
        for gate in chunk {
            yaml.push_str(gate);
        }
        let policy = Policy::from_yaml(&yaml, &format!("bench-{file:02}.yaml"), &|_| None)
            .unwrap_or_else(|e| panic!("generated bench policy {file} is invalid: {e}"));
        let part = policy
            .hook(Hook::BeforeAllowTraffic)
            .expect("section")
            .clone();
        match &mut section {
            None => section = Some(part),
            Some(whole) => whole.gates.extend(part.gates),
        }
    }
    section.expect("at least one file")
}

/// A healthy value for the `period`-th period of `query`: well under every
/// threshold, so every gate passes.
fn healthy_value(query: &MetricQuery, period: usize) -> f64 {
    let name = query.metric_name.as_str();
    let wobble = (period % 7) as f64;
    if name.starts_with("Errors") || name.starts_with("HTTPCode_") {
        wobble
    } else if name.starts_with("Requests") || name == "RequestCount" {
        1000.0 + 10.0 * wobble
    } else if name.starts_with("Latency") || name == "TargetResponseTime" {
        0.25 + 0.01 * wobble
    } else if name == "HealthyHostCount" {
        4.0
    } else if name == "UnHealthyHostCount" {
        0.0
    } else {
        panic!("no sample values for {query}")
    }
}

/// Evidence with one complete series per query of `section`, a datapoint at
/// every period start of the gate's window.
fn complete_evidence(section: &HookPolicy) -> Evidence {
    let mut data = MetricData::new();
    for gate in &section.gates {
        let GateCheck::Threshold(check) = &gate.check else {
            continue;
        };
        let window = gate_window(check, NOW, section.ingestion_lag_secs);
        for query in check.queries() {
            data.entry(query.clone()).or_insert_with(|| {
                let starts = (window.start..window.end).step_by(check.period_secs as usize);
                // Oldest first, as the CloudWatch provider asks for them
                // (`ScanBy::TimestampAscending`).
                let points: Vec<(i64, f64)> = starts
                    .enumerate()
                    .map(|(i, t)| (t, healthy_value(query, i)))
                    .collect();
                RawSeries {
                    points,
                    status: SeriesStatus::Complete,
                    messages: Vec::new(),
                }
            });
        }
    }
    Evidence {
        flags: Default::default(),
        now: NOW,
        metrics: Some(Ok(data)),
        alarms: None,
        preflight: PreflightEvidence::default(),
        history: Default::default(),
        probes: Default::default(),
    }
}

/// Checks, before timing anything, that the judge takes the path meant to be
/// measured: every gate evaluated to a pass.
fn assert_all_pass(section: &HookPolicy, evidence: &Evidence) {
    let verdict = judge(section, evidence);
    assert_eq!(
        verdict.status,
        LifecycleStatus::Succeeded,
        "{}",
        verdict.reason
    );
    for gate in &verdict.gates {
        assert_eq!(
            gate.outcome,
            GateOutcome::Pass,
            "{}: {}",
            gate.name,
            gate.reason
        );
    }
}

/// A sealed decision record of `section`'s verdict, as a hook builds it.
fn decision_record(section: &HookPolicy, evidence: &Evidence) -> DecisionRecord {
    let verdict = judge(section, evidence);
    let mut record = DecisionRecord {
        kill_switch: None,
        record: RECORD_KIND,
        deployment_id: "d-BENCH".into(),
        lifecycle_event_hook_execution_id: "exec-bench".into(),
        hook: Hook::BeforeAllowTraffic,
        status: verdict.status,
        dry_run: None,
        reason: verdict.reason,
        switches: None,
        switch_error: None,
        gates: verdict.gates,
        report: ReportSummary::Accepted,
        deployment: None,
        deployment_error: None,
        discovery: None,
        discovery_error: None,
        policy: PolicyRef {
            source: "bench.yaml".into(),
            digest: "sha256:00".into(),
        },
        evaluated_at: NOW,
        elapsed_ms: 0,
        analysis: None,
        function_version: None,
        gate_version: "bench",
        omitted: None,
        audit: None,
    };
    record.seal(AuditLink::after(None));
    record
}

/// Prints the decision record's size: the gates as judged, the whole record,
/// and the line written to the log.
fn print_record_size(name: &str, section: &HookPolicy, evidence: &Evidence) {
    let mut record = decision_record(section, evidence);
    let periods: usize = record.gates.iter().map(|g| g.observations().count()).sum();
    let gates = serde_json::to_vec(&record.gates).expect("gate results serialise");
    let one = serde_json::to_vec(&record.gates[0]).expect("a gate result serialises");
    let whole = record.to_json_line().len();
    let started = Instant::now();
    let line = record.fit_log_event(LOG_EVENT_BOUND);
    let fitting = started.elapsed();
    let steps: Vec<String> = record
        .omitted
        .iter()
        .flat_map(|o| &o.steps)
        .map(|s| format!("{:?} ({} gates)", s.omission, s.gates.len()))
        .collect();
    eprintln!(
        "record {name}: {} gates, {} periods; gates {} bytes of JSON ({} bytes for the first gate); \
         whole record {whole} bytes; logged line {} bytes (bound {LOG_EVENT_BOUND}, fitted in {fitting:?}){}",
        record.gates.len(),
        periods,
        gates.len(),
        one.len(),
        line.len(),
        if steps.is_empty() {
            String::new()
        } else {
            format!(", left out: {}", steps.join(", "))
        }
    );
}

fn bench_budget_case(c: &mut Criterion) {
    let section = &large_section();
    let evidence = complete_evidence(section);
    let Some(Ok(data)) = &evidence.metrics else {
        unreachable!("complete_evidence always collects metrics")
    };
    assert_eq!(data.len(), 500, "distinct series");
    assert!(data.values().all(|s| s.points.len() == 1440));
    assert_all_pass(section, &evidence);
    // The size of what the decision record carries for these gates, whole
    // and as written to the log (one event; CloudWatch Logs takes at most
    // 256 KiB per event). Printed, not timed.
    print_record_size("500x1440", section, &evidence);

    c.bench_function("judge/500x1440", |b| {
        b.iter(|| judge(black_box(section), black_box(&evidence)))
    });
    // What the hook does after judging such a record: fit it to one log
    // event (serialise, leave out the passing gates' series, seal again).
    let record = decision_record(section, &evidence);
    c.bench_function("record/500x1440/fit-log-event", |b| {
        b.iter_batched(
            || record.clone(),
            |mut record| record.fit_log_event(LOG_EVENT_BOUND),
            BatchSize::LargeInput,
        )
    });
}

fn bench_default_policy(c: &mut Criterion) {
    let env = |name: &str| match name {
        "TARGET_GROUP" => Some("targetgroup/checkout-green/0123456789abcdef".to_string()),
        "LOAD_BALANCER" => Some("app/checkout/fedcba9876543210".to_string()),
        _ => None,
    };
    let policy = Policy::embedded_default(&env).expect("the embedded policy is valid");
    let section = policy.hook(Hook::BeforeAllowTraffic).expect("section");
    let evidence = complete_evidence(section);
    let Some(Ok(data)) = &evidence.metrics else {
        unreachable!("complete_evidence always collects metrics")
    };
    assert_eq!(data.len(), 7, "distinct series");
    assert!(data.values().all(|s| s.points.len() == 5));
    assert_all_pass(section, &evidence);
    print_record_size("default-before-allow-traffic", section, &evidence);

    c.bench_function("judge/default-before-allow-traffic", |b| {
        b.iter(|| judge(black_box(section), black_box(&evidence)))
    });
}

/// The budget case's shape at half and twice its size (250 and 1000 series
/// of 1440 points): the judge's work must grow linearly with its input, so
/// these take about half and twice `judge/500x1440`'s time.
fn bench_linearity(c: &mut Criterion) {
    for (ratio_gates, latency_gates) in [(100, 50), (400, 200)] {
        let section = &scaled_section(ratio_gates, latency_gates);
        let evidence = complete_evidence(section);
        let series = 2 * ratio_gates + latency_gates;
        let Some(Ok(data)) = &evidence.metrics else {
            unreachable!("complete_evidence always collects metrics")
        };
        assert_eq!(data.len(), series, "distinct series");
        assert_all_pass(section, &evidence);
        c.bench_function(&format!("judge/{series}x1440"), |b| {
            b.iter(|| judge(black_box(section), black_box(&evidence)))
        });
    }
}

criterion_group!(
    benches,
    bench_budget_case,
    bench_default_policy,
    bench_linearity
);
criterion_main!(benches);
