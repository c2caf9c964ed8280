"""What every rendered object must respect: probes, limits, a locked-down securityContext,
Services that select their pods, a drainable gateway, and NetworkPolicies that keep the
notifier's internal endpoint away from everyone but the gateways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

OVERLAYS = ("dev", "prod")
Manifest = dict[str, Any]
LONG_RUNNING = ("Deployment", "StatefulSet")
PUBLIC_ROUTES = {
    ("/api/auth", "Prefix", "tickets"),
    ("/api/users", "Prefix", "tickets"),
    ("/api/projects", "Prefix", "tickets"),
    ("/api/tickets", "Prefix", "tickets"),
    ("/.well-known/jwks.json", "Exact", "tickets"),
    ("/api/notifications", "Prefix", "notifier"),
    ("/ws/notifications", "Prefix", "ws-gateway"),
}


def workloads(manifests: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, pod template) for every object that runs pods."""
    for manifest in manifests:
        if manifest["kind"] in (*LONG_RUNNING, "Job"):
            yield manifest, manifest["spec"]["template"]


def containers(pod_template: Manifest) -> list[Manifest]:
    spec = pod_template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    for manifest in manifests:
        if manifest["kind"] == kind and manifest["metadata"]["name"] == name:
            return manifest
    raise AssertionError(f"no {kind} named {name}")


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down_and_bounded(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    problems = []
    for workload, template in workloads(rendered[overlay]):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod = template["spec"]
        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token it does not need")
        for container in containers(template):
            name = f"{where}/{container['name']}"
            context = container.get("securityContext", {})
            expected = {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
            }
            for key, value in expected.items():
                if context.get(key) is not value:
                    problems.append(f"{name}: securityContext.{key} is not {value}")
            if context.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{name}: capabilities do not drop ALL")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{name}: no {resource} {bound[:-1]}")
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_readiness_and_liveness_probes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    problems = []
    for workload, template in workloads(rendered[overlay]):
        if workload["kind"] not in LONG_RUNNING:
            continue
        for container in template["spec"]["containers"]:
            name = f"{workload['metadata']['name']}/{container['name']}"
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    problems.append(f"{name}: no {probe}")
            if container["image"].startswith("incident-"):
                # Our services: ready = dependencies reachable, alive = the process answers.
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_their_workloads_pods_and_ports(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    manifests = rendered[overlay]
    templates = [
        (workload, template)
        for workload, template in workloads(manifests)
        if workload["kind"] in LONG_RUNNING
    ]
    for service in (m for m in manifests if m["kind"] == "Service"):
        selector = service["spec"]["selector"]
        matched = [(w, t) for w, t in templates if selects(selector, t["metadata"]["labels"])]
        assert len(matched) == 1, f"Service {service['metadata']['name']} selects {len(matched)}"
        workload, template = matched[0]
        # The workload's own selector agrees with its pod labels and with the Service's.
        assert selects(workload["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
        assert (
            workload["metadata"]["labels"]["app.kubernetes.io/name"]
            == (selector["app.kubernetes.io/name"])
        )
        port_names = {
            port["name"] for c in template["spec"]["containers"] for port in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, service["metadata"]["name"]
    # Every Deployment that listens for traffic (not the consumer) has its Service.
    served = {
        s["spec"]["selector"]["app.kubernetes.io/name"] for s in manifests if s["kind"] == "Service"
    }
    for name in ("tickets", "notifier", "ws-gateway"):
        assert name in served


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_scales_and_drains_without_dropping_clients(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    manifests = rendered[overlay]
    deployment = find(manifests, "Deployment", "ws-gateway")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    # preStop, then the gateway's drain (close 1012, presence removed) within the grace period.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 30
    env = {e["name"]: e for e in container["env"]}
    assert env["GATEWAY_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    hpa = find(manifests, "HorizontalPodAutoscaler", "ws-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ws-gateway",
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = find(manifests, "PodDisruptionBudget", "ws-gateway")
    assert selects(
        pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert pdb["spec"].get("maxUnavailable") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_only_the_public_api(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    ingresses = [m for m in rendered[overlay] if m["kind"] == "Ingress"]
    routes = set()
    for ingress in ingresses:
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes.add((path["path"], path["pathType"], path["backend"]["service"]["name"]))
    assert routes == PUBLIC_ROUTES
    ws = find(rendered[overlay], "Ingress", "incident-ws")
    annotations = ws["metadata"]["annotations"]
    # Idle WebSockets outlive the clients' 30 s pings; the token-bearing query is not logged.
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert annotations["nginx.ingress.kubernetes.io/enable-access-log"] == "false"


def ingress_sources(policy: Manifest) -> list[Manifest]:
    return [source for rule in policy["spec"].get("ingress", []) for source in rule.get("from", [])]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_fence_the_notifier(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    policies = [m for m in rendered[overlay] if m["kind"] == "NetworkPolicy"]
    default = find(policies, "NetworkPolicy", "default-deny-ingress")
    assert default["spec"]["podSelector"] == {}
    assert "ingress" not in default["spec"]

    def reaching(pod_labels: dict[str, str]) -> list[Manifest]:
        found = []
        for policy in policies:
            selector = policy["spec"]["podSelector"]
            match_labels = selector.get("matchLabels", {})
            expressions = selector.get("matchExpressions", [])
            if not selects(match_labels, pod_labels):
                continue
            if any(
                not (e["operator"] == "In" and pod_labels.get(e["key"]) in e["values"])
                for e in expressions
            ):
                continue
            found.extend(ingress_sources(policy))
        return found

    notifier_sources = reaching(
        {"app.kubernetes.io/name": "notifier", "app.kubernetes.io/part-of": "incident"}
    )
    assert notifier_sources, "nothing may reach the notifier: the inbox would be unreachable"
    for source in notifier_sources:
        if "podSelector" in source:
            assert source["podSelector"] == {
                "matchLabels": {"app.kubernetes.io/name": "ws-gateway"}
            }
        else:
            # The Ingress controller, which routes /api/notifications and nothing else there.
            assert source["namespaceSelector"] == {
                "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
            }
    for name in ("tickets", "ws-gateway"):
        assert reaching({"app.kubernetes.io/name": name}), f"{name} is unreachable"
