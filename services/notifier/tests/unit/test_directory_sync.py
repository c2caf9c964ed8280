from incident_contracts import Role, UserSnapshot
from incident_notifier.service.directory_sync import fill_directory_if_empty
from incident_notifier.testing import InMemoryUserDirectory, InMemoryUsersSource


def users(count: int) -> list[UserSnapshot]:
    return [
        UserSnapshot(
            id=i,
            username=f"u{i}",
            full_name=f"User {i}",
            role=Role.ADMIN if i % 3 == 0 else Role.CLIENT,
            is_active=i != 6,
        )
        for i in range(1, count + 1)
    ]


async def test_an_empty_directory_is_filled_page_by_page() -> None:
    directory, source = InMemoryUserDirectory(), InMemoryUsersSource(users(7))
    assert await fill_directory_if_empty(directory, source, page_size=3) == 7
    assert source.calls == [(0, 3), (3, 3), (6, 3)]
    audience = await directory.audience([6])
    assert audience.admin_ids == [3]
    assert audience.inactive_ids == {6}


async def test_a_directory_with_users_is_left_alone() -> None:
    directory, source = InMemoryUserDirectory(), InMemoryUsersSource(users(2))
    await fill_directory_if_empty(directory, source)
    assert await fill_directory_if_empty(directory, InMemoryUsersSource(users(9))) is None
    assert sorted(directory.users) == [1, 2]
