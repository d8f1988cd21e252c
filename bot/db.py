"""Database engine and sessions, one engine per app.

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: writers queue on the database lock instead of failing with
"database is locked" when two transactions that read first try to write (SQLite
docs, "BEGIN IMMEDIATE" and WAL). On SQLite this also serialises the processing of
messages from one contact (see bot/conversations.py); PostgreSQL uses row locks.
Read-only work that takes long (the dashboard's counts) marks its connection with the
execution option ``essbot_read_only=True``: it then starts with a plain (deferred) ``BEGIN``
and never holds the write lock.

Erasure (SUPPRIMER, issue 14): SQLite runs with ``secure_delete`` on, so deleted or
overwritten content is zeroed in the database file; a transaction that erased personal data
calls :func:`request_scrub`, and after its commit the WAL file — which still holds the
earlier page images — is checkpointed into the database and truncated. PostgreSQL keeps old
row versions until VACUUM and copies in its WAL and backups: see the README ("Deleting data").
Sources: https://www.sqlite.org/pragma.html#pragma_secure_delete,
https://www.sqlite.org/pragma.html#pragma_wal_checkpoint, https://www.sqlite.org/wal.html,
https://www.postgresql.org/docs/current/routine-vacuuming.html.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy import orm as so

log = logging.getLogger(__name__)

#: Seconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str, pool_size: int = 10) -> sa.Engine:
    """Create the SQLAlchemy engine for `url` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    `pool_size` is the number of pooled connections (at least the web threads of one
    process). Plain ``postgresql://`` and ``postgres://`` URLs are mapped to psycopg 3.
    Raises sqlalchemy.exc.ArgumentError on an unreadable URL.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS
        # crash can lose the last commits (SQLite docs, "synchronous").
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        # Zero deleted content instead of leaving it in free pages (SQLite docs,
        # "secure_delete"): what SUPPRIMER erases must not stay readable in the file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A connection marked ``essbot_read_only`` (e.g. the dashboard's counts) starts a
        # deferred transaction: a consistent WAL snapshot that never holds the write lock.
        if conn.get_execution_options().get("essbot_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class SQLiteWriteLock:
    """Queue SQLite writers in the kernel instead of in SQLite's busy handler.

    SQLite's busy handler polls with sleeps of 1 to 100 ms, so under a burst of short
    transactions most of the time is spent sleeping while the lock is free. Holding a
    threading lock (writers of this process) and an exclusive ``flock`` on
    ``<database>.lock`` (writers of other processes, e.g. gunicorn workers) around each
    write transaction wakes the next writer as soon as the previous one commits. Writers
    that bypass it (Alembic, an operator's sqlite3 shell) still work through the busy
    timeout. For an in-memory database only the threading lock is used.
    """

    def __init__(self, database_path: str | None):
        self._threads = threading.RLock()  # re-entrant: a nested scope must not deadlock
        self._depth = threading.local()
        self._path = f"{database_path}.lock" if database_path else None
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # a forked worker needs its own
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the write lock for the duration of the block (blocking, no timeout)."""
        with self._threads:
            depth = getattr(self._depth, "n", 0)
            fd = self._descriptor() if depth == 0 else None
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)


def is_sqlite(engine: sa.Engine) -> bool:
    """Whether `engine` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def init_app(app: Flask) -> None:
    """Attach an engine and a session factory to `app` (in ``app.extensions["essbot.db"]``)."""
    engine = make_engine(app.config["DATABASE_URL"], app.config["ESSBOT_DB_POOL_SIZE"])
    factory = so.sessionmaker(engine, expire_on_commit=False)
    lock = None
    if is_sqlite(engine):
        database = engine.url.database
        lock = SQLiteWriteLock(database if database and database != ":memory:" else None)
    app.extensions["essbot.db"] = (engine, factory, lock)


def get_engine(app: Flask | None = None) -> sa.Engine:
    """Return the engine of `app` (default: the current app)."""
    return (app or current_app).extensions["essbot.db"][0]


@contextmanager
def _write_lock(app: Flask | None) -> Iterator[None]:
    lock = (app or current_app).extensions["essbot.db"][2]
    if lock is None:  # PostgreSQL: row locks, no global queue
        yield
    else:
        with lock.hold():
            yield


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[so.Session]:
    """Yield an ORM session in one transaction: committed on success, rolled back on error.

    On SQLite the transaction holds the write lock (SQLiteWriteLock). Re-raises
    whatever the block raised, after the rollback.
    """
    factory = (app or current_app).extensions["essbot.db"][1]
    with _write_lock(app):
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


#: Key of Connection.info set by request_scrub.
_SCRUB = "essbot_scrub"


def request_scrub(conn: sa.Connection) -> None:
    """Mark the transaction of `conn` (opened by :func:`transaction`) as having erased
    personal data: once it commits, :func:`scrub` runs."""
    conn.info[_SCRUB] = True


def scrub(engine: sa.Engine) -> None:
    """Push erased bytes out of the database files, as far as the database allows.

    SQLite: ``PRAGMA wal_checkpoint(TRUNCATE)`` copies the WAL into the database (where
    secure_delete already zeroed the erased cells) and empties the WAL file, which otherwise
    keeps the old page images until overwritten (SQLite docs, "Write-Ahead Logging"). It
    waits for readers up to the busy timeout; a checkpoint that could not finish is logged
    and done by the next one. PostgreSQL: nothing here — VACUUM cannot run inside the
    request's transaction; the daily purge task vacuums the touched tables
    (bot.broadcasts.tasks)."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()
    try:
        busy, _log, _copied = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    if busy:
        log.warning("WAL checkpoint after an erasure was blocked by a "
                                            "reader; the next checkpoint completes it")


@contextmanager
def transaction(app: Flask | None = None) -> Iterator[sa.Connection]:
    """Yield a Core connection in one transaction (the webhook's hot path uses Core).

    Committed on success, rolled back on error; on SQLite it holds the write lock. A
    transaction marked with :func:`request_scrub` is followed by :func:`scrub`.
    """
    engine = get_engine(app)
    with _write_lock(app):
        with engine.begin() as conn:
            try:
                yield conn
            except BaseException:
                conn.info.pop(_SCRUB, None)  # info outlives the checkout: a rollback clears it
                raise
            erased = bool(conn.info.pop(_SCRUB, False))
        if erased:
            scrub(engine)
