"""Login, refresh-token rotation with reuse detection, and who is calling."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from incident_tickets.domain.errors import (
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TooManyAttempts,
)
from incident_tickets.domain.login_throttle import LoginThrottle
from incident_tickets.domain.users import User
from incident_tickets.service.active_users import ActiveUserCache
from incident_tickets.service.ports import (
    Clock,
    PasswordHasher,
    RefreshTokenRecord,
    TokenIssuer,
    TokenReader,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str
    user: User


class AuthService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        reader: TokenReader,
        clock: Clock,
        throttle: LoginThrottle | None = None,
        active_users: ActiveUserCache | None = None,
    ) -> None:
        """``active_users``: where authenticated users are kept between requests (None:
        read on every request)."""
        self._uow = uow
        self._active_users = active_users or ActiveUserCache()  # never trusted: keeps nothing
        self._throttle = throttle or LoginThrottle(0, 0, 1.0)
        self._hasher = hasher
        self._issuer = issuer
        self._reader = reader
        self._clock = clock
        self._dummy_hash: str | None = None

    async def login(self, username: str, password: str, address: str | None = None) -> TokenPair:
        """``address``: the client's, for the per-address limit of failed attempts."""
        now = self._clock().timestamp()
        wait = self._throttle.retry_after(username.strip(), address, now)
        if wait is not None:
            raise TooManyAttempts(wait)
        try:
            pair = await self._check(username, password)
        except InvalidCredentials:
            self._throttle.failed(username.strip(), address, now)
            raise
        self._throttle.succeeded(username.strip())
        return pair

    async def _check(self, username: str, password: str) -> TokenPair:
        async with self._uow.reading() as uow:
            user = await uow.users.get_by_username(username.strip())
        if user is None:
            # Spend the same time as a real check, so response times do not reveal names.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hasher.hash(secrets.token_hex(8))
            await self._hasher.verify(self._dummy_hash, password)
            raise InvalidCredentials("The username or password is incorrect.")
        if not await self._hasher.verify(user.password_hash, password) or not user.is_active:
            raise InvalidCredentials("The username or password is incorrect.")
        return await self._issue(user, family=secrets.token_hex(16))

    async def refresh(self, token: str) -> TokenPair:
        try:
            claims = await self._reader.read(token, refresh=True)
        except TokenExpired as error:
            # API.md: the refresh endpoint answers invalid_token for every unusable token.
            raise InvalidToken("The refresh token has expired.") from error
        now = self._clock()
        async with self._uow() as uow:
            record = await uow.refresh_tokens.get(claims.jti, for_update=True)
            if record is None or record.revoked_at is not None:
                raise InvalidToken("The refresh token has been revoked.")
            if record.used_at is not None:
                # A rotated token came back: someone holds a stolen copy. End the family.
                await uow.refresh_tokens.revoke_family(record.family, now)
                await uow.commit()
                log.warning("refresh token reuse: revoked family of user %s", record.user_id)
                raise InvalidToken("The refresh token was already used; its family is revoked.")
            user = await uow.users.get(record.user_id)
            if user is None or not user.is_active:
                raise InvalidToken("The user of this token is not active.")
            await uow.refresh_tokens.mark_used(record.jti, now)
            pair, new_record = self._pair(user, record.family)
            await uow.refresh_tokens.add(new_record)
            await uow.commit()
            return pair

    async def authenticate(self, token: str) -> User:
        """The active user an access token speaks for; a deactivated user's tokens are refused."""
        claims = await self._reader.read(token, refresh=False)
        user = self._active_users.get(claims.user_id)
        if user is not None:
            return user
        generation = self._active_users.generation
        async with self._uow.reading() as uow:
            user = await uow.users.get(claims.user_id)
        if user is None or not user.is_active:
            raise InvalidToken("The user of this token is not active.")
        self._active_users.remember(user, generation)
        return user

    async def _issue(self, user: User, family: str) -> TokenPair:
        pair, record = self._pair(user, family)
        async with self._uow() as uow:
            await uow.refresh_tokens.add(record)
            await uow.commit()
        return pair

    def _pair(self, user: User, family: str) -> tuple[TokenPair, RefreshTokenRecord]:
        """New tokens, and the record that lets the refresh token be rotated once."""
        assert user.id is not None, "a stored user has an id"
        refresh = self._issuer.refresh_token(user, family)
        access = self._issuer.access_token(user)
        record = RefreshTokenRecord(
            jti=refresh.claims.jti,
            family=family,
            user_id=user.id,
            issued_at=datetime.fromtimestamp(refresh.claims.iat, UTC),
            expires_at=datetime.fromtimestamp(refresh.claims.exp, UTC),
        )
        return TokenPair(access=access.token, refresh=refresh.token, user=user), record
