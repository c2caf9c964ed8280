"""One WebSocket session's rules, sans I/O: frames and deliveries in, effects out.

The server feeds a :class:`Session` what happens (a client frame, a routed notification, a
page of stored records, the clock) and carries out the effects it returns (send a frame,
close, verify a token, fetch missed records). Nothing here awaits or touches a socket, so the
rules of API.md ("WebSocket") are tested without any.

Delivery order per connection: the session remembers the last ``seq`` it sent. A live
delivery at or below it is a repeat and is dropped; one further ahead than the next is a gap,
so the missing records are fetched first while later deliveries are held back. A ``since``
cursor starts the same way: fetch everything after it, hold live ones meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from incident_gateway.domain.auth import Identity

# Close codes (RFC 6455 and the 4000-4999 private range).
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_TOKEN_EXPIRED = 4401


@dataclass(slots=True)  # not frozen: one per delivered frame, and frozen makes __init__ 4x slower
class SendFrame:
    """Send one text frame (UTF-8 bytes, already encoded)."""

    frame: bytes
    seq: int | None = None
    """The notification's seq; None for protocol answers (pong, error)."""
    routed_at_ms: int | None = None
    """When the notifier routed it (live deliveries only), for the latency histogram."""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyRefresh:
    """Verify this access token, then call ``refresh_accepted`` or ``refresh_refused``."""

    token: str


@dataclass(frozen=True, slots=True)
class FetchMissing:
    """Fetch the user's stored records after ``after_seq``, then call ``replayed``."""

    after_seq: int
    delay: float = 0.0
    """Seconds to wait first (a gap that the store has not caught up with yet)."""


Effect = SendFrame | CloseConnection | VerifyRefresh | FetchMissing


@dataclass(frozen=True, slots=True)
class SessionLimits:
    frames_per_second: float = 20.0
    burst: float = 40.0
    """Frames a client may send at once before the per-second rate applies."""
    max_held: int = 1000
    """Live deliveries held back during a replay before the client is told to come back."""
    gap_retries: int = 5
    """Replays that find nothing new before a gap is given up as permanent."""
    gap_retry_delay: float = 0.2


def error_frame(code: str, detail: str) -> SendFrame:
    return SendFrame(_encode({"type": "error", "code": code, "detail": detail}))


def _encode(message: dict[str, Any]) -> bytes:
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate echoed from the client ("\\ud800")
        return json.dumps(message, separators=(",", ":")).encode()


