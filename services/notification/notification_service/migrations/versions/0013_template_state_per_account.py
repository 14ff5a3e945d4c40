"""Template state per account (issue 18): Meta keeps templates per WABA, so a template's status, category and the
admin's acceptance are kept per (account, name, language). ``message_templates`` gains ``account_key``, the key the
account holds use: ``master`` for the environment's account (``WHATSAPP_BUSINESS_ACCOUNT_ID``, which a migration
cannot read), another account's WABA id otherwise (``domain/decisions.account_scope_key``). Every existing row was
the environment's account's: it becomes ``master``. The template holds (scope ``template``) of the environment's
account keep their key ``<name>:<language>``, so nothing held before the upgrade is released or re-keyed; another
account's are ``<name>:<language>@<WABA id>`` (``domain/whatsapp_state.template_scope_key``).

It also gains ``quality_score``: Meta's quality score of the translation at that account (GREEN, YELLOW, RED or
UNKNOWN), from the ``message_template_quality_update`` webhook (shown to the admin; Meta pauses a template itself).

The primary key changes, so the table is copied (the same on SQLite and PostgreSQL).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from bakery_shared.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = (
    "name",
    "language",
    "template_id",
    "status",
    "category",
    "reason",
    "synced_at",
    "updated_at",
    "previous_category",
    "category_changed_at",
    "accepted_category",
    "accepted_by",
)


def _table(name: str, *, per_account: bool) -> None:
    key = [sa.Column("account_key", sa.String(64), primary_key=True)] if per_account else []
    quality = [sa.Column("quality_score", sa.String(16), nullable=True)] if per_account else []
    op.create_table(
        name,
        *key,
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("language", sa.String(16), primary_key=True),
        sa.Column("template_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("synced_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("previous_category", sa.String(32), nullable=True),
        sa.Column("category_changed_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_category", sa.String(32), nullable=True),
        sa.Column("accepted_by", sa.String(128), nullable=True),
        *quality,
    )


def _copy(*, per_account: bool, where: str = "") -> None:
    """Replace ``message_templates`` with a copy of the other shape (per account: every row is ``master``)."""
    new = "message_templates_0013" if per_account else "message_templates_0012"
    _table(new, per_account=per_account)
    columns = ", ".join(_COLUMNS)
    target, source = (f"account_key, {columns}", f"'master', {columns}") if per_account else (columns, columns)
    op.execute(f"INSERT INTO {new} ({target}) SELECT {source} FROM message_templates {where}")  # noqa: S608
    op.drop_table("message_templates")
    op.rename_table(new, "message_templates")


def upgrade() -> None:
    _copy(per_account=True)


def downgrade() -> None:
    """Back to one state per (name, language): the environment's account's rows are kept, the others dropped."""
    _copy(per_account=False, where="WHERE account_key = 'master'")
    op.execute("DELETE FROM sending_holds WHERE scope = 'template' AND scope_key LIKE '%@%'")
