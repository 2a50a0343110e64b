"""The verified caller."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    MEMBER = "member"
    MENTOR = "mentor"
    RESPONDER = "responder"
    COORDINATOR = "coordinator"
    ORG_ADMIN = "org_admin"
    NETWORK_ADMIN = "network_admin"
    # Network role: a member of a region's crisis team, reached by that region's catch-all levels.
    REGIONAL_RESPONDER = "regional_responder"


@dataclass(frozen=True)
class Principal:
    sub: str
    org: str
    roles: frozenset[Role]
    regions: frozenset[str] = frozenset()
    # When the token that names the caller expires: a live stream opened with it ends then.
    expires_at: datetime | None = None

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))
