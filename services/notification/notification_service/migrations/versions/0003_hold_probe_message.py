"""Holds probe with one real send: the message chosen as the probe of a hold. Hold keys as long as a template's
name (up to 512 characters) plus its language: ``sending_holds.scope_key`` and ``whatsapp_messages.hold_key``.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UUIDStr

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sending_holds") as batch:
        batch.add_column(sa.Column("probe_message_id", UUIDStr(), nullable=True))
        batch.alter_column("scope_key", type_=sa.String(600), existing_type=sa.String(64), existing_nullable=False)
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.alter_column("hold_key", type_=sa.String(640), existing_type=sa.String(128), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.alter_column("hold_key", type_=sa.String(128), existing_type=sa.String(640), existing_nullable=True)
    with op.batch_alter_table("sending_holds") as batch:
        batch.alter_column("scope_key", type_=sa.String(64), existing_type=sa.String(600), existing_nullable=False)
        batch.drop_column("probe_message_id")
