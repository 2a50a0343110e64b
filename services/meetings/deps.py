"""Dependencies of the meetings routes (every subpackage's routes take theirs from here)."""

import asyncio
from typing import Annotated

from fastapi import Depends, Path, Request

from contracts.subjects import ORG_TOKEN
from services.meetings.directory import Directory
from services.meetings.settings import Settings
from shared.auth.fastapi import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import CurrentNetwork as CurrentNetwork
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher
from shared.http import NotFound, Problem
from shared.network import Organization

# Until the directory is loaded (seconds at start), a request waits this long, then answers 503.
READY_WAIT_SECONDS = 10.0

Caller = CurrentPrincipal
OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
Facilitator = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN, Role.COORDINATOR))]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def ready_directory(request: Request) -> Directory:
    ready: asyncio.Event = request.app.state.directory_ready
    try:
        await asyncio.wait_for(ready.wait(), READY_WAIT_SECONDS)
    except TimeoutError:
        raise Problem(
            503, "Service Unavailable", "the directory is still loading; try again shortly"
        ) from None
    return request.app.state.directory  # type: ignore[no-any-return]


MeetingsSettings = Annotated[Settings, Depends(_settings)]
ReadyDirectory = Annotated[Directory, Depends(ready_directory)]

OrgId = Annotated[str, Path(pattern=ORG_TOKEN, description="the organization's id in the network")]


def listed_organization(org: OrgId, network: CurrentNetwork) -> Organization:
    """An organization of the network, named in the path of a public route; 404 for any other."""
    found = network.organization(org)
    if found is None:
        raise NotFound("organization")
    return found


ListedOrganization = Annotated[Organization, Depends(listed_organization)]
