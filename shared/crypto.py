"""Encryption at rest for free text about a person: AES-256-GCM with one key per organization.

Each organization's key is derived from a master key (HKDF-SHA256, the org id as context), so a
key is never shared between organizations. The organization and the record id are bound in as
associated data: a ciphertext copied onto another record, or into another organization, does not
decrypt.

Master keys rotate, so there is a keyring of them, each with a version (1, 2, ...); one of them,
the current one, seals new values, and every version still in the ring opens old ones. A sealed
value names the version that sealed it:

    v<version>:<base64 of the 12-byte nonce followed by the ciphertext and tag>

e.g. `v2:q83v...`. Values sealed before keys had versions carry no prefix and are version 1
(base64 has no `:`, so the two forms cannot be confused). Retiring a key (dropping it from the
ring) is safe once every value it sealed has been sealed again with the current key
(`python -m services.crisis.reencrypt`); a value sealed with a retired key raises `RetiredKey`.
"""

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LEGACY_VERSION = 1  # what a value without a version prefix was sealed with
MIN_KEY_BYTES = 32


class RetiredKey(Exception):
    """A value sealed with a key version the keyring does not hold."""

    def __init__(self, version: int, held: list[int]) -> None:
        held_text = ", ".join(label(v) for v in held)
        super().__init__(
            f"this value was sealed with key {label(version)}, which is not in the keyring "
            f"(it holds {held_text}): the key was retired before its values were re-encrypted"
        )
        self.version = version


def label(version: int) -> str:
    return f"v{version}"


def parse_version(text: str) -> int:
    """`v2` (or `2`) -> 2."""
    digits = text.strip().removeprefix("v")
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"a key version is v1, v2, ...; got {text.strip()!r}")
    return int(digits)


def parse_keys(text: str) -> dict[int, bytes]:
    """`v2:<base64>,v1:<base64>` -> {2: key, 1: key}. Errors name the entry's version, never its key."""
    keys: dict[int, bytes] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, encoded = entry.partition(":")
        if not sep:
            raise ValueError("each key is written <version>:<base64>, e.g. v2:<base64>")
        version = parse_version(name)
        if version in keys:
            raise ValueError(f"key {label(version)} is given twice")
        try:
            keys[version] = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"key {label(version)} is not valid base64") from None
    return keys


def version_of(sealed: str) -> int:
    name, sep, _ = sealed.partition(":")
    return parse_version(name) if sep else LEGACY_VERSION


class Sealer:
    """Seals with the current key of the ring, opens with whichever key sealed the value.

    `Sealer(master_key)` is a ring of one key, version 1: what there was before keys rotated.
    """

    def __init__(self, keys: Mapping[int, bytes] | bytes, current: int | None = None) -> None:
        ring = {LEGACY_VERSION: keys} if isinstance(keys, bytes) else dict(keys)
        if not ring:
            raise ValueError("the keyring is empty")
        for version, key in ring.items():
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"master key {label(version)} needs at least {MIN_KEY_BYTES} bytes")
        self.current = max(ring) if current is None else current
        if self.current not in ring:
            raise ValueError(f"the current key {label(self.current)} is not in the keyring")
        self._ring = ring

    @property
    def versions(self) -> list[int]:
        return sorted(self._ring)

    def _key(self, version: int, org: str) -> AESGCM:
        master = self._ring.get(version)
        if master is None:
            raise RetiredKey(version, self.versions)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rn-notes:" + org.encode())
        return AESGCM(hkdf.derive(master))

    def seal(self, org: str, record_id: str, text: str) -> str:
        nonce = os.urandom(12)
        sealed = self._key(self.current, org).encrypt(nonce, text.encode(), f"{org}/{record_id}".encode())
        return f"{label(self.current)}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, org: str, record_id: str, sealed: str) -> str:
        """Raises RetiredKey for a version not in the ring, InvalidTag for a value that is not genuine."""
        version = version_of(sealed)
        raw = base64.b64decode(sealed.partition(":")[2] if ":" in sealed else sealed)
        return self._key(version, org).decrypt(raw[:12], raw[12:], f"{org}/{record_id}".encode()).decode()

    def is_current(self, sealed: str) -> bool:
        return version_of(sealed) == self.current
