//! Load: many hook executions at once against one emulator, as when CodeDeploy
//! runs many deployments' hooks together and Lambda scales the function out.
//!
//! Twenty processes of the real `after-allow-traffic` binary poll the same
//! Runtime API queue; 200 lifecycle events with distinct execution ids are
//! queued at once, plus duplicate deliveries of a few of them. Whatever the
//! interleaving: every invocation finishes without an error, CodeDeploy accepts
//! exactly one status per execution id, and each duplicate is answered
//! `already_completed` (whichever of the two deliveries reports second). The
//! metrics are healthy, so the verdict is `Succeeded`, unless the machine is so
//! loaded that evidence misses the deadline: then `Failed` with every gate
//! `error` (failing closed) is allowed, and nothing else.
//!
//! `gate_tests::HookProcess::start` retires every open poll before it starts a
//! process (one function process at a time, as the other tests want), so the
//! processes here are started by [`Fleet::start`], with the same environment.

use gate_tests::{
    decision_records, hook_binary, hook_command, lifecycle_event, AlbMinute, Emulator,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BINARY: &str = "after-allow-traffic";
/// Concurrent function processes (Lambda's scale-out).
const PROCESSES: usize = 20;
/// Distinct hook executions.
const EXECUTIONS: usize = 200;
/// Executions delivered a second time.
const DUPLICATED: usize = 10;
/// The whole run, from the first event queued to the last answered.
const RUN_BUDGET: Duration = Duration::from_secs(120);

/// What one process printed so far, line by line.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect(pipe: impl std::io::Read + Send + 'static) -> (Lines, std::thread::JoinHandle<()>) {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, handle)
}

