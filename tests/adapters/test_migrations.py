"""Migrations: idempotent, and safe when several engines start together on an empty PostgreSQL."""

from __future__ import annotations

import multiprocessing
import secrets
from pathlib import Path

import pytest
from helpers import POSTGRES_URL, unavailable
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from dte.adapters.db.engine import driver_url, upgrade
from dte.adapters.db.tables import Base


def _tables(url: str) -> set[str]:
    engine = create_engine(driver_url(url, asynchronous=False))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    upgrade(url)
    upgrade(url)
    assert _tables(url) == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgresql() -> None:
    import psycopg

    name = f"dte_race_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with multiprocessing.get_context("spawn").Pool(4) as pool:
                pool.map(upgrade, [url] * 4)  # raises if any process failed
            assert _tables(url) == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    """A table change without its migration fails here (run `make migration m=...`)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    upgrade(url)
    engine = create_engine(driver_url(url, asynchronous=False))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                       Base.metadata)
    engine.dispose()
    assert differences == []
