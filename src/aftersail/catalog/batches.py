"""Use cases of batches (production lots) of SKUs: created by hand, or when a warehouse counts a lot code the
SKU does not have yet.

Every query filters by `tenant_id`; another tenant's row is `NotFound`. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.catalog.models import Batch
from aftersail.catalog.schemas import BatchCreate
from aftersail.catalog.service import access_sku, flush_or_conflict
from aftersail.kit.errors import Conflict, InvalidInput


async def do_create_batch(session: AsyncSession, tenant_id: int, sku_id: int, data: BatchCreate) -> Batch:
    sku = await access_sku(session, tenant_id, sku_id)
    if data.manufactured_on and data.expires_on and data.expires_on < data.manufactured_on:
        raise InvalidInput("expires_on: before manufactured_on", field="expires_on")
    if await find_batch(session, tenant_id, sku.id, data.code) is not None:
        raise Conflict(f"{sku.code} already has a batch {data.code!r}", field="code")
    batch = Batch(
        tenant_id=tenant_id,
        sku_id=sku.id,
        code=data.code,
        manufactured_on=data.manufactured_on,
        expires_on=data.expires_on,
        received_at=data.received_at,
    )
    session.add(batch)
    await flush_or_conflict(session, f"{sku.code} already has a batch {data.code!r}", "code")
    return batch


async def find_batch(session: AsyncSession, tenant_id: int, sku_id: int, code: str) -> Batch | None:
    return await session.scalar(
        select(Batch).where(Batch.tenant_id == tenant_id, Batch.sku_id == sku_id, Batch.code == code)
    )


async def batches_by_ids(session: AsyncSession, tenant_id: int, ids: Iterable[int]) -> dict[int, Batch]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Batch).where(Batch.tenant_id == tenant_id, Batch.id.in_(wanted)))
    return {batch.id: batch for batch in rows}


async def list_batches(session: AsyncSession, tenant_id: int, sku_id: int) -> list[Batch]:
    await access_sku(session, tenant_id, sku_id)
    rows = await session.scalars(
        select(Batch).where(Batch.tenant_id == tenant_id, Batch.sku_id == sku_id).order_by(Batch.id)
    )
    return list(rows.all())
