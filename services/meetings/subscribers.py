"""Meetings event handlers: none yet (attendance and check-ins come later)."""

from shared.messaging.streams import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
