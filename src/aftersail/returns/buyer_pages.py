"""The buyer's returns pages, with no account: find a delivered order (/returns), ask for a return through the
signed order link (/returns/o/{token}: check it against the policy first, then submit it with photos), and
follow it through the signed return link (/r/{token}: steps, label PDF, refunds, cancel).

Every form carries a token signed for its order or return and tied to the nonce cookie (like the order
page's change forms); the start form's token is also the request's submission key, so a double submit makes
one return. Uploads are sniffed here and refused with a message in the buyer's language before the service
sees them; the whole form may be larger than the app's usual body limit (see `MAX_FORM_BYTES`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from aftersail.catalog import service as catalog
from aftersail.kit.config import SUPPORTED_LOCALES
from aftersail.kit.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from aftersail.kit.i18n import match_locale, translations
from aftersail.kit.ratelimit import RateLimited, RateLimiter
from aftersail.orders import service as orders
from aftersail.orders.buyer_changes import access_linked_order
from aftersail.orders.models import Customer, Order, OrderStatus
from aftersail.returns import buyer_texts as texts
from aftersail.returns import notices, refunds
from aftersail.returns import service as returns
from aftersail.returns.models import ReturnRequest
from aftersail.returns.policy import return_policy
from aftersail.returns.rules import (
    SELLER_FAULT,
    SUB_REASONS,
    Evidence,
    Outcome,
    Reason,
    Resolution,
    ReturnStatus,
    keep_offer_percent,
)
from aftersail.support import attachments
from aftersail.support.models import AuthorKind, TicketMessage
from aftersail.tenants import service as tenants
from aftersail.tenants.links import BuyerGrant, LinkScope
from aftersail.web.console import check_form_token, issue_form_token, remember_form_nonce, render_find_form
from aftersail.web.deps import ServicesDep, SessionDep, as_system, scope_to_tenant
from aftersail.web.rendering import BuyerPageRoute, buyer_locale, render
from aftersail.web.services import Services

router = APIRouter(route_class=BuyerPageRoute, include_in_schema=False)

MB = 1024 * 1024
# The start form with its files: one video and five photos at their limits fit, with room for the fields.
MAX_FORM_TOTAL_MB = 100
MAX_FORM_BYTES = MAX_FORM_TOTAL_MB * MB + MB
UPLOAD_PATH_PREFIX = "/returns/o/"
# What the app-wide body limit lets through on UPLOAD_PATH_PREFIX: more than MAX_FORM_BYTES, so that this
# module (not the middleware's JSON 413) answers an oversized form with a page in the buyer's language.
UPLOAD_BODY_LIMIT = returns.MAX_UPLOADS * returns.MAX_VIDEO_BYTES + MB
# Ten tries, then one a minute: a stranger cannot walk through order numbers and postcodes.
find_limit = RateLimiter(per_minute=1, burst=10)
FIND_PURPOSE = "buyer-returns-find"
CANCELLABLE = frozenset({ReturnStatus.REQUESTED, ReturnStatus.APPROVED})
MAIN_STEPS = (
    ReturnStatus.REQUESTED,
    ReturnStatus.APPROVED,
    ReturnStatus.IN_TRANSIT,
    ReturnStatus.RECEIVED,
    ReturnStatus.GRADED,
)
REPLACING = frozenset({Resolution.EXCHANGE, Resolution.REPLACEMENT, Resolution.REPAIR})


def _locale(request: Request, preferred: str | None = None) -> str:
    """`?lang=`, then the customer's own language, then Accept-Language (kept on the request for error
    pages)."""
    chosen = match_locale(request.query_params.get("lang"), SUPPORTED_LOCALES) or match_locale(
        preferred, SUPPORTED_LOCALES
    )
    locale = chosen or buyer_locale(request, preferred)
    request.state.locale = locale
    return locale


def _with_lang(path: str, locale: str) -> str:
    return f"{path}?lang={locale}"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _text(form: FormData, name: str, max_length: int = 300) -> str:
    value = form.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def _postcode(value: object) -> str:
    return "".join(str(value or "").split()).upper()


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
        "buyer/returns_find.html",
        purpose=FIND_PURPOSE,
        locale=_locale(request),
        status_code=status_code,
        error=error,
        values=values,
        headers=headers,
    )


@router.get("/returns")
async def returns_find(request: Request, services: ServicesDep) -> HTMLResponse:
    return _find_page(request, services)


@router.post("/returns")
async def returns_find_order(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    form = await request.form()
    values = {name: _text(form, name, 254) for name in ("shop", "number", "email", "postal_code")}
    check_form_token(request, _text(form, "form_token", 500), services.settings, FIND_PURPOSE)
    retry = {"number": values["number"], "email": values["email"], "postal_code": values["postal_code"]}
    try:
        find_limit.check(_client(request), what="attempts to find an order")
    except RateLimited as exc:
        wait = str(exc.details.get("retry_after", 60))
        return _find_page(
            request,
            services,
            status_code=429,
            error=texts.TOO_MANY_TRIES,
            values=retry,
            headers={"Retry-After": wait},
        )
    shop = values["shop"] or request.query_params.get("shop", "")
    if not (shop and values["number"] and (values["email"] or values["postal_code"])):
        return _find_page(request, services, status_code=422, error=texts.FIND_MISSING, values=retry)
    order = await _find_order(session, services, shop, values)
    if order is None:  # an unknown shop, number, email or postcode: one answer, nothing to tell them apart
        return _find_page(request, services, status_code=404, error=texts.FIND_NOT_FOUND, values=retry)
    token = services.links.sign(BuyerGrant(order.tenant_id, LinkScope.ORDER, order.id))
    return RedirectResponse(_with_lang(_start_path(token), _locale(request)), status_code=303)


async def _find_order(
    session: AsyncSession, services: Services, shop: str, values: Mapping[str, str]
) -> Order | None:
    await as_system(session, services)
    try:
        tenant = await tenants.find_tenant_by_slug(session, shop)
    except NotFound:
        return None
    await scope_to_tenant(session, services, tenant.id)
    row = (
        await session.execute(
            select(Order, Customer)
            .join(Customer, (Customer.id == Order.customer_id) & (Customer.tenant_id == tenant.id))
            .where(Order.tenant_id == tenant.id, Order.number == values["number"])
        )
    ).first()
    if row is None:
        return None
    order, customer = row
    checks = []
    if values["email"]:
        checks.append(hmac.compare_digest(values["email"].lower(), customer.email.strip().lower()))
    if values["postal_code"]:
        expected = _postcode((order.shipping_address or {}).get("postal_code"))
        checks.append(bool(expected) and hmac.compare_digest(_postcode(values["postal_code"]), expected))
    return order if checks and all(checks) else None


# --- 2. the start form -------------------------------------------------------------------------------------


def _start_path(token: str) -> str:
    return f"/returns/o/{quote(token, safe='')}"


def _return_path(token: str) -> str:
    return f"/r/{quote(token, safe='')}"


def _start_purpose(order: Order) -> str:
    return f"buyer-return-start:{order.tenant_id}:{order.id}"


@dataclass
class Filled:
    """The start form as the buyer filled it in (kept on a re-render; files cannot be)."""

    quantities: dict[int, int]
    exchanges: dict[int, int]
    reason: str = ""
    sub_reason: str = ""
    resolution: str = ""
    note: str = ""
    keep_offer: bool = False


def _read_filled(form: FormData, items: list[returns.Returnable]) -> Filled:
    filled = Filled({}, {})
    for item in items:
        raw = _text(form, f"qty_{item.line.id}", 6)
        filled.quantities[item.line.id] = int(raw) if raw.isdigit() else 0
        chosen = _text(form, f"exchange_{item.line.id}", 20)
        if chosen.isdigit():
            filled.exchanges[item.line.id] = int(chosen)
    filled.reason = _text(form, "reason", 40)
    filled.sub_reason = _text(form, "sub_reason", 40)
    filled.resolution = _text(form, "resolution", 40)
    filled.note = _text(form, "note", 2000)
    filled.keep_offer = _text(form, "keep_offer", 5) == "1"
    return filled


class FormProblem(Exception):
    """A start form the page refuses before the service sees it; `message` is an msgid."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values


