"""Dependencies of the crisis routes, as Annotated aliases."""

from collections.abc import Awaitable, Callable
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


def _active(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """`require_roles`, and not deactivated: a person taken off the crisis staff works no more cases
    and reads none, whatever roles their token still names."""

    async def check(
        caller: Annotated[Principal, Depends(require_roles(*roles))],
        db: Db,
        network: CurrentNetwork,
        directory: CaseDirectory,
    ) -> Principal:
        _, reach = await directory.lookup(db, network, caller.org)
        if caller.sub in reach.inactive:
            raise Problem(
                403, "Forbidden", "you are no longer on the active crisis staff of your organization"
            )
        return caller

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
