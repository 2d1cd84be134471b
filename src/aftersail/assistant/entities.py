"""Entities in a buyer's message to the desk: order and tracking numbers, e-mail addresses, phone numbers,
amounts, dates and catalog products, in the 14 buyer languages. Pure: no I/O, no clock, no model.

How a message is read. The text is folded one character at a time (lower case, accents stripped,
full-width forms and every script's digits made ASCII), so an offset in the folded text is an offset in
the original. Kinds are then taken in priority order — e-mail, tracking, order, amount, date, phone — and
each kind's spans are masked before the next kind looks, so no span is claimed twice. Products come last,
on what is left; two products may share a span (they are alternative readings of one mention).

Speed. Every pattern is compiled at import and every quantifier is bounded, so no input can make a pattern
backtrack catastrophically. Only the first `MAX_CHARS` characters are read, and products are looked for
among the first `MAX_PRODUCT_TOKENS` words (CJK: characters) of those.

Choices where a message does not say (each one a guess a human would make too):
- "$" alone is USD in every language, Spanish and Portuguese included: marketplace prices are quoted in
  USD, and buyers who mean pesos or reais write "MX$", "R$", "pesos", "reais" or a code after the number
  ("$25 CAD" is CAD).
- "¥" is CNY when `lang` is "zh", or when no `lang` is given and the text has Han characters but no kana;
  otherwise JPY. "円" is always JPY; "元", "块" and "RMB" always CNY.
- "pesos" are Mexican pesos; "TRY", "CAD", "RUB" and "SAR" count only in capitals ("try", "rub" are words).
- Numeric dates: "." always means day.month; with "/" or "-", en, zh, ja and ko read month first and every
  other language (or no `lang`) day first, each falling back to the other reading when the first is not a
  date ("13/05" in English is 13 May). Without a year, "05/03" needs two digits each ("4/5" is a rating).
  A date without a year is its latest occurrence on or before `today` (buyers complain about the past).
  Without `today`, yearless and relative dates are left out.
- "last week" is `today` minus seven days; "yesterday" and friends are exact.
- Phone numbers need a country code ("+49", "0049"), a phone word just before ("tel", "Handy", "手机", …)
  or a phone-like layout ("(555) 123-4567", "0151 1234567"): a bare run of digits is nobody's phone
  number, and "612 345 678" reads like a number in thousands unless a phone word says otherwise.
- Order numbers: 4 to 10 digits after an order word (the brief's "Bestellung 5512"; Shopify names start
  at #1001), and further numbers of the same shape listed after it; "SHOP-100234" or "A10023" need an
  order word or a "#", because product SKUs look the same.
- A 10-digit number after a tracking word is DHL Express and a 12-digit one after a Japanese tracking word
  Yamato, unless a carrier is named nearby. An S10-shaped code whose check digit fails is nothing, even
  after a tracking word.
- Not supported: spelled-out numbers, Levantine Arabic month names, weekday names, "N days ago", Japanese
  era years, amounts written with 万 and 千 together, tracking numbers split by spaces other than the UPS
  and USPS layouts and digit groups ("1234-5678-9012").
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from itertools import islice
from typing import Any

from aftersail.assistant.entity_dates import DateMention, find_dates
from aftersail.assistant.entity_text import (
    SpanT,
    claim,
    fold,
    mask,
    words_pattern,
)
from aftersail.kit.money import minor_exponent

MAX_CHARS = 20_000
MAX_PRODUCTS = 3
# Products are looked for among the first words (or CJK characters): a name repeated thousands of times
# would otherwise cost a window check at each one.
MAX_PRODUCT_TOKENS = 4_000
FUZZY_RATIO = 0.85
MIN_PRODUCT_SCORE = 0.6


@dataclass(frozen=True, slots=True)
class OrderNumber:
    """`value` is upper case without "#", digits ASCII: "#a10023" → "A10023", "as261203wfn6k" →
    "AS-261203-WFN6K"."""

    value: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class TrackingNumber:
    """`carrier` is a slug ("ups", "usps", "china_post", "dhl_express", …) or None when the shape and the
    words around it do not say."""

    value: str
    carrier: str | None
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Email:
    value: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Phone:
    """`value` is "+" and digits when the buyer gave a country code ("+4915112345678"), else digits only."""

    value: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Amount:
    minor: int
    currency: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ProductMention:
    """`score` is 1.0 for the SKU itself, else the weighted share of the catalog name found (0.6–1.0)."""

    sku: str
    name: str
    score: float
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class CatalogEntry:
    sku: str
    names: tuple[str, ...]


def _first(items: tuple[SpanT, ...]) -> SpanT | None:
    return items[0] if items else None


@dataclass(frozen=True, slots=True)
class Entities:
    """Each tuple in text order, except `products`: best score first. `truncated` says the message was longer
    than `MAX_CHARS` and only its start was read."""

    order_numbers: tuple[OrderNumber, ...] = ()
    tracking_numbers: tuple[TrackingNumber, ...] = ()
    emails: tuple[Email, ...] = ()
    phones: tuple[Phone, ...] = ()
    amounts: tuple[Amount, ...] = ()
    dates: tuple[DateMention, ...] = ()
    products: tuple[ProductMention, ...] = ()
    truncated: bool = False

    @property
    def first_order_number(self) -> OrderNumber | None:
        return _first(self.order_numbers)

    @property
    def first_tracking_number(self) -> TrackingNumber | None:
        return _first(self.tracking_numbers)

    @property
    def first_email(self) -> Email | None:
        return _first(self.emails)

    @property
    def first_phone(self) -> Phone | None:
        return _first(self.phones)

    @property
    def first_amount(self) -> Amount | None:
        return _first(self.amounts)

    @property
    def first_date(self) -> DateMention | None:
        return _first(self.dates)

    @property
    def best_product(self) -> ProductMention | None:
        return _first(self.products)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: dates as ISO strings, amounts as minor units and a currency code."""
        result: dict[str, Any] = {"truncated": self.truncated}
        for kind in fields(self):
            if kind.name != "truncated":
                result[kind.name] = [
                    {f.name: _json_value(getattr(item, f.name)) for f in fields(item)}
                    for item in getattr(self, kind.name)
                ]
        return result


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


