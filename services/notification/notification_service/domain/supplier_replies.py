"""What a supplier's inbound WhatsApp message means (issue 16): pure rules, no I/O.

* An inbound ``messages[]`` item is read defensively into an :class:`Inbound` (every value fitted to its column).
  A quick-reply tap arrives as ``type: "button"`` (``button.payload``, ``button.text``); an interactive reply button
  as ``type: "interactive"`` with ``interactive.button_reply`` ``{id, title}``: both are the same decision path
  (the payload is ``button.payload`` or ``button_reply.id``). ``context`` may be missing (Meta omits it at times).
* Opt-out and opt-in words match the **whole** message: trimmed, case- and accent-insensitive, inner spaces
  collapsed, surrounding punctuation ignored ("Stop.", " baja ", "BAJA!" all match ``BAJA``); a sentence that
  contains the word does not.
* The 24-hour customer-service window: a free-form message may go to a user only within 24 hours of that user's
  last message to that business number (Meta, "Customer service windows" on the Cloud API pages: 131047 outside it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from notification_service.domain.button_payloads import Action
from notification_service.domain.webhook_payload import (
    USER_ID_LENGTH,
    WAMID_LENGTH,
    as_dict,
    clean_text,
    scalar_text,
)

SERVICE_WINDOW = timedelta(hours=24)

#: ``whatsapp_messages.kind`` of our confirmation reply to a supplier's tap (a free-form text)
KIND_SUPPLIER_ACK = "supplier_ack"

#: Decisions as stored and as the API and events name them
CONFIRMED = "confirmed"
REJECTED = "rejected"
DECISION_OF = {Action.CONFIRM: CONFIRMED, Action.REJECT: REJECTED}

#: ``inbound_messages.outcome``
OUTCOME_RECEIVED = "received"  # stored, not handled yet (only inside the transaction that handles it)
OUTCOME_DECISION = "decision"  # the first tap on a message: the decision
OUTCOME_LATER_TAP = "later_tap"  # a tap after the decision: recorded, the first decision stands
OUTCOME_PAYLOAD_REFUSED = "payload_refused"  # forged, altered, another bakery's: changes nothing
OUTCOME_REPLY = "reply"  # text (or media) linked to a message we sent
OUTCOME_OPTED_OUT = "opted_out"
OUTCOME_OPTED_IN = "opted_in"
OUTCOME_UNLINKED = "unlinked"  # no message of ours to link it to

#: Why a payload changed nothing (``outcome_detail`` and the metric label): the payload module's own reasons
#: (``malformed``, ``bad_signature``) and these
REFUSED_UNKNOWN_MESSAGE = "unknown_message"  # well signed, but no such message (e.g. another deployment's key)
REFUSED_OTHER_NUMBER = "other_number"  # the message was sent from another number than the one the tap came to
REFUSED_OTHER_TENANT = "other_tenant"  # the message belongs to another bakery than the receiving number's
REFUSED_OTHER_SUPPLIER = "other_supplier"  # the tap comes from someone the message was not sent to
REFUSED_REPLAYED = "replayed"  # the same inbound wamid again: already handled once, nothing done twice

OPTED_OUT_REASON_CODE = "supplier_opted_out"
OUTSIDE_WINDOW_REASON_CODE = "outside_service_window"
OUTSIDE_WINDOW_REASON = (
    f"{OUTSIDE_WINDOW_REASON_CODE}: more than 24 hours since the supplier last wrote to this number; "
    "a free-form reply is not allowed (Meta error 131047)"
)

DEFAULT_OPT_OUT_WORDS = ("STOP", "BAJA", "DARME DE BAJA", "PARAR", "UNSUBSCRIBE", "OPT OUT", "STOP ALL")
DEFAULT_OPT_IN_WORDS = ("START", "ALTA", "DARME DE ALTA", "UNSTOP", "SUBSCRIBE", "OPT IN")

_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = ".,;:!?¡¿'\"()[]-_*~ "

BUTTON_PAYLOAD_LENGTH = 256
BUTTON_TEXT_LENGTH = 256
PHONE_LENGTH = 32
TYPE_LENGTH = 32
TEXT_LENGTH = 4096


def opted_out_reason(word: str) -> str:
    return (
        f"{OPTED_OUT_REASON_CODE}: the supplier wrote {word!r} to stop this bakery's WhatsApp messages; "
        "only their own opt-in word lifts it"
    )


def normalize_word(text: str) -> str:
    """``" Bája! "`` → ``"baja"``: accents and case removed, spaces collapsed, surrounding punctuation dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", plain.casefold()).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True, slots=True)
