"""Insights consumes no events: traces arrive over OTLP/HTTP (see api.py)."""

from shared.messaging.streams import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
