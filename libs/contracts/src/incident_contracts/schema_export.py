"""Write (or check) the committed JSON Schema of every message in ``libs/contracts/schemas``.

python -m incident_contracts.schema_export          # rewrite the files
python -m incident_contracts.schema_export --check  # exit 1 when a file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from incident_contracts.events import EVENT_MODELS, UsersPage
from incident_contracts.notifications import Notification, ReplayPage
from incident_contracts.tokens import TokenClaims

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def message_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {
        f"event.{event_type.value}": model for event_type, model in EVENT_MODELS.items()
    }
    models["notification"] = Notification
    models["replay_page"] = ReplayPage
    models["token_claims"] = TokenClaims
    models["users_page"] = UsersPage
    return models


def render_schemas() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in message_models().items()
    }


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    expected = render_schemas()
    present = {path.name for path in directory.glob("*.json")}
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    return sorted(stale + sorted(present - expected.keys()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(f"stale JSON Schemas: {', '.join(stale)}; run `make schemas`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for name, text in render_schemas().items():
        (SCHEMA_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
