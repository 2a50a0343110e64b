"""FastAPI dependencies for the caller; the organization comes from the verified token only."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.jwks import KeysUnavailable
from shared.auth.principal import Principal, Role
from shared.auth.session import Sessions
from shared.auth.tokens import InvalidToken, TokenVerifier
from shared.http import Problem
from shared.network import NetworkFile
from shared.telemetry import ORG, USER_ID, tag_current_span

_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    token = credentials.credentials if credentials else None
    # A bearer header wins; a service that signs people in to its pages also takes its session cookie.
    sessions: Sessions | None = getattr(request.app.state, "sessions", None)
    if token is None and sessions is not None:
        token = sessions.token_of(request)
    if token is None:
        raise _unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = await verifier.verify(token)
    except InvalidToken as exc:
        raise _unauthorized(f"invalid token: {exc}") from exc
    except KeysUnavailable as exc:
        # Not 401: the token may well be valid, and a client told it is not would sign in again to no
        # avail. An outage of ours, like the database's: retry (an HTTPException, for the header; it is
        # answered as problem details all the same).
        raise HTTPException(
            503,
            "the identity provider cannot be reached to check the token",
            {"retry-after": str(exc.retry_after)},
        ) from exc
    network: NetworkFile = request.app.state.network
    if network.get().organization(principal.org) is None:
        raise Problem(403, "Forbidden", "your organization is not part of this network")
    tag_current_span({ORG: principal.org, USER_ID: principal.sub})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers holding any of `roles`."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise Problem(403, "Forbidden", f"requires one of the roles: {', '.join(roles)}")
        return principal

    return check
