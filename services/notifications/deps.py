"""Dependencies of the notifications routes, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request

from services.notifications.live import Hub
from services.notifications.service import Senders
from services.notifications.settings import Settings
from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher

OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]


def _senders(request: Request) -> Senders:
    return request.app.state.senders  # type: ignore[no-any-return]


def _hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


Channels = Annotated[Senders, Depends(_senders)]
LiveHub = Annotated[Hub, Depends(_hub)]
CurrentSettings = Annotated[Settings, Depends(_settings)]
