"""A local signing key for development and tests; production uses an OIDC provider's JWKS."""

import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.auth.principal import Role

DEV_ISSUER = "recovery-network-dev"
AUDIENCE = "recovery-network"


def ensure_keypair(directory: Path) -> tuple[Path, Path]:
    """Create `dev-signing.pem` and `dev-signing.pub.pem` once; later calls reuse them."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / "dev-signing.pem", directory / "dev-signing.pub.pem"
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        private.chmod(0o600)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


def mint_token(
    private_key_file: Path,
    *,
    sub: str,
    org: str,
    roles: list[Role],
    regions: list[str] | None = None,
    ttl_seconds: int = 12 * 3600,
    issuer: str = DEV_ISSUER,
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": sub,
        "org": org,
        "roles": [str(r) for r in roles],
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if regions:
        claims["regions"] = regions
    return jwt.encode(claims, private_key_file.read_text(), algorithm="ES256")
