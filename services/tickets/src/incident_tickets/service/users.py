"""User use cases: creation and changes by an admin, the bootstrap admin, the export."""

from __future__ import annotations

import logging
import uuid

from incident_contracts.enums import Role
from incident_contracts.events import UserCreated, UserSnapshot, UserUpdated
from incident_tickets.domain.errors import UsernameTaken, UserNotFound, ValidationFailed
from incident_tickets.domain.users import Actor, User, require_role
from incident_tickets.service.active_users import ActiveUserCache
from incident_tickets.service.ports import Clock, PasswordHasher, UnitOfWorkFactory
from incident_tickets.service.views import user_snapshot

log = logging.getLogger(__name__)


class UserService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        clock: Clock,
        active_users: ActiveUserCache | None = None,
    ) -> None:
        """``active_users``: the authentication's cache, told of the changes made here."""
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._active_users = active_users or ActiveUserCache()  # never trusted: keeps nothing

    async def create(
        self, actor: Actor | None, *, username: str, password: str, full_name: str, role: Role
    ) -> User:
        """``actor`` None is the system itself (the bootstrap admin)."""
        if actor is not None:
            require_role(actor, Role.ADMIN, "create users")
        username = username.strip()
        if not username:
            raise ValidationFailed("The field 'username' must not be empty.")
        if not password:
            raise ValidationFailed("The field 'password' must not be empty.")
        password_hash = await self._hasher.hash(password)
        async with self._uow() as uow:
            if await uow.users.get_by_username(username) is not None:
                raise UsernameTaken(username)
            user = User(
                username=username,
                full_name=full_name.strip() or username,
                role=role,
                password_hash=password_hash,
                created_at=self._clock(),
            )
            await uow.users.add(user)
            uow.emit(
                UserCreated(
                    event_id=uuid.uuid4(),
                    occurred_at=self._clock(),
                    actor_id=actor.id if actor else None,
                    payload=user_snapshot(user),
                )
            )
            await uow.commit()
            return user

    async def update(
        self,
        actor: Actor,
        user_id: int,
        *,
        full_name: str | None = None,
        role: Role | None = None,
        is_active: bool | None = None,
    ) -> User:
        require_role(actor, Role.ADMIN, "change users")
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise UserNotFound(user_id)
            if full_name is not None:
                if not full_name.strip():
                    raise ValidationFailed("The field 'full_name' must not be empty.")
                user.full_name = full_name.strip()
            if role is not None:
                user.role = role
            if is_active is not None:
                user.is_active = is_active
            await uow.users.save(user)
            uow.emit(
                UserUpdated(
                    event_id=uuid.uuid4(),
                    occurred_at=self._clock(),
                    actor_id=actor.id,
                    payload=user_snapshot(user),
                )
            )
            await uow.commit()
        # At once, for this process (other processes hear of it from the database): the
        # user's next request, whichever connection it comes on, sees the change.
        self._active_users.forget(user_id)
        return user

    async def list_users(
        self, actor: Actor, *, role: Role | None, limit: int, offset: int
    ) -> list[User]:
        require_role(actor, Role.ADMIN, "list users")
        async with self._uow.reading() as uow:
            return await uow.users.newest(role=role, limit=limit, offset=offset)

    async def export(self, after_id: int, limit: int) -> tuple[list[UserSnapshot], bool]:
        """Users with an id above ``after_id`` ascending, and whether more follow."""
        async with self._uow.reading() as uow:
            users = await uow.users.list_after(after_id, limit + 1)
        return [user_snapshot(u) for u in users[:limit]], len(users) > limit

    async def ensure_admin(self, username: str, password: str, full_name: str) -> bool:
        """Create the bootstrap admin unless a user of that name exists; True when created."""
        async with self._uow.reading() as uow:
            if await uow.users.get_by_username(username) is not None:
                return False
        try:
            await self.create(
                None, username=username, password=password, full_name=full_name, role=Role.ADMIN
            )
        except UsernameTaken:
            return False  # another replica created it first
        log.info("created the bootstrap admin %r", username)
        return True