_GAP = r"[\s:#№°º.,\-=()\[\]\"'«»“”/]{0,4}"
_NUMBER_WORDS = (
    "number", "no", "nr", "n", "nº", "num", "id", "ref", "code", "is", "nummer", "ist", "lautet", "número",
    "es", "numéro", "est", "è", "numer", "numara", "numarası", "numaram", "kodu", "código", "codice", "номер",
    "код", "番号", "号", "编号", "號", "是", "为", "為", "は", "번호", "는", "은", "이", "가", "رقم", "هو",
)  # fmt: skip
_FILLER = rf"(?:{_GAP}{words_pattern(_NUMBER_WORDS)}){{0,2}}{_GAP}"

# --- Tracking numbers. ---

_S10_POSTS = {
    "cn": "china_post", "us": "usps", "gb": "royal_mail", "de": "deutsche_post", "fr": "la_poste",
    "jp": "japan_post", "kr": "korea_post", "nl": "postnl", "es": "correos", "it": "poste_italiane",
    "pt": "ctt", "pl": "poczta_polska", "tr": "ptt", "ru": "russian_post", "br": "correios",
    "ae": "emirates_post", "sa": "saudi_post", "ca": "canada_post", "au": "australia_post",
    "ch": "swiss_post", "hk": "hongkong_post", "sg": "singpost", "be": "bpost", "at": "austrian_post",
}  # fmt: skip
_CARRIER_NAMES = {
    "dhl": "dhl", "ups": "ups", "fedex": "fedex", "usps": "usps", "gls": "gls", "dpd": "dpd",
    "hermes": "hermes", "evri": "evri", "postnl": "postnl", "correos": "correos", "colissimo": "colissimo",
    "chronopost": "chronopost", "brt": "brt", "inpost": "inpost", "yurtiçi": "yurtici", "aras kargo": "aras",
    "сдэк": "cdek", "почта россии": "russian_post", "royal mail": "royal_mail", "aramex": "aramex",
    "smsa": "smsa", "yamato": "yamato", "ヤマト": "yamato", "クロネコ": "yamato", "佐川": "sagawa",
    "ゆうパック": "japan_post", "日本郵便": "japan_post", "顺丰": "sf_express", "中通": "zto", "圆通": "yto",
    "韵达": "yunda", "申通": "sto", "极兔": "jt_express", "京东": "jd", "대한통운": "cj_logistics",
    "우체국": "korea_post", "한진": "hanjin", "로젠": "logen", "sda": "sda",
}  # fmt: skip
_CARRIER_BY_NAME = {fold(name): slug for name, slug in _CARRIER_NAMES.items()}
_JAPANESE_TRACKING_WORDS = (
    "追跡番号",
    "追跡",
    "伝票番号",
    "お問い合わせ番号",
    "問い合わせ番号",
    "送り状番号",
)
_TRACKING_WORDS = (
    "tracking", "track number", "track & trace", "track and trace", "track&trace", "waybill", "awb",
    "sendungsnummer", "sendungsverfolgung", "trackingnummer", "tracking-nummer", "paketnummer", "sendung",
    "seguimiento", "rastreo", "guía", "suivi", "tracciamento", "spedizione", "rastreio", "rastreamento",
    "seguimento", "トラッキング番号", "송장", "운송장", "추적번호", "추적", "رقم التتبع", "رقم تتبع",
    "رقم الشحنة", "التتبع", "трек-номер", "трек номер", "трекномер", "трек-код", "трек", "отслеживания",
    "zendingnummer", "przesyłki", "przesyłka", "śledzenia", "list przewozowy", "takip", "gönderi",
    "运单号", "快递单号", "物流单号", "运单", "追踪号", "跟踪号", "快递号", "物流号", "運單號", "追踪码",
    *_JAPANESE_TRACKING_WORDS,
)  # fmt: skip
_JAPANESE_TRACKING = {fold(word) for word in _JAPANESE_TRACKING_WORDS}
_CARRIER_SHAPES = re.compile(
    r"(?<![0-9a-z])(?:"
    r"(?P<ups>1z ?[0-9a-z]{3} ?[0-9a-z]{3} ?[0-9a-z]{2} ?[0-9a-z]{4} ?[0-9a-z]{4})"
    r"|(?P<usps>9[2-5]\d{18,20}|9[2-5]\d\d(?: \d{4}){4}(?: \d\d)?)"
    r"|(?P<yunexpress>yt\d{16})|(?P<cainiao>lp\d{14})|(?P<fourpx>4px\d{8,20}(?:[a-z]{2})?)"
    r"|(?P<jd>jd[0-9a-z]{13,15})|(?P<sf_express>sf\d{13})|(?P<s10>[a-z]{2}\d{9}[a-z]{2})"
    r")(?![0-9a-z])"
)
_TRACKING_AFTER_WORD = re.compile(  # "1234-5678-9012" is how Yamato prints its numbers
    rf"(?P<word>{words_pattern((*_TRACKING_WORDS, *_CARRIER_NAMES))}){_FILLER}"
    rf"(?P<num>[0-9a-z]{{10,30}}|\d{{2,6}}(?:[- ]\d{{2,6}}){{1,6}})(?![0-9a-z])"
)
_CARRIER_NEARBY = re.compile(words_pattern(_CARRIER_NAMES))
_AS_NUMBER = r"as[- ]?\d{6}[- ]?[2-9a-hjkmnp-z]{5}"  # alphabet of orders.intake_rows: no 0/O, 1/I/L
_AS_COMPACT = re.compile(r"as(\d{6})([2-9a-hjkmnp-z]{5})")


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number (weights 8 6 4 2 3 5 9 7, modulo 11)."""
    remainder = 11 - sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


def _is_s10(token: str) -> bool:
    return s10_check_digit(token[2:10]) == int(token[10])


def _find_tracking_numbers(source: str, work: str, lang: str | None) -> list[TrackingNumber]:
    found = []
    for match in _CARRIER_SHAPES.finditer(work):
        kind = match.lastgroup or ""
        value = match.group().replace(" ", "")
        if kind == "s10" and not _is_s10(value):
            continue
        carrier: str | None = (
            _S10_POSTS.get(value[-2:], "upu_s10") if kind == "s10" else kind.replace("fourpx", "4px")
        )
        found.append(_tracking(source, match.start(), match.end(), value, carrier))
    work = mask(work, found)
    for match in _TRACKING_AFTER_WORD.finditer(work):
        value, word = re.sub("[- ]", "", match.group("num")), match.group("word")
        looks_like_s10 = re.fullmatch(r"[a-z]{2}\d{9}[a-z]{2}", value)
        too_short = len(value) < 10 or sum(c.isdigit() for c in value) < 5
        if too_short or _AS_COMPACT.fullmatch(value) or looks_like_s10:
            continue  # words, our own order numbers, S10 numbers whose check digit failed above
        nearby = _CARRIER_NEARBY.search(work, max(0, match.start() - 40), match.end("num") + 20)
        carrier = _carrier_named(word) or (_carrier_named(nearby.group()) if nearby else None)
        if value.isdigit() and len(value) == 10 and carrier in (None, "dhl"):
            carrier = "dhl_express"
        elif value.isdigit() and len(value) == 12 and carrier is None:
            carrier = "yamato" if lang == "ja" or word in _JAPANESE_TRACKING else None
        found.append(_tracking(source, match.start("num"), match.end("num"), value, carrier))
    return claim(found)


def _carrier_named(words: str) -> str | None:
    return _CARRIER_BY_NAME.get(re.sub(r"\s+", " ", words))


def _tracking(source: str, start: int, end: int, value: str, carrier: str | None) -> TrackingNumber:
    return TrackingNumber(value.upper(), carrier, source[start:end], start, end)


# --- Order numbers. ---

_ORDER_WORDS = (
    "order", "orders", "order-nr", "订单号", "订单", "訂單號", "訂單", "pedido", "pedidos", "orden",
    "encomenda", "commande", "bestellung", "bestellnummer", "bestell-nr", "bestellnr", "auftrag",
    "auftragsnummer",
    "ordine", "注文番号", "ご注文番号", "注文", "オーダー番号", "受注番号", "주문번호", "주문", "رقم الطلب",
    "الطلب", "طلب", "طلبي", "رقم طلبي", "заказ", "заказа", "заказу", "заказе", "заказом", "bestelling",
    "bestelnummer", "ordernummer", "zamówienie", "zamówienia", "zamówieniu", "sipariş", "siparişim",
    "siparişimin", "siparişi", "siparişin", "siparişimi",
)  # fmt: skip
_ORDER_END = r"(?![0-9a-z]|[-/.,]\d)"  # not the start of a date, a decimal or a longer code
_ORDER_STANDALONE = re.compile(
    rf"(?P<as>a(?<![0-9a-z]a){_AS_NUMBER[1:]})(?![0-9a-z])"
    rf"|#(?<![\w&#]#)(?P<hash>(?:[a-z]{{1,6}}-?)?\d{{4,10}}){_ORDER_END}"
)
_ORDER_TOKEN = rf"{_AS_NUMBER}|(?:[a-z]{{1,6}}-?)?\d{{4,10}}"
_ORDER_AFTER_WORD = re.compile(rf"{words_pattern(_ORDER_WORDS)}{_FILLER}(?P<num>{_ORDER_TOKEN}){_ORDER_END}")
_AND_WORDS = (
    "and", "or", "&", "y", "o", "et", "ou", "und", "oder", "e", "i", "lub", "en", "of", "ve", "veya", "и",
    "или", "和", "及", "或", "と", "및", "و", "أو",
)  # fmt: skip
_ORDER_LIST_NEXT = re.compile(
    rf"{_GAP}(?:{words_pattern(_AND_WORDS)}{_GAP})?(?P<num>#?(?:{_ORDER_TOKEN})){_ORDER_END}"
)


def _order_value(token: str) -> str:
    token = token.lstrip("#")
    compact = _AS_COMPACT.fullmatch(token.replace("-", "").replace(" ", ""))
    return f"AS-{compact[1]}-{compact[2]}".upper() if compact else token.upper()


def _order_shape(token: str) -> str:
    return re.sub(r"\d", "0", token.lstrip("#"))


def _find_order_numbers(source: str, work: str) -> list[OrderNumber]:
    spans = [match.span() for match in _ORDER_STANDALONE.finditer(work)]
    for match in _ORDER_AFTER_WORD.finditer(work):
        spans.append(match.span("num"))
        # "orders 40021187 and 40021188": more numbers of the same shape continue the list
        shape = _order_shape(match["num"])
        while (more := _ORDER_LIST_NEXT.match(work, spans[-1][1])) and _order_shape(more["num"]) == shape:
            spans.append(more.span("num"))
    found = [
        OrderNumber(_order_value(work[start:end]), source[start:end], start, end)
        for start, end in spans
        if not _AMOUNT_AFTER.match(work, end)  # "pedido 2500 pesos" is a price
    ]
    return claim(found)


# --- Amounts. ---

_CURRENCY_SIGNS: dict[str, str | None] = {  # before or after the number; None: "¥" depends on language
    "$": "USD", "us$": "USD", "usd": "USD", "c$": "CAD", "ca$": "CAD", "cad": "CAD", "a$": "AUD",
    "au$": "AUD", "aud": "AUD", "mx$": "MXN", "mxn": "MXN", "r$": "BRL", "brl": "BRL", "€": "EUR",
    "eur": "EUR", "£": "GBP", "gbp": "GBP", "¥": None, "jpy": "JPY", "cny": "CNY", "rmb": "CNY",
    "₩": "KRW", "krw": "KRW", "pln": "PLN", "₺": "TRY", "try": "TRY", "tl": "TRY", "₽": "RUB",
    "rub": "RUB", "aed": "AED", "د.إ": "AED", "sar": "SAR", "ر.س": "SAR", "chf": "CHF",
}  # fmt: skip
_CURRENCY_WORDS = {  # after the number only
    "dollar": "USD", "dollars": "USD", "dólares": "USD", "美元": "USD", "ドル": "USD", "달러": "USD",
    "доллар": "USD", "долларов": "USD", "دولار": "USD", "euro": "EUR", "euros": "EUR", "евро": "EUR",
    "يورو": "EUR", "유로": "EUR", "ユーロ": "EUR", "欧元": "EUR", "pound": "GBP", "pounds": "GBP",
    "英镑": "GBP", "円": "JPY", "日元": "JPY", "yen": "JPY", "元": "CNY", "块": "CNY", "块钱": "CNY",
    "yuan": "CNY", "人民币": "CNY", "원": "KRW", "韩元": "KRW", "won": "KRW", "zł": "PLN", "złoty": "PLN",
    "złote": "PLN", "złotych": "PLN", "lira": "TRY", "руб": "RUB", "рубль": "RUB", "рубля": "RUB",
    "рублей": "RUB", "卢布": "RUB", "reais": "BRL", "درهم": "AED", "دراهم": "AED", "dirham": "AED",
    "dirhams": "AED", "ريال": "SAR", "ريالات": "SAR", "riyal": "SAR", "riyals": "SAR", "franken": "CHF",
    "pesos": "MXN",
}  # fmt: skip
_CURRENCY = {fold(token): code for token, code in (_CURRENCY_SIGNS | _CURRENCY_WORDS).items()}
_EXPONENTS = {code: minor_exponent(code) for code in {*_CURRENCY.values(), "JPY", "CNY"} if code}
_CAPITALS_ONLY = {"try", "cad", "rub", "sar"}
_MULTIPLIERS = {"万": 10_000, "만": 10_000, "千": 1_000, "천": 1_000, "億": 100_000_000, "억": 100_000_000}
_NUMBER = r"\d{1,3}(?:[ .,']\d{3}){1,4}(?:[.,]\d{1,2})?|\d{1,9}(?:[.,]\d{1,2})?"
_CODES = words_pattern(sign for sign in _CURRENCY_SIGNS if sign.isalpha())
_AMOUNT = re.compile(  # a code may follow a sign ("$25 CAD"), another sign may not ("€25 €30")
    rf"(?<![0-9.,])(?P<pre>{words_pattern(_CURRENCY_SIGNS)})\s?(?P<pre_num>{_NUMBER})(?:,-)?(?!\d)"
    rf"(?:\s?(?P<code>{_CODES}))?"
    rf"|(?<![0-9a-z.,])(?P<num>{_NUMBER})(?:,-)?\s?(?P<mult>[万千億만천억])?\s?"
    rf"(?P<cur>{words_pattern((*_CURRENCY_SIGNS, *_CURRENCY_WORDS))})"
)
_AMOUNT_AFTER = re.compile(rf"\s?(?:[万千億만천억]\s?)?{words_pattern((*_CURRENCY_SIGNS, *_CURRENCY_WORDS))}")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _decimal(number: str) -> Decimal | None:
    """ "1.299,00" → 1299.00, "1,299" → 1299, "25,5" → 25.5; None when the separators contradict."""
    if number.isdigit():
        return Decimal(number)
    separators = [(i, c) for i, c in enumerate(number) if not c.isdigit()]
    last, mark = separators[-1]
    is_decimal = len(number) - last - 1 in (1, 2)
    grouping = {c for _, c in (separators[:-1] if is_decimal else separators)}
    if len(grouping) > 1 or (is_decimal and mark in grouping):
        return None
    whole = re.sub(r"\D", "", number[:last] if is_decimal else number)
    return Decimal(f"{whole}.{number[last + 1 :]}" if is_decimal else whole)


def _yen_sign_currency(work: str, lang: str | None) -> str:
    han_only = lang is None and _HAN.search(work) is not None and _KANA.search(work) is None
    return "CNY" if lang == "zh" or han_only else "JPY"


def _find_amounts(source: str, work: str, lang: str | None) -> list[Amount]:
    found = []
    currencies = _CURRENCY | {"¥": _yen_sign_currency(work, lang) if "¥" in work else None}
    for match in _AMOUNT.finditer(work):
        symbol = "code" if match["code"] else "pre" if match["pre"] else "cur"
        currency = currencies[match[symbol]]
        if match[symbol] in _CAPITALS_ONLY and not source[match.start(symbol) : match.end(symbol)].isupper():
            continue
        value = _decimal(match["pre_num"] or match["num"])
        if currency is None or value is None:
            continue
        minor = value * _MULTIPLIERS.get(match["mult"] or "", 1) * 10 ** _EXPONENTS[currency]
        if minor == minor.to_integral_value():  # "¥12.50" is no yen price
            found.append(Amount(int(minor), currency, source[match.start() : match.end()], *match.span()))
    return found


# --- E-mail addresses and phone numbers. ---

_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}")


def _find_emails(source: str, work: str) -> list[Email]:
    found, at = [], work.find("@")
    while at != -1:
        start = at
        while start > max(0, at - 64) and work[start - 1] in _EMAIL_LOCAL:
            start -= 1
        while start < at and work[start] == ".":
            start += 1
        domain = _EMAIL_DOMAIN.match(work, at + 1)
        if start < at and domain and re.fullmatch(r"[a-z]{2,24}", domain.group().rsplit(".", 1)[1]):
            end = domain.end()
            value = unicodedata.normalize("NFKC", source[start:end]).lower()
            found.append(Email(value, source[start:end], start, end))
        at = work.find("@", (domain.end() if domain else at) + 1)
    return found


_PHONE = re.compile(r"(?<![0-9a-z+])(?<!\d[ ./-])(?:\+|00)?\(?\d[\d ()./-]{5,22}\d(?![0-9a-z]|[ ()./-]\d)")
_PHONE_WORDS = re.compile(words_pattern((
    "phone", "tel", "telephone", "mobile", "cell", "call me", "whatsapp", "sms", "telefon", "handy",
    "mobil", "rufnummer", "teléfono", "móvil", "celular", "téléphone", "portable", "telefono", "cellulare",
    "telefone", "telemóvel", "電話", "携帯", "전화", "휴대폰", "핸드폰", "연락처", "هاتف", "جوال", "موبايل",
    "واتساب", "телефон", "тел", "мобильный", "telefoon", "mobiel", "gsm", "komórka", "cep", "电话", "手机",
    "联系方式",
)))  # fmt: skip
_DATE_SHAPE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}|\d{1,2}[./]\d{1,2}")
_THOUSANDS_SHAPE = re.compile(r"\d{1,3}(?:([ .])\d{3})(?:\1\d{3})*")
_PHONE_LAYOUT = re.compile(r"(?:\(\d{2,5}\)|0\d{1,5})[ /-]?\d[\d -]{3,14}|\d{3}[-.]\d{3}[-.]\d{4}")


def _find_phones(source: str, work: str) -> list[Phone]:
    found = []
    for match in _PHONE.finditer(work):
        candidate = match.group()
        international = candidate.startswith(("+", "00"))
        digits = re.sub(r"\D", "", candidate.replace("(0)", "") if international else candidate)
        if international and candidate.startswith("00"):
            digits = digits[2:]
        said = _PHONE_WORDS.search(work, max(0, match.start() - 30), match.start()) is not None
        plausible = international or said or _PHONE_LAYOUT.fullmatch(candidate)
        if (
            not 7 <= len(digits) <= 15
            or not plausible
            or candidate.count("(") != candidate.count(")")
            or re.search(r"[./-][ ./-]|  ", candidate)
            or _DATE_SHAPE.fullmatch(candidate)
            or (_THOUSANDS_SHAPE.fullmatch(candidate) and not (international or said))
        ):
            continue
        value = "+" + digits if international else digits
        found.append(Phone(value, source[match.start() : match.end()], *match.span()))
    return found


# --- Products. ---

_CJK_CHAR = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]"
_TOKEN = re.compile(rf"{_CJK_CHAR}|[^\W_{_CJK_CHAR[1:-1]}]+")


def _token_weight(token: str) -> float:
    """Longer words say more; a CJK character about as much as a short word; "5l" or "128gb" little."""
    if re.fullmatch(_CJK_CHAR, token):
        return 2.0
    weight = float(min(len(token), 8))
    return weight / 2 if any(c.isdigit() for c in token) else weight


class _ProductMatcher:
    """The message's tokens, indexed, and each name token's look-alikes among them (cached per message)."""

    def __init__(self, work: str) -> None:
        matches = islice(_TOKEN.finditer(work), MAX_PRODUCT_TOKENS)
        self.tokens = [(m.group(), m.start(), m.end()) for m in matches]
        self.positions: dict[str, list[int]] = {}
        for i, (token, _, _) in enumerate(self.tokens):
            self.positions.setdefault(token, []).append(i)
        self._hits: dict[str, list[tuple[int, float]]] = {}

    def hits(self, name_token: str) -> list[tuple[int, float]]:
        """(message token index, similarity) in index order, for exact and typo'd occurrences."""
        if name_token not in self._hits:
            found = [(i, 1.0) for i in self.positions.get(name_token, ())]
            if len(name_token) >= 4 and not re.fullmatch(_CJK_CHAR, name_token[0]):
                matcher = SequenceMatcher(b=name_token)  # the name token's index is built once
                for candidate, indexes in self.positions.items():
                    if candidate == name_token or abs(len(candidate) - len(name_token)) > 2:
                        continue
                    matcher.set_seq1(candidate)
                    if matcher.quick_ratio() >= FUZZY_RATIO and (ratio := matcher.ratio()) >= FUZZY_RATIO:
                        found += [(i, ratio) for i in indexes]
            self._hits[name_token] = sorted(found)
        return self._hits[name_token]

    def match_name(self, name: str) -> tuple[float, int, int] | None:
        """The best (score, start, end) of `name` in a window a word or two longer than the name itself."""
        name_tokens = [m.group() for m in _TOKEN.finditer(fold(name))]
        if not name_tokens:
            return None
        weights = [_token_weight(token) for token in name_tokens]
        hits = [self.hits(token) for token in name_tokens]
        best: tuple[float, int, int] | None = None
        for anchor in sorted({i for token_hits in hits for i, _ in token_hits}):
            limit, covered, used = anchor + len(name_tokens) + 1, 0.0, set()
            for token_hits, weight in zip(hits, weights, strict=True):
                in_window, at = [], bisect_right(token_hits, (anchor, -1.0))
                while at < len(token_hits) and token_hits[at][0] <= limit:
                    if token_hits[at][0] not in used:
                        in_window.append(token_hits[at])
                    at += 1
                if in_window:
                    index, similarity = max(in_window, key=lambda hit: hit[1])
                    used.add(index)
                    covered += weight * similarity
            score = covered / sum(weights)
            if best is None or score > best[0]:
                best = (score, self.tokens[min(used)][1], self.tokens[max(used)][2])
                if score >= 1.0:
                    break
        return best


