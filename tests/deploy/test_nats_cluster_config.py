"""Production NATS is a three-node cluster: the shipped config routes the pods the StatefulSet makes."""

import json
import re

import yaml

from deploy.local.natsconf import DEPLOYED_ROUTES, render_for_deployment
from deploy.local.stack import REPO

K8S = REPO / "deploy" / "k8s"


def k8s_documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def shipped_config() -> dict:
    # nats-server reads the unquoted $VARIABLES from the environment; quoted, the rest is JSON.
    return json.loads(re.sub(r'(?<=": )(\$[A-Z_]+)', r'"\1"', render_for_deployment()))


def test_the_shipped_config_clusters_three_nodes_that_sync_every_write() -> None:
    config = shipped_config()
    assert config["jetstream"]["sync_interval"] == "always"
    assert config["cluster"]["name"] == "rn"
    assert config["cluster"]["listen"].endswith(":6222")
    assert config["cluster"]["routes"] == list(DEPLOYED_ROUTES) and len(DEPLOYED_ROUTES) == 3


def test_the_statefulset_makes_the_pods_the_routes_name_and_provisions_three_replicas() -> None:
    service, statefulset = k8s_documents("10-nats.yaml")
    assert service["spec"]["clusterIP"] == "None"  # headless: each pod gets nats-N.nats
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"] == "nats"
    pods = [
        f"nats://{statefulset['metadata']['name']}-{n}.nats:6222"
        for n in range(statefulset["spec"]["replicas"])
    ]
    assert pods == list(DEPLOYED_ROUTES)
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["-c", "/etc/nats/nats-server.conf"]  # the cluster comes from the config
    (job,) = k8s_documents("20-provision.yaml")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RN_STREAM_REPLICAS"] == "3"
