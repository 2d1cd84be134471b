"""Return carriers: one Protocol that books a return parcel and hands back its tracking number and label, the
built-in self-managed carrier (the seller's own drop-off or collection, no network), and the registry that
finds a carrier by name. A real carrier's HTTP adapter plugs in behind the same Protocol."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aftersail.kit.errors import InvalidInput
from aftersail.returns.labels import LabelData, render_label_pdf


@dataclass(frozen=True)
class ReturnBooking:
    """A parcel to book from the buyer back to a warehouse. Addresses as in `labels.LabelData`;
    `to_country` is the warehouse's ISO country, which carriers route and price by."""

    rma_number: str
    from_name: str
    from_address: dict[str, str]
    to_name: str
    to_address: dict[str, str]
    to_country: str
    weight_grams: int
    lines: tuple[tuple[str, str, int], ...]
    qr_payload: str
    created_at: datetime


@dataclass(frozen=True)
class BookedReturn:
    carrier: str
    tracking_number: str
    label_pdf: bytes
    cost_minor: int | None  # what the carrier charges, in minor units of `currency`; None when unknown
    currency: str | None


class ReturnCarrier(Protocol):
    name: str

    async def book_return(self, request: ReturnBooking) -> BookedReturn:
        """Books the parcel and returns its label. Booking the same RMA again must not create a second
        parcel: a carrier gives back the first booking's tracking number (jobs retry)."""
        ...


class SelfManagedCarrier:
    """The seller's own arrangement (a drop-off point, a courier they book themselves): nothing to call, so
    the tracking number is derived from the RMA number and a retry prints the same label."""

    name = "self_managed"
    display_name = "Self-managed"

    async def book_return(self, request: ReturnBooking) -> BookedReturn:
        """Renders the label on the caller's thread: about 40 ms, the first in a process about 0.7 s while
        the fonts load; book from a job rather than inside a request."""
        tracking_number = self_managed_tracking_number(request.rma_number)
        label = LabelData(
            rma_number=request.rma_number,
            tracking_number=tracking_number,
            carrier_name=self.display_name,
            from_name=request.from_name,
            from_address=request.from_address,
            to_name=request.to_name,
            to_address=request.to_address,
            lines=request.lines,
            qr_payload=request.qr_payload,
            created_at=request.created_at,
        )
        return BookedReturn(
            carrier=self.name,
            tracking_number=tracking_number,
            label_pdf=render_label_pdf(label),
            cost_minor=None,
            currency=None,
        )


def self_managed_tracking_number(rma_number: str) -> str:
    """SM, twelve digits from a hash of the RMA number and a Luhn check digit: the same RMA always gets
    the same number, two RMAs practically never share one, and a mistyped digit is caught."""
    digest = hashlib.sha256(rma_number.encode()).digest()
    body = f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"
    return f"SM{body}{_luhn_check_digit(body)}"


def _luhn_check_digit(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


CARRIERS: dict[str, Callable[[], ReturnCarrier]] = {
    SelfManagedCarrier.name: SelfManagedCarrier,
}


def carrier_for(name: str) -> ReturnCarrier:
    """The carrier registered as `name`; InvalidInput naming it (and the known ones) when there is none."""
    factory = CARRIERS.get(name)
    if factory is None:
        known = ", ".join(sorted(CARRIERS))
        raise InvalidInput(f"Unknown return carrier {name!r} (known: {known})", field="carrier", carrier=name)
    return factory()
