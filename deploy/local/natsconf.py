"""The nats-server configuration: JetStream on, and one user per service with only its own subjects.

A service may publish its own domain's events and its own dead letters, and may read only the
durable consumers provisioned for it. The `admin` user provisions streams; `org-<id>` users
(read-only, one per organization) come with the crisis-teams work.
"""

import json
import secrets
from pathlib import Path

from deploy.local.topology import SERVICES, ServiceSpec

JS_CLIENT_BASICS = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.*"]


def load_passwords(path: Path) -> dict[str, str]:
    """Passwords live in the data folder and survive restarts; missing ones are generated."""
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for name in ["admin", *(s.name for s in SERVICES)]:
        passwords.setdefault(name, secrets.token_urlsafe(18))
    path.write_text(json.dumps(passwords, indent=2))
    path.chmod(0o600)
    return passwords


def service_permissions(spec: ServiceSpec) -> dict[str, object]:
    publish = [*JS_CLIENT_BASICS, f"deadletter.{spec.name}.>"]
    if spec.domain:
        publish.append(f"rn.*.{spec.domain}.>")
    for sub in spec.subscriptions:
        publish += [
            f"$JS.API.CONSUMER.INFO.{sub.stream}.{sub.durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{sub.stream}.{sub.durable}",
            f"$JS.ACK.{sub.stream}.{sub.durable}.>",
        ]
    return {"publish": {"allow": publish}, "subscribe": {"allow": ["_INBOX.>"]}}


def render(*, port: int, store_dir: Path, passwords: dict[str, str], http_port: int | None = None) -> str:
    users: list[dict[str, object]] = [
        {"user": "admin", "password": passwords["admin"], "permissions": {"publish": ">", "subscribe": ">"}}
    ]
    for spec in SERVICES:
        if spec.domain or spec.subscriptions:
            users.append({"user": spec.name, "password": passwords[spec.name], "permissions": service_permissions(spec)})
    config = {
        "host": "127.0.0.1",
        "port": port,
        "server_name": "rn-local",
        "jetstream": {"store_dir": str(store_dir), "max_file_store": 2 * 1024**3},
        "authorization": {"users": users},
    }
    if http_port:
        config["http_port"] = http_port
    # nats-server reads JSON as a subset of its config language.
    return json.dumps(config, indent=2)
