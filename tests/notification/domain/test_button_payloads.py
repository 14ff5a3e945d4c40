"""domain/button_payloads.py: signed quick-reply payloads."""

from __future__ import annotations

import uuid

import pytest

from notification_service.domain import button_payloads as bp

KEY = bp.derive_key("", "jwt-secret-for-tests-0123456789abcdef")


def test_round_trip_and_length() -> None:
    message_id = uuid.uuid4()
    for action in bp.Action:
        payload = bp.sign(KEY, message_id, action)
        assert len(payload) == 50 <= bp.MAX_LENGTH
        assert bp.verify(KEY, payload) == bp.ButtonPayload(message_id, action)


def test_every_single_character_change_is_refused() -> None:
    payload = bp.sign(KEY, uuid.uuid4(), bp.Action.CONFIRM)
    alphabet = "ABCabc019-_."
    for i, original in enumerate(payload):
        for replacement in alphabet:
            if replacement == original:
                continue
            altered = payload[:i] + replacement + payload[i + 1 :]
            assert isinstance(bp.verify(KEY, altered), bp.Refusal), altered


def test_another_key_and_garbage() -> None:
    payload = bp.sign(bp.derive_key("other", ""), uuid.uuid4(), bp.Action.REJECT)
    assert bp.verify(KEY, payload) is bp.Refusal.BAD_SIGNATURE
    for garbage in ("", "Confirmar", "v1.c..", "v1.x.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", "v1." + "A" * 200):
        assert bp.verify(KEY, garbage) is bp.Refusal.MALFORMED


def test_key_derivation_is_domain_separated() -> None:
    """The derived key is not the JWT secret itself, and the configured secret wins."""
    assert KEY != b"jwt-secret-for-tests-0123456789abcdef" and len(KEY) == 32
    assert bp.derive_key("configured", "jwt") == b"configured"
    with pytest.raises(ValueError, match="BUTTON_PAYLOAD_SECRET"):
        bp.derive_key("", "")
