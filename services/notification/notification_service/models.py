"""Tables of the notification database (SQLAlchemy Core). The Alembic migrations create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

from bakery_shared.db import JSONType, UTCDateTime, UUIDStr, make_metadata

metadata = make_metadata()

#: The outbox inbox: one row per accepted purchase-order event, unique per (tenant_id, event_id).
purchase_order_events = sa.Table(
    "purchase_order_events",
    metadata,
    sa.Column("id", UUIDStr(), primary_key=True),
    sa.Column("tenant_id", UUIDStr(), nullable=False),
    sa.Column("event_id", UUIDStr(), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("tenant_id", "event_id", name="uq_purchase_order_events_tenant_event"),
)

#: One row per WhatsApp message we mean to send (the message log and the dispatch queue).
whatsapp_messages = sa.Table(
    "whatsapp_messages",
    metadata,
    sa.Column("id", UUIDStr(), primary_key=True),
    sa.Column("tenant_id", UUIDStr(), nullable=False),
    sa.Column("event_id", UUIDStr(), nullable=True),  # NULL for test messages
    sa.Column("kind", sa.String(32), nullable=False),  # a registry kind (domain/kinds.py), test or supplier_ack
    sa.Column("recipient_phone", sa.String(32), nullable=False),  # E.164
    # migration 0004: the recipient's business-scoped user ID (BSUID), from status webhooks; portfolio-wide, so
    # never shown to a bakery's owner (docs/notification.md, "Business-scoped user IDs")
    sa.Column("recipient_user_id", sa.String(160), nullable=True),
    sa.Column("template_name", sa.String(128), nullable=False),
    sa.Column("requested_language", sa.String(16), nullable=True),  # supplier's language, if any
    sa.Column("language", sa.String(16), nullable=True),  # decided at dispatch
    sa.Column("template_values", JSONType, nullable=False),  # raw values the template is rendered from
    sa.Column("template_parameters", JSONType, nullable=True),  # rendered body parameters, as sent
    sa.Column("phone_number_id", sa.String(64), nullable=True),  # the tenant's number, decided at dispatch
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_reason", sa.String(500), nullable=True),
    sa.Column("hold_key", sa.String(640), nullable=True),  # which sending_holds row keeps it "held" (0003: 640)
    sa.Column("wamid", sa.String(256), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),  # HTTP attempts made
    sa.Column("transient_failures", sa.Integer(), nullable=False, server_default="0"),  # against max_attempts
    sa.Column("throttle_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("possible_duplicates", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("error_code", sa.String(32), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("error_details", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("awaiting_webhook_until", UTCDateTime(), nullable=True),  # ambiguous timeout: grace period
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Column("read_at", UTCDateTime(), nullable=True),
    sa.Column("failed_at", UTCDateTime(), nullable=True),
    # issue 5 (migration 0002): pricing from status webhooks and the cost from the rate card
    sa.Column("pricing_category", sa.String(48), nullable=True),
    sa.Column("pricing_type", sa.String(48), nullable=True),
    sa.Column("billable", sa.Boolean(), nullable=True),
    sa.Column("cost_eur", sa.Numeric(14, 6), nullable=True),
    # issue 17 (migration 0010): the purchase order's PDF uploaded to Meta, reused by retries within its 30 days
    sa.Column("media_id", sa.String(128), nullable=True),
    sa.Column("media_uploaded_at", UTCDateTime(), nullable=True),
    # issue 18 (migration 0012): the WhatsApp Business Account the message went out from (NULL: not sent yet, or
    # a row from before); costs and usage group by it
    sa.Column("waba_id", sa.String(64), nullable=True),
    sa.UniqueConstraint("tenant_id", "event_id", "recipient_phone", name="uq_whatsapp_messages_tenant_event_recipient"),
    sa.Index("ix_whatsapp_messages_status_due", "status", "due_at"),
    sa.Index("ix_whatsapp_messages_tenant_created", "tenant_id", "created_at"),
    sa.Index("ix_whatsapp_messages_created", "created_at"),
    sa.Index("ix_whatsapp_messages_wamid", "wamid", unique=True),
    sa.Index("ix_whatsapp_messages_hold_key", "hold_key"),
    sa.Index("ix_whatsapp_messages_waba_created", "waba_id", "created_at"),
)

#: One row per HTTP attempt to the Graph API, written before the call and completed after it.
whatsapp_message_attempts = sa.Table(
    "whatsapp_message_attempts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("message_id", UUIDStr(), sa.ForeignKey("whatsapp_messages.id", ondelete="CASCADE"), nullable=False),
    sa.Column("attempt_no", sa.Integer(), nullable=False),
    sa.Column("dispatcher_id", sa.String(64), nullable=False),
    sa.Column("phone_number_id", sa.String(64), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    # accepted | transient | throttled | permanent | credential | timeout_ambiguous | abandoned
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("error_code", sa.String(32), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("wamid", sa.String(256), nullable=True),
    sa.Column("duration_ms", sa.Integer(), nullable=True),
    sa.Index("ix_whatsapp_message_attempts_message", "message_id", "attempt_no"),
)

#: Sending pauses, keyed by scope: ``account`` (key = the WABA id; "master" for the environment's account) or
#: ``phone_number`` (key = phone_number_id) or ``template``.
#: ``kind`` separates independent reasons for one scope (credential now; quality/template holds in issue 5).
sending_holds = sa.Table(
    "sending_holds",
    metadata,
    sa.Column("id", UUIDStr(), primary_key=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("scope_key", sa.String(600), nullable=False),  # template holds: <name>:<language> (0003: 600)
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("error_code", sa.String(32), nullable=True),
    sa.Column("probe_phone_number_id", sa.String(64), nullable=True),
    sa.Column("probe_failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_probe_at", UTCDateTime(), nullable=True),  # NULL: released by someone else (issue 5)
    # migration 0003: the one held message sent to check whether the number may send again (dispatch/probes.py)
    sa.Column("probe_message_id", UUIDStr(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # migration 0012 (issue 18): the account of the number held (its token probes the hold); NULL: unknown
    sa.Column("waba_id", sa.String(64), nullable=True),
    sa.UniqueConstraint("scope", "scope_key", "kind", name="uq_sending_holds_scope_key_kind"),
)

#: Shared rate-limit state (GCRA "theoretical arrival time" per key, plus a counter for daily caps).
#: Keys: ``num:<phone_number_id>``, ``pair:<phone_number_id>:<recipient>``, ``cap:<tenant_id>:<YYYY-MM-DD>``.
rate_limit_state = sa.Table(
    "rate_limit_state",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("tat", UTCDateTime(), nullable=True),
    sa.Column("counter", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

#: Recipients a tenant has messaged per UTC day (for the daily cap on new recipients).
tenant_daily_recipients = sa.Table(
    "tenant_daily_recipients",
    metadata,
    sa.Column("tenant_id", UUIDStr(), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("recipient_phone", sa.String(32), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# ---------------------------------------------------------------- issue 5: webhooks, quality, templates, costs

#: Every signature-valid webhook POST, raw, deduplicated by the sha256 of its body.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("body_sha256", sa.String(64), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("fields", sa.String(300), nullable=True),  # e.g. "messages" / "phone_number_quality_update"
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("processed_at", UTCDateTime(), nullable=True),  # NULL: not processed yet (the sweeper retries)
    sa.Column("process_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.UniqueConstraint("body_sha256", name="uq_webhook_events_body_sha256"),
    sa.Index("ix_webhook_events_unprocessed", "processed_at", "received_at"),
)

#: One row per ``statuses[]`` item, with what was done with it (applied, duplicate, unknown, rejected…).
webhook_statuses = sa.Table(
    "webhook_statuses",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer(), nullable=False),
    sa.Column("wamid", sa.String(256), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_at", UTCDateTime(), nullable=True),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("message_id", UUIDStr(), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_webhook_statuses_wamid", "wamid"),
    sa.Index("ix_webhook_statuses_event", "event_id"),
)

#: Last known state of each phone number of the master WABA (webhooks + periodic sync).
phone_numbers = sa.Table(
    "phone_numbers",
    metadata,
    sa.Column("phone_number_id", sa.String(64), primary_key=True),
    sa.Column("display_phone_number", sa.String(32), nullable=True),  # digits only
    sa.Column("verified_name", sa.String(256), nullable=True),
    sa.Column("quality_rating", sa.String(16), nullable=True),
    sa.Column("messaging_limit_tier", sa.String(32), nullable=True),
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("throughput_level", sa.String(32), nullable=True),
    sa.Column("last_event", sa.String(64), nullable=True),
    sa.Column("last_event_at", UTCDateTime(), nullable=True),
    sa.Column("admin_override", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("override_by", sa.String(128), nullable=True),
    sa.Column("synced_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # migration 0012 (issue 18): the account the number belongs to, as the sync read it (NULL: not known yet)
    sa.Column("waba_id", sa.String(64), nullable=True),
    sa.Index("ix_phone_numbers_display", "display_phone_number"),
)

#: Last known status of each template translation of each account (webhooks + periodic sync); language as Meta
#: spells it. ``account_key`` (migration 0013, issue 18): Meta keeps templates per WABA; the key is the account
#: holds' (``master``: the environment's account, else its WABA id; ``domain/decisions.account_scope_key``).
message_templates = sa.Table(
    "message_templates",
    metadata,
    sa.Column("account_key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("language", sa.String(16), primary_key=True),
    sa.Column("template_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("category", sa.String(32), nullable=True),
    sa.Column("reason", sa.String(128), nullable=True),
    sa.Column("synced_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # migration 0006 (issue 15): Meta's last category change, and the category an admin accepted
    sa.Column("previous_category", sa.String(32), nullable=True),
    sa.Column("category_changed_at", UTCDateTime(), nullable=True),
    sa.Column("accepted_category", sa.String(32), nullable=True),
    sa.Column("accepted_by", sa.String(128), nullable=True),
    # migration 0013 (issue 18): Meta's quality score of the translation at that account (quality webhook)
    sa.Column("quality_score", sa.String(16), nullable=True),
)

# ---------------------------------------------------------------- issue 15: unreachable suppliers, shares (0007)

#: Suppliers Meta could not deliver to (error 131026), per bakery: later messages from that bakery to that number
#: are skipped (``supplier_unreachable``) until the owner or an admin clears the row or it is older than
#: ``UNREACHABLE_RECIPIENT_DAYS``. Another bakery messaging the same number is not affected.
unreachable_recipients = sa.Table(
    "unreachable_recipients",
    metadata,
    sa.Column("tenant_id", UUIDStr(), primary_key=True),
    sa.Column("recipient_phone", sa.String(32), primary_key=True),
    sa.Column("error_code", sa.String(32), nullable=False),
    sa.Column("error_message", sa.String(500), nullable=True),
    sa.Column("message_id", UUIDStr(), nullable=True),  # the message whose failure marked it last
    sa.Column("failures", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("first_marked_at", UTCDateTime(), nullable=False),
    sa.Column("marked_at", UTCDateTime(), nullable=False),
)

#: A bakery's share of the portfolio's daily new-recipient budget, set by an admin (no row: derived from the
#: portfolio's messaging limit and the number of active bakeries, see ``domain/shares.py``).
tenant_recipient_shares = sa.Table(
    "tenant_recipient_shares",
    metadata,
    sa.Column("tenant_id", UUIDStr(), primary_key=True),
    sa.Column("daily_new_recipients", sa.Integer(), nullable=False),
    sa.Column("set_by", sa.String(200), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# issue 15 (migration 0005): the rate card loaded by the admin (over the shipped card) and Meta's own figures.
#: One rate of Meta's card: market (ISO country or ``*``) × category, in force from ``effective_from`` (UTC day).
rate_card_rates = sa.Table(
    "rate_card_rates",
    metadata,
    sa.Column("market", sa.String(8), primary_key=True),
    sa.Column("category", sa.String(48), primary_key=True),
    sa.Column("effective_from", sa.Date(), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("rate", sa.Numeric(12, 6), nullable=False),
    sa.Column("source", sa.Text(), nullable=False, server_default=""),
    sa.Column("loaded_at", UTCDateTime(), nullable=False),
    sa.Column("loaded_by", sa.String(128), nullable=True),
)

#: Meta's ``pricing_analytics`` of the WABA: volume and cost per business number (display digits), UTC day,
#: recipient country, pricing category and type. Replaced for each day the periodic sync reads.
meta_pricing_analytics = sa.Table(
    "meta_pricing_analytics",
    metadata,
    sa.Column("phone_number", sa.String(32), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("country", sa.String(8), primary_key=True),
    sa.Column("pricing_category", sa.String(48), primary_key=True),
    sa.Column("pricing_type", sa.String(48), primary_key=True),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("volume", sa.Integer(), nullable=False),
    sa.Column("cost", sa.Numeric(14, 6), nullable=True),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
    # migration 0012 (issue 18): the account the figures were read from (NULL: stored before accounts were recorded)
    sa.Column("waba_id", sa.String(64), nullable=True),
    sa.Index("ix_meta_pricing_analytics_day", "day"),
)

# issue 16 (migration 0008): the outbox of events for the platform, one delivery state per destination.
#: One event (``domain/outbound_events.py``). ``seq`` orders events; delivery is in ``seq`` order per ``ordering_key``.
outbound_events = sa.Table(
    "outbound_events",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", UUIDStr(), nullable=False, unique=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("tenant_id", UUIDStr(), nullable=False),
    sa.Column("ordering_key", sa.String(200), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # per destination: pending | delivered | dead | off, attempts, when to try next, the last error (no secrets)
    sa.Column("http_status", sa.String(16), nullable=False),
    sa.Column("http_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("http_next_at", UTCDateTime(), nullable=True),
    sa.Column("http_last_error", sa.String(500), nullable=True),
    sa.Column("http_delivered_at", UTCDateTime(), nullable=True),
    sa.Column("amqp_status", sa.String(16), nullable=False),
    sa.Column("amqp_attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("amqp_next_at", UTCDateTime(), nullable=True),
    sa.Column("amqp_last_error", sa.String(500), nullable=True),
    sa.Column("amqp_delivered_at", UTCDateTime(), nullable=True),
    sa.Index("ix_outbound_events_http_due", "http_status", "http_next_at"),
    sa.Index("ix_outbound_events_amqp_due", "amqp_status", "amqp_next_at"),
    sa.Index("ix_outbound_events_ordering", "ordering_key", "seq"),
    sa.Index("ix_outbound_events_tenant", "tenant_id", "created_at"),
)

# issue 16 (migration 0009): what suppliers write back (docs/notification.md, "Supplier replies").
#: One row per inbound ``messages[]`` item (wamid unique: Meta's retries and duplicates are stored once). The tenant
#: is the bakery of the receiving number (the tenant of the latest message sent from it); ``message_id`` the message
#: it answers (a button payload, ``context.id``, else the latest message to that supplier from that number).
inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", UUIDStr(), primary_key=True),
    sa.Column("wamid", sa.String(256), nullable=False),
    sa.Column("phone_number_id", sa.String(64), nullable=False),  # the bakery number that received it
    sa.Column("tenant_id", UUIDStr(), nullable=True),  # NULL: no message was ever sent from that number
    sa.Column("from_phone", sa.String(32), nullable=True),  # E.164; NULL when Meta withholds it (BSUID only)
    # business-scoped user ID: portfolio-wide, so never shown to a bakery's owner (like recipient_user_id)
    sa.Column("from_user_id", sa.String(160), nullable=True),
    sa.Column("supplier_phone", sa.String(32), nullable=True),  # from_phone, else the linked message's recipient
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("button_payload", sa.String(256), nullable=True),
    sa.Column("button_text", sa.String(256), nullable=True),
    sa.Column("context_wamid", sa.String(256), nullable=True),
    sa.Column("message_id", UUIDStr(), nullable=True),
    sa.Column("purchase_order_id", sa.String(200), nullable=True),
    sa.Column("purchase_order_number", sa.String(200), nullable=True),
    # what it did: decision | later_tap | payload_refused | reply | opted_out | opted_in | unlinked | ignored
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("outcome_detail", sa.String(500), nullable=True),
    sa.Column("sent_at", UTCDateTime(), nullable=False),  # Meta's timestamp: when the supplier wrote
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("webhook_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Index("ix_inbound_messages_wamid", "wamid", unique=True),
    sa.Index("ix_inbound_messages_message", "message_id"),
    sa.Index("ix_inbound_messages_tenant_received", "tenant_id", "received_at"),
    sa.Index("ix_inbound_messages_window", "phone_number_id", "supplier_phone", "sent_at"),
)

#: The supplier's decision on a purchase-order message: one row per message, the first tap (later taps are only
#: inbound rows with outcome ``later_tap``).
supplier_decisions = sa.Table(
    "supplier_decisions",
    metadata,
    sa.Column("message_id", UUIDStr(), primary_key=True),
    sa.Column("tenant_id", UUIDStr(), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # confirmed | rejected
    sa.Column("decided_at", UTCDateTime(), nullable=False),  # Meta's timestamp of the tap
    sa.Column("inbound_wamid", sa.String(256), nullable=False),
    sa.Column("ack_message_id", UUIDStr(), nullable=True),  # our confirmation reply, when one was queued
    sa.Column("ack_skipped_reason", sa.String(200), nullable=True),  # why none was (e.g. outside the window)
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: Suppliers who wrote an opt-out word to a bakery: its later messages to them are skipped (``supplier_opted_out``)
#: until they write an opt-in word. Keyed by phone when known, else by business-scoped user ID.
supplier_opt_outs = sa.Table(
    "supplier_opt_outs",
    metadata,
    sa.Column("tenant_id", UUIDStr(), primary_key=True),
    sa.Column("supplier_key", sa.String(170), primary_key=True),  # "+34…" or "user:<BSUID>"
    sa.Column("supplier_phone", sa.String(32), nullable=True),
    sa.Column("supplier_user_id", sa.String(160), nullable=True),
    sa.Column("word", sa.String(64), nullable=False),
    sa.Column("inbound_wamid", sa.String(256), nullable=False),
    sa.Column("opted_out_at", UTCDateTime(), nullable=False),
    sa.Index("ix_supplier_opt_outs_phone", "tenant_id", "supplier_phone"),
)
