"""Checks of the emulator from the outside, the way the Rust tests will use it.

One emulator process per module (started like a test would: stdin piped, port
read from the first stdout line), reset before every test.  CloudWatch is
exercised in rpcv2Cbor built by hand exactly as aws-sdk-cloudwatch sends it
(tag-1 timestamps, smithy-protocol header, SigV4 for "monitoring");
CodeDeploy through boto3 (awsJson1_1, as aws-sdk-codedeploy speaks it).

Run: .venv/bin/python -m pytest tests/harness -q
"""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import threading
import time
from typing import Any

import boto3
import botocore.session
import cbor2
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

EMULATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulator.py")
REGION = "us-east-1"
CREDENTIALS = Credentials("AKIDHARNESSTEST", "harness-secret")
CLOUDWATCH_CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"
NS = "Harness/Test"
# A whole hour in the past: every bucket below is period-aligned and complete.
BASE = (int(time.time()) // 3600 - 1) * 3600


def start_emulator(log_path: str) -> tuple[subprocess.Popen[bytes], int]:
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, EMULATOR, "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    log.close()
    line = process.stdout.readline()
    assert line, f"emulator exited early; see {log_path}"
    return process, json.loads(line)["port"]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory):
    process, port = start_emulator(str(tmp_path_factory.mktemp("emulator") / "stderr.log"))
    yield f"http://127.0.0.1:{port}"
    process.stdin.close()  # EOF on stdin is the emulator's signal to stop
    assert process.wait(timeout=10) == 0


@pytest.fixture(autouse=True)
def clean_state(base_url: str) -> None:
    assert requests.post(f"{base_url}/_harness/reset").status_code == 200


def control(base_url: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{base_url}/_harness/{path}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- CBOR client


def ts(seconds: float) -> cbor2.CBORTag:
    """A timestamp as the Rust SDK encodes it: CBOR tag 1, epoch seconds."""
    return cbor2.CBORTag(1, seconds)


def cbor_request(base_url: str, operation: str, payload: dict[str, Any], compress: bool = False) -> requests.Response:
    body = cbor2.dumps(payload)
    headers = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor", "Accept": "application/cbor"}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    url = base_url + CLOUDWATCH_CBOR_PATH + operation
    request = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, "monitoring", REGION).add_auth(request)
    return requests.post(url, data=body, headers=dict(request.headers), timeout=30)


def cbor_ok(base_url: str, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = cbor_request(base_url, operation, payload)
    assert response.status_code == 200, (response.status_code, response.content)
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    if not response.content:
        return {}
    assert response.headers["Content-Type"] == "application/cbor"
    return cbor2.loads(response.content)


def cbor_error(response: requests.Response) -> tuple[str, str, dict[str, Any]]:
    """(status code class check done by caller) -> (__type, x-amzn-query-error, body)."""
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"
    body = cbor2.loads(response.content)
    return body["__type"], response.headers.get("x-amzn-query-error", ""), body


def put_data(base_url: str, metric_data: list[dict[str, Any]]) -> None:
    response = cbor_request(base_url, "PutMetricData", {"Namespace": NS, "MetricData": metric_data})
    assert response.status_code == 200, response.content
    assert response.content == b"" and "Content-Type" not in response.headers  # PutMetricData has no output
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"


def stat_query(query_id: str, stat: str, dims: list[dict[str, str]], metric: str = "Latency", period: int = 60) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {"Metric": {"Namespace": NS, "MetricName": metric, "Dimensions": dims}, "Period": period, "Stat": stat},
    }


API = [{"Name": "Service", "Value": "api"}]


