"""Business-scoped user IDs (BSUIDs): the recipient's WhatsApp user ID beside its phone number.

``whatsapp_messages.recipient_user_id``: the ``recipient_user_id`` Meta's status webhooks carry (since April 2026;
Meta page "Business-scoped user IDs"), kept once known so that a later send can address the user by ID. Nullable:
messages queued before the change, and messages whose only statuses were ``failed`` after a send to a phone
number (those carry no user ID), have none.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("recipient_user_id", sa.String(160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("recipient_user_id")
