"""Console pages of warehouse receiving, for a tablet with a barcode scanner: `/returns/receive` takes a scan
(RMA or return tracking number; a scanner types the code and Enter) and opens the case; the case page scans
the parcel in and grades each line (count, grade A–D, disposition, note, photos) through `receiving`.

Warehouse operators and admins act (`Permission.WRITE_STOCK`, as restocking moves stock); other roles look.
The grading form carries a signed form token and is applied under the return's row lock, so a second submit
of the same form finds the return graded and shows the result instead of grading (and refunding) again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from aftersail.catalog import service as catalog
from aftersail.catalog.models import Batch
from aftersail.kit.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from aftersail.kit.i18n import N_
from aftersail.kit.validation import PathId
from aftersail.orders import service as orders
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import Disposition, RefundKind, RefundStatus, ReturnRequest
from aftersail.returns.rules import Reason, ReturnStatus
from aftersail.support import attachments as files
from aftersail.tenants.rules import Permission, role_allows
from aftersail.web.console import (
    ConsoleContext,
    ConsoleDep,
    check_form_token,
    issue_form_token,
    remember_form_nonce,
)
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render, status_for

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

SCAN_PATH = "/returns/receive"
ACT = Permission.WRITE_STOCK  # warehouse operators and admins: restocking moves stock
MAX_CODE = 64
GRADED_ON = frozenset(
    {ReturnStatus.GRADED, ReturnStatus.REFUNDED, ReturnStatus.EXCHANGED, ReturnStatus.CLOSED}
)

NOT_ALLOWED = N_("Only warehouse operators and admins can receive and grade returns.")
UNKNOWN_CODE = N_("No return has the code %(code)s. Check the label and scan again.")
ERRORS = {
    "count": N_("Enter the count received as a whole number of 0 or more."),
    "grade": N_("Choose a grade for every item."),
    "disposition": N_("Choose where every item goes."),
    "photos": N_("Photos must be JPEG, PNG, WebP or HEIC images of at most 10 MB, six at most."),
    "conflict": N_("This return is no longer at this step; the page now shows where it is."),
    "invalid": N_("The grading was not accepted; check the counts and try again. Nothing was saved."),
}
STATUS_LABELS = {
    ReturnStatus.REQUESTED: N_("Requested, not decided yet"),
    ReturnStatus.APPROVED: N_("Approved, parcel expected"),
    ReturnStatus.REJECTED: N_("Rejected, nothing to receive"),
    ReturnStatus.KEEP_REFUNDED: N_("Refunded, buyer keeps the item"),
    ReturnStatus.IN_TRANSIT: N_("Parcel in transit"),
    ReturnStatus.RECEIVED: N_("Parcel received, to grade"),
    ReturnStatus.GRADED: N_("Graded at the warehouse"),
    ReturnStatus.REFUNDED: N_("Graded and refunded"),
    ReturnStatus.EXCHANGED: N_("Graded, exchange sent"),
    ReturnStatus.CLOSED: N_("Closed"),
    ReturnStatus.CANCELLED: N_("Cancelled by the buyer"),
}
REASON_LABELS = {
    Reason.DOES_NOT_FIT: N_("Buyer's reason: does not fit"),
    Reason.NOT_AS_DESCRIBED: N_("Buyer's reason: not as described"),
    Reason.DAMAGED: N_("Buyer's reason: arrived damaged"),
    Reason.DEFECTIVE: N_("Buyer's reason: defective"),
    Reason.WRONG_ITEM: N_("Buyer's reason: wrong item sent"),
    Reason.MISSING_PARTS: N_("Buyer's reason: parts missing"),
    Reason.CHANGED_MIND: N_("Buyer's reason: changed their mind"),
    Reason.ARRIVED_LATE: N_("Buyer's reason: arrived late"),
    Reason.OTHER: N_("Buyer's reason: other"),
}
GRADE_LABELS = {
    Grade.A: N_("Resaleable as new"),
    Grade.B: N_("Repackage, then resell"),
    Grade.C: N_("Refurbish first"),
    Grade.D: N_("Scrap only"),
}
DISPOSITION_LABELS = {
    Disposition.RESTOCK: N_("Restock in this warehouse"),
    Disposition.REFURBISH: N_("Send to refurbishment"),
    Disposition.LIQUIDATE: N_("Liquidate locally"),
    Disposition.RETURN_TO_SUPPLIER: N_("Return to the supplier"),
    Disposition.DESTROY: N_("Destroy (scrap)"),
}
REFUND_LABELS = {
    RefundStatus.REQUESTED: N_("Refund queued for the payment provider"),
    RefundStatus.PENDING: N_("Refund on its way to the buyer"),
    RefundStatus.SUCCEEDED: N_("Refund paid"),
    RefundStatus.FAILED: N_("Refund failed; an agent follows up"),
}
REFUND_KIND_LABELS = {
    RefundKind.REFUND: N_("To the original payment"),
    RefundKind.STORE_CREDIT: N_("As store credit"),
    RefundKind.KEEP_REFUND: N_("Refund without a return"),
}


@dataclass
class LineForm:
    """One line's grading fields, as typed (kept when the form comes back with an error)."""

    received: str
    grade: str
    disposition: str
    note: str


