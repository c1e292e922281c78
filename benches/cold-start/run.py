"""Cold-start benchmark: a hook binary under the Lambda Runtime API, against the local emulator.

    cargo build --release -p before-allow-traffic
    .venv/bin/python benches/cold-start/run.py [--runs 20] [--warm 10] [--json out.json]

What it measures, for the Rust hook (target/release/before-allow-traffic) as
it is, for the same binary with GATE_SWITCH_PREFIX=none (no SSM switches: the
same AWS calls as the reference) and, side by side, for the reference Python
boto3 hook (reference_hook.py, which does the same work and is only a
yardstick):

  cold start   N fresh processes, one invocation each. The invocation is queued
               before exec, so the process's first poll of
               /2018-06-01/runtime/invocation/next returns it at once:
                 exec -> status reported   spawn time -> the emulator's record of
                                           PutLifecycleEventHookExecutionStatus
                 exec -> first poll        init (the event's `deliveredAt`)
                 first poll -> reported    the evaluation itself
               All three clocks are time.time() on this machine (harness and
               emulator), so they subtract.
  peak RSS     VmHWM from /proc/<pid>/status, read once the run is over and
               just before the kill: the kernel's high-water mark of the
               process's resident set since exec (nothing sampled, no wrapper).
               Not ru_maxrss from wait4(): Linux carries the pre-exec address
               space's high-water mark into it, and Popen forks (vfork) this
               ~50 MB Python process, so every child would read >= 50 MB.
  warm         one process, one discarded invocation, then W more in a row:
               queued -> status reported.
  AWS calls    what /_harness/calls logged during each run, by operation.
  round trips  the call log has arrival times only, which cannot show whether
               two calls overlapped. So one extra cold start per hook runs with
               every CloudWatch, CodeDeploy and SSM answer delayed by D ms (an
               emulator "slow success" fault): a call that depends on another's
               answer then arrives at least D after it, and calls in flight
               together arrive within a few ms of each other. Arrivals are
               grouped into waves split at gaps >= D/2; the number of waves is
               the number of sequential round trips.
  emulator     the emulator's own share of one evaluation, with raw HTTP (no
               SDK cost on this side; a new connection per call, as the
               emulator answers `Connection: close`): /next delivering a queued
               event, GetDeployment (awsJson 1.1, as the Rust SDK sends it),
               GetMetricData (CBOR) and GetParameters sent together, then
               PutLifecycleEventHookExecutionStatus; plus the same calls made
               with warm boto3 clients, for reference.

Every wait is bounded (invocations time out after 30 s, processes are killed);
nothing here asserts on time. Exits 1 if any run did not end with the status
reported as Succeeded, which would make its timings meaningless.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import http.client
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
TARGET_GROUP = "targetgroup/web-green/0123456789abcdef"
LOAD_BALANCER = "app/web/fedcba9876543210"
INVOKE_TIMEOUT_MS = 30_000
PROBE_DELAY_MS = 150


# --------------------------------------------------------------------- emulator


class Emulator:
    """tests/harness/emulator.py on a free loopback port; dies with our stdin pipe."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(VENV_PYTHON), str(ROOT / "tests" / "harness" / "emulator.py"), "--port", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        line = self.process.stdout.readline()
        try:
            self.port = json.loads(line)["port"]
        except (ValueError, KeyError):
            self.close()
            raise SystemExit(f"the emulator did not print its port (got {line!r}); run ./dev test once to install it")
        self.address = f"127.0.0.1:{self.port}"
        self.endpoint = f"http://{self.address}"
        self.control_connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload else {}
        self.control_connection.request(method, f"/_harness/{path}", body=payload, headers=headers)
        response = self.control_connection.getresponse()
        text = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} /_harness/{path}: HTTP {response.status}: {text[:300]!r}")
        return json.loads(text) if text else None

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )


def alb_dimensions() -> list[dict[str, str]]:
    return [{"Name": "TargetGroup", "Value": TARGET_GROUP}, {"Name": "LoadBalancer", "Value": LOAD_BALANCER}]


