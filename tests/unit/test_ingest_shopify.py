"""Ingestion rules without a database: Shopify signatures, the payload → order mapping, request hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from aftersail.kit.errors import InvalidInput, Unauthenticated
from aftersail.orders.ingest import canonical_json, request_hash
from aftersail.orders.schemas import OrderCreate
from aftersail.orders.shopify import (
    ShopifyOrder,
    check_signature,
    map_order,
    shopify_path,
    sign,
    unit_price_minor,
)

SECRET = "shpss_0123456789abcdef0123456789abcdef"


def payload(**overrides: Any) -> dict[str, Any]:
    """The fields of a real Shopify `orders/create` payload that matter here, plus some that do not."""
    order: dict[str, Any] = {
        "id": 820982911946154508,
        "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
        "name": "#1001",
        "email": "jon@example.com",
        "currency": "EUR",
        "created_at": "2025-03-01T12:34:56-05:00",
        "total_price": "41.98",
        "financial_status": "paid",
        "customer_locale": "de-DE",
        "line_items": [
            {
                "id": 1,
                "sku": "LAMP-1",
                "title": "Lamp",
                "quantity": 2,
                "price": "19.99",
                "requires_shipping": True,
            },
            {
                "id": 2,
                "sku": None,
                "title": "Tip",
                "quantity": 1,
                "price": "2.00",
                "requires_shipping": False,
            },
            {"id": 3, "sku": "CABLE-1", "title": "Cable", "quantity": 1, "price": "1.999e1"},
        ],
        "shipping_address": {
            "first_name": "Lena",
            "last_name": "Vogel",
            "address1": "Hauptstraße 5",
            "address2": None,
            "city": "Berlin",
            "province": "Berlin",
            "province_code": "BE",
            "zip": "10115",
            "country": "Germany",
            "country_code": "DE",
            "phone": "+49 30 1234567",
        },
        "customer": {"first_name": "Lena", "last_name": "Vogel", "email": "lena@example.com", "phone": None},
        "note_attributes": [{"name": "live_session_id", "value": "42"}],
    }
    return order | overrides


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = json.dumps(payload()).encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(SECRET, body) == expected
    check_signature(SECRET, body, expected)
    check_signature(SECRET, body, f" {expected} ")  # header whitespace is not part of the value


@pytest.mark.parametrize(
    ("presented", "message"),
    [
        (None, "Missing X-Shopify-Hmac-Sha256"),
        ("", "Missing X-Shopify-Hmac-Sha256"),
        ("bm90IHRoZSBzaWduYXR1cmU=", "does not match"),
    ],
)
def test_missing_or_wrong_signature_is_refused(presented: str | None, message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        check_signature(SECRET, b"{}", presented)


def test_a_changed_body_or_another_secret_breaks_the_signature() -> None:
    body = json.dumps(payload()).encode()
    signature = sign(SECRET, body)
    with pytest.raises(Unauthenticated):
        check_signature(SECRET, body.replace(b"19.99", b"0.01"), signature)
    with pytest.raises(Unauthenticated):
        check_signature(SECRET + "x", body, signature)


def test_mapping_gives_a_valid_web_shop_order() -> None:
    mapped = map_order(ShopifyOrder.model_validate(payload()))
    order = OrderCreate.model_validate(mapped.body)
    assert order.number == "1001"
    assert order.channel.value == "web_shop"
    assert order.external_ref == "820982911946154508"
    assert order.currency == "EUR"
    assert order.customer is not None
    assert (order.customer.email, order.customer.name, order.customer.preferred_language) == (
        "jon@example.com",
        "Lena Vogel",
        "de-de",
    )
    assert [(ln.sku_code, ln.quantity, ln.unit_price_minor) for ln in order.lines] == [
        ("LAMP-1", 2, 1999),
        ("CABLE-1", 1, 1999),
    ]
    assert mapped.line_items == [0, 2]  # the tip needs no shipping
    address = order.shipping_address
    assert (address.name, address.line1, address.region, address.postal_code, address.country) == (
        "Lena Vogel",
        "Hauptstraße 5",
        "BE",
        "10115",
        "DE",
    )
    assert order.placed_at is not None and order.placed_at.utcoffset() is not None
    assert order.live_session_id == 42


@pytest.mark.parametrize(
    ("price", "currency", "minor"),
    [
        ("19.99", "EUR", 1999),
        ("1999", "JPY", 1999),
        ("12.345", "KWD", 12345),
        ("0", "USD", 0),
        (5, "USD", 500),
    ],
)
def test_prices_use_the_currency_exponent(price: str | int, currency: str, minor: int) -> None:
    assert unit_price_minor(price, currency, field="p") == minor


@pytest.mark.parametrize(
    ("price", "currency"), [("19.999", "EUR"), ("19.5", "JPY"), ("abc", "EUR"), ("-1", "EUR")]
)
def test_prices_the_currency_cannot_hold_are_refused(price: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        unit_price_minor(price, currency, field="line_items.0.price")
    assert caught.value.field == "line_items.0.price"


def test_what_an_order_cannot_do_without_names_the_shopify_field() -> None:
    cases = [
        (payload(shipping_address=None), "shipping_address"),
        (payload(email=None, contact_email=None, customer=None), "email"),
        (
            payload(line_items=[{"sku": "", "title": "Mystery", "quantity": 1, "price": "1.00"}]),
            "line_items.0.sku",
        ),
        (
            payload(line_items=[{"sku": "A", "quantity": 1, "price": "1.00", "requires_shipping": False}]),
            "line_items",
        ),
        (payload(line_items=[{"sku": "A", "quantity": 1, "price": "1.001"}]), "line_items.0.price"),
    ]
    for data, field in cases:
        with pytest.raises(InvalidInput) as caught:
            map_order(ShopifyOrder.model_validate(data))
        assert caught.value.field == field, data


def test_unusable_names_and_locales_fall_back() -> None:
    mapped = map_order(ShopifyOrder.model_validate(payload(name="Order 7 ✓", customer_locale="???")))
    assert mapped.body["number"] is None  # generated when placed
    assert mapped.body["customer"]["preferred_language"] == "en"
    stale = payload(note_attributes=[{"name": "live_session_id", "value": "soon"}])
    assert map_order(ShopifyOrder.model_validate(stale)).body["live_session_id"] is None


def test_payload_shape_errors_point_into_the_payload() -> None:
    with pytest.raises(ValueError) as caught:
        ShopifyOrder.model_validate(payload(line_items=[{"sku": "A", "quantity": 0, "price": "1"}]))
    assert "line_items" in str(caught.value) and "quantity" in str(caught.value)


def test_order_paths_map_back_to_shopify_paths() -> None:
    assert shopify_path("lines.1.sku_code", [0, 2]) == "line_items.2.sku"
    assert shopify_path("lines.0.unit_price_minor", [3]) == "line_items.3.price"
    assert shopify_path("shipping_address.postal_code", []) == "shipping_address.zip"
    assert shopify_path("customer.email", []) == "email"
    assert shopify_path("something_else", []) == "something_else"


def test_request_hash_ignores_key_order_and_whitespace() -> None:
    a = {"b": [1, {"y": 2, "x": "ü"}], "a": None}
    b = json.loads('{ "a": null,\n "b": [1, {"x": "ü", "y": 2}] }')
    assert canonical_json(a) == canonical_json(b) == '{"a":null,"b":[1,{"x":"ü","y":2}]}'.encode()
    assert request_hash(a) == request_hash(b) == hashlib.sha256(canonical_json(a)).hexdigest()
    assert request_hash(a) != request_hash({**a, "a": 0})
