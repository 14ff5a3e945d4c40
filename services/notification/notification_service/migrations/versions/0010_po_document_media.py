"""The purchase order as a PDF (issue 17): the media id of the uploaded document, kept with the message.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.add_column(sa.Column("media_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("media_uploaded_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_column("media_uploaded_at")
        batch.drop_column("media_id")
