"""Provision streams and consumers on any NATS server (a compose or Kubernetes job runs this).

Reads RN_NATS_URL (one URL, or a cluster's, comma-separated), RN_NATS_USER, RN_NATS_PASSWORD and
RN_STREAM_REPLICAS (and RN_STREAM_DUPLICATE_WINDOW_SECONDS, which the services must be given too).
"""

import asyncio
import os

import nats

from deploy.local.topology import all_subscriptions
from shared.messaging.streams import duplicate_window, provision


async def main() -> None:
    nc = await nats.connect(
        os.environ.get("RN_NATS_URL", "nats://127.0.0.1:4222").split(","),
        user=os.environ.get("RN_NATS_USER"),
        password=os.environ.get("RN_NATS_PASSWORD"),
    )
    try:
        await provision(
            nc.jetstream(),
            all_subscriptions(),
            replicas=int(os.environ.get("RN_STREAM_REPLICAS", "1")),
            duplicate_window=duplicate_window(os.environ),
        )
        print("streams and consumers are provisioned")
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
