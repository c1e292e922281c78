"""CodeDeploy operations moto 5.2.5 lacks, served next to moto's own.

moto's CreateApplication / CreateDeploymentGroup / CreateDeployment /
GetDeployment work over awsJson1_1 as they are and keep the deployments; this
module adds, reading those deployments from moto's CodeDeployBackend:

- PutLifecycleEventHookExecutionStatus (not in moto; moto answers HTTP 500).
  Every attempt is recorded in order, accepted or not, for the control API's
  GET /_harness/lifecycle.  Execution ids are not known in advance (the test
  invents them in the hook event), so any non-empty id is accepted until it has
  a terminal status; after that every further report for it is rejected with
  LifecycleEventAlreadyCompletedException, as the real service does.
- ListDeploymentTargets / BatchGetDeploymentTargets (not in moto) over ECS
  and Lambda targets the test registers with POST /_harness/deployment-targets.
  ListDeploymentTargets answers in one page unless a test sets a page size
  (POST /_harness/codedeploy/list-targets-page-size), then pages with an
  opaque nextToken as the real service does.
- Deployment ids of CodeDeploy's shape, `d-` and nine upper-case letters or
  digits (moto mints UUIDs, which the hooks refuse as ids CodeDeploy never
  sends).
- A control-API patch of a deployment's status/creator/config name
  (POST /_harness/deployments/<id>): moto leaves every deployment "Created"
  forever, while a real one is "InProgress" while its hooks run.
"""

from __future__ import annotations

import datetime
import secrets
import string
import threading
import time
from typing import Any

from moto.codedeploy import models as moto_codedeploy
from moto.codedeploy.models import codedeploy_backends

from aws_protocol import ApiError, AwsCall

HOOK_STATUSES = {"Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown"}
TERMINAL_STATUSES = {"Succeeded", "Failed"}
BATCH_GET_TARGETS_LIMIT = 25  # the real API's limit
# Control-API names of the DeploymentInfo fields a test may patch -> moto's attributes.
PATCHABLE_DEPLOYMENT_FIELDS = {
    "status": "status",
    "creator": "creator",
    "deploymentConfigName": "deployment_config_name",
    "createTime": "create_time",  # epoch seconds in the control API
}
# The API's TargetLabel enum is "Blue"/"Green"; accept the upper-case
# spelling ECS itself uses and store the API's.
TARGET_LABELS = {"BLUE": "Blue", "GREEN": "Green"}


DEPLOYMENT_ID_ALPHABET = string.ascii_uppercase + string.digits


def _codedeploy_deployment_id() -> str:
    """A deployment id as CodeDeploy mints them: `d-` and 9 of [A-Z0-9]."""
    return "d-" + "".join(secrets.choice(DEPLOYMENT_ID_ALPHABET) for _ in range(9))


def _is_deployment_id(value: Any) -> bool:
    """Whether `value` has the shape of CodeDeploy's deployment ids."""
    return (
        isinstance(value, str)
        and len(value) == 11
        and value.startswith("d-")
        and all(c in DEPLOYMENT_ID_ALPHABET for c in value[2:])
    )


def _use_codedeploy_deployment_ids() -> None:
    """Make moto's CreateDeployment mint ids of CodeDeploy's shape (once)."""
    cls = moto_codedeploy.DeploymentInfo
    if getattr(cls, "_harness_ids", False):
        return
    moto_init = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        self.deployment_id = _codedeploy_deployment_id()

    cls.__init__ = init
    cls._harness_ids = True


_use_codedeploy_deployment_ids()


