"""Dependencies of the mentoring routes (every subpackage's routes take theirs from here)."""

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from services.mentoring.roster import Roster
from services.mentoring.settings import Settings
from shared.auth.fastapi import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher
from shared.http import ProblemDetails

Caller = CurrentPrincipal
Member = Annotated[Principal, Depends(require_roles(Role.MEMBER))]
Mentor = Annotated[Principal, Depends(require_roles(Role.MENTOR))]
OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
Coordinator = Annotated[Principal, Depends(require_roles(Role.COORDINATOR, Role.ORG_ADMIN))]

# A person's id is a token's `sub`: opaque (`auth0|abc` included), so an e-mail address, which people
# would type, is refused.
PersonId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:|-]{1,64}$")]
MatchId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


MentoringSettings = Annotated[Settings, Depends(_settings)]


def _roster(request: Request) -> Roster:
    return request.app.state.roster  # type: ignore[no-any-return]


MentorRoster = Annotated[Roster, Depends(_roster)]


def problems(why: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: each problem status it can answer, and why."""
    return {status: {"model": ProblemDetails, "description": d} for status, d in why.items()}


def coordinates(caller: Principal) -> bool:
    return caller.has_any(Role.COORDINATOR, Role.ORG_ADMIN)
