"""AWS AppConfig as the feature-flag gate and the kill switch use it: moto's
applications, configuration profiles and hosted configuration versions, plus
what moto 5.2.5 lacks.

moto keeps applications, configuration profiles (any Type, so
`AWS.AppConfig.FeatureFlags` too) and hosted configuration versions, and this
module reads and writes that same state (moto's AppConfigBackend).  It adds:

- Control-plane paths take ids only, as the service's do (a name in
  `/applications/{id}` is a ResourceNotFoundException); the data plane takes
  names or ids.
- ListApplications; CreateEnvironment / ListEnvironments / GetEnvironment;
  ListHostedConfigurationVersions (newest first, as the service lists them).
- CreateHostedConfigurationVersion with the `Latest-Version-Number` header
  honoured (a stale one is a ConflictException: optimistic concurrency, which
  moto ignores) and a feature-flag document checked for the profile type
  (`{"version": "1", "flags": {...}, "values": {...}}`, a value's `enabled`
  a boolean), as the service's own validator does.
- StartDeployment / GetDeployment / ListDeployments with the predefined
  strategies (`AppConfig.AllAtOnce` and the others): a deployment completes at
  once (the emulator has no clock to bake on), so the data plane serves the
  new version from the next session on.
- The data plane (appconfigdata, signed as `appconfig` too, told apart by
  path): StartConfigurationSession (application, environment and profile by
  name or id) and GetLatestConfiguration.  A token is single use and yields the
  next one; the first poll of a session returns the deployed configuration
  (empty when nothing was ever deployed to the environment), a later poll
  returns it again only if a newer deployment landed.  A feature-flag profile
  is served as applications read it: `{"<key>": {"enabled": bool, ...}}`.

Every call is named by its operation (OPERATIONS below), so the harness's
faults match them: {"service": "appconfig", "operation":
"GetLatestConfiguration", "status": 429, "code": "ThrottlingException"} makes
the data plane throttle, and {"service": "appconfig"} fails every call.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import threading
import urllib.parse
from typing import Any, Callable

from moto.appconfig.models import appconfig_backends
from werkzeug.wrappers import Response

from aws_protocol import ApiError, AwsCall

FEATURE_FLAGS_TYPE = "AWS.AppConfig.FeatureFlags"
# The predefined strategies (AppConfig's user guide, "Predefined deployment
# strategies"): id -> (duration min, growth factor, final bake min, growth type).
PREDEFINED_STRATEGIES = {
    "AppConfig.AllAtOnce": (0, 100.0, 10, "LINEAR"),
    "AppConfig.Linear50PercentEvery30Seconds": (1, 50.0, 1, "LINEAR"),
    "AppConfig.Canary10Percent20Minutes": (20, 10.0, 10, "EXPONENTIAL"),
    "AppConfig.Linear20PercentEvery6Minutes": (30, 20.0, 30, "LINEAR"),
}

_APP = r"/applications/(?P<app>[^/]+)"
_PROFILE = _APP + r"/configurationprofiles/(?P<profile>[^/]+)"
_ENV = _APP + r"/environments/(?P<env>[^/]+)"
# (method, path pattern, operation).  Only the operations with a handler in
# AppConfigExtension are served here; the others are named (for faults and the
# call log) and left to moto.
OPERATIONS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(f"^{p}$"), op)
    for m, p, op in [
        ("POST", "/configurationsessions", "StartConfigurationSession"),
        ("GET", "/configuration", "GetLatestConfiguration"),
        ("GET", "/applications", "ListApplications"),
        ("POST", "/applications", "CreateApplication"),
        ("GET", _APP, "GetApplication"),
        ("GET", _APP + "/environments", "ListEnvironments"),
        ("POST", _APP + "/environments", "CreateEnvironment"),
        ("GET", _ENV, "GetEnvironment"),
        ("GET", _ENV + "/deployments", "ListDeployments"),
        ("POST", _ENV + "/deployments", "StartDeployment"),
        ("GET", _ENV + r"/deployments/(?P<number>\d+)", "GetDeployment"),
        ("GET", _APP + "/configurationprofiles", "ListConfigurationProfiles"),
        ("POST", _APP + "/configurationprofiles", "CreateConfigurationProfile"),
        ("GET", _PROFILE, "GetConfigurationProfile"),
        ("GET", _PROFILE + "/hostedconfigurationversions", "ListHostedConfigurationVersions"),
        ("POST", _PROFILE + "/hostedconfigurationversions", "CreateHostedConfigurationVersion"),
        ("GET", _PROFILE + r"/hostedconfigurationversions/(?P<version>\d+)", "GetHostedConfigurationVersion"),
    ]
]


def identify(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The operation of an AppConfig REST call and its path parameters."""
    for want, pattern, operation in OPERATIONS:
        match = pattern.match(path)
        if match and want == method:
            return operation, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return None


