"""The JS client's own unit tests (``clients/js/test``), run with Node's test runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"


def test_the_js_client_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed; the JS client's tests need it", pytrace=False)
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, "--test", "test/"],
        cwd=JS_CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
