"""Pure text rules of knowledge-base search: a buyer's message → search terms, the Chinese/Japanese/Korean
character pairs both indexes read, the full-text query for each database, and the excerpt shown beside a
hit. No I/O; the service (assistant/knowledge.py) runs the queries.

Chinese and Japanese are written without spaces, and neither SQLite's unicode61 tokenizer nor PostgreSQL's
parser splits them: "美国买家需要支付关税" is one token to both, so a search for "关税" (customs duties) finds
nothing. Each run of those scripts (and Korean, whose words carry their particles: "관세는") is therefore
indexed as overlapping character pairs plus single characters — 关 关税 税 … — and a query run becomes its
pairs, OR-ed like every other term; bm25/ts_rank weight the rare pairs (关税) above the common ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

MAX_QUERY_CHARS = 10_000  # the first part of a long message holds far more than MAX_TERMS terms
MAX_TERMS = 30
MAX_OCCURRENCES = 1_000  # positions looked at when choosing an excerpt
EXCERPT_CHARS = 300
MAX_TERM_LENGTH = 60  # longer "words" are links, codes or noise (and PostgreSQL caps a lexeme's size)
MIN_PREFIX_LENGTH = 3  # shorter words match whole ("tv", "eu"); longer ones as prefixes ("zoll" → "zölle")

_CJK = (
    "\u1100-\u11ff\u3005\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
CJK_RUN = re.compile(f"[{_CJK}]+")
WORD = re.compile(r"[^\W_]+")  # letters and digits; punctuation, quotes, operators and "_" separate words
_HIRAGANA = re.compile("^[\u3040-\u309f]+$")
# Chinese particles: a pair holding one almost always straddles two words ("的包" in "我的包裹").
_CHINESE_PARTICLES = frozenset("的吗呢吧啊呀嘛哦")

# Words that carry no topic, in the assistant's languages written with spaces, plus the greetings and
# thanks buyers open and close with. FTS operators (and, or, not, near) are among them.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hi",
        "hello",
        "hey",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "near",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "she",
        "so",
        "than",
        "thank",
        "thanks",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "they",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "dear",
        "regards",
        "aber",
        "als",
        "am",
        "an",
        "auch",
        "auf",
        "aus",
        "bei",
        "bin",
        "bis",
        "bitte",
        "da",
        "danke",
        "das",
        "dass",
        "dem",
        "den",
        "der",
        "des",
        "die",
        "doch",
        "du",
        "ein",
        "eine",
        "einen",
        "einem",
        "einer",
        "es",
        "für",
        "hallo",
        "hat",
        "habe",
        "haben",
        "ich",
        "ihr",
        "im",
        "in",
        "ist",
        "ja",
        "kann",
        "mein",
        "meine",
        "meinen",
        "mir",
        "mit",
        "nach",
        "nicht",
        "noch",
        "nur",
        "oder",
        "schon",
        "sehr",
        "sie",
        "sind",
        "so",
        "und",
        "uns",
        "von",
        "vor",
        "war",
        "was",
        "wie",
        "wir",
        "wo",
        "zu",
        "zum",
        "zur",
        "au",
        "aux",
        "avec",
        "bonjour",
        "ce",
        "ces",
        "dans",
        "de",
        "des",
        "du",
        "elle",
        "en",
        "est",
        "et",
        "il",
        "ils",
        "je",
        "la",
        "le",
        "les",
        "leur",
        "ma",
        "mais",
        "me",
        "merci",
        "mes",
        "moi",
        "mon",
        "ne",
        "nous",
        "ou",
        "par",
        "pas",
        "pour",
        "qu",
        "que",
        "qui",
        "sa",
        "se",
        "ses",
        "son",
        "sur",
        "ta",
        "te",
        "tu",
        "un",
        "une",
        "vous",
        "votre",
        "vos",
        "al",
        "con",
        "como",
        "del",
        "el",
        "ella",
        "en",
        "es",
        "esta",
        "este",
        "gracias",
        "hola",
        "las",
        "lo",
        "los",
        "me",
        "mi",
        "mis",
        "muy",
        "no",
        "para",
        "pero",
        "por",
        "qué",
        "que",
        "se",
        "su",
        "sus",
        "te",
        "tengo",
        "un",
        "una",
        "y",
        "ya",
        "ciao",
        "che",
        "chi",
        "come",
        "da",
        "dei",
        "della",
        "di",
        "e",
        "gli",
        "grazie",
        "ha",
        "ho",
        "il",
        "io",
        "la",
        "le",
        "lei",
        "lui",
        "ma",
        "mi",
        "nel",
        "non",
        "per",
        "più",
        "sono",
        "su",
        "tu",
        "un",
        "una",
        "uno",
        "ao",
        "as",
        "com",
        "da",
        "das",
        "de",
        "do",
        "dos",
        "ela",
        "ele",
        "em",
        "eu",
        "mas",
        "meu",
        "minha",
        "na",
        "no",
        "nos",
        "não",
        "o",
        "obrigado",
        "obrigada",
        "olá",
        "os",
        "para",
        "pela",
        "pelo",
        "por",
        "que",
        "se",
        "seu",
        "sua",
        "um",
        "uma",
        "aan",
        "af",
        "bij",
        "dan",
        "dat",
        "de",
        "den",
        "der",
        "die",
        "dit",
        "een",
        "en",
        "het",
        "hoi",
        "ik",
        "in",
        "is",
        "je",
        "jij",
        "mijn",
        "met",
        "niet",
        "of",
        "op",
        "te",
        "van",
        "voor",
        "wat",
        "we",
        "wij",
        "ze",
        "a",
        "ale",
        "czy",
        "do",
        "i",
        "jak",
        "jest",
        "mam",
        "mi",
        "mnie",
        "moje",
        "mój",
        "na",
        "nie",
        "o",
        "po",
        "się",
        "to",
        "w",
        "z",
        "za",
        "że",
        "dzień",
        "dobry",
        "dziękuję",
        "acaba",
        "ama",
        "bana",
        "ben",
        "bir",
        "bu",
        "da",
        "daha",
        "de",
        "değil",
        "için",
        "ile",
        "mi",
        "mı",
        "mu",
        "mü",
        "merhaba",
        "ne",
        "teşekkür",
        "ve",
        "ya",
        "а",
        "в",
        "вы",
        "да",
        "для",
        "до",
        "её",
        "если",
        "же",
        "здравствуйте",
        "и",
        "из",
        "или",
        "их",
        "к",
        "как",
        "ли",
        "меня",
        "мне",
        "мой",
        "моя",
        "на",
        "не",
        "нет",
        "но",
        "о",
        "он",
        "она",
        "они",
        "от",
        "по",
        "привет",
        "с",
        "спасибо",
        "то",
        "у",
        "что",
        "это",
        "я",
        "أن",
        "إلى",
        "على",
        "عن",
        "في",
        "ما",
        "مرحبا",
        "من",
        "هذا",
        "هذه",
        "هل",
        "و",
        "يا",
    ]
)


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One word or character pair to look for; `prefix` also matches longer words that start with it."""

    text: str
    prefix: bool = False


