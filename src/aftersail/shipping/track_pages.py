"""The buyer's tracking page, with no account: find an order by its number and e-mail (/track), or follow the
signed order link (/track/{token}) to every parcel of the order — where it is in words, when it should
arrive, its carrier events newest first in the buyer's own time zone, what to do when something went wrong,
and "delivered but not here?" (which starts the claim workflow).

The link is the same order link as the order page's and the returns start page's (`LinkScope.ORDER`), so a
buyer who can track an order can also ask for a return of it or chat about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from babel.dates import format_skeleton, format_time, get_timezone_location
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import NotFound, PermissionDenied, Unauthenticated
from aftersail.kit.i18n import N_, translations, zone
from aftersail.kit.ratelimit import RateLimited, RateLimiter
from aftersail.orders import service as orders
from aftersail.orders.models import Order, OrderStatus
from aftersail.shipping import claims
from aftersail.shipping import service as shipping
from aftersail.shipping.models import DeliveryClaim, Shipment, TrackingEvent
from aftersail.shipping.rules import Direction, ExceptionKind, Status, SubStatus
from aftersail.tenants import service as tenants
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.web.console import check_form_token, issue_form_token, remember_form_nonce, render_find_form
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant
from aftersail.web.rendering import BuyerPageRoute, buyer_locale, render, status_for
from aftersail.web.services import Services

router = APIRouter(route_class=BuyerPageRoute, include_in_schema=False)

# Ten tries, then one a minute: a stranger cannot walk through order numbers and addresses.
find_limit = RateLimiter(per_minute=1, burst=10)
FIND_PURPOSE = "buyer-track-find"
MAX_NOTE = 1000
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}

# --- what the page says (locales/<lang>/LC_MESSAGES/tracking.po) -------------------------------------------

STATUS_LABELS: Mapping[Status, str] = {
    Status.PENDING: N_("Waiting for the carrier"),
    Status.INFO_RECEIVED: N_("Packed and labelled"),
    Status.IN_TRANSIT: N_("On its way"),
    Status.CUSTOMS: N_("At customs"),
    Status.OUT_FOR_DELIVERY: N_("With the delivery driver"),
    Status.ATTEMPT_FAILED: N_("Missed delivery"),
    Status.AVAILABLE_FOR_PICKUP: N_("Waiting at a pickup point"),
    Status.DELIVERED: N_("Delivered to you"),
    Status.EXCEPTION: N_("Delivery problem"),
    Status.EXPIRED: N_("No more updates"),
}
SUB_STATUS_LABELS: Mapping[SubStatus, str] = {
    SubStatus.CUSTOMS_HELD: N_("Held at customs"),
    SubStatus.DOCUMENTS_REQUIRED: N_("Customs needs documents"),
    SubStatus.DUTIES_DUE: N_("Import duties to pay"),
    SubStatus.CUSTOMS_RELEASED: N_("Cleared customs"),
    SubStatus.LOST: N_("Lost on the way"),
    SubStatus.DAMAGED: N_("Damaged in transit"),
    SubStatus.RETURNED_TO_SENDER: N_("Sent back to the sender"),
    SubStatus.ADDRESS_ISSUE: N_("Problem with the address"),
}
STATUS_EXPLAINED: Mapping[Status, str] = {
    Status.PENDING: N_("The carrier has your parcel's number but has not scanned the parcel yet."),
    Status.INFO_RECEIVED: N_("Your parcel is packed and labelled; the carrier will pick it up soon."),
    Status.IN_TRANSIT: N_("Your parcel is on its way to you."),
    Status.CUSTOMS: N_("Your parcel is going through customs in your country."),
    Status.OUT_FOR_DELIVERY: N_("Your parcel is on the delivery van and should arrive today."),
    Status.ATTEMPT_FAILED: N_(
        "The carrier tried to deliver your parcel but could not. They will try again or leave a notice."
    ),
    Status.AVAILABLE_FOR_PICKUP: N_("Your parcel is waiting for you at a pickup point."),
    Status.DELIVERED: N_("Your parcel has been delivered."),
    Status.EXCEPTION: N_("The carrier reported a problem with your parcel."),
    Status.EXPIRED: N_("The carrier has stopped sending updates for this parcel."),
}
# What happened, and what the buyer can do, for each open exception.
EXCEPTION_TEXTS: Mapping[ExceptionKind, tuple[str, str, str]] = {
    ExceptionKind.CUSTOMS_HOLD: (
        N_("Held at customs"),
        N_("Customs is holding your parcel longer than usual."),
        N_(
            "If customs or the carrier asks you for documents or an ID number, send them as soon as you "
            "can. We are in touch with the carrier and will tell you when your parcel moves again."
        ),
    ),
    ExceptionKind.DUTIES_DUE: (
        N_("Import duties to pay"),
        N_("Customs will release your parcel once the import charges are paid."),
        N_(
            "Pay them through the carrier's notice (by e-mail, text message or letter); your parcel is "
            "delivered after that. Not sure the notice is real? Ask us in the chat."
        ),
    ),
    ExceptionKind.STALLED: (
        N_("No news from the carrier"),
        N_("Your parcel has not been scanned for several days."),
        N_("We have asked the carrier to look for it. You do not need to do anything; we will write to you."),
    ),
    ExceptionKind.FAILED_ATTEMPTS: (
        N_("Delivery attempts failed"),
        N_("The carrier could not deliver your parcel after several attempts."),
        N_(
            "Look for the carrier's notice to book a new delivery or collect your parcel. If the address is "
            "wrong, chat with us."
        ),
    ),
    ExceptionKind.RETURNED_TO_SENDER: (
        N_("Your parcel is coming back to us"),
        N_("The carrier is sending your parcel back to our warehouse."),
        N_("Chat with us: we will send it again or refund you, as you prefer."),
    ),
    ExceptionKind.LOST: (
        N_("Your parcel is lost"),
        N_("The carrier says your parcel has been lost."),
        N_("We are sorry. We will send you a new one or refund you: chat with us to choose."),
    ),
    ExceptionKind.DAMAGED: (
        N_("Your parcel was damaged"),
        N_("The carrier reports that your parcel was damaged on its way."),
        N_(
            "Chat with us and we will replace it or refund you. If it reaches you, keep the packaging and "
            "take photos."
        ),
    ),
    ExceptionKind.ADDRESS_ISSUE: (
        N_("Problem with the address"),
        N_("The carrier cannot deliver to the address as it is written."),
        N_("Chat with us to check or correct your address."),
    ),
    ExceptionKind.ETA_SLIPPED: (
        N_("Your parcel is running late"),
        N_("Your parcel will arrive later than we first expected."),
        N_("The new expected date is shown above. You do not need to do anything."),
    ),
    ExceptionKind.NOT_RECEIVED: (
        N_("You told us it has not arrived"),
        N_("The carrier says it delivered your parcel, but you could not find it."),
        N_(
            "We have asked the carrier to investigate. Meanwhile, check with your neighbours and around "
            "your door; we will write to you within a few days."
        ),
    ),
}
# Which alerts are about a parcel that will not come as it is (shown as a problem, not a warning).
SERIOUS = frozenset(
    {ExceptionKind.LOST, ExceptionKind.DAMAGED, ExceptionKind.RETURNED_TO_SENDER, ExceptionKind.NOT_RECEIVED}
)
STEP_LABELS = (N_("Handed to the carrier"), N_("On its way"), N_("Almost there"), N_("Delivered to you"))
STEP_OF: Mapping[Status, int] = {
    Status.PENDING: 0,
    Status.INFO_RECEIVED: 0,
    Status.IN_TRANSIT: 1,
    Status.CUSTOMS: 1,
    Status.EXCEPTION: 1,
    Status.EXPIRED: 1,
    Status.OUT_FOR_DELIVERY: 2,
    Status.ATTEMPT_FAILED: 2,
    Status.AVAILABLE_FOR_PICKUP: 2,
    Status.DELIVERED: 3,
}
FIND_NOT_FOUND = N_(
    "We could not find an order with these details. Check the order number and the e-mail address, and try "
    "again."
)
FIND_MISSING = N_("Enter your order number and the e-mail address you ordered with.")
TOO_MANY_TRIES = N_("Too many attempts from your connection. Wait a minute and try again.")
LINK_INVALID = N_(
    "This tracking link is not valid. Find your parcel with your order number and e-mail address."
)
LINK_EXPIRED = N_(
    "This tracking link has expired. Find your parcel with your order number and e-mail address."
)
NOT_DELIVERED = N_("This parcel has not been delivered yet, so it cannot be reported missing.")
BUYER_TRACK_MESSAGES = (
    *STATUS_LABELS.values(),
    *SUB_STATUS_LABELS.values(),
    *STATUS_EXPLAINED.values(),
    *(text for texts in EXCEPTION_TEXTS.values() for text in texts),
    *STEP_LABELS,
    FIND_NOT_FOUND,
    FIND_MISSING,
    TOO_MANY_TRIES,
    LINK_INVALID,
    LINK_EXPIRED,
    NOT_DELIVERED,
)
# Carriers' own names (brands, not translated); any other slug is shown as the source gave it.
CARRIER_NAMES = {
    "dhl": "DHL",
    "dhl-express": "DHL Express",
    "deutsche-post": "Deutsche Post",
    "ups": "UPS",
    "fedex": "FedEx",
    "usps": "USPS",
    "dpd": "DPD",
    "gls": "GLS",
    "hermes": "Hermes",
    "royal-mail": "Royal Mail",
    "evri": "Evri",
    "colissimo": "Colissimo",
    "chronopost": "Chronopost",
    "correos": "Correos",
    "poste-italiane": "Poste Italiane",
    "ctt": "CTT",
    "postnl": "PostNL",
    "yamato": "ヤマト運輸 (Yamato)",
    "sagawa": "佐川急便 (Sagawa)",
    "japan-post": "日本郵便 (Japan Post)",
    "cj-logistics": "CJ대한통운 (CJ Logistics)",
    "sf-express": "顺丰 (SF Express)",
    "aramex": "Aramex",
    "emirates-post": "Emirates Post",
}


def carrier_name(carrier: str) -> str:
    return CARRIER_NAMES.get(carrier, carrier.replace("-", " ").replace("_", " ").title() or "-")


# --- helpers -----------------------------------------------------------------------------------------------


def _locale(request: Request, preferred: str | None = None) -> str:
    """`?lang=`, then Accept-Language, then the customer's own language (kept on the request for error
    pages)."""
    request.state.locale = None
    locale = buyer_locale(request, preferred)
    request.state.locale = locale
    return locale


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _text(form: FormData, name: str, max_length: int = 254) -> str:
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def track_path(token: str) -> str:
    return f"/track/{quote(token, safe='')}"


def _day(value: datetime | date, time_zone: str, locale: str) -> str:
    """'Fri, Dec 4' / '12月4日金曜日' / 'الجمعة، 4 ديسمبر': a day as the buyer's language writes it."""
    if isinstance(value, datetime):
        value = as_utc(value).astimezone(zone(time_zone)).date()
    return str(format_skeleton("MMMMEEEEd", value, locale=locale))


