"""Mentoring event handlers: none yet (check-ins and risk flags come later)."""

from shared.messaging.streams import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
