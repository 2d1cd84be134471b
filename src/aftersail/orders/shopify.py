"""The Shopify `orders/create` webhook, pure: how its signature is checked and how its payload becomes an
AfterSail order.

Shopify signs the raw request body with the shop's webhook secret and sends
`X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(secret, body))`, with `X-Shopify-Topic`, `X-Shopify-Shop-Domain`
and `X-Shopify-Webhook-Id` (the same on every redelivery of one notification). The payload is Shopify's order
resource: hundreds of fields, of which the ones below are read and the rest ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from aftersail.kit.errors import InvalidInput, Unauthenticated
from aftersail.kit.money import Money
from aftersail.kit.validation import CountryCode, CurrencyCode
from aftersail.orders.models import OrderChannel

TOPIC_ORDERS_CREATE = "orders/create"
HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
SHOP_HEADER = "x-shopify-shop-domain"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
LIVE_SESSION_ATTRIBUTE = "live_session_id"  # a note attribute the storefront may set during a live sale

# Shopify sends `null` for absent text; these keep whatever it sends within our column sizes.
Loose = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)]


def sign(secret: str, body: bytes) -> str:
    """The `X-Shopify-Hmac-Sha256` value for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_signature(secret: str, body: bytes, presented: str | None) -> None:
    """Raises `Unauthenticated` unless `presented` is the signature of `body` (compared in constant time)."""
    if not presented:
        raise Unauthenticated("Missing X-Shopify-Hmac-Sha256 header: unsigned webhooks are refused.")
    if not hmac.compare_digest(sign(secret, body).encode(), presented.strip().encode()):
        raise Unauthenticated("X-Shopify-Hmac-Sha256 does not match the body: wrong secret or altered body.")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ShopifyAddress(_Lenient):
    first_name: Loose = None
    last_name: Loose = None
    name: Loose = None
    company: Loose = None
    address1: Loose = None
    address2: Loose = None
    city: Loose = None
    province: Loose = None
    province_code: Loose = None
    zip: Loose = None
    country_code: CountryCode
    phone: Loose = None


class ShopifyCustomer(_Lenient):
    first_name: Loose = None
    last_name: Loose = None
    email: Loose = None
    phone: Loose = None


class ShopifyLineItem(_Lenient):
    id: int | None = None
    sku: Loose = None
    title: Loose = None
    quantity: int = Field(gt=0, le=10_000)
    price: str | int | float = Field(description="Unit price as a decimal string, e.g. '19.99'")
    requires_shipping: bool = True


class ShopifyNoteAttribute(_Lenient):
    name: Loose = None
    value: str | int | None = None


class ShopifyOrder(_Lenient):
    id: int = Field(gt=0)
    name: Loose = None
    email: Loose = None
    contact_email: Loose = None
    currency: CurrencyCode
    customer_locale: Loose = None
    created_at: AwareDatetime | None = None
    line_items: list[ShopifyLineItem] = Field(min_length=1, max_length=200)
    shipping_address: ShopifyAddress | None = None
    customer: ShopifyCustomer | None = None
    note_attributes: list[ShopifyNoteAttribute] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MappedOrder:
    """An `OrderCreate` body, and for each of its lines the index of the Shopify line item it came from."""

    body: dict[str, Any]
    line_items: list[int]


def _full_name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)


def _order_number(name: str | None) -> str | None:
    """ "#1001" → "1001"; a name that cannot be an order number leaves the number to be generated."""
    number = (name or "").strip().lstrip("#").strip()
    return number if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._#/-]{0,39}", number) else None


def unit_price_minor(price: str | int | float, currency: str, *, field: str) -> int:
    """ "19.99" in EUR → 1999; "1999" in JPY → 1999 (the currency's own exponent)."""
    try:
        amount = Decimal(str(price).strip())
    except InvalidOperation as exc:
        raise InvalidInput(f"price {price!r} is not a decimal number", field=field) from exc
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"price {price!r} is not a price", field=field)
    try:
        return Money.from_decimal(amount, currency).amount_minor
    except InvalidInput as exc:
        raise InvalidInput(f"price {price}: {exc.message}", field=field) from exc


