"""The users that access tokens speak for, kept between requests while their changes are heard.

Every authenticated request needs its user, active, with the current role: a database read
per request, about a tenth of the API's CPU. A user changes rarely, and each change is
announced (in this process by the use case, from other processes by the database's change
notifications), so a user read once can serve the next requests until it changes.

The cache only answers while it is *trusted*, i.e. while change notifications are being
received; whenever they may have been missed (not listening yet, connection lost) it is
emptied and answers nothing. A read that raced with a change is not kept: every change bumps
a generation, and a user read before the bump is dropped instead of stored. ``max_age``
bounds what a notification lost without anyone noticing could cost.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from incident_tickets.domain.users import User


class ActiveUserCache:
    def __init__(
        self,
        *,
        capacity: int = 10_000,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users: OrderedDict[int, tuple[User, float]] = OrderedDict()
        self._capacity = capacity
        self._max_age = max_age
        self._clock = clock
        self._generation = 0
        self._trusted = False

    @property
    def generation(self) -> int:
        """Read before reading a user from the database; hand it to ``remember``."""
        return self._generation

    def get(self, user_id: int) -> User | None:
        entry = self._users.get(user_id)
        if entry is None:
            return None
        user, stored_at = entry
        if self._clock() - stored_at > self._max_age:
            del self._users[user_id]
            return None
        return user

    def remember(self, user: User, generation: int) -> None:
        """Keep an active user read from the database when ``generation`` was current."""
        if not self._trusted or generation != self._generation or not user.is_active:
            return
        assert user.id is not None, "a stored user has an id"
        self._users[user.id] = (user, self._clock())
        self._users.move_to_end(user.id)
        if len(self._users) > self._capacity:
            self._users.popitem(last=False)

    def forget(self, user_id: int) -> None:
        """The user changed (or may have): read it again next time."""
        self._generation += 1
        self._users.pop(user_id, None)

    def changed(self, payload: str) -> None:
        """A change notification: its payload is the user's id."""
        try:
            user_id = int(payload)
        except ValueError:
            self.forget_all()  # not ours to interpret: be safe
            return
        self.forget(user_id)

    def forget_all(self) -> None:
        self._generation += 1
        self._users.clear()

    def trust(self) -> None:
        """Change notifications are received from now on (the listener is listening)."""
        self.forget_all()  # what changed before was not heard
        self._trusted = True

    def distrust(self) -> None:
        """Changes may go unheard (the listener lost its connection)."""
        self._trusted = False
        self.forget_all()
