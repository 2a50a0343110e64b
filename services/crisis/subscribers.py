"""Crisis event handlers: none yet; the subscriptions this service owns are listed for provisioning."""

from shared.messaging.streams import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
