"""REFERENCE ONLY -- a Python boto3 BeforeAllowTraffic hook for the cold-start benchmark.

This is not part of codedeploy-gates and is never deployed. It exists so that
`benches/cold-start/run.py` can compare the Rust hook with what a team would
otherwise write in Python, doing the same work on the same machine:

  init    import boto3, build a CloudWatch and a CodeDeploy client
          (standard retries, 4 attempts; 2 s connect / 10 s read timeouts)
  invoke  poll the Lambda Runtime API like a custom runtime
          (GET /2018-06-01/runtime/invocation/next), then
          GetDeployment and one GetMetricData (the 5 queries the default
          policy's BeforeAllowTraffic section asks for) concurrently,
          judge trivially (the default policy's three gates, simplified),
          PutLifecycleEventHookExecutionStatus, print one JSON record,
          POST the response to the Runtime API, and poll again.

The queries are those `gatectl backtest --hook BeforeAllowTraffic
--print-queries` prints with TARGET_GROUP and LOAD_BALANCER set. boto3 reaches
the emulator through AWS_ENDPOINT_URL, as the Rust SDK does.

The judgement is deliberately trivial (no missing-data or partial-data rules,
no per-gate records): the benchmark is about start-up and round trips, and a
full judge is microseconds either way.
"""

import http.client
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

RUNTIME = os.environ["AWS_LAMBDA_RUNTIME_API"]
TARGET_GROUP = os.environ["TARGET_GROUP"]
LOAD_BALANCER = os.environ["LOAD_BALANCER"]
PERIOD = 60
WINDOW = 300
INGESTION_LAG = 120

# Cold start: clients built once, outside the handler, as the Rust hook does.
_config = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=10,
)
CLOUDWATCH = boto3.client("cloudwatch", config=_config)
CODEDEPLOY = boto3.client("codedeploy", config=_config)
POOL = ThreadPoolExecutor(max_workers=2)


def _query(query_id, metric_name, stat):
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": metric_name,
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
                    {"Name": "TargetGroup", "Value": TARGET_GROUP},
                ],
            },
            "Period": PERIOD,
            "Stat": stat,
        },
        "ReturnData": True,
    }


QUERIES = [
    _query("q0", "HTTPCode_Target_5XX_Count", "Sum"),
    _query("q1", "HealthyHostCount", "Minimum"),
    _query("q2", "RequestCount", "Sum"),
    _query("q3", "TargetResponseTime", "p95"),
    _query("q4", "UnHealthyHostCount", "Maximum"),
]


def fetch_metrics(now):
    end = (now - INGESTION_LAG) // PERIOD * PERIOD
    start = end - WINDOW
    series = {q["Id"]: {} for q in QUERIES}
    kwargs = {
        "MetricDataQueries": QUERIES,
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = CLOUDWATCH.get_metric_data(**kwargs)
        for result in page["MetricDataResults"]:
            points = series.setdefault(result["Id"], {})
            for stamp, value in zip(result["Timestamps"], result["Values"]):
                points[int(stamp.timestamp())] = value
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return start, end, series


def breaches(minutes, predicate):
    """How many of the window's minutes breach; a minute without data breaches."""
    return sum(1 for minute in minutes if predicate(minute))


def judge(start, end, series):
    minutes = range(start, end, PERIOD)
    errors, healthy, requests, p95, unhealthy = (series[f"q{i}"] for i in range(5))

    def error_rate_bad(t):
        if t not in requests or requests[t] < 100:
            return True
        return errors.get(t, 0.0) / requests[t] > 0.01

    def latency_bad(t):
        if t not in p95 or requests.get(t, 0.0) < 100:
            return True
        return p95[t] > 1.0

    def hosts_bad(t):
        if t not in healthy:
            return True
        total = healthy[t] + unhealthy.get(t, 0.0)
        return total <= 0 or healthy[t] / total < 0.95

    failed = []
    if breaches(minutes, error_rate_bad) >= 2:
        failed.append("error-rate")
    if breaches(minutes, latency_bad) >= 3:
        failed.append("latency-p95")
    if breaches(minutes, hosts_bad) >= 2:
        failed.append("healthy-hosts")
    return ("Failed" if failed else "Succeeded"), failed


def handle(event):
    deployment_id = event["DeploymentId"]
    execution_id = event["LifecycleEventHookExecutionId"]
    now = int(time.time())
    described = POOL.submit(CODEDEPLOY.get_deployment, deploymentId=deployment_id)
    try:
        start, end, series = fetch_metrics(now)
        status, failed = judge(start, end, series)
    except Exception as error:  # fail closed, like the Rust hook
        status, failed = "Failed", [f"evidence: {error}"]
    try:
        deployment = described.result()["deploymentInfo"].get("status")
    except Exception as error:
        deployment = f"error: {error}"
    CODEDEPLOY.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id,
        lifecycleEventHookExecutionId=execution_id,
        status=status,
    )
    record = {
        "record": "reference-python-hook.decision",
        "deploymentId": deployment_id,
        "status": status,
        "failed": failed,
        "deployment": deployment,
    }
    print(json.dumps(record), flush=True)
    return {"status": status}


def main():
    host, _, port = RUNTIME.partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80))
    while True:
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            # The emulator retires a killed predecessor's poll with 410; a
            # real runtime would not see this. Poll again.
            time.sleep(0.01)
            continue
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        try:
            result, kind = handle(json.loads(body)), "response"
        except Exception as error:
            result, kind = {"errorType": type(error).__name__, "errorMessage": str(error)}, "error"
        connection.request(
            "POST",
            f"/2018-06-01/runtime/invocation/{request_id}/{kind}",
            body=json.dumps(result),
            headers={"Content-Type": "application/json"},
        )
        connection.getresponse().read()


if __name__ == "__main__":
    sys.exit(main())
