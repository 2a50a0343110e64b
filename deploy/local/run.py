"""`make run`: the whole network on this machine until Ctrl-C.

Besides nats-server, the document store and the services, it runs Mailpit (every email the network
sends, at http://127.0.0.1:8025) and the local SMS receiver (every SMS, at http://127.0.0.1:8190/messages).
Data lives in `.data/` (NATS JetStream files, the document store's SQLite files, Mailpit's database,
the SMS receiver's sms.jsonl, dev keys),
so a second run finds everything the first one made. A process that dies is started again after a
back-off (deploy/local/supervisor.py) while the others keep running; Ctrl-C stops them all.
"""

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from deploy.local import natsconf, seed
from deploy.local.stack import REPO, Stack
from deploy.local.supervisor import Supervisor, tend
from deploy.local.topology import SERVICES


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Recovery Network locally.")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("RN_DATA_DIR") or REPO / ".data"),
        help="where all local state lives (default: $RN_DATA_DIR, else .data; rn-token reads the same)",
    )
    parser.add_argument("--network-file", type=Path, default=REPO / "deploy" / "local" / "network.json")
    parser.add_argument("--no-seed", action="store_true", help="do not create the demo network")
    args = parser.parse_args()

    stack = Stack(data_dir=args.data, network_file=args.network_file)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting nats-server ...", flush=True)
        stack.start_nats()
        print("starting the document store ..." if not stack.mongodb_url else "using MONGODB_URL", flush=True)
        stack.start_docstore()
        print("starting Mailpit and the SMS receiver ...", flush=True)
        stack.start_mailpit()
        stack.start_sms_receiver()
        asyncio.run(stack.provision())
        print("starting services ...", flush=True)
        stack.start_services()
        urls = {s.name: stack.url(s.name) for s in SERVICES}
        tokens = seed.seed(urls, stack.private_key) if not args.no_seed else seed.tokens(stack.private_key)
        print_banner(stack, urls, tokens)
        supervisor = Supervisor()
        supervisor.watch(list(stack.procs), time.monotonic())
        while not stopping:
            tend(stack, supervisor, time.monotonic(), lambda line: print(line, file=sys.stderr, flush=True))
            time.sleep(0.5)
    except Exception as exc:
        print(f"make run failed: {exc}\nlogs: {stack.log_dir}", file=sys.stderr)
        raise SystemExit(1) from exc
    finally:
        print("\nstopping every process ...", flush=True)
        stack.stop()


def print_banner(stack: Stack, urls: dict[str, str], tokens: dict[str, str]) -> None:
    lines = ["", "Recovery Network is running. Ctrl-C stops it.", ""]
    lines += [f"  {name:<15} {url}   (docs: {url}/docs)" for name, url in urls.items()]
    lines += [
        f"  {'nats':<15} {stack.nats_url}",
        f"  {'database':<15} {stack.database_url}",
        f"  {'mail (Mailpit)':<15} {stack.mailpit_url}   (API: {stack.mailpit_url}/api/v1/messages; "
        f"SMTP 127.0.0.1:{stack.mailpit_smtp_port})",
        f"  {'sms log':<15} {stack.sms_url}/messages",
        f"  {'logs':<15} {stack.log_dir}",
        f"  {'console':<15} {urls['crisis']}/crisis/console   (sign in as a demo responder or coordinator)",
        f"  {'directory':<15} {urls['meetings']}/find   (the public meeting directory)",
        f"  {'dashboards':<15} {urls['insights']}/dashboards   (paste an admin's token, below)",
        f"  {'more tokens':<15} {mint_hint(stack.data_dir)}",
        "",
        "Read-only NATS users for crisis teams' own systems (rn.<org>.crisis.>):",
    ]
    lines += [f"  {natsconf.org_user(org)} / {stack.passwords[natsconf.org_user(org)]}" for org in stack.orgs]
    lines += ["", "Dev tokens (valid 12 h):"]
    for user in seed.USERS:
        lines.append(f"  # {user.label} ({user.sub}, {user.org})")
        lines.append(f"  export TOKEN_{user.sub.upper().replace('-', '_')}={tokens[user.sub]}")
    lines += [
        "",
        'Try: curl -s -X POST localhost:8103/crisis/alerts -H "Authorization: Bearer $TOKEN_HH_MEMBER_1" '
        "-H 'content-type: application/json' -d '{\"severity\":\"high\"}'",
        "",
    ]
    print("\n".join(lines), flush=True)


def mint_hint(data_dir: Path) -> str:
    command = ".venv/bin/rn-token --sub someone --org harbor-house --role member"
    if data_dir.resolve() == (REPO / ".data").resolve():
        return command
    return f"RN_DATA_DIR={data_dir} {command}"  # rn-token looks in the repository's .data otherwise


if __name__ == "__main__":
    main()
