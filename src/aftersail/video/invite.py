"""The buyer's invitation to a call: a signed link to the call page, sent as a reply on the ticket's channel
(chat or e-mail) in the buyer's language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.i18n import N_, translations
from aftersail.support.messages import do_reply
from aftersail.support.models import AuthorKind, Ticket
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.video.models import InspectionCall
from aftersail.video.rules import CallPurpose
from aftersail.web.services import Services

INVITATIONS = {
    CallPurpose.RETURN_INSPECTION: N_(
        "Could you show us the item in a short video call? Open this link on your phone, allow the camera "
        "and tap Connect: {link} — the call is recorded for your case. The link works for 24 hours."
    ),
    CallPurpose.PRE_SHIPMENT: N_(
        "Our warehouse would like to show you your item before it ships. Open this link on your phone and "
        "tap Connect: {link} — the call is recorded for your order. The link works for 24 hours."
    ),
    CallPurpose.USAGE_HELP: N_(
        "We can help you set it up in a short video call. Open this link on your phone, allow the camera and "
        "tap Connect: {link} — the call is recorded for your case. The link works for 24 hours."
    ),
}


def call_path(token: str) -> str:
    return f"/v/{token}"


def buyer_link(call: InspectionCall, services: Services) -> str:
    token = services.links.sign(BuyerGrant(call.tenant_id, LinkScope.CALL, call.id))
    return f"{services.settings.base_url}{call_path(token)}"


async def do_invite_buyer(
    session: AsyncSession,
    call: InspectionCall,
    ticket: Ticket,
    services: Services,
    *,
    send: bool,
    now: datetime,
) -> str:
    """The call's buyer link; with `send`, also a reply on the ticket with it (the ticket's status stays)."""
    link = buyer_link(call, services)
    if send:
        text = translations(call.language).gettext(INVITATIONS[call.purpose]).format(link=link)
        await do_reply(
            session,
            ticket,
            author=None,
            author_kind=AuthorKind.SYSTEM,
            body=text,
            language=call.language,
            status_after=None,
            now=now,
        )
    return link
