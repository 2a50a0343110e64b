"""Wakes the live inbox streams (SSE) of the people a notification was just written for.

In-process only: a page connected to this replica wakes at once, and every stream also looks at the
store every `poll` seconds, which is how it hears about notifications another replica wrote.
"""

import asyncio
from collections import defaultdict


class Hub:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, recipient_ids: list[str]) -> None:
        for recipient in recipient_ids:
            for event in self._waiting.get(recipient, ()):
                event.set()

    async def wait(self, recipient_id: str, seconds: float) -> None:
        """Until a notification for the recipient is written here, or `seconds` pass."""
        event = asyncio.Event()
        self._waiting[recipient_id].add(event)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiting[recipient_id].discard(event)
            if not self._waiting[recipient_id]:
                del self._waiting[recipient_id]
