"""Every variable the deployment files set is one its service reads: a misspelt name would be
ignored silently (the settings ignore unknown variables) and the default would win."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from incident_gateway.config import Settings as GatewaySettings
from incident_notifier.config import Settings as NotifierSettings
from incident_tickets.config import Settings as TicketsSettings

Manifest = dict[str, Any]
SETTINGS: dict[str, type[BaseSettings]] = {
    "tickets": TicketsSettings,
    "notifier": NotifierSettings,
    "ws-gateway": GatewaySettings,
}
COMPOSE_SERVICE = {
    "tickets": "tickets",
    "tickets-migrate": "tickets",
    "notifier": "notifier",
    "notifier-consumer": "notifier",
    "notifier-migrate": "notifier",
    "ws-gateway-1": "ws-gateway",
    "ws-gateway-2": "ws-gateway",
}
# Where each service finds the others: every service is given both, whoever reads them.
SHARED = {"TICKETS_URL", "NOTIFIER_URL"}
K8S_IMAGE = {
    "incident-tickets": "tickets",
    "incident-notifier": "notifier",
    "incident-ws-gateway": "ws-gateway",
}


def variables(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a pydantic-settings class reads (case-insensitive)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, info in settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}")
        if alias is not None and settings.model_config.get("validate_by_name"):
            names.add(f"{prefix}{name}")
    return {name.upper() for name in names}


def unknown(service: str, names: set[str]) -> set[str]:
    return {name for name in names if name.upper() not in variables(SETTINGS[service])}


def test_settings_reader_sees_the_known_variables() -> None:
    assert {"TICKETS_DATABASE_URL", "TICKETS_JWT_PRIVATE_KEY_FILE"} <= variables(TicketsSettings)
    assert {"NOTIFIER_CONSUMER_PORT", "REDIS_URL"} <= variables(NotifierSettings)
    assert {"GATEWAY_INSTANCE_ID", "NOTIFIER_URL"} <= variables(GatewaySettings)
    assert "TICKETS_SIGNING_KEY_FILE" not in variables(TicketsSettings)


def test_compose_sets_only_variables_its_services_read(compose: Manifest) -> None:
    everyone = set().union(*(variables(s) for s in SETTINGS.values()))
    problems = {}
    for name, service in compose["services"].items():
        if name not in COMPOSE_SERVICE:
            continue
        given = set(service.get("environment", {}))
        own = {n for n in given if n.startswith(prefix_of(name)) and n not in SHARED}
        strays = (given - everyone) | unknown(COMPOSE_SERVICE[name], own)
        if strays:
            problems[name] = sorted(strays)
    assert problems == {}


def prefix_of(compose_name: str) -> str:
    return {"tickets": "TICKETS_", "notifier": "NOTIFIER_", "ws-gateway": "GATEWAY_"}[
        COMPOSE_SERVICE.get(compose_name, compose_name)
    ]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kubernetes_sets_only_variables_its_services_read(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    everyone = set().union(*(variables(s) for s in SETTINGS.values()))
    config = next(m for m in rendered[overlay] if m["metadata"]["name"] == "incident-config")
    assert set(config["data"]) - everyone == set()
    problems = {}
    for manifest in rendered[overlay]:
        if manifest["kind"] not in ("Deployment", "Job"):
            continue
        for container in manifest["spec"]["template"]["spec"]["containers"]:
            service = K8S_IMAGE[container["image"].split(":")[0].rsplit("/", 1)[-1]]
            given = {entry["name"] for entry in container.get("env", [])}
            strays = unknown(service, given)
            if strays:
                problems[f"{manifest['metadata']['name']}/{container['name']}"] = sorted(strays)
    assert problems == {}
