"""Webhook delivery: Meta's envelope, ``X-Hub-Signature-256`` signing, retries with exponential backoff,
and the per-message status sequence (sent → delivered → read, or failed) with its knobs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
import httpx

from .errors import async_error
from .state import (
    EffectiveKnobs,
    PhoneNumber,
    SandboxState,
    SandboxUser,
    SentRecord,
    Template,
    WebhookAttempt,
    WebhookDelivery,
    utc_now_iso,
)

logger = logging.getLogger("wa_sandbox.webhooks")

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(raw_body: bytes, app_secret: str) -> str:
    """``sha256=`` + lowercase hex HMAC-SHA256 of the exact bytes sent, keyed with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def serialize(body: dict[str, Any]) -> bytes:
    """Compact JSON with ``\\uXXXX`` escapes and escaped slashes, like Meta's bodies, so a receiver that
    re-serialises the parsed JSON instead of hashing the raw bytes gets a different signature."""
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


def messages_envelope(waba_id: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def management_envelope(waba_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "time": int(time.time()), "changes": [{"value": value, "field": field}]}],
    }


def number_metadata(number: PhoneNumber) -> dict[str, str]:
    return {"display_phone_number": number.digits, "phone_number_id": number.id}


def user_contact(user: SandboxUser, phone_shown: bool, *, with_username: bool) -> dict[str, Any]:
    """A ``contacts[]`` item: ``wa_id`` only when the phone number is shown, ``user_id`` always, ``parent_user_id``
    when parent BSUIDs are enabled, ``profile.username`` when the user has one (and the webhook carries it)."""
    contact: dict[str, Any] = {}
    if with_username and user.username:
        contact["profile"] = {"username": user.username}
    if phone_shown:
        contact["wa_id"] = user.wa_id
    contact["user_id"] = user.user_id
    if user.parent_user_id is not None:
        contact["parent_user_id"] = user.parent_user_id
    return contact


