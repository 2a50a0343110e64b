"""Insights: the admins' dashboards, built from traces.

Owns: spans received over OTLP/HTTP, stored in chunks per organization (`rn.org`), and their rollups
by minute, hour and day (database `rn_insights`); the dashboards page (/dashboards) and its JSON.
Publishes: nothing. Consumes: OTLP/HTTP trace exports from every service (`POST /v1/traces`).
"""
