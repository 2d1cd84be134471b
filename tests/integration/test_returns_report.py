"""The returns cost report on a migrated database (SQLite and PostgreSQL): returns made through the service,
received, graded and refunded, set against the units sold, per SKU, batch, market, reason and warehouse —
every figure checked to the cent, including the rate and the loss, and a two-line return's money shared
exactly between its lines. Rejected returns and other tenants' returns stay out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.returns import receiving, refunds
from aftersail.returns import service as returns
from aftersail.returns.economics import Grade
from aftersail.returns.models import Disposition
from aftersail.returns.payments import ManualRefunds
from aftersail.returns.report import Figures, ReturnsReport, returns_report
from aftersail.returns.rules import Reason, Resolution, ReturnStatus
from tests.factories import TenantFixture, make_tenant
from tests.fulfilment import Network, make_network
from tests.returns_desk import (
    Delivered,
    add_frankfurt_spain_lane,
    make_delivered,
    order_line_ids,
    request_return,
)

UTC = ZoneInfo("UTC")


async def _ask(
    db: Database, delivered: Delivered, reason: Reason, lines: dict[str, int], files_dir: Path, key: str
) -> int:
    ids = await order_line_ids(db, delivered)
    ask = returns.ReturnAsk(
        reason=reason,
        resolution=Resolution.REFUND,
        lines=[returns.LineAsk(ids[name], quantity) for name, quantity in lines.items()],
    )
    return await request_return(db, delivered, ask, files_dir, key=key)


async def _receive_grade_refund(
    db: Database,
    tenant_id: int,
    return_id: int,
    grades: dict[str, tuple[Grade, Disposition]],
    files_dir: Path,
) -> None:
    async with db.transaction(tenant_id=tenant_id) as session:
        ret = await returns.access_return(session, tenant_id, return_id)
        await receiving.do_receive(session, ret, actor="user:warehouse")
        lines = await returns.return_lines(session, ret)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, line.quantity, *grades[sku.title.lower()]) for line, sku in lines],
            actor="user:warehouse",
            files_dir=files_dir,
        )
        [refund] = await refunds.return_refunds(session, ret)
        await refunds.do_send_refund(session, refund, ManualRefunds())
        assert ret.status is ReturnStatus.REFUNDED


async def _report(db: Database, tenant_id: int, group_by: str) -> ReturnsReport:
    today = utcnow().date()
    async with db.transaction(tenant_id=tenant_id, readonly=True) as session:
        return await returns_report(
            session,
            tenant_id,
            first_day=today - timedelta(days=1),
            last_day=today + timedelta(days=1),
            time_zone=UTC,
            group_by=group_by,
        )


def _by_name(report: ReturnsReport) -> dict[str, Figures]:
    return {group.name: group.figures for group in report.groups}


@dataclass
class ReturnsScenario:
    tenant: TenantFixture
    network: Network


async def make_returns_scenario(database: Database, tmp_path: Path) -> ReturnsScenario:
    """Three orders (4 lamps of batch LAMP-B1, 2 cables without a batch, at 19.99 EUR) and four returns: a
    lamp that did not fit (restocked, refunded), a faulty cable under review, a change of mind refused after
    the window, and a lamp and a cable that did not fit (lamp restocked, cable destroyed, both refunded)."""
    tenant = await make_tenant(database)
    network = await make_network(database, tenant.tenant_id)
    bad_batch = await network.add_batch(database, "lamp", "LAMP-B1")
    await network.set_stock(database, "FRA", "lamp", 50, batch_id=bad_batch)
    await network.set_stock(database, "FRA", "cable", 50)
    await add_frankfurt_spain_lane(database, tenant.tenant_id, network)
    # Sold: 2 lamps + 1 cable (ES), 1 lamp (DE), 1 lamp + 1 cable (ES): 4 lamps, 2 cables, all at 19.99 EUR.
    first = await make_delivered(database, tenant=tenant, network=network)
    late = await make_delivered(
        database, tenant=tenant, network=network, lines={"lamp": 1}, country="DE", days_ago=60
    )
    third = await make_delivered(database, tenant=tenant, network=network, lines={"lamp": 1, "cable": 1})

    fits = await _ask(database, first, Reason.DOES_NOT_FIT, {"lamp": 1}, tmp_path, "r1")
    await _receive_grade_refund(
        database, tenant.tenant_id, fits, {"lamp": (Grade.A, Disposition.RESTOCK)}, tmp_path
    )
    await _ask(database, first, Reason.DEFECTIVE, {"cable": 1}, tmp_path, "r2")  # no photo: a person reviews
    rejected = await _ask(database, late, Reason.CHANGED_MIND, {"lamp": 1}, tmp_path, "r3")  # window closed
    both = await _ask(database, third, Reason.DOES_NOT_FIT, {"lamp": 1, "cable": 1}, tmp_path, "r4")
    await _receive_grade_refund(
        database,
        tenant.tenant_id,
        both,
        {"lamp": (Grade.A, Disposition.RESTOCK), "cable": (Grade.D, Disposition.DESTROY)},
        tmp_path,
    )
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        assert (
            await returns.access_return(session, tenant.tenant_id, rejected)
        ).status is ReturnStatus.REJECTED
        two = await returns.access_return(session, tenant.tenant_id, both)
        # The way back of the two-line return: one lane (700), handling 400 a unit; the lamp alone restocks.
        assert (two.reverse_freight_minor, two.handling_minor, two.refunded_minor) == (700, 800, 3998)
        assert two.restock_value_minor == 1999
    return ReturnsScenario(tenant, network)


async def test_returns_cost_per_group(database: Database, tmp_path: Path) -> None:
    scenario = await make_returns_scenario(database, tmp_path)
    tenant, network = scenario.tenant, scenario.network
    # Another tenant's return never shows.
    elsewhere = await make_delivered(database)
    await _ask(database, elsewhere, Reason.DOES_NOT_FIT, {"lamp": 1}, tmp_path, "other")

    by_sku = await _report(database, tenant.tenant_id, "sku")
    assert by_sku.currency == "EUR" and by_sku.currencies == ["EUR"]
    skus = _by_name(by_sku)
    lamp, cable = skus[network.codes["lamp"]], skus[network.codes["cable"]]
    # lamp: r1 (700 freight, 400 handling, 1999 back, restocked 1999) + half of r4 (350, 400, 1999, 1999)
    assert lamp == Figures(
        units_sold=4,
        returns=2,
        units_returned=2,
        item_value_minor=3998,
        reverse_freight_minor=1050,
        handling_minor=800,
        refunded_minor=3998,
        restock_value_minor=3998,
    )
    assert lamp.return_rate == 0.5 and lamp.loss_minor == 1850 and lamp.cost_share == 1850 / 3998
    # cable: r2 under review (no money yet) + half of r4, destroyed (nothing back in stock)
    assert cable == Figures(
        units_sold=2,
        returns=2,
        units_returned=2,
        item_value_minor=3998,
        reverse_freight_minor=350,
        handling_minor=400,
        refunded_minor=1999,
        restock_value_minor=0,
    )
    assert cable.return_rate == 1.0 and cable.loss_minor == 2749
    assert cable.high_return_rate and cable.high_cost_share  # 2749 / 3998 = 0.69
    assert not lamp.high_cost_share  # 1850 / 3998 = 0.46
    totals = by_sku.totals
    assert (totals.units_sold, totals.returns, totals.units_returned) == (6, 3, 4)
    assert totals.loss_minor == 1850 + 2749 == 5997 + 1400 + 1200 - 3998
    assert [g.name for g in by_sku.groups][:2] == sorted([network.codes["lamp"], network.codes["cable"]])

    batches = _by_name(await _report(database, tenant.tenant_id, "batch"))
    batch = batches[f"{network.codes['lamp']} · LAMP-B1"]
    assert (batch.units_sold, batch.units_returned, batch.return_rate) == (4, 2, 0.5)
    assert batch.loss_minor == 1850
    unbatched = batches[""]  # cables: stocked without a batch
    assert (unbatched.units_sold, unbatched.units_returned, unbatched.loss_minor) == (2, 2, 2749)

    markets = _by_name(await _report(database, tenant.tenant_id, "market"))
    assert (markets["ES"].units_sold, markets["ES"].units_returned, markets["ES"].returns) == (5, 4, 3)
    assert (markets["DE"].units_sold, markets["DE"].returns, markets["DE"].return_rate) == (1, 0, 0.0)

    reasons = _by_name(await _report(database, tenant.tenant_id, "reason"))
    assert set(reasons) == {"does_not_fit", "defective"}  # the rejected change of mind stays out
    fit = reasons["does_not_fit"]
    assert (fit.units_sold, fit.returns, fit.units_returned, fit.return_rate) == (6, 2, 3, 0.5)
    assert fit.loss_minor == (1999 + 700 + 400 - 1999) + (3998 + 700 + 800 - 1999)
    defective = reasons["defective"]
    assert (defective.units_returned, defective.loss_minor, defective.item_value_minor) == (1, 0, 1999)

    warehouses = _by_name(await _report(database, tenant.tenant_id, "warehouse"))
    frankfurt = warehouses["FRA · Frankfurt (Raunheim)"]
    assert (frankfurt.returns, frankfurt.units_returned, frankfurt.loss_minor) == (2, 3, 4599)
    assert warehouses[""].returns == 1  # under review: not routed yet


async def test_an_empty_period_and_another_currency(database: Database) -> None:
    delivered = await make_delivered(database)
    long_ago = utcnow().date() - timedelta(days=400)
    async with database.transaction(tenant_id=delivered.tenant_id, readonly=True) as session:
        empty = await returns_report(
            session,
            delivered.tenant_id,
            first_day=long_ago,
            last_day=long_ago + timedelta(days=30),
            time_zone=UTC,
        )
        assert empty.empty and empty.groups == [] and empty.currency == ""
        today = utcnow().date()
        dollars = await returns_report(
            session, delivered.tenant_id, first_day=today, last_day=today, time_zone=UTC, currency="usd"
        )
        assert dollars.currency == "USD" and dollars.totals.units_sold == 0 and dollars.currencies == ["EUR"]


async def test_an_exchange_counts_the_goods_sent_instead(database: Database, tmp_path: Path) -> None:
    delivered = await make_delivered(database)
    ids = await order_line_ids(database, delivered)
    ask = returns.ReturnAsk(
        reason=Reason.DOES_NOT_FIT,
        resolution=Resolution.EXCHANGE,
        lines=[returns.LineAsk(ids["lamp"], 1, delivered.network.skus["case"])],
    )
    return_id = await request_return(database, delivered, ask, tmp_path, key="swap")
    async with database.transaction(tenant_id=delivered.tenant_id) as session:
        ret = await returns.access_return(session, delivered.tenant_id, return_id)
        await receiving.do_receive(session, ret, actor="user:warehouse")
        [(line, _sku)] = await returns.return_lines(session, ret)
        await receiving.do_grade(
            session,
            ret,
            [receiving.LineGrade(line.id, 1, Grade.A, Disposition.RESTOCK)],
            actor="user:warehouse",
            files_dir=tmp_path,
        )
        assert ret.status is ReturnStatus.EXCHANGED and ret.refunded_minor == 0
    totals = (await _report(database, delivered.tenant_id, "sku")).totals
    # No money back, but a lamp's worth (19.99) went out instead; the returned lamp is back on the shelf.
    assert (totals.refunded_minor, totals.restock_value_minor) == (1999, 1999)
    assert totals.loss_minor == 700 + 400