def _time(value: datetime, time_zone: str, locale: str) -> str:
    return str(format_time(as_utc(value), "short", tzinfo=zone(time_zone), locale=locale))


def _local_date(value: datetime, time_zone: str) -> date:
    return as_utc(value).astimezone(zone(time_zone)).date()


# --- 1. find the order -------------------------------------------------------------------------------------


def _find_page(
    request: Request,
    services: Services,
    *,
    status_code: int = 200,
    error: str | None = None,
    values: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    return render_find_form(
        request,
        services.settings,
        "buyer/track_find.html",
        purpose=FIND_PURPOSE,
        locale=_locale(request),
        status_code=status_code,
        error=error,
        values=values,
        headers=headers,
    )


@router.get("/track")
async def track_find(request: Request, services: ServicesDep) -> HTMLResponse:
    return _find_page(request, services)


@router.post("/track")
async def track_find_order(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    form = await request.form()
    values = {name: _text(form, name) for name in ("shop", "number", "email")}
    check_form_token(request, _text(form, "form_token", 500), services.settings, FIND_PURPOSE)
    retry = {"number": values["number"], "email": values["email"]}
    try:
        find_limit.check(_client(request), what="attempts to find an order")
    except RateLimited as exc:
        wait = str(exc.details.get("retry_after", 60))
        return _find_page(
            request,
            services,
            status_code=429,
            error=TOO_MANY_TRIES,
            values=retry,
            headers={"Retry-After": wait},
        )
    shop = values["shop"] or request.query_params.get("shop", "")
    if not (shop and values["number"] and values["email"]):
        return _find_page(request, services, status_code=422, error=FIND_MISSING, values=retry)
    order = await _find_order(session, services, shop, values["number"], values["email"])
    if order is None:  # an unknown shop, number or e-mail: one answer, nothing to tell them apart
        return _find_page(request, services, status_code=404, error=FIND_NOT_FOUND, values=retry)
    token = services.links.sign(BuyerGrant(order.tenant_id, LinkScope.ORDER, order.id))
    return RedirectResponse(f"{track_path(token)}?lang={_locale(request)}", status_code=303)


async def _find_order(
    session: AsyncSession, services: Services, shop: str, number: str, email: str
) -> Order | None:
    """The order by its number and its buyer's e-mail (`orders.find_order_for_buyer`) in the shop's tenant."""
    await as_system(session, services)
    try:
        tenant = await tenants.find_tenant_by_slug(session, shop)
        await scope_to_tenant(session, services, tenant.id)
        return await orders.find_order_for_buyer(session, tenant.id, number, email)
    except NotFound:
        return None


# --- 2. the parcels of an order ----------------------------------------------------------------------------


@dataclass
class EventView:
    time: str
    iso: str  # the moment in the buyer's zone, for <time datetime>
    label: str
    carrier_words: str
    location: str
    status: str
    latest: bool = False


@dataclass
class DayView:
    label: str
    events: list[EventView] = field(default_factory=list)


@dataclass
class AlertView:
    kind: str
    title: str
    what: str
    todo: str
    serious: bool


@dataclass
class ParcelView:
    shipment: Shipment
    carrier: str
    headline: str
    explained: str
    tone: str  # ok | warn | problem | moving: the colour of the status
    step: int
    eta: str  # one sentence, already translated, or ""
    first_eta: str
    delivered: str
    days: list[DayView]
    alerts: list[AlertView]
    reported_on: str  # the day the buyer said it is missing, or ""
    can_report_missing: bool


def _tone(status: Status, alerts: Sequence[AlertView]) -> str:
    if status is Status.DELIVERED and not alerts:
        return "ok"
    if status in (Status.EXCEPTION, Status.ATTEMPT_FAILED) or any(alert.serious for alert in alerts):
        return "problem"
    if alerts or status in (Status.CUSTOMS, Status.EXPIRED):
        return "warn"
    return "moving"


def _label(status: Status, sub_status: SubStatus) -> str:
    return SUB_STATUS_LABELS.get(sub_status) or STATUS_LABELS[status]


def _days(events: Iterable[TrackingEvent], time_zone: str, locale: str) -> list[DayView]:
    """Events newest first, grouped under their day in the buyer's zone."""
    gettext = translations(locale).gettext
    ordered = sorted(events, key=lambda event: (as_utc(event.occurred_at), event.id), reverse=True)
    days: list[DayView] = []
    current: date | None = None
    for event in ordered:
        local = _local_date(event.occurred_at, time_zone)
        if local != current:
            days.append(DayView(_day(local, time_zone, locale)))
            current = local
        label = gettext(_label(event.status, event.sub_status))
        words = " ".join(event.description.split())
        days[-1].events.append(
            EventView(
                time=_time(event.occurred_at, time_zone, locale),
                iso=as_utc(event.occurred_at).astimezone(zone(time_zone)).isoformat(timespec="minutes"),
                label=label,
                carrier_words="" if words.casefold() == label.casefold() else words,
                location=event.location,
                status=event.status.value,
            )
        )
    if days:
        days[0].events[0].latest = True
    return days


def _eta_sentence(shipment: Shipment, time_zone: str, locale: str, now: datetime) -> str:
    gettext = translations(locale).gettext
    if shipment.eta is None:
        if shipment.status in (Status.PENDING, Status.INFO_RECEIVED):
            return gettext("The expected date appears here once the carrier has your parcel.")
        return ""
    expected = _local_date(shipment.eta, time_zone)
    today = _local_date(now, time_zone)
    latest = _local_date(shipment.eta_latest, time_zone) if shipment.eta_latest else expected
    if expected <= today and latest <= today:
        return gettext("Expected today")
    if latest > expected:
        return gettext("Expected on %(date)s, at the latest %(latest)s") % {
            "date": _day(expected, time_zone, locale),
            "latest": _day(latest, time_zone, locale),
        }
    return gettext("Expected on %(date)s") % {"date": _day(expected, time_zone, locale)}


def _alerts(shipment: Shipment, locale: str, claimed: bool) -> list[AlertView]:
    gettext = translations(locale).gettext
    kinds: list[ExceptionKind] = []
    for raw in shipment.open_exceptions or []:
        try:
            kind = ExceptionKind(raw)
        except ValueError:
            continue
        if kind not in kinds:
            kinds.append(kind)
    if (claimed or shipment.buyer_says_missing_at) and ExceptionKind.NOT_RECEIVED not in kinds:
        kinds.append(ExceptionKind.NOT_RECEIVED)
    kinds.sort(key=lambda kind: kind not in SERIOUS)  # the worst news first
    alerts = []
    for kind in kinds:
        title, what, todo = EXCEPTION_TEXTS[kind]
        alerts.append(AlertView(kind.value, gettext(title), gettext(what), gettext(todo), kind in SERIOUS))
    return alerts


async def _claims(session: AsyncSession, tenant_id: int, shipment_ids: Sequence[int]) -> dict[int, datetime]:
    """When the buyer reported each parcel missing (its claim's creation), by parcel."""
    if not shipment_ids:
        return {}
    rows = await session.execute(
        select(DeliveryClaim.shipment_id, DeliveryClaim.created_at).where(
            DeliveryClaim.tenant_id == tenant_id, DeliveryClaim.shipment_id.in_(list(shipment_ids))
        )
    )
    return {shipment_id: as_utc(created_at) for shipment_id, created_at in rows.all()}


async def _parcel(
    session: AsyncSession,
    shipment: Shipment,
    claimed_at: datetime | None,
    time_zone: str,
    locale: str,
    now: datetime,
) -> ParcelView:
    gettext = translations(locale).gettext
    events = await shipping.shipment_events(session, shipment)
    alerts = _alerts(shipment, locale, claimed_at is not None)
    delivered = ""
    if shipment.status is Status.DELIVERED:
        moment = shipment.delivered_at or shipment.last_event_at
        if moment is not None:
            delivered = gettext("Delivered on %(date)s at %(time)s") % {
                "date": _day(moment, time_zone, locale),
                "time": _time(moment, time_zone, locale),
            }
    first_eta = ""
    slipped = any(alert.kind == ExceptionKind.ETA_SLIPPED.value for alert in alerts)
    if slipped and shipment.promised_eta is not None:
        first_eta = gettext("First expected on %(date)s") % {
            "date": _day(shipment.promised_eta, time_zone, locale)
        }
    reported = claimed_at or shipment.buyer_says_missing_at
    return ParcelView(
        shipment=shipment,
        carrier=carrier_name(shipment.carrier),
        headline=gettext(_label(shipment.status, shipment.sub_status)),
        explained=gettext(STATUS_EXPLAINED[shipment.status]),
        tone=_tone(shipment.status, alerts),
        step=STEP_OF[shipment.status],
        eta="" if delivered else _eta_sentence(shipment, time_zone, locale, now),
        first_eta=first_eta,
        delivered=delivered,
        days=_days(events, time_zone, locale),
        alerts=alerts,
        reported_on=_day(reported, time_zone, locale) if reported else "",
        can_report_missing=shipment.status is Status.DELIVERED and reported is None,
    )


def _missing_purpose(order: Order) -> str:
    return f"buyer-track-missing:{order.tenant_id}:{order.id}"


async def _access_linked_order(
    request: Request, token: str, session: AsyncSession, services: Services
) -> tuple[BuyerGrant, Order] | HTMLResponse:
    """The order of a tracking link, or the find form saying plainly that the link is forged or expired."""
    try:
        grant = services.links.verify(token, LinkScope.ORDER)
        await scope_to_tenant(session, services, grant.tenant_id)
        return grant, await orders.access_order(session, grant.tenant_id, grant.object_id)
    except (Unauthenticated, PermissionDenied, NotFound) as exc:
        expired = isinstance(exc, Unauthenticated) and "expired" in exc.message
        status_code = status_for(exc) if isinstance(exc, Unauthenticated) else 404
        return _find_page(
            request, services, status_code=status_code, error=LINK_EXPIRED if expired else LINK_INVALID
        )


@router.get("/track/{token}")
async def track_order(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    found = await _access_linked_order(request, token, session, services)
    if isinstance(found, HTMLResponse):
        return found
    grant, order = found
    customer = await orders.access_customer(session, grant.tenant_id, order.customer_id)
    locale = _locale(request, customer.preferred_language)
    tenant = await tenants.access_tenant(session, grant.tenant_id)
    time_zone = customer.time_zone or "UTC"
    now = utcnow()
    shipments = await shipping.order_shipments(
        session, grant.tenant_id, order.id, direction=Direction.OUTBOUND
    )
    claimed = await _claims(session, grant.tenant_id, [shipment.id for shipment in shipments])
    parcels = [
        await _parcel(session, shipment, claimed.get(shipment.id), time_zone, locale, now)
        for shipment in shipments
    ]
    nonce, form_token = issue_form_token(request, services.settings, _missing_purpose(order))
    any_delivered = order.status is OrderStatus.DELIVERED or any(
        parcel.shipment.status is Status.DELIVERED for parcel in parcels
    )
    context: dict[str, Any] = {
        "request": request,
        "order": order,
        "tenant": tenant,
        "parcels": parcels,
        "steps": STEP_LABELS,
        "zone_name": get_timezone_location(zone(time_zone), locale=locale),
        "form_token": form_token,
        "base": track_path(token),
        "chat_url": f"/chat?{urlencode({'t': tenant.slug, 'link': token, 'lang': locale})}",
        "returns_url": f"/returns/o/{quote(token, safe='')}?lang={locale}" if any_delivered else "",
        "order_url": f"/o/{quote(token, safe='')}?lang={locale}",
        "reported": request.query_params.get("done", "") == "missing",
        "max_note": MAX_NOTE,
    }
    response = render("buyer/track.html", context, locale=locale, headers=PAGE_HEADERS)
    remember_form_nonce(response, nonce, services.settings)
    return response


@router.post("/track/{token}/missing")
async def track_report_missing(
    request: Request, token: str, session: SessionDep, services: ServicesDep
) -> Response:
    """Delivered, but the buyer cannot find it: the claim workflow starts (once, however often posted)."""
    found = await _access_linked_order(request, token, session, services)
    if isinstance(found, HTMLResponse):
        return found
    grant, order = found
    customer = await orders.access_customer(session, grant.tenant_id, order.customer_id)
    locale = _locale(request, customer.preferred_language)
    form = await request.form()
    check_form_token(request, _text(form, "form_token", 500), services.settings, _missing_purpose(order))
    raw_id = _text(form, "shipment_id", 20)
    shipment = None
    if raw_id.isdigit():
        shipment = await session.get(Shipment, int(raw_id))
    if (
        shipment is None
        or shipment.tenant_id != grant.tenant_id
        or shipment.order_id != order.id
        or shipment.direction is not Direction.OUTBOUND
    ):
        raise NotFound(LINK_INVALID)
    if shipment.status is not Status.DELIVERED:
        raise PermissionDenied(NOT_DELIVERED)
    anchor = f"parcel-{shipment.id}"
    await claims.do_report_missing(
        session, shipment, note=_text(form, "note", MAX_NOTE), actor="buyer", now=utcnow()
    )
    return RedirectResponse(f"{track_path(token)}?lang={locale}&done=missing#{anchor}", status_code=303)
