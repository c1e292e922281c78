//! The end-to-end harness: the moto-based emulator, the real hook binaries under
//! the Lambda Runtime API, and seeding through the real AWS SDK.
//!
//! Each test starts its own emulator process (`tests/harness/emulator.py`, which
//! serves moto, the CloudWatch CBOR protocol, the CodeDeploy calls moto lacks,
//! fault injection and the Runtime API on one loopback port) and its own hook
//! process, so tests run in parallel without sharing state. Both processes die
//! with the test: the emulator exits when its stdin closes, the hook is killed
//! on drop.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The target group every scenario gates (ALB dimension value).
pub const TARGET_GROUP: &str = "targetgroup/web-green/0123456789abcdef";
/// The load balancer every scenario gates (ALB dimension value).
pub const LOAD_BALANCER: &str = "app/web/fedcba9876543210";

/// The deployment every sample event in `events/` names.
pub const SAMPLE_EVENTS_DEPLOYMENT_ID: &str = "d-CATAGDYBL";
/// The target group of the version being replaced, when trying the sample
/// events (`./dev emulator`): the default policy compares latency with it.
pub const SAMPLE_BASELINE_TARGET_GROUP: &str = "targetgroup/web-blue/fedcba9876543210";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Python that has moto: the project's `.venv` (made by `./dev`), else `python3`.
pub fn python() -> PathBuf {
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Whether `name` is one of the variables cargo sets for the crate it builds or
/// runs (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...), as opposed to cargo's own
/// configuration (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`, ...).
///
/// A test binary, or `local-run` under `cargo run`, inherits the first kind; a
/// `cargo build` started from it must not: build scripts that read one (ring's
/// reads `CARGO_MANIFEST_DIR`) would be rebuilt, and rebuilt again by the
/// user's next plain `cargo run`, each time the value differs.
pub fn is_crate_variable(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

/// `cargo ARGS` in the workspace root, in the environment the user's own
/// `cargo` commands see: without the variables of the crate this process was
/// built as ([`is_crate_variable`]), so it shares their build instead of
/// invalidating it.
pub fn cargo_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root()).args(args);
    without_crate_variables(&mut command);
    command
}

/// Removes this process's [`is_crate_variable`]s from `command`'s environment:
/// for any command that runs cargo in turn (cargo-lambda, say).
pub fn without_crate_variables(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_crate_variable) {
            command.env_remove(name);
        }
    }
    command
}

/// The variable naming a directory of the workspace's binaries, already built
/// (`./dev` sets it after its own `cargo build --workspace --bins`): the harness
/// runs what is there instead of asking cargo again. Asking costs most of a
/// second even when nothing is to be built, as much as the rest of a demo event.
pub const BUILT_BINARIES_VAR: &str = "GATE_BUILT_BINARIES";

/// The path of one of the workspace's binaries: in [`BUILT_BINARIES_VAR`]'s
/// directory when it is set, else built once per process (all of them).
pub fn hook_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<(PathBuf, bool)> = OnceLock::new();
    let (dir, given) = BUILT.get_or_init(|| {
        if let Some(dir) = std::env::var_os(BUILT_BINARIES_VAR) {
            return (PathBuf::from(dir), true);
        }
        // `--workspace`, as `./dev test` runs the tests: the same package
        // selection resolves the same features, so this is a no-op after the
        // test build instead of a rebuild of the SDK crates.
        let status = cargo_command(["build", "--quiet", "--workspace", "--bins"])
            .status()
            .expect("run cargo build for the hook binaries");
        assert!(status.success(), "building the hook binaries failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        (target.join("debug"), false)
    });
    let path = dir.join(name);
    assert!(
        !*given || path.is_file(),
        "{BUILT_BINARIES_VAR} names {}, which has no {name} ({} is missing): build the \
         workspace's binaries there (cargo build --workspace --bins) or unset \
         {BUILT_BINARIES_VAR} to have them built",
        dir.display(),
        path.display()
    );
    path
}

/// A running emulator.
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    /// `127.0.0.1:PORT`.
    pub address: String,
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
}

