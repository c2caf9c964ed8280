"""UTC timestamps: always timezone-aware, serialized as ISO 8601 with a ``Z`` suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A datetime that must carry a zone and is normalised to UTC (pydantic writes it with ``Z``)."""


def utc_now() -> datetime:
    return datetime.now(UTC)
