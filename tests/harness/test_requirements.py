"""The tools pinned twice stay at one version.

cargo-lambda is pinned in tests/harness/requirements.txt (./dev installs it
into .venv for `cargo lambda watch`) and in .ci/requirements.txt (CI's
`sam build` runs it): a user trying a hook by hand and CI building it use the
same cargo-lambda.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by lower-case name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[name.split("[", 1)[0].strip().lower()] = version.strip()
    return found


def test_cargo_lambda_is_pinned_once_for_both() -> None:
    harness = pins(ROOT / "tests/harness/requirements.txt")
    ci = pins(ROOT / ".ci/requirements.txt")
    assert "cargo-lambda" in harness, "tests/harness/requirements.txt must pin cargo-lambda (./dev installs it)"
    assert harness["cargo-lambda"] == ci["cargo-lambda"], (
        f"cargo-lambda {harness['cargo-lambda']} for ./dev but {ci['cargo-lambda']} for CI's sam build"
    )


def test_every_package_is_pinned() -> None:
    for path in (ROOT / "tests/harness/requirements.txt", ROOT / ".ci/requirements.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            assert not line or "==" in line, f"{path.name}: {line!r} is not pinned"