def seed(emulator: Emulator) -> str:
    """An ECS deployment and ten healthy minutes of ALB metrics; returns the deployment id."""
    codedeploy = emulator.client("codedeploy")
    codedeploy.create_application(applicationName="web", computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName="web",
        deploymentGroupName="web-prod",
        serviceRoleArn="arn:aws:iam::123456789012:role/CodeDeployServiceRole",
    )
    deployment_id = codedeploy.create_deployment(applicationName="web", deploymentGroupName="web-prod")["deploymentId"]
    # What tests/src/lib.rs AlbMinute::healthy() publishes: 1000 requests,
    # 0.2 % errors, p95 ~0.3 s, 4 of 4 hosts healthy.
    now = int(time.time())
    current = now - now % 60
    data = []
    for i in range(10):
        stamp = datetime.datetime.fromtimestamp(current - 60 * (10 - i), datetime.timezone.utc)

        def datum(name: str, **value: Any) -> dict[str, Any]:
            return {"MetricName": name, "Dimensions": alb_dimensions(), "Timestamp": stamp, **value}

        data += [
            datum("RequestCount", Value=1000.0),
            datum("HTTPCode_Target_5XX_Count", Value=2.0),
            datum("TargetResponseTime", Values=[0.05, 0.12, 0.25, 0.3, 0.6], Counts=[500.0, 300.0, 160.0, 30.0, 10.0]),
            datum("HealthyHostCount", Value=4.0),
            datum("UnHealthyHostCount", Value=0.0),
        ]
    emulator.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)
    return deployment_id


# --------------------------------------------------------------------- hooks


LABELS = {"rust": "Rust", "rust-same-work": "Rust, no SSM", "python": "Python ref"}
SHORT = {"rust": "Rust", "rust-same-work": "noSSM"}


class Hook:
    def __init__(self, name: str, argv: list[str], label: str, extra: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.label = label
        self.extra = extra or {}

    def environment(self, emulator: Emulator) -> dict[str, str]:
        # What tests/src/lib.rs HookProcess::start sets, nothing inherited but PATH.
        return {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": emulator.address,
            "AWS_ENDPOINT_URL": emulator.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": "before-allow-traffic",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/before-allow-traffic",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "TARGET_GROUP": TARGET_GROUP,
            "LOAD_BALANCER": LOAD_BALANCER,
            "RUST_LOG": "info",
            **self.extra,
        }


class Process:
    """One hook process; its output goes to files so no pipe can fill up."""

    def __init__(self, hook: Hook, emulator: Emulator, logs: Path):
        self.stdout_path = logs / f"{hook.name}-{uuid.uuid4().hex[:8]}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.spawned_at = time.time()
            self.popen = subprocess.Popen(hook.argv, env=hook.environment(emulator), stdout=out, stderr=err, cwd=ROOT)

    def peak_rss_kib(self) -> int | None:
        """VmHWM: the high-water mark of this process's resident set since exec, in KiB."""
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def kill(self) -> int | None:
        """Kills the process; returns its peak RSS in KiB, read just before."""
        peak = self.peak_rss_kib()
        self.popen.kill()
        self.popen.wait()
        return peak

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def event(deployment_id: str, execution_id: str) -> dict[str, str]:
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id}


def queue(emulator: Emulator, deployment_id: str, execution_id: str) -> str:
    queued = emulator.control("POST", "invoke", {"event": event(deployment_id, execution_id), "timeout_ms": INVOKE_TIMEOUT_MS})
    return queued["requestId"]


