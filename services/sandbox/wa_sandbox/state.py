"""In-memory state of the sandbox and its models: the WABA, its numbers and templates, the sends it
accepted, the webhook deliveries it made, and the knobs and faults set through the control API."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, Field

from bakery_shared.graph_versions import GRAPH_API_VERSIONS, version_status

from .pricing import DEFAULT_RATES
from .ratelimit import PairLimiter, ThroughputLimiter
from .seed import load_seed
from .settings import SandboxSettings

CUSTOMER_SERVICE_WINDOW_SECONDS = 24 * 3600
FREE_ENTRY_POINT_SECONDS = 72 * 3600

QUALITY_RATINGS = ("GREEN", "YELLOW", "RED", "UNKNOWN", "NA")
PHONE_STATUSES = (
    "PENDING", "DELETED", "MIGRATED", "BANNED", "RESTRICTED", "RATE_LIMITED", "FLAGGED", "CONNECTED",
    "DISCONNECTED", "UNKNOWN", "UNVERIFIED",
)  # fmt: skip
TEMPLATE_STATUSES = (
    "APPROVED", "ARCHIVED", "DELETED", "DISABLED", "IN_APPEAL", "LIMIT_EXCEEDED", "PAUSED", "PENDING",
    "PENDING_DELETION", "REJECTED", "REINSTATED", "FLAGGED", "LOCKED",
)  # fmt: skip
TEMPLATE_CATEGORIES = ("AUTHENTICATION", "MARKETING", "UTILITY")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


def digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def region_of(digits: str) -> str:
    """ISO country of an international number given as digits (``ES`` for 34...), ``ZZ`` when unknown."""
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "ZZ"
    return phonenumbers.region_code_for_number(parsed) or "ZZ"


def business_scoped_user_id(waba_id: str, wa_id: str) -> str:
    """A stable BSUID for a user (format ``CC.<digits>``, as Meta's 2026 webhooks carry in ``user_id``)."""
    digest = hashlib.sha256(f"{waba_id}:{wa_id}".encode()).hexdigest()
    return f"{region_of(wa_id)}.{int(digest[:16], 16)}"


def parent_user_id(waba_id: str, wa_id: str) -> str:
    """A stable parent BSUID (``CC.ENT.<digits>``), for a user of a portfolio with parent BSUIDs enabled."""
    digest = hashlib.sha256(f"parent:{waba_id}:{wa_id}".encode()).hexdigest()
    return f"{region_of(wa_id)}.ENT.{int(digest[:16], 16)}"


@dataclass
class SandboxUser:
    """A WhatsApp user modelled beyond its phone number (Meta page "Business-scoped user IDs", 2026): a username,
    whether Meta withholds the phone number from webhooks wherever it may (a user with a username whom the
    business has not messaged by phone: not in Meta's contact book), and whether parent BSUIDs are enabled."""

    wa_id: str
    user_id: str
    username: str | None = None
    hide_phone: bool = False
    parent_user_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PhoneNumber:
    id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str = "GREEN"
    status: str = "CONNECTED"
    code_verification_status: str = "VERIFIED"
    name_status: str = "APPROVED"
    platform_type: str = "CLOUD_API"
    account_mode: str = "LIVE"
    messaging_limit_tier: str = "TIER_2K"
    throughput_level: str = "STANDARD"
    is_official_business_account: bool = False
    last_onboarded_time: str = "2026-01-01T09:00:00+0000"
    #: the WABA the number belongs to (set when the account is built)
    waba_id: str = ""
    #: registered on the Cloud API (``POST /<PHONE_NUMBER_ID>/register``); an Embedded Signup number starts
    #: unregistered and cannot send (133010) until then
    registered: bool = True
    #: the two-step verification PIN the registration set (a later registration must give the same one)
    pin: str | None = None

    @property
    def digits(self) -> str:
        return digits_only(self.display_phone_number)

    @property
    def country_calling_code(self) -> str:
        try:
            return str(phonenumbers.parse("+" + self.digits, None).country_code)
        except phonenumbers.NumberParseException:
            return ""

    def graph_fields(self, *, listing: bool) -> dict[str, Any]:
        """Every field the sandbox can return. Lists format the display number, single reads give digits."""
        return {
            "id": self.id,
            "display_phone_number": self.display_phone_number if listing else self.digits,
            "verified_name": self.verified_name,
            "quality_rating": self.quality_rating,
            "status": self.status,
            "code_verification_status": self.code_verification_status,
            "name_status": self.name_status,
            "platform_type": self.platform_type,
            "account_mode": self.account_mode,
            "messaging_limit_tier": self.messaging_limit_tier,
            "whatsapp_business_manager_messaging_limit": self.messaging_limit_tier,
            "throughput": {"level": self.throughput_level},
            "is_official_business_account": self.is_official_business_account,
            "last_onboarded_time": self.last_onboarded_time,
            "health_status": {
                "can_send_message": "AVAILABLE" if self.status == "CONNECTED" else "BLOCKED",
                "entities": [],
            },
        }


@dataclass
class Template:
    id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"
    rejected_reason: str = "NONE"
    created_at: float = dc_field(default_factory=time.time)
    #: the WABA the template belongs to (set when the account is built or the template created)
    waba_id: str = ""

    def graph_fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "components": self.components,
            "parameter_format": self.parameter_format,
            "rejected_reason": self.rejected_reason,
            "quality_score": {"score": "GREEN" if self.status == "APPROVED" else "UNKNOWN"},
        }


