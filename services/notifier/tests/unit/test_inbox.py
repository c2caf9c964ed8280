"""Inbox use cases: cursor pagination, unread filter, read state, replay, inactive users."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from incident_contracts import Role
from incident_notifier.domain.content import NotificationContent
from incident_notifier.domain.errors import AccountInactive, InvalidCursor, NotificationNotFound
from incident_notifier.domain.tickets import ChangeKind
from incident_notifier.domain.users import DirectoryUser
from incident_notifier.service.inbox import Inbox, decode_cursor, encode_cursor
from incident_notifier.testing import InMemoryNotificationStore, InMemoryUserDirectory

NOW = datetime(2025, 12, 23, 10, 0, tzinfo=UTC)
CONTENT = NotificationContent(ChangeKind.TICKET_OPENED, "m", {"id": 1}, NOW)


@pytest.fixture
async def store() -> InMemoryNotificationStore:
    store = InMemoryNotificationStore()
    for _ in range(5):
        await store.record(uuid.uuid4(), "ticket.opened", [7, 8], CONTENT)
    return store


@pytest.fixture
def inbox(store: InMemoryNotificationStore) -> Inbox:
    directory = InMemoryUserDirectory(
        [DirectoryUser(9, "gone", "Gone", Role.CLIENT.value, False, NOW - timedelta(days=1))]
    )
    return Inbox(store, directory, clock=lambda: NOW)


async def test_pages_run_newest_first_and_end_with_a_null_cursor(inbox: Inbox) -> None:
    first = await inbox.listing(7, cursor=None, unread_only=False, limit=2)
    assert [r.seq for r in first.results] == [5, 4]
    assert first.next_cursor is not None
    second = await inbox.listing(7, cursor=first.next_cursor, unread_only=False, limit=2)
    assert [r.seq for r in second.results] == [3, 2]
    third = await inbox.listing(7, cursor=second.next_cursor, unread_only=False, limit=2)
    assert [r.seq for r in third.results] == [1]
    assert third.next_cursor is None


async def test_unread_only_and_read_state(inbox: Inbox, store: InMemoryNotificationStore) -> None:
    newest = store.of(7)[-1]
    await inbox.mark_read(7, str(newest.id))
    assert await inbox.unread_count(7) == 4
    page = await inbox.listing(7, cursor=None, unread_only=True, limit=50)
    assert [r.seq for r in page.results] == [4, 3, 2, 1]
    read = store.of(7)[-1]
    assert (read.is_read, read.read_at) == (True, NOW)
    assert await inbox.mark_all_read(7) == 4
    assert await inbox.mark_all_read(7) == 0
    assert await inbox.unread_count(7) == 0
    assert await inbox.unread_count(8) == 5


async def test_marking_someone_elses_or_an_unknown_or_a_malformed_id_is_not_found(
    inbox: Inbox, store: InMemoryNotificationStore
) -> None:
    theirs = store.of(8)[0]
    for notification_id in (str(theirs.id), str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(NotificationNotFound):
            await inbox.mark_read(7, notification_id)
    assert await inbox.unread_count(8) == 5


async def test_replay_is_ascending_after_the_given_seq(inbox: Inbox) -> None:
    records, has_more = await inbox.replay(7, after_seq=1, limit=2)
    assert ([r.seq for r in records], has_more) == ([2, 3], True)
    records, has_more = await inbox.replay(7, after_seq=3, limit=10)
    assert ([r.seq for r in records], has_more) == ([4, 5], False)


async def test_limits_are_clamped(inbox: Inbox) -> None:
    page = await inbox.listing(7, cursor=None, unread_only=False, limit=10_000)
    assert len(page.results) == 5


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    for garbage in ("", "abc", encode_cursor(1) + "!!", "c2VxOi0x"):
        with pytest.raises(InvalidCursor):
            decode_cursor(garbage)


async def test_inactive_users_are_refused(inbox: Inbox) -> None:
    with pytest.raises(AccountInactive):
        await inbox.ensure_active(9)
    await inbox.ensure_active(7)  # unknown to the directory: the token decides
