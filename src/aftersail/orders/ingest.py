"""Orders arriving from outside, each placed exactly once however often it is sent: web-shop webhooks
(Shopify `orders/create`) here; REST creates with an `Idempotency-Key` go through the group-commit intake
(`orders.intake`, which claims keys the same way for a whole batch).

A key is claimed by inserting its `idempotency_keys` row in the same transaction as the order, before the
order is written. The unique constraint on (tenant, scope, key) makes a concurrent duplicate wait for the
first transaction: when that commits, the duplicate's insert fails and it answers with the first one's order
(a replay); when that rolls back, its claim goes with it and the duplicate proceeds as the first. The request
hash — SHA-256 of the canonical JSON body — tells a retry from a reuse of the key for something else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog import service as catalog
from aftersail.kit.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from aftersail.orders import allocation, shopify
from aftersail.orders import service as orders
from aftersail.orders.intake import IdempotencyKeyReused
from aftersail.orders.models import IdempotencyKey, Order
from aftersail.orders.schemas import OrderCreate
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Tenant

SCOPE_SHOPIFY_WEBHOOK = "shopify.webhook"  # X-Shopify-Webhook-Id: one notification and its redeliveries
SCOPE_SHOPIFY_ORDER = "shopify.order"  # the Shopify order id: one AfterSail order per Shopify order
MAX_KEY_LENGTH = 200
SHOPIFY_ACTOR = "webhook:shopify"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same document always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def request_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order
    replayed: bool


# --- keys -------------------------------------------------------------------------------------------------


async def _find_key(session: AsyncSession, tenant_id: int, scope: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    )


async def _claim(
    session: AsyncSession, tenant_id: int, scope: str, key: str, digest: str
) -> tuple[IdempotencyKey, bool]:
    """The key's row and whether it existed before. A new row is ours: set its `resource_id` when done.

    On PostgreSQL a concurrent claim of the same key blocks on the unique index until the other transaction
    ends; on SQLite write transactions are serial, so the second one reads the first's committed row.
    """
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"at most {MAX_KEY_LENGTH} characters", field="Idempotency-Key")
    found = await _find_key(session, tenant_id, scope, key)
    if found is None:
        row = IdempotencyKey(tenant_id=tenant_id, scope=scope, key=key, request_hash=digest)
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:  # a concurrent request with this key committed first
            found = await _find_key(session, tenant_id, scope, key)
            if found is None:
                raise
        else:
            return row, False
    return found, True


async def _replayed(
    session: AsyncSession, tenant_id: int, row: IdempotencyKey, digest: str | None, *, label: str
) -> Order:
    """The order an earlier request with this key placed; `digest=None` skips the same-body check."""
    if digest is not None and row.request_hash != digest:
        raise IdempotencyKeyReused(
            f"{label} {row.key!r} was already used for a different request body; "
            "send a new key for a new order, or the same body to get the order it created",
            field=label,
        )
    if row.resource_id is None:
        raise Conflict(f"the request with {label} {row.key!r} is still being processed; retry shortly")
    return await orders.access_order(session, tenant_id, row.resource_id)


# --- Shopify webhooks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopifyDelivery:
    """One webhook request as Shopify sends it: the raw body and its headers."""

    body: bytes
    hmac: str | None
    topic: str | None
    shop_domain: str | None
    webhook_id: str | None


def check_shopify_delivery(tenant: Tenant, delivery: ShopifyDelivery) -> None:
    """Refuses (401) a delivery not signed with the tenant's webhook secret, or from another shop than the
    one configured; a tenant without a secret accepts nothing. Then refuses (422) other topics."""
    config = tenants.shopify_settings(tenant)
    if config is None:
        raise Unauthenticated(
            "Shopify webhooks are not set up for this tenant: an admin sets the webhook secret first "
            "(PUT /api/v1/settings/shopify)."
        )
    shopify.check_signature(config.webhook_secret, delivery.body, delivery.hmac)
    if config.shop_domain and (delivery.shop_domain or "").strip().lower() != config.shop_domain:
        raise Unauthenticated(f"This endpoint takes webhooks from {config.shop_domain} only.")
    if (delivery.topic or "").strip() != shopify.TOPIC_ORDERS_CREATE:
        raise InvalidInput(
            f"topic {delivery.topic!r}: this endpoint takes {shopify.TOPIC_ORDERS_CREATE} only",
            field="X-Shopify-Topic",
        )
    if delivery.webhook_id is not None and len(delivery.webhook_id) > MAX_KEY_LENGTH:
        raise InvalidInput(f"at most {MAX_KEY_LENGTH} characters", field="X-Shopify-Webhook-Id")


async def _shopify_order_create(
    session: AsyncSession, tenant_id: int, payload: shopify.ShopifyOrder
) -> tuple[OrderCreate, list[int]]:
    mapped = shopify.map_order(payload)
    lines: list[dict[str, Any]] = mapped.body["lines"]
    known = await catalog.find_skus_by_code(session, tenant_id, [line["sku_code"] for line in lines])
    for line, index in zip(lines, mapped.line_items, strict=True):
        if line["sku_code"] not in known:
            title = payload.line_items[index].title
            raise InvalidInput(
                f"line_items.{index}{f' ({title})' if title else ''}: SKU {line['sku_code']!r} is not in "
                "the catalog; add it (or fix the SKU in Shopify) and the redelivery will go through",
                field=f"line_items.{index}.sku",
            )
    body = dict(mapped.body)
    if body["live_session_id"] is not None:
        try:
            await orders.access_live_session(session, tenant_id, body["live_session_id"])
        except NotFound:
            body["live_session_id"] = None  # a stale storefront attribute must not lose the order
    if body["number"] is not None and await session.scalar(
        select(Order.id).where(Order.tenant_id == tenant_id, Order.number == body["number"])
    ):
        body["number"] = None  # taken by an order from elsewhere: generate one; the name stays in the audit
    try:
        return OrderCreate.model_validate(body), mapped.line_items
    except ValidationError as exc:
        first = exc.errors()[0]
        path = shopify.shopify_path(".".join(str(p) for p in first["loc"]), mapped.line_items)
        raise InvalidInput(f"{path}: {first['msg']}", field=path) from exc


async def do_take_shopify_order(
    session: AsyncSession, tenant_id: int, payload: shopify.ShopifyOrder, delivery: ShopifyDelivery
) -> Placed:
    """Place the order of a verified `orders/create` delivery once: a redelivery (same webhook id) or another
    notification of the same Shopify order answers with the order already placed."""
    digest = request_hash(json.loads(delivery.body))
    claims: list[tuple[str, str, str | None]] = [(SCOPE_SHOPIFY_ORDER, str(payload.id), None)]
    if delivery.webhook_id:
        claims.insert(0, (SCOPE_SHOPIFY_WEBHOOK, delivery.webhook_id, digest))
    fresh: list[IdempotencyKey] = []
    for scope, key, check in claims:
        row, existing = await _claim(session, tenant_id, scope, key, digest)
        if existing:
            label = "X-Shopify-Webhook-Id" if scope == SCOPE_SHOPIFY_WEBHOOK else "Shopify order id"
            order = await _replayed(session, tenant_id, row, check, label=label)
            for claimed in fresh:
                claimed.resource_id = order.id
            await session.flush()
            return Placed(order, True)
        fresh.append(row)
    data, line_items = await _shopify_order_create(session, tenant_id, payload)
    try:
        order = await allocation.do_place_order(session, tenant_id, data, actor=SHOPIFY_ACTOR)
    except InvalidInput as exc:  # name the field as Shopify sent it, keeping the error's kind
        if exc.field is not None:
            exc.field = exc.details["field"] = shopify.shopify_path(exc.field, line_items)
        raise
    for claimed in fresh:
        claimed.resource_id = order.id
    await allocation.record_order_event(
        session,
        order,
        actor=SHOPIFY_ACTOR,
        action="received",
        details={
            "source": "shopify",
            "shop_domain": delivery.shop_domain,
            "webhook_id": delivery.webhook_id,
            "shopify_order_id": payload.id,
            "shopify_name": payload.name,
        },
    )
    await session.flush()
    return Placed(order, False)
