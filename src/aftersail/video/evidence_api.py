"""The evidence chain of a case over HTTP: its entries, their verification, the export bundle for disputes
(GET /api/v1/tickets/{id}/evidence…), and the tenant's recording retention (GET/PUT /api/v1/settings/video,
admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.background import BackgroundTask

from aftersail.kit.validation import Out, PathId, Strict
from aftersail.video import evidence, retention
from aftersail.video.evidence_export import build_export
from aftersail.video.rules import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS
from aftersail.web.deps import Reader, ServicesDep, SessionDep, TenantAdmin

router = APIRouter(tags=["evidence"])


class EvidenceEntryOut(Out):
    seq: int
    kind: str
    attachment_id: int | None
    return_id: int | None
    call_id: int | None
    filename: str
    content_type: str
    sha256: str
    size_bytes: int
    received_at: datetime
    captured_by: str
    meta: dict[str, Any]
    prev_hash: str
    entry_hash: str
    deleted_at: datetime | None


class EvidenceChainOut(Out):
    ticket_id: int
    entries: list[EvidenceEntryOut]


class ItemCheckOut(Out):
    seq: int
    kind: str
    filename: str
    sha256: str
    state: str = Field(
        description="ok, altered, missing (gone without a deletion entry) or deleted (retention)"
    )
    problems: list[str]


class ChainReportOut(Out):
    case: int
    ok: bool
    entries: int
    head_hash: str
    chain_problems: list[str] = Field(description="Entries removed, inserted or reordered")
    items: list[ItemCheckOut]


class VideoSettings(Strict):
    retention_days: int = Field(
        default=DEFAULT_RETENTION_DAYS,
        ge=MIN_RETENTION_DAYS,
        le=MAX_RETENTION_DAYS,
        description="Days a call's recordings and snapshots are kept; then their bytes are deleted and their "
        "evidence entries stay, marked deleted",
    )


class VideoSettingsOut(Out, VideoSettings):
    pass


@router.get("/tickets/{ticket_id}/evidence", response_model=EvidenceChainOut)
async def get_evidence_chain(ticket_id: PathId, session: SessionDep, principal: Reader) -> EvidenceChainOut:
    """The case's evidence chain, oldest first: each item's SHA-256, receive time, who captured it and the
    hashes that link it to the entry before."""
    entries = await evidence.access_case_chain(session, principal.tenant_id, ticket_id)
    return EvidenceChainOut(
        ticket_id=ticket_id, entries=[EvidenceEntryOut.model_validate(entry) for entry in entries]
    )


@router.get("/tickets/{ticket_id}/evidence/verify", response_model=ChainReportOut)
async def verify_evidence_chain(
    ticket_id: PathId, session: SessionDep, services: ServicesDep, principal: Reader
) -> ChainReportOut:
    """Recompute every entry's hash and link and re-hash every file: `ok` is false when an item is altered
    or missing or the chain is broken."""
    entries = await evidence.access_case_chain(session, principal.tenant_id, ticket_id)
    report = await evidence.verify_entries(services.settings.data_dir, ticket_id, entries)
    return ChainReportOut.model_validate(report.as_dict())


@router.get(
    "/tickets/{ticket_id}/evidence/export",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The bundle: files and manifest.json"}
    },
)
async def export_evidence(
    ticket_id: PathId, session: SessionDep, services: ServicesDep, principal: Reader
) -> FileResponse:
    """The case's export bundle for a marketplace or payment dispute: a zip of every file still present
    and `manifest.json` (entries, hashes, verification, how to verify)."""
    files_dir = services.settings.data_dir
    await evidence.access_case_chain(session, principal.tenant_id, ticket_id)  # 404 before any file is made
    spool = files_dir / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"evidence-{ticket_id}-{uuid.uuid4().hex}.zip"
    try:
        await build_export(session, files_dir, principal.tenant_id, ticket_id, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"case-{ticket_id}-evidence.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/settings/video", response_model=VideoSettingsOut, tags=["tenant"])
async def get_video_settings(session: SessionDep, principal: TenantAdmin) -> VideoSettingsOut:
    """The tenant's video settings in force (defaults where none were set)."""
    return VideoSettingsOut(
        retention_days=await retention.tenant_retention_days(session, principal.tenant_id)
    )


@router.put("/settings/video", response_model=VideoSettingsOut, tags=["tenant"])
async def set_video_settings(
    body: VideoSettings, session: SessionDep, principal: TenantAdmin
) -> VideoSettingsOut:
    """Set how long recordings and snapshots are kept. A shorter retention is applied by the next sweep
    (within the hour) to what is already kept."""
    days = await retention.do_set_retention_days(session, principal.tenant_id, body.retention_days)
    return VideoSettingsOut(retention_days=days)
