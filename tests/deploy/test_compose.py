"""docker-compose.yml is valid and complete, checked with `docker compose config` (no engine needed)."""

import json
import os
import shutil
import subprocess

import pytest
import yaml

from deploy.local.stack import REPO, nats_server_bin
from deploy.local.topology import SERVICES

PLUGIN_DIR = REPO / ".bin" / "docker"
INGEST_TOKEN = "compose-test-ingest-token"


def run_compose_config(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker") is None:
        pytest.skip(
            "the docker client is not installed on this machine, so `docker compose config` cannot run"
        )
    env = dict(os.environ)
    if (PLUGIN_DIR / "cli-plugins" / "docker-compose").exists():
        env["DOCKER_CONFIG"] = str(PLUGIN_DIR)  # the plugin `make test` built
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def compose_config() -> dict:
    result = run_compose_config({"OTLP_INGEST_TOKEN": INGEST_TOKEN})
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


def test_insights_and_the_collector_share_an_ingest_token_compose_will_not_start_without() -> None:
    services = compose_config()["services"]
    assert services["insights"]["environment"]["RN_OTLP_INGEST_TOKEN"] == INGEST_TOKEN
    assert services["otel-collector"]["environment"]["OTLP_INGEST_TOKEN"] == INGEST_TOKEN
    # Not a default everybody's copy would accept: without the variable there is no configuration.
    unset = run_compose_config({"OTLP_INGEST_TOKEN": None})
    assert unset.returncode != 0
    assert "OTLP_INGEST_TOKEN" in unset.stderr
    # Compose stops at the first missing variable, so each of the two is checked as written.
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert raw["insights"]["environment"]["RN_OTLP_INGEST_TOKEN"].startswith("${OTLP_INGEST_TOKEN:?")
    assert raw["otel-collector"]["environment"]["OTLP_INGEST_TOKEN"].startswith("${OTLP_INGEST_TOKEN:?")


def test_the_collector_reads_the_shipped_config_and_jaeger_takes_otlp() -> None:
    services = compose_config()["services"]
    collector = services["otel-collector"]
    (mount,) = collector["volumes"]
    assert mount["source"] == str(REPO / "deploy/compose/otel-collector.yaml")
    assert collector["command"] == [f"--config={mount['target']}"]
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert any(port["target"] == 16686 for port in services["jaeger"]["ports"])  # the engineers' UI


def test_the_collector_sends_the_same_spans_to_insights_gzipped_with_the_token_and_to_jaeger() -> None:
    config = yaml.safe_load((REPO / "deploy/compose/otel-collector.yaml").read_text())
    insights = config["exporters"]["otlphttp/insights"]
    port = next(spec.port for spec in SERVICES if spec.name == "insights")
    assert insights["endpoint"] == f"http://insights:{port}"
    assert insights["compression"] == "gzip"
    assert insights["headers"] == {"authorization": "Bearer ${env:OTLP_INGEST_TOKEN}"}
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    (pipeline,) = config["service"]["pipelines"].values()
    assert set(pipeline["exporters"]) == {"otlphttp/insights", "otlp/jaeger"}
    # Where every service sends its spans (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT in docker-compose.yml).
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