def _not_found(what: str) -> ApiError:
    return ApiError(404, "ResourceNotFoundException", f"{what} not found")


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers=headers or {}, content_type="application/json")


def check_feature_flags(content: bytes) -> dict[str, Any]:
    """The parsed feature-flag document, or the BadRequestException the
    service's validator gives."""
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise ApiError(400, "BadRequestException", f"feature flag content is not JSON: {exc}")
    if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
        raise ApiError(400, "BadRequestException", "feature flag content needs a \"flags\" object")
    values = document.get("values", {})
    if not isinstance(values, dict):
        raise ApiError(400, "BadRequestException", "\"values\" must be an object")
    for key, value in values.items():
        if key not in document["flags"]:
            raise ApiError(400, "BadRequestException", f"value for undefined flag {key!r}")
        if not isinstance(value, dict) or not isinstance(value.get("enabled", False), bool):
            raise ApiError(400, "BadRequestException", f"flag {key!r}: \"enabled\" must be a boolean")
    return document


def served_flags(content: bytes) -> bytes:
    """A feature-flag document as the data plane serves it to applications."""
    document = json.loads(content)
    values = document.get("values", {})
    served = {key: dict(values.get(key, {"enabled": False})) for key in document.get("flags", {})}
    for value in served.values():
        value.setdefault("enabled", False)
    return json.dumps(served).encode("utf-8")


