"""Signing a person in with OpenID Connect: authorization code with PKCE, through Authlib.

The provider is found by discovery (`<issuer>/.well-known/openid-configuration`), read once per
process. The tokens it returns are verified by the service's own TokenVerifier (the provider's JWKS),
like any bearer token, before they become a session.
"""

import warnings
from dataclasses import dataclass, field
from typing import Any

import authlib.deprecate  # noqa: F401  (it sets its warnings to "always" when imported: first, then ours)
import httpx
from authlib.common.security import generate_token

with warnings.catch_warnings():
    # Authlib would rather use the httpx2 fork; httpx, which every service already uses, still works
    # and is what it falls back to. Without this, every crisis process prints the warning at start.
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import AsyncOAuth2Client


ENDPOINTS = {"authorization_endpoint", "token_endpoint"}


class SignInFailed(Exception):
    """The provider refused the code or the refresh token."""


class ProviderUnavailable(SignInFailed):
    """The provider cannot be reached, or answers nonsense: nobody was refused, try again shortly."""


@dataclass
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    redirect_uri: str
    _metadata: dict[str, Any] | None = field(default=None, repr=False)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    answer = await http.get(url)
                    answer.raise_for_status()
                metadata = answer.json()
                if not isinstance(metadata, dict) or not ENDPOINTS <= metadata.keys():
                    raise ValueError("it names no authorization and token endpoints")
            except (httpx.HTTPError, ValueError) as exc:
                raise ProviderUnavailable(
                    f"the provider's discovery document cannot be read: {exc!r}"
                ) from exc
            self._metadata = metadata
        return self._metadata

    def _client(self, scope: str | None = None) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            # A public client (no secret) authenticates at the token endpoint by PKCE alone.
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            timeout=10,
        )

    async def authorization_url(self) -> tuple[str, str, str]:
        """Where to send the browser, with the state and the PKCE verifier to keep until it returns."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        verifier = generate_token(64)
        async with self._client(self.scopes) as client:
            url, state = client.create_authorization_url(endpoint, code_verifier=verifier)
        return url, state, verifier

    async def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        return await self._token(code=code, code_verifier=verifier, grant_type="authorization_code")

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._token(refresh_token=refresh_token, grant_type="refresh_token")

    async def _token(self, **params: str) -> dict[str, Any]:
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            # No scope here: Authlib would send the requested scopes with a refresh, and a provider that
            # granted fewer (offline_access dropped, say) refuses it (invalid_scope); without one, a
            # refresh gets what was granted (RFC 6749 section 6).
            async with self._client() as client:
                token = await client.fetch_token(endpoint, **params)
        except httpx.HTTPStatusError as exc:  # a server error or "too many requests" is an outage too
            if exc.response.status_code >= 500 or exc.response.status_code == 429:
                raise ProviderUnavailable(f"the provider answered {exc.response.status_code}") from exc
            raise SignInFailed(f"the identity provider refused: {exc.response.status_code}") from exc
        except httpx.TransportError as exc:  # a refusal is an answer; no answer is an outage
            raise ProviderUnavailable(
                f"the identity provider cannot be reached: {type(exc).__name__}"
            ) from exc
        except Exception as exc:  # Authlib raises its own errors (invalid_grant ...) and httpx's
            raise SignInFailed(f"the identity provider refused: {type(exc).__name__}: {exc}") from exc
        return dict(token)
