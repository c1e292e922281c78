"""AWS test emulator for the CodeDeploy lifecycle-hook functions: moto + what it lacks.

    .venv/bin/python tests/harness/emulator.py [--port 0] [--verbose] [--ignore-stdin]

Starts one threaded Werkzeug server on 127.0.0.1 (port 0 = any free port),
prints exactly one line `{"port": N}` on stdout once it listens, and serves
until killed or until its stdin reaches EOF (so a test process that dies takes
the emulator with it; pass --ignore-stdin to run it by hand in the background).
Point the SDK at it with AWS_ENDPOINT_URL=http://127.0.0.1:N, any region and
dummy credentials.

This file owns the process and the routing; by path:
  /_harness/...              control API (JSON), below
  /2018-06-01/runtime/...    Lambda Runtime API        -> runtime_api.py
  anything else              SigV4-signed AWS calls: logged, faults applied
                             (faults.py), then answered by an extension
                             (cloudwatch_ext.py, codedeploy_ext.py, ecs_ext.py,
                             appconfig_ext.py), by moto
                             through the CBOR translation (cbor_protocol.py,
                             aws_protocol.py), or by moto itself.
moto runs in-process (its DomainDispatcherApplication, every service, one
shared set of backends; MotoDispatcher below only remembers its host look-ups),
so the extensions read and write moto's own state.

Every test and `./dev demo` waits for the start-up, so it does only what the
first calls need: moto's dispatcher imports a service's backend on the first
call that names it; only the services this file and its extensions read are
imported before listening (test_startup.py checks which); botocore's data files
are parsed once per process (botocore_data.py); and collection is off until the
port line, since start-up makes only objects that live as long as the process.

Control API (JSON in and out; 400 {"error": ...} on bad input):
  POST   /_harness/faults        {"service": "cloudwatch", "operation": "GetMetricData",
                                  "status": 500, "code": "InternalFailure", "message": "...",
                                  "times": 2, "delay_ms": 0, "body": "<raw text>" | "body_hex": "..."}
                                 operation absent = any operation of the service; times absent
                                 = forever; status 200 without body = slow but normal answer
  GET    /_harness/faults        faults still active
  DELETE /_harness/faults        clear them
  GET    /_harness/calls         [{"service", "operation", "injected", "at"}] in arrival order
  GET    /_harness/lifecycle     [{"deploymentId", "lifecycleEventHookExecutionId", "status",
                                   "outcome": "accepted" | "<ErrorCode>", "injected", "at"}]
  POST   /_harness/deployment-targets  {"deploymentId": "...", "targets": [{"targetId": "cluster:service",
                                   "status"?, "targetArn"?, "taskSetsInfo": [...]}]}; a target with
                                 "lambdaFunctionInfo": {...} (or "deploymentTargetType": "LambdaTarget")
                                 is a Lambda target, "targetId": "function:alias"
  POST   /_harness/codedeploy/list-targets-page-size  {"targets": N | null}: ListDeploymentTargets
                                 pages after N ids (null: one page)
  GET    /_harness/ec2/default-network?region=us-east-1  {"vpcId", "subnetIds"}: moto's default VPC,
                                 for creating load balancers and target groups (ELBv2 itself is
                                 moto's, over the query protocol, unchanged)
  POST   /_harness/deployments/<id>    {"status"?, "creator"?, "deploymentConfigName"?,
                                  "deploymentId"?}: "deploymentId" renames the deployment (to the
                                 id a sample event in events/ names, say)
  POST   /_harness/ecs/service-deployments  {"serviceDeployments": [...], "serviceRevisions": [...]}:
                                 ECS service deployments and revisions in the API's shapes, served by
                                 List/DescribeServiceDeployments and DescribeServiceRevisions
                                 (ecs_ext.py); an ARN registered again is replaced
  POST   /_harness/reset         faults, calls, lifecycle, targets, invocations and all of moto
  POST   /_harness/invoke        {"event": <JSON>} | {"raw": "<text>"}, "timeout_ms"?: 30000,
                                 "function_arn"? -> {"requestId"}
  GET    /_harness/invocations/<requestId>?wait_ms=20000
                                 -> {"requestId", "state": "pending"|"success"|"error", "delivered",
                                     "body", "errorType", "errorMessage", "errorTypeHeader", ...}
  GET    /_harness/invocations  every invocation so far, oldest first: the above plus "event"
                                 (the payload, JSON when it is JSON) and "functionArn"
  GET    /_harness/init-error    null, or {"errorType", "errorMessage", "errorTypeHeader", "body", "at"}
  POST   /_harness/lambda/timeout  {"timeout_ms": N}: the deadline given to invocations queued by
                                 Lambda Invoke (InvocationType Event), default 30000
  POST   /_harness/cloudwatch/page-size  {"datapoints": N | null}: GetMetricData pages after N
                                 datapoints when the request sets no MaxDatapoints
  POST   /_harness/cloudwatch/served-values  {"values": [{"namespace", "metric_name", "dimensions"?,
                                 "stat"?, "timestamp", "value": N | "NaN" | "Infinity" | "-Infinity"}]}:
                                 GetMetricData answers that value for the period holding the
                                 timestamp (values PutMetricData refuses, as the real API does)
  DELETE /_harness/cloudwatch/served-values  back to the stored datums only
  POST   /_harness/runtime/restart  a new function process is about to start: polls still
                                 open from earlier (killed) processes get no more events
  AppConfig faults name the operation (appconfig_ext.OPERATIONS), e.g. {"service": "appconfig",
                                 "operation": "GetLatestConfiguration", "status": 429,
                                 "code": "ThrottlingException"}
  GET    /_harness/sns/messages  [{"topicArn", "messageId", "subject", "message"}]: every message
                                 published to an SNS topic (moto keeps them), oldest first per topic
"""

