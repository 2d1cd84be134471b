"""One carrier event in AfterSail's words, with the carrier's own words kept beside it. Every way in (the
AfterShip and 17TRACK webhooks, the generic JSON format, a carrier polled) produces these."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aftersail.shipping.rules import Status, SubStatus, check_pair


class Source:
    AFTERSHIP = "aftership"
    SEVENTEEN_TRACK = "17track"
    GENERIC = "generic"
    POLL = "poll"
    DEMO = "demo"
    BUYER = "buyer"


@dataclass(frozen=True, slots=True)
class TrackingUpdate:
    """A normalized event for one tracking number."""

    tracking_number: str
    occurred_at: datetime  # aware; stored as UTC
    status: Status
    sub_status: SubStatus = SubStatus.NONE
    carrier: str = ""  # the carrier's slug or code as the source names it
    description: str = ""  # the carrier's own words
    location: str = ""
    source: str = Source.GENERIC
    raw: dict[str, Any] = field(default_factory=dict)  # the carrier event exactly as received

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must carry its time zone")
        check_pair(self.status, self.sub_status)

    @property
    def fingerprint(self) -> str:
        """The same event however often, and from whichever source, it arrives: the carrier's time, status
        and words (a replay or the next webhook repeating the history is recognised by this)."""
        key = json.dumps(
            [
                self.occurred_at.astimezone(UTC).replace(microsecond=0).isoformat(),
                self.status.value,
                self.sub_status.value,
                " ".join(self.description.split()).casefold(),
                " ".join(self.location.split()).casefold(),
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def normalize_number(number: str) -> str:
    """Tracking numbers compare without spaces or dashes and in upper case (`1z 999-aa1` = `1Z999AA1`)."""
    return "".join(ch for ch in number if ch.isalnum()).upper()