def outcome(emulator: Emulator, request_id: str, execution_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The invocation's outcome and the lifecycle report it made (None if none)."""
    finished = emulator.control("GET", f"invocations/{request_id}?wait_ms={INVOKE_TIMEOUT_MS + 5000}")
    reports = [r for r in emulator.control("GET", "lifecycle") if r["lifecycleEventHookExecutionId"] == execution_id]
    return finished, (reports[0] if reports else None)


def problem(finished: dict[str, Any], report: dict[str, Any] | None) -> str | None:
    if finished["state"] != "success":
        return f"invocation {finished['state']}: {finished.get('errorType')} {finished.get('errorMessage')}"
    if report is None:
        return "no PutLifecycleEventHookExecutionStatus was recorded"
    if report["status"] != "Succeeded" or report["outcome"] != "accepted":
        return f"reported {report['status']} ({report['outcome']})"
    return None


def cold_start(hook: Hook, emulator: Emulator, deployment_id: str, logs: Path) -> dict[str, Any]:
    """One fresh process, one invocation queued before exec."""
    emulator.control("POST", "runtime/restart")
    execution_id = f"cold-{uuid.uuid4().hex[:12]}"
    request_id = queue(emulator, deployment_id, execution_id)
    calls_before = len(emulator.control("GET", "calls"))
    process = Process(hook, emulator, logs)
    finished, report = outcome(emulator, request_id, execution_id)
    peak_rss_kib = process.kill()
    calls = emulator.control("GET", "calls")[calls_before:]
    run: dict[str, Any] = {
        "problem": problem(finished, report),
        "peak_rss_kib": peak_rss_kib,
        "calls": [c["operation"] for c in calls],
        "call_offsets_ms": [round((c["at"] - process.spawned_at) * 1000, 2) for c in calls],
    }
    if run["problem"]:
        run["stderr"] = process.stderr()[-2000:]
        return run
    run["exec_to_reported_ms"] = (report["at"] - process.spawned_at) * 1000
    run["exec_to_first_poll_ms"] = (finished["deliveredAt"] - process.spawned_at) * 1000
    run["first_poll_to_reported_ms"] = (report["at"] - finished["deliveredAt"]) * 1000
    run["exec_to_response_ms"] = (finished["finishedAt"] - process.spawned_at) * 1000
    by_operation = {c["operation"]: c["at"] for c in calls}
    if "GetDeployment" in by_operation and "GetMetricData" in by_operation:
        run["gd_gmd_arrival_gap_ms"] = abs(by_operation["GetDeployment"] - by_operation["GetMetricData"]) * 1000
    return run


def warm(hook: Hook, emulator: Emulator, deployment_id: str, logs: Path, count: int) -> dict[str, Any]:
    """One process: a discarded first invocation, then `count` more, one at a time."""
    emulator.control("POST", "runtime/restart")
    execution_id = f"warmup-{uuid.uuid4().hex[:12]}"
    request_id = queue(emulator, deployment_id, execution_id)
    process = Process(hook, emulator, logs)
    latencies, problems = [], []
    finished, report = outcome(emulator, request_id, execution_id)
    if problem(finished, report):
        problems.append(problem(finished, report))
    for _ in range(count):
        execution_id = f"warm-{uuid.uuid4().hex[:12]}"
        request_id = queue(emulator, deployment_id, execution_id)
        finished, report = outcome(emulator, request_id, execution_id)
        issue = problem(finished, report)
        if issue:
            problems.append(issue)
            continue
        latencies.append(
            {
                "queued_to_reported_ms": (report["at"] - finished["queuedAt"]) * 1000,
                "queued_to_response_ms": (finished["finishedAt"] - finished["queuedAt"]) * 1000,
            }
        )
    peak_rss_kib = process.kill()
    return {"latencies": latencies, "problems": problems, "peak_rss_kib": peak_rss_kib}


def round_trip_probe(hook: Hook, emulator: Emulator, deployment_id: str, logs: Path) -> dict[str, Any]:
    """One cold start with every AWS answer PROBE_DELAY_MS late; arrivals grouped into waves."""
    for service in ("cloudwatch", "codedeploy", "ssm"):
        emulator.control("POST", "faults", {"service": service, "status": 200, "delay_ms": PROBE_DELAY_MS})
    try:
        run = cold_start(hook, emulator, deployment_id, logs)
    finally:
        emulator.control("DELETE", "faults")
    waves: list[list[tuple[str, float]]] = []
    for operation, offset in zip(run["calls"], run["call_offsets_ms"]):
        if waves and offset - waves[-1][-1][1] < PROBE_DELAY_MS / 2:
            waves[-1].append((operation, offset))
        else:
            waves.append([(operation, offset)])
    run["waves"] = [[f"{op} @{offset:.1f} ms" for op, offset in wave] for wave in waves]
    return run


# --------------------------------------------------------------------- the emulator's share


def emulator_share(emulator: Emulator, deployment_id: str, repeats: int) -> dict[str, Any]:
    """The emulator's own latency for one evaluation's critical path, client cost excluded."""
    cloudwatch = emulator.client("cloudwatch")
    codedeploy = emulator.client("codedeploy")
    captured: dict[str, Any] = {}

    def capture(request, **_: Any) -> None:
        captured["request"] = request

    # The CBOR GetMetricData exactly as botocore sends it (the Rust SDK also
    # speaks CBOR to CloudWatch); replayed below on a raw connection.
    cloudwatch.meta.events.register("before-send.cloudwatch.GetMetricData", capture)
    now = int(time.time())
    end = (now - 120) // 60 * 60
    queries = reference_queries()
    cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - 300, EndTime=end, ScanBy="TimestampAscending")
    cloudwatch.meta.events.unregister("before-send.cloudwatch.GetMetricData", capture)
    gmd_request = captured["request"]
    gmd = (
        gmd_request.url.split(emulator.address, 1)[1],
        {k: v for k, v in gmd_request.headers.items() if k.lower() not in ("host", "content-length")},
        gmd_request.body,
    )

    def json_call(service: str, target: str, body: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        # awsJson 1.1, as aws-sdk-codedeploy and aws-sdk-ssm send it; the
        # emulator reads the service from the credential scope and does not
        # check signatures.
        stamp = time.strftime("%Y%m%d", time.gmtime())
        return (
            "/",
            {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": target,
                "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{stamp}/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00",
            },
            json.dumps(body).encode(),
        )

    gd = json_call("codedeploy", "CodeDeploy_20141006.GetDeployment", {"deploymentId": deployment_id})
    # The Rust hook's run-time switches: one GetParameters, beside the metrics.
    ssm = json_call(
        "ssm", "AmazonSSM.GetParameters", {"Names": ["/codedeploy-gates/freeze", "/codedeploy-gates/override/BeforeAllowTraffic"]}
    )
    # InProgress is not terminal, so the same report can be repeated.
    put = json_call(
        "codedeploy",
        "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
        {"deploymentId": deployment_id, "lifecycleEventHookExecutionId": "emulator-share", "status": "InProgress"},
    )

    # The emulator answers `Connection: close`, so every request here opens a
    # TCP connection, as every call of a hook does against it.
    def send(call: tuple[str, dict[str, str], bytes | None], method: str = "POST") -> float:
        path, headers, body = call
        conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=30)
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        conn.close()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        return elapsed

    def together(*calls: tuple[str, dict[str, str], bytes]) -> float:
        started = time.perf_counter()
        for future in [pool.submit(send, call) for call in calls]:
            future.result()
        return (time.perf_counter() - started) * 1000

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=3)
    keys = ("next", "gd", "gmd", "ssm", "gd_gmd", "gd_gmd_ssm", "put", "response", "path_2_calls", "path_3_calls")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    boto: dict[str, list[float]] = {k: [] for k in ("gd", "gmd", "put")}
    emulator.control("POST", "runtime/restart")
    for i in range(repeats + 2):
        request_id = queue(emulator, deployment_id, f"share-{i}")
        t = {
            "next": send(("/2018-06-01/runtime/invocation/next", {}, None), "GET"),
            "gd": send(gd),
            "gmd": send(gmd),
            "ssm": send(ssm),
            "gd_gmd": together(gd, gmd),
            "gd_gmd_ssm": together(gd, gmd, ssm),
            "put": send(put),
            "response": send((f"/2018-06-01/runtime/invocation/{request_id}/response", {"Content-Type": "application/json"}, b"{}")),
        }
        t["path_2_calls"] = t["next"] + t["gd_gmd"] + t["put"]
        t["path_3_calls"] = t["next"] + t["gd_gmd_ssm"] + t["put"]
        started = time.perf_counter()
        codedeploy.get_deployment(deploymentId=deployment_id)
        boto["gd"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=end - 300, EndTime=end, ScanBy="TimestampAscending")
        boto["gmd"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId="emulator-share-boto3", status="InProgress"
        )
        boto["put"].append((time.perf_counter() - started) * 1000)
        if i < 2:  # the first rounds warm moto's caches
            continue
        for key in keys:
            samples[key].append(t[key])
    pool.shutdown()
    return {"raw": samples, "boto3": {k: v[2:] for k, v in boto.items()}}