async def _uploads(form: FormData) -> list[returns.Upload]:
    files = [value for value in form.getlist("files") if isinstance(value, UploadFile) and value.filename]
    if len(files) > returns.MAX_UPLOADS:
        raise FormProblem(texts.TOO_MANY_FILES, count=returns.MAX_UPLOADS)
    uploads = []
    for file in files:
        data = await file.read()
        name = (file.filename or "")[-80:]
        kind = attachments.sniff(data) if data else None
        if kind in returns.VIDEO_TYPES:
            limit = returns.MAX_VIDEO_BYTES
        elif kind in returns.PHOTO_TYPES:
            limit = returns.MAX_PHOTO_BYTES
        else:
            raise FormProblem(texts.WRONG_FILE_TYPE, name=name)
        if len(data) > limit:
            raise FormProblem(
                texts.FILE_TOO_LARGE,
                name=name,
                photo=returns.MAX_PHOTO_BYTES // MB,
                video=returns.MAX_VIDEO_BYTES // MB,
            )
        uploads.append(returns.Upload(name, data, kind))
    return uploads


def _ask(
    filled: Filled,
    items: list[returns.Returnable],
    variants: Mapping[int, list[tuple[int, str]]],
    uploads: list[returns.Upload],
    locale: str,
) -> returns.ReturnAsk:
    by_line = {item.line.id: item for item in items}
    try:
        reason = Reason(filled.reason)
    except ValueError:
        raise FormProblem(texts.CHOOSE_REASON) from None
    if filled.sub_reason and filled.sub_reason not in SUB_REASONS[reason]:
        raise FormProblem(texts.SUB_REASON_MISMATCH)
    try:
        resolution = Resolution(filled.resolution)
    except ValueError:
        raise FormProblem(texts.CHOOSE_RESOLUTION) from None
    lines = []
    for line_id, quantity in filled.quantities.items():
        if quantity <= 0:
            continue
        item = by_line.get(line_id)
        if item is None:
            raise FormProblem(texts.NOT_IN_ORDER)
        if quantity > max(item.returnable, 0):
            raise FormProblem(texts.TOO_MANY_UNITS)
        exchange: int | None = None
        if resolution is Resolution.EXCHANGE:
            exchange = filled.exchanges.get(line_id)
            if exchange not in {sku_id for sku_id, _ in variants.get(line_id, [])}:
                raise FormProblem(texts.CHOOSE_VARIANT)
        lines.append(returns.LineAsk(line_id, quantity, exchange))
    if not lines:
        raise FormProblem(texts.NOTHING_CHOSEN)
    return returns.ReturnAsk(
        reason=reason,
        resolution=resolution,
        lines=lines,
        sub_reason=filled.sub_reason,
        note=filled.note,
        language=locale,
        keep_offer_accepted=filled.keep_offer and reason in SELLER_FAULT,
        uploads=uploads,
    )


