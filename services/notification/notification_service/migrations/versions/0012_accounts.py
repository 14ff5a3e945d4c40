"""WhatsApp accounts as data (issue 18): a message records the account (WABA) it went out from, a hold the account
of what it holds, a phone number and Meta's pricing figures their account. Account holds keep their key: the environment's account is still
``master`` (domain/decisions.account_scope_key), so a hold placed before this migration stays in force.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("waba_id", sa.String(64), nullable=True))
        batch.create_index("ix_whatsapp_messages_waba_created", ["waba_id", "created_at"])
    with op.batch_alter_table("sending_holds") as batch:
        batch.add_column(sa.Column("waba_id", sa.String(64), nullable=True))
    with op.batch_alter_table("phone_numbers") as batch:
        batch.add_column(sa.Column("waba_id", sa.String(64), nullable=True))
    with op.batch_alter_table("meta_pricing_analytics") as batch:
        batch.add_column(sa.Column("waba_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("meta_pricing_analytics") as batch:
        batch.drop_column("waba_id")
    with op.batch_alter_table("phone_numbers") as batch:
        batch.drop_column("waba_id")
    with op.batch_alter_table("sending_holds") as batch:
        batch.drop_column("waba_id")
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_index("ix_whatsapp_messages_waba_created")
        batch.drop_column("waba_id")
