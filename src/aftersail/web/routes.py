"""Every router of every domain, mounted in one place."""

from __future__ import annotations

from fastapi import FastAPI

API_PREFIX = "/api/v1"


def include_routers(app: FastAPI) -> None:
    from aftersail.assistant.api import router as assistant_api
    from aftersail.assistant.corrections_api import router as corrections_api
    from aftersail.assistant.settings_api import router as assistant_settings_api
    from aftersail.catalog.api import router as catalog_api
    from aftersail.orders.api import router as orders_api
    from aftersail.orders.changes_api import router as order_changes_api
    from aftersail.orders.settings_api import router as order_settings_api
    from aftersail.returns.api import router as returns_api
    from aftersail.returns.cases_api import router as returns_cases_api
    from aftersail.shipping.api import router as shipping_api
    from aftersail.shipping.report_api import router as shipments_report_api
    from aftersail.shipping.sources_api import router as tracking_sources_api
    from aftersail.support.api import router as support_api
    from aftersail.tenants.api import router as tenants_api

    # /api/v1/shipments/at-risk and /reports/lanes: before /shipments/{shipment_id} could take "at-risk"
    app.include_router(shipments_report_api, prefix=API_PREFIX)
    for router in (
        tenants_api,
        catalog_api,
        orders_api,
        order_changes_api,
        order_settings_api,
        support_api,
        assistant_api,
        corrections_api,
        assistant_settings_api,
        returns_api,
        returns_cases_api,
        shipping_api,
        tracking_sources_api,
    ):
        app.include_router(router, prefix=API_PREFIX)
    from aftersail.orders.webhooks import router as webhooks

    app.include_router(webhooks)  # /webhooks/…: signed by the sender, not under the API's Bearer auth
    from aftersail.shipping.webhooks import router as tracking_webhooks

    app.include_router(tracking_webhooks)  # /webhooks/tracking/…: AfterShip, 17TRACK, AfterSail JSON
    from aftersail.support.chat_api import router as chat_api

    app.include_router(chat_api)  # /chat/api/…, /chat/ws: buyers, by their chat token
    from aftersail.web.realtime_api import router as realtime_api

    app.include_router(realtime_api)  # /ws, no prefix
    from aftersail.analytics.api import router as analytics_api
    from aftersail.analytics.pages import router as reports_pages

    app.include_router(analytics_api, prefix=API_PREFIX)  # /api/v1/reports/…
    app.include_router(reports_pages)  # /reports (console page)
    from aftersail.returns.report_api import router as returns_report_api
    from aftersail.returns.report_pages import router as returns_report_pages

    app.include_router(returns_report_api, prefix=API_PREFIX)  # /api/v1/reports/returns
    app.include_router(returns_report_pages)  # /reports/returns (console page)
    from aftersail.shipping.pages import router as shipments_pages

    app.include_router(shipments_pages)  # /shipments, /shipments/lanes, /shipments/{id} (console pages)
    from aftersail.support.chat_pages import router as chat_pages

    app.include_router(chat_pages)  # /chat, /chat/widget-demo, /rate/…: the buyer's chat pages
    from aftersail.shipping.track_pages import router as track_pages

    app.include_router(track_pages)  # /track, /track/{token}: the buyer's tracking page

    from aftersail.support.inbox_pages import router as inbox_pages
    from aftersail.web.pages import include_pages

    app.include_router(inbox_pages)  # /inbox: the agents' inbox (console pages)
    from aftersail.assistant.knowledge_pages import router as knowledge_pages

    app.include_router(knowledge_pages)  # /knowledge: the knowledge base the assistant cites (console)
    from aftersail.assistant.settings_pages import router as assistant_settings_pages

    app.include_router(assistant_settings_pages)  # /settings/assistant: the assistant's settings (console)
    from aftersail.returns.pages import router as returns_pages

    app.include_router(returns_pages)  # /returns/cases, /settings/returns: agents' returns (console)
    from aftersail.returns.receiving_pages import router as receiving_pages

    app.include_router(receiving_pages)  # /returns/receive: warehouse scan-in and grading (console), before
    # the buyer's /returns/… pages so that no buyer path pattern can catch it
    from aftersail.shipping.console_actions import router as parcel_actions

    app.include_router(parcel_actions)  # /orders/{id}/allocations/{id}/ship, /shipments/{id}/claim (console)
    from aftersail.video.evidence_api import router as evidence_api

    app.include_router(evidence_api, prefix=API_PREFIX)  # /api/v1/tickets/{id}/evidence…, /settings/video
    from aftersail.video.evidence_pages import router as evidence_pages

    app.include_router(evidence_pages)  # /evidence/{ticket_id}: a case's evidence, every file re-hashed
    from aftersail.video.api import router as calls_api
    from aftersail.video.buyer_pages import calls_api as buyer_calls_api
    from aftersail.video.buyer_pages import router as buyer_call_pages
    from aftersail.video.pages import router as call_pages

    app.include_router(calls_api, prefix=API_PREFIX)  # /api/v1/tickets/{id}/calls, /api/v1/calls/{id}/…
    app.include_router(buyer_calls_api)  # /v/{token}/seat|report|leave: the buyer's call page, by its link
    app.include_router(buyer_call_pages)  # /v/{token}: the buyer's call page
    app.include_router(call_pages)  # /calls/{id}, /tickets/{id}/calls (console)
    include_pages(app)  # console and buyer pages (no prefix) and /static