def reference_queries() -> list[dict[str, Any]]:
    """The five queries the default policy's BeforeAllowTraffic section sends."""
    metrics = [
        ("HTTPCode_Target_5XX_Count", "Sum"),
        ("HealthyHostCount", "Minimum"),
        ("RequestCount", "Sum"),
        ("TargetResponseTime", "p95"),
        ("UnHealthyHostCount", "Maximum"),
    ]
    return [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ApplicationELB",
                    "MetricName": name,
                    "Dimensions": [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}, {"Name": "TargetGroup", "Value": TARGET_GROUP}],
                },
                "Period": 60,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for i, (name, stat) in enumerate(metrics)
    ]


# --------------------------------------------------------------------- report


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "p90": percentile(values, 90), "min": min(values), "max": max(values), "n": len(values)}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        mem_kib = 0
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def cell(s: dict[str, float] | None) -> str:
    return f"{s['median']:8.1f} {s['p90']:7.1f}" if s else f"{'-':>8} {'-':>7}"


def print_report(results: dict[str, Any]) -> None:
    hooks = results["hooks"]
    names = list(hooks)
    rust_names = [n for n in names if n != "python"]
    m = results["machine"]
    print()
    print(f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
          f"load average {m['load_average_at_start'][0]:.2f} at start, {results['load_average_at_end'][0]:.2f} at end")
    print(f"{results['runs']} cold starts and {results['warm']} warm invocations per hook; median and nearest-rank p90")
    print()
    header = f"{'':<34} {'':<4}" + "".join(f" {LABELS[n]:>16}" for n in names)
    if "python" in hooks:
        header += "".join(f"  {'Py/' + SHORT[n]:>8}" for n in rust_names)
    print(header)
    print(f"{'':<34} {'':<4}" + "".join(f" {'median':>8} {'p90':>7}" for _ in names))
    rows = [
        ("exec -> status reported", "cold", "exec_to_reported_ms", "ms", True),
        ("  exec -> first poll (init)", "cold", "exec_to_first_poll_ms", "ms", True),
        ("  first poll -> status reported", "cold", "first_poll_to_reported_ms", "ms", True),
        ("exec -> invocation response", "cold", "exec_to_response_ms", "ms", True),
        ("GetDeployment/GetMetricData gap*", "cold", "gd_gmd_arrival_gap_ms", "ms", False),
        ("peak RSS (VmHWM), cold start", "cold", "peak_rss_mib", "MiB", True),
        ("warm: queued -> status reported", "warm", "queued_to_reported_ms", "ms", True),
        ("warm: queued -> response", "warm", "queued_to_response_ms", "ms", True),
    ]
    for label, phase, key, unit, ratio in rows:
        line = f"{label:<34} {unit:<4}" + "".join(f" {cell(hooks[n][phase].get(key))}" for n in names)
        python = hooks.get("python", {}).get(phase, {}).get(key)
        if ratio and python:
            for n in rust_names:
                rust = hooks[n][phase].get(key)
                line += f"  {python['median'] / rust['median']:7.1f}x" if rust and rust["median"] > 0 else f"  {'-':>8}"
        print(line)
    print("* arrival times in the emulator's call log; see the round-trip probe below for overlap")
    for name in names:
        hook = hooks[name]
        print()
        print(f"{LABELS[name]}: AWS calls per evaluation: {hook['calls_per_evaluation']}")
        print(f"{LABELS[name]}: peak RSS after {results['warm']} warm invocations {hook['warm']['peak_rss_mib']:.1f} MiB")
        probe = hook["round_trip_probe"]
        print(f"{LABELS[name]}: {len(probe['waves'])} sequential AWS round trips (every answer delayed {PROBE_DELAY_MS} ms; offsets from exec):")
        for i, wave in enumerate(probe["waves"], 1):
            print(f"    {i}. {', '.join(wave)}")
    share = results["emulator_share"]["raw_summary"]
    print()
    print("the emulator's own latency (raw HTTP, a new connection per call as the emulator closes them), median / p90 ms:")
    for key, label in (
        ("next", "/next delivers a queued event"),
        ("gd", "GetDeployment (awsJson 1.1)"),
        ("gmd", "GetMetricData, 5 queries (CBOR)"),
        ("ssm", "GetParameters (awsJson 1.1)"),
        ("gd_gmd", "GetDeployment + GetMetricData together"),
        ("gd_gmd_ssm", "... + GetParameters, all three together"),
        ("put", "PutLifecycleEventHookExecutionStatus"),
        ("response", "runtime response POST"),
        ("path_2_calls", "critical path: next + 2 together + put"),
        ("path_3_calls", "critical path: next + 3 together + put"),
    ):
        print(f"    {label:<44} {share[key]['median']:6.1f} {share[key]['p90']:6.1f}")
    boto = results["emulator_share"]["boto3_summary"]
    print("  the same calls through warm boto3 clients (CBOR for both services), median ms: "
          + ", ".join(f"{k} {v['median']:.1f}" for k, v in boto.items()))
    print()
    for name in rust_names:
        total = hooks[name]["cold"].get("exec_to_reported_ms")
        if not total:
            continue
        path = share["path_3_calls" if name == "rust" else "path_2_calls"]["median"]
        print(f"{LABELS[name]}: exec -> status reported {total['median']:.1f} ms median; the emulator's critical path "
              f"{path:.1f} ms ({path / total['median']:.0%}); the rest, {total['median'] - path:.1f} ms, is process start, "
              "the hook's own work and waiting for a CPU")


