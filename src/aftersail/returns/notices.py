"""What the buyer is told at each step of a return, in their language, as a reply on the linked ticket (it
goes out by e-mail or chat, wherever the buyer wrote) and so on the ticket's timeline too."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.i18n import N_, format_day, format_money, translations
from aftersail.support import service as tickets
from aftersail.support.messages import do_reply
from aftersail.support.models import AuthorKind, TicketStatus

if TYPE_CHECKING:
    from aftersail.orders.models import Order
    from aftersail.returns.models import ReturnRequest
    from aftersail.returns.planning import ReturnAsk


class Notice(StrEnum):
    IN_REVIEW = "in_review"
    REJECTED = "rejected"
    APPROVED = "approved"
    KEEP_REFUNDED = "keep_refunded"
    RECEIVED = "received"
    DISCREPANCY = "discrepancy"
    REFUNDED = "refunded"
    REFUND_PENDING = "refund_pending"
    STORE_CREDIT = "store_credit"
    EXCHANGE_SHIPPED = "exchange_shipped"


TEXTS: dict[Notice, str] = {
    Notice.IN_REVIEW: N_(
        "We have received your return request {rma}. A member of our team will check it within one "
        "business day and let you know here."
    ),
    Notice.REJECTED: N_(
        "We cannot accept return request {rma}: {why}. Reply to this message if you think this is wrong."
    ),
    Notice.APPROVED: N_(
        "Your return {rma} is approved. Print the label from your returns page, pack the items and hand the "
        "parcel to {carrier} (tracking number {tracking}). It goes to our warehouse {warehouse}."
    ),
    Notice.KEEP_REFUNDED: N_(
        "Good news: you do not need to send anything back for return {rma}. Please keep the items; we are "
        "refunding {amount}."
    ),
    Notice.RECEIVED: N_(
        "Our warehouse has received your parcel for return {rma}. We are checking the items now."
    ),
    Notice.DISCREPANCY: N_(
        "Our warehouse found that the parcel for return {rma} does not match your request. A member of our "
        "team will contact you about it."
    ),
    Notice.REFUNDED: N_(
        "We have refunded {amount} for return {rma}. Depending on your bank it can take 5 to 10 days to show."
    ),
    Notice.REFUND_PENDING: N_("Your refund of {amount} for return {rma} is on its way."),
    Notice.STORE_CREDIT: N_("We have added {amount} of store credit for return {rma}. Your code: {code}."),
    Notice.EXCHANGE_SHIPPED: N_("Your replacement for return {rma} is on its way to you."),
}
# How a carrier is named to the buyer: the self-managed carrier is the seller's own drop-off arrangement.
CARRIER_NAMES = {"self_managed": N_("any post office or parcel shop")}
# Why a request was refused, in words a buyer reads (the policy's own reason stays on the audit row).
REFUSALS = {
    "window": N_("the return window ended on {date}"),
    "category": N_("this kind of item cannot be returned unless it is faulty"),
    "quantity": N_("more units were asked for than were delivered"),
    "delivered": N_("the order has not been delivered yet"),
    "policy": N_("the request does not meet our return policy"),
}


def refusal_key(why: str) -> str:
    if "window ended" in why:
        return "window"
    if "not returnable" in why:
        return "category"
    if why.startswith("quantity"):
        return "quantity"
    if "not delivered" in why:
        return "delivered"
    return "policy"


def carrier_name(carrier: str, language: str) -> str:
    if carrier in CARRIER_NAMES:
        return translations(language).gettext(CARRIER_NAMES[carrier])
    return carrier or "-"


def render(notice: Notice, language: str, **values: Any) -> str:
    return translations(language).gettext(TEXTS[notice]).format(**values)


def buyer_refusal(why: str, language: str, window_ends_at: datetime | None, time_zone: str) -> str:
    text = translations(language).gettext(REFUSALS[refusal_key(why)])
    return text.format(date=format_day(window_ends_at, time_zone, language) if window_ends_at else "")


async def do_tell_buyer(
    session: AsyncSession, ret: ReturnRequest, notice: Notice, *, now: datetime, why: str = "", **values: Any
) -> None:
    """A system reply on the return's ticket in the buyer's language; it leaves the ticket's status alone."""
    if ret.ticket_id is None:
        return
    from aftersail.catalog import service as catalog
    from aftersail.orders import service as orders

    ticket = await tickets.access_ticket(session, ret.tenant_id, ret.ticket_id)
    if ticket.status is TicketStatus.CLOSED:
        return
    customer = await orders.access_customer(session, ret.tenant_id, ret.customer_id)
    language = ret.language
    warehouse = (
        await catalog.access_warehouse(session, ret.tenant_id, ret.warehouse_id) if ret.warehouse_id else None
    )
    fields = {
        "rma": ret.rma_number,
        "carrier": carrier_name(ret.carrier, language),
        "tracking": ret.tracking_number or "-",
        "warehouse": warehouse.name if warehouse else "-",
        "amount": format_money(values.pop("amount_minor", ret.refund_due_minor), ret.currency, language),
        "why": buyer_refusal(why, language, ret.window_ends_at, customer.time_zone)
        if why or notice is Notice.REJECTED
        else "",
        "code": "",
        **values,
    }
    await do_reply(
        session,
        ticket,
        author=None,
        author_kind=AuthorKind.SYSTEM,
        body=render(notice, language, **fields),
        language=language,
        status_after=None,
        now=now,
    )


def request_summary(ask: ReturnAsk, order: Order) -> str:
    """The buyer's request as the first message on the case (agents read it translated)."""
    lines = ", ".join(f"#{line.order_line_id} × {line.quantity}" for line in ask.lines)
    parts = [f"Return request for order {order.number}: {ask.reason.value}"]
    if ask.sub_reason:
        parts[0] += f" ({ask.sub_reason})"
    parts.append(f"Lines: {lines}. Wanted: {ask.resolution.value}.")
    if ask.keep_offer_accepted:
        parts.append("Keeps the items for a partial refund.")
    if ask.note.strip():
        parts.append(ask.note.strip())
    return "\n".join(parts)
