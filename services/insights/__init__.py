"""Insights: admin views built from traces.

Owns: spans received over OTLP/HTTP (database `rn_insights`), each tagged with the organization
its `rn.org` attribute names.
Publishes: nothing. Consumes: OTLP/HTTP trace exports from every service (`POST /v1/traces`).
"""