def _live_session_id(order: ShopifyOrder) -> int | None:
    for attribute in order.note_attributes:
        if (attribute.name or "").strip().lower() == LIVE_SESSION_ATTRIBUTE:
            value = str(attribute.value or "").strip()
            return int(value) if value.isdigit() and 0 < int(value) < 2**63 else None
    return None


def _text(value: str | None, limit: int) -> str:
    return (value or "")[:limit]


def map_order(order: ShopifyOrder) -> MappedOrder:
    """The `OrderCreate` body for a Shopify order; lines that need no shipping (gift cards, tips) are left
    out. Raises `InvalidInput` naming the Shopify field for what an order cannot do without."""
    address = order.shipping_address
    if address is None:
        raise InvalidInput(
            "the order has no shipping address: nothing to send from a warehouse", field="shipping_address"
        )
    customer = order.customer or ShopifyCustomer()
    email = order.email or order.contact_email or customer.email
    if not email:
        raise InvalidInput("the order has no buyer email", field="email")
    lines: list[dict[str, Any]] = []
    indices: list[int] = []
    for index, item in enumerate(order.line_items):
        if not item.requires_shipping:
            continue
        if not item.sku:
            label = f" ({item.title})" if item.title else ""
            raise InvalidInput(f"line_items.{index}{label} has no SKU", field=f"line_items.{index}.sku")
        price_field = f"line_items.{index}.price"
        lines.append(
            {
                "sku_code": item.sku,
                "quantity": item.quantity,
                "unit_price_minor": unit_price_minor(item.price, order.currency, field=price_field),
            }
        )
        indices.append(index)
    if not lines:
        raise InvalidInput("no line item needs shipping", field="line_items")
    ship_name = _full_name(address.first_name, address.last_name) or address.name or ""
    locale = (order.customer_locale or "en").strip().lower()
    body: dict[str, Any] = {
        "number": _order_number(order.name),
        "customer": {
            "name": _text(_full_name(customer.first_name, customer.last_name) or ship_name or email, 200),
            "email": email,
            "phone": _text(customer.phone or address.phone, 32),
            "country": address.country_code,
            "preferred_language": locale if re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,4})?", locale) else "en",
        },
        "channel": OrderChannel.WEB_SHOP.value,
        "currency": order.currency,
        "lines": lines,
        "shipping_address": {
            "name": _text(ship_name, 200),
            "company": _text(address.company, 200),
            "line1": _text(address.address1, 300),
            "line2": _text(address.address2, 300),
            "city": _text(address.city, 120),
            "region": _text(address.province_code or address.province, 120),
            "postal_code": _text(address.zip, 32),
            "country": address.country_code,
            "phone": _text(address.phone, 32),
        },
        "live_session_id": _live_session_id(order),
        "external_ref": str(order.id),
        "placed_at": order.created_at,
    }
    return MappedOrder(body, indices)


# Paths of an `OrderCreate` error → paths of the Shopify payload, so a 422 names what Shopify sent.
_PATHS = {
    "customer.email": "email",
    "customer.name": "customer",
    "customer.phone": "customer.phone",
    "customer.country": "shipping_address.country_code",
    "shipping_address.line1": "shipping_address.address1",
    "shipping_address.line2": "shipping_address.address2",
    "shipping_address.region": "shipping_address.province",
    "shipping_address.postal_code": "shipping_address.zip",
    "shipping_address.country": "shipping_address.country_code",
    "number": "name",
    "placed_at": "created_at",
}


def shopify_path(path: str, line_items: list[int]) -> str:
    """`lines.1.sku_code` → `line_items.3.sku` (when line 1 came from line item 3), and so on."""
    parts = path.split(".")
    if parts[0] == "lines" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(line_items):
        rest = (
            {"sku_code": "sku", "unit_price_minor": "price"}.get(parts[2], parts[2]) if len(parts) > 2 else ""
        )
        return f"line_items.{line_items[int(parts[1])]}" + (f".{rest}" if rest else "")
    return _PATHS.get(path, path)
