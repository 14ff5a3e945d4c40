"""domain/supplier_replies.py: opt-out words, the customer-service window, reading inbound items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from notification_service.domain import supplier_replies as rules

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
WORDS = rules.Words.of(rules.DEFAULT_OPT_OUT_WORDS, rules.DEFAULT_OPT_IN_WORDS)


@pytest.mark.parametrize("text", ["STOP", " stop ", "Baja", "BAJA!", "bája.", "Darme  de baja", "unsubscribe"])
def test_opt_out_words_match_the_whole_message(text: str) -> None:
    assert WORDS.classify(text) == rules.OUTCOME_OPTED_OUT


@pytest.mark.parametrize("text", ["START", "alta", "Álta", "darme de alta"])
def test_opt_in_words(text: str) -> None:
    assert WORDS.classify(text) == rules.OUTCOME_OPTED_IN


@pytest.mark.parametrize("text", ["please stop sending the bread", "baja el precio", "", None, "stopp"])
def test_other_texts_are_replies(text: str | None) -> None:
    assert WORDS.classify(text) is None


def test_a_word_cannot_both_opt_out_and_in() -> None:
    with pytest.raises(ValueError, match="baja"):
        rules.Words.of(["BAJA"], ["baja"])


def test_window() -> None:
    assert rules.window_open(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not rules.window_open(NOW - timedelta(hours=24), NOW)
    assert not rules.window_open(None, NOW)


def test_parse_button_interactive_text_and_missing_phone() -> None:
    button = rules.parse_inbound(
        {"id": "w1", "from": "34600", "timestamp": "1796300000", "type": "button",
         "button": {"payload": "v1.c.x.y", "text": "Confirmar"}, "context": {"id": "wamid.PO"}},
        NOW,
    )  # fmt: skip
    assert button is not None and button.is_button and button.from_phone == "+34600"
    assert button.context_wamid == "wamid.PO" and button.sent_at == datetime.fromtimestamp(1796300000, UTC)
    interactive = rules.parse_inbound(
        {"id": "w2", "from_user_id": "ES.1", "type": "interactive",
         "interactive": {"type": "button_reply", "button_reply": {"id": "v1.r.x.y", "title": "Reject"}}},
        NOW,
    )  # fmt: skip
    assert interactive is not None and interactive.button_payload == "v1.r.x.y" and interactive.button_text == "Reject"
    assert interactive.from_phone is None and interactive.from_user_id == "ES.1" and interactive.sent_at == NOW
    text = rules.parse_inbound({"id": "w3", "from": ["x"], "type": "text", "text": {"body": "hola\x00"}}, NOW)
    assert text is not None and text.text == "hola\ufffd" and text.from_phone is None and not text.is_button
    assert rules.parse_inbound({"type": "text"}, NOW) is None
