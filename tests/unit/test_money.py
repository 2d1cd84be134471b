from decimal import Decimal

import pytest

from aftersail.kit.errors import InvalidInput
from aftersail.kit.money import Money


def test_minor_units_follow_the_currency() -> None:
    assert Money.from_decimal("12.34", "EUR") == Money(1234, "EUR")
    assert Money.from_decimal("1500", "JPY") == Money(1500, "JPY")
    assert Money(1234, "USD").decimal == Decimal("12.34")


def test_too_many_decimals_is_refused() -> None:
    with pytest.raises(InvalidInput, match="more decimals than JPY allows"):
        Money.from_decimal("10.5", "JPY")


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _ = Money(100, "USD") + Money(100, "EUR")


def test_formatting_is_localised() -> None:
    assert Money(123456, "EUR").format("de") == "1.234,56\xa0€"
    assert Money(123456, "USD").format("en") == "$1,234.56"


def test_currency_must_be_an_iso_code() -> None:
    with pytest.raises(InvalidInput):
        Money(1, "usd")