def normalized(text: str) -> str:
    """NFKC (full-width letters, half-width katakana), lowercased, without combining marks left over."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def _pairs(run: str) -> Iterator[str]:
    """A CJK run as overlapping character pairs; a single character stays itself."""
    if len(run) == 1:
        yield run
        return
    for i in range(len(run) - 1):
        yield run[i : i + 2]


def _split_mixed(word: str) -> Iterator[tuple[str, bool]]:
    """(piece, is_cjk) for the CJK runs of a word and the pieces between them ("iphone充电器")."""
    last = 0
    for run in CJK_RUN.finditer(word):
        if run.start() > last:
            yield word[last : run.start()], False
        yield run.group(), True
        last = run.end()
    if last < len(word):
        yield word[last:], False


def cjk_index_text(*texts: str) -> str:
    """What `KbArticle.search_cjk` holds: every CJK run of `texts` as single characters and overlapping
    pairs, plus the other pieces of words that mix scripts ("iphone" of "iphone充电器"), space-separated.
    Empty for text without CJK (its words are indexed from title and body directly)."""
    tokens: list[str] = []
    for text in texts:
        for word in WORD.findall(normalized(text)):
            if not CJK_RUN.search(word):
                continue
            for piece, is_cjk in _split_mixed(word):
                if is_cjk:
                    tokens.extend(piece)  # single characters: a one-character query ("税", "옷") finds them
                    if len(piece) > 1:
                        tokens.extend(_pairs(piece))
                else:
                    tokens.append(piece)
    return " ".join(tokens)


def _word_term(word: str) -> SearchTerm | None:
    if not 2 <= len(word) <= MAX_TERM_LENGTH or word in STOPWORDS:
        return None
    if sum(c.isdigit() for c in word) >= 3:
        return None  # order, tracking and phone numbers: the order tools answer those, not articles
    if word.isdigit():
        return SearchTerm(word)
    # Plurals, as prefixes: "returns" finds "return" and "returned", "batteries" finds "battery".
    if len(word) >= 6 and word.endswith("ies"):
        word = word[:-3]
    elif len(word) >= 4 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return SearchTerm(word, prefix=len(word) >= MIN_PREFIX_LENGTH)


def _cjk_terms(run: str) -> Iterator[SearchTerm]:
    only_kana = bool(_HIRAGANA.match(run))
    for pair in _pairs(run):
        if not only_kana and _HIRAGANA.match(pair):
            continue  # Japanese particles and endings (は, です, ました) between the words that matter
        if len(pair) == 2 and _CHINESE_PARTICLES & set(pair):
            continue
        yield SearchTerm(pair)


def query_terms(message: str) -> list[SearchTerm]:
    """The meaningful terms of a buyer's message, in order, without repeats, at most MAX_TERMS.

    Punctuation, quotes, brackets and operators are separators; stopwords, one-letter words and anything
    with three or more digits (order and tracking numbers) are dropped. Never raises, whatever the text."""
    terms: dict[SearchTerm, None] = {}
    for word in WORD.findall(normalized(message[:MAX_QUERY_CHARS])):
        for piece, is_cjk in _split_mixed(word):
            found = _cjk_terms(piece) if is_cjk else filter(None, [_word_term(piece)])
            for term in found:
                terms.setdefault(term, None)
                if len(terms) >= MAX_TERMS:
                    return list(terms)
    return list(terms)


def sqlite_match(terms: Iterable[SearchTerm]) -> str:
    """An FTS5 MATCH expression: every term a quoted string (operators inside are plain words), OR-ed."""
    return " OR ".join(f'"{t.text}"' + ("*" if t.prefix else "") for t in terms)


def postgres_tsquery(terms: Iterable[SearchTerm]) -> str:
    """A `to_tsquery` expression: every term quoted, prefixes with `:*`, OR-ed."""
    return " | ".join(f"'{t.text}'" + (":*" if t.prefix else "") for t in terms)


# --- excerpts ---------------------------------------------------------------------------------------------


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` without accents, lowercased, and for each folded character the index it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        plain = unicodedata.normalize("NFKD", char)
        plain = "".join(c for c in plain if not unicodedata.combining(c)).lower() or char
        folded.append(plain)
        origin.extend([index] * len(plain))
    return "".join(folded), origin


def _needle(term: SearchTerm) -> re.Pattern[str]:
    text, _ = _folded(term.text)
    if CJK_RUN.fullmatch(text):
        return re.compile(re.escape(text))
    end = "" if term.prefix else r"(?!\w)"
    return re.compile(r"(?<!\w)" + re.escape(text) + end)


def _best_window(hits: Sequence[tuple[int, int]], budget: int) -> int:
    """Where a window of `budget` characters holding the most different terms starts (the earliest such),
    a little before its first match. `hits` are (position, term number), sorted."""
    lead = budget // 5  # some words before the match, for context
    counts: dict[int, int] = {}
    best_start, best_score, right = 0, 0, 0
    for left, (position, _) in enumerate(hits):
        start = max(0, position - lead)
        while right < len(hits) and hits[right][0] < start + budget:
            counts[hits[right][1]] = counts.get(hits[right][1], 0) + 1
            right += 1
        if len(counts) > best_score:
            best_start, best_score = start, len(counts)
        counts[hits[left][1]] -= 1  # the window moves past this match
        if not counts[hits[left][1]]:
            del counts[hits[left][1]]
    return best_start


def excerpt(body: str, terms: Sequence[SearchTerm], limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of `body` around its best match: the window holding the most different
    terms (the earliest such), cut at spaces where the text has them and marked with "…" where cut."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    folded, origin = _folded(text)
    hits: list[tuple[int, int]] = []  # (position in text, term number)
    for number, term in enumerate(terms):
        for found in _needle(term).finditer(folded):
            hits.append((origin[found.start()], number))
            if len(hits) >= MAX_OCCURRENCES:
                break
    budget = limit - 2  # room for the two ellipses
    start = min(_best_window(sorted(hits), budget), max(0, len(text) - budget))
    end = min(len(text), start + budget)
    if start > 0:
        space = text.find(" ", start, start + 30)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", end - 30, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")
