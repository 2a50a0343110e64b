"""The identity provider's signing keys (a JWKS), fetched without blocking the event loop, and cached.

A request whose key is in the cache never waits for the provider: a set older than `max_age` is
refreshed in the background while the cached keys go on serving. A key id the cache does not know
(the provider rotated its keys) waits for the one fetch that can tell, but there is at most one fetch
per `refetch_interval`, shared by every request waiting for it: tokens with made-up key ids cannot turn
a service into a flood against its provider. When the provider fails, the keys it gave last keep serving.
"""

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable

import httpx
import jwt

log = logging.getLogger(__name__)

# Long enough for a slow provider; short enough that requests waiting on a new key id get an answer
# before their clients give up.
FETCH_TIMEOUT_SECONDS = 5.0


class UnknownKey(Exception):
    """The provider's key set, as recently fetched as we allow, has no key for the token."""


class KeysUnavailable(Exception):
    """The provider cannot be reached and no cached key fits the token: nobody can tell if it is valid."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the identity provider's signing keys cannot be fetched")
        self.retry_after = retry_after


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        max_age: float,
        refetch_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._max_age = max_age
        self._refetch_interval = refetch_interval
        self._clock = clock
        # Made here, when the app is built: loading the trust store reads files, which a fetch on the
        # event loop must not do (a client made per fetch would load it every time).
        self._tls = ssl.create_default_context()
        self._keys: list[jwt.PyJWK] = []
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._failed = False
        self._fetch: asyncio.Task[None] | None = None

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key `kid` names; with no `kid`, the set's only key.

        Raises UnknownKey, or KeysUnavailable when the provider is down and no cached key fits.
        """
        found = self._find(kid)
        if found is not None:
            if (
                self._clock() - self._fetched_at >= self._max_age
                and self._fetch is None
                and self._may_fetch()
            ):
                self._start_fetch()  # for the requests after this one
            return found
        fetch = self._fetch or (self._start_fetch() if self._may_fetch() else None)
        if fetch is not None:
            # Shielded: a caller that goes away must not cancel the fetch the others are waiting for.
            await asyncio.shield(fetch)
            found = self._find(kid)
            if found is not None:
                return found
        if self._failed:
            raise KeysUnavailable(self._retry_after())
        raise UnknownKey("no key for the token's key id" if kid else "the token names no key id")

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # A provider with one key may leave the key id out of its tokens.
            return self._keys[0] if len(self._keys) == 1 else None
        return next((k for k in self._keys if k.key_id == kid), None)

    def _may_fetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._refetch_interval

    def _retry_after(self) -> int:
        waited = self._clock() - (self._attempted_at or 0.0)
        return max(1, math.ceil(self._refetch_interval - waited))

    def _start_fetch(self) -> asyncio.Task[None]:
        self._attempted_at = self._clock()
        self._fetch = asyncio.create_task(self._refresh())
        return self._fetch

    async def _refresh(self) -> None:
        try:
            keys = await self._download()
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            self._failed = True
            # The provider's URL and what went wrong: a key set holds no personal data, and neither does this.
            log.warning(
                "JWKS fetch from %s failed (%s: %s); %d cached keys go on serving",
                self._url,
                type(exc).__name__,
                exc,
                len(self._keys),
            )
        else:
            # Replaced, not merged: a key the provider withdrew stops verifying tokens.
            self._keys, self._fetched_at, self._failed = keys, self._clock(), False
        finally:
            self._fetch = None

    async def _download(self) -> list[jwt.PyJWK]:
        async with httpx.AsyncClient(
            verify=self._tls, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=True
        ) as client:
            response = await client.get(self._url, headers={"accept": "application/json"})
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("the key set is not a JSON object")
        # PyJWKSet skips keys it cannot use, and refuses a set left with none.
        keys = [k for k in jwt.PyJWKSet.from_dict(body).keys if k.public_key_use != "enc"]
        if not keys:
            raise ValueError("the key set has no signing keys")
        return keys
