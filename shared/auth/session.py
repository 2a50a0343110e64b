"""Signed-in pages: the caller's token in an HTTP-only cookie, and a CSRF token for every change.

A page served by a service (the crisis console) never holds a token a script could read: the
service that signs the person in sets the token as an HTTP-only, same-site cookie, and the routes of
that service accept it in place of a bearer header. Because a browser attaches cookies by itself, a
request that changes something must also carry `X-CSRF-Token`, a value only the page can know (an
HMAC of the session's token, handed to the page by the service).
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

from shared.http import Problem

SESSION_COOKIE = "rn_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Sessions:
    """A service's session cookies: `secret` keys the CSRF tokens; `secure` marks cookies https-only."""

    secret: bytes
    secure: bool

    def csrf_token(self, token: str) -> str:
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()

    def token_of(self, request: Request) -> str | None:
        """The session's token, if the request carries one; refuses (403) a change without its CSRF token."""
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent, self.csrf_token(token)):
                raise Problem(
                    403, "Forbidden", f"a change made with a session cookie needs the {CSRF_HEADER} header"
                )
        return token

    def start(self, response: Response, token: str, expires_at: datetime) -> None:
        # Strict: no other site can make the browser send it, not even by a link.
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=max(0, int((expires_at - datetime.now(UTC)).total_seconds())),
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.secure, httponly=True, samesite="strict")

    def seal(self, value: str) -> str:
        """Encrypted and authenticated: a cookie only this service reads (OIDC state, refresh token)."""
        return self._fernet().encrypt(value.encode()).decode()

    def open(self, sealed: str, max_age_seconds: int) -> str | None:
        try:
            return self._fernet().decrypt(sealed.encode(), ttl=max_age_seconds).decode()
        except (InvalidToken, ValueError):
            return None

    def _fernet(self) -> Fernet:
        # Its own key, derived from the secret: a CSRF token can never open a sealed cookie.
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"sealed-cookie:" + self.secret).digest()))
