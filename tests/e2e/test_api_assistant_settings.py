"""A seller switches the assistant on, sets when cases go to a person, and plugs in a language model whose
API key is never shown again."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from aftersail.kit.sealing import Sealer
from aftersail.tenants.models import Role, Tenant
from tests.factories import make_tenant
from tests.model_server import Reply, serve_in_thread

API = "/api/v1"


async def test_switch_on_with_a_model_and_keep_the_key_secret(
    app: FastAPI, client: httpx.AsyncClient, database: Any
) -> None:
    tenant = await make_tenant(database)
    defaults = await client.get(f"{API}/settings/assistant", headers=tenant.headers(Role.VIEWER))
    assert defaults.status_code == 200
    assert defaults.json() == {"enabled": False, "high_value_minor": 50_000, "vip_tag": "vip", "model": None}

    body = {
        "enabled": True,
        "high_value_minor": 30_000,
        "model": {"kind": "anthropic", "model": "claude-test", "api_key": "sk-secret-123"},
    }
    changed = await client.put(f"{API}/settings/assistant", headers=tenant.headers(), json=body)
    assert changed.status_code == 200, changed.text
    shown = changed.json()
    assert shown["enabled"] is True and shown["model"]["api_key_set"] is True
    assert "sk-secret-123" not in changed.text

    body["model"] = {"kind": "anthropic", "model": "claude-test-2"}  # no key: the stored one stays
    again = await client.put(f"{API}/settings/assistant", headers=tenant.headers(), json=body)
    assert again.json()["model"] == {
        "kind": "anthropic",
        "base_url": "",
        "model": "claude-test-2",
        "api_key_set": True,
        "timeout_seconds": 20.0,
    }
    async with database.transaction(tenant_id=tenant.tenant_id, readonly=True) as session:
        stored = await session.get(Tenant, tenant.tenant_id)
        assert stored is not None
        kept = stored.settings["assistant"]["model"]["api_key"]
    assert kept.startswith("sealed:v1:") and "sk-secret-123" not in kept, "sealed at rest"
    secret = app.state.services.settings.secret_key.get_secret_value()
    assert Sealer(secret).open(kept, tenant_id=tenant.tenant_id) == "sk-secret-123"

    agent = await client.put(f"{API}/settings/assistant", headers=tenant.headers(Role.AGENT), json=body)
    assert agent.status_code == 403
    bad = await client.put(
        f"{API}/settings/assistant",
        headers=tenant.headers(),
        json={"enabled": True, "model": {"kind": "gpt", "model": "x"}},
    )
    assert bad.status_code == 422 and "kind" in bad.text
    typo = await client.put(f"{API}/settings/assistant", headers=tenant.headers(), json={"enabeld": True})
    assert typo.status_code == 422
    local_file = {
        "enabled": True,
        "model": {"kind": "openai", "model": "x", "base_url": "file:///etc/passwd"},
    }
    refused = await client.put(f"{API}/settings/assistant", headers=tenant.headers(), json=local_file)
    assert refused.status_code == 422 and "base_url" in refused.text


async def test_without_a_translation_service_the_tenants_model_translates_agents_replies(
    client: httpx.AsyncClient, database: Any
) -> None:
    """The composer's preview (`POST /translate`) uses the tenant's own model, its sealed key opened by the
    server (the local model server refuses any other key)."""
    tenant = await make_tenant(database)
    with serve_in_thread(api_key="sk-translate-42") as server:
        model = {
            "kind": "openai",
            "base_url": f"{server.url}/v1",
            "model": "mt",
            "api_key": "sk-translate-42",
        }
        saved = await client.put(
            f"{API}/settings/assistant", headers=tenant.headers(), json={"enabled": True, "model": model}
        )
        assert saved.status_code == 200, saved.text
        server.script(Reply(text="Hallo, wie kann ich Ihnen helfen?"))
        shown = await client.post(
            f"{API}/translate",
            headers=tenant.headers(Role.AGENT),
            json={"text": "Hello, how can I help you?", "source": "en", "target": "de"},
        )
        assert shown.status_code == 200, shown.text
        assert shown.json()["text"] == "Hallo, wie kann ich Ihnen helfen?"
        assert shown.json()["provider"] == "model:openai/mt"
        (request,) = server.requests
        assert "Hello, how can I help you?" in str(request["messages"])

        server.api_key = "sk-rotated"  # the vendor no longer takes the stored key: a clear 503, no 500
        refused = await client.post(
            f"{API}/translate",
            headers=tenant.headers(Role.AGENT),
            json={"text": "Hello", "source": "en", "target": "de"},
        )
        assert refused.status_code == 503 and "not available" in refused.text
