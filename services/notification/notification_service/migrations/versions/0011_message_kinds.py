"""Message kinds (issue 17): one event may give several messages (an alert goes to each enabled staff number), so a
message is unique per (tenant, event, recipient) instead of per (tenant, event).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_constraint("uq_whatsapp_messages_tenant_event", type_="unique")
        batch.create_unique_constraint(
            "uq_whatsapp_messages_tenant_event_recipient", ["tenant_id", "event_id", "recipient_phone"]
        )


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_messages") as batch:
        batch.drop_constraint("uq_whatsapp_messages_tenant_event_recipient", type_="unique")
        batch.create_unique_constraint("uq_whatsapp_messages_tenant_event", ["tenant_id", "event_id"])
