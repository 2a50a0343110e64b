"""The local network: nats-server, the FerretDB document store and every service as processes."""
