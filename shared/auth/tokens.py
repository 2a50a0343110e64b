"""Verifying bearer tokens (RS256/ES256) against a JWKS or a local public key."""

import asyncio
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWKClient

from shared.auth.principal import Principal, Role

ALGORITHMS = ["ES256", "RS256"]


class InvalidToken(Exception):
    """The token is missing, expired, badly signed, or lacks the claims we need."""


class TokenVerifier:
    def __init__(
        self, *, issuer: str, audience: str, jwks_url: str | None = None, public_key_file: Path | None = None
    ) -> None:
        if not jwks_url and not public_key_file:
            raise ValueError("a JWKS URL or a public key file is required")
        self._issuer = issuer
        self._audience = audience
        self._jwks = PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        # Parsed once: PyJWT parses a PEM text again for every token (1.5% of crisis's CPU under load).
        self._key = None
        if public_key_file and not jwks_url:
            self._key = load_pem_public_key(public_key_file.read_bytes())

    def verify(self, token: str) -> Principal:
        """For code outside the event loop; on it, `verify_async` (a JWKS may have to be fetched)."""
        if self._jwks is None:
            return self._decode(token, self._key, _algorithm_of(self._key))
        try:
            jwk = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return self._decode(token, jwk.key, jwk.algorithm_name)

    async def verify_async(self, token: str) -> Principal:
        if self._jwks is None:
            return self.verify(token)
        # PyJWKClient fetches the key set over HTTP when its cache is stale: not on the event loop,
        # where it would stall every request of the service until the identity provider answers.
        try:
            jwk = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return self._decode(token, jwk.key, jwk.algorithm_name)

    def _decode(self, token: str, key: Any, algorithm: str) -> Principal:
        try:
            # Only the key's own algorithm: a token naming another one is refused by PyJWT as invalid,
            # where letting it through made PyJWT misread our key (a TypeError, and a 500).
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm] if algorithm in ALGORITHMS else [],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        return principal_from_claims(claims)


def _algorithm_of(key: object) -> str:
    if isinstance(key, EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, RSAPublicKey):
        return "RS256"
    raise ValueError(f"the public key file holds a {type(key).__name__}: use an EC P-256 or RSA key")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    org, roles = claims.get("org"), claims.get("roles")
    if not isinstance(org, str) or not org:
        raise InvalidToken("token has no organization")
    if not isinstance(roles, list):
        raise InvalidToken("token has no roles")
    try:
        parsed = frozenset(Role(r) for r in roles)
    except ValueError as exc:
        raise InvalidToken(f"unknown role: {exc}") from exc
    regions = claims.get("regions") or []
    return Principal(sub=str(claims["sub"]), org=org, roles=parsed, regions=frozenset(map(str, regions)))