def _may_act(console: ConsoleContext) -> bool:
    return role_allows(console.user.role, ACT)


def _require_act(console: ConsoleContext) -> None:
    if not _may_act(console):
        raise PermissionDenied(NOT_ALLOWED)


def _case_path(return_id: int) -> str:
    return f"{SCAN_PATH}/{return_id}"


def _purpose(console: ConsoleContext, return_id: int) -> str:
    return f"returns.grade.{console.tenant.id}.{return_id}"


async def _locked_return(session: AsyncSession, tenant_id: int, return_id: int) -> ReturnRequest:
    """The return with its row locked (PostgreSQL; SQLite's write transaction is one at a time anyway), read
    afresh: two submits of one form queue here and the second sees what the first did."""
    found = await session.scalar(
        select(ReturnRequest)
        .where(ReturnRequest.tenant_id == tenant_id, ReturnRequest.id == return_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"Return {return_id} does not exist.", return_id=return_id)
    return found


# --- the scan page -----------------------------------------------------------------------------------------


@router.get(SCAN_PATH)
async def scan_page(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    code = (request.query_params.get("code") or "").strip()[:MAX_CODE]
    error: tuple[str, dict[str, str]] | None = None
    if code:
        try:
            found = await returns.find_return_by_code(session, console.tenant.id, code)
        except NotFound:
            error = (UNKNOWN_CODE, {"code": code.upper()})
        else:
            return RedirectResponse(_case_path(found.id), status_code=303)
    context = {"request": request, "console": console, "nav": "returns", "error": error}
    return render(
        "console/returns_receive.html",
        context,
        locale=console.locale,
        status_code=404 if error else 200,
    )


@router.post(SCAN_PATH)
async def scan_posted(request: Request, console: ConsoleDep) -> Response:
    """The same scan as a form post (a scanner set up to post): on to the GET, which finds the case."""
    value = (await request.form()).get("code")
    code = value.strip()[:MAX_CODE] if isinstance(value, str) else ""
    return RedirectResponse(f"{SCAN_PATH}?code={quote(code, safe='')}", status_code=303)


# --- the case page -----------------------------------------------------------------------------------------


async def _case_response(
    request: Request,
    console: ConsoleContext,
    session: AsyncSession,
    ret: ReturnRequest,
    *,
    error: tuple[str, dict[str, Any]] | None = None,
    detail: str = "",
    values: dict[int, LineForm] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    settings = request.app.state.services.settings
    tenant_id = console.tenant.id
    rows = await returns.return_lines(session, ret)
    batch_ids = {line.batch_id for line, _ in rows if line.batch_id is not None}
    batches = (
        dict(
            (
                await session.execute(
                    select(Batch.id, Batch.code).where(Batch.tenant_id == tenant_id, Batch.id.in_(batch_ids))
                )
            )
            .tuples()
            .all()
        )
        if batch_ids
        else {}
    )
    photos: dict[str, list[Any]] = {"buyer": [], "warehouse": []}
    for evidence in await returns.return_evidence(session, ret):
        attachment = await files.access_attachment(session, tenant_id, evidence.attachment_id)
        if attachment.content_type.startswith("image/"):
            photos.setdefault(evidence.source, []).append(attachment)
    order = await orders.access_order(session, tenant_id, ret.order_id)
    warehouse = (
        await catalog.access_warehouse(session, tenant_id, ret.warehouse_id) if ret.warehouse_id else None
    )
    gradable = [(line, sku) for line, sku in rows if line.eligible and not line.keep]
    shown = values or {
        line.id: LineForm(
            received=str(line.quantity),
            grade="",
            disposition="",
            note="",
        )
        for line, _ in gradable
    }
    nonce, form_token = issue_form_token(request, settings, _purpose(console, ret.id))
    context = {
        "request": request,
        "console": console,
        "nav": "returns",
        "ret": ret,
        "order": order,
        "warehouse": warehouse,
        "rows": rows,
        "gradable": gradable,
        "batches": batches,
        "photos": photos,
        "refunds": await refunds.return_refunds(session, ret) if ret.status in GRADED_ON else [],
        "differences": [
            (line, sku)
            for line, sku in gradable
            if line.graded_at and line.received_quantity != line.quantity
        ],
        "can_act": _may_act(console),
        "receivable": ret.status in receiving.RECEIVABLE,
        "gradeable": ret.status is ReturnStatus.RECEIVED,
        "graded": ret.status in GRADED_ON,
        "values": shown,
        "form_token": form_token,
        "error": error,
        "detail": detail,
        "statuses": STATUS_LABELS,
        "reasons": REASON_LABELS,
        "grades": GRADE_LABELS,
        "dispositions": DISPOSITION_LABELS,
        "usual": {
            grade.value: disposition.value for grade, disposition in receiving.USUAL_DISPOSITION.items()
        },
        "refund_labels": REFUND_LABELS,
        "refund_kinds": REFUND_KIND_LABELS,
        "not_allowed": NOT_ALLOWED,
    }
    response = render(
        "console/returns_receive_case.html", context, locale=console.locale, status_code=status_code
    )
    remember_form_nonce(response, nonce, settings)
    return response


@router.get(SCAN_PATH + "/{return_id}")
async def case_page(
    request: Request, return_id: PathId, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    ret = await returns.access_return(session, console.tenant.id, return_id)
    return await _case_response(request, console, session, ret)


@router.post(SCAN_PATH + "/{return_id}/received")
async def parcel_received(
    request: Request, return_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require_act(console)
    ret = await _locked_return(session, console.tenant.id, return_id)
    try:
        async with session.begin_nested():
            await receiving.do_receive(session, ret, actor=f"user:{console.user.id}")
    except DomainError as exc:
        ret = await returns.access_return(session, console.tenant.id, return_id)
        await session.refresh(ret)
        return await _case_response(
            request,
            console,
            session,
            ret,
            error=(ERRORS["conflict"], {}),
            detail=exc.message,
            status_code=status_for(exc),
        )
    return RedirectResponse(_case_path(return_id), status_code=303)


def _read_lines(form: FormData, line_ids: list[int]) -> tuple[dict[int, LineForm], str | None]:
    values: dict[int, LineForm] = {}
    for line_id in line_ids:

        def text(name: str, limit: int, line_id: int = line_id) -> str:
            value = form.get(f"{name}_{line_id}")
            return value.strip()[:limit].replace("\x00", "") if isinstance(value, str) else ""

        values[line_id] = LineForm(
            received=text("received", 10),
            grade=text("grade", 2),
            disposition=text("disposition", 40),
            note=text("note", 1000),
        )
    for shown in values.values():
        if not shown.received.isascii() or not shown.received.isdigit():
            return values, "count"
        if shown.grade not in {grade.value for grade in Grade}:
            return values, "grade"
        if shown.disposition not in {disposition.value for disposition in Disposition}:
            return values, "disposition"
    return values, None


async def _read_photos(form: FormData) -> list[returns.Upload]:
    """The photos taken while grading, their type sniffed from the bytes (an empty file field is none)."""
    uploads = []
    for item in form.getlist("photos"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue
        data = await item.read(returns.MAX_PHOTO_BYTES + 1)
        if not data:
            continue
        content_type = files.check_upload(
            data, max_bytes=returns.MAX_PHOTO_BYTES, allowed=returns.PHOTO_TYPES
        )
        uploads.append(returns.Upload(item.filename, data, content_type))
    if len(uploads) > returns.MAX_UPLOADS:
        raise InvalidInput("Too many photos.", field="files")
    return uploads


@router.post(SCAN_PATH + "/{return_id}/grading")
async def grade_return(
    request: Request, return_id: PathId, console: ConsoleDep, session: SessionDep
) -> Response:
    _require_act(console)
    settings = request.app.state.services.settings
    form = await request.form()
    ret = await _locked_return(session, console.tenant.id, return_id)  # another tenant's: 404 first
    presented = form.get("form_token")
    check_form_token(
        request, presented if isinstance(presented, str) else "", settings, _purpose(console, return_id)
    )
    if ret.status in GRADED_ON:
        return RedirectResponse(_case_path(return_id), status_code=303)  # this form was already applied
    gradable = [
        line for line, _ in await returns.return_lines(session, ret) if line.eligible and not line.keep
    ]
    values, problem = _read_lines(form, [line.id for line in gradable])

    async def again(key: str, status_code: int, detail: str = "") -> HTMLResponse:
        return await _case_response(
            request,
            console,
            session,
            ret,
            error=(ERRORS[key], {}),
            detail=detail,
            values=values,
            status_code=status_code,
        )

    if ret.status is not ReturnStatus.RECEIVED:  # a stale page: the parcel is not (or no longer) to grade
        return await again("conflict", 409)
    if problem:
        return await again(problem, 422)
    try:
        photos = await _read_photos(form)
    except DomainError:
        return await again("photos", 422)
    grades = [
        receiving.LineGrade(
            line_id,
            int(shown.received),
            Grade(shown.grade),
            Disposition(shown.disposition),
            shown.note,
        )
        for line_id, shown in values.items()
    ]
    try:
        async with session.begin_nested():  # a refusal half-way leaves no stock moved and no line graded
            await receiving.do_grade(
                session,
                ret,
                grades,
                actor=f"user:{console.user.id}",
                photos=photos,
                files_dir=settings.data_dir,
            )
    except DomainError as exc:
        ret = await returns.access_return(session, console.tenant.id, return_id)
        await session.refresh(ret)
        key = "conflict" if isinstance(exc, Conflict) else "invalid"
        return await again(key, status_for(exc), exc.message)
    return RedirectResponse(_case_path(return_id), status_code=303)
