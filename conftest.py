"""Fixtures shared by the tests of every member (pytest loads this file for the whole tree)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from harness.scratch_databases import ScratchDatabases


@pytest.fixture
async def scratch_postgres() -> AsyncIterator[ScratchDatabases]:
    """Databases made on demand (``create``) and dropped after the test."""
    databases = ScratchDatabases()
    try:
        yield databases
    finally:
        await databases.drop_all()
