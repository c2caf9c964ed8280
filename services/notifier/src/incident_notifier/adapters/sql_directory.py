"""The directory of users in PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from incident_notifier.adapters.sql_engine import aware, guarded, insert_for
from incident_notifier.adapters.sql_schema import directory_users
from incident_notifier.domain.users import ADMIN_ROLE, DirectoryUser
from incident_notifier.service.ports import Audience

_u = directory_users.c


async def read_audience(conn: AsyncConnection, candidate_ids: Collection[int]) -> Audience:
    """``UserDirectory.audience`` on a connection of the caller's (and its transaction)."""
    wanted = _u.role == ADMIN_ROLE
    if candidate_ids:
        wanted = or_(wanted, and_(_u.id.in_(list(candidate_ids)), _u.is_active.is_(False)))
    query = select(_u.id, _u.role, _u.is_active).where(wanted).order_by(_u.id)
    rows = (await conn.execute(query)).all()
    admins = [row.id for row in rows if row.role == ADMIN_ROLE and row.is_active]
    inactive = {row.id for row in rows if row.id in candidate_ids and not row.is_active}
    return Audience(admins, inactive)


class SqlUserDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def apply(self, users: Sequence[DirectoryUser]) -> int:
        if not users:
            return 0
        rows = [
            {
                "id": user.id,
                "username": user.username,
                "full_name": user.full_name,
                "role": user.role,
                "is_active": user.is_active,
                "as_of": user.as_of,
            }
            for user in sorted(users, key=lambda user: user.id)
        ]
        statement = insert_for(self._engine, directory_users).values(rows)
        # An event older than what is stored (a late redelivery, an export read after it)
        # changes nothing.
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={name: statement.excluded[name] for name in rows[0] if name != "id"},
            where=_u.as_of <= statement.excluded.as_of,
        )

        async def run() -> int:
            async with self._engine.begin() as conn:
                return int((await conn.execute(statement)).rowcount)

        return await guarded(run)

    async def is_empty(self) -> bool:
        async def run() -> bool:
            async with self._engine.connect() as conn:
                return not (
                    await conn.execute(select(exists().select_from(directory_users)))
                ).scalar()

        return await guarded(run)

    async def audience(self, candidate_ids: Collection[int]) -> Audience:
        async def run() -> Audience:
            async with self._engine.connect() as conn:
                return await read_audience(conn, candidate_ids)

        return await guarded(run)

    async def get(self, user_id: int) -> DirectoryUser | None:
        query = select(directory_users).where(_u.id == user_id)

        async def run() -> DirectoryUser | None:
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
            if row is None:
                return None
            as_of = aware(row.as_of)
            assert as_of is not None
            return DirectoryUser(
                row.id, row.username, row.full_name, row.role, row.is_active, as_of
            )

        return await guarded(run)
