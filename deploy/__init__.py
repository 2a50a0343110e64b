"""Deployment: the local runner (`deploy/local`) and production manifests (`deploy/k8s`)."""
