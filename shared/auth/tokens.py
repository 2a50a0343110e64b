"""Verifying bearer tokens (RS256/ES256) against a JWKS or a local public key."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from shared.auth.jwks import JwksCache, UnknownKey
from shared.auth.principal import Principal, Role

ALGORITHMS = ["ES256", "RS256"]


class InvalidToken(Exception):
    """The token is missing, expired, badly signed, or lacks the claims we need."""


class TokenVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: JwksCache | None = None,
        public_key_file: Path | None = None,
    ) -> None:
        if jwks is None and public_key_file is None:
            raise ValueError("a JWKS or a public key file is required")
        self._issuer = issuer
        self._audience = audience
        self._jwks = jwks
        # Parsed once: PyJWT parses a PEM text again for every token (1.5% of crisis's CPU under load).
        self._key = None
        if public_key_file and jwks is None:
            self._key = load_pem_public_key(public_key_file.read_bytes())

    async def verify(self, token: str) -> Principal:
        """The caller the token names. Raises InvalidToken, or KeysUnavailable (shared.auth.jwks) when the
        identity provider is down and no cached key fits the token."""
        if self._jwks is None:
            return self._decode(token, self._key, _algorithm_of(self._key))
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the token's key id is not a string")
        try:
            jwk = await self._jwks.key(kid)
        except UnknownKey as exc:
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
    exp = claims.get("exp")
    return Principal(
        sub=str(claims["sub"]),
        org=org,
        roles=parsed,
        regions=frozenset(map(str, regions)),
        expires_at=datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None,
    )
