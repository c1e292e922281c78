"""Tests of check-iam.py on small inline templates, good and bad.

    .venv/bin/python -m pytest .ci -q -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "check-iam.py"
_spec = importlib.util.spec_from_file_location("check_iam", SCRIPT)
check_iam = importlib.util.module_from_spec(_spec)
sys.dont_write_bytecode = True
_spec.loader.exec_module(check_iam)

STATUS_ON_EVERYTHING = """
              - Sid: ReportHookStatus
                Effect: Allow
                Action: codedeploy:PutLifecycleEventHookExecutionStatus
                Resource: "*"
"""
GROUP_ARN = "!Sub arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:web/web-prod"


def template(statements: str, extra_properties: str = "") -> str:
    """A role with one inline policy holding `statements` (YAML list items).

    `extra_properties` are more lines of the role's `Properties`, indented by 6.
    """
    head = textwrap.dedent(
        """\
        AWSTemplateFormatVersion: "2010-09-09"
        Conditions:
          Wide: !Equals [!Ref AWS::Region, us-east-1]
        Resources:
          HookRole:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Principal: {Service: lambda.amazonaws.com}
                    Action: sts:AssumeRole
              Policies:
                - PolicyName: hooks
                  PolicyDocument:
                    Version: "2012-10-17"
                    Statement:
        """
    )
    return head + textwrap.indent(textwrap.dedent(statements).strip("\n") + "\n", " " * 12) + extra_properties


def run(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)


def test_a_scoped_template_passes(tmp_path: Path) -> None:
    text = template(
        STATUS_ON_EVERYTHING
        + """
              - Sid: ReadEvidence
                Effect: Allow
                Action: [cloudwatch:GetMetricData, cloudwatch:DescribeAlarms]
                Resource: "*"
              - Sid: Logs
                Effect: Allow
                Action: logs:PutLogEvents
                Resource: !GetAtt LogGroup.Arn
"""
    )
    result = run(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 IAM policy statements checked, none too wide" in result.stdout


def test_the_short_form_tags_are_read_as_intrinsics() -> None:
    loaded = check_iam.load_template("a: !GetAtt Role.Arn\nb: !Sub x-${Y}\nc: !If [Cond, '*', !Ref Z]\nd: !Ref W\n")
    assert loaded == {
        "a": {"Fn::GetAtt": ["Role", "Arn"]},
        "b": {"Fn::Sub": "x-${Y}"},
        "c": {"Fn::If": ["Cond", "*", {"Ref": "Z"}]},
        "d": {"Ref": "W"},
    }


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            """
              - Sid: Everything
                Effect: Allow
                Action: "*"
                Resource: "*"
""",
            'Statement[1] (Sid Everything): Action "*" allows every action of every service',
        ),
        (
            """
              - Sid: AllOfCloudWatch
                Effect: Allow
                Action: [cloudwatch:GetMetricData, "cloudwatch:*"]
                Resource: "*"
