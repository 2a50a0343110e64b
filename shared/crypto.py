"""Encryption at rest for free text about a person: AES-256-GCM with one key per organization.

Each organization's key is derived from the master key (HKDF-SHA256, the org id as context), so
a key is never shared between organizations and rotating the master key rotates them all. The
organization and the record id are bound in as associated data: a ciphertext copied onto another
record, or into another organization, does not decrypt.
"""

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the master key needs at least 32 bytes")
        self._master = master_key

    def _key(self, org: str) -> AESGCM:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rn-notes:" + org.encode())
        return AESGCM(hkdf.derive(self._master))

    def seal(self, org: str, record_id: str, text: str) -> str:
        nonce = os.urandom(12)
        sealed = self._key(org).encrypt(nonce, text.encode(), f"{org}/{record_id}".encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, org: str, record_id: str, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        return self._key(org).decrypt(raw[:12], raw[12:], f"{org}/{record_id}".encode()).decode()