def _find_sku(work: str, sku: str) -> tuple[int, int] | None:
    at = work.find(sku)
    while at != -1:
        end = at + len(sku)
        if not re.match(r"[0-9a-z]", work[at - 1 : at]) and not re.match(r"[0-9a-z]", work[end : end + 1]):
            return at, end
        at = work.find(sku, at + 1)
    return None


def _find_products(source: str, work: str, catalog: Sequence[CatalogEntry]) -> list[ProductMention]:
    if not catalog:
        return []
    matcher = _ProductMatcher(work)
    found: list[ProductMention] = []
    for entry in catalog:
        if entry.sku.strip() and (span := _find_sku(work, fold(entry.sku.strip()))):
            name = entry.names[0] if entry.names else entry.sku
            found.append(ProductMention(entry.sku, name, 1.0, source[span[0] : span[1]], *span))
            continue
        best: ProductMention | None = None
        for name in entry.names:
            match = matcher.match_name(name)
            if match and match[0] >= MIN_PRODUCT_SCORE and (best is None or match[0] > best.score):
                score, start, end = match
                best = ProductMention(
                    entry.sku, name, round(min(score, 1.0), 3), source[start:end], start, end
                )
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda product: -product.score)[:MAX_PRODUCTS]


# --- The whole message. ---