class CodeDeployExtension:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: list[dict[str, Any]] = []
        self._terminal: dict[tuple[str, str], str] = {}  # (deploymentId, hook id) -> status
        # deploymentId -> DeploymentTarget dicts ({"deploymentTargetType", "ecsTarget" | "lambdaTarget"})
        self._targets: dict[str, list[dict[str, Any]]] = {}
        self._list_page_size: int | None = None

    def handlers(self) -> dict[str, Any]:
        return {
            "PutLifecycleEventHookExecutionStatus": self.put_lifecycle_event_hook_execution_status,
            "ListDeploymentTargets": self.list_deployment_targets,
            "BatchGetDeploymentTargets": self.batch_get_deployment_targets,
        }

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._terminal.clear()
            self._targets.clear()
            self._list_page_size = None

    # ------------------------------------------------------------ lifecycle hooks

    def lifecycle_attempts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(attempt) for attempt in self._attempts]

    def _record(self, params: dict[str, Any], outcome: str, injected: bool = False) -> None:
        """Append one attempt; the caller holds the lock."""
        self._attempts.append(
            {
                "deploymentId": params.get("deploymentId"),
                "lifecycleEventHookExecutionId": params.get("lifecycleEventHookExecutionId"),
                "status": params.get("status"),
                "outcome": outcome,
                "injected": injected,
                "at": time.time(),
            }
        )

    def note_injected_fault(self, call: AwsCall, outcome: str) -> None:
        """A fault answered this call before it got here; it is still an attempt."""
        if (call.service, call.operation) != ("codedeploy", "PutLifecycleEventHookExecutionStatus"):
            return
        try:
            params = call.params()
        except ValueError:
            params = {}
        with self._lock:
            self._record(params, outcome, injected=True)

    def put_lifecycle_event_hook_execution_status(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                key = self._check_hook_report(call, params)
            except ApiError as error:
                self._record(params, error.code)
                raise
            if params["status"] in TERMINAL_STATUSES:
                self._terminal[key] = params["status"]
            self._record(params, "accepted")
        return {"lifecycleEventHookExecutionId": params["lifecycleEventHookExecutionId"]}

    def _check_hook_report(self, call: AwsCall, params: dict[str, Any]) -> tuple[str, str]:
        deployment_id = self._existing_deployment(call, params)
        hook_id = params.get("lifecycleEventHookExecutionId")
        if not hook_id:
            raise ApiError(400, "InvalidLifecycleEventHookExecutionIdException", "A lifecycle event hook execution ID is required.")
        status = params.get("status")
        if status not in HOOK_STATUSES:
            raise ApiError(
                400,
                "InvalidLifecycleEventHookExecutionStatusException",
                f"The status {status!r} is not valid; use one of {sorted(HOOK_STATUSES)}.",
            )
        key = (deployment_id, hook_id)
        if key in self._terminal:
            raise ApiError(
                400,
                "LifecycleEventAlreadyCompletedException",
                f"The lifecycle event hook execution {hook_id} already completed with status {self._terminal[key]}.",
            )
        return key

    # ------------------------------------------------------------ deployments

    @staticmethod
    def patch_deployment(deployment_id: str, fields: dict[str, Any]) -> bool:
        """Control API: overwrite fields of a moto deployment; False if unknown.

        "deploymentId" gives the deployment another id: the one a sample event
        file names (events/*.json), so the file can be sent as it is."""
        unknown = set(fields) - set(PATCHABLE_DEPLOYMENT_FIELDS) - {"deploymentId"}
        if unknown:
            patchable = sorted([*PATCHABLE_DEPLOYMENT_FIELDS, "deploymentId"])
            raise ValueError(f"cannot patch {sorted(unknown)}; patchable: {patchable}")
        new_id = fields.get("deploymentId")
        if new_id is not None and not _is_deployment_id(new_id):
            raise ValueError(f"deploymentId must be d- and 9 of [A-Z0-9], such as d-A1B2C3123; got {new_id!r}")
        for account in list(codedeploy_backends.values()):
            for backend in list(account.values()):
                deployment = backend.deployments.get(deployment_id)
                if deployment is not None:
                    for name, value in fields.items():
                        if name == "deploymentId":
                            continue
                        if name == "createTime":
                            value = _naive_utc(value)
                        setattr(deployment, PATCHABLE_DEPLOYMENT_FIELDS[name], value)
                    if new_id is not None and new_id != deployment_id:
                        deployment.deployment_id = new_id
                        backend.deployments[new_id] = backend.deployments.pop(deployment_id)
                    return True
        return False

    # ------------------------------------------------------------ deployment targets

    def register_targets(self, deployment_id: str, targets: list[dict[str, Any]]) -> None:
        """Control API: replace the targets of a deployment (ECS, or Lambda when
        a target has lambdaFunctionInfo or deploymentTargetType LambdaTarget)."""
        normalized = [_deployment_target(deployment_id, raw) for raw in targets]
        ids = [_inner(t)["targetId"] for t in normalized]
        if len(set(ids)) != len(ids):
            raise ValueError(f"target ids must be unique, got {ids}")
        with self._lock:
            self._targets[deployment_id] = normalized

    def set_list_page_size(self, targets: int | None) -> None:
        """Control API: ListDeploymentTargets returns at most this many ids a page (None: all)."""
        if targets is not None and (not isinstance(targets, int) or isinstance(targets, bool) or targets <= 0):
            raise ValueError("targets must be a positive integer or null")
        with self._lock:
            self._list_page_size = targets

    def list_deployment_targets(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        deployment_id = self._existing_deployment(call, params)
        filters = params.get("targetFilters") or {}
        unsupported = set(filters) - {"TargetStatus"}
        if unsupported:
            raise ApiError(400, "InvalidTargetFilterNameException", f"Target filters {sorted(unsupported)} are not supported by this emulator.")
        with self._lock:
            targets = [_inner(t) for t in self._targets.get(deployment_id, [])]
            page_size = self._list_page_size
        if "TargetStatus" in filters:
            targets = [t for t in targets if t["status"] in filters["TargetStatus"]]
        ids = [t["targetId"] for t in targets]
        start = _page_start(params.get("nextToken"), len(ids))
        if page_size is None:
            return {"targetIds": ids[start:]}
        end = start + page_size
        page: dict[str, Any] = {"targetIds": ids[start:end]}
        if end < len(ids):
            page["nextToken"] = f"{LIST_TOKEN_PREFIX}{end}"
        return page

    def batch_get_deployment_targets(self, call: AwsCall, params: dict[str, Any]) -> dict[str, Any]:
        deployment_id = self._existing_deployment(call, params)
        target_ids = params.get("targetIds") or []
        if not target_ids:
            raise ApiError(400, "DeploymentTargetIdRequiredException", "A deployment target ID was not provided.")
        if len(target_ids) > BATCH_GET_TARGETS_LIMIT:
            raise ApiError(
                400,
                "DeploymentTargetListSizeExceededException",
                f"The maximum number of targets that can be requested at once is {BATCH_GET_TARGETS_LIMIT}.",
            )
        with self._lock:
            by_id = {_inner(t)["targetId"]: t for t in self._targets.get(deployment_id, [])}
        missing = [target_id for target_id in target_ids if target_id not in by_id]
        if missing:
            raise ApiError(400, "DeploymentTargetDoesNotExistException", f"The deployment targets {missing} do not exist.")
        return {"deploymentTargets": [by_id[i] for i in target_ids]}

    @staticmethod
    def _existing_deployment(call: AwsCall, params: dict[str, Any]) -> str:
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise ApiError(400, "DeploymentIdRequiredException", "At least one deployment ID must be specified.")
        if deployment_id not in codedeploy_backends[call.account][call.region].deployments:
            raise ApiError(400, "DeploymentDoesNotExistException", f"The deployment {deployment_id} does not exist with the user or AWS account.")
        return deployment_id


LIST_TOKEN_PREFIX = "targets-from-"


def _naive_utc(epoch: Any) -> datetime.datetime:
    """Epoch seconds as moto keeps times: a naive UTC datetime."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        raise ValueError(f"createTime must be epoch seconds, got {epoch!r}")
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)


def _page_start(token: Any, total: int) -> int:
    """Where a ListDeploymentTargets page starts; a token we never issued is refused."""
    if token is None:
        return 0
    if isinstance(token, str) and token.startswith(LIST_TOKEN_PREFIX) and token[len(LIST_TOKEN_PREFIX):].isdigit():
        start = int(token[len(LIST_TOKEN_PREFIX):])
        if 0 < start <= total:
            return start
    raise ApiError(400, "InvalidNextTokenException", f"The next token {token!r} is not valid.")


def _inner(target: dict[str, Any]) -> dict[str, Any]:
    """The ecsTarget or lambdaTarget member of a stored DeploymentTarget."""
    return target.get("ecsTarget") or target["lambdaTarget"]


def _deployment_target(deployment_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A registered target in the API's DeploymentTarget shape."""
    if not isinstance(raw, dict):
        raise ValueError("every target must be a JSON object")
    kind = raw.get("deploymentTargetType", "LambdaTarget" if "lambdaFunctionInfo" in raw else "ECSTarget")
    if kind == "ECSTarget":
        return {"deploymentTargetType": kind, "ecsTarget": _ecs_target(deployment_id, raw)}
    if kind == "LambdaTarget":
        return {"deploymentTargetType": kind, "lambdaTarget": _lambda_target(deployment_id, raw)}
    raise ValueError(f"deploymentTargetType {kind!r} is not supported; use ECSTarget or LambdaTarget")


LAMBDA_INFO_FIELDS = {"functionName", "functionAlias", "currentVersion", "targetVersion", "targetVersionWeight"}


def _lambda_target(deployment_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A registered target in the API's LambdaTarget shape, defaults filled in.

    Fields of lambdaFunctionInfo the test leaves out stay out, so a test can
    register the incomplete answer it wants discovery to refuse."""
    if not raw.get("targetId"):
        raise ValueError("every target needs a targetId (for Lambda: '<function>:<alias>')")
    info = raw.get("lambdaFunctionInfo")
    if info is not None:
        if not isinstance(info, dict) or set(info) - LAMBDA_INFO_FIELDS:
            raise ValueError(f"lambdaFunctionInfo must be an object with fields from {sorted(LAMBDA_INFO_FIELDS)}")
    target = {
        "deploymentId": deployment_id,
        "targetId": raw["targetId"],
        "targetArn": raw.get("targetArn", raw["targetId"]),
        "status": raw.get("status", "InProgress"),
        "lastUpdatedAt": raw.get("lastUpdatedAt", time.time()),
        "lifecycleEvents": raw.get("lifecycleEvents", []),
    }
    if info is not None:
        target["lambdaFunctionInfo"] = dict(info)
    return target


def _ecs_target(deployment_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A registered target in the API's ECSTarget shape, defaults filled in."""
    if not raw.get("targetId"):
        raise ValueError("every target needs a targetId (for ECS: '<cluster>:<service>')")
    task_sets = []
    for task_set in raw.get("taskSetsInfo", []):
        task_set = dict(task_set)
        if "identifier" in task_set:  # the API spells this member "identifer"
            task_set.setdefault("identifer", task_set.pop("identifier"))
        label = task_set.get("taskSetLabel")
        if isinstance(label, str):
            task_set["taskSetLabel"] = TARGET_LABELS.get(label.upper(), label)
        task_sets.append(task_set)
    return {
        "deploymentId": deployment_id,
        "targetId": raw["targetId"],
        "targetArn": raw.get("targetArn", raw["targetId"]),
        "lastUpdatedAt": raw.get("lastUpdatedAt", time.time()),
        "lifecycleEvents": raw.get("lifecycleEvents", []),
        "status": raw.get("status", "InProgress"),
        "taskSetsInfo": task_sets,
    }
