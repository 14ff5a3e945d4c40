"""Signed quick-reply payloads of the purchase-order buttons ("Confirm", "Reject").

A payload names our message and the action, and carries an HMAC-SHA256 tag over both, truncated to 128 bits::

    v1.c.<message id: 22 base64url characters>.<tag: 22 base64url characters>      (50 characters)

``c`` = confirm, ``r`` = reject. Meta sends the payload back unchanged when the supplier taps the button (as
``button.payload`` of a ``type: "button"`` message, or ``interactive.button_reply.id``), so the payload alone is
enough to find the message and the action even when Meta omits ``context``. Meta documents no length limit for a
template button's payload; an interactive reply button's id is limited to 256 characters (Meta, "Interactive reply
buttons messages"; the same limit in Meta's Node SDK reference, "Reply Buttons Object"). 50 characters stay far
below both.

The key: ``BUTTON_PAYLOAD_SECRET`` when set; otherwise derived from ``JWT_SECRET`` with a domain-separated HMAC
(key = HMAC-SHA256(JWT_SECRET, ``"bakery-notification/button-payload/v1"``)), so a button tag can never be used as a
token signature or the other way round. Changing the key makes the buttons of messages already sent unusable
(their taps are refused as ``bad_signature``): rotate it only with that in mind.

Pure: no I/O. Verification compares tags in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v1"
TAG_BYTES = 16  # 128 bits
_KDF_LABEL = b"bakery-notification/button-payload/v1"
#: The longest text that can be one of our payloads; anything longer is refused before any work.
MAX_LENGTH = 64


class Action(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


_CODES = {Action.CONFIRM: "c", Action.REJECT: "r"}
_ACTIONS = {code: action for action, code in _CODES.items()}


class Refusal(StrEnum):
    """Why a payload was not accepted (a metric label and a log word; never the payload itself)."""

    MALFORMED = "malformed"  # not one of our payloads (wrong shape, version or action)
    BAD_SIGNATURE = "bad_signature"  # forged or altered: the tag does not match


@dataclass(frozen=True, slots=True)
class ButtonPayload:
    message_id: uuid.UUID
    action: Action


def derive_key(button_secret: str, jwt_secret: str) -> bytes:
    """The signing key: ``button_secret`` when set, else derived from ``jwt_secret`` (domain-separated)."""
    if button_secret:
        return button_secret.encode("utf-8")
    if not jwt_secret:
        raise ValueError("a button payload key needs BUTTON_PAYLOAD_SECRET or JWT_SECRET")
    return hmac.new(jwt_secret.encode("utf-8"), _KDF_LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, code: str, message_id: uuid.UUID) -> bytes:
    signed = f"{VERSION}.{code}.".encode("ascii") + message_id.bytes
    return hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES]


def sign(key: bytes, message_id: uuid.UUID, action: Action) -> str:
    code = _CODES[action]
    return f"{VERSION}.{code}.{_b64(message_id.bytes)}.{_b64(_tag(key, code, message_id))}"


def looks_like_ours(payload: str) -> bool:
    """Cheap test: does this text claim to be one of our payloads (it may still be forged)?"""
    return payload.startswith(VERSION + ".")


def verify(key: bytes, payload: str) -> ButtonPayload | Refusal:
    """The message and action a payload names, or why it is refused."""
    if not isinstance(payload, str) or len(payload) > MAX_LENGTH:
        return Refusal.MALFORMED
    parts = payload.split(".")
    if len(parts) != 4 or parts[0] != VERSION or parts[1] not in _ACTIONS:
        return Refusal.MALFORMED
    try:
        raw_id = _unb64(parts[2])
        given = _unb64(parts[3])
    except (binascii.Error, ValueError):
        return Refusal.MALFORMED
    if len(raw_id) != 16 or len(given) != TAG_BYTES or _b64(raw_id) != parts[2] or _b64(given) != parts[3]:
        return Refusal.MALFORMED  # only the one canonical spelling of each part is ours
    message_id = uuid.UUID(bytes=raw_id)
    if not hmac.compare_digest(given, _tag(key, parts[1], message_id)):
        return Refusal.BAD_SIGNATURE
    return ButtonPayload(message_id, _ACTIONS[parts[1]])
