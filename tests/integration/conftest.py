from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness.infra import Infra, provide_infra


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    try:
        with provide_infra() as servers:
            yield servers
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
