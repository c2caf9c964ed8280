"""The dev mode's own settings (``DEVMODE_*``) and which real servers it was pointed at.

Everything else is configured exactly as in production, by each service's own ``Settings``
and environment variables. The shared ``AMQP_URL``, ``REDIS_URL`` and ``DATABASE_URL`` switch
a part from its in-process stand-in (or SQLite file) to the real server when they are set.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEVMODE_",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        env_ignore_empty=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("DEVMODE_PORT", "PORT"))
    data_dir: Path = Path("data")
    """SQLite files and the generated signing key (a folder that ``.gitignore`` lists)."""
    demo_data: bool = True
    """Create the demo project and users on first start."""
    public_url: str | None = None
    """The URL printed in the banner; default ``http://localhost:<port>``."""
    log_level: str = "INFO"
    instance_id: str = "devmode"
    """The embedded gateway's instance id (its presence member and delivery stream)."""

    amqp_url: str | None = Field(default=None, validation_alias=AliasChoices("AMQP_URL"))
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL"))

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else self.host
        return f"http://{host}:{self.port}"

    @staticmethod
    def database_configured() -> bool:
        """True when some database URL comes from the environment (not the SQLite files)."""
        names = ("DATABASE_URL", "TICKETS_DATABASE_URL", "NOTIFIER_DATABASE_URL")
        return any(os.environ.get(name) for name in names)