impl Emulator {
    /// Starts one on a free loopback port.
    pub fn start() -> Emulator {
        let script = workspace_root().join("tests/harness/emulator.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {}: {e} (run ./dev test, which installs the emulator)",
                    script.display()
                )
            });
        let stdin = child.stdin.take().unwrap();
        // The binaries are built (or found fresh) while the emulator starts:
        // the two take about as long, on two processes. Before anything is
        // seeded: a build that ran after seeding would let the seeded minutes
        // slide out of the gates' windows.
        hook_binary("gatectl");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the emulator's port line");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .unwrap_or_else(|| panic!("the emulator did not print its port (got {line:?}); is moto installed? run ./dev test"));
        let address = format!("127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sdk = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(metric_gate::aws_http::https_client(
                    metric_gate::aws_http::Roots::AwsServices,
                ))
                .endpoint_url(format!("http://{address}"))
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                    "testing", "testing", None, None, "tests",
                ))
                .load(),
        );
        Emulator {
            child,
            _stdin: stdin,
            address,
            runtime,
            sdk,
        }
    }

    /// A control-API call; panics on a non-2xx answer.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}/_harness/{path}", self.address);
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        );
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            (_, Some(body)) => agent.post(&url).send_json(body),
            (_, None) => agent.post(&url).send_empty(),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(
            (200..300).contains(&status),
            "{method} {url}: HTTP {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Empties the emulator (`POST /_harness/reset`): all of moto's state,
    /// faults, the call log, lifecycle attempts, targets and invocations.
    pub fn reset(&self) {
        self.control("POST", "reset", None);
    }

    /// Makes the next `times` calls of `operation` fail as `fault` says.
    pub fn inject(&self, fault: Value) {
        self.control("POST", "faults", Some(fault));
    }

    /// Every `PutLifecycleEventHookExecutionStatus` attempt, in order.
    pub fn lifecycle(&self) -> Vec<Value> {
        self.control("GET", "lifecycle", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The accepted statuses only.
    pub fn accepted_statuses(&self) -> Vec<String> {
        self.lifecycle()
            .iter()
            .filter(|r| r["outcome"] == "accepted")
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Every AWS operation received, in order.
    pub fn calls(&self) -> Vec<Value> {
        self.control("GET", "calls", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// What a hook needs, besides Lambda's own variables, to run against this
    /// emulator: it as the AWS endpoint with dummy credentials, and the ALB
    /// environment of the default policy.
    pub fn hook_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", format!("http://{}", self.address)),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("TARGET_GROUP", TARGET_GROUP.into()),
            ("LOAD_BALANCER", LOAD_BALANCER.into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    /// Readies the emulator for the sample events in `events/`, sent as they
    /// are (by `cargo lambda invoke --data-file`, say): a deployment with the
    /// id they name, `minutes` of ALB metrics up to now for the replacement,
    /// and healthy ones for the version it replaces
    /// ([`SAMPLE_BASELINE_TARGET_GROUP`], which [`Emulator::write_hook_env_file`]
    /// names).
    pub fn ready_for_sample_events(&self, minutes: usize, per_minute: impl Fn(usize) -> AlbMinute) {
        let created = self.create_deployment();
        self.control(
            "POST",
            &format!("deployments/{created}"),
            Some(json!({ "deploymentId": SAMPLE_EVENTS_DEPLOYMENT_ID })),
        );
        self.seed_sample_minutes(minutes, per_minute);
    }

    /// `minutes` more minutes, up to now, of [`Emulator::ready_for_sample_events`]'
    /// metrics.
    pub fn seed_sample_minutes(&self, minutes: usize, per_minute: impl Fn(usize) -> AlbMinute) {
        self.seed_alb(minutes, per_minute);
        self.seed_alb_for(SAMPLE_BASELINE_TARGET_GROUP, minutes, |_| {
            AlbMinute::healthy()
        });
    }

    /// Writes [`Emulator::hook_env`] and [`SAMPLE_BASELINE_TARGET_GROUP`], then
    /// `extra` (which wins), to `path` as `NAME=value` lines, the form `cargo
    /// lambda watch --env-file` reads.
    pub fn write_hook_env_file(&self, path: &Path, extra: &[(&str, &str)]) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut env: Vec<(&str, String)> = self.hook_env();
        env.push(("BASELINE_TARGET_GROUP", SAMPLE_BASELINE_TARGET_GROUP.into()));
        env.retain(|(name, _)| !extra.iter().any(|(e, _)| e == name));
        env.extend(extra.iter().map(|(name, value)| (*name, value.to_string())));
        let lines: String = env
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        std::fs::write(path, lines)
    }

    /// Creates an ECS application, group and deployment; returns the deployment id.
    pub fn create_deployment(&self) -> String {
        let client = aws_sdk_codedeploy::Client::new(&self.sdk);
        self.runtime.block_on(async {
            client
                .create_application()
                .application_name("web")
                .compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Ecs)
                .send()
                .await
                .expect("CreateApplication");
            client
                .create_deployment_group()
                .application_name("web")
                .deployment_group_name("web-prod")
                .service_role_arn("arn:aws:iam::123456789012:role/CodeDeployServiceRole")
                .send()
                .await
                .expect("CreateDeploymentGroup");
            client
                .create_deployment()
                .application_name("web")
                .deployment_group_name("web-prod")
                .send()
                .await
                .expect("CreateDeployment")
                .deployment_id()
                .expect("a deployment id")
                .to_string()
        })
    }

    /// Puts datapoints through the real CloudWatch API (CBOR via the emulator).
    pub fn put_metrics(&self, namespace: &str, data: Vec<MetricDatum>) {
        let client = aws_sdk_cloudwatch::Client::new(&self.sdk);
        self.runtime.block_on(async {
            for chunk in data.chunks(500) {
                client
                    .put_metric_data()
                    .namespace(namespace)
                    .set_metric_data(Some(chunk.to_vec()))
                    .send()
                    .await
                    .expect("PutMetricData");
            }
        });
    }

    /// Seeds `minutes` minutes of ALB metrics for the target group, ending at the
    /// current minute, one [`AlbMinute`] per minute, oldest first.
    pub fn seed_alb(&self, minutes: usize, per_minute: impl Fn(usize) -> AlbMinute) {
        self.seed_alb_for(TARGET_GROUP, minutes, per_minute);
    }

    /// [`Emulator::seed_alb`] for another target group behind the same load
    /// balancer (a baseline's, say).
    pub fn seed_alb_for(
        &self,
        target_group: &str,
        minutes: usize,
        per_minute: impl Fn(usize) -> AlbMinute,
    ) {
        self.seed_alb_on(target_group, LOAD_BALANCER, minutes, per_minute);
    }

    /// [`Emulator::seed_alb`] for any target group and load balancer (the
    /// dimensions of an ALB created in moto, say).
    pub fn seed_alb_on(
        &self,
        target_group: &str,
        load_balancer: &str,
        minutes: usize,
        per_minute: impl Fn(usize) -> AlbMinute,
    ) {
        let now = epoch_secs();
        let current = now - now % 60;
        let mut data = Vec::new();
        for i in 0..minutes {
            let at = current - 60 * (minutes - i) as i64;
            let m = per_minute(i);
            let stamp = aws_sdk_cloudwatch::primitives::DateTime::from_secs(at);
            let datum = |name: &str| {
                MetricDatum::builder()
                    .metric_name(name)
                    .set_dimensions(Some(alb_dimensions(target_group, load_balancer)))
                    .timestamp(stamp)
            };
            if let Some(requests) = m.requests {
                data.push(datum("RequestCount").value(requests).build());
            }
            if let Some(errors) = m.errors_5xx {
                data.push(datum("HTTPCode_Target_5XX_Count").value(errors).build());
            }
            if !m.latencies.is_empty() {
                let (values, counts): (Vec<f64>, Vec<f64>) = m.latencies.iter().copied().unzip();
                data.push(
                    datum("TargetResponseTime")
                        .set_values(Some(values))
                        .set_counts(Some(counts))
                        .build(),
                );
            }
            if let Some(healthy) = m.healthy {
                data.push(datum("HealthyHostCount").value(healthy).build());
            }
            if let Some(unhealthy) = m.unhealthy {
                data.push(datum("UnHealthyHostCount").value(unhealthy).build());
            }
        }
        self.put_metrics("AWS/ApplicationELB", data);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alb_dimensions(target_group: &str, load_balancer: &str) -> Vec<Dimension> {
    vec![
        Dimension::builder()
            .name("TargetGroup")
            .value(target_group)
            .build(),
        Dimension::builder()
            .name("LoadBalancer")
            .value(load_balancer)
            .build(),
    ]
}

/// One minute of ALB metrics; `None` publishes nothing for that metric.
#[derive(Debug, Clone, Default)]
pub struct AlbMinute {
    /// RequestCount.
    pub requests: Option<f64>,
    /// HTTPCode_Target_5XX_Count.
    pub errors_5xx: Option<f64>,
    /// TargetResponseTime samples as (seconds, count).
    pub latencies: Vec<(f64, f64)>,
    /// HealthyHostCount.
    pub healthy: Option<f64>,
    /// UnHealthyHostCount.
    pub unhealthy: Option<f64>,
}

impl AlbMinute {
    /// 1000 requests, 0.2 % errors, p95 ~0.3 s, 4 of 4 hosts healthy.
    pub fn healthy() -> AlbMinute {
        AlbMinute {
            requests: Some(1000.0),
            errors_5xx: Some(2.0),
            latencies: vec![
                (0.05, 500.0),
                (0.12, 300.0),
                (0.25, 160.0),
                (0.3, 30.0),
                (0.6, 10.0),
            ],
            healthy: Some(4.0),
            unhealthy: Some(0.0),
        }
    }

    /// The same minute with every latency `factor` times longer.
    pub fn slower(self, factor: f64) -> AlbMinute {
        AlbMinute {
            latencies: self
                .latencies
                .iter()
                .map(|(seconds, count)| (seconds * factor, *count))
                .collect(),
            ..self
        }
    }
}

/// Wall-clock epoch seconds.
pub fn epoch_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The command that runs `binary` as Lambda would against `emulator`: the
/// emulator as both Runtime API and AWS endpoint, Lambda's variables, and the
/// ALB environment of the default policy. Callers add their own variables.
pub fn hook_command(emulator: &Emulator, binary: &str) -> Command {
    let mut command = Command::new(hook_binary(binary));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &emulator.address)
        .envs(emulator.hook_env())
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test");
    command
}

/// A hook binary running against an emulator's Runtime API.
pub struct HookProcess {
    child: Child,
    /// Drained continuously so a chatty process never blocks on a full pipe.
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// The hook's command ([`hook_command`]) without the variables in `unset`,
/// then with `extra` set.
fn configured(
    emulator: &Emulator,
    binary: &str,
    extra: &[(&str, &str)],
    unset: &[&str],
) -> Command {
    let mut command = hook_command(emulator, binary);
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    command
}

impl HookProcess {
    /// Starts `binary` with the emulator as both Runtime API and AWS endpoint,
    /// the ALB environment of the default policy, and `extra` on top.
    pub fn start(emulator: &Emulator, binary: &str, extra: &[(&str, &str)]) -> HookProcess {
        Self::spawn(emulator, binary, configured(emulator, binary, extra, &[]))
    }

    /// Starts `binary` as [`HookProcess::start`] does, without the variables
    /// in `unset` (a Lambda-set variable missing).
    pub fn start_without(emulator: &Emulator, binary: &str, unset: &[&str]) -> HookProcess {
        Self::spawn(emulator, binary, configured(emulator, binary, &[], unset))
    }

    /// Starts `binary` with `extra` set and the variables in `unset` removed
    /// (the default `TARGET_GROUP`/`LOAD_BALANCER`, say, so discovery runs).
    pub fn start_with(
        emulator: &Emulator,
        binary: &str,
        extra: &[(&str, &str)],
        unset: &[&str],
    ) -> HookProcess {
        Self::spawn(emulator, binary, configured(emulator, binary, extra, unset))
    }

    /// A second instance of a running hook, started as
    /// [`HookProcess::start_with`] does but beside it: the running process's
    /// poll is not retired, so both take events from the same queue, as two
    /// of Lambda's execution environments run concurrent invocations.
    pub fn start_beside(
        emulator: &Emulator,
        binary: &str,
        extra: &[(&str, &str)],
        unset: &[&str],
    ) -> HookProcess {
        Self::spawn_beside(binary, configured(emulator, binary, extra, unset))
    }

    fn spawn(emulator: &Emulator, binary: &str, command: Command) -> HookProcess {
        // Retire the open poll of any earlier process this emulator served.
        emulator.control("POST", "runtime/restart", None);
        Self::spawn_beside(binary, command)
    }

    fn spawn_beside(binary: &str, mut command: Command) -> HookProcess {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        HookProcess {
            child,
            stdout,
            stderr,
        }
    }

    /// Stops the process and returns everything it printed (stdout, stderr).
    pub fn finish(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = self
            .stdout
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (out, err)
    }

    /// Waits for the process to exit by itself (an init failure) and returns
    /// (exit code, stdout, stderr).
    pub fn wait_for_exit(mut self, within: Duration) -> (Option<i32>, String, String) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let (out, err) = self.finish();
                return (status.code(), out, err);
            }
            assert!(
                start.elapsed() < within,
                "the hook process did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HookProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lifecycle event for `deployment_id`.
pub fn lifecycle_event(deployment_id: &str, execution_id: &str) -> Value {
    json!({"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id})
}

/// Queues an invocation and waits for its outcome.
pub fn invoke(emulator: &Emulator, event: Value, timeout_ms: u64) -> Value {
    let queued = emulator.control(
        "POST",
        "invoke",
        Some(json!({"event": event, "timeout_ms": timeout_ms})),
    );
    await_invocation(
        emulator,
        queued["requestId"].as_str().expect("a request id"),
    )
}

/// Waits for a queued invocation to finish.
pub fn await_invocation(emulator: &Emulator, request_id: &str) -> Value {
    let outcome = emulator.control(
        "GET",
        &format!("invocations/{request_id}?wait_ms=60000"),
        None,
    );
    assert_ne!(
        outcome["state"], "pending",
        "invocation {request_id} never finished: {outcome}"
    );
    outcome
}

/// The decision records a hook printed on stdout.
pub fn decision_records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["record"] == "codedeploy-gates.decision.v1")
        .collect()
}

/// What one gated invocation produced.
pub struct Outcome {
    /// The Runtime API's view: `state` success/error, `body`, `errorType`.
    pub invocation: Value,
    /// Statuses CodeDeploy accepted.
    pub accepted: Vec<String>,
    /// Decision records the hook printed.
    pub records: Vec<Value>,
    /// The hook's stderr (logs).
    pub stderr: String,
    /// The AWS operations the hook called, in order.
    pub calls: Vec<String>,
}

/// Seeds ten minutes of ALB metrics, runs `binary` once on a real deployment's
/// event, and collects what happened.
pub fn gate_once(binary: &str, per_minute: impl Fn(usize) -> AlbMinute) -> Outcome {
    let emulator = Emulator::start();
    let deployment = emulator.create_deployment();
    emulator.seed_alb(10, per_minute);
    let hook = HookProcess::start(&emulator, binary, &[]);
    let invocation = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();

    let seeding = [
        "CreateApplication",
        "CreateDeploymentGroup",
        "CreateDeployment",
        "PutMetricData",
    ];
    let calls = emulator
        .calls()
        .iter()
        .filter_map(|c| c["operation"].as_str())
        .filter(|op| !seeding.contains(op))
        .map(str::to_string)
        .collect();
    Outcome {
        invocation,
        calls,
        accepted: emulator.accepted_statuses(),
        records: decision_records(&stdout),
        stderr,
    }
}

impl Outcome {
    /// The outcome of the named gate in the only decision record.
    pub fn gate(&self, name: &str) -> Value {
        assert_eq!(
            self.records.len(),
            1,
            "expected one decision record; stderr:\n{}",
            self.stderr
        );
        self.records[0]["gates"]
            .as_array()
            .and_then(|gates| gates.iter().find(|g| g["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no gate {name} in {}", self.records[0]))
    }
}

impl Emulator {
    /// Creates a metric alarm and forces it into `state` (as an operator would
    /// with `aws cloudwatch set-alarm-state`).
    pub fn put_alarm(&self, name: &str, state: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
        let client = aws_sdk_cloudwatch::Client::new(&self.sdk);
        self.runtime.block_on(async {
            client
                .put_metric_alarm()
                .alarm_name(name)
                .namespace("AWS/ApplicationELB")
                .metric_name("HTTPCode_Target_5XX_Count")
                .statistic(Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(3.0)
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .send()
                .await
                .expect("PutMetricAlarm");
            client
                .set_alarm_state()
                .alarm_name(name)
                .state_value(StateValue::from(state))
                .state_reason("set by the test")
                .send()
                .await
                .expect("SetAlarmState");
        });
    }
}

impl Emulator {
    /// Sets an SSM parameter (the freeze and override switches live there).
    pub fn put_parameter(&self, name: &str, value: &str) {
        let client = aws_sdk_ssm::Client::new(&self.sdk);
        self.runtime.block_on(async {
            client
                .put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .expect("PutParameter");
        });
    }

    /// Removes an SSM parameter.
    pub fn delete_parameter(&self, name: &str) {
        let client = aws_sdk_ssm::Client::new(&self.sdk);
        self.runtime.block_on(async {
            client
                .delete_parameter()
                .name(name)
                .send()
                .await
                .expect("DeleteParameter");
        });
    }
}

/// Writes `text` to a fresh file under the system temp dir and returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gate-tests-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// An Application Load Balancer created in the emulator, as CloudWatch's ALB
/// metrics name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbSetup {
    /// The `LoadBalancer` dimension, `app/NAME/ID`.
    pub load_balancer: String,
    /// The `TargetGroup` dimension of each target group, `targetgroup/NAME/ID`,
    /// in the order they were asked for.
    pub target_groups: Vec<String>,
}

/// The part of an ELBv2 ARN after `:<kind>/`, with `<kind>/` dropped when
/// `keep_kind` is false: the dimension value CloudWatch uses.
fn arn_tail(arn: &str, kind: &str, keep_kind: bool) -> String {
    let (_, tail) = arn
        .split_once(&format!(":{kind}/"))
        .unwrap_or_else(|| panic!("{arn} is not a {kind} ARN"));
    if keep_kind {
        format!("{kind}/{tail}")
    } else {
        tail.to_string()
    }
}

impl Emulator {
    /// The SDK configuration pointing at this emulator, for building clients.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// Runs a future on the emulator's runtime (the SDK clients' I/O).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// moto's default VPC and its subnets: (vpc id, subnet ids).
    fn default_network(&self) -> (String, Vec<String>) {
        let network = self.control("GET", "ec2/default-network?region=us-east-1", None);
        let subnets = network["subnetIds"]
            .as_array()
            .expect("subnet ids")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        (
            network["vpcId"].as_str().expect("a VPC id").to_string(),
            subnets,
        )
    }

    /// Creates a target group no load balancer uses; returns its ARN.
    pub fn create_target_group(&self, name: &str) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
        let (vpc, _) = self.default_network();
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        self.runtime.block_on(async {
            elb.create_target_group()
                .name(name)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .target_type(TargetTypeEnum::Ip)
                .send()
                .await
                .expect("CreateTargetGroup")
                .target_groups()[0]
                .target_group_arn()
                .expect("a target group ARN")
                .to_string()
        })
    }

    /// Creates an Application Load Balancer named `name` with one listener per
    /// target group (ports 80, 8080, 8081, ...: an ECS blue/green service's
    /// production and test listeners), through the real ELBv2 API.
    pub fn create_alb_with_target_groups(&self, name: &str, target_groups: &[&str]) -> AlbSetup {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum,
        };
        let (_, subnets) = self.default_network();
        let group_arns: Vec<String> = target_groups
            .iter()
            .map(|group| self.create_target_group(group))
            .collect();
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk);
        let balancer_arn = self.runtime.block_on(async {
            let balancer = elb
                .create_load_balancer()
                .name(name)
                .r#type(LoadBalancerTypeEnum::Application)
                .set_subnets(Some(subnets.into_iter().take(2).collect()))
                .send()
                .await
                .expect("CreateLoadBalancer")
                .load_balancers()[0]
                .load_balancer_arn()
                .expect("a load balancer ARN")
                .to_string();
            for (i, group) in group_arns.iter().enumerate() {
                let port = if i == 0 { 80 } else { 8079 + i as i32 };
                elb.create_listener()
                    .load_balancer_arn(&balancer)
                    .protocol(ProtocolEnum::Http)
                    .port(port)
                    .default_actions(
                        Action::builder()
                            .r#type(ActionTypeEnum::Forward)
                            .target_group_arn(group)
                            .build(),
                    )
                    .send()
                    .await
                    .expect("CreateListener");
            }
            balancer
        });
        AlbSetup {
            load_balancer: arn_tail(&balancer_arn, "loadbalancer", false),
            target_groups: group_arns
                .iter()
                .map(|arn| arn_tail(arn, "targetgroup", true))
                .collect(),
        }
    }

    /// Replaces the deployment's targets with `targets`, in the API's
    /// `ecsTarget` shape (`taskSetsInfo`) or with `lambdaFunctionInfo`.
    pub fn register_deployment_targets(&self, deployment_id: &str, targets: Vec<Value>) {
        self.control(
            "POST",
            "deployment-targets",
            Some(json!({"deploymentId": deployment_id, "targets": targets})),
        );
    }

    /// One ECS service target `cluster:service` with a Blue task set on
    /// `blue_group` (90 % of traffic) and a Green one on `green_group` (10 %).
    pub fn register_ecs_blue_green(
        &self,
        deployment_id: &str,
        target_id: &str,
        blue_group: &str,
        green_group: &str,
    ) {
        let task_set = |label: &str, group: &str, weight: f64| {
            json!({
                "identifier": format!("ecs-svc/{}", label.to_lowercase()),
                "desiredCount": 2, "pendingCount": 0, "runningCount": 2,
                "status": if label == "Blue" { "PRIMARY" } else { "ACTIVE" },
                "trafficWeight": weight,
                "targetGroup": {"name": group},
                "taskSetLabel": label,
            })
        };
        self.register_deployment_targets(
            deployment_id,
            vec![json!({
                "targetId": target_id,
                "taskSetsInfo": [task_set("Blue", blue_group, 90.0), task_set("Green", green_group, 10.0)],
            })],
        );
    }

    /// An ECS blue/green deployment behind one ALB: target groups `web-blue`
    /// (Blue, serving production) and `web-green` (Green, the replacement),
    /// `minutes` of healthy ALB metrics on both, Green's latencies
    /// `green_slowdown` times Blue's. Returns the ALB.
    pub fn ecs_blue_green_with_slower_green(
        &self,
        deployment_id: &str,
        minutes: usize,
        green_slowdown: f64,
    ) -> AlbSetup {
        let alb = self.create_alb_with_target_groups("web", &["web-blue", "web-green"]);
        let (blue, green) = (&alb.target_groups[0], &alb.target_groups[1]);
        self.register_ecs_blue_green(deployment_id, "cluster:web", "web-blue", "web-green");
        self.seed_alb_on(green, &alb.load_balancer, minutes, |_| {
            AlbMinute::healthy().slower(green_slowdown)
        });
        self.seed_alb_on(blue, &alb.load_balancer, minutes, |_| AlbMinute::healthy());
        alb
    }

    /// One Lambda target `function:alias` shifting traffic from `current` to `target`.
    pub fn register_lambda_target(
        &self,
        deployment_id: &str,
        function: &str,
        alias: &str,
        current: &str,
        target: &str,
        target_weight: f64,
    ) {
        self.register_deployment_targets(
            deployment_id,
            vec![json!({
                "targetId": format!("{function}:{alias}"),
                "lambdaFunctionInfo": {
                    "functionName": function, "functionAlias": alias,
                    "currentVersion": current, "targetVersion": target,
                    "targetVersionWeight": target_weight,
                },
            })],
        );
    }
}

impl Emulator {
    /// An SSM parameter's tier and the texts of its policies (DescribeParameters),
    /// `None` when it does not exist.
    pub fn parameter_tier_and_policies(&self, name: &str) -> Option<(String, Vec<String>)> {
        let client = aws_sdk_ssm::Client::new(&self.sdk);
        self.runtime.block_on(async {
            let output = client
                .describe_parameters()
                .parameter_filters(
                    aws_sdk_ssm::types::ParameterStringFilter::builder()
                        .key("Name")
                        .values(name)
                        .build()
                        .expect("a filter"),
                )
                .send()
                .await
                .expect("DescribeParameters");
            output.parameters().first().map(|p| {
                (
                    p.tier().map(|t| t.as_str().to_string()).unwrap_or_default(),
                    p.policies()
                        .iter()
                        .filter_map(|policy| policy.policy_text().map(str::to_string))
                        .collect(),
                )
            })
        })
    }

    /// An SSM parameter's value, `None` when it does not exist.
    pub fn get_parameter(&self, name: &str) -> Option<String> {
        let client = aws_sdk_ssm::Client::new(&self.sdk);
        self.runtime.block_on(async {
            let output = client
                .get_parameters()
                .names(name)
                .send()
                .await
                .expect("GetParameters");
            output
                .parameters()
                .first()
                .and_then(|p| p.value())
                .map(str::to_string)
        })
    }

    /// Creates an SNS topic (the hooks' alert topic) and returns its ARN.
    pub fn create_topic(&self, name: &str) -> String {
        let client = aws_sdk_sns::Client::new(&self.sdk);
        self.runtime.block_on(async {
            client
                .create_topic()
                .name(name)
                .send()
                .await
                .expect("CreateTopic")
                .topic_arn()
                .expect("a topic ARN")
                .to_string()
        })
    }

    /// Every message published to an SNS topic: `{topicArn, messageId, subject, message}`.
    pub fn sns_messages(&self) -> Vec<Value> {
        self.control("GET", "sns/messages", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The Embedded Metric Format documents a hook printed on stdout.
pub fn emf_documents(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}
