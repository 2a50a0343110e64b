"""The channels a message goes out on, each behind the same small interface: `send` one message,
get an `Outcome`. The adapters know their provider's protocol and nothing about preferences,
retries or fallback: those are decided in model.py and carried out in service.py.
"""

from dataclasses import dataclass
from typing import Protocol

from contracts.notifications import Channel
from services.notifications.model import Person
from services.notifications.templates import Rendered


@dataclass(frozen=True)
class Outgoing:
    delivery_id: str  # the idempotency key: also the message id the receiver sees (Message-ID, webhook-id)
    org: str
    person: Person
    rendered: Rendered
    link: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    # Why not, in words safe for logs and events: a status code or an error class, never an address.
    reason: str | None = None
    retry: bool = True  # False when trying again cannot help (the provider refused the address)
    # Accepted by a provider that reports the final status later (SMS status callbacks).
    provider_id: str | None = None


class Adapter(Protocol):
    channel: Channel

    async def send(self, out: Outgoing) -> Outcome: ...
