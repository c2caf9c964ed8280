"""Both Kustomize overlays render, and every object is valid Kubernetes (offline schemas)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

OVERLAYS = ("dev", "prod")
Manifest = dict[str, Any]

KUBERNETES_VERSION = "1.30"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_whole_system(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    kinds = Counter(m["kind"] for m in rendered[overlay])
    names = {(m["kind"], m["metadata"]["name"]) for m in rendered[overlay]}
    for deployment in ("tickets", "notifier", "notifier-consumer", "ws-gateway"):
        assert ("Deployment", deployment) in names
    for job in ("tickets-migrate", "notifier-migrate"):
        assert ("Job", job) in names
    assert ("HorizontalPodAutoscaler", "ws-gateway") in names
    assert ("PodDisruptionBudget", "ws-gateway") in names
    assert ("ConfigMap", "incident-config") in names
    assert kinds["Ingress"] == 2
    assert kinds["NetworkPolicy"] >= 4
    namespaces = {
        m["metadata"].get("namespace") for m in rendered[overlay] if m["kind"] != "Namespace"
    }
    assert namespaces == {"incident-dev" if overlay == "dev" else "incident"}


def test_dev_runs_its_data_stores_as_statefulsets(rendered: dict[str, list[Manifest]]) -> None:
    statefulsets = {m["metadata"]["name"]: m for m in rendered["dev"] if m["kind"] == "StatefulSet"}
    assert set(statefulsets) == {"postgres", "rabbitmq", "redis"}
    for name, statefulset in statefulsets.items():
        claims = statefulset["spec"].get("volumeClaimTemplates", [])
        assert claims, f"{name} has no persistent volume"
    replicas = {
        m["metadata"]["name"]: m["spec"]["replicas"]
        for m in rendered["dev"]
        if m["kind"] == "Deployment"
    }
    assert set(replicas.values()) == {1}


def test_prod_references_external_data_stores_through_secrets(
    rendered: dict[str, list[Manifest]],
) -> None:
    kinds = {m["kind"] for m in rendered["prod"]}
    assert "StatefulSet" not in kinds
    # The operator creates the Secrets; nothing secret is in the rendered output.
    assert "Secret" not in kinds
    replicas = {
        m["metadata"]["name"]: m["spec"]["replicas"]
        for m in rendered["prod"]
        if m["kind"] == "Deployment"
    }
    assert min(replicas.values()) >= 2
    assert replicas["ws-gateway"] >= 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    validate = pytest.importorskip(
        "kubernetes_validate",
        reason="the kubernetes-validate package is not installed (pip install kubernetes-validate)",
    )
    failures = []
    for manifest in rendered[overlay]:
        try:
            # strict: an unknown (misspelt) field is an error, not silently ignored.
            validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except validate.ValidationError as error:
            failures.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message}")
    assert failures == []
