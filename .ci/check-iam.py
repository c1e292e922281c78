#!/usr/bin/env python3
"""Checks the IAM policies of a CloudFormation/SAM template for grants too wide.

    .venv/bin/python .ci/check-iam.py [TEMPLATE ...]     (default: template.yaml)

Every policy document in the template is checked, wherever it sits (a role's
inline `Policies`, `AssumeRolePolicyDocument`, an `AWS::IAM::Policy`, a SAM
function's inline `Policies`): any mapping with a `Statement` key whose
statements have an `Action` or `NotAction` is a policy document. An `Allow`
statement fails the check when

- an action is `*` or `service:*` (a whole service);
- it uses `NotAction` (allow everything except: a wildcard in disguise);
- it grants `codedeploy:PutLifecycleEventHookExecutionStatus` other than alone
  and by its exact name (beside other actions, through a pattern, or with
  `NotResource`): IAM has no resource-level permission for the status call, so
  its statement must be on `Resource: "*"`, and must then grant nothing else;

- it scopes an action to a `Resource` other than `"*"` when IAM has no
  resource-level permission for that action (the Service Authorization
  Reference lists no resource type for it): such a statement never matches, so
  the call is denied at run time. The reference is the copy cfn-lint ships
  (`cfnlint/data/AdditionalSpecs/Policies.json`, cfn-lint is pinned in the
  project's .venv); an action it does not know is reported too (a typo grants
  nothing);

and a role or SAM function fails when it attaches the AWS managed policies
`AdministratorAccess` or `PowerUserAccess`, which are `*` actions by another
name. `Deny` statements are not checked: denying everything grants nothing.

CloudFormation's short-form tags (`!Sub`, `!GetAtt`, `!If`, ...) are read as
their long forms (`Fn::Sub`, ...). Both branches of an `Fn::If` are checked,
since either can be deployed. Prints one line per finding, naming the template,
the statement's path and its `Sid`; exits 1 if there is any finding, 2 if a
template cannot be read, 0 otherwise. Needs PyYAML (in the project's .venv).
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

try:
    import importlib.metadata
    import importlib.resources

    _REFERENCE = importlib.resources.files("cfnlint") / "data" / "AdditionalSpecs" / "Policies.json"
    REFERENCE_SOURCE = f"cfn-lint {importlib.metadata.version('cfn-lint')}"
except ModuleNotFoundError:  # pragma: no cover - cfn-lint is in the project's .venv
    _REFERENCE = None
    REFERENCE_SOURCE = "no reference"

STATUS_ACTION = "codedeploy:PutLifecycleEventHookExecutionStatus"
WHOLE_SERVICE = re.compile(r"^[A-Za-z0-9-]+:\*$")
BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess")


class TemplateLoader(yaml.SafeLoader):
    """A safe loader that reads CloudFormation's `!Tag` short forms."""