def _service_message(exc: InvalidInput) -> str:
    """The service's refusals in words the catalogs carry (the service speaks English to agents)."""
    text = exc.message
    if "more units" in text:
        return texts.TOO_MANY_UNITS
    if "at least one item" in text:
        return texts.NOTHING_CHOSEN
    if "not part of this order" in text:
        return texts.NOT_IN_ORDER
    if "at most" in text:
        return texts.TOO_MANY_FILES
    if "larger than" in text:
        return texts.FILE_TOO_LARGE
    if "Send photos" in text:
        return texts.WRONG_FILE_TYPE
    return texts.NOT_RETURNABLE


@dataclass
class StartState:
    grant: BuyerGrant
    order: Order
    customer: Customer
    items: list[returns.Returnable]
    variants: dict[int, list[tuple[int, str]]]
    locale: str


async def _start_state(request: Request, token: str, session: AsyncSession, services: Services) -> StartState:
    grant, order = await access_linked_order(token, session, services)
    customer = await orders.access_customer(session, grant.tenant_id, order.customer_id)
    locale = _locale(request, customer.preferred_language)
    items = await returns.returnable_lines(session, order)
    siblings = await catalog.skus_of_products(
        session, grant.tenant_id, {item.sku.product_id for item in items}
    )
    variants = {
        item.line.id: [(sku.id, sku.title) for sku in siblings.get(item.sku.product_id, [])] for item in items
    }
    return StartState(grant, order, customer, items, variants, locale)


