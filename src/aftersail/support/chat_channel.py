"""Names and credentials of the web chat: the realtime channel of one buyer's chat, the buyer's chat token
(a signed, expiring link scoped to one customer of one tenant) and the CSAT link."""

from __future__ import annotations

from aftersail.support.models import Ticket
from aftersail.tenants.links import BuyerGrant, BuyerLinkSigner, LinkScope


def chat_channel(tenant_id: int, customer_id: int) -> str:
    """Every open chat window of one buyer listens here (several tabs, a phone and a laptop)."""
    return f"chat:{tenant_id}:{customer_id}"


def chat_token(links: BuyerLinkSigner, tenant_id: int, customer_id: int) -> str:
    return links.sign(BuyerGrant(tenant_id, LinkScope.CUSTOMER, customer_id))


def verify_chat_token(links: BuyerLinkSigner, token: str) -> BuyerGrant:
    return links.verify(token, LinkScope.CUSTOMER)


def csat_link(links: BuyerLinkSigner, base_url: str, ticket: Ticket) -> str:
    """A page with five one-click ratings, in the buyer's language; `?rating=N` records N at once."""
    token = links.sign(BuyerGrant(ticket.tenant_id, LinkScope.TICKET, ticket.id))
    return f"{base_url}/rate/{token}"
