"""Migrations and models agree; the SQLite engine is set up for concurrent writers."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import make_engine
from bot.migrate import upgrade
from bot.models import Base


def test_migrations_build_exactly_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", pool_size=1)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()


def test_postgres_urls_use_psycopg3():
    engine = make_engine("postgres://u@127.0.0.1:1/x")
    assert engine.dialect.driver == "psycopg"


def test_upgrade_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'i.db'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        # The latest migration, whichever it is.
        from alembic.script import ScriptDirectory

        from bot.migrate import alembic_config

        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()
