"""Feature rows: the model's input feature row of a sampled share of model answers, beside the
score log (table `score_features`, `core.tables.features_table`: numbers as a float64 vector,
texts as a JSON array), and their layouts (table `feature_layouts`, `core.tables.layouts_table`:
the feature names and kinds, kept once), for drift monitoring.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.tables import features_table, layouts_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    have = sa.inspect(bind).get_table_names()
    for table in (layouts_table(meta), features_table(meta)):
        if table.name not in have:  # a SQLite migration stopped halfway may have made it
            table.create(bind)


def downgrade() -> None:
    raise NotImplementedError("the feedback store's schema only grows: tables are never dropped")
