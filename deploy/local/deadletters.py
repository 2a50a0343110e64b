"""`python -m deploy.local.deadletters`: list dead letters, or replay one once its cause is fixed.

Uses the NATS admin user: replaying publishes on another service's subjects, which no service may.
    list [--service notifications] [--limit 50]
    replay SEQUENCE
"""

import argparse
import asyncio
import json
import os
from pathlib import Path

import nats

from deploy.local.stack import REPO
from deploy.local.topology import SERVICES
from shared.messaging.deadletter import list_dead_letters, replay


async def run(args: argparse.Namespace) -> None:
    password = os.environ.get("RN_NATS_PASSWORD") or json.loads(args.passwords.read_text())["admin"]
    nc = await nats.connect(args.nats_url, user=os.environ.get("RN_NATS_USER", "admin"), password=password)
    try:
        js = nc.jetstream()
        if args.command == "replay":
            print(f"replayed dead letter {args.sequence} as stream message {await replay(js, args.sequence)}")
            return
        services = [args.service] if args.service else [s.name for s in SERVICES]
        for service in services:
            for letter in await list_dead_letters(js, service, args.limit):
                print(f"{letter.sequence:>8}  {letter.consumer:<44} {letter.original_subject}")
                print(f"{'':>10}{letter.reason}")
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nats-url", default=os.environ.get("RN_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--passwords", type=Path, default=REPO / ".data" / "nats-passwords.json")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="newest first")
    listing.add_argument("--service", choices=[s.name for s in SERVICES])
    listing.add_argument("--limit", type=int, default=50)
    again = commands.add_parser("replay", help="publish one again on its original subject")
    again.add_argument("sequence", type=int)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
