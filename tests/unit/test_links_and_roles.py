import time

import pytest

from aftersail.kit.errors import PermissionDenied, Unauthenticated
from aftersail.kit.pagination import decode_cursor, encode_cursor
from aftersail.tenants.links import BuyerGrant, BuyerLinkSigner, LinkScope
from aftersail.tenants.models import Role
from aftersail.tenants.rules import Permission, role_allows


def test_buyer_link_round_trip() -> None:
    signer = BuyerLinkSigner("secret-one", max_age_seconds=60)
    grant = BuyerGrant(tenant_id=3, scope=LinkScope.ORDER, object_id=42)
    assert signer.verify(signer.sign(grant), LinkScope.ORDER) == grant


def test_buyer_link_is_scoped_to_its_kind() -> None:
    signer = BuyerLinkSigner("secret-one", max_age_seconds=60)
    token = signer.sign(BuyerGrant(3, LinkScope.ORDER, 42))
    with pytest.raises(PermissionDenied, match="for a order, not a return"):
        signer.verify(token, LinkScope.RETURN)


def test_tampered_or_foreign_links_are_refused() -> None:
    token = BuyerLinkSigner("secret-one", 60).sign(BuyerGrant(3, LinkScope.ORDER, 42))
    with pytest.raises(Unauthenticated, match="not valid"):
        BuyerLinkSigner("secret-two", 60).verify(token)
    with pytest.raises(Unauthenticated, match="not valid"):
        BuyerLinkSigner("secret-one", 60).verify(token[:-2] + "xx")


def test_expired_links_are_refused() -> None:
    signer = BuyerLinkSigner("secret-one", max_age_seconds=1)
    token = signer.sign(BuyerGrant(3, LinkScope.TICKET, 7))
    time.sleep(2.1)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.ADMIN, Permission.MANAGE_TENANT, True),
        (Role.AGENT, Permission.WRITE_ORDERS, True),
        (Role.AGENT, Permission.WRITE_STOCK, False),
        (Role.WAREHOUSE, Permission.WRITE_STOCK, True),
        (Role.WAREHOUSE, Permission.WRITE_ORDERS, False),
        (Role.VIEWER, Permission.READ, True),
        (Role.VIEWER, Permission.WRITE_CUSTOMERS, False),
    ],
)
def test_role_matrix(role: Role, permission: Permission, allowed: bool) -> None:
    assert role_allows(role, permission) is allowed


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    with pytest.raises(Exception, match="cursor"):
        decode_cursor("not-a-cursor")


def test_cursor_beyond_a_bigint_is_refused() -> None:
    import base64

    forged = base64.urlsafe_b64encode(f"id:{2**63}".encode()).decode().rstrip("=")
    with pytest.raises(Exception, match="cursor"):
        decode_cursor(forged)
