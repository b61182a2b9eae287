"""Feature rows: the model's input feature row of a sampled share of model answers, beside the
score log (table `score_features`, `core.tables.features_table`), for drift monitoring.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.tables import features_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    table = features_table(sa.MetaData())
    if table.name not in sa.inspect(bind).get_table_names():  # a SQLite migration stopped halfway may have made it
        table.create(bind)


def downgrade() -> None:
    raise NotImplementedError("the feedback store's schema only grows: tables are never dropped")
