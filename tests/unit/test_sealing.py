"""Tenant secrets sealed at rest: they open with the same server key for the same tenant, not otherwise."""

from __future__ import annotations

import pytest

from aftersail.kit.sealing import PREFIX, SealBroken, Sealer, is_sealed


def test_a_sealed_secret_opens_for_its_tenant_with_the_servers_key() -> None:
    sealer = Sealer("a-server-secret-key-long-enough-for-tests")
    sealed = sealer.seal("sk-live-123", tenant_id=7)
    assert sealed.startswith(PREFIX) and "sk-live-123" not in sealed and is_sealed(sealed)
    assert sealer.open(sealed, tenant_id=7) == "sk-live-123"
    assert sealer.seal("sk-live-123", tenant_id=7) != sealed, "a fresh nonce every time"


def test_another_tenant_another_key_or_an_altered_value_does_not_open() -> None:
    sealer = Sealer("a-server-secret-key-long-enough-for-tests")
    sealed = sealer.seal("sk-live-123", tenant_id=7)
    with pytest.raises(SealBroken):
        sealer.open(sealed, tenant_id=8)  # copied into another tenant's row
    with pytest.raises(SealBroken):
        Sealer("another-server-secret-key-long-enough").open(sealed, tenant_id=7)
    flipped = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(SealBroken):
        sealer.open(flipped, tenant_id=7)
    with pytest.raises(SealBroken):
        sealer.open(PREFIX + "not base64 at all!", tenant_id=7)


def test_a_value_stored_before_sealing_is_read_as_it_is() -> None:
    assert Sealer("k" * 40).open("plain-old-key", tenant_id=1) == "plain-old-key"
