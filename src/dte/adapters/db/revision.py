"""Autogenerate a migration against a scratch SQLite database: ``python -m dte.adapters.db.revision MSG``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from dte.adapters.db.engine import MIGRATIONS, alembic_config


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}"
        config = alembic_config(url)
        command.upgrade(config, "head")
        existing = len(list((MIGRATIONS / "versions").glob("[0-9]*.py")))
        command.revision(config, message=message, autogenerate=True, rev_id=f"{existing + 1:04d}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].strip():
        sys.exit("usage: python -m dte.adapters.db.revision 'what changed'")
    main(sys.argv[1])