""",
            'Statement[1] (Sid AllOfCloudWatch): Action "cloudwatch:*" allows every action of the service',
        ),
        (
            """
              - Effect: Allow
                Action: !If [Wide, "s3:*", s3:GetObject]
                Resource: !Sub arn:${AWS::Partition}:s3:::bucket/*
""",
            'Statement[1]: Action "s3:*" allows every action of the service',
        ),
        (
            """
              - Sid: AllButIam
                Effect: Allow
                NotAction: iam:*
                Resource: "*"
""",
            "Statement[1] (Sid AllButIam): NotAction in an Allow statement",
        ),
    ],
)
def test_wildcard_actions_fail_naming_the_statement(tmp_path: Path, statement: str, expected: str) -> None:
    result = run(tmp_path, template(STATUS_ON_EVERYTHING + statement))
    assert result.returncode == 1, result.stdout + result.stderr
    findings = result.stdout.strip().splitlines()
    # Only the wide statement is named (`*` on `*` also covers the status call).
    assert all(".Statement[1]" in f for f in findings), findings
    assert any("Resources.HookRole.Properties.Policies[0].PolicyDocument." + expected in f for f in findings), findings


@pytest.mark.parametrize(
    "status_statement",
    [
        # A list beside another action, another case and a pattern covering it.
        """
              - Sid: ReportHookStatus
                Effect: Allow
                Action: [codedeploy:GetDeployment, CodeDeploy:PutLifecycleEvent*]
                Resource: "*"
""",
        """
              - Sid: ReportHookStatus
                Effect: Allow
                Action: codedeploy:PutLifecycleEventHookExecutionStatus
                NotResource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:other/other
""",
    ],
)
def test_a_status_call_not_granted_alone_fails(tmp_path: Path, status_statement: str) -> None:
    result = run(tmp_path, template(status_statement))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Statement[0] (Sid ReportHookStatus): codedeploy:PutLifecycleEventHookExecutionStatus" in result.stdout
    assert "grant it alone, by its exact name" in result.stdout


def test_the_status_call_alone_on_everything_passes(tmp_path: Path) -> None:
    result = run(tmp_path, template(STATUS_ON_EVERYTHING))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "action",
    [
        "codedeploy:PutLifecycleEventHookExecutionStatus",
        "codedeploy:ListDeploymentTargets",
        "codedeploy:BatchGetDeploymentTargets",
        "elasticloadbalancing:DescribeTargetGroups",
    ],
)
def test_an_action_without_resource_level_permission_on_a_narrow_resource_fails(tmp_path: Path, action: str) -> None:
    # These calls would be denied at run time: IAM matches them only on "*".
    scoped = f"""
              - Sid: Scoped
                Effect: Allow
                Action: {action}
                Resource: {GROUP_ARN}
"""
    result = run(tmp_path, template(scoped))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'Statement[0] (Sid Scoped): "{action}" has no resource-level permission' in result.stdout
    assert "cfn-lint " in result.stdout


def test_actions_with_resource_level_permission_may_be_scoped(tmp_path: Path) -> None:
    scoped = f"""
              - Sid: ReadTheGatedDeployment
                Effect: Allow
                Action: [codedeploy:GetDeployment]
                Resource: {GROUP_ARN}
              - Sid: Switches
                Effect: Allow
                Action: ssm:GetParameters
                Resource: !Sub arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/codedeploy-gates/*
"""
    result = run(tmp_path, template(STATUS_ON_EVERYTHING + scoped))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misspelt_action_fails(tmp_path: Path) -> None:
    typo = """
              - Sid: Typo
                Effect: Allow
                Action: codedeploy:GetDeployments
                Resource: "*"
"""
    result = run(tmp_path, template(typo))
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"codedeploy:GetDeployments" is not an action of codedeploy' in result.stdout


def test_deny_statements_and_scoped_wildcard_resources_pass(tmp_path: Path) -> None:
    text = template(
        STATUS_ON_EVERYTHING
        + """
              - Sid: NeverTouchIam
                Effect: Deny
                Action: "iam:*"
                Resource: "*"
"""
    )
    result = run(tmp_path, text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_policies_outside_roles_are_checked_too(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Policies:
                - Statement:
                    - Effect: Allow
                      Action: "*"
                      Resource: "*"
        """
    )
    result = run(tmp_path, text)
    assert result.returncode == 1
    assert 'Resources.Fn.Properties.Policies[0].Statement[0]: Action "*"' in result.stdout


def test_broad_managed_policies_fail(tmp_path: Path) -> None:
    basic = "      ManagedPolicyArns:\n        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\n"
    result = run(tmp_path, template(STATUS_ON_EVERYTHING, basic))
    assert result.returncode == 0, result.stdout + result.stderr
    for attached in ["!Sub arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess"]:
        extra = f"      ManagedPolicyArns:\n        - {attached}\n"
        result = run(tmp_path, template(STATUS_ON_EVERYTHING, extra))
        assert result.returncode == 1, attached
        assert "Resources.HookRole.Properties.ManagedPolicyArns: attaches" in result.stdout


def test_a_template_without_policies_or_unreadable_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n")
    assert result.returncode == 1
    assert "no IAM policy statement found" in result.stdout
    result = run(tmp_path, "Resources: [unclosed\n")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_the_project_template_is_parsed() -> None:
    """The real template loads with its short forms and its statements are found.

    Whether it passes is the CI step's business (`check-iam.py template.yaml`);
    here only that the checker sees every statement of it.
    """
    path = SCRIPT.parent.parent / "template.yaml"
    count, _ = check_iam.check(check_iam.load_template(path.read_text(encoding="utf-8")))
    assert count >= 5
