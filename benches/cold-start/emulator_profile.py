"""Where the emulator spends its time on a hook's critical path, HTTP left out.

    .venv/bin/python benches/cold-start/emulator_profile.py [--repeats 30] [--profile] [CALL ...]

run.py times the emulator's share of a cold start over raw HTTP, a new
connection per call; this script times the same calls inside the emulator's
process, handed straight to its WSGI app (tests/harness/emulator.py's
HarnessApp, with moto behind it), so the difference between the two is the
HTTP server's and the client's part. CALL is any of next, gd (GetDeployment,
awsJson 1.1), gmd (GetMetricData with the default policy's five queries, CBOR
as botocore and the Rust SDK send it), ssm (GetParameters, awsJson 1.1) and
put (PutLifecycleEventHookExecutionStatus); all five by default. The data is
run.py's: one ECS deployment and ten healthy minutes of ALB metrics, seeded
through boto3 over a loopback server running the same app.

--profile adds a cProfile of further rounds of the chosen calls (cumulative
and own time), to see which function the time goes to. Nothing here asserts
on time.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import logging
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "harness"))
sys.path.insert(0, str(HERE))

import emulator as harness  # noqa: E402  (tests/harness/emulator.py)
import run as bench  # noqa: E402  (run.py: seeding and the calls' shapes)
from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.test import EnvironBuilder, run_wsgi_app  # noqa: E402

CALLS = ("next", "gd", "gmd", "ssm", "put")


class InProcessEmulator(bench.Emulator):
    """run.py's Emulator interface over an app served from a thread of this process."""

    def __init__(self, app: harness.HarnessApp) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port
        self.address = f"127.0.0.1:{self.port}"
        self.endpoint = f"http://{self.address}"
        self.control_connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def close(self) -> None:
        self.server.shutdown()


def requests_for(emulator: InProcessEmulator, deployment_id: str) -> dict[str, tuple[str, str, dict[str, str], bytes]]:
    """(method, path, headers, body) of each call, as the hooks send them."""
    cloudwatch = emulator.client("cloudwatch")
    captured: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        captured["request"] = request

    cloudwatch.meta.events.register("before-send.cloudwatch.GetMetricData", capture)
    end = (int(time.time()) - 120) // 60 * 60
    cloudwatch.get_metric_data(MetricDataQueries=bench.reference_queries(), StartTime=end - 300, EndTime=end, ScanBy="TimestampAscending")
    sent = captured["request"]
    gmd_headers = {
        k: v.decode() if isinstance(v, bytes) else v for k, v in sent.headers.items() if k.lower() not in ("host", "content-length")
    }

    def json_call(service: str, target: str, body: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
        stamp = time.strftime("%Y%m%d", time.gmtime())
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{stamp}/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00",
        }
        return "POST", "/", headers, json.dumps(body).encode()

    return {
        "next": ("GET", "/2018-06-01/runtime/invocation/next", {}, b""),
        "gd": json_call("codedeploy", "CodeDeploy_20141006.GetDeployment", {"deploymentId": deployment_id}),
        "gmd": ("POST", sent.url.split(emulator.address, 1)[1], gmd_headers, sent.body),
        "ssm": json_call(
            "ssm", "AmazonSSM.GetParameters", {"Names": ["/codedeploy-gates/freeze", "/codedeploy-gates/override/BeforeAllowTraffic"]}
        ),
        "put": json_call(
            "codedeploy",
            "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus",
            {"deploymentId": deployment_id, "lifecycleEventHookExecutionId": "emulator-profile", "status": "InProgress"},
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("calls", nargs="*", metavar="CALL", help=f"any of {', '.join(CALLS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds per call (default 30)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of 20 more rounds")
    args = parser.parse_args()
    args.calls = args.calls or list(CALLS)
    unknown = [name for name in args.calls if name not in CALLS]
    if unknown:
        parser.error(f"unknown call {', '.join(unknown)}; choose from {', '.join(CALLS)}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    app = harness.HarnessApp(harness.MotoDispatcher(create_backend_app))
    emulator = InProcessEmulator(app)
    try:
        deployment_id = bench.seed(emulator)
        calls = requests_for(emulator, deployment_id)
    finally:
        emulator.close()

    def once(name: str) -> None:
        if name == "next":  # a queued event, so the poll returns at once
            app.runtime.invoke(b"{}", 30_000)
        method, path, headers, body = calls[name]
        environ = EnvironBuilder(path=path, method=method, headers=headers, data=body).get_environ()
        environ["REMOTE_ADDR"] = "127.0.0.1"
        answer, status, _ = run_wsgi_app(app, environ, buffered=True)
        b"".join(answer)
        if not status.startswith("2"):
            raise SystemExit(f"{name}: HTTP {status}")

    for name in args.calls:  # the first rounds warm moto's and botocore's caches
        once(name)
        once(name)
    print(f"inside the emulator's process, no HTTP ({args.repeats} rounds), median / min ms:")
    for name in args.calls:
        samples = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            once(name)
            samples.append((time.perf_counter() - started) * 1000)
        print(f"    {name:<5} {statistics.median(samples):6.2f} {min(samples):6.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(20):
            for name in args.calls:
                once(name)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
