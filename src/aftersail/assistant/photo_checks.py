"""Every buyer photo fingerprinted when its message is stored: reused across cases (another ticket's photo,
this buyer's or anyone's) and capture dates that do not fit the order are flagged for agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.assistant import photos
from aftersail.assistant.model_turn import provider_for
from aftersail.assistant.models import PhotoCheck
from aftersail.assistant.providers import IMAGE_MEDIA_TYPES, ChatMessage, ImagePart, ProviderUnavailable
from aftersail.kit.clock import as_utc, utcnow
from aftersail.kit.sealing import Sealer
from aftersail.orders.models import Customer, Order
from aftersail.support import attachments as files
from aftersail.support.models import Attachment, Ticket
from aftersail.tenants.models import Tenant

MAX_COMPARED = 5_000
READING_PROMPT = (
    "You look at a photo a buyer sent to an online shop's after-sales team. Answer with one JSON object: "
    '{"damage_visible": true or false, "description": "what is damaged and how, in English, one sentence"}. '
    "Describe only what the photo shows; if you cannot tell, say so."
)  # the tenant's most recent photos a new one is compared with


async def do_check_photos(
    session: AsyncSession,
    tenant_id: int,
    message_ids: Sequence[int],
    files_dir: Path,
    *,
    sealer: Sealer | None = None,
) -> list[PhotoCheck]:
    """Checks the image attachments of these messages (each once); `sealer` opens the key of the tenant's
    model, which reads the photos when there is one."""
    found = (
        await session.scalars(
            select(Attachment).where(
                Attachment.tenant_id == tenant_id,
                Attachment.message_id.in_(list(message_ids)),
                Attachment.content_type.like("image/%"),
            )
        )
    ).all()
    checks = []
    for attachment in found:
        if attachment.ticket_id is None or await session.get(PhotoCheck, attachment.id) is not None:
            continue
        checks.append(await _check(session, attachment, files_dir, sealer))
    return checks


async def _check(
    session: AsyncSession, attachment: Attachment, files_dir: Path, sealer: Sealer | None
) -> PhotoCheck:
    ticket = await session.get(Ticket, attachment.ticket_id)
    assert ticket is not None
    customer = await session.get(Customer, ticket.customer_id)
    check = PhotoCheck(
        tenant_id=attachment.tenant_id,
        attachment_id=attachment.id,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        sha256=attachment.sha256,
        phash="",
        dhash="",
        camera="",
        date_finding=photos.DateFinding.NO_EXIF_DATE.value,
        reused=[],
        error="",
        model_reading={},
        created_at=utcnow(),
    )
    session.add(check)
    try:
        data = await files.read_bytes(files_dir, attachment)
        zone = _zone(customer.time_zone if customer else "UTC")
        fingerprint = await asyncio.to_thread(photos.fingerprint_photo, data, fallback_zone=zone)
    except (OSError, photos.PhotoRejected) as error:
        check.error = str(getattr(error, "message", error))[:300]
        await session.flush()
        return check
    check.phash, check.dhash = fingerprint.phash, fingerprint.dhash
    check.taken_at, check.camera = fingerprint.taken_at, (fingerprint.camera or "")[:200]
    order = await session.get(Order, ticket.order_id) if ticket.order_id else None
    if order is not None:
        check.date_finding = photos.check_taken_at(
            fingerprint.taken_at, ordered_at=as_utc(order.placed_at), delivered_at=None, received_at=utcnow()
        ).value
    earlier = (
        await session.scalars(
            select(PhotoCheck)
            .where(
                PhotoCheck.tenant_id == attachment.tenant_id,
                PhotoCheck.ticket_id != ticket.id,
                PhotoCheck.phash != "",
            )
            .order_by(PhotoCheck.created_at.desc())
            .limit(MAX_COMPARED)
        )
    ).all()
    candidates = [(row, _as_fingerprint(row)) for row in earlier]
    await _read_with_model(session, check, attachment, data, sealer)
    check.reused = [
        {
            "ticket_id": reuse.key.ticket_id,
            "attachment_id": reuse.key.attachment_id,
            "distance": reuse.distance,
            "identical": reuse.identical,
            "same_buyer": reuse.key.customer_id == ticket.customer_id,
        }
        for reuse in photos.find_reuse(fingerprint, candidates)[:5]
    ]
    await session.flush()
    return check


async def _read_with_model(
    session: AsyncSession, check: PhotoCheck, attachment: Attachment, data: bytes, sealer: Sealer | None
) -> None:
    """The tenant's model, when it has one, says whether damage is visible and what (a hint for agents)."""
    tenant = await session.get(Tenant, attachment.tenant_id)
    provider = provider_for(tenant, sealer) if tenant is not None else None
    if provider is None or attachment.content_type not in IMAGE_MEDIA_TYPES:
        return
    try:
        reply = await provider.complete(
            [
                ChatMessage("system", READING_PROMPT),
                ChatMessage("user", "The buyer's photo:", images=(ImagePart(attachment.content_type, data),)),
            ],
            json_output=True,
            max_tokens=200,
        )
        answer = json.loads(reply.text)
        check.model_reading = {
            "damage_visible": bool(answer.get("damage_visible")),
            "description": str(answer.get("description") or "")[:300],
            "model": f"{provider.name}/{provider.model}"[:120],
        }
    except (ProviderUnavailable, ValueError, AttributeError) as error:
        check.model_reading = {"error": str(getattr(error, "message", error))[:300]}
    finally:
        await provider.aclose()


def _as_fingerprint(row: PhotoCheck) -> photos.PhotoFingerprint:
    return photos.PhotoFingerprint(
        sha256=row.sha256, phash=row.phash, dhash=row.dhash, width=0, height=0, media_type="",
        taken_at=row.taken_at, taken_at_zone_known=True, camera=row.camera or None,
    )  # fmt: skip


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


async def ticket_photo_checks(session: AsyncSession, tenant_id: int, ticket_id: int) -> dict[int, PhotoCheck]:
    """The checks of a ticket's photos, by attachment id (for the console)."""
    rows = await session.scalars(
        select(PhotoCheck).where(PhotoCheck.tenant_id == tenant_id, PhotoCheck.ticket_id == ticket_id)
    )
    return {row.attachment_id: row for row in rows.all()}
