"""Input types every domain's API shapes share: country, currency and time-zone codes, ids, bounded text,
the `Strict` request base that refuses unknown fields and NUL bytes, and the `Paged` list answer."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.numbers import is_currency
from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

T = TypeVar("T")

# Regions babel knows that are not countries a parcel can go to.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO"})


@cache
def _countries() -> frozenset[str]:
    codes = {str(c) for c in Locale("en").territories}
    return frozenset(c for c in codes if len(c) == 2 and c.isalpha()) - _NOT_COUNTRIES


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in _countries():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not is_currency(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


CountryCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_country)]
CurrencyCode = Annotated[str, StringConstraints(max_length=8), AfterValidator(check_currency)]
TimeZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(check_time_zone)]
Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# Ids are 64-bit; a bigger number is bad input, not a database overflow.
MAX_ID = 2**63 - 1
MAX_MINOR = 10**13  # minor units: far above any real price, far below 64-bit overflow
IdIn = Annotated[int, Field(gt=0, le=MAX_ID)]
PathId = Annotated[int, Path(gt=0, le=MAX_ID)]
QueryId = Annotated[int | None, Query(gt=0, le=MAX_ID)]
_NO_NUL = r"^[^\x00]*$"


def query_text(max_length: int = 200, description: str | None = None) -> Any:
    """A free-text query parameter: bounded, and never a NUL byte (PostgreSQL text cannot hold one)."""
    return Query(max_length=max_length, pattern=_NO_NUL, description=description)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, so a typo never silently drops data; NUL bytes are refused
    field by field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_bytes(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("contains a NUL character")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Address(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    company: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    line1: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    line2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    country: CountryCode
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""


class Paged(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None
