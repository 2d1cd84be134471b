"""Returns API for agents' tools: the filtered list (cursor paging), one return with its lines, return-or-keep
figures, events and refunds, and the actions an agent takes on it (review, refund, cancel). A refund needs an
`Idempotency-Key`: the same key finds the same refund (200) instead of paying twice (201)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import Field

from aftersail.kit.errors import InvalidInput
from aftersail.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aftersail.kit.validation import Out, Paged, PathId, QueryId, Strict, query_text
from aftersail.returns import cases, refunds
from aftersail.returns import service as returns
from aftersail.returns.models import RefundKind, RefundStatus
from aftersail.returns.rules import Outcome, Payer, Reason, Resolution, ReturnStatus
from aftersail.web.deps import OrderWriter, Reader, ServicesDep, SessionDep

router = APIRouter(tags=["returns"])
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"  # printable ASCII, no space at either end (as orders)
MAX_KEY = 90  # stored as "api-<return id>-<key>" within the refund key's 120 characters


class ReturnOut(Out):
    id: int
    rma_number: str
    order_id: int
    customer_id: int
    ticket_id: int | None
    status: ReturnStatus
    reason: Reason
    sub_reason: str
    resolution: Resolution
    market: str
    currency: str
    outcome: Outcome
    rule: str
    decision_reason: str
    freight_payer: Payer
    keep_item: bool
    signals: dict[str, Any]
    warehouse_id: int | None
    carrier: str
    tracking_number: str
    replacement_order_id: int | None
    refund_due_minor: int
    refunded_minor: int
    requested_at: datetime
    due_at: datetime | None
    breached_at: datetime | None


class ReturnLineOut(Out):
    id: int
    order_line_id: int
    sku_id: int
    quantity: int
    unit_price_minor: int
    eligible: bool
    why: str
    refund_minor: int
    restocking_fee_minor: int
    exchange_sku_id: int | None
    keep: bool
    cost_back_minor: int
    worth_back_minor: int
    received_quantity: int
    grade: str | None
    disposition: str | None


class ReturnEventOut(Out):
    kind: str
    actor: str
    data: dict[str, Any]
    created_at: datetime


class RefundOut(Out):
    id: int
    kind: RefundKind
    status: RefundStatus
    amount_minor: int
    currency: str
    provider: str
    store_credit_code: str
    actor: str
    created_at: datetime


class ReturnDetailOut(ReturnOut):
    routing_reason: str
    label_available: bool
    reverse_freight_minor: int
    handling_minor: int
    restock_value_minor: int
    loss_minor: int
    lines: list[ReturnLineOut]
    events: list[ReturnEventOut]
    refunds: list[RefundOut]


class ReviewIn(Strict):
    approve: bool
    note: str = Field(default="", max_length=500)


class RefundIn(Strict):
    amount_minor: int | None = Field(default=None, gt=0, le=10**12, description="Omit for what is due")
    kind: Literal[RefundKind.REFUND, RefundKind.STORE_CREDIT] | None = None


async def _detail(session: SessionDep, tenant_id: int, return_id: int) -> ReturnDetailOut:
    case = await cases.load_case(session, tenant_id, return_id)
    ret = case.ret
    return ReturnDetailOut.model_validate(
        {
            **ReturnOut.model_validate(ret).model_dump(),
            "routing_reason": ret.routing_reason,
            "label_available": bool(ret.label_sha256),
            "reverse_freight_minor": ret.reverse_freight_minor,
            "handling_minor": ret.handling_minor,
            "restock_value_minor": ret.restock_value_minor,
            "loss_minor": ret.loss_minor,
            "lines": [ReturnLineOut.model_validate(line) for line, _ in case.lines],
            "events": [ReturnEventOut.model_validate(event) for event in case.events],
            "refunds": [RefundOut.model_validate(refund) for refund in case.refunds],
        }
    )


@router.get("/returns", response_model=Paged[ReturnOut])
async def list_returns(
    session: SessionDep,
    principal: Reader,
    status: ReturnStatus | None = None,
    outcome: Annotated[
        str | None, Query(pattern=r"^(auto_approved|manual_review|rejected|needs_review)$")
    ] = None,
    market: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    warehouse_id: QueryId = None,
    q: Annotated[str | None, query_text(100, "RMA, tracking or order number (prefix)")] = None,
    cursor: Annotated[str | None, query_text(200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Paged[ReturnOut]:
    """Newest first. `outcome=needs_review`: sent to a person and not decided yet."""
    filters = cases.ReturnFilters(status, outcome, market, warehouse_id, q)
    page = await cases.list_returns(session, principal.tenant_id, filters, cursor=cursor, limit=limit)
    return Paged[ReturnOut](
        items=[ReturnOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/returns/{return_id}", response_model=ReturnDetailOut)
async def get_return(return_id: PathId, session: SessionDep, principal: Reader) -> ReturnDetailOut:
    return await _detail(session, principal.tenant_id, return_id)


@router.post("/returns/{return_id}/review", response_model=ReturnDetailOut)
async def review_return(
    return_id: PathId, body: ReviewIn, session: SessionDep, principal: OrderWriter, services: ServicesDep
) -> ReturnDetailOut:
    """Approve or reject a request the policy sent for review (409 once it is decided)."""
    ret = await returns.access_return(session, principal.tenant_id, return_id)
    await returns.do_review(
        session,
        ret,
        approve=body.approve,
        actor=principal.actor,
        note=body.note,
        files_dir=services.settings.data_dir,
    )
    await session.flush()
    return await _detail(session, principal.tenant_id, return_id)


@router.post("/returns/{return_id}/refunds", response_model=RefundOut, status_code=201)
async def refund_return(
    return_id: PathId,
    body: RefundIn,
    response: Response,
    session: SessionDep,
    principal: OrderWriter,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=MAX_KEY,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Required: the same key finds the same refund instead of paying twice",
        ),
    ] = None,
) -> RefundOut:
    """Refund a received (or graded) return: what is due, or `amount_minor` for a partial refund, to the
    payment or as store credit. 201 for a new refund; 200 with `Idempotent-Replayed: true` when the key
    already made one (the body is not compared: the first refund stands)."""
    ret = await returns.access_return(session, principal.tenant_id, return_id)  # another tenant's: 404
    if idempotency_key is None:
        raise InvalidInput(
            "Send an Idempotency-Key header: a retry with the same key never pays twice.",
            field="idempotency_key",
        )
    before = {refund.id for refund in await refunds.return_refunds(session, ret)}
    refund = await refunds.do_request_refund(
        session,
        ret,
        actor=principal.actor,
        amount_minor=body.amount_minor,
        kind=body.kind,
        key=f"api-{ret.id}-{idempotency_key}",  # a key belongs to its return
    )
    if refund.id in before:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return RefundOut.model_validate(refund)


@router.post("/returns/{return_id}/cancel", response_model=ReturnDetailOut)
async def cancel_return(return_id: PathId, session: SessionDep, principal: OrderWriter) -> ReturnDetailOut:
    """Withdraw a return that has not travelled yet (409 after that)."""
    ret = await returns.access_return(session, principal.tenant_id, return_id)
    await returns.do_cancel(session, ret, actor=principal.actor)
    await session.flush()
    return await _detail(session, principal.tenant_id, return_id)
