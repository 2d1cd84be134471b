"""Jobs of shipping: evaluating a parcel after new events and at its next check time, deciding a
delivered-not-received claim when the carrier's window ends, sending a claim's refund, and telling the
seller's own endpoint of an exception (signed JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import Settings
from aftersail.kit.outbox import Delivery, Handler, Publisher, register
from aftersail.kit.realtime import RealtimeBus
from aftersail.returns.payments import gateway_from_settings
from aftersail.shipping import (
    claims,
    poll_tasks,  # noqa: F401 - workers load `*.tasks` only: this brings the poll job
)
from aftersail.shipping.care import NOTIFY_TOPIC, Links
from aftersail.shipping.models import DeliveryClaim, Shipment
from aftersail.shipping.policy import tracking_rules
from aftersail.shipping.service import EVALUATE_TOPIC
from aftersail.shipping.sources import generic
from aftersail.shipping.watch import CHECK_TOPIC, do_evaluate, up_to_date
from aftersail.tenants.links import BuyerLinkSigner


@register(claims.DECIDE_TOPIC, name="shipping.claim_due")
async def decide_claim(session: AsyncSession, delivery: Delivery) -> None:
    claim_id = delivery.payload.get("claim_id")
    claim = await session.get(DeliveryClaim, claim_id) if isinstance(claim_id, int) else None
    if claim is not None and claim.tenant_id == delivery.tenant_id:
        await claims.do_decide_claim(session, claim, now=utcnow())


def outbox_handlers(settings: Settings, bus: RealtimeBus) -> Iterable[Handler | Publisher]:
    links = Links(
        BuyerLinkSigner(settings.secret_key.get_secret_value(), settings.buyer_link_max_age_seconds),
        settings.base_url,
    )
    gateway = gateway_from_settings(settings)

    async def evaluate(session: AsyncSession, delivery: Delivery) -> None:
        shipment_id = delivery.payload.get("shipment_id")
        shipment = await session.get(Shipment, shipment_id) if isinstance(shipment_id, int) else None
        if shipment is None or shipment.tenant_id != delivery.tenant_id:
            return
        if delivery.topic == EVALUATE_TOPIC and not delivery.payload.get("force") and up_to_date(shipment):
            return  # a later job of the same burst already folded these events
        await do_evaluate(session, shipment, now=utcnow(), links=links)

    async def send_claim_refund(session: AsyncSession, delivery: Delivery) -> None:
        claim_id = delivery.payload.get("claim_id")
        claim = await session.get(DeliveryClaim, claim_id) if isinstance(claim_id, int) else None
        if claim is not None and claim.tenant_id == delivery.tenant_id:
            await claims.do_send_claim_refund(session, claim, gateway)

    async def notify_seller(session: AsyncSession, delivery: Delivery) -> None:
        """POST the exception to the tenant's endpoint; a failure raises, so the outbox retries it."""
        if delivery.tenant_id is None:
            return
        rules = await tracking_rules(session, delivery.tenant_id)
        if not rules.notify_webhook_url:
            return
        body = json.dumps({"id": delivery.event_id, **delivery.payload}, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-AfterSail-Event-Id": str(delivery.event_id)}
        if rules.notify_webhook_secret:
            # signed as AfterSail's own webhook format is (one signature for both directions)
            headers[generic.SIGNATURE_HEADER] = generic.sign(rules.notify_webhook_secret, body)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(rules.notify_webhook_url, content=body, headers=headers)
        response.raise_for_status()

    return [
        Handler(name="shipping.evaluate", topics=(EVALUATE_TOPIC, CHECK_TOPIC), fn=evaluate),
        Handler(name="shipping.claim_refund", topics=(claims.REFUND_TOPIC,), fn=send_claim_refund),
        Handler(name="shipping.notify_seller", topics=(NOTIFY_TOPIC,), fn=notify_seller),
    ]
