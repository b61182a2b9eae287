"""Alembic's environment: run the revisions on the connection `core.migrations.upgrade` passes
(inside its transaction and lock). Logging is left as the application configured it."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
