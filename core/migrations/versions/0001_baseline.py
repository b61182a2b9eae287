"""Baseline: the tables of leadscore 0.1.0, created when missing.

A database that 0.1.0 made (both tables, no alembic_version) is adopted as it is: nothing is
created, dropped or changed here; the score log's later answer columns are added by the grow step
after the revisions (`core.tables.migrate`).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.tables import scores_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def decisions_0_1_0(meta: sa.MetaData) -> sa.Table:
    """The decisions table as leadscore 0.1.0 created it."""
    return sa.Table(
        "decisions",
        meta,
        sa.Column("feedback_id", sa.String(128), primary_key=True),
        sa.Column("lead_id", sa.String(128), nullable=False, index=True),
        sa.Column("mql_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rep_id", sa.String(128), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    meta = sa.MetaData()
    for table in (decisions_0_1_0(meta), scores_table(meta)):
        if table.name not in have:
            table.create(bind)


def downgrade() -> None:
    raise NotImplementedError("the feedback store's schema only grows: tables are never dropped")
