"""Web-shop webhooks: orders pushed by the shop itself, outside `/api/v1` because they carry the shop's HMAC
signature instead of an API key. Shopify's `orders/create` is the one spoken today."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from aftersail.kit.errors import InvalidInput
from aftersail.orders import ingest, shopify
from aftersail.orders.models import OrderStatus
from aftersail.tenants import service as tenants
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookOrderOut(BaseModel):
    order_id: int
    number: str
    status: OrderStatus
    replayed: bool


def _parse(body: bytes) -> shopify.ShopifyOrder:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("body: not a JSON document", field="body") from exc
    try:
        return shopify.ShopifyOrder.model_validate(document)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


@router.post(
    "/shopify/{tenant_slug}/orders-create",
    status_code=201,
    response_model=WebhookOrderOut,
    responses={200: {"description": "A redelivery: the order placed the first time"}},
)
async def shopify_orders_create(
    tenant_slug: Annotated[str, Path(max_length=64)],
    request: Request,
    response: Response,
    session: SessionDep,
    services: ServicesDep,
) -> WebhookOrderOut:
    """Shopify's `orders/create` webhook for the tenant `tenant_slug`: the order is placed and allocated
    like one created through the API (channel `web_shop`, `external_ref` = the Shopify order id, number from
    its name, prices converted to minor units).

    Signed, never open: `X-Shopify-Hmac-Sha256` must be base64(HMAC-SHA256(webhook secret, raw body)) with
    the secret set at `PUT /api/v1/settings/shopify`; otherwise 401 and nothing is written. A redelivery (the
    same `X-Shopify-Webhook-Id`) or another notification of the same Shopify order answers 200 with the order
    placed the first time and `Idempotent-Replayed: true`. An unknown SKU is a 422 naming the line item."""
    body = await request.body()
    delivery = ingest.ShopifyDelivery(
        body=body,
        hmac=request.headers.get(shopify.HMAC_HEADER),
        topic=request.headers.get(shopify.TOPIC_HEADER),
        shop_domain=request.headers.get(shopify.SHOP_HEADER),
        webhook_id=request.headers.get(shopify.WEBHOOK_ID_HEADER),
    )
    await as_system(session, services)
    tenant = await tenants.find_tenant_by_slug(session, tenant_slug)
    await scope_to_tenant(session, services, tenant.id)
    ingest.check_shopify_delivery(tenant, delivery)
    placed = await ingest.do_take_shopify_order(session, tenant.id, _parse(body), delivery)
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    order = placed.order
    return WebhookOrderOut(
        order_id=order.id, number=order.number, status=order.status, replayed=placed.replayed
    )
