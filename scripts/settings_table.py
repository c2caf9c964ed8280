"""Print the README's configuration tables from the services' own ``Settings`` classes.

    python scripts/settings_table.py            # print the Markdown
    python scripts/settings_table.py --check    # exit 1 when README.md's tables are stale

The tables sit in README.md between the ``settings-table`` markers, so the README can never
list a variable that the code does not read, nor miss one that it does.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import sys
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from incident_devmode.config import Settings as DevmodeSettings
from incident_gateway.config import Settings as GatewaySettings
from incident_notifier.config import Settings as NotifierSettings
from incident_tickets.config import Settings as TicketsSettings

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings-table:begin (scripts/settings_table.py writes this) -->"
END = "<!-- settings-table:end -->"
SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("tickets", TicketsSettings),
    ("notifier", NotifierSettings),
    ("ws-gateway", GatewaySettings),
    ("dev mode (`make run`)", DevmodeSettings),
]


SHARED: dict[str, str] = {
    "DATABASE_URL": "PostgreSQL server URL (`postgresql://user@host:5432/db`) used by a service "
    "whose own `*_DATABASE_URL` is unset; unset: SQLite files under `./data`. Give each service "
    "its own database.",
    "AMQP_URL": "RabbitMQ. In the dev mode, setting it replaces the in-process broker.",
    "REDIS_URL": "Redis (presence and delivery streams). In the dev mode, setting it replaces "
    "the in-process routing.",
    "INCIDENT_NAMESPACE": "Prefix of every exchange, queue and Redis key, so deployments and "
    "test runs never see each other's messages.",
    "TICKETS_URL": "Where the notifier and gateways reach the tickets service (JWKS, users "
    "export).",
    "NOTIFIER_URL": "Where the gateways reach the notifier's internal replay endpoint.",
    "JWT_ISSUER": "`iss` of issued tokens, checked by every verifier.",
    "JWT_AUDIENCE": "`aud` of issued tokens, checked by every verifier.",
    "BOOTSTRAP_ADMIN_USERNAME": "An ADMIN created at start when no user of that name exists.",
    "BOOTSTRAP_ADMIN_PASSWORD": "That admin's password.",
}
SHARED_DEFAULTS: dict[str, str] = {"DATABASE_URL": "unset"}
GENERIC: dict[str, str] = {
    "host": "Interface the HTTP server listens on (`0.0.0.0` in containers).",
    "port": "Port the HTTP server listens on.",
    "log_level": "Log level (`DEBUG`, `INFO`, `WARNING`, ...).",
    "migrate_on_start": "Apply the Alembic migrations at start (`migrate` does it alone).",
    "db_pool_size": "Database connections kept open for requests, and the most they use.",
}


def attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal right under each field, which is where these classes explain it."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def variable_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "generated"
    value = field.get_default()
    if value is None:
        return "unset"
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return f"`{text}`" if text != "" else "empty"


def render() -> str:
    shared: dict[str, str] = {}
    sections: list[str] = []
    for title, cls in SERVICES:
        docs = attribute_docstrings(cls)
        rows: list[str] = []
        for name, field in cls.model_fields.items():
            names = variable_names(cls, name, field)
            common = [env for env in names if env in SHARED]
            if common:
                # A shared variable: documented once; an own override is named beside it.
                own = [env for env in names if env not in SHARED]
                if own:
                    rows.append(
                        f"| `{own[0]}` | `{common[0]}` | overrides `{common[0]}` for {title} |"
                    )
                shared.setdefault(common[0], SHARED_DEFAULTS.get(common[0], default_text(field)))
                continue
            meaning = field.description or docs.get(name) or GENERIC.get(name, "")
            rows.append(f"| `{names[0]}` | {default_text(field)} | {meaning} |")
        sections += [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        sections += [*rows, ""]
    lines = ["**shared by every service**", "", "| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{env}` | {shared[env]} | {SHARED[env]} |" for env in SHARED if env in shared]
    return "\n".join([*lines, "", *sections]).rstrip() + "\n"


def current_block(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when README.md is stale")
    parser.add_argument("--write", action="store_true", help="rewrite README.md's tables")
    args = parser.parse_args(argv)
    table = render()
    text = README.read_text()
    if args.check:
        if current_block(text) != table:
            print("README.md's settings tables are stale: run `make readme`", file=sys.stderr)
            return 1
        return 0
    if args.write:
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        README.write_text(text[:start] + "\n" + table + text[end:])
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
