"""Reply templates: every language keeps the English file's situations, parts and variables; rendering."""

from __future__ import annotations

import pytest

from aftersail.assistant import replies
from aftersail.assistant.intents import NLU_LANGUAGES


@pytest.mark.parametrize("lang", NLU_LANGUAGES)
def test_each_language_keeps_the_contract(lang: str) -> None:
    if not replies.templates(lang):
        pytest.fail(f"no reply templates for {lang}")
    assert replies.check_language(lang) == []


def test_a_reply_has_four_parts_filled() -> None:
    reply = replies.render(
        "return_request.link",
        "en",
        {
            "shop_name": "Acme",
            "order_number": "A10023",
            "returns_link": "https://x/r/abc",
            "window_ends": "5 May",
        },
    )
    assert reply.lang == "en"
    assert "A10023" in reply.problem and "https://x/r/abc" in reply.solution
    assert reply.text.count("\n\n") == 3


def test_a_missing_value_is_refused_not_sent_with_a_hole() -> None:
    with pytest.raises(replies.TemplateError, match="returns_link"):
        replies.render(
            "return_request.link", "en", {"shop_name": "Acme", "order_number": "A1", "window_ends": "x"}
        )
    with pytest.raises(replies.TemplateError, match="no reply template"):
        replies.render("no.such.situation", "en", {})


def test_a_language_without_the_situation_falls_back_to_english() -> None:
    reply = replies.render("clarify", "xx", {"shop_name": "Acme"})
    assert reply.lang == "en"
