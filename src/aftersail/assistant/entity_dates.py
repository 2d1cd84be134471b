"""Dates in a buyer's message, in the 14 languages: ISO and numeric dates (read by the language's habit),
"5 March" and its translations, CJK dates, and relative words resolved against `today` (see entities.py
for the choices)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from aftersail.assistant.entity_text import claim, fold, words_pattern


@dataclass(frozen=True, slots=True)
class DateMention:
    value: date
    relative: bool
    text: str
    start: int
    end: int


# --- Dates. ---

_MONTHS = {
    1: ("january", "jan", "januar", "jänner", "enero", "janvier", "gennaio", "janeiro", "januari",
        "stycznia", "styczeń", "ocak", "января", "январь", "يناير"),
    2: ("february", "feb", "februar", "febrero", "février", "febbraio", "fevereiro", "februari", "lutego",
        "luty", "şubat", "февраля", "февраль", "فبراير"),
    3: ("march", "mar", "märz", "marzo", "mars", "março", "maart", "marca", "marzec", "mart", "марта",
        "март", "مارس"),
    4: ("april", "apr", "abril", "avril", "aprile", "kwietnia", "kwiecień", "nisan", "апреля", "апрель",
        "أبريل"),
    5: ("may", "mai", "mayo", "maggio", "maio", "mei", "maja", "maj", "mayıs", "мая", "май", "مايو"),
    6: ("june", "jun", "juni", "junio", "juin", "giugno", "junho", "czerwca", "czerwiec", "haziran", "июня",
        "июнь", "يونيو"),
    7: ("july", "jul", "juli", "julio", "juillet", "luglio", "julho", "lipca", "lipiec", "temmuz", "июля",
        "июль", "يوليو"),
    8: ("august", "aug", "agosto", "août", "augustus", "sierpnia", "sierpień", "ağustos", "августа",
        "август", "أغسطس"),
    9: ("september", "sep", "sept", "septiembre", "setiembre", "septembre", "settembre", "setembro",
        "września", "wrzesień", "eylül", "сентября", "сентябрь", "سبتمبر"),
    10: ("october", "oct", "oktober", "octubre", "octobre", "ottobre", "outubro", "października",
         "październik", "ekim", "октября", "октябрь", "أكتوبر"),
    11: ("november", "nov", "noviembre", "novembre", "novembro", "listopada", "listopad", "kasım", "ноября",
         "ноябрь", "نوفمبر"),
    12: ("december", "dec", "dezember", "diciembre", "décembre", "dicembre", "dezembro", "grudnia",
         "grudzień", "aralık", "декабря", "декабрь", "ديسمبر"),
}  # fmt: skip
_MONTH_BY_NAME = {fold(name): month for month, names in _MONTHS.items() for name in names}
_MONTH_ABBREVIATIONS = {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
_MONTH_NAMES = {fold(name) for names in _MONTHS.values() for name in names} - _MONTH_ABBREVIATIONS
_MONTH = (
    rf"(?:{words_pattern(_MONTH_NAMES)}|{words_pattern(_MONTH_ABBREVIATIONS)}\.?)"  # the dot of "Mar." only
)
_YEAR = r"(?P<y>(?:19|20)\d\d)(?!\d)"
# Patterns start with a literal or a class, their look-behind after it, so that `re` can skip ahead.
_ISO_DATE = re.compile(r"(?P<y>(?:19|20)(?<![\d.,/-]..)\d\d)(?P<s>[-/.])(?P<m>\d\d?)(?P=s)(?P<d>\d\d?)(?!\d)")
_NUMERIC_DATE = re.compile(
    r"(?P<a>\d(?<![\d.,/-]\d)\d?)"
    r"(?:(?P<s>[-/.])(?P<b>\d\d?)(?P=s)(?P<y>\d{4}|\d\d)(?![\d/.-]\d)(?!\d)"
    r"|\.(?P<db>\d\d?)\.(?![\d.])"  # German "5.3."
    r"|/(?P<sb>\d\d)(?![\d/]))"  # "05/03" (two digits each: "4/5" is as likely a rating)
)
_CJK_DATE = re.compile(r"(?:(?P<y>\d{4})\s?[年년]\s?)?(?P<m>\d\d?)\s?[月월]\s?(?P<d>\d\d?)\s?[日号號일]")
_ORDINAL = r"(?:st|nd|rd|th|er|eme|ème|º|°|o|\.|-?go|-?го)?"
_DAY_MONTH = re.compile(
    rf"(?P<d>\d(?<!\d\d)\d?){_ORDINAL}\s{{0,2}}(?:de\s{{1,2}}|of\s{{1,2}})?(?P<m>{_MONTH})"
    rf"(?:,?\s{{0,2}}(?:de\s{{1,2}})?{_YEAR})?"
)
_MONTH_DAY = re.compile(
    rf"(?P<m>{_MONTH})\s{{0,2}}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s{{0,2}}{_YEAR})?"
)
_MONTH_FIRST_LANGUAGES = {"en", "zh", "ja", "ko"}

_RELATIVE_DAYS = {
    "en": {"today": 0, "yesterday": -1, "tomorrow": 1, "last week": -7, "day before yesterday": -2},
    "zh": {"今天": 0, "昨天": -1, "明天": 1, "上周": -7, "上星期": -7, "上个星期": -7, "上礼拜": -7,
           "前天": -2},
    "es": {"hoy": 0, "ayer": -1, "mañana": 1, "semana pasada": -7, "anteayer": -2},
    "fr": {"aujourd'hui": 0, "hier": -1, "demain": 1, "semaine dernière": -7, "avant-hier": -2},
    "de": {"heute": 0, "gestern": -1, "morgen": 1, "letzte woche": -7, "vorige woche": -7,
           "vergangene woche": -7, "vorgestern": -2},
    "it": {"oggi": 0, "ieri": -1, "domani": 1, "settimana scorsa": -7, "altro ieri": -2, "altroieri": -2},
    "pt": {"hoje": 0, "ontem": -1, "amanhã": 1, "semana passada": -7, "anteontem": -2},
    "ja": {"今日": 0, "きょう": 0, "昨日": -1, "きのう": -1, "明日": 1, "あした": 1, "先週": -7, "一昨日": -2,
           "おととい": -2},
    "ko": {"오늘": 0, "어제": -1, "내일": 1, "지난주": -7, "지난 주": -7, "그저께": -2, "그제": -2},
    "ar": {"اليوم": 0, "أمس": -1, "البارحة": -1, "غدا": 1, "غدًا": 1, "الأسبوع الماضي": -7},
    "ru": {"сегодня": 0, "вчера": -1, "завтра": 1, "прошлой неделе": -7, "позавчера": -2},
    "nl": {"vandaag": 0, "gisteren": -1, "morgen": 1, "vorige week": -7, "afgelopen week": -7,
           "eergisteren": -2},
    "pl": {"dzisiaj": 0, "dziś": 0, "wczoraj": -1, "jutro": 1, "zeszłym tygodniu": -7,
           "ubiegłym tygodniu": -7, "przedwczoraj": -2},
    "tr": {"bugün": 0, "dün": -1, "yarın": 1, "geçen hafta": -7, "evvelsi gün": -2},
}  # fmt: skip
_DAYS_BY_WORD = {fold(word): days for words in _RELATIVE_DAYS.values() for word, days in words.items()}
# "hier" is "here" in German and Dutch: yesterday only in a French message. "Morgen" and "mañana" after
# these words are a morning ("heute Morgen", "guten Morgen", "esta mañana"), not tomorrow.
_FRENCH_ONLY = {"hier"}
_MORNING_AFTER = ("heute ", "gestern ", "guten ", "la ", "esta ", "buenos ")
_RELATIVE = {
    lang: re.compile(
        words_pattern({*words, *_RELATIVE_DAYS["en"]} - (_FRENCH_ONLY if lang != "fr" else set()))
    )
    for lang, words in _RELATIVE_DAYS.items()
}
_RELATIVE_ANY_LANGUAGE = re.compile(words_pattern(set(_DAYS_BY_WORD) - _FRENCH_ONLY))


def _date(year: int | None, month: int, day: int, today: date | None) -> date | None:
    if year is None:
        return _latest_on_or_before(today, month, day) if today else None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _latest_on_or_before(today: date, month: int, day: int) -> date | None:
    for year in range(today.year, today.year - 8, -1):  # 29 February comes back within eight years
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


def _numeric_date(match: re.Match[str], lang: str | None, today: date | None) -> date | None:
    a, b = match["a"], match["b"] or match["db"] or match["sb"]
    separator = match["s"] or ("." if match["db"] else "/")
    if match["sb"] and len(a) < 2:
        return None
    year = None if match["y"] is None else int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
    readings = [(int(b), int(a)), (int(a), int(b))]  # (month, day), day first
    if separator != "." and lang in _MONTH_FIRST_LANGUAGES:
        readings.reverse()
    for month, day in readings:
        if (found := _date(year, month, day, today)) is not None:
            return found
    return None


def find_dates(source: str, work: str, lang: str | None, today: date | None) -> list[DateMention]:
    found = []

    def add(match: re.Match[str], value: date | None, *, relative: bool = False) -> None:
        if value is not None:
            found.append(DateMention(value, relative, source[match.start() : match.end()], *match.span()))

    for match in _NUMERIC_DATE.finditer(work):
        add(match, _numeric_date(match, lang, today))
    patterns = [_ISO_DATE, _DAY_MONTH, _MONTH_DAY]
    if "月" in work or "월" in work:
        patterns.append(_CJK_DATE)
    for pattern in patterns:
        for match in pattern.finditer(work):
            year = int(match["y"]) if match["y"] else None
            month = int(match["m"]) if match["m"].isdigit() else _MONTH_BY_NAME[match["m"].rstrip(".")]
            if match["m"] == "may" and not source[match.start("m")].isupper():
                continue  # "you may 2 …" is no date
            add(match, _date(year, month, int(match["d"]), today))
    if today is not None:
        for match in _RELATIVE.get(lang or "", _RELATIVE_ANY_LANGUAGE).finditer(work):
            word = re.sub(r"\s+", " ", match.group())
            if word in ("morgen", "manana") and work.endswith(_MORNING_AFTER, 0, match.start()):
                continue
            add(match, today + timedelta(days=_DAYS_BY_WORD[word]), relative=True)
    return claim(found)
