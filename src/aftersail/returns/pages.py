"""Console pages of returns: the agents' list (`/returns/cases`), one case with the decision, the
return-or-keep figures, the route and label, the lines as graded, the fraud signals, the money and the
audit trail, and the actions on it (review, cancel, refund, store credit), and the tenant's return policy
(`/settings/returns`) with a preview of how the policy as typed decides a sample request.

Every action posts with the session's CSRF token (checked by `ConsoleDep`) and runs the same service as the
API as the signed-in user. A refund form carries a one-time submission token: the refund's idempotency key is
made from it, so a double click (or the form sent again) finds the first refund instead of paying twice.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.kit.money import minor_exponent
from aftersail.kit.security import new_token
from aftersail.orders.page_forms import forget_notice, form_text, remember_notice, take_notice
from aftersail.returns import cases, refunds
from aftersail.returns import policy as policies
from aftersail.returns import service as returns
from aftersail.returns.api import _policy as policy_of
from aftersail.returns.api import preview_return_decision
from aftersail.returns.models import RefundKind
from aftersail.returns.policy_form import SAMPLE_DEFAULTS, check_policy_form, check_sample_form, policy_values
from aftersail.returns.rules import Evidence, ReturnStatus, window_days
from aftersail.support import attachments as files
from aftersail.support.models import Attachment
from aftersail.tenants.rules import Permission, role_allows
from aftersail.tenants.service import Principal
from aftersail.web.console import ConsoleContext, ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render, status_for

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

LIST_PATH = "/returns/cases"
POLICY_PATH = "/settings/returns"
PAGE_SIZE = 25
ACT = Permission.WRITE_ORDERS  # as the API: agents and admins
MANAGE = Permission.MANAGE_TENANT  # the policy: admins
FILTER_NAMES = ("status", "outcome", "market", "warehouse", "q")
OUTCOME_FILTERS = {
    cases.NEEDS_REVIEW: N_("Needs review"),
    **{outcome.value: label for outcome, label in cases.OUTCOME_LABELS.items()},
}
SUBMISSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
_AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,4})?", re.ASCII)
NOTICES = {
    "approved": N_("The return was approved."),
    "rejected": N_("The return was rejected and the buyer told why."),
    "cancelled": N_("The return was cancelled."),
    "refunded": N_("The refund was recorded; the payment provider is asked after this page."),
    "credited": N_("Store credit was issued."),
    "policy_saved": N_("The return policy was saved."),
}
REFUSALS = {
    "not_allowed": N_("Your role may look at returns but not act on them."),
    "decided": N_("This return was already decided; nothing changed."),
    "not_cancellable": N_("This return can no longer be cancelled."),
    "not_refundable": N_("This return cannot be refunded yet: it is refunded once it is received."),
    "amount": N_("Enter an amount above 0 with the currency's decimals, such as 12.50."),
    "too_much": N_("That is more than can still be refunded (%(left)s)."),
    "nothing_left": N_("There is nothing left to refund on this return."),
    "stale": N_("This form is out of date. Reload the page and try again."),
    "no_route": N_("No warehouse takes this return back; add one that takes returns first."),
}
POLICY_NOT_ALLOWED = N_("Only admins can change the return policy.")


def _can(console: ConsoleContext, permission: Permission) -> bool:
    return role_allows(console.user.role, permission)


# --- the list --------------------------------------------------------------------------------------------


def _filters(values: dict[str, str], warehouse_ids: set[int]) -> tuple[cases.ReturnFilters, dict[str, str]]:
    filters, errors = cases.ReturnFilters(), {}
    if values["status"]:
        try:
            filters.status = ReturnStatus(values["status"])
        except ValueError:
            errors["status"] = N_("Choose a status from the list.")
    if values["outcome"]:
        if values["outcome"] in OUTCOME_FILTERS:
            filters.outcome = values["outcome"]
        else:
            errors["outcome"] = N_("Choose an outcome from the list.")
    if values["market"]:
        if len(values["market"]) == 2 and values["market"].isascii() and values["market"].isalpha():
            filters.market = values["market"].upper()
        else:
            errors["market"] = N_("Use a two-letter country code, such as US or DE.")
    if values["warehouse"]:
        if values["warehouse"].isdigit() and int(values["warehouse"]) in warehouse_ids:
            filters.warehouse_id = int(values["warehouse"])
        else:
            errors["warehouse"] = N_("Choose a warehouse from the list.")
    filters.q = values["q"] or None
    return filters, errors


@router.get(LIST_PATH)
async def returns_list(
    request: Request, console: ConsoleDep, session: SessionDep, cursor: str = ""
) -> HTMLResponse:
    tenant_id = console.tenant.id
    warehouses = await cases.warehouses_by_id(session, tenant_id)
    values = {name: request.query_params.get(name, "").strip()[:100] for name in FILTER_NAMES}
    filters, errors = _filters(values, set(warehouses))
    rows: list[cases.ListRow] = []
    next_cursor = None
    if not errors:
        page = await cases.list_returns(
            session, tenant_id, filters, cursor=cursor[:200] or None, limit=PAGE_SIZE
        )
        rows = await cases.list_rows(session, tenant_id, list(page.items))
        next_cursor = page.next_cursor

    def query(**extra: str) -> str:
        return urlencode({k: v for k, v in {**values, **extra}.items() if v})

    context = {
        "request": request,
        "console": console,
        "nav": "returns",
        "values": values,
        "errors": errors,
        "active": any(values.values()),
        "rows": rows,
        "warehouses": sorted(warehouses.values(), key=lambda w: w.code),
        "statuses": cases.STATUS_LABELS,
        "outcomes": OUTCOME_FILTERS,
        "outcome_labels": cases.OUTCOME_LABELS,
        "rule_labels": cases.RULE_LABELS,
        "reasons": cases.REASON_LABELS,
        "resolutions": cases.RESOLUTION_LABELS,
        "signal_labels": cases.SIGNAL_LABELS,
        "shown_signals": cases.shown_signals,
        "now": utcnow(),
        "as_utc": as_utc,
        "cursor": cursor,
        "next_query": query(cursor=next_cursor) if next_cursor else None,
        "first_query": query(),
    }
    return render(
        "console/returns_list.html", context, locale=console.locale, status_code=422 if errors else 200
    )


# --- one case --------------------------------------------------------------------------------------------


async def case_response(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    return_id: int,
    *,
    error: tuple[str, dict[str, str]] | None = None,
    status_code: int = 200,
    amount: str = "",
) -> HTMLResponse:
    case = await cases.load_case(session, console.tenant.id, return_id)
    evidence_files: list[Attachment] = []
    if case.evidence:
        rows = await session.scalars(
            select(Attachment)
            .where(
                Attachment.tenant_id == console.tenant.id,
                Attachment.id.in_([item.attachment_id for item in case.evidence]),
            )
            .order_by(Attachment.id)
        )
        evidence_files = list(rows.all())
    ret = case.ret
    notice = take_notice(request, NOTICES) if status_code == 200 else None
    context = {
        "request": request,
        "console": console,
        "nav": "returns",
        "case": case,
        "ret": ret,
        "evidence_files": evidence_files,
        "statuses": cases.STATUS_LABELS,
        "outcome_labels": cases.OUTCOME_LABELS,
        "rule_labels": cases.RULE_LABELS,
        "reasons": cases.REASON_LABELS,
        "resolutions": cases.RESOLUTION_LABELS,
        "payers": cases.PAYER_LABELS,
        "refund_kinds": cases.REFUND_KIND_LABELS,
        "refund_statuses": cases.REFUND_STATUS_LABELS,
        "grades": cases.GRADE_LABELS,
        "dispositions": cases.DISPOSITION_LABELS,
        "event_labels": cases.EVENT_LABELS,
        "signal_labels": cases.SIGNAL_LABELS,
        "signal_hints": cases.SIGNAL_HINTS,
        "shown_signals": cases.shown_signals(ret),
        "overdue": ret.due_at is not None
        and ret.resolved_at is None
        and (ret.breached_at is not None or as_utc(ret.due_at) < utcnow()),
        "can_act": _can(console, ACT),
        "can_review": ret.status is ReturnStatus.REQUESTED,
        "can_cancel": ret.status in {ReturnStatus.REQUESTED, ReturnStatus.APPROVED},
        "can_refund": ret.status in refunds.REFUNDABLE and case.refundable_minor > 0,
        "submission": new_token(16),
        "amount": amount,
        "decimals": minor_exponent(ret.currency),
        "notice": notice,
        "error": error,
    }
    response = render("console/returns_case.html", context, locale=console.locale, status_code=status_code)
    if notice:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


@router.get(LIST_PATH + "/{return_id}")
async def return_case(
    request: Request, return_id: int, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    return await case_response(request, console, session, _checked_id(return_id))


def _checked_id(value: int) -> int:
    if not 0 < value < 2**63:
        raise NotFound(f"Return {value} does not exist.")
    return value


@router.get(LIST_PATH + "/{return_id}/label.pdf")
async def return_label(
    request: Request, return_id: int, console: ConsoleDep, session: SessionDep
) -> Response:
    """The return label the buyer got, for an agent to print or send again."""
    ret = await returns.access_return(session, console.tenant.id, _checked_id(return_id))
    path = files.blob_path(request.app.state.services.settings.data_dir, ret.label_sha256)
    if not ret.label_sha256 or not path.is_file():
        raise NotFound(f"Return {ret.rma_number} has no label.")
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=f"{ret.rma_number}-label.pdf",
        content_disposition_type="inline",
    )


async def _act(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    return_id: int,
    action: Any,
    notice: str,
) -> Response:
    """Run `action(ret)` in a savepoint; a refusal re-renders the case with the reason and its status."""
    if not _can(console, ACT):
        raise PermissionDenied(REFUSALS["not_allowed"])
    ret = await returns.access_return(session, console.tenant.id, return_id)
    try:
        async with session.begin_nested():
            await action(ret)
    except DomainError as exc:
        key, params = _refusal(exc, ret)
        return await case_response(
            request, console, session, return_id, error=(REFUSALS[key], params), status_code=status_for(exc)
        )
    path = f"{LIST_PATH}/{return_id}"
    response = RedirectResponse(path, status_code=303)
    remember_notice(response, notice, path, request.app.state.services.settings.cookies_secure)
    return response


def _refusal(exc: DomainError, ret: Any) -> tuple[str, dict[str, str]]:
    field = getattr(exc, "field", None)
    if isinstance(exc, InvalidInput) and field == "amount_minor":
        if "nothing left" in exc.message:
            return "nothing_left", {}
        return "too_much", {"left": _left_text(exc.message)}
    if isinstance(exc, InvalidInput):
        return "amount", {}
    if isinstance(exc, Conflict) and "warehouse" in exc.message:
        return "no_route", {}
    if isinstance(exc, Conflict) and "refunded" in exc.message:
        return "not_refundable", {}
    if "review" in exc.message:
        return "decided", {}
    return "not_cancellable", {}


def _left_text(message: str) -> str:
    found = re.search(r"At most (\d+)", message)
    return found.group(1) if found else ""


@router.post(LIST_PATH + "/{return_id}/review")
async def review_return(
    request: Request, return_id: int, console: ConsoleDep, session: SessionDep
) -> Response:
    form = await request.form()
    approve = form.get("decision") == "approve"
    note = form_text(form, "note", 500)[:500]
    files_dir = request.app.state.services.settings.data_dir

    async def review(ret: Any) -> None:
        await returns.do_review(
            session, ret, approve=approve, actor=f"user:{console.user.id}", note=note, files_dir=files_dir
        )

    return await _act(
        request, console, session, _checked_id(return_id), review, "approved" if approve else "rejected"
    )


@router.post(LIST_PATH + "/{return_id}/cancel")
async def cancel_return(
    request: Request, return_id: int, console: ConsoleDep, session: SessionDep
) -> Response:
    async def cancel(ret: Any) -> None:
        await returns.do_cancel(session, ret, actor=f"user:{console.user.id}")

    return await _act(request, console, session, _checked_id(return_id), cancel, "cancelled")


def parse_amount(text: str, currency: str) -> int | None:
    """'12.5', '１２．５０' → minor units of `currency`; None when not a plain amount with its decimals."""
    folded = unicodedata.normalize("NFKC", text).strip()
    if not _AMOUNT.fullmatch(folded):
        return None
    try:
        value = Decimal(folded).scaleb(minor_exponent(currency))
    except InvalidOperation:
        return None
    if value != value.to_integral_value():
        return None
    return int(value)


@router.post(LIST_PATH + "/{return_id}/refund")
async def refund_return(
    request: Request, return_id: int, console: ConsoleDep, session: SessionDep
) -> Response:
    return_id = _checked_id(return_id)
    form = await request.form()
    submission = form_text(form, "submission", 80)
    credit = form.get("kind") == RefundKind.STORE_CREDIT.value
    typed = form_text(form, "amount", 40)
    if not SUBMISSION.fullmatch(submission):
        return await case_response(
            request, console, session, return_id, error=(REFUSALS["stale"], {}), status_code=422
        )
    ret = await returns.access_return(session, console.tenant.id, return_id)
    amount: int | None = None
    if typed:
        amount = parse_amount(typed, ret.currency)
        if not amount:
            return await case_response(
                request,
                console,
                session,
                return_id,
                error=(REFUSALS["amount"], {}),
                status_code=422,
                amount=typed,
            )

    async def refund(found: Any) -> None:
        await refunds.do_request_refund(
            session,
            found,
            actor=f"user:{console.user.id}",
            amount_minor=amount,
            kind=RefundKind.STORE_CREDIT if credit else None,
            key=f"console-{found.id}-{submission}",  # the same form sent twice: one refund
        )

    return await _act(request, console, session, return_id, refund, "credited" if credit else "refunded")


# --- the policy ------------------------------------------------------------------------------------------


async def _policy_page(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    values: dict[str, Any],
    errors: dict[str, str],
    sample: dict[str, Any],
    sample_errors: dict[str, str],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    decision, window = None, None
    checked, _ = check_policy_form(values)
    checked_sample, _ = check_sample_form(sample)
    if checked is not None and checked_sample is not None:
        # The API's preview, with the policy as typed (so neither the session nor the caller is read).
        viewer = Principal(console.tenant.id, console.user.role, user_id=console.user.id)
        decision = await preview_return_decision(
            checked_sample.model_copy(update={"policy": checked}), session, viewer
        )
        line = checked_sample.lines[0]
        window = window_days(policy_of(checked), checked_sample.market, line.category)
    notice = take_notice(request, NOTICES) if status_code == 200 else None
    context = {
        "request": request,
        "console": console,
        "nav": "returns_policy",
        "values": values,
        "errors": errors,
        "sample": sample,
        "sample_errors": sample_errors,
        "decision": decision,
        "window": window,
        "can_change": _can(console, MANAGE),
        "reasons": cases.REASON_LABELS,
        "resolutions": cases.RESOLUTION_LABELS,
        "outcome_labels": cases.OUTCOME_LABELS,
        "rule_labels": cases.RULE_LABELS,
        "payers": cases.PAYER_LABELS,
        "evidence_kinds": [e.value for e in Evidence],
        "notice": notice,
    }
    response = render("console/returns_policy.html", context, locale=console.locale, status_code=status_code)
    if notice:
        forget_notice(response, request.url.path, request.app.state.services.settings.cookies_secure)
    return response


@router.get(POLICY_PATH)
async def return_policy_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    policy = await policies.return_policy(session, console.tenant.id)
    return await _policy_page(request, console, session, policy_values(policy), {}, dict(SAMPLE_DEFAULTS), {})


def _form_dict(form: FormData) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        shown[key] = (
            items if key.startswith(("evidence_", "sample_evidence")) else (items[-1] if items else "")
        )
    return shown


@router.post(POLICY_PATH)
async def save_return_policy(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    raw = _form_dict(await request.form())
    action = str(raw.get("action") or "save")
    values = {k: v for k, v in raw.items() if not k.startswith("sample_")}
    sample = {**SAMPLE_DEFAULTS, **{k: v for k, v in raw.items() if k.startswith("sample_")}}
    if "sample_evidence" not in raw:
        sample["sample_evidence"] = []
    sample["sample_reused_photo"] = raw.get("sample_reused_photo") == "on"
    checked, errors = check_policy_form(values)
    _, sample_errors = check_sample_form(sample)
    if action == "preview" or errors or sample_errors:
        status = 422 if errors or sample_errors else 200
        return await _policy_page(
            request, console, session, values, errors, sample, sample_errors, status_code=status
        )
    if not _can(console, MANAGE):
        raise PermissionDenied(POLICY_NOT_ALLOWED)
    assert checked is not None
    await policies.do_set_return_policy(session, console.tenant.id, policy_of(checked))
    response = RedirectResponse(POLICY_PATH, status_code=303)
    remember_notice(response, "policy_saved", POLICY_PATH, request.app.state.services.settings.cookies_secure)
    return response
