"""Meta's Tech Provider onboarding after Embedded Signup (issue 18), Graph side: exchange the one-time code for the
account's business token (``/oauth/access_token``), subscribe the app to the WABA's webhooks
(``/<WABA_ID>/subscribed_apps``) and register the number on the Cloud API (``/<PHONE_NUMBER_ID>/register``).

Error choices (Meta's answers as integrators report them; written for the sandbox): a wrong ``client_id`` is code 101
"Error validating application. Invalid application ID."; a wrong ``client_secret`` code 1 "Error validating client
secret."; a code this sandbox never issued code 100 / subcode 36007 "Invalid verification code format."; a code used
before code 100 / subcode 36009 "This authorization code has been used." — all ``OAuthException``, HTTP 400, without
``error_data``. A PIN that is not 6 digits is code 100; a PIN other than the one the first registration set is 133005.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .errors import GraphError
from .graph import check_messaging_product, check_version, json_body, number_account, sandbox, waba_account

router = APIRouter()

PIN_LENGTH = 6


def oauth_error(code: int, message: str, subcode: int | None = None) -> GraphError:
    return GraphError(code=code, message=message, subcode=subcode, http_status=400, messaging_product=False)


async def _oauth_params(request: Request) -> dict[str, str]:
    """The exchange's parameters: the query string, or a form-encoded POST body (both are how clients call it)."""
    params = dict(request.query_params)
    if request.method == "POST":
        raw = (await request.body()).decode("utf-8", errors="replace")
        if raw and "=" in raw and not raw.lstrip().startswith("{"):
            params = {**dict(parse_qsl(raw)), **params}
    return params


@router.api_route("/oauth/access_token", methods=["GET", "POST"])
async def exchange_code_unversioned(request: Request) -> JSONResponse:
    """The same exchange without a version in the path (Meta then uses the app's default version)."""
    return await _exchange(request)


@router.api_route("/{version}/oauth/access_token", methods=["GET", "POST"])
async def exchange_code(version: str, request: Request) -> JSONResponse:
    """Embedded Signup's code → the business token of the account the code onboarded (once)."""
    check_version(request, version)
    return await _exchange(request)


async def _exchange(request: Request) -> JSONResponse:
    state = sandbox(request)
    params = await _oauth_params(request)
    client_id = params.get("client_id")
    if not client_id:
        raise oauth_error(101, "Missing client_id parameter.")
    if client_id != state.settings.app_id:
        raise oauth_error(101, "Error validating application. Invalid application ID.")
    secret = params.get("client_secret") or ""
    if not secrets.compare_digest(secret.encode(), state.settings.app_secret.encode()):
        raise oauth_error(1, "Error validating client secret.")
    code = params.get("code") or ""
    issued = state.signup_codes.get(code)
    if issued is None:
        raise oauth_error(100, "Invalid verification code format.", 36007)
    if issued.used:
        raise oauth_error(100, "This authorization code has been used.", 36009)
    account = state.accounts.get(issued.waba_id)
    if account is None:  # the account is gone (reset): the code means nothing any more
        raise oauth_error(100, "Invalid verification code format.", 36007)
    issued.used = True
    token = "EAAsandbox" + secrets.token_urlsafe(40)
    state.rotate_token(token, account)
    return JSONResponse({"access_token": token, "token_type": "bearer"})


def _subscribed_view(request: Request, app_ids: list[str]) -> dict[str, Any]:
    return {
        "data": [
            {
                "whatsapp_business_api_data": {
                    "id": app_id,
                    "link": f"https://www.facebook.com/games/?app_id={app_id}",
                    "name": "Bakery Platform (sandbox app)",
                }
            }
            for app_id in app_ids
        ]
    }


@router.post("/{version}/{node_id}/subscribed_apps")
async def subscribe_app(version: str, node_id: str, request: Request) -> JSONResponse:
    """Subscribe the sandbox's app to the WABA's webhooks (from now on its statuses and messages are delivered)."""
    account = waba_account(request, version, node_id, "post")
    app_id = sandbox(request).settings.app_id
    if app_id not in account.subscribed_apps:
        account.subscribed_apps.append(app_id)
    return JSONResponse({"success": True})


@router.get("/{version}/{node_id}/subscribed_apps")
async def list_subscribed_apps(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "get")
    return JSONResponse(_subscribed_view(request, account.subscribed_apps))


@router.delete("/{version}/{node_id}/subscribed_apps")
async def unsubscribe_app(version: str, node_id: str, request: Request) -> JSONResponse:
    account = waba_account(request, version, node_id, "delete")
    account.subscribed_apps.clear()
    return JSONResponse({"success": True})


@router.post("/{version}/{node_id}/register")
async def register_number(version: str, node_id: str, request: Request) -> JSONResponse:
    """Register the number on the Cloud API with a 6-digit two-step verification PIN; until then it cannot send."""
    number, _ = number_account(request, version, node_id, "post")
    body = await json_body(request)
    check_messaging_product(body.get("messaging_product"))
    pin = body.get("pin")
    if pin is None:
        raise GraphError(code=100, message="(#100) The parameter pin is required.")
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not pin.isdigit():
        raise GraphError(
            code=100,
            message="(#100) Invalid parameter",
            details=f"pin must be a string of {PIN_LENGTH} digits (the number's two-step verification PIN)",
        )
    if number.pin is not None and not secrets.compare_digest(number.pin, pin):
        raise GraphError(code=133005, details="The PIN does not match the number's two-step verification PIN.")
    number.pin = pin
    number.registered = True
    return JSONResponse({"success": True})
