"""Console pages of live sessions: the list (`/live`) and one session's Live board (`/live/{id}`).

The board is rendered whole from the database (it reads without its script); `static/js/live-board.js` then
keeps it current from the `live.*` events of `/ws` and, when an event names something the page does not
show yet, fetches this same page again and takes the fresh parts from it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aftersail.kit.clock import utcnow
from aftersail.kit.i18n import N_
from aftersail.orders import live
from aftersail.orders.pages import STATUS_LABELS
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.live_status import connection_labels, script_text
from aftersail.web.rendering import ConsolePageRoute, gettext_for, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)

CHART_LABEL = N_("Orders per minute")
SOLD_OUT_LINE = N_("Sold out at %(time)s — %(sku)s in %(warehouse)s")
MINUTE_LINE = N_("%(time)s: %(count)s orders")


def script_messages(locale: str) -> dict[str, Any]:
    """The board script's strings in the viewer's language, with `{name}` slots for its values."""
    gettext = gettext_for(locale)
    return {
        "connection": connection_labels(locale),
        "sold_out_line": script_text(locale, SOLD_OUT_LINE),
        "minute": script_text(locale, MINUTE_LINE),
        "chart_label": gettext(CHART_LABEL),
        "statuses": {status.value: gettext(label) for status, label in STATUS_LABELS.items()},
    }


@router.get("/live")
async def live_sessions_page(request: Request, console: ConsoleDep, session: SessionDep) -> HTMLResponse:
    summaries = await live.list_session_summaries(session, console.tenant.id)
    context = {
        "request": request,
        "console": console,
        "nav": "live",
        "summaries": summaries,
        "now": utcnow(),
    }
    return render("console/live_sessions.html", context, locale=console.locale)


@router.get("/live/{live_session_id}")
async def live_board_page(
    request: Request, live_session_id: int, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    board = await live.live_board(session, console.tenant.id, live_session_id)
    context = {
        "request": request,
        "console": console,
        "nav": "live",
        "board": board,
        "peak": max(board.per_minute, default=0),
        "statuses": STATUS_LABELS,
        "messages": script_messages(console.locale),
        "top_units": max((t.units for t in board.top_skus), default=0),
    }
    return render("console/live_board.html", context, locale=console.locale)
