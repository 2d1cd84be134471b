"""The application factory: one FastAPI app with the API, the console and the buyer pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from aftersail import __version__
from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.kit.http import BodyLimitMiddleware, RequestIdMiddleware, install_error_handlers
from aftersail.kit.logging import configure_logging
from aftersail.orders import intake_route
from aftersail.returns.buyer_pages import UPLOAD_BODY_LIMIT, UPLOAD_PATH_PREFIX
from aftersail.tenants.links import BuyerLinkSigner
from aftersail.video.backend import video_readiness
from aftersail.web.background import start_background, stop_background
from aftersail.web.routes import include_routers
from aftersail.web.services import Services

API_DESCRIPTION = """AfterSail REST API. Authenticate with `Authorization: Bearer <api key>`
(create one with `aftersail api-keys create`). Lists use cursor pagination: pass the `next_cursor` of a page
as `cursor` to get the next one. Errors are `{"error": {"code", "message", "fields"?}}`."""


class AfterSailApp(FastAPI):
    """The FastAPI app, with `POST /api/v1/orders` offered first to its own handler
    (`orders.intake_route`), which answers the common live-stream request itself."""

    order_intake_route: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.order_intake_route is not None and intake_route.takes(scope):
            await self.order_intake_route(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    settings = settings or Settings()
    if configure_logs:
        configure_logging(level=settings.log_level, json_lines=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    services = Services(
        settings=settings,
        db=db,
        links=BuyerLinkSigner(settings.secret_key.get_secret_value(), settings.buyer_link_max_age_seconds),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start_background(services)
        try:
            yield
        finally:
            await stop_background(services)
            await db.dispose()

    app = AfterSailApp(
        title="AfterSail",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    upload_limit = settings.attachment_max_bytes + 64 * 1024  # the file and its multipart framing
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        overrides={
            "/chat/api/attachments": upload_limit,
            "/api/v1/attachments": upload_limit,
            "/api/v1/inbound-email": 26 * 1024 * 1024,  # what the SMTP receiver takes, and a little more
            UPLOAD_PATH_PREFIX: UPLOAD_BODY_LIMIT,  # the buyer's return form with photos and a video
        },
    )
    app.add_middleware(RequestIdMiddleware)
    app.order_intake_route = intake_route.OrderIntakeRoute(
        partial(FastAPI.__call__, app), services, settings.max_body_bytes
    )

    @app.get("/healthz", tags=["ops"], include_in_schema=True)
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Dependencies answer: the database, and Redis when configured. `features.video` says whether video
        calls work ("ok"), are off and why ("disabled: …"), or their media server fails ("error: …", 503)."""
        checks: dict[str, Any] = {}
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        bus = services.extras.get("bus")
        if settings.redis_url:
            try:
                await bus.ping()  # type: ignore[union-attr]
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        media = services.extras.get("media")
        features = {"video": await video_readiness(media)}
        ready = ready and not features["video"].startswith("error")
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks, "features": features},
            status_code=200 if ready else 503,
        )

    include_routers(app)
    return app
