"""Stream entries into deliveries, and the local routing table."""

from __future__ import annotations

from incident_gateway.service.routing import (
    LocalRoutes,
    RoutedDelivery,
    parse_entry,
    presence_expiry_ms,
)


def test_an_entry_is_parsed_with_its_frame_untouched() -> None:
    fields = [b"u", b"7", b"s", b"42", b"n", b'{"seq":42}', b"t", b"1700000000000"]
    assert parse_entry(fields) == RoutedDelivery(7, 42, b'{"seq":42}', 1700000000000)


def test_fields_are_found_in_any_order() -> None:
    fields = [b"t", b"1700000000000", b"n", b"{}", b"s", b"42", b"u", b"7", b"x", b"?"]
    assert parse_entry(fields) == RoutedDelivery(7, 42, b"{}", 1700000000000)


def test_routed_at_is_optional() -> None:
    fields = [b"u", b"7", b"s", b"1", b"n", b"{}"]
    assert parse_entry(fields) == RoutedDelivery(7, 1, b"{}", None)
    assert parse_entry([*fields, b"t", b"soon"]) == RoutedDelivery(7, 1, b"{}", None)


def test_a_malformed_entry_is_none() -> None:
    assert parse_entry([b"u", b"7", b"n", b"{}"]) is None
    assert parse_entry([b"u", b"x", b"s", b"1", b"n", b"{}"]) is None
    assert parse_entry([b"u", b"7", b"s", b"1", b"n"]) is None  # a name without its value


def test_presence_expiry() -> None:
    assert presence_expiry_ms(1_000, 30_000) == 31_000


def test_routes_tell_first_and_last_connection_of_a_user() -> None:
    routes: LocalRoutes[str] = LocalRoutes()
    assert routes.add(1, "phone") is True
    assert routes.add(1, "laptop") is False
    assert routes.add(2, "tablet") is True
    assert sorted(routes.connections_of(1)) == ["laptop", "phone"]
    assert routes.connections_of(3) == ()
    assert len(routes) == 3
    assert routes.remove(1, "phone") is False
    assert routes.remove(1, "phone") is False  # twice is harmless
    assert routes.remove(1, "laptop") is True
    assert routes.has(1) is False
    assert routes.users() == [2]
    assert list(routes) == ["tablet"]