async def _start_page(
    request: Request,
    token: str,
    session: AsyncSession,
    services: Services,
    state: StartState,
    *,
    filled: Filled | None = None,
    status_code: int = 200,
    error: str | None = None,
    error_values: Mapping[str, object] | None = None,
    plan: dict[str, Any] | None = None,
    files_again: bool = False,
) -> HTMLResponse:
    order, locale = state.order, state.locale
    tenant = await tenants.access_tenant(session, order.tenant_id)
    policy = await return_policy(session, order.tenant_id)
    nonce, form_token = issue_form_token(request, services.settings, _start_purpose(order))
    gettext = translations(locale).gettext
    message = ""  # gettext("") would answer the catalog's header
    if error:
        message = gettext(error) % dict(error_values) if error_values else gettext(error)
    context = {
        "request": request,
        "order": order,
        "tenant": tenant,
        "customer": state.customer,
        "time_zone": state.customer.time_zone,
        "items": state.items,
        "variants": state.variants,
        "filled": filled or Filled({}, {}),
        "reasons": texts.REASON_LABELS,
        "sub_reasons": SUB_REASONS,
        "sub_labels": texts.SUB_REASON_LABELS,
        "resolutions": texts.RESOLUTION_LABELS,
        "fault_reasons": sorted(reason.value for reason in SELLER_FAULT),
        "keep_percent": keep_offer_percent(policy, Reason.DAMAGED),
        "max_uploads": returns.MAX_UPLOADS,
        "max_photo_mb": returns.MAX_PHOTO_BYTES // MB,
        "max_video_mb": returns.MAX_VIDEO_BYTES // MB,
        "accept": ",".join(sorted(returns.PHOTO_TYPES | returns.VIDEO_TYPES)),
        "form_token": form_token,
        "base": _start_path(token),
        "order_path": f"/o/{quote(token, safe='')}",
        "error": message,
        "files_again": files_again,
        "plan": plan,
        "delivered": order.status is OrderStatus.DELIVERED,
        "any_returnable": any(item.returnable > 0 for item in state.items),
    }
    response = render(
        "buyer/returns_start.html",
        context,
        locale=locale,
        status_code=status_code,
        headers={"Referrer-Policy": "no-referrer"},
    )
    remember_form_nonce(response, nonce, services.settings)
    return response


