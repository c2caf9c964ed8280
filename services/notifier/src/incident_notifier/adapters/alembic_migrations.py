"""Apply the Alembic migrations of ``services/notifier/migrations`` to a database."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def upgrade_to_head(database_url: str) -> None:
    """Synchronous. The migration environment runs its own event loop, so when called from
    inside a running loop (the dev mode, async tests) it runs in a thread of its own."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(config, "head")
        return
    with ThreadPoolExecutor(1, thread_name_prefix="migrations") as pool:
        pool.submit(command.upgrade, config, "head").result()
