"""HTTP routes of the orders domain: customers, orders and live sessions."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from fastapi import APIRouter, Header, Query, Response
from pydantic import AwareDatetime

from aftersail.kit.errors import Conflict, DomainError
from aftersail.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from aftersail.kit.validation import Paged, PathId, QueryId, query_text
from aftersail.orders import ingest, intake
from aftersail.orders import service as orders
from aftersail.orders.intake_queue import OrderIntake
from aftersail.orders.models import Order, OrderChannel, OrderStatus
from aftersail.orders.schemas import (
    AllocationLineOut,
    AllocationOut,
    CustomerCreate,
    CustomerOut,
    LiveSessionCreate,
    LiveSessionOut,
    OrderCreate,
    OrderDetailOut,
    OrderEventOut,
    OrderLineOut,
    OrderOut,
)
from aftersail.tenants.service import Principal
from aftersail.web.deps import CustomerWriter, OrderWriter, OrderWriterAlone, Reader, ServicesDep, SessionDep
from aftersail.web.services import Services

router = APIRouter()
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"  # printable ASCII, no space at either end
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, query_text(200)]


@router.post("/customers", status_code=201, response_model=CustomerOut, tags=["customers"])
async def create_customer(
    body: CustomerCreate, session: SessionDep, principal: CustomerWriter
) -> CustomerOut:
    return CustomerOut.model_validate(await orders.do_create_customer(session, principal.tenant_id, body))


@router.get("/customers", response_model=Paged[CustomerOut], tags=["customers"])
async def list_customers(
    session: SessionDep,
    principal: Reader,
    email: Annotated[str | None, query_text(254)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    q: Annotated[str | None, query_text(200, "Part of the name or email")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[CustomerOut]:
    page = await orders.list_customers(
        session, principal.tenant_id, email=email, country=country, q=q, cursor=cursor, limit=limit
    )
    return Paged[CustomerOut](
        items=[CustomerOut.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get("/customers/{customer_id}", response_model=CustomerOut, tags=["customers"])
async def get_customer(customer_id: PathId, session: SessionDep, principal: Reader) -> CustomerOut:
    return CustomerOut.model_validate(await orders.access_customer(session, principal.tenant_id, customer_id))


async def _order_detail(session: SessionDep, tenant_id: int, order: Order) -> OrderDetailOut:
    """The order as one answer: customer, lines with what is still backordered, and every allocation with
    the warehouse, the reason it was chosen and the units (per SKU and batch) it holds."""
    customer = await orders.access_customer(session, tenant_id, order.customer_id)
    lines = [
        OrderLineOut(
            id=line.id,
            sku_id=sku.id,
            sku_code=sku.code,
            sku_title=sku.title,
            quantity=line.quantity,
            backordered_quantity=line.backordered_quantity,
            unit_price_minor=line.unit_price_minor,
            currency=line.currency,
            total_minor=line.unit_price_minor * line.quantity,
        )
        for line, sku in await orders.order_lines(session, tenant_id, order.id)
    ]
    allocations = [
        AllocationOut(
            id=allocation.id,
            warehouse_id=warehouse.id,
            warehouse_code=warehouse.code,
            warehouse_name=warehouse.name,
            status=allocation.status,
            reason=allocation.reason,
            transit_days=allocation.transit_days,
            shipment_group_id=allocation.shipment_group_id,
            created_at=allocation.created_at,
            lines=[
                AllocationLineOut(
                    order_line_id=line.order_line_id,
                    sku_id=line.sku_id,
                    sku_code=sku_code,
                    batch_id=line.batch_id,
                    batch_code=batch_code,
                    quantity=line.quantity,
                )
                for line, sku_code, batch_code in picked
            ],
        )
        for allocation, warehouse, picked in await orders.order_allocations(session, tenant_id, order.id)
    ]
    base = OrderOut.model_validate(order).model_dump()
    return OrderDetailOut(
        **base, customer=CustomerOut.model_validate(customer), lines=lines, allocations=allocations
    )


@router.post("/orders", status_code=201, response_model=OrderDetailOut, tags=["orders"])
async def create_order(
    body: OrderCreate,
    principal: OrderWriterAlone,
    services: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=ingest.MAX_KEY_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Any unique string (a UUID is a good one), at most 200 characters",
        ),
    ] = None,
) -> Response:
    """Record an order and allocate it to the warehouses that serve its destination (status `allocated`,
    or `backordered` for units no warehouse has). Give the customer by id or inline (matched by email), and
    each line's SKU by id or code; the total is computed from the lines.

    **Retries are safe with `Idempotency-Key`.** Send a key of your choosing with the request; sending the
    same key again with the same body does not place a second order: the answer is the order the first
    request placed (same id), with the header `Idempotent-Replayed: true`. The same key with a different
    body is refused with 409 (`idempotency_key_reused`). Two requests with one key at the same moment also
    give one order. Keys belong to your tenant and are kept; the body is compared as canonical JSON, so key
    order and whitespace do not matter. A request that failed (4xx) leaves no key behind: fix it and retry
    with the same key."""
    answer = await answer_new_order(services, principal, body, idempotency_key)
    return Response(answer.body, answer.status, answer.headers, media_type="application/json")


class OrderAnswer(NamedTuple):
    """What `POST /orders` answers: the status, the order as JSON, and any extra headers."""

    status: int
    body: bytes
    headers: dict[str, str]


async def answer_new_order(
    services: Services, principal: Principal, body: OrderCreate, idempotency_key: str | None
) -> OrderAnswer:
    """Place the order through the process's group-commit writer and answer as `POST /orders` does
    (also for `orders.intake_route`, which takes the common case off the framework); raises the
    order's `DomainError`. The order is serialised once, by its own model (FastAPI would validate and
    encode it again)."""
    request = intake.PlaceRequest(
        data=body,
        actor=principal.actor,
        key=idempotency_key,
        scope=intake.SCOPE_ORDERS_CREATE,
        digest=ingest.request_hash(body.model_dump(mode="json")) if idempotency_key else None,
    )
    outcome = await order_intake(services).place(principal.tenant_id, request)
    if isinstance(outcome, DomainError):
        raise outcome
    if isinstance(outcome, intake.Placed):
        return OrderAnswer(201, outcome.answer_json(), {})
    if isinstance(outcome, intake.Deferred):
        raise Conflict(
            f"the request with Idempotency-Key {idempotency_key!r} is still being processed; retry"
        )
    async with services.db.transaction(tenant_id=principal.tenant_id, readonly=True) as session:
        order = await orders.access_order(session, principal.tenant_id, outcome.order_id)
        detail = await _order_detail(session, principal.tenant_id, order)
    return OrderAnswer(201, detail.model_dump_json().encode(), {"Idempotent-Replayed": "true"})


def order_intake(services: Services) -> OrderIntake:
    """The process's group-commit writer for this app's database (made on first use)."""
    found = services.extras.get("order_intake")
    if not isinstance(found, OrderIntake):
        found = services.extras["order_intake"] = OrderIntake(services.db)
    return found


@router.get("/orders", response_model=Paged[OrderOut], tags=["orders"])
async def list_orders(
    session: SessionDep,
    principal: Reader,
    status: OrderStatus | None = None,
    channel: OrderChannel | None = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    live_session_id: QueryId = None,
    customer_id: QueryId = None,
    q: Annotated[str | None, query_text(200, "Order number prefix, customer email or name")] = None,
    placed_from: AwareDatetime | None = None,
    placed_to: AwareDatetime | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paged[OrderOut]:
    filters = orders.OrderFilters(
        status=status,
        channel=channel,
        country=country,
        live_session_id=live_session_id,
        customer_id=customer_id,
        q=q,
        placed_from=placed_from,
        placed_to=placed_to,
    )
    page = await orders.list_orders(session, principal.tenant_id, filters, cursor=cursor, limit=limit)
    return Paged[OrderOut](
        items=[OrderOut.model_validate(o) for o in page.items], next_cursor=page.next_cursor
    )


@router.get("/orders/{order_id}", response_model=OrderDetailOut, tags=["orders"])
async def get_order(order_id: PathId, session: SessionDep, principal: Reader) -> OrderDetailOut:
    order = await orders.access_order(session, principal.tenant_id, order_id)
    return await _order_detail(session, principal.tenant_id, order)


@router.get("/orders/{order_id}/events", response_model=list[OrderEventOut], tags=["orders"])
async def list_order_events(order_id: PathId, session: SessionDep, principal: Reader) -> list[OrderEventOut]:
    """The order's audit trail, oldest first: created, allocated or backordered, changes, release, with
    who did it (`actor`: an API key, a console user, the buyer's link, an import) and the details."""
    order = await orders.access_order(session, principal.tenant_id, order_id)
    return [
        OrderEventOut.model_validate(e)
        for e in await orders.list_order_events(session, principal.tenant_id, order.id)
    ]


@router.post("/live-sessions", status_code=201, response_model=LiveSessionOut, tags=["orders"])
async def create_live_session(
    body: LiveSessionCreate, session: SessionDep, principal: OrderWriter
) -> LiveSessionOut:
    return LiveSessionOut.model_validate(
        await orders.do_create_live_session(session, principal.tenant_id, body)
    )


@router.get("/live-sessions", response_model=list[LiveSessionOut], tags=["orders"])
async def list_live_sessions(session: SessionDep, principal: Reader) -> list[LiveSessionOut]:
    return [
        LiveSessionOut.model_validate(s)
        for s in await orders.list_live_sessions(session, principal.tenant_id)
    ]
