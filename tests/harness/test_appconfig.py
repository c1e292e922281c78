"""Checks of the emulator's AppConfig (appconfig_ext.py) through boto3, as the
flag gate and the kill switch use it: seed a feature-flag profile, deploy it,
read it through the data plane, flip a flag, fail on demand.

Run: .venv/bin/python -m pytest tests/harness -q
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from test_emulator import REGION, control, start_emulator

FLAGS = {
    "version": "1",
    "flags": {"new_checkout": {"name": "New checkout"}, "dark_mode": {"name": "Dark mode"}},
    "values": {"new_checkout": {"enabled": True, "variant": "b"}},
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory):
    process, port = start_emulator(str(tmp_path_factory.mktemp("emulator") / "stderr.log"))
    yield f"http://127.0.0.1:{port}"
    process.stdin.close()
    assert process.wait(timeout=10) == 0


@pytest.fixture(autouse=True)
def clean_state(base_url: str) -> None:
    assert requests.post(f"{base_url}/_harness/reset").status_code == 200


def clients(base_url: str) -> tuple[Any, Any]:
    kwargs = dict(
        endpoint_url=base_url,
        region_name=REGION,
        aws_access_key_id="AKIDHARNESSTEST",
        aws_secret_access_key="harness-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    return boto3.client("appconfig", **kwargs), boto3.client("appconfigdata", **kwargs)


def seed(appconfig: Any, deploy: bool = True) -> dict[str, Any]:
    app = appconfig.create_application(Name="shop")
    env = appconfig.create_environment(ApplicationId=app["Id"], Name="prod")
    profile = appconfig.create_configuration_profile(
        ApplicationId=app["Id"], Name="checkout-flags", LocationUri="hosted", Type="AWS.AppConfig.FeatureFlags"
    )
    version = appconfig.create_hosted_configuration_version(
        ApplicationId=app["Id"],
        ConfigurationProfileId=profile["Id"],
        Content=json.dumps(FLAGS).encode(),
        ContentType="application/json",
    )
    if deploy:
        appconfig.start_deployment(
            ApplicationId=app["Id"],
            EnvironmentId=env["Id"],
            DeploymentStrategyId="AppConfig.AllAtOnce",
            ConfigurationProfileId=profile["Id"],
            ConfigurationVersion=str(version["VersionNumber"]),
        )
    return {"app": app["Id"], "env": env["Id"], "profile": profile["Id"]}


def read_flags(data: Any, app: str = "shop", env: str = "prod", profile: str = "checkout-flags") -> bytes:
    token = data.start_configuration_session(
        ApplicationIdentifier=app, EnvironmentIdentifier=env, ConfigurationProfileIdentifier=profile
    )["InitialConfigurationToken"]
    return data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()


def test_data_plane_serves_deployed_flags_by_name(base_url: str) -> None:
    appconfig, data = clients(base_url)
    seed(appconfig)
    served = json.loads(read_flags(data))
    assert served == {"new_checkout": {"enabled": True, "variant": "b"}, "dark_mode": {"enabled": False}}


def test_nothing_deployed_is_an_empty_configuration(base_url: str) -> None:
    appconfig, data = clients(base_url)
    seed(appconfig, deploy=False)
    assert read_flags(data) == b""


def test_unknown_names_are_not_found(base_url: str) -> None:
    appconfig, data = clients(base_url)
    seed(appconfig)
    for names in [("nope", "prod", "checkout-flags"), ("shop", "nope", "checkout-flags"), ("shop", "prod", "nope")]:
        with pytest.raises(ClientError) as caught:
            read_flags(data, *names)
        assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_token_is_single_use_and_a_later_poll_is_empty_until_a_new_deployment(base_url: str) -> None:
    appconfig, data = clients(base_url)
    ids = seed(appconfig)
    token = data.start_configuration_session(
        ApplicationIdentifier="shop", EnvironmentIdentifier="prod", ConfigurationProfileIdentifier="checkout-flags"
    )["InitialConfigurationToken"]
    first = data.get_latest_configuration(ConfigurationToken=token)
    assert first["Configuration"].read()
    with pytest.raises(ClientError) as caught:
        data.get_latest_configuration(ConfigurationToken=token)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    second = data.get_latest_configuration(ConfigurationToken=first["NextPollConfigurationToken"])
    assert second["Configuration"].read() == b""
    flipped = json.loads(json.dumps(FLAGS))
    flipped["values"]["new_checkout"]["enabled"] = False
    version = appconfig.create_hosted_configuration_version(
        ApplicationId=ids["app"], ConfigurationProfileId=ids["profile"],
        Content=json.dumps(flipped).encode(), ContentType="application/json", LatestVersionNumber=1,
    )
    appconfig.start_deployment(
        ApplicationId=ids["app"], EnvironmentId=ids["env"], DeploymentStrategyId="AppConfig.AllAtOnce",
        ConfigurationProfileId=ids["profile"], ConfigurationVersion=str(version["VersionNumber"]),
    )
    third = data.get_latest_configuration(ConfigurationToken=second["NextPollConfigurationToken"])
    assert json.loads(third["Configuration"].read())["new_checkout"]["enabled"] is False


def test_control_plane_lists_and_refuses_a_stale_version_and_bad_flags(base_url: str) -> None:
    appconfig, _ = clients(base_url)
    ids = seed(appconfig)
    assert [a["Name"] for a in appconfig.list_applications()["Items"]] == ["shop"]
    with pytest.raises(ClientError) as caught:
        appconfig.list_environments(ApplicationId="shop")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException", "the control plane takes ids"
    assert [e["Name"] for e in appconfig.list_environments(ApplicationId=ids["app"])["Items"]] == ["prod"]
    versions = appconfig.list_hosted_configuration_versions(ApplicationId=ids["app"], ConfigurationProfileId=ids["profile"])
    assert [v["VersionNumber"] for v in versions["Items"]] == [1]
    deployments = appconfig.list_deployments(ApplicationId=ids["app"], EnvironmentId=ids["env"])["Items"]
    assert [(d["DeploymentNumber"], d["State"], d["ConfigurationVersion"]) for d in deployments] == [(1, "COMPLETE", "1")]
    deployment = appconfig.get_deployment(ApplicationId=ids["app"], EnvironmentId=ids["env"], DeploymentNumber=1)
    assert deployment["DeploymentStrategyId"] == "AppConfig.AllAtOnce"
    with pytest.raises(ClientError) as caught:
        appconfig.create_hosted_configuration_version(
            ApplicationId=ids["app"], ConfigurationProfileId=ids["profile"],
            Content=json.dumps(FLAGS).encode(), ContentType="application/json", LatestVersionNumber=7,
        )
    assert caught.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as caught:
        appconfig.create_hosted_configuration_version(
            ApplicationId=ids["app"], ConfigurationProfileId=ids["profile"],
            Content=b'{"flags": {}, "values": {"x": {"enabled": true}}}', ContentType="application/json",
        )
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as caught:
        appconfig.start_deployment(
            ApplicationId=ids["app"], EnvironmentId=ids["env"], DeploymentStrategyId="AppConfig.Nope",
            ConfigurationProfileId=ids["profile"], ConfigurationVersion="1",
        )
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_faults_name_appconfig_operations(base_url: str) -> None:
    appconfig, data = clients(base_url)
    seed(appconfig)
    control(base_url, "POST", "faults", {
        "service": "appconfig", "operation": "GetLatestConfiguration",
        "status": 429, "code": "ThrottlingException", "message": "Rate exceeded", "times": 1,
    })
    with pytest.raises(ClientError) as caught:
        read_flags(data)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert json.loads(read_flags(data))["new_checkout"]["enabled"] is True
    calls = [(c["operation"], c["injected"]) for c in control(base_url, "GET", "calls") if c["service"] == "appconfig"]
    assert ("GetLatestConfiguration", True) in calls
    assert ("StartConfigurationSession", False) in calls
