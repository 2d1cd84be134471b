"""The Reports page and the report API over HTTP: the page in Chinese and English for a signed-in admin
(KPI tiles, SVG charts with their titles and data tables, group switch, empty state, refused periods), the
API's figures and its 422s, and another tenant's tickets never counted."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from aftersail.kit.clock import utcnow
from aftersail.kit.db import Database
from aftersail.tenants import service as tenants
from aftersail.tenants.models import Role, User
from tests.e2e.test_pages_shop import sign_in
from tests.integration.test_analytics_service import Scenario
from tests.support_desk import Desk, make_desk

API = "/api/v1/reports/support"


@dataclass
class Seeded:
    desk: Desk
    other: Desk
    other_team: str


async def seed(db: Database) -> Seeded:
    """Three tickets in the last three days: first responses of 10, 30 and 5 minutes; two resolved (1 h
    and 2 h, one after a follow-up), rated 5 and 3. Another tenant has a busy day at the same time."""
    now = utcnow().replace(microsecond=0)
    s = Scenario(db, await make_desk(db))
    first = await s.open(now - timedelta(days=3))
    await s.reply(first, s.desk.zhao_id, now - timedelta(days=3) + timedelta(minutes=10))
    await s.resolve(first, now - timedelta(days=3) + timedelta(hours=1))
    await s.rate(first, 5, now - timedelta(days=3) + timedelta(hours=2))
    second = await s.open(now - timedelta(days=2))
    await s.reply(second, s.desk.zhao_id, now - timedelta(days=2) + timedelta(minutes=30))
    await s.buyer_writes(second, now - timedelta(days=2) + timedelta(hours=1))
    await s.resolve(second, now - timedelta(days=2) + timedelta(hours=2))
    await s.rate(second, 3, now - timedelta(days=2) + timedelta(hours=3))
    third = await s.open(now - timedelta(days=1), category="damaged")
    await s.reply(third, s.desk.wang_id, now - timedelta(days=1) + timedelta(minutes=5))

    other = Scenario(db, await make_desk(db))
    other_team = f"Night shift {uuid.uuid4().hex[:6]}"
    async with db.transaction(tenant_id=other.desk.tenant_id) as session:
        await tenants.do_create_team(
            session, tenant_id=other.desk.tenant_id, name=other_team, languages=["de"], member_ids=[]
        )
    for hours in range(1, 6):
        ticket = await other.open(now - timedelta(days=2, hours=hours))
        await other.reply(
            ticket, other.desk.zhao_id, now - timedelta(days=2, hours=hours) + timedelta(hours=9)
        )
        await other.resolve(ticket, now - timedelta(days=1))
        await other.rate(ticket, 1, now - timedelta(hours=20))
    return Seeded(s.desk, other.desk, other_team)


async def set_locale(db: Database, desk: Desk, locale: str) -> None:
    async with db.transaction(tenant_id=desk.tenant_id) as session:
        admin = await session.get(User, desk.tenant.admin_user_id)
        assert admin is not None
        await tenants.do_set_user_locale(session, user=admin, locale=locale)


def tile(html: str, key: str) -> tuple[str, str]:
    """(value, change line) of one KPI tile."""
    found = re.search(
        rf'data-kpi="{key}">\s*<span class="tile-label">[^<]*</span>'
        r'\s*<span class="tile-value">([^<]*)</span>'
        r"\s*<span class=\"tile-change[^\"]*\">(.*?)</span>\s*(?:<span class=\"tile-detail\">|</div>)",
        html,
        re.S,
    )
    assert found, f"no tile {key}"
    return found.group(1), re.sub(r"<[^>]+>", "", found.group(2)).strip()


@pytest.fixture(scope="module")
async def seeded(database: Database) -> Seeded:
    return await seed(database)


async def test_the_page_in_chinese(client: httpx.AsyncClient, database: Database, seeded: Seeded) -> None:
    await set_locale(database, seeded.desk, "zh")
    await sign_in(client, seeded.desk.tenant.admin_email)
    page = await client.get("/reports")
    assert page.status_code == 200 and page.headers["content-language"] == "zh"
    html = page.text
    assert '<a href="/reports" aria-current="page">' in html
    assert "最近 30 天" in html and "按团队" in html and "一次解决率" in html
    assert tile(html, "tickets")[0] == "3"
    assert tile(html, "first_response_median")[0] == "10分钟"
    assert tile(html, "first_response_p90")[0] == "26分钟"  # rank 1.8 of 5, 10, 30 min
    assert tile(html, "resolution_median")[0] == "1小时30分钟"
    assert tile(html, "fcr_rate")[0] == "50.0%"
    assert tile(html, "sla_attainment")[0] == "100.0%"
    assert tile(html, "csat_average")[0] == "4.0" and tile(html, "csat_satisfied")[0] == "50.0%"
    assert tile(html, "tickets")[1] == "之前时段无数据"  # nothing in the 30 days before
    # Charts: server-drawn SVG with a title, a description and a data table behind each.
    assert html.count('role="img"') == 5 and html.count('<details class="chart-data">') == 5
    assert '<title id="daily-chart-title">每日工单量与首次响应时间</title>' in html
    assert re.search(r'<desc id="daily-chart-desc">每日新建工单，[^<]*共 3 个', html)
    assert (
        'data-chart="sla_attainment"' in html and "<script" not in html.split("</main>")[0].split("<main")[1]
    )
    assert 'style="' not in html  # the CSP allows no inline styles
    for team in ("Returns", "Inquiries"):
        assert team in html
    assert seeded.other_team not in html


async def test_the_page_in_english_grouped_by_agent(
    client: httpx.AsyncClient, database: Database, seeded: Seeded
) -> None:
    await set_locale(database, seeded.desk, "en")
    await sign_in(client, seeded.desk.tenant.admin_email)
    page = await client.get("/reports?range=7&group_by=agent")
    assert page.status_code == 200 and page.headers["content-language"] == "en"
    html = page.text
    assert '<a href="/reports?range=7&amp;group_by=agent" aria-current="true">Last 7 days</a>' in html
    assert 'aria-current="true">By agent</a>' in html
    assert tile(html, "first_response_median")[0] == "10 min"
    assert tile(html, "resolution_median")[0] == "1 hr 30 min"
    assert "Assigned agent" in html and "Zhao" in html and "Wang" in html and "Li" in html
    assert "Changes compare with the same number of days just before" in html
    table = html.split("data-group-table", 1)[1]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">(\d+)</td>', table))
    assert rows == {"Li": "0", "Wang": "1", "Zhao": "2", "All groups": "3"}


async def test_refused_periods_are_422_pages(
    client: httpx.AsyncClient, database: Database, seeded: Seeded
) -> None:
    await set_locale(database, seeded.desk, "zh")
    await sign_in(client, seeded.desk.tenant.admin_email)
    backwards = await client.get("/reports?range=custom&from=2026-05-10&to=2026-05-01")
    assert backwards.status_code == 422
    assert "截止日期早于起始日期。" in backwards.text and 'aria-invalid="true"' in backwards.text
    too_long = await client.get("/reports?range=custom&from=2024-01-01&to=2025-06-01")
    assert too_long.status_code == 422 and "报表最多覆盖 366 天。" in too_long.text
    garbled = await client.get("/reports?range=custom&from=yesterday&to=2026-05-01")
    assert garbled.status_code == 422 and "请输入类似 2024-05-31 的日期。" in garbled.text
    odd = await client.get("/reports?range=13&group_by=country")  # unknown choices fall back, not fail
    assert odd.status_code == 200 and 'aria-current="true">按团队</a>' in odd.text


async def test_a_quiet_period_shows_an_empty_state(
    client: httpx.AsyncClient, database: Database, seeded: Seeded
) -> None:
    await set_locale(database, seeded.desk, "en")
    await sign_in(client, seeded.desk.tenant.admin_email)
    page = await client.get("/reports?range=custom&from=2020-01-01&to=2020-01-31")
    assert page.status_code == 200
    assert "No support activity in this period" in page.text and "data-report-empty" in page.text
    assert 'role="img"' not in page.text and "data-kpi" not in page.text


async def test_the_api(client: httpx.AsyncClient, seeded: Seeded) -> None:
    headers = seeded.desk.tenant.headers(Role.VIEWER)  # reading reports needs only the Reader permission
    answer = await client.get(API, params={"group_by": "priority"}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["period"]["days"] == 30 and body["period"]["time_zone"] == "UTC"  # the tenant's zone
    assert set(body["period"]) == {"from", "to", "days", "time_zone", "start", "end"}
    totals = body["totals"]
    assert (totals["tickets"], totals["answered"], totals["resolved"]) == (3, 3, 2)
    assert totals["first_response_median_seconds"] == 600.0
    assert totals["first_response_p90_seconds"] == pytest.approx(1560.0)
    assert totals["resolution_median_seconds"] == 5400.0
    assert totals["first_contact_resolution_rate"] == 0.5
    assert (totals["sla_attainment"], totals["csat_average"], totals["csat_satisfied_share"]) == (
        1.0,
        4.0,
        0.5,
    )
    assert body["previous_totals"]["tickets"] == 0 and body["previous_totals"]["sla_attainment"] is None
    assert [g["key"] for g in body["groups"]] == ["p1", "p2", "p3", "p4"]
    assert len(body["series"]) == 30 and sum(d["tickets"] for d in body["series"]) == 3

    shanghai = await client.get(
        API, params={"from": "2026-01-01", "to": "2026-01-01", "tz": "Asia/Shanghai"}, headers=headers
    )
    assert shanghai.json()["period"]["start"].startswith("2025-12-31T16:00:00")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from": "2026-05-10", "to": "2026-05-01"}, "The end date is before the start date."),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "A report covers at most 366 days."),
        ({"from": "2026-02-30"}, "from"),
        ({"group_by": "country"}, "group_by"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ],
)
async def test_the_api_refuses_bad_periods_with_a_clear_422(
    client: httpx.AsyncClient, seeded: Seeded, params: dict[str, str], fragment: str
) -> None:
    answer = await client.get(API, params=params, headers=seeded.desk.tenant.headers())
    assert answer.status_code == 422
    assert fragment in answer.json()["error"]["message"]


async def test_another_tenants_tickets_are_never_counted(client: httpx.AsyncClient, seeded: Seeded) -> None:
    mine = (await client.get(API, headers=seeded.desk.tenant.headers())).json()
    theirs = (await client.get(API, headers=seeded.other.tenant.headers())).json()
    assert mine["totals"]["tickets"] == 3 and theirs["totals"]["tickets"] == 5
    assert mine["totals"]["csat_average"] == 4.0 and theirs["totals"]["csat_average"] == 1.0
    my_teams = {g["key"] for g in mine["groups"]}
    assert my_teams == {seeded.desk.returns_team_id, seeded.desk.inquiries_team_id}
    assert seeded.other_team in {g["name"] for g in theirs["groups"]}
    assert seeded.other_team not in str(mine)
    agents = (
        await client.get(API, params={"group_by": "agent"}, headers=seeded.desk.tenant.headers())
    ).json()
    assert {g["key"] for g in agents["groups"]} == {
        seeded.desk.wang_id,
        seeded.desk.li_id,
        seeded.desk.zhao_id,
    }
