"""The Lambda Runtime API (2018-06-01) for one function process at a time.

A test starts the real hook binary with AWS_LAMBDA_RUNTIME_API pointing here,
queues events with POST /_harness/invoke and waits for their outcome with
GET /_harness/invocations/<id>.  The function side follows
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html:

  GET  /2018-06-01/runtime/invocation/next          long-polls for an event
  POST /2018-06-01/runtime/invocation/<id>/response 202, records success
  POST /2018-06-01/runtime/invocation/<id>/error    202, records the error
  POST /2018-06-01/runtime/init/error               202, records an init error

Every invoke gets its own request id, so queuing the same event twice models
duplicate delivery.  A function process polls /next again as soon as it has
answered, so a process a test kills leaves a poll open; POST
/_harness/runtime/restart (called before starting the next process) retires
such polls, so an event is never handed to a process that no longer exists.  The deadline handed to the function is delivery time +
the invoke's timeout_ms; nothing is enforced when it passes.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from typing import Any

from werkzeug.wrappers import Request, Response

PREFIX = "/2018-06-01/runtime/"
DEFAULT_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hook"
RESULT = re.compile(r"^invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")


def _json_or_text(body: bytes) -> Any:
    """A posted body as JSON when it is JSON, else as text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


class Invocation:
    def __init__(self, event: bytes, timeout_ms: int, function_arn: str):
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.timeout_ms = timeout_ms
        self.function_arn = function_arn
        self.queued_at = time.time()
        self.delivered_at: float | None = None
        self.state = "pending"  # -> "success" | "error"
        self.body: Any = None
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.error_type_header: str | None = None
        self.finished_at: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "state": self.state,
            "delivered": self.delivered_at is not None,
            "body": self.body,
            "errorType": self.error_type,
            "errorMessage": self.error_message,
            "errorTypeHeader": self.error_type_header,
            "queuedAt": self.queued_at,
            "deliveredAt": self.delivered_at,
            "finishedAt": self.finished_at,
        }


class LambdaRuntime:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: deque[Invocation] = deque()
        self._invocations: dict[str, Invocation] = {}
        self._init_error: dict[str, Any] | None = None
        self._generation = 0

    def restart(self) -> int:
        """Retire every open /next poll; returns the new generation."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
            return self._generation

    def reset(self) -> None:
        with self._changed:
            self._queue.clear()
            self._invocations.clear()
            self._init_error = None
            self._changed.notify_all()

    # ------------------------------------------------------------ control side

    def invoke(self, event: bytes, timeout_ms: int, function_arn: str = DEFAULT_FUNCTION_ARN) -> str:
        invocation = Invocation(event, timeout_ms, function_arn)
        with self._changed:
            self._invocations[invocation.request_id] = invocation
            self._queue.append(invocation)
            self._changed.notify_all()
        return invocation.request_id

    def outcome(self, request_id: str, wait_ms: int) -> dict[str, Any] | None:
        """The invocation's state once finished, or as it is when wait_ms ends."""
        deadline = time.monotonic() + wait_ms / 1000
        with self._changed:
            invocation = self._invocations.get(request_id)
            if invocation is None:
                return None
            while invocation.state == "pending" and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return invocation.describe()

    def listing(self) -> list[dict[str, Any]]:
        """Every invocation queued so far, oldest first, with its event (a
        continuation's payload is what a test replays)."""
        with self._changed:
            invocations = sorted(self._invocations.values(), key=lambda i: i.queued_at)
            return [
                {**i.describe(), "event": _json_or_text(i.event), "functionArn": i.function_arn}
                for i in invocations
            ]

    def init_error(self) -> dict[str, Any] | None:
        with self._changed:
            return dict(self._init_error) if self._init_error else None

    # ------------------------------------------------------------ function side

    def handle(self, request: Request) -> Response:
        path = request.path[len(PREFIX) :]
        if path == "invocation/next" and request.method == "GET":
            return self._next()
        if path == "init/error" and request.method == "POST":
            record = self._error_record(request)
            with self._changed:
                self._init_error = record
            return _json_response({"status": "OK"}, 202)
        result = RESULT.match(path)
        if result and request.method == "POST":
            return self._finish(result["id"], result["kind"], request)
        return _json_response({"errorType": "InvalidRequest", "errorMessage": f"no runtime API route {request.method} {request.path}"}, 404)

    def _next(self) -> Response:
        with self._changed:
            generation = self._generation
            # The real API blocks until there is work; so does this.
            while not self._queue and generation == self._generation:
                self._changed.wait()
            if generation != self._generation:
                return _json_response({"errorType": "RuntimeRestarted", "errorMessage": "this poll belongs to a retired function process"}, 410)
            invocation = self._queue.popleft()
            invocation.delivered_at = time.time()
        deadline_ms = int(invocation.delivered_at * 1000) + invocation.timeout_ms
        trace_id = f"Root=1-{int(invocation.delivered_at):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": trace_id,
        }
        return Response(invocation.event, 200, headers=headers, content_type="application/json")

    @staticmethod
    def _error_record(request: Request) -> dict[str, Any]:
        body = _json_or_text(request.get_data())
        header = request.headers.get("Lambda-Runtime-Function-Error-Type")
        fields = body if isinstance(body, dict) else {}
        return {
            "body": body,
            "errorType": fields.get("errorType") or header,
            "errorMessage": fields.get("errorMessage"),
            "errorTypeHeader": header,
            "at": time.time(),
        }

    def _finish(self, request_id: str, kind: str, request: Request) -> Response:
        # Read the body before taking the lock: it may still be on the wire.
        if kind == "response":
            body, error = _json_or_text(request.get_data()), None
        else:
            error = self._error_record(request)
        with self._changed:
            invocation = self._invocations.get(request_id)
            if invocation is None:
                return _json_response({"errorType": "InvalidRequestID", "errorMessage": f"unknown request id {request_id}"}, 400)
            if invocation.delivered_at is None or invocation.state != "pending":
                return _json_response(
                    {"errorType": "InvalidStateTransition", "errorMessage": f"invocation {request_id} is not awaiting a result"}, 400
                )
            if error is None:
                invocation.state = "success"
                invocation.body = body
            else:
                invocation.state = "error"
                invocation.body = error["body"]
                invocation.error_type = error["errorType"]
                invocation.error_message = error["errorMessage"]
                invocation.error_type_header = error["errorTypeHeader"]
            invocation.finished_at = time.time()
            self._changed.notify_all()
        return _json_response({"status": "OK"}, 202)
