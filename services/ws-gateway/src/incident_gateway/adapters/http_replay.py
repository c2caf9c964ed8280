"""The notifier's internal replay endpoint: a user's stored records after a seq."""

from __future__ import annotations

import httpx
import orjson
from pydantic import ValidationError

from incident_contracts.names import REPLAY_PATH
from incident_contracts.notifications import Notification
from incident_gateway.domain.errors import ReplayUnavailable
from incident_gateway.service.ports import ReplayBatch


class HttpReplaySource:
    def __init__(self, client: httpx.AsyncClient, notifier_url: str, timeout: float = 5.0) -> None:
        self._client = client
        self._base = notifier_url.rstrip("/")
        self._timeout = timeout

    async def after(self, user_id: int, after_seq: int, limit: int) -> ReplayBatch:
        url = self._base + REPLAY_PATH.format(user_id=user_id)
        try:
            response = await self._client.get(
                url, params={"after_seq": after_seq, "limit": limit}, timeout=self._timeout
            )
            response.raise_for_status()
            page = orjson.loads(response.content)
            items = page["results"]
            has_more = bool(page.get("has_more", False))
            records: list[tuple[int, bytes]] = []
            for item in items:
                # Validate against the contract, but send the notifier's object as it is:
                # the live frames are the notifier's encoding too.
                Notification.model_validate(item)
                records.append((int(item["seq"]), orjson.dumps(item)))
        except httpx.HTTPError as error:
            raise ReplayUnavailable(f"The notifier did not answer: {error}") from error
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ValidationError) as error:
            detail = f"The notifier's answer is not a replay page: {error}"
            raise ReplayUnavailable(detail) from error
        records.sort()
        return ReplayBatch(records=records, has_more=has_more)
