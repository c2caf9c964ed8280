"""Offline checks of the deployment files: Kubernetes manifests, docker-compose, Dockerfiles
and the nginx gateway template. They need no cluster and no Docker engine; a check that needs
a tool this machine lacks (kubectl, nginx, docker-compose, hadolint) is skipped with a reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")

Manifest = dict[str, Any]


def kustomize(path: Path) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` cannot render the overlays")
    result = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every overlay, rendered once per test session."""
    return {name: kustomize(ROOT / "deploy" / "k8s" / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> Manifest:
    loaded: Manifest = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded
