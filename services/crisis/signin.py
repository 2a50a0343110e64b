"""Signing a responder in to the console, and keeping them signed in.

Production: OpenID Connect (authorization code with PKCE) against the configured provider; the
provider's token, verified like any bearer token, becomes an HTTP-only session cookie, and its
refresh token (sealed, in a cookie only the renewal route receives) renews it. Development: a page
that lists the demo users and mints their tokens with the development key; it does not exist in
production (settings refuse it).
"""

import json
from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from services.crisis.settings import Settings
from shared.auth.devkeys import mint_token
from shared.auth.fastapi import CurrentPrincipal
from shared.auth.jwks import KeysUnavailable
from shared.auth.oidc import OidcClient, ProviderUnavailable, SignInFailed
from shared.auth.principal import Principal, Role
from shared.auth.session import SESSION_COOKIE, Sessions
from shared.auth.tokens import InvalidToken, TokenVerifier
from shared.http import NotFound, Problem

router = APIRouter(tags=["console"])

CONSOLE = "/crisis/console"
OIDC_COOKIE = "rn_oidc"  # the state and PKCE verifier of a sign-in on its way through the provider
REFRESH_COOKIE = "rn_refresh"
OIDC_COOKIE_SECONDS = 600
REFRESH_COOKIE_SECONDS = 30 * 24 * 3600
RETRY_AFTER_SECONDS = 5
CONSOLE_ROLES = {Role.RESPONDER, Role.COORDINATOR, Role.ORG_ADMIN, Role.REGIONAL_RESPONDER}
NextPath = Annotated[str, Query(alias="next", max_length=200)]


class SessionPublic(BaseModel):
    sub: str
    org: str
    roles: list[str]
    regions: list[str]
    expires_at: datetime | None
    csrf_token: str
    renewable: bool


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _oidc(request: Request) -> OidcClient | None:
    return request.app.state.oidc  # type: ignore[no-any-return]


def _safe_next(path: str) -> str:
    """Only a page of this service: a sign-in must never send the browser to another site."""
    return path if path.startswith("/crisis/") and not path.startswith("//") else CONSOLE


def _demo_users(settings: Settings) -> list[dict[str, Any]]:
    assert settings.demo_users_file is not None
    users: list[dict[str, Any]] = json.loads(settings.demo_users_file.read_text())
    return [u for u in users if CONSOLE_ROLES.intersection(Role(r) for r in u["roles"])]


def _mint(settings: Settings, user: dict[str, Any]) -> str:
    assert settings.dev_signing_key_file is not None
    return mint_token(
        settings.dev_signing_key_file,
        sub=user["sub"],
        org=user["org"],
        roles=[Role(r) for r in user["roles"]],
        regions=user.get("regions") or [],
        ttl_seconds=round(settings.console_session_minutes * 60),
    )


async def _start(request: Request, response: Response, token: str) -> Principal:
    """Verify the token like any bearer token and make it the session."""
    principal = await _verified(request, token)
    _sessions(request).start(response, token, principal.expires_at or datetime.now(UTC))
    return principal


async def _verified(request: Request, token: str) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise Problem(401, "Unauthorized", f"the token is not accepted: {exc}") from exc
    except KeysUnavailable as exc:
        raise _unavailable("the identity provider's keys cannot be read", exc.retry_after) from exc


def _unavailable(detail: str, retry_after: float = RETRY_AFTER_SECONDS) -> HTTPException:
    # Not 401: nobody was refused. The page keeps its session and tries again (an HTTPException, for the
    # header; it is answered as problem details all the same).
    return HTTPException(503, detail, {"retry-after": str(int(retry_after))})


def _public(request: Request, principal: Principal, token: str) -> SessionPublic:
    settings = _settings(request)
    renewable = settings.console_renewal and (
        settings.demo_sign_in or (REFRESH_COOKIE in request.cookies and _oidc(request) is not None)
    )
    return SessionPublic(
        sub=principal.sub,
        org=principal.org,
        roles=sorted(principal.roles),
        regions=sorted(principal.regions),
        expires_at=principal.expires_at,
        csrf_token=_sessions(request).csrf_token(token),
        renewable=renewable,
    )


@router.get("/crisis/console/sign-in", response_class=HTMLResponse, include_in_schema=False)
async def read_sign_in(request: Request, next_path: NextPath = CONSOLE) -> Response:
    """The demo users to sign in as (development), or the way to the identity provider (production)."""
    settings, target = _settings(request), _safe_next(next_path)
    if _oidc(request) is not None:
        return RedirectResponse(f"/crisis/console/oidc/login?{urlencode({'next': target})}", 303)
    if not settings.demo_sign_in:
        raise NotFound("sign-in (no identity provider is configured)")
    buttons = "".join(
        f'<li><button name="user" value="{escape(u["sub"])}">{escape(u.get("label") or u["sub"])}'
        f"<small>{escape(u['sub'])} · {escape(u['org'])}</small></button></li>"
        for u in _demo_users(settings)
    )
    return HTMLResponse(
        SIGN_IN_PAGE.format(next=escape(target), buttons=buttons), headers={"Cache-Control": "no-store"}
    )


@router.post("/crisis/console/sign-in", include_in_schema=False)
async def create_demo_session(
    request: Request,
    user: Annotated[str, Form(max_length=64)],
    next_path: Annotated[str, Form(alias="next", max_length=200)] = CONSOLE,
) -> Response:
    """Sign in as a demo user (development only)."""
    settings = _settings(request)
    if not settings.demo_sign_in:
        raise NotFound("sign-in")
    chosen = _demo_user(settings, user)
    if chosen is None:
        raise Problem(422, "Unknown user", "not one of the demo users who work cases")
    response = RedirectResponse(_safe_next(next_path), 303)
    await _start(request, response, _mint(settings, chosen))
    _keep_refresh_token(response, _sessions(request), {})
    return response


@router.get("/crisis/console/oidc/login", include_in_schema=False)
async def start_oidc_sign_in(request: Request, next_path: NextPath = CONSOLE) -> Response:
    """Send the browser to the identity provider (authorization code with PKCE)."""
    oidc = _oidc(request)
    if oidc is None:
        raise NotFound("sign-in with an identity provider")
    try:
        url, state, verifier = await oidc.authorization_url()
    except SignInFailed as exc:
        raise _unavailable(str(exc)) from exc
    response = RedirectResponse(url, 303)
    pending = json.dumps({"state": state, "verifier": verifier, "next": _safe_next(next_path)})
    # Lax, not strict: the provider's redirect back is a navigation from its site, and must carry it.
    response.set_cookie(
        OIDC_COOKIE, _sessions(request).seal(pending), max_age=OIDC_COOKIE_SECONDS,
        path="/crisis/console/oidc", secure=_sessions(request).secure, httponly=True, samesite="lax",
    )  # fmt: skip
    return response


@router.get("/crisis/console/oidc/callback", include_in_schema=False)
async def finish_oidc_sign_in(
    request: Request,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The provider sends the browser back here with a code; it becomes the session."""
    oidc, sessions = _oidc(request), _sessions(request)
    if oidc is None:
        raise NotFound("sign-in with an identity provider")
    if error:
        raise Problem(401, "Sign-in refused", f"the identity provider answered: {error}")
    sealed = request.cookies.get(OIDC_COOKIE)
    pending = (
        json.loads(opened) if sealed and (opened := sessions.open(sealed, OIDC_COOKIE_SECONDS)) else None
    )
    if pending is None or not code or state != pending["state"]:
        raise Problem(400, "Sign-in expired", "start signing in again from the console")
    try:
        tokens = await oidc.exchange(code, pending["verifier"])
    except ProviderUnavailable as exc:
        raise _unavailable(str(exc)) from exc
    except SignInFailed as exc:
        raise Problem(401, "Sign-in refused", str(exc)) from exc
    response = RedirectResponse(pending["next"], 303)
    await _start(request, response, _session_token(tokens))
    response.delete_cookie(OIDC_COOKIE, path="/crisis/console/oidc")
    _keep_refresh_token(response, sessions, tokens)
    return response


def _session_token(tokens: dict[str, Any]) -> str:
    token = tokens.get("access_token")
    if not isinstance(token, str):
        raise Problem(401, "Sign-in refused", "the identity provider gave no token the services accept")
    return token


def _keep_refresh_token(response: Response, sessions: Sessions, tokens: dict[str, Any]) -> None:
    """The new refresh token, or none: an older one (someone else's, on a shared machine) never stays."""
    refresh = tokens.get("refresh_token")
    if not isinstance(refresh, str):
        response.delete_cookie(REFRESH_COOKIE, path="/crisis/console/session")
    else:
        response.set_cookie(
            REFRESH_COOKIE, sessions.seal(refresh), max_age=REFRESH_COOKIE_SECONDS,
            path="/crisis/console/session", secure=sessions.secure, httponly=True, samesite="strict",
        )  # fmt: skip


@router.get("/crisis/console/session")
async def read_session(request: Request, caller: CurrentPrincipal) -> SessionPublic:
    """Who is signed in, until when, and the CSRF token their page sends with every change."""
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        raise Problem(401, "Unauthorized", "no console session: sign in")
    return _public(request, caller, token)


# Routes that read the session cookie themselves: their refusals, documented like every route's.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in, or the session cannot be renewed: sign in again"},
    403: {"description": "the X-CSRF-Token header is missing or wrong"},
    503: {"description": "the identity provider cannot be reached: the session stands, try again shortly"},
}


@router.post("/crisis/console/session/renew", responses=REFUSALS)
async def renew_session(request: Request, response: Response) -> SessionPublic:
    """A fresh token before the current one expires; 401 when the person must sign in again."""
    settings, sessions = _settings(request), _sessions(request)
    # Only a session still valid is renewed, and only by its page (the CSRF token): a page renews
    # before the end, so an expired or stolen cookie never turns into a fresh one.
    token = sessions.token_of(request)
    if token is None or not settings.console_renewal:
        raise Problem(401, "Unauthorized", "sign in again")
    current = await _verified(request, token)
    oidc, sealed = _oidc(request), request.cookies.get(REFRESH_COOKIE)
    if oidc is not None and sealed and (refresh := sessions.open(sealed, REFRESH_COOKIE_SECONDS)):
        try:
            tokens = await oidc.refresh(refresh)
        except ProviderUnavailable as exc:
            raise _unavailable(str(exc)) from exc
        except SignInFailed as exc:
            raise Problem(401, "Unauthorized", f"sign in again: {exc}") from exc
        fresh = _session_token(tokens)
        if "refresh_token" in tokens:  # a provider that does not rotate them keeps the one it gave
            _keep_refresh_token(response, sessions, tokens)
    elif settings.demo_sign_in and (user := _demo_user(settings, current.sub)):
        fresh = _mint(settings, user)
    else:
        raise Problem(401, "Unauthorized", "sign in again")
    renewed = await _start(request, response, fresh)  # raising below, the cookie it set is not sent
    if (renewed.sub, renewed.org) != (current.sub, current.org):  # a refresh cookie left by someone else
        raise Problem(401, "Unauthorized", "sign in again")
    return _public(request, renewed, fresh)


def _demo_user(settings: Settings, sub: str) -> dict[str, Any] | None:
    return next((u for u in _demo_users(settings) if u["sub"] == sub), None)


@router.post("/crisis/console/sign-out", status_code=204, responses=REFUSALS)
async def delete_session(request: Request, response: Response) -> None:
    """Sign out: the session and refresh cookies are cleared."""
    _sessions(request).token_of(request)  # a cross-site form cannot sign a responder out mid-shift
    _sessions(request).end(response)
    response.delete_cookie(REFRESH_COOKIE, path="/crisis/console/session")


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Crisis console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2433; }}
header {{ background: #8b1e2d; color: #fff; padding: .8rem 1.2rem; }}
h1 {{ font-size: 1.2rem; margin: 0; }}
main {{ max-width: 34rem; margin: 1.5rem auto; padding: 0 1rem; }}
ul {{ list-style: none; padding: 0; }}
button {{ display: block; width: 100%; min-height: 48px; margin: .4rem 0; padding: .6rem .9rem;
  text-align: left; font: inherit; background: #fff; border: 2px solid #8b1e2d; border-radius: .4rem;
  cursor: pointer; }}
button:focus-visible, button:hover {{ outline: 3px solid #1d4ed8; outline-offset: 2px; }}
small {{ display: block; color: #4a5060; }}
</style></head>
<body><header><h1>Crisis console: sign in</h1></header>
<main><p>Development only: choose a demo user. In production this page sends you to your
organization's identity provider.</p>
<form method="post" action="/crisis/console/sign-in"><input type="hidden" name="next" value="{next}">
<ul>{buttons}</ul></form></main></body></html>
"""
