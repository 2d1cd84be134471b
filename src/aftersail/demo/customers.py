"""Demo buyers: a name, email, phone, language, time zone and shipping address that fit their country."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aftersail.demo.markets import MARKETS, Market


@dataclass(slots=True)
class CustomerPlan:
    name: str
    email: str
    phone: str
    country: str
    language: str
    time_zone: str
    address: dict[str, Any]
    created_at: datetime | None = None  # set from the first order


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum())


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randint(0, 9)) if ch == "#" else ch for ch in pattern)


def _email(rng: random.Random, first: str, last: str, market: Market, taken: set[str]) -> str:
    first_part, last_part = _ascii(first), _ascii(last)
    year = rng.randint(70, 105) % 100
    local = rng.choice(
        (
            f"{first_part}.{last_part}",
            f"{first_part}{last_part}{year:02d}",
            f"{first_part[0]}.{last_part}",
            f"{first_part}_{last_part[:4]}{rng.randint(1, 99)}",
        )
    )
    domain = rng.choice(market.email_domains)
    email, suffix = f"{local}@{domain}", 1
    while email in taken:
        suffix += 1
        email = f"{local}{suffix}@{domain}"
    taken.add(email)
    return email


def make_customer(rng: random.Random, country: str, taken_emails: set[str]) -> CustomerPlan:
    market = MARKETS[country]
    people = rng.choices(market.people, weights=[group.weight for group in market.people])[0]
    first_display, first_latin = rng.choice(people.first)
    last_display, last_latin = rng.choice(people.last)
    if rng.random() < people.native_script_share:
        name = f"{last_display} {first_display}" if people.family_first else f"{first_display} {last_display}"
    else:
        name = f"{first_latin} {last_latin}"
    city = rng.choice(market.cities)
    number = str(rng.randint(1, 240))
    if country == "JP":
        number = f"{rng.randint(1, 6)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
    street_name = (
        market.streets[market.cities.index(city)] if market.street_per_city else rng.choice(market.streets)
    )
    street = market.street_format.format(number=number, street=street_name)
    line2 = ""
    roll = rng.random()
    if country in ("US", "AE", "JP") and roll < 0.35:
        line2 = (
            f"Apt {rng.randint(1, 40)}{rng.choice('ABCDEF')}"
            if country != "JP"
            else f"#{rng.randint(101, 1205)}"
        )
    elif country in ("FR", "ES", "IT", "DE") and roll < 0.2:
        line2 = {"FR": "Bâtiment B", "ES": "3º 2ª", "IT": "Scala C", "DE": "Hinterhaus"}[country]
    phone = _digits(rng, market.phone_format)
    address = {
        "name": name,
        "line1": street,
        "line2": line2,
        "city": city.name,
        "region": city.region,
        "postal_code": rng.choice(city.postal_codes) if city.postal_codes else "",
        "country": country,
        "phone": phone,
    }
    return CustomerPlan(
        name=name,
        email=_email(rng, first_latin, last_latin, market, taken_emails),
        phone=phone,
        country=country,
        language=people.language,
        time_zone=city.time_zone,
        address=address,
    )
