"""The evidence chain over HTTP and on the command line: the chain of a case with a return's photo and video
and a call recording, its verification, the export bundle (files byte for byte and a manifest that verifies
on its own), the retention setting; another tenant sees none of it; one flipped byte makes the API say
altered and `aftersail evidence verify` exit non-zero naming the item."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import zipfile
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from typer.testing import CliRunner

from aftersail.cli import app as cli
from aftersail.support import attachments as files
from aftersail.tenants.models import Role
from aftersail.video.chain import EntryFields, EvidenceKind, entry_hash
from aftersail.video.evidence_export import BUNDLE_FORMAT
from tests.evidence_desk import add_item, case_with_buyer_evidence, webm
from tests.factories import make_tenant

API = "/api/v1"
runner = CliRunner()


def recompute(entry: dict[str, Any], case: int) -> str:
    """An entry's hash from the manifest alone, as its `how_to_verify` says (no AfterSail code needed but
    the formula; `entry_hash` is that formula)."""
    from datetime import datetime

    return entry_hash(
        EntryFields(
            case_id=case,
            seq=entry["seq"],
            kind=EvidenceKind(entry["kind"]),
            sha256=entry["sha256"],
            size_bytes=entry["size_bytes"],
            received_at=datetime.fromisoformat(entry["received_at"]),
            captured_by=entry["captured_by"],
            meta=entry["meta"],
            prev_hash=entry["prev_hash"],
        )
    )


async def invoke(app: FastAPI, db_url: str, *args: str) -> Any:
    """The CLI against the app's database and files (in a thread: it runs its own event loop)."""
    env = {
        "AFTERSAIL_DATABASE_URL": db_url,
        "AFTERSAIL_DATA_DIR": str(app.state.services.settings.data_dir),
    }
    return await asyncio.to_thread(runner.invoke, cli, list(args), env=env)


async def test_chain_verify_export_and_cli(
    client: httpx.AsyncClient, database: Any, app: FastAPI, db_url: str, tmp_path: Path
) -> None:
    files_dir: Path = app.state.services.settings.data_dir
    seed = random.randrange(10**9)  # the files folder is shared by both backends' runs
    case = await case_with_buyer_evidence(database, files_dir, seed=seed)
    seq = await add_item(
        database,
        case,
        files_dir,
        EvidenceKind.RECORDING,
        webm(seed, size=3 * 1024 * 1024),
        filename="call-1-buyer.webm",
        content_type="video/webm",
        captured_by="user:5 Li Wei",
    )
    h = case.delivered.tenant.headers(Role.AGENT)
    base = f"{API}/tickets/{case.ticket_id}/evidence"

    listed = await client.get(base, headers=h)
    assert listed.status_code == 200, listed.text
    entries = listed.json()["entries"]
    assert [e["kind"] for e in entries] == ["buyer_photo", "buyer_video", "recording"]
    assert entries[2]["captured_by"] == "user:5 Li Wei" and entries[2]["seq"] == seq

    checked = await client.get(f"{base}/verify", headers=h)
    assert checked.status_code == 200 and checked.json()["ok"] is True, checked.text
    assert {i["state"] for i in checked.json()["items"]} == {"ok"}

    bundle = await client.get(f"{base}/export", headers=h)
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    assert f"case-{case.ticket_id}-evidence.zip" in bundle.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        assert manifest["format"] == BUNDLE_FORMAT and manifest["verification"]["ok"] is True
        assert manifest["case"]["ticket_id"] == case.ticket_id
        assert manifest["tenant"]["id"] == case.tenant_id
        assert manifest["order_number"] == case.delivered.number
        assert [r["id"] for r in manifest["returns"]] == [case.return_id]
        assert "sha256" in manifest["how_to_verify"]["entry_hash"]
        previous = "0" * 64
        for entry in manifest["entries"]:
            data = opened.read(entry["file"])  # every item's bytes, as received
            assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size_bytes"]
            assert entry["prev_hash"] == previous
            assert recompute(entry, case.ticket_id) == entry["entry_hash"]
            previous = entry["entry_hash"]
        assert len(opened.namelist()) == 4
    assert not list((files_dir / "tmp").glob("evidence-*.zip"))  # the spooled zip is gone once sent

    # Another tenant: none of it exists.
    other = await make_tenant(database, name="Other Seller")
    for path in (base, f"{base}/verify", f"{base}/export"):
        answer = await client.get(path, headers=other.headers())
        assert answer.status_code == 404, (path, answer.text)

    # The command line agrees, by ticket id or RMA number.
    ok = await invoke(app, db_url, "evidence", "verify", f"#{case.ticket_id}")
    assert ok.exit_code == 0, ok.output
    assert "all intact" in ok.output
    out = tmp_path / "bundle.zip"
    exported = await invoke(app, db_url, "evidence", "export", str(case.ticket_id), "--out", str(out))
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(out) as opened:
        assert json.loads(opened.read("manifest.json"))["verification"]["ok"] is True

    # One byte of the recording flipped on disk: the API and the CLI both name it.
    path = files.blob_path(files_dir, entries[2]["sha256"])
    data = bytearray(path.read_bytes())
    data[1_000_000] ^= 0xFF
    path.write_bytes(bytes(data))
    checked = await client.get(f"{base}/verify", headers=h)
    report = checked.json()
    assert report["ok"] is False
    assert [(i["seq"], i["state"]) for i in report["items"] if i["state"] != "ok"] == [(seq, "altered")]
    rma = (await client.get(f"{API}/returns/{case.return_id}", headers=h)).json()["rma_number"]
    failed = await invoke(app, db_url, "evidence", "verify", rma)
    assert failed.exit_code == 1, failed.output
    assert f"ALTERED: entry {seq} (recording, call-1-buyer.webm)" in " ".join(failed.output.split())
    missing = await invoke(app, db_url, "evidence", "verify", "#999999999")
    assert missing.exit_code == 2


