//! Smoke probes end to end: the real AfterAllowTestTraffic binary, a policy
//! whose probe gate points at an HTTP server this test runs on 127.0.0.1, and
//! the emulator for everything AWS. Healthy answers succeed; a slow, wrong or
//! hung endpoint fails the hook with a reason that names what was wrong.

use gate_tests::{
    decision_records, invoke, lifecycle_event, temp_file, AlbMinute, Emulator, HookProcess,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Answers by path: `/health` at once, `/slow` after 800 ms, `/broken` with
/// 503, `/hang` never.
fn start_endpoint() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(mut stream: TcpStream) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split(' ').nth(1).unwrap_or("/");
        let (status, body) = match path {
            "/health" => ("200 OK", r#"{"status": "UP"}"#),
            "/slow" => {
                std::thread::sleep(Duration::from_millis(800));
                ("200 OK", r#"{"status": "UP"}"#)
            }
            "/broken" => ("503 Service Unavailable", r#"{"status": "DOWN"}"#),
            "/hang" => {
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            _ => ("404 Not Found", "no such path"),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A policy whose AfterAllowTestTraffic hook checks host health from metrics
/// and probes `path` on the endpoint named by `${PROBE_TARGET}`.
fn policy(path: &str) -> String {
    format!(
        r#"version: 1
probe_hosts: [127.0.0.1]
metric_defaults:
  namespace: AWS/ApplicationELB
  dimensions:
    TargetGroup: ${{TARGET_GROUP}}
    LoadBalancer: ${{LOAD_BALANCER}}
hooks:
  AfterAllowTestTraffic:
    gates:
      - name: healthy-hosts
        ratio:
          numerator:   [{{ name: HealthyHostCount, stat: Minimum }}]
          denominator: [{{ name: HealthyHostCount, stat: Minimum }}, {{ name: UnHealthyHostCount, stat: Maximum }}]
        comparison: "<"
        threshold: 95%
        evaluation_periods: 2
      - name: smoke
        probe:
          url: http://${{PROBE_TARGET}}{path}
          headers: {{ Accept: application/json }}
          expect:
            status: 200
            json_pointer: {{ pointer: /status, equals: UP }}
          max_latency: 400ms
          repeat: 3
          concurrency: 3
          timeout: {{ connect: 1s, total: 5s }}
"#
    )
}

struct ProbeOutcome {
    accepted: Vec<String>,
    record: Value,
    calls: Vec<String>,
    stderr: String,
}

impl ProbeOutcome {
    fn gate(&self, name: &str) -> Value {
        self.record["gates"]
            .as_array()
            .and_then(|gates| gates.iter().find(|g| g["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no gate {name} in {}", self.record))
    }
}

fn gate_with_probe(path: &str, invocation_ms: u64, extra: &[(&str, &str)]) -> ProbeOutcome {
    let endpoint = start_endpoint();
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    let policy = temp_file("probes.yaml", &policy(path));
    let target = endpoint.to_string();
    let mut env = vec![
        ("GATE_POLICY_FILE", policy.to_str().unwrap()),
        ("PROBE_TARGET", target.as_str()),
    ];
    env.extend_from_slice(extra);
    let hook = HookProcess::start(&emulator, "after-allow-test-traffic", &env);
    let invocation = invoke(
        &emulator,
        lifecycle_event(&deployment, "exec-probe"),
        invocation_ms,
    );
    let (stdout, stderr) = hook.finish();
    assert_eq!(invocation["state"], "success", "{invocation}\n{stderr}");
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "{stdout}\n{stderr}");
    let seeding = [
        "CreateApplication",
        "CreateDeploymentGroup",
        "CreateDeployment",
        "PutMetricData",
    ];
    ProbeOutcome {
        accepted: emulator.accepted_statuses(),
        record: records[0].clone(),
        calls: emulator
            .calls()
            .iter()
            .filter_map(|c| c["operation"].as_str())
            .filter(|op| !seeding.contains(op))
            .map(str::to_string)
            .collect(),
        stderr,
    }
}

#[test]
fn a_healthy_endpoint_succeeds() {
    let outcome = gate_with_probe("/health", 30_000, &[]);
    assert_eq!(outcome.accepted, vec!["Succeeded"], "{}", outcome.stderr);
    let smoke = outcome.gate("smoke");
    assert_eq!(smoke["outcome"], "pass", "{smoke}");
    let reason = smoke["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("probe GET http://127.0.0.1:")
            && reason.contains("/health: all 3 attempts met the expectations"),
        "{reason}"
    );
    assert_eq!(smoke["rule"], "min_success 100% of 3 attempts");
    // Each attempt's figures are in the record, never the body.
    let figures = &smoke["probe"];
    assert_eq!(
        (figures["attempts"].as_u64(), figures["met"].as_u64()),
        (Some(3), Some(3)),
        "{smoke}"
    );
    let listed = figures["listed"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{smoke}");
    for (i, attempt) in listed.iter().enumerate() {
        assert_eq!(attempt["index"], i + 1, "{attempt}");
        assert_eq!(attempt["status"], 200, "{attempt}");
        assert_eq!(attempt["bytes"], r#"{"status": "UP"}"#.len(), "{attempt}");
        assert!(attempt["latency_ms"].as_u64().unwrap() < 400, "{attempt}");
    }
    assert!(!smoke.to_string().contains("UP"), "{smoke}");
    assert_eq!(outcome.gate("healthy-hosts")["outcome"], "pass");
    // The probe adds no AWS call and no sequential round trip: the same
    // three concurrent reads as a metrics-only hook, then the report (and,
    // after it, the audit chain head).
    let mut calls = outcome.calls.clone();
    calls[..3].sort();
    assert_eq!(
        calls,
        [
            "GetDeployment",
            "GetMetricData",
            "GetParameters",
            "PutLifecycleEventHookExecutionStatus",
            "PutParameter"
        ]
    );
}

#[test]
fn a_slow_endpoint_fails_naming_the_latency() {
    let outcome = gate_with_probe("/slow", 30_000, &[]);
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let smoke = outcome.gate("smoke");
    assert_eq!(smoke["outcome"], "fail", "{smoke}");
    let reason = smoke["reason"].as_str().unwrap();
    assert!(
        reason.contains("0 of 3 attempts met the expectations, 100% required; first failure, attempt 1: latency ")
            && reason.contains("ms over max_latency 400ms"),
        "{reason}"
    );
    assert_eq!(outcome.gate("healthy-hosts")["outcome"], "pass");
    let hook_reason = outcome.record["reason"].as_str().unwrap();
    assert!(
        hook_reason.starts_with("1 of 2 critical gates blocked: smoke [fail]: probe GET"),
        "{hook_reason}"
    );
}

#[test]
fn a_wrong_status_fails_naming_status_and_body() {
    let outcome = gate_with_probe("/broken", 30_000, &[]);
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let reason = outcome.gate("smoke")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(
            "attempt 1: status 503, expected 200; JSON \"/status\" is \"DOWN\", expected \"UP\""
        ),
        "{reason}"
    );
    let listed = outcome.gate("smoke")["probe"]["listed"].clone();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == 503 && a["met"] == false),
        "{listed}"
    );
    let missing = gate_with_probe("/missing", 30_000, &[]);
    assert_eq!(missing.accepted, vec!["Failed"], "{}", missing.stderr);
    let reason = missing.gate("smoke")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("status 404, expected 200; the body is not JSON"),
        "{reason}"
    );
}

#[test]
fn a_hung_endpoint_fails_within_the_invocation_deadline() {
    // A 4-second invocation with a 1-second margin: the probe's 5-second
    // timeout would outlast it, so the evidence budget must cut it off and
    // the hook must still report.
    let outcome = gate_with_probe("/hang", 4_000, &[("GATE_SAFETY_MARGIN_MS", "1000")]);
    assert_eq!(outcome.accepted, vec!["Failed"], "{}", outcome.stderr);
    let smoke = outcome.gate("smoke");
    assert_eq!(smoke["outcome"], "fail", "{smoke}");
    let reason = smoke["reason"].as_str().unwrap();
    assert!(
        reason.contains("the hook's evidence budget ran out (no response head received)"),
        "{reason}"
    );
    let listed = smoke["probe"]["listed"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 3, "{smoke}");
    assert!(
        listed.iter().all(|a| a["met"] == false
            && a["error"]
                .as_str()
                .is_some_and(|e| e.contains("evidence budget ran out"))),
        "{smoke}"
    );
    // The metrics were collected alongside and judged as usual.
    assert_eq!(outcome.gate("healthy-hosts")["outcome"], "pass");
}

/// Answers every request with a 302 to `location`.
fn start_redirect(location: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let location = location.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let response = format!(
                    "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(response.as_bytes());
            });
        }
    });
    addr
}

