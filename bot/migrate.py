"""Alembic migrations, run from code (`essbot db upgrade`, and `essbot serve` on SQLite).

The scripts live in the repository's top-level `migrations/` folder (docs/architecture.md
layout); the project is installed editable (`pip install -e .`) so that folder is
found next to the `bot` package.
"""

from __future__ import annotations

import logging
from pathlib import Path

# Alembic logs a line per plugin at INFO when it is imported, and more at every upgrade:
# noise in front of `essbot staff create`'s password prompt and `essbot serve`'s start.
for _name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
    logging.getLogger(_name).setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """Return an Alembic Config for `database_url`, without an alembic.ini file.

    Raises FileNotFoundError when the migrations folder is missing (a non-editable
    install).
    """
    if not (MIGRATIONS_DIR / "env.py").exists():
        raise FileNotFoundError(
            f"migrations not found in {MIGRATIONS_DIR}: install with `pip install -e .`"
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on % in passwords.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database at `database_url` to `revision` (default: the latest).

    Alembic's INFO output is silenced (see the top of this module).
    """
    command.upgrade(alembic_config(database_url), revision)
