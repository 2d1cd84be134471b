"""What the app holds for the lifetime of a process; built once in `create_app()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aftersail.kit.config import Settings
from aftersail.kit.db import Database
from aftersail.tenants.links import BuyerLinkSigner


@dataclass
class Services:
    settings: Settings
    db: Database
    links: BuyerLinkSigner
    extras: dict[str, Any] = field(default_factory=dict)
