"""docker-compose.yml is valid and complete, checked with `docker compose config` (no engine needed)."""

import json
import os
import shutil
import subprocess

import pytest

from deploy.local.stack import REPO, nats_server_bin
from deploy.local.topology import SERVICES

PLUGIN_DIR = REPO / ".bin" / "docker"


def compose_config() -> dict:
    if shutil.which("docker") is None:
        pytest.skip(
            "the docker client is not installed on this machine, so `docker compose config` cannot run"
        )
    env = dict(os.environ)
    if (PLUGIN_DIR / "cli-plugins" / "docker-compose").exists():
        env["DOCKER_CONFIG"] = str(PLUGIN_DIR)  # the plugin `make test` built
    result = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_runs_the_infrastructure_and_every_service_built_from_the_repo_root() -> None:
    config = compose_config()
    services = config["services"]
    assert {"mongo", "nats-0", "nats-1", "nats-2", "otel-collector", "jaeger", "provision"} <= set(services)
    for spec in SERVICES:
        service = services[spec.name]
        assert service["build"]["context"] == str(REPO)
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert service["command"] == ["python", "-m", f"services.{spec.name}"]
    assert "--replSet" in services["mongo"]["command"]
    assert services["crisis"]["depends_on"]["provision"]["condition"] == "service_completed_successfully"


def test_compose_runs_nats_as_the_three_node_cluster_the_shipped_config_routes() -> None:
    services = compose_config()["services"]
    for node in range(3):
        nats = services[f"nats-{node}"]
        assert f"nats-{node}.nats" in nats["networks"]["default"]["aliases"]
        assert nats["environment"]["SERVER_NAME"] == f"nats-{node}"
    assert services["provision"]["environment"]["RN_STREAM_REPLICAS"] == "3"
    urls = services["crisis"]["environment"]["RN_NATS_URL"].split(",")
    assert urls == [f"nats://nats-{n}:4222" for n in range(3)]


def test_the_shipped_nats_config_syncs_every_write_and_is_current() -> None:
    from deploy.local.natsconf import render_for_deployment

    shipped = (REPO / "deploy" / "nats" / "nats-server.conf").read_text()
    assert shipped.split("\n", 1)[1] == render_for_deployment() + "\n", (
        "regenerate deploy/nats/nats-server.conf"
    )
    assert '"sync_interval": "always"' in shipped
    env = {**os.environ, "SERVER_NAME": "rn-test"}
    env |= {
        f"{name}_NATS_PASSWORD": "x" for name in ("ADMIN", "MEETINGS", "MENTORING", "CRISIS", "NOTIFICATIONS")
    }
    check = subprocess.run(
        [nats_server_bin(), "-c", str(REPO / "deploy/nats/nats-server.conf"), "-t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr
