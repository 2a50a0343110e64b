"""NATS JetStream plumbing: streams, the broker, the publisher, subscriptions and dead letters."""