class AppConfigExtension:
    """The AppConfig operations moto lacks, over moto's own state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            # (account, region, app id) -> env id -> environment
            self.environments: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
            # (account, region, app id, env id) -> deployments, oldest first
            self.deployments: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
            # token -> session
            self.sessions: dict[str, dict[str, Any]] = {}

    def handlers(self) -> dict[str, Callable[[AwsCall, dict[str, str], Any], Response]]:
        return {
            "StartConfigurationSession": self.start_configuration_session,
            "GetLatestConfiguration": self.get_latest_configuration,
            "ListApplications": self.list_applications,
            "ListEnvironments": self.list_environments,
            "CreateEnvironment": self.create_environment,
            "GetEnvironment": self.get_environment,
            "ListDeployments": self.list_deployments,
            "StartDeployment": self.start_deployment,
            "GetDeployment": self.get_deployment,
            "ListHostedConfigurationVersions": self.list_hosted_versions,
            "CreateHostedConfigurationVersion": self.create_hosted_version,
        }

    def handle(self, call: AwsCall, environ: dict[str, Any]) -> Response | None:
        """The answer to an AppConfig REST call, or None to let moto answer."""
        found = identify(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        if found is None:
            return None
        handler = self.handlers().get(found[0])
        if handler is None:
            return None
        with self._lock:
            return handler(call, found[1], environ)

    # ------------------------------------------------------------ look-ups

    @staticmethod
    def _backend(call: AwsCall) -> Any:
        return appconfig_backends[call.account][call.region]

    def _app(self, call: AwsCall, ident: str, names: bool = False) -> Any:
        """An application by id (or, for the data plane, by name)."""
        apps = self._backend(call).applications
        if ident in apps:
            return apps[ident]
        named = [a for a in apps.values() if names and a.name == ident]
        if not named:
            raise _not_found(f"Application {ident}")
        return named[0]

    def _env(self, call: AwsCall, app: Any, ident: str, names: bool = False) -> dict[str, Any]:
        envs = self.environments.get((call.account, call.region, app.id), {})
        if ident in envs:
            return envs[ident]
        named = [e for e in envs.values() if names and e["Name"] == ident]
        if not named:
            raise _not_found(f"Environment {ident}")
        return named[0]

    @staticmethod
    def _profile(app: Any, ident: str, names: bool = False) -> Any:
        if ident in app.config_profiles:
            return app.config_profiles[ident]
        named = [p for p in app.config_profiles.values() if names and p.name == ident]
        if not named:
            raise _not_found(f"ConfigurationProfile {ident}")
        return named[0]

    @staticmethod
    def _body(call: AwsCall) -> dict[str, Any]:
        try:
            body = json.loads(call.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "BadRequestException", f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequestException", "body must be a JSON object")
        return body

    # ------------------------------------------------------------ control plane

    def list_applications(self, call: AwsCall, _: dict[str, str], environ: dict[str, Any]) -> Response:
        items = [a.to_json() for a in self._backend(call).applications.values()]
        return _json({"Items": items})

    def create_environment(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        body = self._body(call)
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "BadRequestException", "Name is required")
        env = {
            "ApplicationId": app.id,
            "Id": secrets.token_hex(4)[:7],
            "Name": name,
            "Description": body.get("Description", ""),
            "State": "READY_FOR_DEPLOYMENT",
            "Monitors": body.get("Monitors", []),
        }
        self.environments.setdefault((call.account, call.region, app.id), {})[env["Id"]] = env
        return _json(env, 201)

    def list_environments(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        envs = self.environments.get((call.account, call.region, app.id), {})
        return _json({"Items": list(envs.values())})

    def get_environment(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        return _json(self._env(call, app, path["env"]))

    def list_hosted_versions(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        profile = self._profile(app, path["profile"])
        items = [
            {
                "ApplicationId": app.id,
                "ConfigurationProfileId": profile.id,
                "VersionNumber": number,
                "Description": version.description,
                "ContentType": version.content_type,
                "VersionLabel": version.version_label,
            }
            for number, version in sorted(profile.config_versions.items(), reverse=True)
        ]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        if "max_results" in query:
            items = items[: int(query["max_results"][0])]
        return _json({"Items": items})

    def create_hosted_version(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        profile = self._profile(app, path["profile"])
        content = call.body
        if profile._type == FEATURE_FLAGS_TYPE:
            check_feature_flags(content)
        latest = max(profile.config_versions, default=0)
        expected = environ.get("HTTP_LATEST_VERSION_NUMBER")
        if expected is not None and int(expected) != latest:
            raise ApiError(
                409,
                "ConflictException",
                f"Latest-Version-Number {expected} does not match the latest version {latest}",
            )
        version = profile.create_version(
            app_id=app.id,
            config_id=profile.id,
            description=environ.get("HTTP_DESCRIPTION"),
            content=content.decode("utf-8"),
            content_type=environ.get("CONTENT_TYPE", "application/json"),
            version_label=environ.get("HTTP_VERSIONLABEL"),
        )
        headers = {
            "Application-Id": app.id,
            "Configuration-Profile-Id": profile.id,
            "Version-Number": str(version.version),
        }
        if version.description:
            headers["Description"] = version.description
        return Response(content, 201, headers=headers, content_type=version.content_type)

    def start_deployment(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        env = self._env(call, app, path["env"])
        body = self._body(call)
        strategy = body.get("DeploymentStrategyId")
        if strategy not in PREDEFINED_STRATEGIES:
            raise _not_found(f"DeploymentStrategy {strategy}")
        profile = self._profile(app, str(body.get("ConfigurationProfileId", "")))
        version = str(body.get("ConfigurationVersion", ""))
        if not version.isdigit() or int(version) not in profile.config_versions:
            raise _not_found(f"HostedConfigurationVersion {version}")
        duration, factor, bake, growth = PREDEFINED_STRATEGIES[strategy]
        deployments = self.deployments.setdefault((call.account, call.region, app.id, env["Id"]), [])
        # AppConfig writes its timestamps as ISO 8601 date-times.
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        deployment = {
            "ApplicationId": app.id,
            "EnvironmentId": env["Id"],
            "DeploymentStrategyId": strategy,
            "ConfigurationProfileId": profile.id,
            "DeploymentNumber": len(deployments) + 1,
            "ConfigurationName": profile.name,
            "ConfigurationLocationUri": profile.location_uri,
            "ConfigurationVersion": version,
            "Description": body.get("Description", ""),
            "DeploymentDurationInMinutes": duration,
            "GrowthType": growth,
            "GrowthFactor": factor,
            "FinalBakeTimeInMinutes": bake,
            # No clock to bake on: complete at once.
            "State": "COMPLETE",
            "PercentageComplete": 100.0,
            "StartedAt": now,
            "CompletedAt": now,
        }
        deployments.append(deployment)
        return _json(deployment, 201)

    def list_deployments(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        env = self._env(call, app, path["env"])
        deployments = self.deployments.get((call.account, call.region, app.id, env["Id"]), [])
        return _json({"Items": list(reversed(deployments))})

    def get_deployment(self, call: AwsCall, path: dict[str, str], environ: dict[str, Any]) -> Response:
        app = self._app(call, path["app"])
        env = self._env(call, app, path["env"])
        deployments = self.deployments.get((call.account, call.region, app.id, env["Id"]), [])
        number = int(path["number"])
        if not 1 <= number <= len(deployments):
            raise _not_found(f"Deployment {number}")
        return _json(deployments[number - 1])

    # ------------------------------------------------------------ data plane

    def start_configuration_session(self, call: AwsCall, _: dict[str, str], environ: dict[str, Any]) -> Response:
        body = self._body(call)
        idents = [body.get(k) for k in ("ApplicationIdentifier", "EnvironmentIdentifier", "ConfigurationProfileIdentifier")]
        if not all(isinstance(i, str) and i for i in idents):
            raise ApiError(400, "BadRequestException", "Application, Environment and ConfigurationProfile identifiers are required")
        app = self._app(call, idents[0], names=True)
        env = self._env(call, app, idents[1], names=True)
        profile = self._profile(app, idents[2], names=True)
        token = secrets.token_urlsafe(24)
        self.sessions[token] = {
            "key": (call.account, call.region, app.id, env["Id"]),
            "profile": profile,
            "seen": None,
        }
        return _json({"InitialConfigurationToken": token}, 201)

    def get_latest_configuration(self, call: AwsCall, _: dict[str, str], environ: dict[str, Any]) -> Response:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        token = (query.get("configuration_token") or [""])[0]
        session = self.sessions.pop(token, None)
        if session is None:
            raise ApiError(400, "BadRequestException", "The configuration token is invalid or was already used")
        profile = session["profile"]
        landed = [
            d
            for d in self.deployments.get(session["key"], [])
            if d["ConfigurationProfileId"] == profile.id and d["State"] == "COMPLETE"
        ]
        content, content_type, label, version = b"", "application/octet-stream", None, None
        if landed:
            version = int(landed[-1]["ConfigurationVersion"])
            if version != session["seen"]:
                hosted = profile.config_versions[version]
                content = hosted.content.encode("utf-8") if isinstance(hosted.content, str) else hosted.content
                content_type = hosted.content_type or "application/json"
                label = hosted.version_label
                if profile._type == FEATURE_FLAGS_TYPE:
                    content, content_type = served_flags(content), "application/json"
        next_token = secrets.token_urlsafe(24)
        self.sessions[next_token] = dict(session, seen=version)
        headers = {"Next-Poll-Configuration-Token": next_token, "Next-Poll-Interval-In-Seconds": "60"}
        if label:
            headers["Version-Label"] = label
        return Response(content, 200, headers=headers, content_type=content_type)