/// Hook processes sharing one emulator's Runtime API.
struct Fleet {
    children: Vec<Child>,
    stdout: Vec<Lines>,
    stderr: Vec<Lines>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Fleet {
    /// Starts `count` processes of `binary`, with `HookProcess::start`'s
    /// environment, without retiring each other's polls.
    fn start(emulator: &Emulator, binary: &str, count: usize) -> Fleet {
        let mut fleet = Fleet {
            children: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            readers: Vec::new(),
        };
        for n in 0..count {
            let mut child = hook_command(emulator, binary)
                .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("load-{n}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("start {binary} #{n}: {e}"));
            let (out, out_reader) = collect(child.stdout.take().unwrap());
            let (err, err_reader) = collect(child.stderr.take().unwrap());
            fleet.children.push(child);
            fleet.stdout.push(out);
            fleet.stderr.push(err);
            fleet.readers.extend([out_reader, err_reader]);
        }
        fleet
    }

    /// Waits until every process has logged `ready` (its cold start is done
    /// and it is about to poll), and checks none has exited.
    fn wait_until_ready(&mut self, within: Duration) {
        let start = Instant::now();
        loop {
            for (n, child) in self.children.iter_mut().enumerate() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "process #{n} exited during its cold start ({status}): {:?}",
                        self.stderr[n].lock().unwrap()
                    );
                }
            }
            // The JSON logs go to stdout, beside the decision records.
            let ready = self
                .stdout
                .iter()
                .filter(|lines| {
                    lines
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|l| l.contains("\"message\":\"ready\""))
                })
                .count();
            if ready == self.children.len() {
                return;
            }
            assert!(
                start.elapsed() < within,
                "only {ready} of {} processes ready after {within:?}",
                self.children.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops every process; returns each one's stdout and stderr lines.
    fn finish(mut self) -> Vec<(Vec<String>, Vec<String>)> {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.stdout
            .iter()
            .zip(&self.stderr)
            .map(|(out, err)| {
                (
                    std::mem::take(&mut *out.lock().unwrap()),
                    std::mem::take(&mut *err.lock().unwrap()),
                )
            })
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn control_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    )
}

/// Queues every event from a few threads at once; returns (execution id,
/// request id) in queuing order.
fn queue_all(
    emulator: &Emulator,
    deployment: &str,
    executions: &[String],
) -> Vec<(String, String)> {
    const QUEUERS: usize = 8;
    let url = format!("http://{}/_harness/invoke", emulator.address);
    std::thread::scope(|scope| {
        let workers: Vec<_> = executions
            .chunks(executions.len().div_ceil(QUEUERS))
            .map(|chunk| {
                let url = &url;
                scope.spawn(move || {
                    let agent = control_agent();
                    chunk
                        .iter()
                        .map(|execution| {
                            let body = json!({"event": lifecycle_event(deployment, execution), "timeout_ms": 60_000});
                            let mut response = agent
                                .post(url)
                                .send_json(body)
                                .unwrap_or_else(|e| panic!("POST {url}: {e}"));
                            assert_eq!(response.status(), 200, "queuing {execution}");
                            let answer: Value = response.body_mut().read_json().unwrap();
                            let request = answer["requestId"].as_str().expect("a request id");
                            (execution.clone(), request.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

#[test]
fn two_hundred_executions_at_once_report_once_each() {
    // Build first: a build after seeding would let the evaluation window slide
    // past the seeded minutes.
    hook_binary(BINARY);
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, |_| AlbMinute::healthy());
    // A fresh emulator has no poll to retire; called once, as HookProcess::start
    // would, and never again while the fleet runs.
    emulator.control("POST", "runtime/restart", None);
    let mut fleet = Fleet::start(&emulator, BINARY, PROCESSES);
    fleet.wait_until_ready(Duration::from_secs(60));

    let mut executions: Vec<String> = (0..EXECUTIONS)
        .map(|i| format!("load-exec-{i:03}"))
        .collect();
    // The duplicates are spread over the queue, some right behind their original.
    let duplicated: BTreeSet<String> = (0..DUPLICATED)
        .map(|i| executions[i * EXECUTIONS / DUPLICATED].clone())
        .collect();
    for (i, execution) in duplicated.iter().enumerate() {
        executions.insert((i * 37) % executions.len() + 1, execution.clone());
    }

    let started = Instant::now();
    let queued = queue_all(&emulator, &deployment, &executions);
    let queued_in = started.elapsed();
    assert_eq!(queued.len(), EXECUTIONS + DUPLICATED);
    let mut outcomes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (execution, request) in &queued {
        let outcome =
            emulator.control("GET", &format!("invocations/{request}?wait_ms=60000"), None);
        assert_ne!(
            outcome["state"], "pending",
            "{execution} never finished: {outcome}"
        );
        outcomes.entry(execution.clone()).or_default().push(outcome);
    }
    let elapsed = started.elapsed();
    let printed = fleet.finish();
    eprintln!(
        "load: {} invocations ({EXECUTIONS} executions, {DUPLICATED} duplicated) on {PROCESSES} processes: queued in {queued_in:?}, all answered in {elapsed:?}",
        queued.len()
    );

    // Every invocation finished without an error, with a status reported.
    for (execution, deliveries) in &outcomes {
        for outcome in deliveries {
            assert_eq!(outcome["state"], "success", "{execution}: {outcome}");
            let status = outcome["body"]["status"].as_str().unwrap_or_default();
            assert!(
                matches!(status, "Succeeded" | "Failed"),
                "{execution}: {outcome}"
            );
        }
    }
    // A duplicate is answered already_completed, its twin accepted, whichever ran first.
    for (execution, deliveries) in &outcomes {
        let mut answers: Vec<&str> = deliveries
            .iter()
            .map(|o| o["body"]["report"]["outcome"].as_str().unwrap_or("none"))
            .collect();
        answers.sort();
        let expected: &[&str] = if duplicated.contains(execution) {
            &["accepted", "already_completed"]
        } else {
            &["accepted"]
        };
        assert_eq!(answers, expected, "{execution}: {deliveries:?}");
    }

    // CodeDeploy's side: exactly one accepted status per execution id, no
    // stray id, and no attempt refused for any reason but a duplicate.
    let attempts = emulator.lifecycle();
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in &attempts {
        let execution = attempt["lifecycleEventHookExecutionId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(attempt["deploymentId"], deployment.as_str(), "{attempt}");
        match attempt["outcome"].as_str().unwrap() {
            "accepted" => *accepted.entry(execution).or_default() += 1,
            "LifecycleEventAlreadyCompletedException" => {
                assert!(
                    duplicated.contains(&execution),
                    "refused as a duplicate: {attempt}"
                )
            }
            other => panic!("a report refused with {other}: {attempt}"),
        }
    }
    assert_eq!(
        accepted.len(),
        EXECUTIONS,
        "executions with an accepted status"
    );
    assert!(
        accepted.values().all(|n| *n == 1),
        "accepted more than once: {:?}",
        accepted.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(
        attempts.len(),
        EXECUTIONS + DUPLICATED,
        "one attempt per delivery, no retry"
    );

    // Every delivery left one decision record, and the work was spread over the fleet.
    let mut records = Vec::new();
    let mut busy = 0;
    for (stdout, _) in &printed {
        let mine = decision_records(&stdout.join("\n"));
        busy += usize::from(!mine.is_empty());
        records.extend(mine);
    }
    let failed: Vec<&Value> = records.iter().filter(|r| r["status"] == "Failed").collect();
    eprintln!(
        "load: {busy} of {PROCESSES} processes handled events; {} of {} verdicts Failed",
        failed.len(),
        records.len()
    );
    assert_eq!(records.len(), EXECUTIONS + DUPLICATED, "decision records");
    // The metrics are healthy: a Failed verdict may only come from evidence
    // the load kept from arriving in time (every gate judged is `error`, fail
    // closed; a dry-run gate left unjudged says so), never from a gate
    // judging the healthy metrics as failing.
    for record in &failed {
        let gates = record["gates"].as_array().expect("gates");
        assert!(
            gates
                .iter()
                .filter(|g| !g["not_judged"].is_string())
                .all(|g| g["outcome"] == "error"),
            "Failed on healthy metrics: {record}"
        );
    }
    assert!(
        busy >= PROCESSES / 2,
        "only {busy} of {PROCESSES} processes handled an event"
    );
    assert!(elapsed < RUN_BUDGET, "took {elapsed:?}");
}
