"""Database engines: one URL, an async engine for the services and a sync one for migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from dte.services.uow import WRITE_OPTION

MIGRATIONS = Path(__file__).with_name("migrations")

_DRIVERS = {  # backend -> (sync driver, async driver)
    "sqlite": ("pysqlite", "aiosqlite"),
    "postgresql": ("psycopg", "psycopg"),
}


def driver_url(url: str, *, asynchronous: bool) -> str:
    """The URL with the driver DTE uses for that backend (``postgresql://`` -> psycopg 3)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    sync_driver, async_driver = _DRIVERS[backend]
    return parsed.set(drivername=f"{backend}+{async_driver if asynchronous else sync_driver}").render_as_string(
        hide_password=False
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across process crashes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # pysqlite's implicit transactions are off (see create_async); write transactions take the
    # lock up front so they queue instead of failing on a stale WAL snapshot.
    immediate = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _disable_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _prepare_sqlite(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_sync_engine(url: str) -> Engine:
    engine = create_engine(driver_url(url, asynchronous=False))
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(url)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_async(url: str) -> AsyncEngine:
    options: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "postgresql":
        options = {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
    engine = create_async_engine(driver_url(url, asynchronous=True), **options)
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _disable_implicit_begin)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent; called on start and by ``dte db upgrade``)."""
    command.upgrade(alembic_config(url), revision)
