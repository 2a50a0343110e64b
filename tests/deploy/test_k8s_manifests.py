"""The Kubernetes manifests: every container bounded, probes that mean what they say, the Collector feeding
insights with its token, and the network ConfigMap the pods mount kept equal to the local network."""

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from deploy.local.stack import REPO
from deploy.local.topology import SERVICES
from shared.network import Network

K8S = REPO / "deploy" / "k8s"
INSIGHTS = next(spec for spec in SERVICES if spec.name == "insights")
# Made by hand from deploy/nats/nats-server.conf (deploy/k8s/README.md), so it is in no manifest.
CREATED_WITH_KUBECTL = {"nats-config"}


@functools.cache  # parsed once for the module; no test changes what it reads
def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in documents():
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield f"CronJob/{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def collector_config() -> dict[str, Any]:
    return yaml.safe_load(find("ConfigMap", "otel-collector-config")["data"]["config.yaml"])


def test_every_manifest_is_in_the_namespace_and_every_config_map_a_pod_mounts_is_shipped() -> None:
    docs = documents()
    assert all(d["metadata"].get("namespace") == "recovery-network" for d in docs if d["kind"] != "Namespace")
    shipped = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    mounted = {
        volume["configMap"]["name"]
        for _, spec in pod_specs()
        for volume in spec.get("volumes", [])
        if "configMap" in volume
    }
    assert {"network", "otel-collector-config"} <= mounted
    assert mounted - shipped == CREATED_WITH_KUBECTL


def test_every_container_requests_and_is_limited_in_cpu_and_memory() -> None:
    pods = dict(pod_specs())
    assert {"StatefulSet/nats", "Job/provision-streams", "Deployment/otel-collector"} <= set(pods)
    assert {f"Deployment/{spec.name}" for spec in SERVICES} <= set(pods)
    for name, spec in pods.items():
        for c in spec["containers"] + spec.get("initContainers", []):
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, f"{name}/{c['name']} {bound}"


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_readiness_checks_the_dependencies_and_liveness_only_the_process(spec: Any) -> None:
    c = container(find("Deployment", spec.name))
    assert c["ports"] == [{"containerPort": spec.port}]
    # /health answers 503 while NATS or MongoDB is down (shared/app.py): right for readiness only.
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": spec.port}
    liveness = c["livenessProbe"]
    assert liveness != c["readinessProbe"]
    liveness_path = liveness.get("httpGet", {}).get("path", "")
    assert liveness_path != "/health", "liveness must not check dependencies"
    probed = liveness.get("tcpSocket", liveness.get("httpGet", {})).get("port")
    assert probed == spec.port
    # Until the app has started, liveness would count its start against it.
    assert c["startupProbe"]["tcpSocket"] == {"port": spec.port}


def test_services_export_traces_to_the_collector_and_insights_to_nobody() -> None:
    service = find("Service", "otel-collector")
    assert {p["port"] for p in service["spec"]["ports"]} == {4317, 4318}
    pods = find("Deployment", "otel-collector")["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == pods
    for spec in SERVICES:
        env = env_of(container(find("Deployment", spec.name)))
        if spec is INSIGHTS:
            # Its own spans would come back to it through the Collector.
            assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" not in env
        else:
            assert (
                env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]["value"] == "http://otel-collector:4318/v1/traces"
            )


def test_the_collector_sends_every_span_to_insights_gzipped_with_the_ingest_token() -> None:
    config = collector_config()
    insights_service = find("Service", "insights")
    exporter = config["exporters"]["otlphttp/insights"]
    assert exporter["endpoint"] == f"http://{insights_service['metadata']['name']}:{INSIGHTS.port}"
    assert {p["port"] for p in insights_service["spec"]["ports"]} == {INSIGHTS.port}
    assert exporter["compression"] == "gzip"
    assert exporter["headers"] == {"authorization": "Bearer ${env:OTLP_INGEST_TOKEN}"}
    (pipeline,) = config["service"]["pipelines"].values()
    assert "otlphttp/insights" in pipeline["exporters"]
    assert pipeline["receivers"] == ["otlp"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    # The memory limiter only protects the pod when it runs before anything else holds spans.
    assert pipeline["processors"][0] == "memory_limiter"

    c = container(find("Deployment", "otel-collector"))
    token = env_of(c)["OTLP_INGEST_TOKEN"]["valueFrom"]["secretKeyRef"]
    insights_token = env_of(container(find("Deployment", "insights")))["RN_OTLP_INGEST_TOKEN"]
    assert token == insights_token["valueFrom"]["secretKeyRef"]
    assert not token.get("optional", False)
    # The probes reach the health_check extension, which must listen beyond the pod's loopback.
    assert "health_check" in config["service"]["extensions"]
    health_port = int(config["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1])
    assert config["extensions"]["health_check"]["endpoint"].startswith("0.0.0.0:")
    assert c["readinessProbe"]["httpGet"]["port"] == c["livenessProbe"]["httpGet"]["port"] == health_port
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert f"--config={mount['mountPath']}/config.yaml" in c["args"]


def test_insights_cannot_start_without_its_ingest_token() -> None:
    env = env_of(container(find("Deployment", "insights")))
    ref = env["RN_OTLP_INGEST_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "rn-secrets", "key": "OTLP_INGEST_TOKEN"}  # no `optional: true`


def test_the_readme_names_every_secret_a_pod_reads() -> None:
    readme = (K8S / "README.md").read_text()
    keys = {
        env["valueFrom"]["secretKeyRef"]["key"]
        for _, spec in pod_specs()
        for c in spec["containers"]
        for env in c.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert "OTLP_INGEST_TOKEN" in keys
    assert {key for key in keys if f"`{key}`" not in readme} == set()


def test_the_network_config_map_is_the_local_network_and_lands_where_the_services_read_it() -> None:
    config_map = find("ConfigMap", "network")
    shipped = Network.model_validate_json(config_map["data"]["network.json"])
    local = Network.model_validate(json.loads((REPO / "deploy/local/network.json").read_text()))
    assert shipped == local, "deploy/k8s/05-network.yaml and deploy/local/network.json disagree"
    assert {o.id for o in shipped.organizations} and {r.id for r in shipped.regions}
    for spec in SERVICES:
        deployment = find("Deployment", spec.name)
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["network"]["configMap"]["name"] == config_map["metadata"]["name"]
        c = container(deployment)
        mount = next(m for m in c["volumeMounts"] if m["name"] == "network")
        assert "subPath" not in mount  # a subPath mount never sees an edited ConfigMap
        path = env_of(c)["RN_NETWORK_FILE"]["value"]
        assert path == f"{mount['mountPath']}/network.json"