def extract_entities(
    text: str, *, lang: str | None = None, today: date | None = None, catalog: Sequence[CatalogEntry] = ()
) -> Entities:
    """Every entity in `text`; `lang` (a buyer language, "pt-BR" is read as "pt") settles "¥", numeric
    dates and ambiguous words; `today` resolves relative and yearless dates; `catalog` is matched by SKU
    and by names in any language.

    Only the first `MAX_CHARS` characters are read (`Entities.truncated` says when there were more): what
    a buyer asks is at the start, and the cap bounds the time a pasted log or quoted thread can cost."""
    source = text[:MAX_CHARS]
    language = lang.lower().replace("_", "-").split("-")[0] if lang else None
    work = fold(source)
    emails = _find_emails(source, work)
    work = mask(work, emails)
    tracking_numbers = _find_tracking_numbers(source, work, language)
    work = mask(work, tracking_numbers)
    order_numbers = _find_order_numbers(source, work)
    work = mask(work, order_numbers)
    amounts = _find_amounts(source, work, language)
    work = mask(work, amounts)
    dates = find_dates(source, work, language, today)
    work = mask(work, dates)
    phones = _find_phones(source, work)
    work = mask(work, phones)
    return Entities(
        order_numbers=tuple(order_numbers),
        tracking_numbers=tuple(tracking_numbers),
        emails=tuple(emails),
        phones=tuple(phones),
        amounts=tuple(amounts),
        dates=tuple(dates),
        products=tuple(_find_products(source, work, catalog)),
        truncated=len(text) > MAX_CHARS,
    )
