"""Backbone tables: outbox (+ lanes), inbox, idempotency keys, API keys, probe receipts.

Revision ID: 0001
Revises:
"""
from alembic import op

from shared.migrate import create_backbone_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_backbone_tables_v1()


def downgrade() -> None:
    for table in ("probe_receipts", "api_keys", "idempotency_keys", "inbox", "outbox_lanes", "outbox"):
        op.drop_table(table)
