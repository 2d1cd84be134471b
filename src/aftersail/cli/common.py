"""Helpers shared by CLI commands: settings, a database, a console, async entry points."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from rich.console import Console

from aftersail.kit.config import Settings
from aftersail.kit.db import Database

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def load_settings() -> Settings:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def open_database(settings: Settings) -> Database:
    return Database(settings.resolved_database_url)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
