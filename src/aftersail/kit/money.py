"""Money is integer minor units plus an ISO 4217 currency; these helpers convert and format."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

from aftersail.kit.errors import InvalidInput


def minor_exponent(currency: str) -> int:
    return int(get_currency_precision(currency.upper()))


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidInput(
                f"currency must be a 3-letter ISO code, got {self.currency!r}", field="currency"
            )

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise InvalidInput(f"cannot add {other.currency} to {self.currency}", field="currency")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.amount_minor * factor, self.currency)

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-minor_exponent(self.currency))

    @classmethod
    def from_decimal(cls, amount: Decimal | str, currency: str) -> Money:
        value = Decimal(amount).scaleb(minor_exponent(currency))
        if value != value.to_integral_value():
            raise InvalidInput(f"{amount} has more decimals than {currency} allows", field="amount")
        return cls(int(value), currency.upper())

    def format(self, locale: str = "en") -> str:
        return str(format_currency(self.decimal, self.currency, locale=locale))
