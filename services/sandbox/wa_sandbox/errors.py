"""Graph API error bodies, shaped like Meta's: ``{"error": {message, type, code, error_subcode,
error_data: {messaging_product, details}, fbtrace_id}}``, and the texts used for well-known codes."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse

ERROR_DOCS_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


@dataclass(frozen=True)
class CodeInfo:
    title: str
    details: str
    http_status: int = 400
    subcode: int | None = None


# Titles and explanations written for the sandbox; the codes and HTTP statuses follow Meta's table.
KNOWN_CODES: dict[int, CodeInfo] = {
    0: CodeInfo("AuthException", "We were unable to authenticate the app user.", 401),
    1: CodeInfo("An unknown error occurred", "Invalid request or possible server error.", 400),
    2: CodeInfo("Service temporarily unavailable", "The service is temporarily down or overloaded.", 503),
    4: CodeInfo("Application request limit reached", "The app reached its API call rate limit.", 400),
    10: CodeInfo("Permission denied", "The permission is either not granted or has been removed.", 403),
    33: CodeInfo("This business phone number has been deleted", "The business phone number was deleted.", 400),
    100: CodeInfo("Invalid parameter", "A parameter is invalid, misspelled or unsupported.", 400),
    101: CodeInfo("Invalid application", "The app id is missing or not valid.", 400),
    190: CodeInfo("Access token has expired", "The access token is invalid or has expired.", 401),
    368: CodeInfo("Temporarily blocked for policies violations", "The account is restricted.", 403),
    80007: CodeInfo("Rate limit issues", "The WhatsApp Business Account reached its rate limit.", 400),
    130429: CodeInfo("Rate limit hit", "Cloud API message throughput has been reached.", 400, subcode=2494055),
    130472: CodeInfo("User's number is part of an experiment", "The message was not sent (experiment).", 400),
    130497: CodeInfo(
        "Business account is restricted from messaging users in this country",
        "This business may not send messages to users in the recipient's country.",
        403,
    ),
    131000: CodeInfo("Something went wrong", "The message failed because of an unknown error.", 500),
    131005: CodeInfo("Access denied", "The permission is either not granted or has been removed.", 403),
    131008: CodeInfo("Required parameter is missing", "A required parameter is missing.", 400),
    131009: CodeInfo("Parameter value is not valid", "A parameter value is not valid.", 400),
    131016: CodeInfo("Service unavailable", "A service is temporarily unavailable.", 500),
    131021: CodeInfo("Recipient cannot be sender", "The sender and the recipient are the same number.", 400),
    131026: CodeInfo(
        "Message undeliverable",
        "The message could not be delivered: the recipient may not use WhatsApp, may not have accepted the "
        "latest terms, or may run an old WhatsApp version.",
        400,
    ),
    131030: CodeInfo("Recipient phone number not in allowed list", "Add the recipient to the allowed list.", 400),
    131031: CodeInfo("Business Account locked", "The business account is locked.", 403),
    131042: CodeInfo("Business eligibility payment issue", "There is a problem with the payment method.", 400),
    131047: CodeInfo(
        "Re-engagement message",
        "More than 24 hours have passed since the recipient last replied to the sender number.",
        400,
    ),
    131048: CodeInfo("Spam rate limit hit", "Too many previous messages were blocked or flagged as spam.", 400),
    131049: CodeInfo(
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "The message was not delivered to keep a healthy ecosystem engagement.",
        400,
    ),
    131050: CodeInfo("User has stopped marketing messages", "The user opted out of marketing messages.", 400),
    131051: CodeInfo("Unsupported message type", "This message type is not supported.", 400),
    131053: CodeInfo(
        "Media upload error",
        "The media could not be used: the media id is unknown or expired, or the file is not a supported type.",
        400,
    ),
    131056: CodeInfo(
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number to the same "
        "phone number in a short period of time.",
        400,
    ),
    # 2026, Meta page "Business-scoped user IDs": e.g. an authentication template sent to a BSUID
    131062: CodeInfo(
        "Business-scoped User ID recipients are not supported for this message",
        "This message cannot be sent to a business-scoped user ID; send it to the phone number.",
        400,
    ),
    131057: CodeInfo("Account in maintenance mode", "The business account is in maintenance mode.", 500),
    131063: CodeInfo(
        "Marketing template messages disabled for Cloud API",
        "Marketing template messages are disabled for the Cloud API.",
        400,
    ),
    131064: CodeInfo(
        "Messaging limit reached due to template classification violations",
        "This account has reached its messaging limit due to template classification violations.",
        400,
    ),
    132000: CodeInfo(
        "Number of parameters does not match the expected number of params",
        "The number of parameters does not match the template.",
        400,
    ),
    132001: CodeInfo("Template name does not exist in the translation", "The template does not exist.", 404),
    132005: CodeInfo("Translated text too long", "The text with its parameters filled in is too long.", 400),
    132012: CodeInfo("Parameter format does not match format in the created template", "Wrong format.", 400),
    132015: CodeInfo("Template is Paused", "The template is paused because of low quality.", 400),
    132016: CodeInfo("Template is disabled", "The template was permanently disabled.", 400),
    # v23.0+: a template parameter Meta refuses (e.g. a line break in a text parameter); permanent.
    132018: CodeInfo(
        "There was an issue with the parameters in your template",
        "A template parameter is not valid.",
        400,
    ),
    133004: CodeInfo("Server temporarily unavailable", "The server is temporarily unavailable.", 503),
    133005: CodeInfo("Two step verification PIN Mismatch", "The PIN is not the number's two-step PIN.", 400),
    133010: CodeInfo("Phone number Not Registered", "The phone number is not registered on the platform.", 400),
}


def fbtrace_id() -> str:
    alphabet = string.ascii_letters + string.digits + "_-"
    return "A" + "".join(secrets.choice(alphabet) for _ in range(22))


def code_info(code: int) -> CodeInfo:
    return KNOWN_CODES.get(code, CodeInfo("Unknown error", "An error occurred.", 400))


@dataclass
class GraphError(Exception):
    """An error the sandbox answers with, as Meta's Graph API would."""

    code: int
    message: str | None = None
    details: str | None = None
    http_status: int | None = None
    subcode: int | None = None
    type: str = "OAuthException"
    messaging_product: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        info = code_info(self.code)
        if self.message is None:
            self.message = f"(#{self.code}) {info.title}"
        if self.http_status is None:
            self.http_status = info.http_status
        if self.details is None and self.code >= 130000:  # WhatsApp codes always carry error_data.details
            self.details = info.details
        if self.subcode is None:
            self.subcode = info.subcode
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.details is not None:
            error["error_data"] = (
                {"messaging_product": "whatsapp", "details": self.details}
                if self.messaging_product
                else {"details": self.details}
            )
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.http_status or 400)


def async_error(code: int, details: str | None = None, title: str | None = None) -> dict[str, Any]:
    """The ``errors[]`` item of a failed status webhook (title equals message, as in Meta's payloads)."""
    info = code_info(code)
    text = title or info.title
    return {
        "code": code,
        "title": text,
        "message": text,
        "error_data": {"details": details or info.details},
        "href": ERROR_DOCS_HREF,
    }


def unsupported_request(method: str, object_id: str) -> GraphError:
    """Meta's answer for an id that does not exist or that the token cannot see (code 100, subcode 33)."""
    return GraphError(
        code=100,
        message=(
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
            "to missing permissions, or does not support this operation. Please read the Graph API "
            "documentation at https://developers.facebook.com/docs/graph-api"
        ),
        subcode=33,
        type="GraphMethodException",
        http_status=400,
    )
