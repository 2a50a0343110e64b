"""Dependencies of the insights routes."""

from typing import Annotated

from fastapi import Depends

from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import CurrentNetwork as CurrentNetwork
from shared.deps import Db as Db

Admin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN, Role.COORDINATOR, Role.NETWORK_ADMIN))]
