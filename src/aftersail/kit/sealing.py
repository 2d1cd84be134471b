"""Secrets a tenant gives AfterSail (a model provider's API key) kept sealed at rest: AES-256-GCM under a
key derived from the server's secret key, so a database dump or a backup does not carry them readable.
A sealed value names its scheme (`sealed:v1:`); the tenant id is bound in as associated data, so a value
copied into another tenant's row does not open there."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
_NONCE = 12


class SealBroken(ValueError):
    """The value was not sealed with this server's secret key for this tenant (or was altered)."""


class Sealer:
    def __init__(self, secret_key: str) -> None:
        key = hashlib.sha256(b"aftersail.tenant-secrets\x00" + secret_key.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, value: str, *, tenant_id: int) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, value.encode(), _bound(tenant_id))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, value: str, *, tenant_id: int) -> str:
        """The secret; a value stored before sealing existed (no prefix) is returned as it is."""
        if not is_sealed(value):
            return value
        try:
            raw = base64.urlsafe_b64decode(value[len(PREFIX) :].encode())
            opened = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _bound(tenant_id))
        except (InvalidTag, ValueError) as error:
            raise SealBroken("the stored secret cannot be opened with this server's secret key") from error
        return opened.decode()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def _bound(tenant_id: int) -> bytes:
    return f"tenant:{tenant_id}".encode()
