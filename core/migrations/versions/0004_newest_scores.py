"""The score log's index on (lead_id, scored_at, id): the trend's lookup reads a lead's newest rows
through it instead of every row the lead was ever scored with, so that /score does not slow down as
the log grows (`core.store.FeedbackStore.last_scores`). Databases created since have it already.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.tables import NEWEST_INDEX

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("scores")}
    if NEWEST_INDEX not in have:
        op.create_index(NEWEST_INDEX, "scores", ["lead_id", "scored_at", "id"])


def downgrade() -> None:
    raise NotImplementedError("the feedback store's schema only grows: nothing is dropped")
