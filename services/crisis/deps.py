"""Dependencies of the crisis routes, as Annotated aliases."""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from services.crisis.service import Directory, Intake
from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role
from shared.crypto import Sealer

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import CurrentNetwork as CurrentNetwork
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher
from shared.http import Problem
from shared.network import Network


def _sealer(request: Request) -> Sealer:
    return request.app.state.sealer  # type: ignore[no-any-return]


def _directory(request: Request) -> Directory:
    return request.app.state.directory  # type: ignore[no-any-return]


def _intake(request: Request) -> Intake:
    return request.app.state.intake  # type: ignore[no-any-return]


CaseDirectory = Annotated[Directory, Depends(_directory)]
AlertIntake = Annotated[Intake, Depends(_intake)]
NotesSealer = Annotated[Sealer, Depends(_sealer)]
OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
NetworkAdmin = Annotated[Principal, Depends(require_roles(Role.NETWORK_ADMIN))]
Reporter = Annotated[Principal, Depends(require_roles(Role.MEMBER, Role.MENTOR))]


# The roles a deactivation takes away; an org admin or member role comes from the identity provider.
CRISIS_STAFF_ROLES = frozenset({Role.RESPONDER, Role.COORDINATOR, Role.REGIONAL_RESPONDER})


async def deactivated(directory: Directory, db: Db, network: Network, caller: Principal) -> bool:
    """Taken off the organization's crisis staff (read through the directory's cache: seconds)."""
    _, reach = await directory.lookup(db, network, caller.org)
    return caller.sub in reach.inactive


def _active(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """`require_roles`, counting none of the crisis staff roles of a person taken off the staff: they
    work and read no more cases, whatever their token still names. What else they are (an org admin,
    a member who reached out) stays."""

    async def check(
        caller: Annotated[Principal, Depends(require_roles(*roles))],
        db: Db,
        network: CurrentNetwork,
        directory: CaseDirectory,
    ) -> Principal:
        if not await deactivated(directory, db, network, caller):
            return caller
        remaining = replace(caller, roles=caller.roles - CRISIS_STAFF_ROLES)
        if not remaining.has_any(*roles):
            raise Problem(
                403, "Forbidden", "you are no longer on the active crisis staff of your organization"
            )
        return remaining

    return check


# Who works cases: the organization's crisis staff, and the regional team for cases that reached it.
Responder = Annotated[
    Principal, Depends(_active(Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN, Role.REGIONAL_RESPONDER))
]
CaseReader = Annotated[
    Principal,
    Depends(_active(Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN, Role.REGIONAL_RESPONDER, Role.MEMBER)),
]


# Who manages the crisis team of the organization: rosters, staff, partners (and reads the protocol).
Manager = Annotated[Principal, Depends(_active(Role.ORG_ADMIN, Role.COORDINATOR))]
