"""The nats-server configuration: JetStream on, and one user per service with only its own subjects.

A service may publish its own domain's events and its own dead letters, and may read only the
durable consumers provisioned for it, plus short-lived ordered consumers on its own domain's
stream (the crisis console replays its stream from a sequence). The `admin` user provisions
streams. Each organization gets a read-only `org-<id>` user for its crisis team's own systems: it
may subscribe to its own organization's crisis subjects and publish nothing.
"""

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.subjects import stream_name
from deploy.local.topology import SERVICES, ServiceSpec
from shared.messaging.broker import inbox_prefix

JS_CLIENT_BASICS = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.*"]
CLUSTER_NAME = "rn"
# The StatefulSet's pods (deploy/k8s/10-nats.yaml), found through its headless Service `nats`.
DEPLOYED_ROUTES = tuple(f"nats://nats-{n}.nats:6222" for n in range(3))


@dataclass(frozen=True)
class Cluster:
    """One node's place in a nats-server cluster: where it listens for routes, and every node's route URL.

    A node may list itself among the routes (nats-server ignores that one), so every node gets the same list.
    """

    listen: str
    routes: tuple[str, ...]


def org_user(org: str) -> str:
    return f"org-{org}"


def load_passwords(path: Path, orgs: Sequence[str] = ()) -> dict[str, str]:
    """Passwords live in the data folder and survive restarts; missing ones are generated."""
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for name in ["admin", *(s.name for s in SERVICES), *(org_user(o) for o in orgs)]:
        passwords.setdefault(name, secrets.token_urlsafe(18))
    write_private(path, json.dumps(passwords, indent=2))
    return passwords


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds passwords), never readable even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have been created with wider permissions
    with os.fdopen(fd, "w") as f:
        f.write(text)


def service_permissions(spec: ServiceSpec) -> dict[str, object]:
    publish = [*JS_CLIENT_BASICS, f"deadletter.{spec.name}.>"]
    if spec.domain:
        stream = stream_name(spec.domain)
        publish += [
            f"rn.*.{spec.domain}.>",
            # Ordered (ephemeral) consumers on its own stream, and their flow-control replies.
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DELETE.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    for sub in spec.subscriptions:
        publish += [
            f"$JS.API.CONSUMER.INFO.{sub.stream}.{sub.durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{sub.stream}.{sub.durable}",
            f"$JS.ACK.{sub.stream}.{sub.durable}.>",
        ]
    # No service answers NATS requests, so none needs `allow_responses`; each reads only its own inbox.
    return {"publish": {"allow": publish}, "subscribe": {"allow": [f"{inbox_prefix(spec.name)}.>"]}}


def org_permissions(org: str) -> dict[str, object]:
    """Read-only: the organization's own crisis subjects, nothing of anyone else's, no publishing."""
    return {"publish": {"deny": [">"]}, "subscribe": {"allow": [f"rn.{org}.crisis.>"]}}


def render(
    *,
    port: int,
    store_dir: Path,
    passwords: dict[str, str],
    http_port: int | None = None,
    orgs: Sequence[str] = (),
    server_name: str = "rn-local",
    cluster: Cluster | None = None,
) -> str:
    """The local server's config, with the passwords written in; `cluster` makes it one node of several."""
    config = _config(
        port=port,
        store_dir=str(store_dir),
        passwords=passwords,
        http_port=http_port,
        orgs=orgs,
        cluster=cluster,
    )
    config["server_name"] = server_name
    return json.dumps(config, indent=2)


def render_for_deployment() -> str:
    """The config shipped in deploy/nats/: passwords come from the environment (`$CRISIS_NATS_PASSWORD`)."""
    names = ["admin", *(s.name for s in SERVICES if s.domain or s.subscriptions)]
    config = _config(
        port=4222,
        store_dir="/data/jetstream",
        passwords={n: f"@@{n.upper()}_NATS_PASSWORD@@" for n in names},
        http_port=8222,
        cluster=Cluster(listen="0.0.0.0:6222", routes=DEPLOYED_ROUTES),
    )
    config["host"] = "0.0.0.0"
    config["server_name"] = "$SERVER_NAME"
    jetstream = config["jetstream"]
    assert isinstance(jetstream, dict)
    # Every write reaches the disk before it is acknowledged: an escalation must survive a power cut.
    jetstream["sync_interval"] = "always"
    jetstream.pop("max_file_store")
    text = json.dumps(config, indent=2)
    # Unquoted $NAME is how nats-server reads a variable from the environment.
    for name in names:
        text = text.replace(f'"@@{name.upper()}_NATS_PASSWORD@@"', f"${name.upper()}_NATS_PASSWORD")
    return text.replace('"$SERVER_NAME"', "$SERVER_NAME")


def _config(
    *,
    port: int,
    store_dir: str,
    passwords: dict[str, str],
    http_port: int | None,
    orgs: Sequence[str] = (),
    cluster: Cluster | None = None,
) -> dict[str, object]:
    users: list[dict[str, object]] = [
        {"user": "admin", "password": passwords["admin"], "permissions": {"publish": ">", "subscribe": ">"}}
    ]
    for spec in SERVICES:
        if spec.domain or spec.subscriptions:
            users.append(
                {
                    "user": spec.name,
                    "password": passwords[spec.name],
                    "permissions": service_permissions(spec),
                }
            )
    for org in orgs:
        name = org_user(org)
        users.append({"user": name, "password": passwords[name], "permissions": org_permissions(org)})
    config: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "server_name": "rn-local",
        "jetstream": {"store_dir": store_dir, "max_file_store": 2 * 1024**3},
        "authorization": {"users": users},
    }
    if http_port:
        config["http_port"] = http_port
    if cluster:
        # Streams are replicated across these nodes (streams.provision sets the replica count).
        config["cluster"] = {"name": CLUSTER_NAME, "listen": cluster.listen, "routes": list(cluster.routes)}
    # nats-server reads JSON as a subset of its config language.
    return config


def main() -> None:
    path = Path(__file__).resolve().parents[1] / "nats" / "nats-server.conf"
    header = "# Generated by `python -m deploy.local.natsconf`; tests/deploy keeps it current.\n"
    path.write_text(header + render_for_deployment() + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
