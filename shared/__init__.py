"""Plumbing every service uses: settings, messaging, storage, auth and tenancy, telemetry, HTTP errors.

No domain logic lives here.
"""
