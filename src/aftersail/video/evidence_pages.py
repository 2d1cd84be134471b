"""The console's evidence page of a case (`/evidence/{ticket_id}`): its chain with every file re-hashed, and
the export bundle's link. Reads only: every signed-in role may look."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aftersail.kit.validation import PathId
from aftersail.support import service as tickets
from aftersail.video.evidence_panel import KIND_LABELS, STATE_LABELS, ticket_evidence
from aftersail.web.console import ConsoleDep
from aftersail.web.deps import SessionDep
from aftersail.web.rendering import ConsolePageRoute, render

router = APIRouter(route_class=ConsolePageRoute, include_in_schema=False)


def evidence_labels() -> dict[str, object]:
    return {"kinds": KIND_LABELS, "states": STATE_LABELS}


@router.get("/evidence/{ticket_id}")
async def evidence_page(
    request: Request, ticket_id: PathId, console: ConsoleDep, session: SessionDep
) -> HTMLResponse:
    ticket = await tickets.access_ticket(session, console.tenant.id, ticket_id)
    files_dir = request.app.state.services.settings.data_dir
    evidence = await ticket_evidence(
        session, console.tenant.id, ticket.id, files_dir, thorough=True, most=None
    )
    context = {
        "request": request,
        "console": console,
        "nav": "inbox",
        "ticket": ticket,
        "evidence": evidence,
        "entries": {entry.seq: entry for entry in evidence.entries},
        "evidence_labels": evidence_labels(),
    }
    return render("console/evidence.html", context, locale=console.locale)
