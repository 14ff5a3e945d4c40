"""E.164 parsing and normalisation (phonenumbers). Numbers without a country code are read as Spanish."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "ES"


class InvalidPhoneNumber(ValueError):
    pass


def normalize_e164(raw: str, default_region: str = DEFAULT_REGION) -> str:
    """Return ``+<country><number>``; raise InvalidPhoneNumber with a readable reason."""
    return _normalize_e164(raw, default_region)


@lru_cache(maxsize=8192)  # a pure function of its text, and the same suppliers come back in every order
def _normalize_e164(raw: str, default_region: str) -> str:  # an exception (an invalid number) is never cached
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("phone number is empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{raw}' is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            f"'{raw}' is not a valid phone number (write it in international format, e.g. +34 612 345 678)"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def wa_id(e164: str) -> str:
    """WhatsApp's id for a number: the E.164 digits without the plus sign."""
    return e164.lstrip("+")


def display_international(e164: str) -> str:
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@lru_cache(maxsize=8192)  # pure; the webhook applier prices every delivered message by its recipient's region
def region_of(e164: str) -> str | None:
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.region_code_for_number(parsed)