from __future__ import annotations

import gc

if __name__ == "__main__":
    # Start-up allocates about a million objects that live as long as the
    # process (moto's modules, botocore's parsed models): the collections they
    # set off while they pile up find nothing to free, and cost a fifth of the
    # start-up. main() turns collection back on, for what the requests make.
    gc.disable()

import argparse
import json
import logging
import os
import sys
import threading
import time
import re
import traceback
import urllib.parse
from typing import Any, Callable, Iterable

import botocore_data

# Before moto is imported: importing moto parses botocore's data files.
botocore_data.share_one_loader()

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm import models as moto_ssm
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import appconfig_ext
import cloudwatch_ext
import faults
import runtime_api
from aws_protocol import (
    ApiError,
    AwsCall,
    forward_cbor_to_moto,
    identify,
    raw_response,
    read_body,
    render_error,
    render_output,
)
from codedeploy_ext import CodeDeployExtension
from ecs_ext import EcsExtension

# Lambda's Invoke: POST /2015-03-31/functions/{FunctionName}/invocations
LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

CONTROL_ROUTES = Map(
    [
        Rule("/_harness/faults", methods=["POST"], endpoint="add_fault"),
        Rule("/_harness/faults", methods=["GET"], endpoint="list_faults"),
        Rule("/_harness/faults", methods=["DELETE"], endpoint="clear_faults"),
        Rule("/_harness/calls", methods=["GET"], endpoint="calls"),
        Rule("/_harness/lifecycle", methods=["GET"], endpoint="lifecycle"),
        Rule("/_harness/deployment-targets", methods=["POST"], endpoint="deployment_targets"),
        Rule("/_harness/deployments/<deployment_id>", methods=["POST"], endpoint="patch_deployment"),
        Rule("/_harness/reset", methods=["POST"], endpoint="reset"),
        Rule("/_harness/invoke", methods=["POST"], endpoint="invoke"),
        Rule("/_harness/invocations", methods=["GET"], endpoint="invocations"),
        Rule("/_harness/invocations/<request_id>", methods=["GET"], endpoint="invocation"),
        Rule("/_harness/init-error", methods=["GET"], endpoint="init_error"),
        Rule("/_harness/runtime/restart", methods=["POST"], endpoint="runtime_restart"),
        Rule("/_harness/cloudwatch/page-size", methods=["POST"], endpoint="page_size"),
        Rule("/_harness/cloudwatch/served-values", methods=["POST"], endpoint="serve_values"),
        Rule("/_harness/cloudwatch/served-values", methods=["DELETE"], endpoint="clear_served_values"),
        Rule("/_harness/lambda/timeout", methods=["POST"], endpoint="lambda_timeout"),
        Rule("/_harness/codedeploy/list-targets-page-size", methods=["POST"], endpoint="list_targets_page_size"),
        Rule("/_harness/ec2/default-network", methods=["GET"], endpoint="default_network"),
        Rule("/_harness/sns/messages", methods=["GET"], endpoint="sns_messages"),
        Rule("/_harness/ecs/service-deployments", methods=["POST"], endpoint="ecs_service_deployments"),
    ]
)


class MotoDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves which host.

    moto's get_backend_for_host checks the host against
    backends.list_of_moto_modules(), which lists moto's package directory and
    stats every entry (~180 stat calls) on each call, once per request and
    under the dispatcher's lock, before trying its URL patterns.  Its answer
    depends on the host only (the package does not change while the emulator
    runs), so it is kept per host.  A host moto does not know is not kept,
    so moto still logs its warning about it every time."""

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backend_for_host: dict[str, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None:
            return None
        backend = self._backend_for_host.get(host)
        if backend is None:
            backend = super().get_backend_for_host(host)
            if backend is not None:
                self._backend_for_host[host] = backend
        return backend


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


class BadRequest(Exception):
    """A malformed control API request (answered 400 with the message)."""


class HarnessApp:
    """The WSGI app: moto wrapped with the emulator's additions."""

    def __init__(self, moto_app: DomainDispatcherApplication):
        self.moto = moto_app
        self.faults = faults.FaultRegistry()
        self.calls = faults.CallLog()
        self.codedeploy = CodeDeployExtension()
        self.appconfig = appconfig_ext.AppConfigExtension()
        self.runtime = runtime_api.LambdaRuntime()
        self.lambda_timeout_ms = 30_000
        # (service, operation) -> handler(call, params) -> output dict
        self.handlers: dict[tuple[str, str], Callable[[AwsCall, dict[str, Any]], dict[str, Any]]] = {}
        for operation, handler in cloudwatch_ext.HANDLERS.items():
            self.handlers[("cloudwatch", operation)] = handler
        for operation, handler in self.codedeploy.handlers().items():
            self.handlers[("codedeploy", operation)] = handler
        self.ecs = EcsExtension()
        for operation, handler in self.ecs.handlers().items():
            self.handlers[("ecs", operation)] = handler

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_harness/"):
            return self._control(Request(environ))(environ, start_response)
        if path.startswith(runtime_api.PREFIX):
            return self.runtime.handle(Request(environ))(environ, start_response)
        call = identify(environ, read_body(environ))
        if call is None:  # unsigned: moto's own endpoints (/moto-api, ...)
            return self.moto(environ, start_response)
        response = self._aws(environ, call)
        answer = self.moto(environ, start_response) if response is None else response(environ, start_response)
        if call.service == "cloudwatch" and call.operation == "PutMetricData":
            # Group the new datums for GetMetricData now, while a test seeds,
            # rather than in the next GetMetricData, a hook's.
            cloudwatch_ext.group_stored_metrics(call)
        return answer

    # ------------------------------------------------------------ AWS calls

    def _aws(self, environ: dict[str, Any], call: AwsCall) -> Response | None:
        """The emulator's answer to an AWS call, or None to let moto answer."""
        if call.service == "appconfig" and call.protocol == "rest":
            # Named by operation, so faults and the call log can name it.
            named = appconfig_ext.identify(call.operation.split(" ", 1)[0], environ.get("PATH_INFO", ""))
            if named is not None:
                call.operation = named[0]
        fault = self.faults.take(call.service, call.operation)
        injected = fault is not None and not fault.is_slow_success
        self.calls.record(call.service, call.operation, injected)
        if fault is not None:
            time.sleep(fault.delay_ms / 1000)
            if injected:
                self.codedeploy.note_injected_fault(call, fault.code if fault.body is None else "InjectedRawBody")
                if fault.body is not None:
                    return raw_response(call, fault.status, fault.body)
                return render_error(call, ApiError(fault.status, fault.code, fault.message))

        if call.service == "ssm" and call.operation in SSM_NAME_CHECKED:
            try:
                params = call.params()
            except ValueError:
                params = {}
            names = params.get("Names") or [params.get("Name")]
            for name in names:
                problem = ssm_name_problem(name) if isinstance(name, str) else None
                if problem is not None:
                    return render_error(call, ApiError(400, "ValidationException", problem))
            # Parameter policies (an expiration, say) are for advanced
            # parameters only; moto stores them on any tier.
            if call.operation == "PutParameter" and params.get("Policies") and params.get("Tier") not in ("Advanced", "Intelligent-Tiering"):
                return render_error(call, ApiError(400, "ValidationException", "Parameter policies are supported only for advanced parameters: set Tier to Advanced."))

        if call.service == "appconfig" and call.protocol == "rest":
            try:
                served = self.appconfig.handle(call, environ)
            except ApiError as error:
                return render_error(call, error)
            if served is not None:
                return served

        if call.service == "lambda" and call.protocol == "rest":
            invoked = self._lambda_invoke(environ, call)
            if invoked is not None:
                return invoked

        handler = self.handlers.get((call.service, call.operation))
        # moto answers everything except CBOR, which it cannot read, and the
        # operations the emulator implements (when called over awsJson or CBOR;
        # CloudWatch over awsQuery, say, still gets moto's implementation).
        if not (call.protocol == "rpcv2cbor" or (handler is not None and call.protocol == "json")):
            return None
        try:
            params = call.params()
        except ValueError as exc:
            return render_error(call, ApiError(400, "SerializationException", f"cannot decode the request body: {exc}"))
        try:
            if handler is not None:
                return render_output(call, handler(call, params))
            if call.service == "cloudwatch" and call.operation == "PutMetricData":
                cloudwatch_ext.refuse_special_values(params)
            return forward_cbor_to_moto(self.moto, environ, call, params)
        except ApiError as error:
            return render_error(call, error)
        except Exception as exc:  # an emulator bug: say so in the caller's protocol
            traceback.print_exc()
            return render_error(call, ApiError(500, "InternalFailure", f"emulator error in {call.operation}: {exc!r}"))

    def _lambda_invoke(self, environ: dict[str, Any], call: AwsCall) -> Response | None:
        """Lambda `Invoke` with InvocationType Event: a function invoking itself
        to carry on (a bake analysis' continuation) joins the Runtime API's queue,
        as Lambda's asynchronous invocation would deliver it. moto would try to
        run the function in Docker, which this machine does not have."""
        match = LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
        if not match or environ.get("REQUEST_METHOD") != "POST":
            return None
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") != "Event":
            body = json.dumps({"message": "this emulator only queues InvocationType Event"})
            return Response(body, 400, headers={"x-amzn-ErrorType": "InvalidRequestContentException"}, content_type="application/json")
        arn = urllib.parse.unquote(match["name"])
        self.runtime.invoke(call.body, self.lambda_timeout_ms, function_arn=arn)
        return Response(b"", 202)

    # ------------------------------------------------------------ control API

    def _control(self, request: Request) -> Response:
        try:
            endpoint, args = CONTROL_ROUTES.bind_to_environ(request.environ).match()
            return getattr(self, f"_control_{endpoint}")(request, **args)
        except HTTPException as exc:
            return _json({"error": exc.description}, exc.code or 400)
        except BadRequest as exc:
            return _json({"error": str(exc)}, 400)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            raise BadRequest("body must be a JSON object")
        return body

    def _control_add_fault(self, request: Request) -> Response:
        try:
            fault = faults.parse_fault(self._body(request))
        except ValueError as exc:
            raise BadRequest(str(exc))
        self.faults.add(fault)
        return _json(fault.describe())

    def _control_list_faults(self, request: Request) -> Response:
        return _json(self.faults.active())

    def _control_clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return _json({"cleared": True})

    def _control_calls(self, request: Request) -> Response:
        return _json(self.calls.calls())

    def _control_lifecycle(self, request: Request) -> Response:
        return _json(self.codedeploy.lifecycle_attempts())

    def _control_deployment_targets(self, request: Request) -> Response:
        body = self._body(request)
        deployment_id, targets = body.get("deploymentId"), body.get("targets")
        if not isinstance(deployment_id, str) or not isinstance(targets, list):
            raise BadRequest("expected {\"deploymentId\": \"...\", \"targets\": [...]}")
        try:
            self.codedeploy.register_targets(deployment_id, targets)
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadRequest(f"bad target: {exc}")
        return _json({"deploymentId": deployment_id, "targets": len(targets)})

    def _control_patch_deployment(self, request: Request, deployment_id: str) -> Response:
        try:
            found = self.codedeploy.patch_deployment(deployment_id, self._body(request))
        except ValueError as exc:
            raise BadRequest(str(exc))
        if not found:
            return _json({"error": f"moto has no deployment {deployment_id}"}, 404)
        return _json({"deploymentId": deployment_id, "patched": True})

    def _control_ecs_service_deployments(self, request: Request) -> Response:
        try:
            deployments, revisions = self.ecs.register(self._body(request))
        except ValueError as exc:
            raise BadRequest(str(exc))
        return _json({"serviceDeployments": deployments, "serviceRevisions": revisions})

    def _control_reset(self, request: Request) -> Response:
        self.faults.clear()
        self.calls.clear()
        self.codedeploy.reset()
        self.ecs.reset()
        self.appconfig.reset()
        self.runtime.reset()
        cloudwatch_ext.set_page_size(None)
        cloudwatch_ext.clear_served_values()
        moto_api_backend.reset()  # every moto backend, as POST /moto-api/reset does
        cloudwatch_ext.forget_stored_metrics()
        return _json({"reset": True})

    def _control_invoke(self, request: Request) -> Response:
        body = self._body(request)
        if "raw" in body:
            event = str(body["raw"]).encode("utf-8")
        elif "event" in body:
            event = json.dumps(body["event"]).encode("utf-8")
        else:
            raise BadRequest("give \"event\" (any JSON) or \"raw\" (a string sent verbatim)")
        timeout_ms = body.get("timeout_ms", 30000)
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise BadRequest("timeout_ms must be a positive integer")
        function_arn = body.get("function_arn", runtime_api.DEFAULT_FUNCTION_ARN)
        return _json({"requestId": self.runtime.invoke(event, timeout_ms, function_arn)})

    def _control_invocation(self, request: Request, request_id: str) -> Response:
        try:
            wait_ms = int(request.args.get("wait_ms", "0"))
        except ValueError:
            raise BadRequest("wait_ms must be an integer")
        outcome = self.runtime.outcome(request_id, wait_ms)
        if outcome is None:
            return _json({"error": f"unknown invocation {request_id}"}, 404)
        return _json(outcome)

    def _control_invocations(self, request: Request) -> Response:
        return _json(self.runtime.listing())

    def _control_init_error(self, request: Request) -> Response:
        return _json(self.runtime.init_error())

    def _control_lambda_timeout(self, request: Request) -> Response:
        timeout_ms = self._body(request).get("timeout_ms")
        if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms <= 0:
            return _json({"error": "timeout_ms must be a positive integer"}, 400)
        self.lambda_timeout_ms = timeout_ms
        return _json({"timeout_ms": timeout_ms})

    def _control_page_size(self, request: Request) -> Response:
        datapoints = self._body(request).get("datapoints")
        try:
            cloudwatch_ext.set_page_size(datapoints)
        except ValueError as error:
            return _json({"error": str(error)}, 400)
        return _json({"datapoints": datapoints})

    def _control_serve_values(self, request: Request) -> Response:
        try:
            served = cloudwatch_ext.serve_values(self._body(request).get("values"))
        except ValueError as error:
            raise BadRequest(str(error))
        return _json({"served": served})

    def _control_clear_served_values(self, request: Request) -> Response:
        cloudwatch_ext.clear_served_values()
        return _json({"cleared": True})

    def _control_list_targets_page_size(self, request: Request) -> Response:
        targets = self._body(request).get("targets")
        try:
            self.codedeploy.set_list_page_size(targets)
        except ValueError as error:
            raise BadRequest(str(error))
        return _json({"targets": targets})

    def _control_default_network(self, request: Request) -> Response:
        region = request.args.get("region", "us-east-1")
        account = request.args.get("account", DEFAULT_ACCOUNT_ID)
        from moto.ec2.models import ec2_backends

        try:
            backend = ec2_backends[account][region]
        except KeyError:
            raise BadRequest(f"unknown region {region!r}")
        vpc = next((v for v in backend.vpcs.values() if v.is_default), None)
        if vpc is None:
            return _json({"error": f"moto has no default VPC in {region}"}, 404)
        subnets = backend.describe_subnets(filters={"vpc-id": [vpc.id]})
        return _json({"vpcId": vpc.id, "subnetIds": sorted(s.id for s in subnets)})
    def _control_sns_messages(self, request: Request) -> Response:
        # moto records what each topic published (Topic.sent_notifications),
        # whether or not anything is subscribed.
        from moto.sns.models import sns_backends

        messages = []
        for _account, regions in sns_backends.items():
            for _region, backend in regions.items():
                for arn, topic in backend.topics.items():
                    for message_id, message, subject, *_ in topic.sent_notifications:
                        messages.append(
                            {"topicArn": arn, "messageId": message_id, "subject": subject, "message": message}
                        )
        return _json(messages)

    def _control_runtime_restart(self, request: Request) -> Response:
        return _json({"generation": self.runtime.restart()})