class WebhookDispatcher:
    """Sends webhooks from background asyncio tasks of the app's event loop."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._client: httpx.AsyncClient | None = None  # the verification GET
        # the POSTs: aiohttp costs a fraction of httpx's CPU per request, and these share the event loop with the
        # Graph routes (three webhooks per send)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # at most SANDBOX_WEBHOOK_CONCURRENCY POSTs in flight: httpx's pool slows down badly with hundreds of
        # requests in flight, and the sends share this event loop
        self._gate: asyncio.Semaphore | None = None
        #: status webhooks waiting to go out together (SANDBOX_WEBHOOK_BATCH_MAX > 1), per WABA: the change value
        #: and its statuses' description each, and the timer that sends what gathered when the window ends
        self._batches: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = {}
        self._batch_timers: dict[str, asyncio.TimerHandle] = {}

    # ---------------------------------------------------------------- plumbing
    def _client_for_loop(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=self.state.webhook.concurrency))
        return self._client

    def _session_for_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.state.webhook.concurrency)
            self._session = aiohttp.ClientSession(connector=connector)
            self._session_loop = loop
        return self._session

    def _gate_for_loop(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.state.webhook.concurrency)
        return self._gate

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        return len(self._tasks) + sum(len(items) for items in self._batches.values())

    async def cancel_all(self) -> None:
        for timer in self._batch_timers.values():
            timer.cancel()
        self._batch_timers.clear()
        self._batches.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def aclose(self) -> None:
        await self.cancel_all()
        if self._session is not None:
            if self._session_loop is asyncio.get_running_loop():
                await self._session.close()
            self._session = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ---------------------------------------------------------------- one webhook
    def prepare(
        self,
        field: str,
        body: dict[str, Any],
        *,
        wamid: str | None = None,
        status: str | None = None,
        phone_number_id: str | None = None,
    ) -> WebhookDelivery | None:
        """Serialise, sign and log a webhook. ``None`` when webhooks are off (empty URL)."""
        config = self.state.webhook
        if not config.url:
            return None
        raw = serialize(body)
        delivery = WebhookDelivery(
            id=self.state.new_delivery_id(),
            field=field,
            url=config.url,
            body=body,
            raw=raw.decode("ascii"),
            signature=sign(raw, config.app_secret),
            created_at=utc_now_iso(),
            wamid=wamid,
            status=status,
            phone_number_id=phone_number_id,
        )
        self.state.deliveries.append(delivery)
        return delivery

    async def attempt(self, delivery: WebhookDelivery) -> bool:
        """One POST. Only HTTP 200 counts as delivered (Meta's rule)."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: delivery.signature,
            "User-Agent": "facebookexternalua",
        }
        async with self._gate_for_loop():
            record = WebhookAttempt(at=utc_now_iso())
            delivery.attempts.append(record)
            try:
                async with self._session_for_loop().post(
                    delivery.url,
                    data=delivery.raw.encode("ascii"),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.state.webhook.timeout_seconds),
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                return False
        record.http_status = status
        if status == 200:
            delivery.delivered = True
            return True
        return False

    async def deliver(self, delivery: WebhookDelivery, *, already_tried: int = 0) -> bool:
        """Try until HTTP 200, backing off exponentially (base × 2^n, capped) between attempts."""
        config = self.state.webhook
        tries = already_tried
        while tries < config.max_attempts:
            if tries > 0:
                delay = min(config.retry_base_seconds * (2 ** (tries - 1)), config.retry_max_seconds)
                await asyncio.sleep(delay)
            tries += 1
            if await self.attempt(delivery):
                return True
        delivery.gave_up = True
        logger.warning("webhook %s gave up after %d attempts", delivery.id, tries)
        return False

    def subscribed(self, body: dict[str, Any]) -> bool:
        """Meta delivers a WABA's webhooks only once an app subscribed to it (``POST /<WABA_ID>/subscribed_apps``);
        bodies without a WABA entry (tests' raw bodies) always go."""
        entries = body.get("entry") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
            return True
        account = self.state.accounts.get(str(entries[0].get("id")))
        return account is None or bool(account.subscribed_apps)

    def send(self, field: str, body: dict[str, Any], *, app_level: bool = False, **meta: Any) -> WebhookDelivery | None:
        """Queue a webhook for background delivery (none for a WABA no app subscribed to, unless ``app_level``: what
        Meta sends the Tech Provider's app about an onboarding itself)."""
        if not app_level and not self.subscribed(body):
            return None
        delivery = self.prepare(field, body, **meta)
        if delivery is not None:
            self.spawn(self.deliver(delivery))
        return delivery

    async def send_inline_first(self, field: str, body: dict[str, Any], **meta: Any) -> WebhookDelivery | None:
        """First attempt awaited now (before the caller answers), retries in the background."""
        if not self.subscribed(body):
            return None
        delivery = self.prepare(field, body, **meta)
        if delivery is not None and not await self.attempt(delivery):
            self.spawn(self.deliver(delivery, already_tried=1))
        return delivery

    # ---------------------------------------------------------------- message statuses
    def status_body(self, record: SentRecord, status: str, knobs: EffectiveKnobs) -> dict[str, Any]:
        state = self.state
        number = state.numbers[record.phone_number_id]
        user = state.user(record.wa_id, number.waba_id)
        # Meta page "Business-scoped user IDs" (2026): the phone number is in a status unless the send was addressed
        # by user ID to a user whose number Meta withholds; a failed status has no ``contacts``, and no
        # ``recipient_user_id`` either when the send went to a phone number
        phone_shown = record.recipient_user_id is None or not user.hide_phone
        item: dict[str, Any] = {"id": record.wamid, "status": status, "timestamp": str(int(time.time()))}
        if phone_shown:
            item["recipient_id"] = record.wa_id
        if status != "failed" or record.recipient_user_id is not None:
            item["recipient_user_id"] = user.user_id
            if user.parent_user_id is not None:
                item["recipient_parent_user_id"] = user.parent_user_id
        if record.biz_opaque_callback_data is not None:
            item["biz_opaque_callback_data"] = record.biz_opaque_callback_data
        if status in ("sent", "delivered"):
            if _version_major(record.api_version) <= 23:
                conversation: dict[str, Any] = {
                    "id": hashlib.md5(record.wamid.encode(), usedforsecurity=False).hexdigest(),
                    "origin": {"type": record.category},
                }
                if status == "sent":
                    conversation["expiration_timestamp"] = str(int(record.timestamp) + 24 * 3600)
                item["conversation"] = conversation
            if record.pricing is not None:  # decided at send time by the send date (pricing.pricing_for)
                item["pricing"] = dict(record.pricing)
        if status == "failed":
            item["errors"] = [async_error(knobs.fail_code or 131000, knobs.fail_details)]
        value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": number_metadata(number)}
        if status != "failed":
            # the username only on delivered and read (Meta's page)
            value["contacts"] = [user_contact(user, phone_shown, with_username=status in ("delivered", "read"))]
        value["statuses"] = [item]
        return messages_envelope(number.waba_id, value)

    async def emit_status(self, record: SentRecord, status: str, knobs: EffectiveKnobs, *, inline: bool) -> None:
        record.statuses.append(status)
        copies = 2 if knobs.duplicate else 1
        for _ in range(copies):
            body = self.status_body(record, status, knobs)
            meta: dict[str, Any] = {"wamid": record.wamid, "status": status, "phone_number_id": record.phone_number_id}
            if inline:
                await self.send_inline_first("messages", body, **meta)
            elif self.state.webhook.batch_max > 1:
                self._add_to_batch(body, meta)
            else:
                self.send("messages", body, **meta)

    # ---------------------------------------------------------------- batched statuses
    def _add_to_batch(self, body: dict[str, Any], meta: dict[str, str]) -> None:
        """Hold a status webhook for its WABA's next batched POST: sent when SANDBOX_WEBHOOK_BATCH_MAX statuses
        gathered, or SANDBOX_WEBHOOK_BATCH_WINDOW_SECONDS after the first of them, whichever comes first."""
        entry = body["entry"][0]
        waba_id = str(entry["id"])
        items = self._batches.setdefault(waba_id, [])
        items.append((entry["changes"][0]["value"], meta))
        if len(items) >= self.state.webhook.batch_max:
            self._flush_batch(waba_id)
        elif waba_id not in self._batch_timers:
            loop = asyncio.get_running_loop()
            window = self.state.webhook.batch_window_seconds
            self._batch_timers[waba_id] = loop.call_later(window, self._flush_batch, waba_id)

    def _flush_batch(self, waba_id: str) -> None:
        """One signed POST for the WABA's held statuses: one ``changes[]`` item per status (each keeps its own
        ``metadata`` and ``contacts``), in the order they fell due; retried like any webhook."""
        timer = self._batch_timers.pop(waba_id, None)
        if timer is not None:
            timer.cancel()
        items = self._batches.pop(waba_id, [])
        if not items:
            return
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"} for value, _ in items]}],
        }
        if not self.subscribed(body):
            return
        delivery = self.prepare("messages", body)
        if delivery is not None:
            delivery.statuses = [meta for _, meta in items]
            self.spawn(self.deliver(delivery))

    async def start_statuses(self, record: SentRecord, knobs: EffectiveKnobs) -> None:
        """Called before the send's HTTP response: emits ``sent`` inline if asked, the rest later."""
        plan = knobs.plan()
        if knobs.sent_before_response and "sent" in plan:
            plan.remove("sent")
            await self.emit_status(record, "sent", knobs, inline=True)
        if plan:
            self.spawn(self._run_plan(record, plan, knobs))

    async def _run_plan(self, record: SentRecord, plan: list[str], knobs: EffectiveKnobs) -> None:
        for status in plan:
            await asyncio.sleep(knobs.status_delay_seconds)
            await self.emit_status(record, status, knobs, inline=False)

    # ---------------------------------------------------------------- other webhooks
    def inbound(
        self,
        number: PhoneNumber,
        wa_id: str,
        message: dict[str, Any],
        profile_name: str,
    ) -> WebhookDelivery | None:
        """An inbound message; ``message`` carries ``from`` only when the user's phone number is shown."""
        user = self.state.user(wa_id, number.waba_id)
        contact = user_contact(user, not user.hide_phone, with_username=True)
        contact["profile"] = {"name": profile_name, **contact.get("profile", {})}
        value = {
            "messaging_product": "whatsapp",
            "metadata": number_metadata(number),
            "contacts": [contact],
            "messages": [message],
        }
        return self.send(
            "messages",
            messages_envelope(number.waba_id, value),
            wamid=message["id"],
            phone_number_id=number.id,
        )

    def template_status(self, template_id: str, name: str, language: str, category: str, event: str,
                        reason: str | None, waba_id: str | None = None) -> WebhookDelivery | None:  # fmt: skip
        value: dict[str, Any] = {
            "event": event,
            "message_template_id": int(template_id),
            "message_template_name": name,
            "message_template_language": language,
            "reason": reason,
            "message_template_category": category,
        }
        if event == "PAUSED":
            value["other_info"] = {"title": "FIRST_PAUSE", "description": "Paused by the sandbox control API."}
        return self.send(
            "message_template_status_update",
            management_envelope(waba_id or self.state.waba_id, "message_template_status_update", value),
        )

    def set_template_status(self, template: Template, status: str, reason: str | None = None) -> WebhookDelivery | None:
        """Change a template's status and emit ``message_template_status_update`` when it changed."""
        if template.status == status:
            return None
        template.status = status
        if status == "REJECTED":
            template.rejected_reason = reason or "INVALID_FORMAT"
        event_reason = reason if reason is not None else ("NONE" if status != "PENDING_DELETION" else None)
        return self.template_status(
            template.id,
            template.name,
            template.language,
            template.category,
            status,
            event_reason,
            template.waba_id or None,
        )

    def set_template_category(self, template: Template, category: str) -> WebhookDelivery | None:
        """Meta re-categorises a template: change it and emit ``template_category_update`` (the "completed change"
        shape of Meta's webhook reference: ``previous_category`` and ``new_category``) when it changed."""
        if template.category == category:
            return None
        previous, template.category = template.category, category
        value = {
            "message_template_id": int(template.id),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "previous_category": previous,
            "new_category": category,
        }
        return self.send(
            "template_category_update",
            management_envelope(template.waba_id or self.state.waba_id, "template_category_update", value),
        )

    def phone_quality(self, number: PhoneNumber, event: str) -> WebhookDelivery | None:
        value = {
            "display_phone_number": number.digits,
            "event": event,
            # the portfolio's messaging limit (``current_limit`` was removed in February 2026)
            "max_daily_conversations_per_business": number.messaging_limit_tier,
        }
        return self.send(
            "phone_number_quality_update",
            management_envelope(number.waba_id or self.state.waba_id, "phone_number_quality_update", value),
            phone_number_id=number.id,
        )

    def partner_added(self, waba_id: str, business_id: str) -> WebhookDelivery | None:
        """``account_update`` / ``PARTNER_ADDED``: a business finished Embedded Signup and shared its WABA with the
        app (sent to the app before any ``subscribed_apps``, so that the Tech Provider learns of the WABA)."""
        value = {"event": "PARTNER_ADDED", "waba_info": {"waba_id": waba_id, "owner_business_id": business_id}}
        return self.send("account_update", management_envelope(waba_id, "account_update", value), app_level=True)

    async def verify_callback(self) -> dict[str, Any]:
        """Meta's subscription handshake: GET with hub.mode/hub.challenge/hub.verify_token."""
        config = self.state.webhook
        if not config.url:
            return {"ok": False, "error": "webhooks are off (empty URL)"}
        challenge = str(secrets.randbelow(10**9) + 10**9)
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": config.verify_token}
        try:
            response = await self._client_for_loop().get(config.url, params=params, timeout=config.timeout_seconds)
        except httpx.HTTPError as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = response.status_code == 200 and response.text.strip() == challenge
        return {"ok": ok, "http_status": response.status_code, "challenge": challenge, "body": response.text[:200]}


def _version_major(version: str) -> int:
    try:
        return int(version.lstrip("v").split(".")[0])
    except ValueError:
        return 0
