"""Corrections: a decision can be voided (when, why), kept in the history.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text, nullable=True),
    )


def upgrade() -> None:
    have = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("decisions")}
    for column in columns():
        if column.name not in have:  # a SQLite migration stopped halfway may have added it
            op.add_column("decisions", column)


def downgrade() -> None:
    raise NotImplementedError("the feedback store's schema only grows: columns are never dropped")
