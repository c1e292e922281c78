"""Fault injection and the log of AWS calls, both fed by the control API.

A fault matches calls by service (botocore name: "cloudwatch", "codedeploy",
...) and, optionally, operation.  Each matching call uses one of its `times`
(absent = forever), waits `delay_ms`, then gets either an error in the
caller's protocol, a raw body (to test malformed/truncated answers), or, for
status 200 without a body, the normal answer, late.  Faults are tried in the
order they were added; the first that matches wins.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    service: str
    operation: str | None  # None = every operation of the service
    status: int
    code: str
    message: str
    times: int | None  # None = forever
    delay_ms: int
    body: bytes | None  # raw answer instead of a well-formed error

    @property
    def is_slow_success(self) -> bool:
        return self.status < 300 and self.body is None

    def describe(self) -> dict[str, Any]:
        described = {
            "service": self.service,
            "operation": self.operation,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "times": self.times,
            "delay_ms": self.delay_ms,
        }
        if self.body is not None:
            described["body_hex"] = self.body.hex()
        return described


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Validate a POST /_harness/faults body; ValueError says what is wrong."""
    if not isinstance(spec.get("service"), str) or not spec["service"]:
        raise ValueError("'service' is required, e.g. \"cloudwatch\" or \"codedeploy\"")
    status = spec.get("status", 500)
    if not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError("'status' must be an HTTP status between 200 and 599")
    times = spec.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("'times' must be a positive integer (omit it for 'forever')")
    delay_ms = spec.get("delay_ms", 0)
    if not isinstance(delay_ms, (int, float)) or delay_ms < 0:
        raise ValueError("'delay_ms' must be a non-negative number")
    if "body" in spec and "body_hex" in spec:
        raise ValueError("give 'body' (text) or 'body_hex' (bytes), not both")
    body = None
    if "body" in spec:
        body = str(spec["body"]).encode("utf-8")
    elif "body_hex" in spec:
        body = bytes.fromhex(spec["body_hex"])
    return Fault(
        service=spec["service"],
        operation=spec.get("operation"),
        status=status,
        code=spec.get("code", "InternalFailure" if status >= 500 else "ValidationError"),
        message=spec.get("message", "injected fault"),
        times=times,
        delay_ms=int(delay_ms),
        body=body,
    )


class FaultRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def take(self, service: str, operation: str) -> Fault | None:
        """The fault for this call, if any, using up one of its times."""
        with self._lock:
            for fault in self._faults:
                if fault.service == service and fault.operation in (None, operation):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None


class CallLog:
    """Every AWS operation received, in arrival order (for counting round trips)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []

    def record(self, service: str, operation: str, injected: bool) -> None:
        with self._lock:
            self._calls.append({"service": service, "operation": operation, "injected": injected, "at": time.time()})

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(call) for call in self._calls]
