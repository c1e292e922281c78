"""Smithy RPC v2 CBOR ("rpcv2Cbor") wire format, driven by botocore's models.

Why: aws-sdk-cloudwatch >= 1.100 speaks rpcv2Cbor, while moto 5.2.5 serves
CloudWatch only over awsJson1_0 and awsQuery.  This module owns the codec
between the two; aws_protocol decides when to use it.

What the protocol looks like (Smithy "RPC v2 CBOR" spec, as also implemented
by botocore's RpcV2CBORSerializer/RpcV2CBORParser and smithy-rs):
- request: POST /service/<ServiceShapeName>/operation/<Operation>, headers
  `smithy-protocol: rpc-v2-cbor`, `Content-Type: application/cbor`; body is a
  CBOR map of the input members; timestamps are tag 1 (epoch seconds, int or
  float); blobs are byte strings.
- response: status 200, `smithy-protocol: rpc-v2-cbor` always; when the
  operation has an output shape, `Content-Type: application/cbor` and a CBOR
  map body; when it has none (PutMetricData, SetAlarmState...), an empty body.
- error: 4xx/5xx, a CBOR map `{"__type": "<namespace>#<ShapeName>",
  "message": ...}`.  CloudWatch carries the awsQueryCompatible trait, so the
  old query error code travels in `x-amzn-query-error: <Code>;Sender|Receiver`;
  the Rust SDK matches modeled errors on that code (e.g. "InvalidNextToken").
- the Rust decoder is strict about CBOR major types: doubles must be CBOR
  floats, timestamps must carry tag 1.  Output is therefore encoded by walking
  the operation's output shape rather than by guessing from Python types.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import uuid
from datetime import datetime
from typing import Any

import botocore.session
import cbor2
from botocore.model import OperationModel, ServiceModel, Shape
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response

_session = botocore.session.get_session()
_models: dict[str, ServiceModel] = {}
_models_lock = threading.Lock()


def service_model(service: str) -> ServiceModel:
    """botocore's model for a service (botocore's loader is not thread-safe)."""
    with _models_lock:
        if service not in _models:
            _models[service] = _session.get_service_model(service)
        return _models[service]


def _operation(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


# ---------------------------------------------------------------- requests


def decode_input(body: bytes) -> dict[str, Any]:
    """CBOR request body -> JSON-like dict: timestamps become epoch seconds,
    blobs base64 text, exactly what the awsJson protocols carry."""
    decoded = cbor2.loads(body)
    if not isinstance(decoded, dict):
        raise ValueError("rpcv2Cbor request body is not a CBOR map")
    return _jsonable(decoded)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):  # cbor2 decodes tag 1 to an aware datetime
        return _number(value.timestamp())
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if value is cbor2.undefined:
        return None
    return value


def json_equivalent(service: str, operation: str) -> tuple[str, str]:
    """(X-Amz-Target, Content-Type) for the same call over awsJson."""
    metadata = service_model(service).metadata
    target = f"{metadata['targetPrefix']}.{operation}"
    return target, f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"


# ---------------------------------------------------------------- responses


def _base_headers() -> Headers:
    return Headers({"smithy-protocol": "rpc-v2-cbor", "x-amzn-requestid": str(uuid.uuid4())})


def output_response(service: str, operation: str, output: dict[str, Any]) -> Response:
    """A 200 answer; `output` is JSON-like (timestamps as epoch seconds)."""
    headers = _base_headers()
    shape = _operation(service, operation).output_shape
    if shape is None:
        response = Response(b"", 200, headers=headers)
        del response.headers["Content-Type"]  # no body, no content type
        return response
    headers["Content-Type"] = "application/cbor"
    return Response(cbor2.dumps(_encode(shape, output)), 200, headers=headers)


def _encode(shape: Shape, value: Any) -> Any:
    """JSON-like value -> cbor2-ready value with the types the shape demands.
    Members the shape does not know, and nulls, are dropped."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: _encode(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_encode(shape.member, item) for item in value]
    if kind == "map":
        return {key: _encode(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _number(float(value)))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    return value


def _number(seconds: float) -> int | float:
    """Whole seconds as a CBOR int, anything finer as a float."""
    return int(seconds) if math.isfinite(seconds) and seconds == int(seconds) else seconds


def error_response(service: str, status: int, code: str, message: str) -> Response:
    """An error body per the spec.  `code` may be the query-compatible code
    ("InvalidParameterValue") or the shape name ("InvalidParameterValueException")."""
    model = service_model(service)
    shape_name, query_code, sender = code, code, status < 500
    # A shape named like the code wins: several shapes can share one query
    # code (DashboardNotFoundError and ResourceNotFound are both "ResourceNotFound").
    candidates = sorted(model.error_shapes, key=lambda s: s.name != code)
    for shape in candidates:
        error_meta = shape.metadata.get("error", {})
        if code in (shape.name, error_meta.get("code")):
            shape_name = shape.name
            query_code = error_meta.get("code", shape.name)
            sender = error_meta.get("senderFault", sender)
            break
    headers = _base_headers()
    headers["Content-Type"] = "application/cbor"
    if "awsQueryCompatible" in model.metadata:
        headers["x-amzn-query-error"] = f"{query_code};{'Sender' if sender else 'Receiver'}"
    body = {"__type": f"com.amazonaws.{service}#{shape_name}", "message": message}
    return Response(cbor2.dumps(body), status, headers=headers)


def from_moto_json(service: str, operation: str, status: int, headers: Headers, body: bytes) -> Response:
    """Re-encode moto's awsJson answer (success or error) as rpcv2Cbor."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        # moto crashed and Flask sent an HTML page.
        return error_response(service, 500, "InternalFailure", f"moto failed on {operation} (HTTP {status})")
    if status < 300:
        return output_response(service, operation, document)
    query_error = headers.get("x-amzn-query-error", "")
    code = query_error.split(";", 1)[0] or str(document.get("__type", "InternalFailure")).rsplit("#", 1)[-1]
    message = document.get("message") or document.get("Message") or ""
    return error_response(service, status, code, message)
