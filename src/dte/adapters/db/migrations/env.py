"""Alembic environment: runs migrations on the sync engine for the configured URL."""

from __future__ import annotations

from alembic import context

from dte.adapters.db.engine import create_sync_engine
from dte.adapters.db.tables import Base

config = context.config
engine = create_sync_engine(config.attributes["url"])
MIGRATION_LOCK = 0x64746501  # any constant: engines starting together migrate one at a time

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
        connection.commit()
engine.dispose()
