"""What the console and buyer order pages share for cooling-off changes: reading the address form, the
countries a buyer can ship to, the one-shot notice shown after a change (a cookie holding a known key), and
the person-readable message for a refused change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel import Locale
from fastapi import Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from aftersail.catalog import service as catalog
from aftersail.kit.errors import DomainError, InvalidInput
from aftersail.kit.i18n import N_
from aftersail.kit.validation import Address
from aftersail.orders.models import OrderStatus
from aftersail.orders.rules import ChangeWindowClosed, NoWarehouseServes, StockExhausted

FLASH_COOKIE = "aftersail_notice"
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
REQUIRED = {
    "line1": N_("Enter the street address."),
    "city": N_("Enter the city."),
    "country": N_("Choose a country from the list."),
}
TOO_LONG = N_("This is too long.")
# Every message a buyer can see from these forms (web.pages.BUYER_MESSAGES lists them for the catalogs):
# notices after a change, and refusals (also shown after the redirect, as errors).
BUYER_NOTICES = {
    "cancelled": N_("Your order has been cancelled."),
    "address": N_("Your new address has been saved."),
}
BUYER_REFUSALS = {
    "closed": N_(
        "Your order is already being packed, so it can no longer be changed. "
        "Once it arrives, you can ask for a return or an exchange."
    ),
    "cancelled_before": N_("This order was cancelled."),
    "no_lane": N_("We cannot ship to that country. Choose another address."),
    "no_stock": N_("We could not keep your items for the new address, so your order has not changed."),
    "address_incomplete": N_("Check the address: enter the street, the city and the country."),
}
BUYER_FORM_MESSAGES = (*BUYER_NOTICES.values(), *BUYER_REFUSALS.values())

CONSOLE_NOTICES = {
    "cancelled": N_("The order was cancelled and its stock returned."),
    "address": N_("The address was changed and the order allocated again."),
    "line": N_("The line was changed and the order allocated again."),
    "released": N_("The order was released to the warehouse for picking."),
    "shipped": N_("The parcel was handed to the carrier and is tracked from now on."),
}
CONSOLE_REFUSALS = {
    "closed": N_(
        "This order has been released to the warehouse and can no longer change. "
        "Changes now go through a return or an exchange."
    ),
    "cancelled": N_("This order is cancelled; it can no longer change."),
    "no_lane": N_("No warehouse ships to %(country)s. Choose another address, or add a lane first."),
    "no_stock": N_("Not enough stock for this change, so the order keeps its current allocation."),
    "variant": N_("Choose a variant of the same product."),
    "quantity": N_("Enter a quantity between 1 and 10000."),
    "reason": N_("Give a reason for the cancellation."),
    "not_releasable": N_("Only allocated or backordered orders can be released for picking."),
}

Message = tuple[str, dict[str, str]]  # (msgid, named values for its placeholders)


def form_text(form: FormData, name: str, max_length: int = 300) -> str:
    value = form.get(name)
    return value.strip()[: max_length + 1] if isinstance(value, str) else ""


def read_address(form: FormData) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, str]]:
    """(address or None, errors by field, the values as typed) from an address form."""
    values = {name: form_text(form, name) for name in ADDRESS_FIELDS}
    values["country"] = values["country"].upper()
    errors = {name: message for name, message in REQUIRED.items() if not values[name]}
    if errors:
        return None, errors, values
    try:
        address = Address.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error.get("loc") else "line1"
            errors[name] = REQUIRED["country"] if name == "country" else TOO_LONG
        return None, errors, values
    return address.model_dump(), {}, values


async def country_choices(
    session: AsyncSession, tenant_id: int, locale: str, current: str
) -> list[tuple[str, str]]:
    """(code, name in the viewer's language) for every country a lane serves, and the current one."""
    codes = {lane.country for lane in await catalog.list_lanes(session, tenant_id)} | {current}
    names = Locale.parse(locale).territories
    return sorted(((code, str(names.get(code, code))) for code in codes if code), key=lambda pair: pair[1])


def remember_notice(response: Response, key: str, path: str, secure: bool) -> None:
    """Show `key`'s notice once on the page at `path` (the redirect target)."""
    response.set_cookie(
        FLASH_COOKIE, key, max_age=120, path=path, httponly=True, samesite="lax", secure=secure
    )


def take_notice(request: Request, notices: Mapping[str, str]) -> str | None:
    """The notice waiting for this page, if any (call `forget_notice` on the response)."""
    return notices.get(request.cookies.get(FLASH_COOKIE, ""))


def forget_notice(response: Response, path: str, secure: bool) -> None:
    response.delete_cookie(FLASH_COOKIE, path=path, httponly=True, samesite="lax", secure=secure)


def refusal_key(exc: DomainError, status: OrderStatus) -> str | None:
    """Which refusal message explains `exc` (None: not a refusal these forms know)."""
    if isinstance(exc, ChangeWindowClosed):
        return "cancelled" if status is OrderStatus.CANCELLED else "closed"
    if isinstance(exc, NoWarehouseServes):
        return "no_lane"
    if isinstance(exc, StockExhausted):
        return "no_stock"
    if isinstance(exc, InvalidInput) and exc.field in {"sku_id", "quantity"}:
        return "variant" if exc.field == "sku_id" else "quantity"
    return None