def _short_form(loader: TemplateLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Resource.Attribute` is the long form's two-element list.
        value = value.split(".", 1)
    # !Condition is a condition reference, not an intrinsic function.
    return {"Condition" if tag_suffix == "Condition" else f"Fn::{tag_suffix}": value}


TemplateLoader.add_multi_constructor("!", _short_form)


def load_template(text: str) -> Any:
    return yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def literals(value: Any) -> Iterator[str]:
    """The plain strings a policy value can take once deployed.

    Lists are flattened, both branches of `Fn::If` are followed and
    `Fn::Sub` of text without `${...}` is that text. Any other intrinsic
    (`Ref`, `Fn::GetAtt`, `Fn::Join`, a `Fn::Sub` with references) yields
    nothing: it names something specific, not a wildcard.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from literals(item)
    elif isinstance(value, dict) and len(value) == 1:
        (name, argument), = value.items()
        if name == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
            yield from literals(argument[1])
            yield from literals(argument[2])
        elif name == "Fn::Sub":
            text = argument[0] if isinstance(argument, list) and argument else argument
            if isinstance(text, str) and "${" not in text:
                yield text


def statements_of(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement under `node`, with its path in the template."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if statements is not None:
            listed = statements if isinstance(statements, list) else [statements]
            for i, statement in enumerate(listed):
                if isinstance(statement, dict) and ("Action" in statement or "NotAction" in statement):
                    yield f"{path}.Statement[{i}]", statement
        for key, child in node.items():
            if key != "Statement":
                yield from statements_of(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from statements_of(child, f"{path}[{i}]")


_ACTIONS: dict[str, dict[str, dict[str, Any]]] | None = None


def action_reference() -> dict[str, dict[str, dict[str, Any]]]:
    """service prefix -> lowercased action -> its entry (`Resources` when the
    action has resource-level permissions), from cfn-lint's copy of the
    Service Authorization Reference."""
    global _ACTIONS
    if _ACTIONS is None:
        if _REFERENCE is None:
            raise SystemExit("check-iam: cfn-lint is not installed; run from the project's .venv")
        services = json.loads(_REFERENCE.read_text(encoding="utf-8"))
        _ACTIONS = {
            prefix: {name.lower(): entry for name, entry in service.get("Actions", {}).items()}
            for prefix, service in services.items()
        }
    return _ACTIONS


def resource_is_everything(statement: dict[str, Any]) -> bool:
    resource = statement.get("Resource")
    listed = resource if isinstance(resource, list) else [resource]
    return all(item == "*" for item in listed)


def unscopable_action_problems(actions: list[str], statement: dict[str, Any]) -> list[str]:
    """Actions IAM cannot scope, on a Resource narrower than "*" (denied at
    run time), and actions the reference does not know."""
    problems = []
    reference = action_reference()
    for action in actions:
        if "*" in action or "?" in action or ":" not in action:
            continue
        prefix, name = action.split(":", 1)
        known = reference.get(prefix.lower())
        if known is None:
            continue
        entry = known.get(name.lower())
        if entry is None:
            problems.append(f'"{action}" is not an action of {prefix} in the Service Authorization Reference ({REFERENCE_SOURCE}); a misspelt action grants nothing')
        elif not entry.get("Resources") and "Resource" in statement and not resource_is_everything(statement):
            problems.append(f'"{action}" has no resource-level permission (Service Authorization Reference, {REFERENCE_SOURCE}): on a Resource other than "*" the call is denied; grant it on "*"')
    return problems


def statement_problems(statement: dict[str, Any]) -> list[str]:
    """What is too wide in one statement (empty when nothing is)."""
    effects = set(literals(statement.get("Effect", "Allow"))) or {"Allow"}
    if effects == {"Deny"}:
        return []
    problems = []
    actions = list(literals(statement.get("Action", [])))
    for action in actions:
        if action == "*":
            problems.append('Action "*" allows every action of every service')
        elif WHOLE_SERVICE.match(action):
            problems.append(f'Action "{action}" allows every action of the service; list the actions the code calls')
    if "NotAction" in statement:
        problems.append("NotAction in an Allow statement allows every action it does not name; list the actions instead")
    # IAM has no resource type for the status call (the Service Authorization
    # Reference lists none): a Resource narrower than "*" would deny every
    # report. What can be kept narrow is the statement: the status call alone,
    # named exactly, with no pattern that grants more.
    grants_status = any(fnmatch.fnmatchcase(STATUS_ACTION.lower(), a.lower()) for a in actions)
    if grants_status:
        if "NotResource" in statement:
            problems.append(f"{STATUS_ACTION} with NotResource; grant it alone, by its exact name")
        elif [a.lower() for a in actions] != [STATUS_ACTION.lower()]:
            problems.append(f"{STATUS_ACTION} shares its statement with {', '.join(a for a in actions if a.lower() != STATUS_ACTION.lower()) or 'a pattern'}; grant it alone, by its exact name (it has no resource-level permission, so its statement is on \"*\")")
    problems.extend(unscopable_action_problems(actions, statement))
    return problems


def texts(value: Any) -> Iterator[str]:
    """Like `literals`, but a `Fn::Sub` yields its text even with references
    (`arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess` names the
    policy whatever the partition)."""
    if isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        argument = value["Fn::Sub"]
        text = argument[0] if isinstance(argument, list) and argument else argument
        if isinstance(text, str):
            yield text
    else:
        yield from literals(value)


def managed_policy_problems(template: Any) -> Iterator[tuple[str, str]]:
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return
    for name, resource in resources.items():
        properties = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            continue
        for field in ("ManagedPolicyArns", "Policies"):
            for attached in texts(properties.get(field, [])):
                if attached.rsplit("/", 1)[-1] in BROAD_MANAGED_POLICIES:
                    yield f"Resources.{name}.Properties.{field}", f'attaches "{attached}", which allows (nearly) every action'


def check(template: Any) -> tuple[int, list[str]]:
    """(statements checked, findings) for a loaded template."""
    findings = []
    count = 0
    for path, statement in statements_of(template, ""):
        count += 1
        sid = statement.get("Sid")
        named = f"{path} (Sid {sid})" if sid else path
        findings.extend(f"{named}: {problem}" for problem in statement_problems(statement))
    findings.extend(f"{path}: {problem}" for path, problem in managed_policy_problems(template))
    return count, findings


def main(argv: list[str]) -> int:
    paths = argv or [str(Path(__file__).resolve().parent.parent / "template.yaml")]
    failed = False
    for name in paths:
        try:
            template = load_template(Path(name).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            print(f"check-iam: cannot read {name}: {error}", file=sys.stderr)
            return 2
        count, findings = check(template)
        for finding in findings:
            print(f"{name}: {finding}")
        if count == 0:
            print(f"{name}: no IAM policy statement found; is this the stack template?")
            failed = True
        elif findings:
            failed = True
        else:
            print(f"{name}: {count} IAM policy statements checked, none too wide")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