def summarise_hook(runs: list[dict[str, Any]], warm_run: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
    good = [r for r in runs if not r["problem"]]
    cold = {key: summary([r[key] for r in good if key in r]) for key in (
        "exec_to_reported_ms", "exec_to_first_poll_ms", "first_poll_to_reported_ms", "exec_to_response_ms", "gd_gmd_arrival_gap_ms")}
    cold["peak_rss_mib"] = summary([r["peak_rss_kib"] / 1024 for r in runs if r["peak_rss_kib"]])
    counts: dict[str, int] = {}
    for r in good:
        key = ", ".join(f"{op} x{r['calls'].count(op)}" for op in sorted(set(r["calls"])))
        counts[key] = counts.get(key, 0) + 1
    return {
        "cold": cold,
        "warm": {
            "queued_to_reported_ms": summary([w["queued_to_reported_ms"] for w in warm_run["latencies"]]),
            "queued_to_response_ms": summary([w["queued_to_response_ms"] for w in warm_run["latencies"]]),
            "peak_rss_mib": (warm_run["peak_rss_kib"] or 0) / 1024,
        },
        "calls_per_evaluation": "; ".join(f"{k} (in {n} of {len(good)} runs)" for k, n in counts.items()),
        "round_trip_probe": probe,
        "problems": [r["problem"] for r in runs if r["problem"]] + warm_run["problems"] + ([probe["problem"]] if probe["problem"] else []),
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="cold starts per hook (default 20)")
    parser.add_argument("--warm", type=int, default=10, help="warm invocations per hook (default 10)")
    parser.add_argument("--share-repeats", type=int, default=30, help="samples of the emulator's own latency")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "before-allow-traffic"), help="the Rust hook")
    parser.add_argument("--no-python", action="store_true", help="skip the Python reference hook")
    parser.add_argument("--json", help="also write every sample to this file")
    args = parser.parse_args()
    if not Path(args.binary).is_file():
        print(f"{args.binary} does not exist: cargo build --release -p before-allow-traffic", file=sys.stderr)
        return 2

    hooks = [
        Hook("rust", [args.binary], "Rust"),
        # GATE_SWITCH_PREFIX=none turns the SSM switches (one GetParameters per
        # evaluation) off: the same AWS calls as the reference hook makes.
        Hook("rust-same-work", [args.binary], "Rust, switches off", {"GATE_SWITCH_PREFIX": "none"}),
    ]
    if not args.no_python:
        # Lambda sets AWS_DEFAULT_REGION as well as AWS_REGION; boto3 reads only the former.
        hooks.append(
            Hook("python", [str(VENV_PYTHON), str(HERE / "reference_hook.py")], "Python reference", {"AWS_DEFAULT_REGION": "us-east-1"})
        )

    results: dict[str, Any] = {"machine": machine(), "runs": args.runs, "warm": args.warm, "binary": args.binary, "hooks": {}}
    emulator = Emulator()
    try:
        deployment_id = seed(emulator)
        share = emulator_share(emulator, deployment_id, args.share_repeats)
        results["emulator_share"] = {
            **share,
            "raw_summary": {k: summary(v) for k, v in share["raw"].items()},
            "boto3_summary": {k: summary(v) for k, v in share["boto3"].items()},
        }
        with tempfile.TemporaryDirectory(prefix="cold-start-") as logs:
            for hook in hooks:
                print(f"{hook.label}: priming run (discarded: page cache, .pyc files)", file=sys.stderr)
                cold_start(hook, emulator, deployment_id, Path(logs))
                runs = []
                for i in range(args.runs):
                    runs.append(cold_start(hook, emulator, deployment_id, Path(logs)))
                    print(f"{hook.label}: cold start {i + 1}/{args.runs}: "
                          f"{runs[-1].get('exec_to_reported_ms', float('nan')):.1f} ms, {(runs[-1]['peak_rss_kib'] or 0) / 1024:.1f} MiB"
                          f"{'  ' + runs[-1]['problem'] if runs[-1]['problem'] else ''}", file=sys.stderr)
                warm_run = warm(hook, emulator, deployment_id, Path(logs), args.warm)
                probe = round_trip_probe(hook, emulator, deployment_id, Path(logs))
                results["hooks"][hook.name] = summarise_hook(runs, warm_run, probe)
    finally:
        emulator.close()

    results["load_average_at_end"] = os.getloadavg()
    print_report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    problems = [(name, p) for name, hook in results["hooks"].items() for p in hook["problems"]]
    for name, p in problems:
        print(f"PROBLEM ({name}): {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