# SSM refuses parameter names outside its naming constraints (PutParameter's
# API reference: letters, digits, `_.-` and `/` between levels, at most 15
# levels, at most 1011 characters); moto stores any name. Checked on the
# operations that create or delete a parameter.
SSM_NAME_CHECKED = {"PutParameter", "DeleteParameter", "DeleteParameters"}
SSM_NAME_CHARACTERS = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def _describe_policies_as_ssm_does() -> None:
    """DescribeParameters gives each parameter policy as SSM does: its JSON
    text (a string), its type and a status. moto puts the decoded policy
    object in both PolicyText and PolicyType."""
    original = moto_ssm.Parameter.response_object

    def response_object(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = original(self, *args, **kwargs)
        policies = answer.get("Policies")
        if policies:
            answer["Policies"] = [
                {
                    "PolicyText": text if isinstance(text, str) else json.dumps(text, separators=(",", ":")),
                    "PolicyType": text.get("Type", "") if isinstance(text, dict) else "",
                    "PolicyStatus": "Pending",
                }
                for text in (p.get("PolicyText") for p in policies)
            ]
        return answer

    moto_ssm.Parameter.response_object = response_object


_describe_policies_as_ssm_does()


def ssm_name_problem(name: str) -> str | None:
    """Why SSM would refuse `name` as a parameter name, or None."""
    if not name or len(name) > 1011:
        return f"Parameter name must be 1 to 1011 characters long, found {len(name)}."
    if not SSM_NAME_CHARACTERS.match(name):
        return (
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). "
            "It must use only letters, numbers, or the following symbols: . (period), "
            "- (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, "
            "if specified, must use the forward slash symbol \"/\"."
        )
    if name.count("/") > 15:
        return "Parameter hierarchies are limited to a maximum depth of fifteen levels."
    return None


def _exit_on_stdin_eof(server: Any) -> None:
    stdin = sys.stdin.buffer if sys.stdin is not None else None
    while stdin is not None and stdin.read(4096):
        pass
    server.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 = any free port")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    parser.add_argument("--ignore-stdin", action="store_true", help="do not exit when stdin reaches EOF")
    args = parser.parse_args(argv)

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = HarnessApp(MotoDispatcher(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    # What start-up made is kept for good: later collections need not scan it.
    gc.freeze()
    gc.enable()
    try:
        print(json.dumps({"port": server.server_port}), flush=True)
    except BrokenPipeError:
        # Whoever started the emulator stopped reading before its port line (a
        # test that failed while the emulator started): nothing to serve. The
        # pipe to devnull spares Python's own complaint when it exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        server.server_close()
        return
    # Nothing else may reach stdout: a test reading the port line may never
    # drain the pipe again.  moto occasionally print()s; send that to stderr.
    sys.stdout = sys.stderr
    if not args.ignore_stdin:
        threading.Thread(target=_exit_on_stdin_eof, args=(server,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
