"""Dependencies of the crisis routes, as Annotated aliases."""

from typing import Annotated

from fastapi import Depends

from shared.auth.fastapi import require_roles
from shared.auth.principal import Principal, Role

# Re-exported, so a service's routes take every dependency from its own deps.py.
from shared.deps import Db as Db
from shared.deps import Publisher as Publisher

OrgAdmin = Annotated[Principal, Depends(require_roles(Role.ORG_ADMIN))]
Reporter = Annotated[Principal, Depends(require_roles(Role.MEMBER, Role.MENTOR))]
CaseReader = Annotated[
    Principal, Depends(require_roles(Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN, Role.MEMBER))
]
