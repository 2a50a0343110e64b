"""Which services exist, their default ports, and the consumers they own: the one list the runner reads."""

from dataclasses import dataclass

from services.crisis.subscribers import SUBSCRIPTIONS as CRISIS
from services.insights.subscribers import SUBSCRIPTIONS as INSIGHTS
from services.meetings.subscribers import SUBSCRIPTIONS as MEETINGS
from services.mentoring.subscribers import SUBSCRIPTIONS as MENTORING
from services.notifications.subscribers import SUBSCRIPTIONS as NOTIFICATIONS
from shared.messaging.streams import Subscription


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    domain: str | None  # the event domain it publishes; None for insights
    subscriptions: tuple[Subscription, ...] = ()


SERVICES = (
    ServiceSpec("meetings", 8101, "meetings", MEETINGS),
    ServiceSpec("mentoring", 8102, "mentoring", MENTORING),
    ServiceSpec("crisis", 8103, "crisis", CRISIS),
    ServiceSpec("notifications", 8104, "notifications", NOTIFICATIONS),
    ServiceSpec("insights", 8105, None, INSIGHTS),
)


def all_subscriptions() -> list[Subscription]:
    return [sub for spec in SERVICES for sub in spec.subscriptions]
