import pytest

from incident_notifier.config import SQLITE_DEFAULT, Settings, async_database_url


def test_database_urls_get_the_async_driver() -> None:
    assert async_database_url("postgresql://u@h:5432/db") == "postgresql+asyncpg://u@h:5432/db"
    assert async_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert async_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_database_url(None) == SQLITE_DEFAULT


def test_the_notifiers_own_database_url_wins_over_the_shared_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
    assert Settings().database_url == "postgresql+asyncpg://shared/db"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "postgresql://own/db")
    assert Settings().database_url == "postgresql+asyncpg://own/db"


def test_shared_and_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "NOTIFIER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INCIDENT_NAMESPACE", "t1")
    monkeypatch.setenv("TICKETS_URL", "http://tickets:8001/")
    monkeypatch.setenv("NOTIFIER_PORT", "9000")
    monkeypatch.setenv("NOTIFIER_PREFETCH", "7")
    settings = Settings()
    assert settings.names.notifier_queue == "t1.notifier.events"
    assert settings.jwks_url == "http://tickets:8001/.well-known/jwks.json"
    assert (settings.port, settings.prefetch) == (9000, 7)
    assert settings.database_url == SQLITE_DEFAULT
    assert str(settings.sqlite_directory()) == "data"
