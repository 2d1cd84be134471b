"""Buyer photos checked as their messages are stored (SQLite and PostgreSQL): the same picture sent again in
another buyer's case is flagged (re-encoded, resized), a capture date before the order is flagged, a file
that is not a picture is recorded as unreadable, and each photo is checked once."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import update

from aftersail.assistant import photo_checks
from aftersail.assistant.tasks import outbox_handlers
from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.outbox import Delivery, Handler
from aftersail.kit.realtime import InMemoryBus
from aftersail.kit.sealing import Sealer
from aftersail.orders.models import Order
from aftersail.support import attachments, messages
from aftersail.support import service as tickets
from aftersail.support.models import Channel
from aftersail.tenants.models import Tenant
from tests.fulfilment import make_network, place_order
from tests.model_server import Reply, serve_in_thread
from tests.support_desk import make_desk, open_buyer_ticket

ORDERED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def photo(seed: int, *, taken: datetime | None = None, size: int = 640, quality: int = 90) -> bytes:
    """A synthetic photo (gradients, shapes, noise from `seed`) as JPEG, with an EXIF capture time."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size * 3 // 4))
    draw = ImageDraw.Draw(image)
    for y in range(image.height):
        draw.line([(0, y), (image.width, y)], fill=(rng.randrange(256), y * 255 // image.height, 120))
    for _ in range(12):
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        draw.ellipse(
            [x, y, x + rng.randrange(40, 200), y + rng.randrange(40, 200)],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    exif = Image.Exif()
    if taken is not None:
        exif[0x8769] = {36867: taken.strftime("%Y:%m:%d %H:%M:%S"), 36881: "+00:00"}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def resized(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    image.resize((image.width // 2, image.height // 2)).save(out, "JPEG", quality=60, exif=image.getexif())
    return out.getvalue()


async def _send(
    database: Database, tenant_id: int, ticket_id: int, files_dir: Path, data: bytes, name: str
) -> int:
    async with database.transaction(tenant_id=tenant_id) as session:
        ticket = await tickets.access_ticket(session, tenant_id, ticket_id)
        stored = await attachments.do_store_attachment(
            session, ticket, filename=name, data=data, content_type="image/jpeg", files_dir=files_dir
        )
        message = await messages.do_add_customer_message(
            session,
            ticket,
            body="Foto",
            channel=Channel.CHAT,
            author_name="Buyer",
            attachment_ids=[stored.id],
        )
        return message.id


async def test_reused_photos_and_early_capture_dates_are_flagged(database: Database, tmp_path: Path) -> None:
    desk = await make_desk(database)
    network = await make_network(database, desk.tenant_id)
    await network.set_stock(database, "FRA", "lamp", 5)
    order_id = await place_order(database, network, {"lamp": 1})
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        await session.execute(update(Order).where(Order.id == order_id).values(placed_at=ORDERED))
    first = await open_buyer_ticket(database, desk, name="Anna", body="kaputt", subject="kaputt")
    second = await open_buyer_ticket(database, desk, name="Ben", body="auch kaputt", subject="kaputt")
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        ticket = await tickets.access_ticket(session, desk.tenant_id, second)
        ticket.order_id = order_id

    original = photo(1, taken=ORDERED - timedelta(days=30))
    first_message = await _send(database, desk.tenant_id, first, tmp_path, original, "a.jpg")
    settings = Settings(data_dir=tmp_path)  # type: ignore[call-arg]
    (check_photos,) = [
        h for h in outbox_handlers(settings, InMemoryBus()) if h.name == "assistant.check_photos"
    ]
    assert isinstance(check_photos, Handler)
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        await check_photos.fn(
            session, Delivery(0, "support.translate", {"message_id": first_message}, desk.tenant_id, 1)
        )
        (check,) = (await photo_checks.ticket_photo_checks(session, desk.tenant_id, first)).values()
        assert check.reused == [] and check.taken_at == ORDERED - timedelta(days=30)
        assert check.date_finding == "no_exif_date"  # this ticket names no order to compare with

    copy_message = await _send(database, desk.tenant_id, second, tmp_path, resized(original), "b.jpg")
    other_message = await _send(database, desk.tenant_id, second, tmp_path, photo(2), "c.jpg")
    not_a_photo = await _send(database, desk.tenant_id, second, tmp_path, b"\xff\xd8\xff\xe0 broken", "d.jpg")
    async with database.transaction(tenant_id=desk.tenant_id) as session:
        checked = await photo_checks.do_check_photos(
            session, desk.tenant_id, [copy_message, other_message, not_a_photo], tmp_path
        )
        assert len(checked) == 3
        again = await photo_checks.do_check_photos(session, desk.tenant_id, [copy_message], tmp_path)
        assert again == []  # checked once
        by_attachment = await photo_checks.ticket_photo_checks(session, desk.tenant_id, second)
    copy, other, broken = sorted(by_attachment.values(), key=lambda c: c.attachment_id)
    assert [(r["ticket_id"], r["same_buyer"], r["identical"]) for r in copy.reused] == [(first, False, False)]
    assert copy.date_finding == "before_order"  # EXIF kept by the resize: taken a month before the order
    assert other.reused == [] and other.date_finding == "no_exif_date"
    assert broken.error and broken.phash == ""


async def test_a_tenants_model_reads_the_photo_for_the_agents(database: Database, tmp_path: Path) -> None:
    desk = await make_desk(database)
    ticket_id = await open_buyer_ticket(database, desk, name="Cara", body="zerbrochen", subject="kaputt")
    sealer = Sealer("a-server-secret-key-long-enough-for-tests")
    sealed = sealer.seal("sk-photo", tenant_id=desk.tenant_id)  # as the settings API stores it
    with serve_in_thread(api_key="sk-photo") as server:
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            await session.execute(
                update(Tenant)
                .where(Tenant.id == desk.tenant_id)
                .values(settings={"assistant": {"model": {"kind": "openai", "base_url": f"{server.url}/v1",
                                                           "model": "vision-test", "api_key": sealed}}})
            )  # fmt: skip
        server.script(Reply(text='{"damage_visible": true, "description": "The glass shade is cracked."}'))
        message_id = await _send(database, desk.tenant_id, ticket_id, tmp_path, photo(3), "lamp.jpg")
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            (check,) = await photo_checks.do_check_photos(
                session, desk.tenant_id, [message_id], tmp_path, sealer=sealer
            )
            assert check.model_reading == {
                "damage_visible": True,
                "description": "The glass shade is cracked.",
                "model": "openai/vision-test",
            }
        (request,) = server.requests
        parts = request["messages"][-1]["content"]
        assert any(part.get("type") == "image_url" for part in parts)  # the photo itself went to the model

        server.script(Reply(status=500))  # a failing model leaves a note, the check is still kept
        second = await _send(database, desk.tenant_id, ticket_id, tmp_path, photo(4), "lamp2.jpg")
        async with database.transaction(tenant_id=desk.tenant_id) as session:
            (check,) = await photo_checks.do_check_photos(
                session, desk.tenant_id, [second], tmp_path, sealer=sealer
            )
            assert check.phash and "error" in check.model_reading
