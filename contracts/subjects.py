"""Subjects: `rn.<org>.<domain>.<event>.v<version>`; one stream per domain."""

import re

# An organization id is one NATS subject token: lowercase, digits and hyphens.
ORG_TOKEN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_ORG = re.compile(ORG_TOKEN)  # compiled once: every event's subject is checked on the way out
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

DOMAINS = ("meetings", "mentoring", "crisis", "notifications")


def subject_for(org: str, domain: str, event: str, version: int) -> str:
    if org != "*" and not _ORG.match(org):
        raise ValueError(f"organization id {org!r} is not a valid subject token")
    for token in (domain, event):
        if not _TOKEN.match(token):
            raise ValueError(f"{token!r} is not a valid subject token")
    if version < 1:
        raise ValueError("versions start at 1")
    return f"rn.{org}.{domain}.{event}.v{version}"


def domain_wildcard(domain: str) -> str:
    """Everything of one domain, across organizations: the subjects of its stream."""
    return f"rn.*.{domain}.>"


def org_of(subject: str) -> str | None:
    parts = subject.split(".")
    return parts[1] if len(parts) >= 5 and parts[0] == "rn" else None


def stream_name(domain: str) -> str:
    return domain.upper()
