"""ECS service deployment operations moto 5.2.5 lacks, for the ECS-native
lifecycle hook's discovery and rollback check (issue 18).

moto 5.2.5 knows ECS clusters, services and task sets, but not the service
revisions and service deployments ECS added in 2024 for its history and its
native blue/green, linear and canary deployments. This module serves, from
what a test registers with POST /_harness/ecs/service-deployments:

- ListServiceDeployments (cluster, service): the service's deployments as
  ServiceDeploymentBrief, newest first (by createdAt), as the real API lists;
- DescribeServiceDeployments (serviceDeploymentArns, at most 20): the
  ServiceDeployment documents as registered, unknown ARNs as failures
  (reason MISSING);
- DescribeServiceRevisions (serviceRevisionArns, at most 20): likewise.

A test registers the API's own JSON shapes (camelCase fields, timestamps as
epoch seconds); registering an ARN again replaces it, which is how a test
moves a deployment to ROLLBACK_IN_PROGRESS.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_protocol import ApiError, AwsCall

DESCRIBE_LIMIT = 20  # both Describe operations' documented maximum
BRIEF_FIELDS = (
    "serviceDeploymentArn",
    "serviceArn",
    "clusterArn",
    "startedAt",
    "createdAt",
    "finishedAt",
    "targetServiceRevisionArn",
    "status",
    "statusReason",
)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameterException", message)


def _name(value: str) -> str:
    """A cluster or service given by name or ARN, as its name."""
    return value.rsplit("/", 1)[-1]


class EcsExtension:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deployments: dict[str, dict[str, Any]] = {}
        self._revisions: dict[str, dict[str, Any]] = {}

    def handlers(self) -> dict[str, Any]:
        return {
            "ListServiceDeployments": self._list_service_deployments,
            "DescribeServiceDeployments": self._describe_service_deployments,
            "DescribeServiceRevisions": self._describe_service_revisions,
        }

    def reset(self) -> None:
        with self._lock:
            self._deployments.clear()
            self._revisions.clear()

    def register(self, body: dict[str, Any]) -> tuple[int, int]:
        """Stores (or replaces, by ARN) the deployments and revisions of `body`."""
        deployments = body.get("serviceDeployments", [])
        revisions = body.get("serviceRevisions", [])
        if not isinstance(deployments, list) or not isinstance(revisions, list):
            raise ValueError("expected {\"serviceDeployments\": [...], \"serviceRevisions\": [...]}")
        for deployment in deployments:
            for field in ("serviceDeploymentArn", "serviceArn", "clusterArn", "targetServiceRevision", "status", "createdAt"):
                if field not in deployment:
                    raise ValueError(f"a service deployment needs {field}")
        for revision in revisions:
            if "serviceRevisionArn" not in revision:
                raise ValueError("a service revision needs serviceRevisionArn")
        with self._lock:
            for deployment in deployments:
                self._deployments[deployment["serviceDeploymentArn"]] = dict(deployment)
            for revision in revisions:
                self._revisions[revision["serviceRevisionArn"]] = dict(revision)
        return len(deployments), len(revisions)

    def _list_service_deployments(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        service = params.get("service")
        if not isinstance(service, str) or not service:
            raise _invalid("service is required")
        cluster = _name(params.get("cluster") or "default")
        suffix = f":service/{cluster}/{_name(service)}"
        with self._lock:
            found = [d for d in self._deployments.values() if d["serviceArn"].endswith(suffix)]
        found.sort(key=lambda d: d["createdAt"], reverse=True)
        briefs = []
        for deployment in found:
            brief = {k: deployment[k] for k in BRIEF_FIELDS if k in deployment}
            brief["targetServiceRevisionArn"] = deployment["targetServiceRevision"].get("arn")
            briefs.append(brief)
        return {"serviceDeployments": briefs}

    def _describe(self, params: dict[str, Any], field: str, store: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        arns = params.get(field)
        if not isinstance(arns, list) or not arns:
            raise _invalid(f"{field} is required")
        if len(arns) > DESCRIBE_LIMIT:
            raise _invalid(f"{field} can have at most {DESCRIBE_LIMIT} members")
        with self._lock:
            found = [dict(store[arn]) for arn in arns if arn in store]
            failures = [{"arn": arn, "reason": "MISSING"} for arn in arns if arn not in store]
        return {key: found, "failures": failures}

    def _describe_service_deployments(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(params, "serviceDeploymentArns", self._deployments, "serviceDeployments")

    def _describe_service_revisions(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(params, "serviceRevisionArns", self._revisions, "serviceRevisions")