#: Meta's portfolio messaging limits (business-initiated conversations per 24 h) and their tier names;
#: ``None`` is unlimited.
MESSAGING_LIMIT_TIERS: dict[int | None, str] = {
    50: "TIER_50", 250: "TIER_250", 1000: "TIER_1K", 2000: "TIER_2K", 10000: "TIER_10K", 100000: "TIER_100K",
    None: "TIER_UNLIMITED",
}  # fmt: skip
TIER_LIMITS: dict[str, int | None] = {tier: limit for limit, tier in MESSAGING_LIMIT_TIERS.items()}
#: Meta's cap of registered numbers per verified business portfolio
MAX_NUMBERS_PER_PORTFOLIO = 20
ACCOUNT_KINDS = ("platform", "tenant_owned")


@dataclass
class Account:
    """One WhatsApp Business Account (WABA): its fields, its own access token (and the tokens that token
    replaced), its numbers (``SandboxState.numbers`` with this ``waba_id``) and templates (same), its portfolio's
    messaging limit, and the apps subscribed to its webhooks."""

    waba: dict[str, Any]
    kind: str = "platform"
    valid_token: str | None = None
    expired_tokens: dict[str, float] = dc_field(default_factory=dict)
    revoked_tokens: set[str] = dc_field(default_factory=set)
    messaging_limit_tier: str = "TIER_2K"
    #: app ids subscribed to the WABA's webhooks (``POST /<WABA_ID>/subscribed_apps``); no subscription: no webhooks
    subscribed_apps: list[str] = dc_field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.waba["id"])

    @property
    def messaging_limit(self) -> int | None:
        return TIER_LIMITS.get(self.messaging_limit_tier)

    def token_state(self) -> dict[str, Any]:
        return {
            "valid": self.valid_token is not None,
            "expired_count": len(self.expired_tokens),
            "revoked_count": len(self.revoked_tokens),
        }


@dataclass
class SignupCode:
    """A one-time code of Meta's Embedded Signup, exchanged at ``/oauth/access_token`` for the account's token."""

    code: str
    waba_id: str
    used: bool = False


@dataclass
class SentRecord:
    """One send the sandbox accepted (HTTP 200)."""

    wamid: str
    phone_number_id: str
    to: str | None  # None for a send addressed by business-scoped user ID only
    wa_id: str
    type: str
    request: dict[str, Any]
    api_version: str
    time: str
    timestamp: float
    template_name: str | None = None
    template_language: str | None = None
    category: str = "utility"
    biz_opaque_callback_data: str | None = None
    #: the business-scoped user ID the send was addressed to (``recipient`` without ``to``); None: sent to ``to``
    recipient_user_id: str | None = None
    rendered_body: str | None = None
    statuses: list[str] = dc_field(default_factory=list)
    endpoint: str = "messages"  # or "marketing_messages"
    #: The ``pricing`` of its status webhooks, decided when it was sent (``pricing.pricing_for``).
    pricing: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WebhookAttempt:
    at: str
    http_status: int | None = None
    error: str | None = None