async def test_video_settings_for_admins(client: httpx.AsyncClient, database: Any) -> None:
    tenant = await make_tenant(database)
    admin = tenant.headers(Role.ADMIN)
    got = await client.get(f"{API}/settings/video", headers=admin)
    assert got.status_code == 200 and got.json() == {"retention_days": 180}
    for days in (3, 10_000):
        refused = await client.put(f"{API}/settings/video", json={"retention_days": days}, headers=admin)
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"][0]["path"].endswith("retention_days")
    saved = await client.put(f"{API}/settings/video", json={"retention_days": 30}, headers=admin)
    assert saved.status_code == 200 and saved.json() == {"retention_days": 30}
    assert (await client.get(f"{API}/settings/video", headers=admin)).json() == {"retention_days": 30}
    for role in (Role.AGENT, Role.VIEWER):
        assert (await client.get(f"{API}/settings/video", headers=tenant.headers(role))).status_code == 403
        put = await client.put(
            f"{API}/settings/video", json={"retention_days": 40}, headers=tenant.headers(role)
        )
        assert put.status_code == 403


async def test_console_panel_and_evidence_page(
    client: httpx.AsyncClient, database: Any, app: FastAPI
) -> None:
    from tests.e2e.test_pages_shop import sign_in

    files_dir: Path = app.state.services.settings.data_dir
    seed = random.randrange(10**9)
    # No photo on the buyer's message: the thread shows those with their photo checks, beside the point here.
    case = await case_with_buyer_evidence(database, files_dir, seed=seed, uploads=False)
    for n, kind in enumerate((EvidenceKind.SNAPSHOT, EvidenceKind.RECORDING)):
        await add_item(
            database, case, files_dir, kind, webm(seed + n), filename=f"{n}.webm", content_type="video/webm"
        )
    await sign_in(client, case.delivered.tenant.admin_email)
    thread = await client.get(f"/inbox/{case.ticket_id}")
    assert thread.status_code == 200
    assert 'data-evidence-check="ok"' in thread.text
    assert 'data-evidence-seq="1"' in thread.text and 'data-evidence-seq="2"' in thread.text
    assert f'href="/api/v1/tickets/{case.ticket_id}/evidence/export"' in thread.text
    page = await client.get(f"/evidence/{case.ticket_id}")
    assert page.status_code == 200 and 'data-evidence-report="ok"' in page.text
    entries = (await client.get(f"{API}/tickets/{case.ticket_id}/evidence")).json()["entries"]
    files.blob_path(files_dir, entries[1]["sha256"]).unlink()  # the recording is gone
    thread = await client.get(f"/inbox/{case.ticket_id}")
    assert 'data-evidence-check="broken"' in thread.text
    page = await client.get(f"/evidence/{case.ticket_id}")
    assert 'data-evidence-report="broken"' in page.text
    assert 'data-evidence-seq="2" data-state="missing"' in page.text
    other = await make_tenant(database, name="Other Seller")
    client.cookies.clear()
    await sign_in(client, other.admin_email)
    assert (await client.get(f"/evidence/{case.ticket_id}")).status_code == 404