/// Issue 15: with `probe_hosts: [127.0.0.1]` (no port), a probe URL at the
/// Lambda Runtime API's own address (the emulator's, as
/// `AWS_LAMBDA_RUNTIME_API` says), or a redirect to it, is refused before
/// connecting: the gate is an error naming the address, the hook reports
/// `Failed`, and the next invocation is delivered and answered as usual.
#[test]
fn a_probe_at_the_runtime_api_is_refused_directly_or_by_redirect() {
    for via_redirect in [false, true] {
        let emulator = Emulator::start();
        let deployment = emulator.create_deployment();
        emulator.seed_alb(10, |_| AlbMinute::healthy());
        let runtime_api = emulator.address.clone();
        let next = format!("http://{runtime_api}/2018-06-01/runtime/invocation/next");
        let (target, path) = if via_redirect {
            (start_redirect(next.clone()).to_string(), "/go".to_string())
        } else {
            (
                runtime_api.clone(),
                "/2018-06-01/runtime/invocation/next".to_string(),
            )
        };
        let policy = temp_file("probes-runtime.yaml", &policy(&path));
        let hook = HookProcess::start(
            &emulator,
            "after-allow-test-traffic",
            &[
                ("GATE_POLICY_FILE", policy.to_str().unwrap()),
                ("PROBE_TARGET", target.as_str()),
            ],
        );
        let first = invoke(
            &emulator,
            lifecycle_event(&deployment, "exec-probe-runtime"),
            30_000,
        );
        // The next invocation reaches the function and is answered.
        let second = invoke(
            &emulator,
            lifecycle_event(&deployment, "exec-probe-runtime-next"),
            30_000,
        );
        let (stdout, stderr) = hook.finish();
        let case = if via_redirect { "redirect" } else { "direct" };
        assert_eq!(first["state"], "success", "{case}: {first}\n{stderr}");
        assert_eq!(second["state"], "success", "{case}: {second}\n{stderr}");
        assert_eq!(second["delivered"], true, "{case}: {second}");
        assert_eq!(
            emulator.accepted_statuses(),
            vec!["Failed", "Failed"],
            "{case}: {stderr}"
        );
        let records = decision_records(&stdout);
        assert_eq!(records.len(), 2, "{case}: {stdout}\n{stderr}");
        for record in &records {
            let smoke = record["gates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["name"] == "smoke")
                .unwrap()
                .clone();
            assert_eq!(smoke["outcome"], "error", "{case}: {smoke}");
            let reason = smoke["reason"].as_str().unwrap();
            assert!(
                reason.contains(&format!("the prober refused to connect to {runtime_api}"))
                    && reason.contains(&format!(
                        "it is the Lambda Runtime API's address (AWS_LAMBDA_RUNTIME_API={runtime_api})"
                    )),
                "{case}: {reason}"
            );
            if via_redirect {
                assert!(
                    reason.contains(&format!("after redirects, last to {next}")),
                    "{reason}"
                );
            }
            assert_eq!(record["status"], "Failed", "{case}: {record}");
        }
    }
}