@dataclass
class WebhookDelivery:
    """One webhook POST the sandbox made (with its retries)."""

    id: int
    field: str
    url: str
    body: dict[str, Any]
    raw: str
    signature: str
    created_at: str
    wamid: str | None = None
    status: str | None = None
    phone_number_id: str | None = None
    #: a batched POST's statuses (``wamid``, ``status``, ``phone_number_id`` each); empty for a single webhook
    statuses: list[dict[str, str]] = dc_field(default_factory=list)
    attempts: list[WebhookAttempt] = dc_field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Knobs(BaseModel):
    """Status-webhook behaviour. Every field is optional so that scopes overlay: global < number < recipient
    < one-shot (``next``). Only the fields a request sets are applied."""

    status_delay_seconds: float | None = Field(default=None, ge=0)
    duplicate: bool | None = None
    reorder: bool | None = None
    drop_delivered: bool | None = None
    fail_code: int | None = None
    fail_details: str | None = None
    fail_after_sent: bool | None = None
    sent_before_response: bool | None = None
    stop_after: Literal["sent", "delivered", "read"] | None = None


@dataclass
class EffectiveKnobs:
    status_delay_seconds: float
    duplicate: bool = False
    reorder: bool = False
    drop_delivered: bool = False
    fail_code: int | None = None
    fail_details: str | None = None
    fail_after_sent: bool = False
    sent_before_response: bool = False
    stop_after: str | None = None

    def apply(self, layer: Knobs) -> None:
        for name in layer.model_fields_set:
            setattr(self, name, getattr(layer, name))

    def plan(self) -> list[str]:
        """The statuses to emit for one message, in emission order."""
        if self.fail_code is not None:
            return ["sent", "failed"] if self.fail_after_sent else ["failed"]
        steps = ["sent", "delivered", "read"]
        if self.stop_after == "sent":
            steps = ["sent"]
        elif self.stop_after == "delivered":
            steps = ["sent", "delivered"]
        if self.drop_delivered:
            steps = [s for s in steps if s != "delivered"]
        if self.reorder:
            steps.reverse()
        return steps


@dataclass
class OneShotKnobs:
    knobs: Knobs
    remaining: int
    phone_number_id: str | None = None


class FaultRule(BaseModel):
    """A fault for ``POST /{version}/{phone_number_id}/messages``.

    ``count`` sends are affected (``None`` = until deleted); with ``probability`` < 1 each matching send is
    affected at random (seeded by ``POST /_sandbox/faults`` ``seed``), which is the fault-injection mode.
    """

    action: Literal["error", "timeout", "drop", "latency"] = "error"
    #: which POST it affects: the sends (``/messages``) or the media uploads (``/media``, issue 17)
    endpoint: Literal["messages", "media"] = "messages"
    count: int | None = Field(default=1, ge=1)
    probability: float = Field(default=1.0, ge=0, le=1)
    phone_number_id: str | None = None
    code: int = 131000
    http_status: int | None = Field(default=None, ge=400, le=599)
    error_subcode: int | None = None
    error_type: str = "OAuthException"
    message: str | None = None
    details: str | None = None
    is_transient: bool | None = None
    # timeout: how long to hold the request; latency: delay added before normal processing.
    seconds: float = Field(default=30.0, ge=0)
    # timeout/drop: whether the send is processed anyway (accepted + webhooks) although the client never
    # sees the answer, which is the ambiguous case a client must reconcile.
    accept: bool = False
    id: int = 0
    fired: int = 0


@dataclass
class WebhookConfig:
    url: str
    app_secret: str
    verify_token: str
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    timeout_seconds: float
    concurrency: int = 32
    batch_max: int = 1  # status webhooks per POST (1: one each)
    batch_window_seconds: float = 0.05  # how long the first status of a batch waits for others