def seed_latency(base_url: str) -> None:
    """Bucket BASE: 10, 20, 20, 30 (Values+Counts) and 100; bucket BASE+60:
    1..100; plus points that must not be counted."""
    put_data(
        base_url,
        [
            {"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE), "Values": [10.0, 20.0, 30.0], "Counts": [1.0, 2.0, 1.0]},
            {"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE + 30.5), "Value": 100.0},
            {"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE + 60), "Values": [float(v) for v in range(1, 101)]},
            # Before StartTime / at EndTime: outside [StartTime, EndTime).
            {"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE - 1), "Value": 5000.0},
            {"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE + 120), "Value": 5000.0},
            # Same name, other dimension sets: other metrics.
            {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "other"}], "Timestamp": ts(BASE + 1), "Value": 9999.0},
            {"MetricName": "Latency", "Dimensions": API + [{"Name": "Stage", "Value": "canary"}], "Timestamp": ts(BASE + 1), "Value": 9999.0},
            {"MetricName": "Latency", "Timestamp": ts(BASE + 1), "Value": 9999.0},
        ],
    )


# ---------------------------------------------------------------- CloudWatch over CBOR


def test_get_metric_data_statistics_over_cbor(base_url: str) -> None:
    seed_latency(base_url)
    stats = {"sum": "Sum", "avg": "Average", "pct95": "p95", "pct50": "p50", "pct999": "p99.9", "n": "SampleCount", "lo": "Minimum", "hi": "Maximum"}
    payload = {
        "StartTime": ts(BASE),
        "EndTime": ts(BASE + 120),
        "MetricDataQueries": [stat_query(query_id, stat, API) for query_id, stat in stats.items()],
    }
    response = cbor_request(base_url, "GetMetricData", payload)
    assert response.status_code == 200
    output = cbor2.loads(response.content)
    results = {r["Id"]: r for r in output["MetricDataResults"]}
    assert set(results) == set(stats)
    second = BASE + 60
    expected = {
        "sum": [5050.0, 180.0],
        "avg": [50.5, 36.0],
        "pct95": [95.0, 100.0],
        "pct50": [50.0, 20.0],
        "pct999": [100.0, 100.0],
        "n": [100.0, 5.0],
        "lo": [1.0, 10.0],
        "hi": [100.0, 100.0],
    }
    for query_id, values in expected.items():
        result = results[query_id]
        assert result["Values"] == values, query_id
        assert all(isinstance(v, float) for v in result["Values"])  # CBOR floats, as the Rust decoder needs
        # Tag 1 decodes to datetimes; newest first by default.
        assert [t.timestamp() for t in result["Timestamps"]] == [second, BASE]
        assert result["StatusCode"] == "Complete"
        assert result["Label"] == "Latency"
    assert "NextToken" not in output

    # botocore's own rpcv2Cbor parser accepts the answer too.
    model = botocore.session.get_session().get_service_model("cloudwatch")
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"status_code": 200, "headers": dict(response.headers), "body": response.content},
        model.operation_model("GetMetricData").output_shape,
    )
    assert parsed["MetricDataResults"][0]["Timestamps"][0].timestamp() == second


def test_get_metric_data_ascending_label_and_unit(base_url: str) -> None:
    seed_latency(base_url)
    put_data(base_url, [{"MetricName": "Size", "Timestamp": ts(BASE + 5), "Value": 3.0, "Unit": "Bytes"}])
    output = cbor_ok(
        base_url,
        "GetMetricData",
        {
            "StartTime": ts(BASE - 600),
            "EndTime": ts(BASE + 600),
            "ScanBy": "TimestampAscending",
            "MetricDataQueries": [
                dict(stat_query("a", "Sum", API), Label="my label"),
                stat_query("b", "Sum", []),  # the dimensionless Latency metric only
                dict(stat_query("c", "Sum", [], metric="Size"), ReturnData=False),
                {"Id": "d", "MetricStat": dict(stat_query("d", "Sum", [], metric="Size")["MetricStat"], Unit="Bytes")},
                {"Id": "e", "MetricStat": dict(stat_query("e", "Sum", [], metric="Size")["MetricStat"], Unit="Seconds")},
            ],
        },
    )
    results = {r["Id"]: r for r in output["MetricDataResults"]}
    assert set(results) == {"a", "b", "d", "e"}
    assert results["a"]["Label"] == "my label"
    assert [t.timestamp() for t in results["a"]["Timestamps"]] == [BASE - 60, BASE, BASE + 60, BASE + 120]
    assert results["a"]["Values"] == [5000.0, 180.0, 5050.0, 5000.0]
    assert results["b"]["Values"] == [9999.0]
    assert results["d"]["Values"] == [3.0]
    assert results["e"]["Values"] == []


def test_put_metric_data_gzip_body(base_url: str) -> None:
    # aws-sdk-cloudwatch gzips PutMetricData bodies above 10 KiB.
    metric_data = [{"MetricName": "Big", "Timestamp": ts(BASE + i), "Value": 1.0} for i in range(400)]
    response = cbor_request(base_url, "PutMetricData", {"Namespace": NS, "MetricData": metric_data}, compress=True)
    assert response.status_code == 200, response.content
    output = cbor_ok(
        base_url,
        "GetMetricData",
        {"StartTime": ts(BASE), "EndTime": ts(BASE + 3600), "MetricDataQueries": [stat_query("n", "SampleCount", [], metric="Big", period=3600)]},
    )
    assert output["MetricDataResults"][0]["Values"] == [400.0]


def test_get_metric_data_paging(base_url: str) -> None:
    put_data(base_url, [{"MetricName": "Count", "Timestamp": ts(BASE + 60 * i), "Value": float(i)} for i in range(5)])
    payload = {
        "StartTime": ts(BASE),
        "EndTime": ts(BASE + 3600),
        "ScanBy": "TimestampAscending",
        "MaxDatapoints": 3,
        "MetricDataQueries": [stat_query("a", "Sum", [], metric="Count"), stat_query("b", "Maximum", [], metric="Count")],
    }
    pages = []
    while True:
        output = cbor_ok(base_url, "GetMetricData", payload)
        pages.append(output)
        if "NextToken" not in output:
            break
        payload["NextToken"] = output["NextToken"]
    assert len(pages) == 4  # 10 datapoints, 3 a page
    for page in pages[:-1]:
        assert {r["StatusCode"] for r in page["MetricDataResults"]} == {"PartialData"}
        assert sum(len(r["Values"]) for r in page["MetricDataResults"]) == 3
    assert {r["StatusCode"] for r in pages[-1]["MetricDataResults"]} == {"Complete"}
    for query_id in ("a", "b"):
        values = [v for page in pages for r in page["MetricDataResults"] if r["Id"] == query_id for v in r["Values"]]
        assert values == [0.0, 1.0, 2.0, 3.0, 4.0]

    payload["NextToken"] = "not-a-token"
    kind, query_error, _ = cbor_error(response := cbor_request(base_url, "GetMetricData", payload))
    assert response.status_code == 400
    assert kind.endswith("#InvalidNextToken") and query_error == "InvalidNextToken;Sender"


def minute_sums(base_url: str) -> tuple[list[float], list[float]]:
    """(timestamps, values) of the Sum of `Count` per minute over the hour from BASE, oldest first."""
    output = cbor_ok(
        base_url,
        "GetMetricData",
        {
            "StartTime": ts(BASE),
            "EndTime": ts(BASE + 3600),
            "ScanBy": "TimestampAscending",
            "MetricDataQueries": [stat_query("a", "Sum", [], metric="Count")],
        },
    )
    result = output["MetricDataResults"][0]
    return [t.timestamp() for t in result["Timestamps"]], result["Values"]


def test_get_metric_data_counts_data_put_after_an_earlier_query(base_url: str) -> None:
    # GetMetricData keeps moto's datums grouped between calls; what is put
    # later must count, and a bucket sums its values in the order they were
    # put, as a scan of moto's list would: (0.3 + 0.2) + 0.1 != (0.3 + 0.1) + 0.2.
    put_data(base_url, [{"MetricName": "Count", "Timestamp": ts(BASE), "Value": 0.3}])
    assert minute_sums(base_url) == ([BASE], [0.3])
    put_data(
        base_url,
        [
            {"MetricName": "Count", "Timestamp": ts(BASE + 1), "Value": 0.2},
            {"MetricName": "Count", "Timestamp": ts(BASE), "Value": 0.1},
            {"MetricName": "Count", "Timestamp": ts(BASE + 60), "Value": 5.0},
        ],
    )
    assert minute_sums(base_url) == ([BASE, BASE + 60], [0.3 + 0.2 + 0.1, 5.0])
    assert 0.3 + 0.2 + 0.1 != 0.3 + 0.1 + 0.2


def test_get_metric_data_forgets_data_after_a_reset(base_url: str) -> None:
    put_data(base_url, [{"MetricName": "Count", "Timestamp": ts(BASE), "Value": 7.0}])
    assert minute_sums(base_url) == ([BASE], [7.0])
    # moto's own reset, behind the emulator's back, then the emulator's.
    assert requests.post(f"{base_url}/moto-api/reset", timeout=30).status_code == 200
    put_data(base_url, [{"MetricName": "Count", "Timestamp": ts(BASE + 60), "Value": 2.0}])
    assert minute_sums(base_url) == ([BASE + 60], [2.0])
    control(base_url, "POST", "reset")
    assert minute_sums(base_url) == ([], [])


def test_get_metric_data_expression_is_rejected(base_url: str) -> None:
    response = cbor_request(
        base_url,
        "GetMetricData",
        {"StartTime": ts(BASE), "EndTime": ts(BASE + 60), "MetricDataQueries": [{"Id": "e1", "Expression": "SUM(METRICS())"}]},
    )
    assert response.status_code == 400
    kind, query_error, body = cbor_error(response)
    assert kind == "com.amazonaws.cloudwatch#ValidationException"
    assert query_error == "ValidationError;Sender"
    assert "e1" in body["message"] and "not supported" in body["message"]


def test_list_metrics_dimension_filter(base_url: str) -> None:
    seed_latency(base_url)
    everything = cbor_ok(base_url, "ListMetrics", {"Namespace": NS})["Metrics"]
    assert len(everything) == 4  # one entry per distinct dimension set, not per datapoint
    by_name = cbor_ok(base_url, "ListMetrics", {"Namespace": NS, "Dimensions": [{"Name": "Stage"}]})["Metrics"]
    assert by_name == [{"Namespace": NS, "MetricName": "Latency", "Dimensions": API + [{"Name": "Stage", "Value": "canary"}]}]
    by_value = cbor_ok(base_url, "ListMetrics", {"Namespace": NS, "Dimensions": [{"Name": "Service", "Value": "api"}]})["Metrics"]
    assert sorted(len(m["Dimensions"]) for m in by_value) == [1, 2]


def test_alarms_over_cbor(base_url: str) -> None:
    alarm = {
        "AlarmName": "hook-latency",
        "Namespace": NS,
        "MetricName": "Latency",
        "Dimensions": API,
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 250,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    assert cbor_ok(base_url, "PutMetricAlarm", alarm) == {}
    assert cbor_ok(base_url, "SetAlarmState", {"AlarmName": "hook-latency", "StateValue": "ALARM", "StateReason": "test"}) == {}
    output = cbor_ok(base_url, "DescribeAlarms", {"AlarmNames": ["hook-latency"]})
    [described] = output["MetricAlarms"]
    assert described["StateValue"] == "ALARM"
    assert described["Threshold"] == 250.0 and isinstance(described["Threshold"], float)
    assert abs(described["StateUpdatedTimestamp"].timestamp() - time.time()) < 60  # tag 1 -> datetime

    # Composite alarms: PutCompositeAlarm is the emulator's, DescribeAlarms moto's.
    assert cbor_ok(base_url, "PutCompositeAlarm", {"AlarmName": "veto", "AlarmRule": "ALARM(hook-latency)"}) == {}
    assert cbor_ok(base_url, "SetAlarmState", {"AlarmName": "veto", "StateValue": "ALARM", "StateReason": "hold"}) == {}
    output = cbor_ok(base_url, "DescribeAlarms", {"AlarmNames": ["hook-latency", "veto"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100})
    assert [a["AlarmName"] for a in output["MetricAlarms"]] == ["hook-latency"]
    assert [(a["AlarmName"], a["StateValue"], a["StateReason"]) for a in output["CompositeAlarms"]] == [("veto", "ALARM", "hold")]

    response = cbor_request(base_url, "SetAlarmState", {"AlarmName": "missing", "StateValue": "OK", "StateReason": "x"})
    assert response.status_code == 404
    kind, query_error, _ = cbor_error(response)
    assert kind == "com.amazonaws.cloudwatch#ResourceNotFound" and query_error == "ResourceNotFound;Sender"


def test_injected_cloudwatch_500_then_recovery(base_url: str) -> None:
    control(base_url, "POST", "faults", {"service": "cloudwatch", "operation": "GetMetricData", "status": 500, "code": "InternalFailure", "message": "injected", "times": 1})
    payload = {"StartTime": ts(BASE), "EndTime": ts(BASE + 60), "MetricDataQueries": [stat_query("a", "Sum", [])]}
    response = cbor_request(base_url, "GetMetricData", payload)
    assert response.status_code == 500
    kind, query_error, body = cbor_error(response)
    assert kind.endswith("#InternalFailure") and query_error == "InternalFailure;Receiver" and body["message"] == "injected"
    assert cbor_ok(base_url, "GetMetricData", payload)["MetricDataResults"][0]["StatusCode"] == "Complete"
    assert control(base_url, "GET", "faults") == []
    calls = control(base_url, "GET", "calls")
    assert [(c["service"], c["operation"], c["injected"]) for c in calls] == [
        ("cloudwatch", "GetMetricData", True),
        ("cloudwatch", "GetMetricData", False),
    ]


def test_raw_body_and_slow_faults(base_url: str) -> None:
    truncated = cbor2.dumps({"MetricDataResults": [{"Id": "a", "Values": [1.0]}]})[:-3]
    control(base_url, "POST", "faults", {"service": "cloudwatch", "operation": "ListMetrics", "status": 200, "body_hex": truncated.hex(), "times": 1})
    response = cbor_request(base_url, "ListMetrics", {})
    assert response.status_code == 200 and response.content == truncated
    with pytest.raises(cbor2.CBORDecodeError):
        cbor2.loads(response.content)

    control(base_url, "POST", "faults", {"service": "cloudwatch", "status": 200, "delay_ms": 400, "times": 1})
    started = time.monotonic()
    assert cbor_ok(base_url, "ListMetrics", {}) == {"Metrics": []}
    assert time.monotonic() - started >= 0.4
    control(base_url, "POST", "faults", {"service": "cloudwatch", "status": 503, "code": "ServiceUnavailable"})  # forever
    for _ in range(3):
        assert cbor_request(base_url, "ListMetrics", {}).status_code == 503
    control(base_url, "DELETE", "faults")
    assert cbor_ok(base_url, "ListMetrics", {}) == {"Metrics": []}


def test_cloudwatch_over_json_uses_the_same_data(base_url: str) -> None:
    seed_latency(base_url)
    client = aws_client(base_url, "cloudwatch")
    output = client.get_metric_data(
        MetricDataQueries=[stat_query("p", "p95", API)], StartTime=BASE, EndTime=BASE + 120, ScanBy="TimestampAscending"
    )
    [result] = output["MetricDataResults"]
    assert result["Values"] == [100.0, 95.0]
    assert [t.timestamp() for t in result["Timestamps"]] == [BASE, BASE + 60]


# ---------------------------------------------------------------- CodeDeploy


def aws_client(base_url: str, service: str):
    return boto3.client(
        service,
        endpoint_url=base_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def create_deployment(codedeploy) -> str:
    codedeploy.create_application(applicationName="app", computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName="app",
        deploymentGroupName="dg",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        ecsServices=[{"serviceName": "svc", "clusterName": "cluster"}],
    )
    return codedeploy.create_deployment(
        applicationName="app",
        deploymentGroupName="dg",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_codedeploy_deployment_and_hook_status(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert (info["applicationName"], info["deploymentGroupName"], info["computePlatform"]) == ("app", "dg", "ECS")
    assert info["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"
    assert info["status"] == "Created"  # moto never moves a deployment on by itself
    control(base_url, "POST", f"deployments/{deployment_id}", {"status": "InProgress"})
    assert codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"] == "InProgress"
    # createTime is returned, and a test may set it (epoch seconds).
    assert info["createTime"].timestamp() > 1_700_000_000
    control(base_url, "POST", f"deployments/{deployment_id}", {"createTime": 1_700_000_017})
    created = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["createTime"]
    assert created.timestamp() == 1_700_000_017
    assert requests.post(f"{base_url}/_harness/deployments/{deployment_id}", json={"createTime": "soon"}, timeout=10).status_code == 400
    # A deployment can take the id a sample event names (events/*.json).
    control(base_url, "POST", f"deployments/{deployment_id}", {"deploymentId": "d-CATAGDYBL"})
    assert codedeploy.get_deployment(deploymentId="d-CATAGDYBL")["deploymentInfo"]["status"] == "InProgress"
    with pytest.raises(ClientError):
        codedeploy.get_deployment(deploymentId=deployment_id)
    assert requests.post(f"{base_url}/_harness/deployments/d-CATAGDYBL", json={"deploymentId": "web-1"}, timeout=10).status_code == 400
    deployment_id = "d-CATAGDYBL"

    report = codedeploy.put_lifecycle_event_hook_execution_status
    with pytest.raises(ClientError) as excinfo:
        report(deploymentId="d-UNKNOWN", lifecycleEventHookExecutionId="hook-1", status="Succeeded")
    assert error_code(excinfo) == "DeploymentDoesNotExistException"
    with pytest.raises(ClientError) as excinfo:
        report(deploymentId=deployment_id, lifecycleEventHookExecutionId="hook-1", status="Done")
    assert error_code(excinfo) == "InvalidLifecycleEventHookExecutionStatusException"
    assert report(deploymentId=deployment_id, lifecycleEventHookExecutionId="hook-1", status="InProgress")["lifecycleEventHookExecutionId"] == "hook-1"
    assert report(deploymentId=deployment_id, lifecycleEventHookExecutionId="hook-1", status="Succeeded")["lifecycleEventHookExecutionId"] == "hook-1"
    with pytest.raises(ClientError) as excinfo:
        report(deploymentId=deployment_id, lifecycleEventHookExecutionId="hook-1", status="Failed")
    assert error_code(excinfo) == "LifecycleEventAlreadyCompletedException"
    assert report(deploymentId=deployment_id, lifecycleEventHookExecutionId="hook-2", status="Failed")

    attempts = control(base_url, "GET", "lifecycle")
    assert [(a["lifecycleEventHookExecutionId"], a["status"], a["outcome"]) for a in attempts] == [
        ("hook-1", "Succeeded", "DeploymentDoesNotExistException"),
        ("hook-1", "Done", "InvalidLifecycleEventHookExecutionStatusException"),
        ("hook-1", "InProgress", "accepted"),
        ("hook-1", "Succeeded", "accepted"),
        ("hook-1", "Failed", "LifecycleEventAlreadyCompletedException"),
        ("hook-2", "Failed", "accepted"),
    ]
    assert [a["at"] for a in attempts] == sorted(a["at"] for a in attempts)


def test_codedeploy_json_error_form_and_injected_fault(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    control(base_url, "POST", "faults", {"service": "codedeploy", "operation": "PutLifecycleEventHookExecutionStatus", "status": 400, "code": "ThrottlingException", "message": "slow down", "times": 1})
    with pytest.raises(ClientError) as excinfo:
        codedeploy.put_lifecycle_event_hook_execution_status(deploymentId=deployment_id, lifecycleEventHookExecutionId="h", status="Succeeded")
    assert error_code(excinfo) == "ThrottlingException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    codedeploy.put_lifecycle_event_hook_execution_status(deploymentId=deployment_id, lifecycleEventHookExecutionId="h", status="Succeeded")
    assert [(a["outcome"], a["injected"]) for a in control(base_url, "GET", "lifecycle")] == [("ThrottlingException", True), ("accepted", False)]

    # The raw wire form: HTTP 400, awsJson1_1 body {"__type", "message"}.
    body = json.dumps({"deploymentId": "nope", "lifecycleEventHookExecutionId": "h", "status": "Succeeded"})
    url = base_url + "/"
    headers = {"X-Amz-Target": "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus", "Content-Type": "application/x-amz-json-1.1"}
    request = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(CREDENTIALS, "codedeploy", REGION).add_auth(request)
    response = requests.post(url, data=body, headers=dict(request.headers), timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.json()["__type"] == "DeploymentDoesNotExistException" and response.json()["message"]


def test_deployment_targets(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    task_sets = [
        {"identifer": "ts-blue", "desiredCount": 2, "pendingCount": 0, "runningCount": 2, "status": "PRIMARY", "trafficWeight": 100.0, "targetGroup": {"name": "tg-blue"}, "taskSetLabel": "BLUE"},
        {"identifier": "ts-green", "desiredCount": 2, "pendingCount": 1, "runningCount": 1, "status": "ACTIVE", "trafficWeight": 0.0, "targetGroup": {"name": "tg-green"}, "taskSetLabel": "Green"},
    ]
    control(base_url, "POST", "deployment-targets", {"deploymentId": deployment_id, "targets": [{"targetId": "cluster:svc", "taskSetsInfo": task_sets}]})

    assert codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"] == ["cluster:svc"]
    [target] = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["cluster:svc"])["deploymentTargets"]
    assert target["deploymentTargetType"] == "ECSTarget"
    ecs = target["ecsTarget"]
    assert ecs["deploymentId"] == deployment_id and ecs["status"] == "InProgress"
    blue, green = ecs["taskSetsInfo"]
    assert (blue["identifer"], blue["taskSetLabel"], blue["trafficWeight"], blue["targetGroup"]["name"]) == ("ts-blue", "Blue", 100.0, "tg-blue")
    assert (green["identifer"], green["taskSetLabel"], green["pendingCount"]) == ("ts-green", "Green", 1)

    with pytest.raises(ClientError) as excinfo:
        codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[f"t{i}" for i in range(26)])
    assert error_code(excinfo) == "DeploymentTargetListSizeExceededException"
    with pytest.raises(ClientError) as excinfo:
        codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["cluster:other"])
    assert error_code(excinfo) == "DeploymentTargetDoesNotExistException"
    with pytest.raises(ClientError) as excinfo:
        codedeploy.list_deployment_targets(deploymentId="missing")
    assert error_code(excinfo) == "DeploymentDoesNotExistException"


def test_lambda_deployment_targets(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    info = {"functionName": "orders", "functionAlias": "live", "currentVersion": "6", "targetVersion": "7", "targetVersionWeight": 0.1}
    targets = [
        {"targetId": "orders:live", "lambdaFunctionInfo": info},
        {"targetId": "bare:live", "deploymentTargetType": "LambdaTarget"},
    ]
    control(base_url, "POST", "deployment-targets", {"deploymentId": deployment_id, "targets": targets})

    assert codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"] == ["orders:live", "bare:live"]
    full, bare = codedeploy.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["orders:live", "bare:live"])["deploymentTargets"]
    assert full["deploymentTargetType"] == "LambdaTarget" and "ecsTarget" not in full
    lambda_target = full["lambdaTarget"]
    assert (lambda_target["deploymentId"], lambda_target["targetId"], lambda_target["status"]) == (deployment_id, "orders:live", "InProgress")
    assert lambda_target["lambdaFunctionInfo"] == info
    # What the test leaves out stays out: discovery must see the incomplete answer.
    assert bare["deploymentTargetType"] == "LambdaTarget" and "lambdaFunctionInfo" not in bare["lambdaTarget"]

    def rejected(target: dict) -> bool:
        body = {"deploymentId": deployment_id, "targets": [target]}
        return requests.post(f"{base_url}/_harness/deployment-targets", json=body, timeout=10).status_code == 400

    assert rejected({"targetId": "f:a", "lambdaFunctionInfo": {"functionVersion": "1"}})
    assert rejected({"targetId": "f:a", "deploymentTargetType": "InstanceTarget"})
    assert rejected({"lambdaFunctionInfo": info})
    duplicate = {"deploymentId": deployment_id, "targets": [{"targetId": "f:a", "lambdaFunctionInfo": info}] * 2}
    assert requests.post(f"{base_url}/_harness/deployment-targets", json=duplicate, timeout=10).status_code == 400


def test_list_deployment_targets_pages(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    targets = [{"targetId": f"cluster:svc-{i:02}", "taskSetsInfo": []} for i in range(30)]
    control(base_url, "POST", "deployment-targets", {"deploymentId": deployment_id, "targets": targets})
    assert len(codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]) == 30  # one page by default

    control(base_url, "POST", "codedeploy/list-targets-page-size", {"targets": 7})
    pages, token = [], None
    while True:
        page = codedeploy.list_deployment_targets(deploymentId=deployment_id, **({"nextToken": token} if token else {}))
        pages.append(page["targetIds"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [i for p in pages for i in p] == [t["targetId"] for t in targets]
    with pytest.raises(ClientError) as excinfo:
        codedeploy.list_deployment_targets(deploymentId=deployment_id, nextToken="forged")
    assert error_code(excinfo) == "InvalidNextTokenException"

    for bad in ({"targets": 0}, {"targets": "7"}, {"targets": True}):
        assert requests.post(f"{base_url}/_harness/codedeploy/list-targets-page-size", json=bad, timeout=10).status_code == 400
    control(base_url, "POST", "reset")
    codedeploy_again = create_deployment(codedeploy)
    control(base_url, "POST", "deployment-targets", {"deploymentId": codedeploy_again, "targets": targets})
    assert "nextToken" not in codedeploy.list_deployment_targets(deploymentId=codedeploy_again)  # reset clears the page size


def test_elbv2_target_groups_through_the_harness(base_url: str) -> None:
    """moto serves ELBv2 (awsQuery) itself; the harness only provides the network."""
    network = control(base_url, "GET", "ec2/default-network")
    assert network["vpcId"].startswith("vpc-") and len(network["subnetIds"]) >= 2
    elb = aws_client(base_url, "elbv2")
    balancer = elb.create_load_balancer(Name="web", Subnets=network["subnetIds"][:2], Type="application")["LoadBalancers"][0]
    assert ":loadbalancer/app/web/" in balancer["LoadBalancerArn"]
    arns = {}
    for port, name in ((80, "web-blue"), (8080, "web-green")):
        group = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=network["vpcId"], TargetType="ip")["TargetGroups"][0]
        arns[name] = group["TargetGroupArn"]
        elb.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
        )
    elb.create_target_group(Name="web-spare", Protocol="HTTP", Port=80, VpcId=network["vpcId"], TargetType="ip")

    described = elb.describe_target_groups(Names=["web-green", "web-blue", "web-spare"])["TargetGroups"]
    by_name = {g["TargetGroupName"]: g for g in described}
    assert by_name["web-green"]["TargetGroupArn"] == arns["web-green"]
    assert ":targetgroup/web-green/" in arns["web-green"]
    assert by_name["web-green"]["LoadBalancerArns"] == [balancer["LoadBalancerArn"]]
    assert by_name["web-blue"]["LoadBalancerArns"] == [balancer["LoadBalancerArn"]]
    assert by_name["web-spare"]["LoadBalancerArns"] == []
    with pytest.raises(ClientError) as excinfo:
        elb.describe_target_groups(Names=["web-green", "nope"])
    assert error_code(excinfo) == "TargetGroupNotFound"
    operations = [(c["service"], c["operation"]) for c in control(base_url, "GET", "calls")]
    assert ("elasticloadbalancing", "DescribeTargetGroups") in operations


def test_reset_clears_moto_too(base_url: str) -> None:
    codedeploy = aws_client(base_url, "codedeploy")
    deployment_id = create_deployment(codedeploy)
    control(base_url, "POST", "reset")
    assert control(base_url, "GET", "calls") == []
    with pytest.raises(ClientError) as excinfo:
        codedeploy.get_deployment(deploymentId=deployment_id)
    assert error_code(excinfo) == "DeploymentDoesNotExistException"


# ---------------------------------------------------------------- Lambda Runtime API


def fake_function(base_url: str, results: list[dict[str, Any]], rounds: int) -> None:
    """A function process: poll, answer success unless the event asks for an error."""
    runtime = f"{base_url}/2018-06-01/runtime/invocation"
    for _ in range(rounds):
        response = requests.get(f"{runtime}/next", timeout=30)
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        results.append({"headers": dict(response.headers), "event": response.json()})
        event = response.json()
        if isinstance(event, dict) and event.get("fail"):
            requests.post(
                f"{runtime}/{request_id}/error",
                json={"errorType": "HookFailed", "errorMessage": "asked to fail"},
                headers={"Lambda-Runtime-Function-Error-Type": "Unhandled"},
                timeout=30,
            ).raise_for_status()
        else:
            requests.post(f"{runtime}/{request_id}/response", json={"echo": event}, timeout=30).raise_for_status()


def test_runtime_api_round_trips(base_url: str) -> None:
    seen: list[dict[str, Any]] = []
    worker = threading.Thread(target=fake_function, args=(base_url, seen, 3), daemon=True)
    worker.start()
    event = {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "hook"}
    first = control(base_url, "POST", "invoke", {"event": event, "timeout_ms": 5000})["requestId"]
    duplicate = control(base_url, "POST", "invoke", {"event": event})["requestId"]
    failing = control(base_url, "POST", "invoke", {"raw": '{"fail": true}'})["requestId"]
    assert len({first, duplicate, failing}) == 3

    outcome = control(base_url, "GET", f"invocations/{first}?wait_ms=20000")
    assert outcome["state"] == "success" and outcome["body"] == {"echo": event}
    assert control(base_url, "GET", f"invocations/{duplicate}?wait_ms=20000")["body"] == {"echo": event}
    outcome = control(base_url, "GET", f"invocations/{failing}?wait_ms=20000")
    assert outcome["state"] == "error"
    assert (outcome["errorType"], outcome["errorMessage"], outcome["errorTypeHeader"]) == ("HookFailed", "asked to fail", "Unhandled")
    worker.join(timeout=10)

    headers = seen[0]["headers"]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == first
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].startswith("arn:aws:lambda:")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert 0 < deadline - time.time() * 1000 <= 5000

    # A result for a finished or unknown invocation is refused.
    runtime = f"{base_url}/2018-06-01/runtime/invocation"
    assert requests.post(f"{runtime}/{first}/response", json={}, timeout=10).status_code == 400
    assert requests.post(f"{runtime}/nope/response", json={}, timeout=10).status_code == 400


def test_runtime_api_pending_and_init_error(base_url: str) -> None:
    request_id = control(base_url, "POST", "invoke", {"event": {"x": 1}})["requestId"]
    started = time.monotonic()
    outcome = control(base_url, "GET", f"invocations/{request_id}?wait_ms=300")
    assert outcome["state"] == "pending" and not outcome["delivered"]
    assert time.monotonic() - started >= 0.3

    assert control(base_url, "GET", "init-error") is None
    response = requests.post(
        f"{base_url}/2018-06-01/runtime/init/error",
        json={"errorType": "Runtime.ConfigError", "errorMessage": "missing env"},
        headers={"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"},
        timeout=10,
    )
    assert response.status_code == 202
    init_error = control(base_url, "GET", "init-error")
    assert (init_error["errorType"], init_error["body"]["errorMessage"]) == ("Runtime.ConfigError", "missing env")


def test_control_api_rejects_bad_input(base_url: str) -> None:
    assert requests.post(f"{base_url}/_harness/faults", json={"status": 500}, timeout=10).status_code == 400
    assert requests.post(f"{base_url}/_harness/faults", json={"service": "cloudwatch", "times": 0}, timeout=10).status_code == 400
    assert requests.post(f"{base_url}/_harness/invoke", json={}, timeout=10).status_code == 400
    assert requests.post(f"{base_url}/_harness/deployment-targets", json={"deploymentId": "d", "targets": [{}]}, timeout=10).status_code == 400
    assert requests.get(f"{base_url}/_harness/invocations/unknown", timeout=10).status_code == 404
    assert requests.post(f"{base_url}/_harness/deployments/unknown", json={"status": "Stopped"}, timeout=10).status_code == 404
    assert requests.post(f"{base_url}/_harness/deployments/unknown", json={"colour": "red"}, timeout=10).status_code == 400
    assert requests.get(f"{base_url}/_harness/nothing", timeout=10).status_code == 404
    assert requests.get(f"{base_url}/_harness/ec2/default-network?region=nowhere-1", timeout=10).status_code == 400


def test_exits_when_stdin_closes(tmp_path) -> None:
    process, port = start_emulator(str(tmp_path / "stderr.log"))
    assert requests.get(f"http://127.0.0.1:{port}/_harness/calls", timeout=10).json() == []
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def test_sns_messages_lists_what_topics_published(base_url: str) -> None:
    sns = boto3.client(
        "sns", endpoint_url=base_url, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    assert control(base_url, "GET", "sns/messages") == []
    arn = sns.create_topic(Name="gate-alerts")["TopicArn"]
    sns.publish(TopicArn=arn, Subject="Rollback: web d-1", Message="the gate failed")
    messages = control(base_url, "GET", "sns/messages")
    assert [(m["topicArn"], m["subject"], m["message"]) for m in messages] == [
        (arn, "Rollback: web d-1", "the gate failed")
    ]


# ---------------------------------------------------------------- served values (issue 15)


def test_put_metric_data_refuses_special_values_as_the_api_does(base_url: str) -> None:
    for datum in (
        {"MetricName": "Latency", "Timestamp": ts(BASE), "Value": float("nan")},
        {"MetricName": "Latency", "Timestamp": ts(BASE), "Values": [1.0, float("inf")]},
        {"MetricName": "Latency", "Timestamp": ts(BASE), "StatisticValues": {"SampleCount": 1.0, "Sum": float("-inf"), "Minimum": 0.0, "Maximum": 1.0}},
    ):
        response = cbor_request(base_url, "PutMetricData", {"Namespace": NS, "MetricData": [datum]})
        assert response.status_code == 400, response.content
        _, query_error, body = cbor_error(response)
        assert query_error.startswith("InvalidParameterValue;"), query_error
        assert "MetricData.member.1" in body["message"]
    # A negative value is a value: the API takes it.
    put_data(base_url, [{"MetricName": "Latency", "Dimensions": API, "Timestamp": ts(BASE), "Value": -2.0}])


def test_served_values_replace_and_add_periods(base_url: str) -> None:
    seed_latency(base_url)
    served = control(
        base_url,
        "POST",
        "cloudwatch/served-values",
        {
            "values": [
                # Replaces the first period's Sum, and every statistic of the
                # third (which holds the seed's stray 5000).
                {"namespace": NS, "metric_name": "Latency", "dimensions": {"Service": "api"}, "stat": "Sum", "timestamp": BASE + 10, "value": "NaN"},
                {"namespace": NS, "metric_name": "Latency", "timestamp": BASE + 120, "value": "-Infinity"},
                # Another metric, another dimension set: not this query's.
                {"namespace": NS, "metric_name": "Other", "timestamp": BASE, "value": "Infinity"},
                {"namespace": NS, "metric_name": "Latency", "dimensions": {"Service": "other"}, "timestamp": BASE + 60, "value": -1},
            ]
        },
    )
    assert len(served["served"]) == 4

    def values(stat: str) -> list[float]:
        output = cbor_ok(
            base_url,
            "GetMetricData",
            {"StartTime": ts(BASE), "EndTime": ts(BASE + 180), "ScanBy": "TimestampAscending", "MetricDataQueries": [stat_query("q", stat, API)]},
        )
        return output["MetricDataResults"][0]["Values"]

    sums = values("Sum")
    assert math.isnan(sums[0]) and sums[1] == 5050.0 and sums[2] == -math.inf, sums
    # Without a stat, every statistic of the period is served the value.
    assert values("Maximum")[1:] == [100.0, -math.inf]
    control(base_url, "DELETE", "cloudwatch/served-values")
    assert values("Sum") == [180.0, 5050.0, 5000.0]
    control(base_url, "POST", "cloudwatch/served-values", {"values": [{"namespace": NS, "metric_name": "Latency", "timestamp": BASE, "value": 7}]})
    assert values("Sum") == [7.0, 5050.0, 5000.0]
    assert requests.post(f"{base_url}/_harness/reset").status_code == 200
    seed_latency(base_url)
    assert values("Sum") == [180.0, 5050.0, 5000.0]


def test_served_values_reject_bad_input(base_url: str) -> None:
    for body in (
        {},
        {"values": []},
        {"values": [{"namespace": NS, "metric_name": "Latency", "timestamp": BASE, "value": "nan"}]},
        {"values": [{"namespace": NS, "metric_name": "Latency", "timestamp": "now", "value": 1}]},
        {"values": [{"metric_name": "Latency", "timestamp": BASE, "value": 1}]},
        {"values": [{"namespace": NS, "metric_name": "Latency", "timestamp": BASE, "value": True}]},
    ):
        response = requests.post(f"{base_url}/_harness/cloudwatch/served-values", json=body, timeout=30)
        assert response.status_code == 400, (body, response.text)
        assert "error" in response.json()


# ---------------------------------------------------------------- SSM names


def test_ssm_refuses_parameter_names_the_service_refuses(base_url: str) -> None:
    ssm = aws_client(base_url, "ssm")
    # A lifecycle hook execution id is base64: `+` and `=` are not allowed in a
    # parameter name, and its `/` would make levels of its own.
    for name in ("/gates/bake/d-ABCDEFGHI/eyJh+b=/seal", "/gates/has space", "/" + "a/" * 16 + "x", "/" + "a" * 1011):
        with pytest.raises(ClientError) as refused:
            ssm.put_parameter(Name=name, Value="v", Type="String")
        assert refused.value.response["Error"]["Code"] == "ValidationException", name
    with pytest.raises(ClientError) as refused:
        ssm.delete_parameters(Names=["/gates/ok", "/gates/bad+name"])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    ssm.put_parameter(Name="/gates/bake/d-ABCDEFGHI/0a1b_c.d-e/seal", Value="v", Type="String")
    assert ssm.get_parameter(Name="/gates/bake/d-ABCDEFGHI/0a1b_c.d-e/seal")["Parameter"]["Value"] == "v"


def test_ssm_takes_parameter_policies_on_advanced_parameters_only(base_url: str) -> None:
    ssm = aws_client(base_url, "ssm")
    expiry = '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01T00:00:00.000Z"}}]'
    for tier in (None, "Standard"):
        extra = {"Tier": tier} if tier else {}
        with pytest.raises(ClientError) as refused:
            ssm.put_parameter(Name="/gates/expiring", Value="v", Type="String", Policies=expiry, **extra)
        assert refused.value.response["Error"]["Code"] == "ValidationException", tier
    ssm.put_parameter(Name="/gates/expiring", Value="v", Type="String", Policies=expiry, Tier="Advanced")
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/gates/expiring"]}])
    (parameter,) = described["Parameters"]
    assert parameter["Tier"] == "Advanced"
    (policy,) = parameter["Policies"]
    assert policy["PolicyType"] == "Expiration"
    assert json.loads(policy["PolicyText"])["Attributes"]["Timestamp"] == "2030-01-01T00:00:00.000Z"


# ---------------------------------------------------------------- ECS service deployments


def test_ecs_service_deployments_and_revisions_as_registered(base_url: str) -> None:
    service = "arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web"
    revision = "arn:aws:ecs:us-east-1:123456789012:service-revision/web-cluster/web/{}".format
    deployment = {
        "serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/abc",
        "serviceArn": service,
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/web-cluster",
        "createdAt": 1_700_000_000,
        "status": "IN_PROGRESS",
        "targetServiceRevision": {"arn": revision("2")},
        "sourceServiceRevisions": [{"arn": revision("1")}],
    }
    older = dict(deployment, serviceDeploymentArn=deployment["serviceDeploymentArn"] + "0", createdAt=1_600_000_000, status="SUCCESSFUL")
    control(base_url, "POST", "ecs/service-deployments", {
        "serviceDeployments": [older, deployment],
        "serviceRevisions": [{"serviceRevisionArn": revision("2"), "loadBalancers": [{"targetGroupArn": "tg"}]}],
    })
    ecs = aws_client(base_url, "ecs")
    listed = ecs.list_service_deployments(cluster="web-cluster", service="web")["serviceDeployments"]
    assert [d["status"] for d in listed] == ["IN_PROGRESS", "SUCCESSFUL"]  # newest first
    assert listed[0]["targetServiceRevisionArn"] == revision("2")
    assert ecs.list_service_deployments(cluster="other", service="web")["serviceDeployments"] == []

    described = ecs.describe_service_deployments(serviceDeploymentArns=[deployment["serviceDeploymentArn"], "nope"])
    assert described["serviceDeployments"][0]["sourceServiceRevisions"][0]["arn"] == revision("1")
    assert described["failures"] == [{"arn": "nope", "reason": "MISSING"}]

    # Registering an ARN again replaces it: a deployment rolls back.
    control(base_url, "POST", "ecs/service-deployments", {"serviceDeployments": [dict(deployment, status="ROLLBACK_IN_PROGRESS")]})
    listed = ecs.list_service_deployments(cluster="web-cluster", service="web")["serviceDeployments"]
    assert listed[0]["status"] == "ROLLBACK_IN_PROGRESS"

    revisions = ecs.describe_service_revisions(serviceRevisionArns=[revision("2")])["serviceRevisions"]
    assert revisions[0]["loadBalancers"][0]["targetGroupArn"] == "tg"
    with pytest.raises(ClientError) as refused:
        ecs.describe_service_revisions(serviceRevisionArns=[revision(str(i)) for i in range(21)])
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
