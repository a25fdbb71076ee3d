"""Alembic environment: runs on the connection the application hands over."""

from alembic import context

from omniroute.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the application always passes its connection
    raise RuntimeError("migrations run from the application: `omniroute serve` applies them at start-up")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