class SandboxState:
    """Everything the sandbox knows. ``reset()`` returns to the seed."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.throughput = ThroughputLimiter(settings.sandbox_throughput_per_second)
        self.pairs = PairLimiter(settings.sandbox_pair_limit, settings.sandbox_pair_refill_seconds)
        self.reset()

    # ---------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        settings = self.settings
        seed = load_seed(settings.sandbox_seed_file)
        #: the seed's templates, copied (APPROVED) into every account created later
        self.seed_templates: list[dict[str, Any]] = [dict(t) for t in seed["templates"]]
        waba: dict[str, Any] = dict(seed["waba"])
        if settings.business_account_id:
            waba["id"] = settings.business_account_id
        first = Account(waba=waba, valid_token=settings.valid_access_token, subscribed_apps=[settings.app_id])
        #: every WABA, the seed's first (a client that knows nothing of accounts only ever sees that one)
        self.accounts: dict[str, Account] = {first.id: first}
        self.numbers: dict[str, PhoneNumber] = {}
        for n in seed["phone_numbers"]:
            number = PhoneNumber(**{**n, "waba_id": first.id})
            self.numbers[number.id] = number
        if self.numbers:
            first.messaging_limit_tier = next(iter(self.numbers.values())).messaging_limit_tier
        self.templates: dict[str, Template] = {
            t["id"]: Template(**{**t, "waba_id": first.id}) for t in seed["templates"]
        }
        self._template_counter = 300000000000100
        self._waba_counter = 100000000000100
        self._number_counter = 200000000000100
        #: Embedded Signup's one-time codes (``POST /_sandbox/embedded-signup``) → the account they onboard
        self.signup_codes: dict[str, SignupCode] = {}
        #: Resumable Upload API sessions (``upload:<id>``) and the handles of completed ones
        self.upload_sessions: dict[str, Any] = {}
        self.upload_handles: dict[str, Any] = {}
        self.messages: list[SentRecord] = []
        self.media: dict[str, Any] = {}  # media id → wa_sandbox.media.StoredMedia (POST /<PHONE_NUMBER_ID>/media)
        self.deliveries: list[WebhookDelivery] = []
        self._delivery_counter = 0
        self.faults: list[FaultRule] = []
        self._fault_counter = 0
        self.rng = random.Random()  # noqa: S311 - fault injection, not security
        self.global_knobs = Knobs()
        self.number_knobs: dict[str, Knobs] = {}
        self.recipient_knobs: dict[str, Knobs] = {}
        self.next_knobs: list[OneShotKnobs] = []
        self.windows: dict[tuple[str, str], float] = {}
        self.users: dict[str, SandboxUser] = {}  # wa_id → the user's username / hidden phone (POST /_sandbox/users)
        self.user_ids: dict[str, str] = {}  # every (parent) BSUID the sandbox handed out → wa_id
        self.user_id_wabas: dict[str, str] = {}  # every (parent) BSUID the sandbox handed out → its WABA
        #: the day Graph versions' end dates are checked against (None: the real UTC date); POST /_sandbox/clock
        self.today_override: date | None = settings.sandbox_today
        #: Meta turned marketing templates off on the Cloud API's /messages (they must go to /marketing_messages):
        #: a MARKETING template sent to /messages answers 131063. POST /_sandbox/account
        self.marketing_via_cloud_api: bool = True
        #: the account hit its messaging limit through template-classification violations: every send answers 131064
        self.classification_limit: bool = False
        self.entry_point_windows: dict[tuple[str, str], float] = {}
        #: The UTC day the pricing rules see for a send (None: today); set through ``PUT /_sandbox/pricing``.
        self.pricing_send_date: date | None = None
        self.rates: dict[str, dict[str, Decimal]] = {m: dict(r) for m, r in DEFAULT_RATES.items()}
        self.throughput.default_rate = settings.sandbox_throughput_per_second
        self.throughput.reset(clear_overrides=True)
        self.pairs.configure(settings.sandbox_pair_limit, settings.sandbox_pair_refill_seconds)
        self.throttle_http_status = settings.sandbox_throttle_http_status
        self.template_auto_approve_seconds = settings.sandbox_template_auto_approve_seconds
        #: Meta's review of a created template: template name (or "*" for any) → (status, rejected reason). Set
        #: with POST /_sandbox/templates/review; without an entry the review approves.
        self.template_review: dict[str, tuple[str, str | None]] = {}
        self.webhook = WebhookConfig(
            url=settings.sandbox_webhook_url,
            app_secret=settings.app_secret,
            verify_token=settings.verify_token,
            max_attempts=settings.sandbox_webhook_max_attempts,
            retry_base_seconds=settings.sandbox_webhook_retry_base_seconds,
            retry_max_seconds=settings.sandbox_webhook_retry_max_seconds,
            timeout_seconds=settings.sandbox_webhook_timeout_seconds,
            concurrency=settings.sandbox_webhook_concurrency,
            batch_max=settings.sandbox_webhook_batch_max,
            batch_window_seconds=settings.sandbox_webhook_batch_window_seconds,
        )

    def today(self) -> date:
        return self.today_override or datetime.now(UTC).date()

    # ---------------------------------------------------------------- accounts
    @property
    def first_account(self) -> Account:
        return next(iter(self.accounts.values()))

    @property
    def waba(self) -> dict[str, Any]:
        """The first account's WABA fields (what the sandbox had before it served several accounts)."""
        return self.first_account.waba

    @property
    def waba_id(self) -> str:
        return self.first_account.id

    def account_of_number(self, phone_number_id: str) -> Account | None:
        number = self.numbers.get(phone_number_id)
        return self.accounts.get(number.waba_id) if number is not None else None

    def account_numbers(self, account: Account) -> list[PhoneNumber]:
        return [n for n in self.numbers.values() if n.waba_id == account.id]

    def account_templates(self, account: Account) -> list[Template]:
        return [t for t in self.templates.values() if t.waba_id == account.id]

    def resolve_account(self, waba_id: str | None) -> Account | None:
        """The account of that WABA id; ``None`` selects the first account."""
        return self.first_account if waba_id is None else self.accounts.get(waba_id)

    def new_waba_id(self) -> str:
        self._waba_counter += 1
        while str(self._waba_counter) in self.accounts:
            self._waba_counter += 1
        return str(self._waba_counter)

    def add_account(
        self,
        *,
        waba_id: str | None,
        name: str | None,
        token: str | None,
        numbers: int,
        messaging_limit_tier: str,
        quality_rating: str = "GREEN",
        kind: str = "platform",
        registered: bool = True,
        subscribed: bool = True,
    ) -> Account:
        """A new WABA with ``numbers`` generated numbers (CONNECTED, distinct ids and display numbers) and a copy of
        the seed's templates (APPROVED). The caller has checked the id is free and the count within Meta's cap."""
        waba_id = waba_id or self.new_waba_id()
        index = len(self.accounts) + 1
        account = Account(
            waba={
                "id": waba_id,
                "name": name or f"Sandbox account {index}",
                "currency": "EUR",
                "timezone_id": "142",
                "message_template_namespace": f"sandbox_namespace_{waba_id[-6:]}",
            },
            kind=kind,
            valid_token=token,
            messaging_limit_tier=messaging_limit_tier,
            subscribed_apps=[self.settings.app_id] if subscribed else [],
        )
        self.accounts[account.id] = account
        self.add_numbers(account, numbers, quality_rating=quality_rating, registered=registered)
        for seeded in self.seed_templates:
            template = Template(**{**seeded, "id": self.new_template_id(), "status": "APPROVED", "waba_id": account.id})
            self.templates[template.id] = template
        return account

    def add_numbers(
        self, account: Account, count: int, *, quality_rating: str = "GREEN", registered: bool = True
    ) -> list[PhoneNumber]:
        """``count`` new CONNECTED numbers of the account: distinct ids and (Spanish) display numbers, verified names
        after the account's name, the portfolio's messaging limit."""
        added: list[PhoneNumber] = []
        position = len(self.account_numbers(account))
        for _ in range(count):
            position += 1
            self._number_counter += 1
            while str(self._number_counter) in self.numbers:
                self._number_counter += 1
            serial = self._number_counter % 10**7
            display = f"+34 71{serial // 10**6 % 10} {serial // 1000 % 1000:03d} {serial % 1000:03d}"
            number = PhoneNumber(
                id=str(self._number_counter),
                display_phone_number=display,
                verified_name=f"{account.waba.get('name')} {position}",
                quality_rating=quality_rating,
                messaging_limit_tier=account.messaging_limit_tier,
                waba_id=account.id,
                registered=registered,
            )
            self.numbers[number.id] = number
            added.append(number)
        return added

    def account_view(self, account: Account | None = None) -> dict[str, Any]:
        """Without an account: the account-wide send switches (``GET /_sandbox/account``). With one: the account as
        the control API lists it (never its token)."""
        if account is None:
            return {
                "marketing_via_cloud_api": self.marketing_via_cloud_api,
                "classification_limit": self.classification_limit,
            }
        return {
            "waba_id": account.id,
            "name": account.waba.get("name"),
            "kind": account.kind,
            "messaging_limit": account.messaging_limit,
            "messaging_limit_tier": account.messaging_limit_tier,
            "unique_recipients_24h": self.portfolio_recipients_24h(account),
            "token": account.token_state(),
            "subscribed_apps": list(account.subscribed_apps),
            "phone_numbers": [
                {
                    "id": n.id,
                    "display_phone_number": n.display_phone_number,
                    "verified_name": n.verified_name,
                    "quality_rating": n.quality_rating,
                    "status": n.status,
                    "registered": n.registered,
                }
                for n in self.account_numbers(account)
            ],
            "templates": len([t for t in self.account_templates(account) if t.status != "DELETED"]),
        }

    # ---------------------------------------------------------------- ids
    def new_template_id(self) -> str:
        self._template_counter += 1
        return str(self._template_counter)

    def new_delivery_id(self) -> int:
        self._delivery_counter += 1
        return self._delivery_counter

    @staticmethod
    def new_wamid(wa_id: str) -> str:
        import base64

        raw = b"\x1c\x18" + bytes([len(wa_id)]) + wa_id.encode() + b"\x15\x02\x00\x11\x18\x12"
        raw += secrets.token_hex(9).upper().encode() + b"\x00"
        return "wamid." + base64.b64encode(raw).decode()

    def bsuid(self, wa_id: str, waba_id: str | None = None) -> str:
        """The user's business-scoped user ID for that WABA (default: the first account's)."""
        waba_id = waba_id or self.waba_id
        user_id = business_scoped_user_id(waba_id, wa_id)
        self.user_ids[user_id] = wa_id  # so that a send may address it (``recipient``)
        self.user_id_wabas[user_id] = waba_id
        return user_id

    def user(self, wa_id: str, waba_id: str | None = None) -> SandboxUser:
        """The user behind a phone number, as a WABA sees it (BSUIDs are per WABA): as set through the control API,
        else one without a username."""
        known = self.users.get(wa_id)
        if known is None:
            return SandboxUser(wa_id=wa_id, user_id=self.bsuid(wa_id, waba_id))
        if waba_id is None or waba_id == self.waba_id:
            return known
        parent = parent_user_id(waba_id, wa_id) if known.parent_user_id is not None else None
        if parent is not None:
            self.user_ids[parent] = wa_id
            self.user_id_wabas[parent] = waba_id
        return SandboxUser(
            wa_id=wa_id,
            user_id=self.bsuid(wa_id, waba_id),
            username=known.username,
            hide_phone=known.hide_phone,
            parent_user_id=parent,
        )

    def set_user(self, wa_id: str, *, username: str | None, hide_phone: bool, parent: bool) -> SandboxUser:
        user = SandboxUser(
            wa_id=wa_id,
            user_id=self.bsuid(wa_id),
            username=username,
            hide_phone=hide_phone,
            parent_user_id=parent_user_id(self.waba_id, wa_id) if parent else None,
        )
        if user.parent_user_id is not None:
            self.user_ids[user.parent_user_id] = wa_id
            self.user_id_wabas[user.parent_user_id] = self.waba_id
        self.users[wa_id] = user
        return user

    # ---------------------------------------------------------------- lookups
    def find_template(self, name: str, language: str, waba_id: str | None = None) -> Template | None:
        """A live template of that name and language in that WABA (default: the first account's)."""
        waba_id = waba_id or self.waba_id
        for template in self.templates.values():
            if (
                template.name == name
                and template.language == language
                and template.status != "DELETED"
                and template.waba_id == waba_id
            ):
                return template
        return None

    def message(self, wamid: str) -> SentRecord | None:
        for record in reversed(self.messages):
            if record.wamid == wamid:
                return record
        return None

    # ---------------------------------------------------------------- tokens
    # The first account's token, as the sandbox had one token before it served several accounts.
    @property
    def valid_token(self) -> str | None:
        return self.first_account.valid_token

    @valid_token.setter
    def valid_token(self, token: str | None) -> None:
        self.first_account.valid_token = token

    @property
    def expired_tokens(self) -> dict[str, float]:
        return self.first_account.expired_tokens

    @property
    def revoked_tokens(self) -> set[str]:
        return self.first_account.revoked_tokens

    def expired_at(self, token: str) -> float | None:
        for account in self.accounts.values():
            if token in account.expired_tokens:
                return account.expired_tokens[token]
        return None

    def token_problem(self, token: str | None, owner: Account | None = None) -> str | None:
        """``None`` when the token may act on the owner's objects (without an owner: when it is the valid token of
        some account), else ``missing``/``expired``/``revoked``/``invalid``, or ``foreign``: a valid token of
        another account (Meta answers as for an object the token cannot see)."""
        if not token:
            return "missing"
        accounts = list(self.accounts.values()) if owner is None else [owner]
        for account in accounts:
            if account.valid_token is not None and secrets.compare_digest(token, account.valid_token):
                return None
        for account in [owner] if owner is not None else []:
            if token in account.expired_tokens:
                return "expired"
            if token in account.revoked_tokens:
                return "revoked"
        for account in self.accounts.values():
            if account.valid_token is not None and secrets.compare_digest(token, account.valid_token):
                return "foreign"
        for account in self.accounts.values():
            if token in account.expired_tokens:
                return "expired"
            if token in account.revoked_tokens:
                return "revoked"
        return "invalid"

    def token_account(self, token: str | None) -> Account | None:
        """The (first) account whose valid token this is."""
        for account in self.accounts.values():
            if token and account.valid_token is not None and secrets.compare_digest(token, account.valid_token):
                return account
        return None

    def rotate_token(self, new_token: str, account: Account | None = None) -> None:
        account = account or self.first_account
        old = account.valid_token
        if old and old != new_token and old not in account.expired_tokens:
            account.revoked_tokens.add(old)
        account.expired_tokens.pop(new_token, None)
        account.revoked_tokens.discard(new_token)
        account.valid_token = new_token

    def expire_token(self, token: str | None = None, account: Account | None = None) -> str | None:
        account = account or self.first_account
        token = token or account.valid_token
        if token:
            account.expired_tokens[token] = time.time()
            if token == account.valid_token:
                account.valid_token = None
        return token

    def revoke_token(self, token: str | None = None, account: Account | None = None) -> str | None:
        """Meta invalidated the session (a password change, a removed system user): 190 / subcode 460."""
        account = account or self.first_account
        token = token or account.valid_token
        if token:
            account.revoked_tokens.add(token)
            account.expired_tokens.pop(token, None)
            if token == account.valid_token:
                account.valid_token = None
        return token

    # ---------------------------------------------------------------- knobs
    def effective_knobs(self, phone_number_id: str, wa_id: str) -> EffectiveKnobs:
        knobs = EffectiveKnobs(status_delay_seconds=self.settings.sandbox_status_delay_seconds)
        knobs.apply(self.global_knobs)
        if phone_number_id in self.number_knobs:
            knobs.apply(self.number_knobs[phone_number_id])
        if wa_id in self.recipient_knobs:
            knobs.apply(self.recipient_knobs[wa_id])
        for shot in self.next_knobs:
            if shot.phone_number_id in (None, phone_number_id):
                knobs.apply(shot.knobs)
                shot.remaining -= 1
                break
        self.next_knobs = [s for s in self.next_knobs if s.remaining > 0]
        return knobs

    # ---------------------------------------------------------------- faults
    def add_fault(self, rule: FaultRule) -> FaultRule:
        self._fault_counter += 1
        rule.id = self._fault_counter
        rule.fired = 0
        self.faults.append(rule)
        return rule

    def take_fault(self, phone_number_id: str, endpoint: str = "messages") -> FaultRule | None:
        for rule in self.faults:
            if rule.phone_number_id not in (None, phone_number_id) or rule.endpoint != endpoint:
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            if rule.count is not None and rule.fired >= rule.count:
                self.faults.remove(rule)
            return rule
        return None

    # ---------------------------------------------------------------- customer-service window
    def open_window(self, phone_number_id: str, wa_id: str) -> None:
        self.windows[(phone_number_id, wa_id)] = time.time()

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        opened = self.windows.get((phone_number_id, wa_id))
        return opened is not None and time.time() - opened < CUSTOMER_SERVICE_WINDOW_SECONDS

    # ---------------------------------------------------------------- the portfolio's messaging limit
    # Since 2025-10-07 Meta sets one messaging limit per business portfolio, shared by all its numbers and
    # re-evaluated every 6 hours (Meta, "Messaging limits"); every number reports the same
    # ``whatsapp_business_manager_messaging_limit``.
    @property
    def portfolio_messaging_limit(self) -> str:
        """The first account's portfolio limit (see :meth:`set_portfolio_messaging_limit` for others)."""
        return self.first_account.messaging_limit_tier

    def set_portfolio_messaging_limit(self, tier: str, account: Account | None = None) -> None:
        account = account or self.first_account
        account.messaging_limit_tier = tier
        for number in self.account_numbers(account):
            number.messaging_limit_tier = tier

    def portfolio_recipients_24h(self, account: Account | None = None) -> int:
        """Unique users the portfolio's numbers sent to in the last 24 h, outside a customer-service window (what
        the limit counts)."""
        account = account or self.first_account
        since = time.time() - 24 * 3600
        own = {n.id for n in self.account_numbers(account)}
        return len(
            {
                r.wa_id
                for r in self.messages
                if r.timestamp >= since
                and r.phone_number_id in own
                and not self.window_open(r.phone_number_id, r.wa_id)
            }
        )

    def open_entry_point(self, phone_number_id: str, wa_id: str) -> None:
        """A click-to-WhatsApp ad / Page call to action: every message free for 72 h (Meta's free entry point)."""
        self.entry_point_windows[(phone_number_id, wa_id)] = time.time()

    def entry_point_open(self, phone_number_id: str, wa_id: str) -> bool:
        opened = self.entry_point_windows.get((phone_number_id, wa_id))
        return opened is not None and time.time() - opened < FREE_ENTRY_POINT_SECONDS

    def send_date(self) -> date:
        return self.pricing_send_date or self.today()

    # ---------------------------------------------------------------- views
    def review_outcome(self, name: str) -> tuple[str, str | None]:
        """What Meta's review makes of a newly created template (the knob, else APPROVED)."""
        return self.template_review.get(name) or self.template_review.get("*") or ("APPROVED", None)

    def snapshot(self) -> dict[str, Any]:
        return {
            "waba": self.waba,
            "phone_numbers": [{k: v for k, v in asdict(n).items() if k != "pin"} for n in self.numbers.values()],
            "templates": [asdict(t) for t in self.templates.values()],
            "token": self.first_account.token_state(),
            "accounts": [self.account_view(a) for a in self.accounts.values()],
            "faults": [f.model_dump() for f in self.faults],
            "knobs": self.knobs_view(),
            "limits": self.limits_view(),
            "webhook": {
                "url": self.webhook.url,
                "max_attempts": self.webhook.max_attempts,
                "retry_base_seconds": self.webhook.retry_base_seconds,
                "retry_max_seconds": self.webhook.retry_max_seconds,
                "timeout_seconds": self.webhook.timeout_seconds,
                "concurrency": self.webhook.concurrency,
                "batch_max": self.webhook.batch_max,
                "batch_window_seconds": self.webhook.batch_window_seconds,
            },
            "template_auto_approve_seconds": self.template_auto_approve_seconds,
            "template_review": {k: {"status": v[0], "reason": v[1]} for k, v in self.template_review.items()},
            "clock": self.clock_view(),
            "account": self.account_view(),
            "counts": {"messages": len(self.messages), "webhooks": len(self.deliveries)},
        }

    def clock_view(self) -> dict[str, Any]:
        """The sandbox's day and what each Graph version it knows means on it."""
        today = self.today()
        return {
            "today": today.isoformat(),
            "overridden": self.today_override is not None,
            "versions": {name: version_status(name, today).as_dict() for name in GRAPH_API_VERSIONS},
        }

    def knobs_view(self) -> dict[str, Any]:
        return {
            "defaults": asdict(EffectiveKnobs(status_delay_seconds=self.settings.sandbox_status_delay_seconds)),
            "global": self.global_knobs.model_dump(exclude_unset=True),
            "phone_numbers": {k: v.model_dump(exclude_unset=True) for k, v in self.number_knobs.items()},
            "recipients": {k: v.model_dump(exclude_unset=True) for k, v in self.recipient_knobs.items()},
            "next": [
                {
                    "knobs": s.knobs.model_dump(exclude_unset=True),
                    "remaining": s.remaining,
                    "phone_number_id": s.phone_number_id,
                }
                for s in self.next_knobs
            ],
        }

    def limits_view(self) -> dict[str, Any]:
        return {
            "throughput_per_second": self.throughput.default_rate,
            "throughput_per_number": self.throughput.overrides,
            "pair_limit": self.pairs.limit,
            "pair_refill_seconds": self.pairs.refill_seconds,
            "throttle_http_status": self.throttle_http_status,
        }
