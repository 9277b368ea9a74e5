"""SQL persistence: SQLAlchemy 2 tables, async sessions and Alembic migrations."""
