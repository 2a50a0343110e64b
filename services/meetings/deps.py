"""Dependencies of the meetings routes."""

from typing import Annotated

from fastapi import Depends

from shared.auth.fastapi import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher

Caller = CurrentPrincipal
OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
