"""Signed, expiring buyer links, each scoped to one order, ticket or return of one tenant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from aftersail.kit.errors import PermissionDenied, Unauthenticated

SALT = "aftersail.buyer-link.v1"


class LinkScope(StrEnum):
    ORDER = "order"
    TICKET = "ticket"
    RETURN = "return"
    CUSTOMER = "customer"  # a buyer's own chat: every conversation of one customer
    CALL = "call"  # a video inspection call (its own expiry is the call's)


@dataclass(frozen=True, slots=True)
class BuyerGrant:
    tenant_id: int
    scope: LinkScope
    object_id: int


class BuyerLinkSigner:
    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age_seconds = max_age_seconds

    def sign(self, grant: BuyerGrant) -> str:
        return self._serializer.dumps([grant.tenant_id, grant.scope.value, grant.object_id])

    def verify(self, token: str, expected_scope: LinkScope | None = None) -> BuyerGrant:
        try:
            tenant_id, scope, object_id = self._serializer.loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as exc:
            raise Unauthenticated("This link has expired; ask for a new one.") from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise Unauthenticated("This link is not valid.") from exc
        grant = BuyerGrant(int(tenant_id), LinkScope(scope), int(object_id))
        if expected_scope is not None and grant.scope is not expected_scope:
            raise PermissionDenied(f"This link is for a {grant.scope.value}, not a {expected_scope.value}.")
        return grant
