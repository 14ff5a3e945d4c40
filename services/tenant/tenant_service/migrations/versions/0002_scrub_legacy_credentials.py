"""Remove the old per-tenant WhatsApp credentials from stored notification settings.

The first design kept each bakery's Meta access token in ``notification_settings``. The platform now uses one
master account configured in the environment, so no secret may linger in the database.

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_KEYS = ("whatsapp_access_token", "whatsapp_business_account_id", "whatsapp_api_version")


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT tenant_id, notification_settings FROM tenant_settings")).fetchall()
    for tenant_id, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        if not any(key in data for key in LEGACY_KEYS):
            continue
        for key in LEGACY_KEYS:
            data.pop(key, None)
        statement = sa.text("UPDATE tenant_settings SET notification_settings = :value WHERE tenant_id = :tid")
        if bind.dialect.name == "postgresql":
            statement = sa.text(
                "UPDATE tenant_settings SET notification_settings = CAST(:value AS JSONB) WHERE tenant_id = :tid"
            )
        bind.execute(statement, {"value": json.dumps(data), "tid": tenant_id})


def downgrade() -> None:
    # The removed secrets are gone on purpose; there is nothing to restore.
    pass