@dataclass(slots=True)
class Session:
    """The state of one connection of one user."""

    identity: Identity
    limits: SessionLimits
    now: float
    last_seq: int | None = None
    fetching: bool = False
    closed: bool = False
    _held: dict[int, tuple[bytes, int | None]] = field(default_factory=dict)
    _stalls: int = 0
    _resyncing: bool = False
    _allowance: float = 0.0
    _allowance_at: float = 0.0

    def __post_init__(self) -> None:
        self._allowance = self.limits.burst
        self._allowance_at = self.now

    @property
    def user_id(self) -> int:
        return self.identity.user_id

    # --- opening -----------------------------------------------------------------------
    def start(self, since: int | None) -> list[Effect]:
        """Effects when the connection opens: a replay when the client gave ``since``."""
        if since is None:
            return []
        self.last_seq = since
        self.fetching = True
        return [FetchMissing(since)]

    # --- client frames -----------------------------------------------------------------
    def receive(self, data: str | bytes, now: float) -> list[Effect]:
        if self.closed:
            return []
        if not self._take_allowance(now):
            return self._close(CLOSE_POLICY_VIOLATION, "too many messages")
        try:
            message = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return [error_frame("invalid_json", "The message is not valid JSON.")]
        except RecursionError:  # "[[[[..." within the frame size limit
            return [error_frame("invalid_json", "The message is nested too deeply.")]
        if not isinstance(message, dict):
            return [error_frame("invalid_message", "The message must be a JSON object.")]
        kind = message.get("type")
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "timestamp" in message:
                pong["timestamp"] = message["timestamp"]
            return [SendFrame(_encode(pong))]
        if kind == "refresh":
            token = message.get("token")
            if not isinstance(token, str) or not token:
                return [error_frame("invalid_message", "A refresh needs a 'token' string.")]
            return [VerifyRefresh(token)]
        if not isinstance(kind, str):
            return [error_frame("invalid_message", "The message needs a 'type' string.")]
        return [error_frame("unknown_type", f"Unknown message type {kind[:40]!r}.")]

    def refresh_accepted(self, identity: Identity) -> list[Effect]:
        if self.closed:
            return []
        if identity.user_id != self.identity.user_id:
            return [error_frame("forbidden", "The new token belongs to another user.")]
        self.identity = Identity(
            user_id=identity.user_id,
            expires_at=max(identity.expires_at, self.identity.expires_at),
        )
        answer = {"type": "refreshed", "expires_at": int(self.identity.expires_at)}
        return [SendFrame(_encode(answer))]

    def refresh_refused(self, code: str, detail: str) -> list[Effect]:
        return [] if self.closed else [error_frame(code, detail)]

    # --- the clock ---------------------------------------------------------------------
    def tick(self, now: float) -> list[Effect]:
        if not self.closed and now >= self.identity.expires_at:
            return self._close(CLOSE_TOKEN_EXPIRED, "token expired")
        return []

    # --- notifications -----------------------------------------------------------------
    def deliver(self, seq: int, frame: bytes, routed_at_ms: int | None = None) -> list[Effect]:
        """A notification routed live to this user."""
        if self.closed:
            return []
        if self.fetching:
            return self._hold(seq, frame, routed_at_ms)
        if self.last_seq is None or seq == self.last_seq + 1:
            # Without ``since`` the first live delivery is the baseline.
            self.last_seq = seq
            return [SendFrame(frame, seq, routed_at_ms)]
        if seq <= self.last_seq:
            return []  # already sent (a replay overtook it, or a duplicate route)
        self.fetching = True
        self._stalls = 0
        return [*self._hold(seq, frame, routed_at_ms), FetchMissing(self.last_seq)]

    def replayed(self, records: Iterable[tuple[int, bytes]], has_more: bool) -> list[Effect]:
        """A page of stored records after the requested seq, ascending."""
        if self.closed:
            return []
        assert self.last_seq is not None, "a replay always starts from a known seq"
        self._resyncing = False
        effects: list[Effect] = []
        for seq, frame in records:
            if seq > self.last_seq:
                self.last_seq = seq
                effects.append(SendFrame(frame, seq))
        progressed = bool(effects)
        if has_more and progressed:
            return [*effects, FetchMissing(self.last_seq)]
        return effects + self._release_held(progressed)

    def resync(self) -> list[Effect]:
        """Routes may have been lost with no later one to reveal the gap (Redis was away):
        look in the store for anything after the last seq sent."""
        if self.closed or self.fetching or self.last_seq is None:
            return []
        self.fetching = True
        self._resyncing = True
        self._stalls = 0
        return [FetchMissing(self.last_seq)]

    def replay_failed(self) -> list[Effect]:
        """The stored records could not be read: the client must come back with ``since``."""
        if self.closed:
            return []
        if self._resyncing:
            # Only a precaution failed (nothing was known to be missing): carry on live.
            self._resyncing = False
            return self._release_held(progressed=False)
        return self._close(CLOSE_TRY_AGAIN_LATER, "missed notifications unavailable")

    # --- internals ---------------------------------------------------------------------
    def _hold(self, seq: int, frame: bytes, routed_at_ms: int | None) -> list[Effect]:
        if self.last_seq is not None and seq <= self.last_seq:
            return []
        self._held[seq] = (frame, routed_at_ms)
        if len(self._held) > self.limits.max_held:
            return self._close(CLOSE_TRY_AGAIN_LATER, "too far behind, resume with since")
        return []

    def _release_held(self, progressed: bool) -> list[Effect]:
        assert self.last_seq is not None
        effects: list[Effect] = []
        for seq in sorted(self._held):
            frame, routed_at_ms = self._held[seq]
            if seq <= self.last_seq:
                del self._held[seq]
            elif seq == self.last_seq + 1:
                del self._held[seq]
                self.last_seq = seq
                effects.append(SendFrame(frame, seq, routed_at_ms))
            else:
                break
        if not self._held:
            self.fetching = False
            self._stalls = 0
            return effects
        # A gap remains: the store may not show a record that was routed out of order yet.
        self._stalls = 0 if progressed or effects else self._stalls + 1
        if self._stalls <= self.limits.gap_retries:
            delay = self.limits.gap_retry_delay * self._stalls
            return [*effects, FetchMissing(self.last_seq, delay)]
        # The store never filled it: a record that does not exist cannot be waited for.
        self._stalls = 0
        self.fetching = False
        for seq in sorted(self._held):
            frame, routed_at_ms = self._held.pop(seq)
            self.last_seq = seq
            effects.append(SendFrame(frame, seq, routed_at_ms))
        return effects

    def _take_allowance(self, now: float) -> bool:
        elapsed = max(0.0, now - self._allowance_at)
        self._allowance_at = now
        self._allowance = min(
            self.limits.burst, self._allowance + elapsed * self.limits.frames_per_second
        )
        if self._allowance < 1.0:
            return False
        self._allowance -= 1.0
        return True

    def _close(self, code: int, reason: str) -> list[Effect]:
        self.closed = True
        self._held.clear()
        return [CloseConnection(code, reason)]