class Words:
    opt_out: frozenset[str]
    opt_in: frozenset[str]

    @classmethod
    def of(cls, opt_out: Iterable[str], opt_in: Iterable[str]) -> Words:
        out = frozenset(w for w in (normalize_word(x) for x in opt_out) if w)
        into = frozenset(w for w in (normalize_word(x) for x in opt_in) if w)
        if out & into:
            raise ValueError(f"words cannot both opt out and opt in: {', '.join(sorted(out & into))}")
        return cls(out, into)

    def classify(self, text: str | None) -> str | None:
        """``opted_out`` / ``opted_in`` when the whole message is one of the words, else None."""
        if not text:
            return None
        word = normalize_word(text)
        if word in self.opt_out:
            return OUTCOME_OPTED_OUT
        if word in self.opt_in:
            return OUTCOME_OPTED_IN
        return None


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may go now, given the user's last message to this number."""
    return last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound ``messages[]`` item, fitted."""

    wamid: str
    type: str
    sent_at: datetime
    from_phone: str | None  # E.164 ("+" and digits); None when Meta withholds it
    from_user_id: str | None
    text: str | None
    button_payload: str | None
    button_text: str | None
    context_wamid: str | None

    @property
    def is_button(self) -> bool:
        return self.button_payload is not None


def _timestamp(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def parse_inbound(item: Any, now: datetime) -> Inbound | None:
    """An inbound item as the rules read it; None without a wamid (nothing to key it by)."""
    data = as_dict(item)
    wamid = scalar_text(data.get("id"), WAMID_LENGTH)
    if wamid is None:
        return None
    kind = scalar_text(data.get("type"), TYPE_LENGTH) or "unknown"
    digits = scalar_text(data.get("from"), PHONE_LENGTH - 1)
    from_phone = "+" + digits if digits and digits.isdigit() else None
    text: str | None = None
    payload: str | None = None
    button_text: str | None = None
    if kind == "text":
        body = as_dict(data.get("text")).get("body")
        text = clean_text(body, TEXT_LENGTH) if isinstance(body, str) else None
    elif kind == "button":
        button = as_dict(data.get("button"))
        payload = scalar_text(button.get("payload"), BUTTON_PAYLOAD_LENGTH)
        button_text = scalar_text(button.get("text"), BUTTON_TEXT_LENGTH)
    elif kind == "interactive":
        interactive = as_dict(data.get("interactive"))
        reply = as_dict(interactive.get("button_reply"))
        if reply:
            payload = scalar_text(reply.get("id"), BUTTON_PAYLOAD_LENGTH)
            button_text = scalar_text(reply.get("title"), BUTTON_TEXT_LENGTH)
    else:  # image, document, …: keep the caption as the text, if any
        media = as_dict(data.get(kind))
        caption = media.get("caption")
        text = clean_text(caption, TEXT_LENGTH) if isinstance(caption, str) else None
    context = as_dict(data.get("context"))
    return Inbound(
        wamid=wamid,
        type=kind,
        sent_at=_timestamp(data.get("timestamp"), now),
        from_phone=from_phone,
        from_user_id=scalar_text(data.get("from_user_id"), USER_ID_LENGTH),
        text=text,
        button_payload=payload,
        button_text=button_text,
        context_wamid=scalar_text(context.get("id"), WAMID_LENGTH),
    )
