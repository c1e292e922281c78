"""What every AWS call passing through the emulator has in common.

Owns: recognising an incoming SDK request (service, operation, wire protocol,
account, region), buffering its body, replaying a request into moto's WSGI app,
and writing outputs and errors back in the caller's own protocol.  The
extension modules (cloudwatch_ext, codedeploy_ext) work on plain decoded
parameters and return plain dicts or raise ApiError, so none of them has to
know whether the caller spoke JSON or CBOR.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs

from moto.iam.models import get_account_id_from
from werkzeug.datastructures import Headers
from werkzeug.test import run_wsgi_app
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

import cbor_protocol

WsgiApp = Callable[..., Any]

# Path of a Smithy RPC v2 request: /service/<ServiceShapeName>/operation/<Op>.
RPCV2_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
# "Credential=AKID/20240101/us-east-1/monitoring/aws4_request"
CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")

# SigV4 signing names whose moto/botocore service name differs.  Calls are
# logged and matched against faults under the botocore name.
SIGNING_NAME_TO_SERVICE = {"monitoring": "cloudwatch"}


class ApiError(Exception):
    """An AWS-style error, rendered later in whatever protocol the caller used."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class AwsCall:
    """One decoded SDK request."""

    service: str  # botocore service name, e.g. "cloudwatch", "codedeploy"
    operation: str  # e.g. "GetMetricData"; "<METHOD> <path>" for REST APIs
    protocol: str  # "rpcv2cbor" | "json" | "query" | "rest"
    region: str
    account: str
    body: bytes  # after Content-Encoding has been undone
    json_version: str  # "1.0"/"1.1": the Content-Type used for JSON replies

    def params(self) -> dict[str, Any]:
        """The operation input as JSON-like data (timestamps as epoch seconds)."""
        if not self.body:
            return {}
        if self.protocol == "rpcv2cbor":
            return cbor_protocol.decode_input(self.body)
        if self.protocol == "json":
            return json.loads(self.body)
        raise ValueError(f"no parameter decoding for protocol {self.protocol}")


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body and leave a replayable copy in the environ.

    Handles both Content-Length and chunked bodies (werkzeug's dev server
    de-chunks and marks the stream as terminated).
    """
    body = get_input_stream(environ).read()
    replace_body(environ, body)
    return body


def replace_body(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)


def identify(environ: dict[str, Any], body: bytes) -> AwsCall | None:
    """Recognise a SigV4-signed SDK request; None for anything else."""
    match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    service = SIGNING_NAME_TO_SERVICE.get(match["service"], match["service"])
    region = match["region"]
    account = _account_id(environ, match["key"])
    content_type = environ.get("CONTENT_TYPE", "")
    path = environ.get("PATH_INFO", "")

    if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
        # The Rust SDK gzips large PutMetricData bodies (requestCompression).
        body = gzip.decompress(body)
        environ.pop("HTTP_CONTENT_ENCODING")
        replace_body(environ, body)

    rpc = RPCV2_PATH.match(path)
    if rpc and environ.get("HTTP_SMITHY_PROTOCOL", "") == "rpc-v2-cbor":
        return AwsCall(service, rpc["operation"], "rpcv2cbor", region, account, body, "1.0")

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target and "." in target:
        version = "1.1" if content_type.endswith("json-1.1") else "1.0"
        return AwsCall(service, target.split(".", 1)[1], "json", region, account, body, version)

    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return AwsCall(service, form["Action"][0], "query", region, account, body, "")

    method = environ.get("REQUEST_METHOD", "GET")
    return AwsCall(service, f"{method} {path}", "rest", region, account, body, "")


def _account_id(environ: dict[str, Any], access_key: str) -> str:
    """The account moto will file this request under (same precedence as moto)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if "HTTP_X_MOTO_ACCOUNT_ID" in environ:
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    return get_account_id_from(access_key)


def call_moto(moto_app: WsgiApp, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
    """Run a (possibly rewritten) request through moto and buffer the answer."""
    app_iter, status, headers = run_wsgi_app(moto_app, environ, buffered=True)
    try:
        body = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    return int(status.split(" ", 1)[0]), Headers(headers), body


def forward_cbor_to_moto(moto_app: WsgiApp, environ: dict[str, Any], call: AwsCall, params: dict[str, Any]) -> Response:
    """Serve an rpcv2Cbor call with moto's awsJson implementation of it."""
    target, content_type = cbor_protocol.json_equivalent(call.service, call.operation)
    env = dict(environ)
    for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_X_AMZN_QUERY_MODE"):
        env.pop(key, None)
    # moto routes on the raw URI as well as PATH_INFO; CloudWatch's JSON entry point is "/".
    env.update(PATH_INFO="/", RAW_URI="/", REQUEST_URI="/", QUERY_STRING="")
    env.update(CONTENT_TYPE=content_type, HTTP_X_AMZ_TARGET=target)
    replace_body(env, json.dumps(params).encode("utf-8"))
    status, headers, body = call_moto(moto_app, env)
    return cbor_protocol.from_moto_json(call.service, call.operation, status, headers, body)


def render_output(call: AwsCall, output: dict[str, Any]) -> Response:
    """A successful answer to a call the emulator handled itself."""
    if call.protocol == "rpcv2cbor":
        return cbor_protocol.output_response(call.service, call.operation, output)
    if call.protocol == "json":
        return Response(json.dumps(output), 200, content_type=f"application/x-amz-json-{call.json_version}")
    raise ValueError(f"no output rendering for protocol {call.protocol}")


def render_error(call: AwsCall, error: ApiError) -> Response:
    """An error in the caller's protocol."""
    if call.protocol == "rpcv2cbor":
        return cbor_protocol.error_response(call.service, error.status, error.code, error.message)
    if call.protocol == "query":
        fault = "Sender" if error.status < 500 else "Receiver"
        xml = (
            "<ErrorResponse><Error>"
            f"<Type>{fault}</Type><Code>{_xml_escape(error.code)}</Code>"
            f"<Message>{_xml_escape(error.message)}</Message>"
            "</Error><RequestId>emulator</RequestId></ErrorResponse>"
        )
        return Response(xml, error.status, content_type="text/xml")
    # awsJson 1.0/1.1 and, as the closest common form, REST-JSON services.
    content_type = f"application/x-amz-json-{call.json_version}" if call.protocol == "json" else "application/json"
    body = json.dumps({"__type": error.code, "message": error.message})
    return Response(body, error.status, headers={"x-amzn-ErrorType": error.code}, content_type=content_type)


def raw_response(call: AwsCall, status: int, body: bytes) -> Response:
    """A deliberately broken answer: the given bytes under the caller's Content-Type."""
    content_type = {
        "rpcv2cbor": "application/cbor",
        "json": f"application/x-amz-json-{call.json_version}",
        "query": "text/xml",
    }.get(call.protocol, "application/json")
    headers = {"smithy-protocol": "rpc-v2-cbor"} if call.protocol == "rpcv2cbor" else {}
    return Response(body, status, headers=headers, content_type=content_type)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

