"""docker-compose.yml: valid, complete, healthy-before-dependants, secrets out of the images.

compose-spec.schema.json beside this file is the Compose Specification's JSON schema
(Apache-2.0, as shipped with docker-compose 1.29), kept here so the check runs offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.schema.json")
Manifest = dict[str, Any]
DATA_STORES = {"postgres", "rabbitmq", "redis"}
ONE_SHOT = {"keygen", "tickets-migrate", "notifier-migrate"}


def test_compose_file_matches_the_compose_specification(compose: Manifest) -> None:
    jsonschema = pytest.importorskip(
        "jsonschema",
        reason="the jsonschema package is not installed (it comes with kubernetes-validate)",
    )
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    )
    assert errors == []


def test_docker_compose_config_accepts_the_file() -> None:
    command = shutil.which("docker-compose")
    if command is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_every_built_service_has_its_dockerfile_and_the_repository_as_context(
    compose: Manifest,
) -> None:
    built = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    assert {"tickets", "notifier", "notifier-consumer", "ws-gateway-1", "ws-gateway-2"} <= set(
        built
    )
    for name, build in built.items():
        assert build["context"] == ".", name
        assert (ROOT / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} is missing"


def dockerfile_has_healthcheck(path: Path) -> bool:
    return any(line.startswith("HEALTHCHECK ") for line in path.read_text().splitlines())


def test_every_long_running_container_has_a_health_check(compose: Manifest) -> None:
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        has_own = "healthcheck" in service and not service["healthcheck"].get("disable")
        from_image = "build" in service and dockerfile_has_healthcheck(
            ROOT / service["build"]["dockerfile"]
        )
        assert has_own or from_image, f"{name} has no health check"


def test_services_start_after_healthy_dependencies_and_migrations(compose: Manifest) -> None:
    services = compose["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    for migrate in ("tickets-migrate", "notifier-migrate"):
        assert services[migrate]["command"] == ["migrate"]
        assert conditions(migrate) == {"postgres": "service_healthy"}
    assert conditions("tickets")["tickets-migrate"] == "service_completed_successfully"
    assert conditions("tickets")["keygen"] == "service_completed_successfully"
    for name in ("notifier", "notifier-consumer"):
        assert conditions(name)["notifier-migrate"] == "service_completed_successfully"
    for name, service in services.items():
        for dependency, condition in conditions(name).items() if "depends_on" in service else []:
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert condition == expected, f"{name} -> {dependency}"
    # A running service never migrates by itself: the one-shot jobs did.
    for name in ("tickets", "notifier", "notifier-consumer"):
        environment = services[name]["environment"]
        prefix = "TICKETS" if name == "tickets" else "NOTIFIER"
        assert environment[f"{prefix}_MIGRATE_ON_START"] == "false"


def test_only_nginx_is_published_and_routes_to_both_gateways(compose: Manifest) -> None:
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    assert services["nginx"]["ports"] == ["${GATEWAY_PUBLIC_PORT:-8000}:8000"]
    gateways = {name: s for name, s in services.items() if name.startswith("ws-gateway")}
    assert len(gateways) == 2
    instance_ids = {s["environment"]["GATEWAY_INSTANCE_ID"] for s in gateways.values()}
    assert len(instance_ids) == 2
    upstreams = services["nginx"]["environment"]["WS_GATEWAY_SERVERS"]
    assert sorted(re.findall(r"server ([\w-]+):8003 max_fails=0;", upstreams)) == sorted(gateways)
    mounts = services["nginx"]["volumes"]
    assert mounts == [
        "./deploy/gateway/incident.conf.template:/etc/nginx/templates/default.conf.template:ro"
    ]
    template = (ROOT / "deploy/gateway/incident.conf.template").read_text()
    placeholders = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", template))
    assert placeholders <= set(services["nginx"]["environment"])


def test_each_service_has_its_own_database(compose: Manifest) -> None:
    services = compose["services"]
    tickets = urlsplit(services["tickets"]["environment"]["TICKETS_DATABASE_URL"]).path
    notifier = urlsplit(services["notifier"]["environment"]["NOTIFIER_DATABASE_URL"]).path
    assert (tickets, notifier) == ("/tickets", "/notifier")
    init = (ROOT / "deploy/compose/postgres-init.sql").read_text()
    assert "CREATE DATABASE tickets;" in init
    assert "CREATE DATABASE notifier;" in init


def test_secrets_are_not_baked_into_images(compose: Manifest) -> None:
    for dockerfile in ROOT.glob("services/*/Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith(("ENV ", "ARG ")):
                assert not re.search(r"PASSWORD|SECRET|PRIVATE_KEY", line), f"{dockerfile}: {line}"
    # The signing key is generated into a volume at first start and mounted read-only.
    tickets = compose["services"]["tickets"]
    assert "signing-key:/run/incident-keys:ro" in tickets["volumes"]
    key_file = tickets["environment"]["TICKETS_JWT_PRIVATE_KEY_FILE"]
    assert key_file.startswith("/run/incident-keys/")
    assert "signing-key" in compose["volumes"]


def test_application_containers_are_locked_down(compose: Manifest) -> None:
    for name in ("tickets", "notifier", "notifier-consumer", "ws-gateway-1", "ws-gateway-2"):
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
