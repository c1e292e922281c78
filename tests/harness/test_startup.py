"""What the emulator does before it listens: every test and `./dev demo` waits
for it, so it imports only the moto services it serves itself and parses each
of botocore's data files once.

Each check runs in a fresh interpreter (this one has imported boto3 and moto's
test helpers already), builds the emulator's app as main() does, and reports
what that took: modules imported, data files parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HARNESS = os.path.dirname(os.path.abspath(__file__))

# Builds the app as emulator.main() does, counting botocore's data-file parses
# (JSONFileLoader.load_file: one call per file botocore reads from disk), then
# prints what was imported and parsed as JSON.
START_UP = """
import collections, json, sys
import botocore.loaders

parsed = collections.Counter()
load_file = botocore.loaders.JSONFileLoader.load_file

def counting(self, file_path):
    data = load_file(self, file_path)
    if data is not None:
        parsed[file_path] += 1
    return data

botocore.loaders.JSONFileLoader.load_file = counting

import emulator
emulator.HarnessApp(emulator.MotoDispatcher(emulator.create_backend_app))
print(json.dumps({"modules": sorted(sys.modules), "parsed": parsed}))
"""


def start_up() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", START_UP],
        cwd=HARNESS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


# The moto services the emulator's own code extends or reads (its extensions
# and control API), and what moto.ssm's models import in turn (ec2,
# secretsmanager). Any other moto service is imported by moto's dispatcher on
# the first call that names it.
SERVED_AT_START = {"appconfig", "cloudwatch", "codedeploy", "iam", "ssm", "ec2", "secretsmanager"}

# moto's own machinery, not services.
MOTO_MACHINERY = {"core", "moto_api", "moto_server", "utilities", "backends", "backend_index", "settings"}


def test_start_up_imports_only_the_moto_services_the_emulator_serves_itself() -> None:
    modules = start_up()["modules"]
    services = {name.split(".")[1] for name in modules if name.startswith("moto.")} - MOTO_MACHINERY
    assert services <= SERVED_AT_START, f"start-up imported moto's {sorted(services - SERVED_AT_START)}"
    # The services the dispatcher loads on demand, among them the ones the
    # tests use most: none of them before a call names it.
    for service in ("elbv2", "ecs", "sns", "lambda", "s3", "sts", "logs", "events"):
        assert f"moto.{service}" not in modules, f"moto.{service} was imported at start-up"


def test_start_up_parses_each_botocore_data_file_once() -> None:
    parsed = start_up()["parsed"]
    assert parsed, "start-up parsed no botocore data file: the counting hook missed them"
    again = {path: times for path, times in parsed.items() if times > 1}
    assert not again, f"parsed more than once at start-up: {again}"