@router.get("/returns/o/{token}")
async def return_start(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    state = await _start_state(request, token, session, services)
    return await _start_page(request, token, session, services, state)


def _too_large(request: Request) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > MAX_FORM_BYTES


async def _read_start_form(
    request: Request, token: str, session: AsyncSession, services: Services
) -> tuple[StartState, Filled, returns.ReturnAsk | None, str, Response | None]:
    """(state, what was filled, the ask or None, the form token, a refusal page or None)."""
    state = await _start_state(request, token, session, services)
    if _too_large(request):
        page = await _start_page(
            request,
            token,
            session,
            services,
            state,
            status_code=413,
            error=texts.BODY_TOO_LARGE,
            error_values={"total": MAX_FORM_TOTAL_MB},
            files_again=True,
        )
        return state, Filled({}, {}), None, "", page
    form = await request.form(max_files=returns.MAX_UPLOADS * 4)
    form_token = _text(form, "form_token", 500)
    check_form_token(request, form_token, services.settings, _start_purpose(state.order))
    filled = _read_filled(form, state.items)
    try:
        uploads = await _uploads(form)
        ask = _ask(filled, state.items, state.variants, uploads, state.locale)
    except FormProblem as problem:
        page = await _start_page(
            request,
            token,
            session,
            services,
            state,
            filled=filled,
            status_code=422,
            error=problem.message,
            error_values=problem.values,
            files_again=True,
        )
        return state, filled, None, form_token, page
    finally:
        await form.close()
    return state, filled, ask, form_token, None


@router.post("/returns/o/{token}/check")
async def return_check(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    state, filled, ask, _form_token, refused = await _read_start_form(request, token, session, services)
    if refused is not None or ask is None:
        assert refused is not None
        return refused
    try:
        plan = await returns.plan_return(session, state.order, ask)
    except InvalidInput as exc:
        return await _refused_by_service(request, token, session, services, state, filled, ask, exc)
    return await _start_page(
        request,
        token,
        session,
        services,
        state,
        filled=filled,
        plan=await _plan_view(session, state, plan),
        files_again=bool(ask.uploads),
    )


async def _refused_by_service(
    request: Request,
    token: str,
    session: AsyncSession,
    services: Services,
    state: StartState,
    filled: Filled,
    ask: returns.ReturnAsk,
    exc: InvalidInput,
) -> HTMLResponse:
    """The start form again with what was filled, saying in the buyer's words why the service refused."""
    return await _start_page(
        request,
        token,
        session,
        services,
        state,
        filled=filled,
        status_code=422,
        error=_service_message(exc),
        error_values=_limits(),
        files_again=bool(ask.uploads),
    )


def _limits() -> dict[str, object]:
    return {
        "count": returns.MAX_UPLOADS,
        "name": "",
        "photo": returns.MAX_PHOTO_BYTES // MB,
        "video": returns.MAX_VIDEO_BYTES // MB,
    }


async def _plan_view(session: AsyncSession, state: StartState, plan: returns.Plan) -> dict[str, Any]:
    """The policy's answer, in the buyer's words: per line, and what happens next."""
    decision = plan.decision
    titles = {item.line.id: item.sku.title for item in state.items}
    asked = {line.order_line_id: line.quantity for line in plan.facts.lines}
    lines = [
        {
            "title": titles.get(verdict.order_line_id, ""),
            "quantity": asked.get(verdict.order_line_id, 0),
            "eligible": verdict.eligible,
            "why": ""
            if verdict.eligible
            else notices.buyer_refusal(
                verdict.why, state.locale, decision.window_ends_at, state.customer.time_zone
            ),
        }
        for verdict in decision.lines
    ]
    warehouse = None
    if plan.route.site is not None:
        warehouse = (
            await catalog.access_warehouse(session, state.order.tenant_id, plan.route.site.warehouse_id)
        ).name
    return {
        "outcome": decision.outcome.value,
        "rejected": decision.outcome is Outcome.REJECTED,
        "keeps_all": plan.keeps_all and decision.outcome is not Outcome.REJECTED,
        "lines": lines,
        "window_ends_at": decision.window_ends_at,
        "warehouse": warehouse,
        "seller_pays": decision.freight_payer.value == "seller",
        "refund_minor": decision.refund_minor,
        "currency": state.order.currency,
        "missing_photo": Evidence.PHOTO in decision.missing_evidence,
        "missing_video": Evidence.VIDEO in decision.missing_evidence,
    }


@router.post("/returns/o/{token}/submit")
async def return_submit(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    state, filled, ask, form_token, refused = await _read_start_form(request, token, session, services)
    if refused is not None or ask is None:
        assert refused is not None
        return refused
    try:
        async with session.begin_nested():  # a refusal leaves no ticket or message behind
            ret = await returns.do_request_return(
                session,
                state.order,
                ask,
                submission_key=f"buyer-page:{form_token}",
                actor=f"buyer:{state.order.id}",
                files_dir=services.settings.data_dir,
            )
    except InvalidInput as exc:
        return await _refused_by_service(request, token, session, services, state, filled, ask, exc)
    link = services.links.sign(BuyerGrant(ret.tenant_id, LinkScope.RETURN, ret.id))
    return RedirectResponse(_with_lang(_return_path(link), state.locale), status_code=303)


# --- 3. the return's status --------------------------------------------------------------------------------


async def _access_linked_return(
    token: str, session: AsyncSession, services: Services
) -> tuple[BuyerGrant, ReturnRequest]:
    try:
        grant = services.links.verify(token, LinkScope.RETURN)
    except PermissionDenied as exc:  # a valid link, but for an order or a ticket
        raise NotFound("This link is not valid.") from exc
    await scope_to_tenant(session, services, grant.tenant_id)
    try:
        return grant, await returns.access_return(session, grant.tenant_id, grant.object_id)
    except NotFound as exc:
        raise NotFound("This link is not valid.") from exc


def _steps(ret: ReturnRequest) -> list[tuple[str, str]]:
    """(label, done | current | todo) for the status page's step list."""
    status = ret.status
    if status in {ReturnStatus.REJECTED, ReturnStatus.KEEP_REFUNDED, ReturnStatus.CANCELLED}:
        return [(texts.STEP_LABELS[ReturnStatus.REQUESTED], "done"), (texts.STEP_LABELS[status], "current")]
    last = ReturnStatus.EXCHANGED if ret.resolution in REPLACING else ReturnStatus.REFUNDED
    path = (*MAIN_STEPS, last)
    if status in {ReturnStatus.REFUNDED, ReturnStatus.EXCHANGED, ReturnStatus.CLOSED}:
        return [(texts.STEP_LABELS[step], "done") for step in path]  # the end reached: every step done
    reached = path.index(status) if status in path else 0
    return [
        (texts.STEP_LABELS[step], "done" if i < reached else "current" if i == reached else "todo")
        for i, step in enumerate(path)
    ]


async def _told(session: AsyncSession, ret: ReturnRequest) -> list[TicketMessage]:
    if ret.ticket_id is None:
        return []
    rows = await session.scalars(
        select(TicketMessage)
        .where(
            TicketMessage.tenant_id == ret.tenant_id,
            TicketMessage.ticket_id == ret.ticket_id,
            TicketMessage.author_kind == AuthorKind.SYSTEM,
        )
        .order_by(TicketMessage.created_at, TicketMessage.id)
    )
    return [message for message in rows.all() if ret.rma_number in (message.body or "")]


def _cancel_purpose(ret: ReturnRequest) -> str:
    return f"buyer-return-cancel:{ret.tenant_id}:{ret.id}"


@router.get("/r/{token}")
async def return_status(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    grant, ret = await _access_linked_return(token, session, services)
    customer = await orders.access_customer(session, grant.tenant_id, ret.customer_id)
    locale = _locale(request, customer.preferred_language)
    order = await orders.access_order(session, grant.tenant_id, ret.order_id)
    tenant = await tenants.access_tenant(session, grant.tenant_id)
    lines = await returns.return_lines(session, ret)
    warehouse = (
        await catalog.access_warehouse(session, grant.tenant_id, ret.warehouse_id)
        if ret.warehouse_id
        else None
    )
    refused = next((line.why for line, _ in lines if not line.eligible), "") or ret.decision_reason
    nonce, form_token = issue_form_token(request, services.settings, _cancel_purpose(ret))
    context = {
        "request": request,
        "ret": ret,
        "order": order,
        "tenant": tenant,
        "lines": lines,
        "warehouse": warehouse,
        "address": _address_lines(warehouse.address if warehouse else {}),
        "carrier": notices.carrier_name(ret.carrier, locale),
        "rma": Markup('<bdi class="rma" dir="ltr" data-test="rma">{}</bdi>').format(ret.rma_number),
        "steps": _steps(ret),
        "refunds": await refunds.return_refunds(session, ret),
        "refund_states": texts.REFUND_STATE_LABELS,
        "told": await _told(session, ret),
        "why": notices.buyer_refusal(refused, locale, ret.window_ends_at, customer.time_zone)
        if ret.status is ReturnStatus.REJECTED
        else "",
        "reasons": texts.REASON_LABELS,
        "resolutions": texts.RESOLUTION_LABELS,
        "time_zone": customer.time_zone,
        "cancellable": ret.status in CANCELLABLE,
        "form_token": form_token,
        "base": _return_path(token),
        "notice": request.query_params.get("done", "") == "cancelled",
        "sent_notice": request.query_params.get("done", "") == "sent",
        "can_mark_sent": ret.status is ReturnStatus.APPROVED,
        "error": "",
    }
    response = render(
        "buyer/returns_status.html", context, locale=locale, headers={"Referrer-Policy": "no-referrer"}
    )
    remember_form_nonce(response, nonce, services.settings)
    return response


def _address_lines(address: Mapping[str, Any]) -> list[str]:
    city = " ".join(str(address.get(key) or "") for key in ("postal_code", "city")).strip()
    parts = [address.get("line1"), address.get("line2"), city, address.get("region"), address.get("country")]
    return [str(part) for part in parts if part]


@router.post("/r/{token}/cancel")
async def return_cancel(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    grant, ret = await _access_linked_return(token, session, services)
    customer = await orders.access_customer(session, grant.tenant_id, ret.customer_id)
    locale = _locale(request, customer.preferred_language)
    form = await request.form()
    check_form_token(request, _text(form, "form_token", 500), services.settings, _cancel_purpose(ret))
    if ret.status in CANCELLABLE:
        try:
            await returns.do_cancel(session, ret, actor=f"buyer:{ret.order_id}")
        except (IllegalTransition, Conflict) as exc:
            raise Conflict(texts.NOT_CANCELLABLE) from exc
    elif ret.status is not ReturnStatus.CANCELLED:  # a second click on cancel is not an error
        raise Conflict(texts.NOT_CANCELLABLE)
    return RedirectResponse(f"{_return_path(token)}?lang={locale}&done=cancelled", status_code=303)


@router.post("/r/{token}/sent")
async def return_sent(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    """The buyer says the parcel is on its way (a second click is no error)."""
    grant, ret = await _access_linked_return(token, session, services)
    customer = await orders.access_customer(session, grant.tenant_id, ret.customer_id)
    locale = _locale(request, customer.preferred_language)
    form = await request.form()
    check_form_token(request, _text(form, "form_token", 500), services.settings, _cancel_purpose(ret))
    await returns.do_mark_sent(session, ret, actor=f"buyer:{ret.order_id}")
    return RedirectResponse(f"{_return_path(token)}?lang={locale}&done=sent", status_code=303)


@router.get("/r/{token}/label.pdf")
async def return_label(request: Request, token: str, session: SessionDep, services: ServicesDep) -> Response:
    _grant, ret = await _access_linked_return(token, session, services)
    path = attachments.blob_path(services.settings.data_dir, ret.label_sha256) if ret.label_sha256 else None
    if path is None or not path.is_file():
        raise NotFound(texts.NO_LABEL)
    return FileResponse(
        path,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{ret.rma_number}-label.pdf"',
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
