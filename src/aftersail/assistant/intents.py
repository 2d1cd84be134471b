"""The assistant's vocabulary: the 18 intents a buyer message is classified into, and the 14 languages it
understands (a superset of the 10 the buyer pages are translated into)."""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    ORDER_STATUS = "order_status"
    DELIVERED_NOT_RECEIVED = "delivered_not_received"
    DAMAGED_ITEM = "damaged_item"
    WRONG_ITEM = "wrong_item"
    MISSING_ITEM = "missing_item"
    DEFECTIVE = "defective"
    USAGE_HELP = "usage_help"
    RETURN_REQUEST = "return_request"
    EXCHANGE_REQUEST = "exchange_request"
    REFUND_STATUS = "refund_status"
    CANCEL_ORDER = "cancel_order"
    CHANGE_ORDER = "change_order"
    PRODUCT_QUESTION = "product_question"
    CUSTOMS_DUTIES = "customs_duties"
    COMPLAINT = "complaint"
    HUMAN_AGENT = "human_agent"
    THANKS = "thanks"
    OTHER = "other"


INTENTS: tuple[str, ...] = tuple(intent.value for intent in Intent)

NLU_LANGUAGES: tuple[str, ...] = (
    "en",
    "zh",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "ja",
    "ko",
    "ar",
    "ru",
    "nl",
    "pl",
    "tr",
)

# The problems a buyer reports about something they received: the assistant never answers these alone
# without the order, and a claim may need photos.
ITEM_PROBLEMS = frozenset(
    {
        Intent.DAMAGED_ITEM,
        Intent.WRONG_ITEM,
        Intent.MISSING_ITEM,
        Intent.DEFECTIVE,
        Intent.DELIVERED_NOT_RECEIVED,
    }
)
