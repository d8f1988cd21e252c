"""What every `essbot` command shares: the schema check, and one French line for every error a
staff member can cause (issue 14: a fresh database, an unreachable server, a bad setting or
path ended in a traceback).

- :func:`database_command` marks a command that uses the database: on SQLite the schema is
  created or upgraded first, as `essbot serve` does; on PostgreSQL a database not migrated
  stops with the command to run.
- :class:`EssbotGroup` (the ``essbot`` group, bot/cli.py) turns the errors :func:`explain`
  knows into ``erreur : …`` on stderr with exit status 1, and prints every ClickException
  the same way. Only click's own usage errors (an unknown option, a missing argument) keep
  click's English wording, with exit status 2; an unknown error still shows its traceback,
  since it is a bug to report.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

#: Settings whose name may appear in a settings error (bot/config.py).
_SETTING = re.compile(r"\b((?:ESSBOT|TWILIO|SMSGATE)_[A-Z_]+|DATABASE_URL|REDIS_URL|SECRET_KEY)\b")

#: French for the OS errors a path can give.
_OS_ERRORS = {errno.ENOENT: "dossier ou fichier introuvable", errno.EACCES: "permission refusée",
              errno.EISDIR: "c'est un dossier", errno.ENOTDIR: "un élément du chemin n'est "
              "pas un dossier", errno.ENOSPC: "disque plein", errno.EROFS: "disque en lecture "
              "seule"}


class CliError(click.ClickException):
    """An error for the person at the terminal: printed as ``erreur : <message>`` (French)
    on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        """Print the message (click's hook)."""
        click.echo(f"erreur : {self.format_message()}", err=True, file=file)


def explain(exc: BaseException) -> str | None:
    """One French sentence saying what went wrong and what to do, for the errors a staff
    member can cause: a bad setting, a database that is unreachable, not migrated, with a
    missing driver or a bad path, an unknown Alembic revision, a file that cannot be
    written or read, a queue that is unreachable. None for anything else (a bug)."""
    import sqlalchemy.exc as sa_exc
    from alembic.util import CommandError

    from bot.broadcasts.models import InvalidTransition
    from bot.broadcasts.planner import BroadcastError

    if isinstance(exc, (BroadcastError, InvalidTransition)):
        from bot.broadcasts.errors import staff_message

        return staff_message(exc)
    if isinstance(exc, CommandError):
        quoted = re.findall(r"identified by '([^']+)'", str(exc))
        what = f" « {quoted[0]} »" if quoted else ""
        return (f"révision de schéma inconnue{what} : `essbot db upgrade` sans --revision "
                "va à la dernière")
    if isinstance(exc, sa_exc.NoSuchModuleError) or (
            isinstance(exc, ModuleNotFoundError) and _from_database_url(exc)):
        return ("DATABASE_URL nomme un pilote de base de données qui n'est pas installé "
                f"({getattr(exc, 'name', None) or exc}) : utilisez sqlite:///… ou "
                "postgresql+psycopg://…")
    if isinstance(exc, sa_exc.ArgumentError):
        return "DATABASE_URL est illisible : exemple postgresql+psycopg://user@hôte:5432/base"
    if isinstance(exc, sa_exc.DBAPIError):
        text = str(exc.orig if exc.orig is not None else exc)
        # PostgreSQL names the error by its SQLSTATE (42P01 undefined_table, 3D000
        # invalid_catalog_name; psycopg's ``sqlstate``); SQLite only says it in words.
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "42P01" or "no such table" in text:
            return "la base de données n'a pas encore de tables : lancez `essbot db upgrade`"
        if "unable to open database file" in text:
            return ("impossible d'ouvrir la base SQLite de DATABASE_URL : le dossier existe-t-il, "
                    "et peut-on y écrire ?")
        if sqlstate == "3D000" or ("database" in text and "does not exist" in text):
            return "la base nommée dans DATABASE_URL n'existe pas sur le serveur : créez-la"
        return ("base de données injoignable (" + type(exc.orig or exc).__name__ + ") : "
                "vérifiez DATABASE_URL et que le serveur tourne")
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        reason = _OS_ERRORS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        return f"impossible d'utiliser {exc.filename} : {reason}"
    if type(exc).__module__.split(".")[0] == "redis":
        return f"file d'attente injoignable ({type(exc).__name__}) : vérifiez REDIS_URL"
    if isinstance(exc, ValueError):
        found = _SETTING.search(str(exc))
        if found:
            name = found.group(1)
            value = os.environ.get(name)
            shown = f" (valeur « {value[:60]} »)" if value is not None else ""
            return (f"le réglage {name} est illisible{shown} : corrigez-le dans "
                    "l'environnement ou le fichier .env (README, « Settings »)")
    return None


def _from_database_url(exc: ModuleNotFoundError) -> bool:
    """Whether a missing module is a database driver (SQLAlchemy imports it on connect)."""
    name = (exc.name or "").split(".")[0]
    return name in {"psycopg", "psycopg2", "MySQLdb", "pymysql", "asyncpg", "pg8000",
                    "cx_Oracle", "oracledb", "pyodbc", "mysql"}


def ensure_schema(app: Any) -> None:
    """Bring the embedded SQLite database up to date (created on first use), as `serve` and
    `chat` do; on PostgreSQL stop with the command to run when the migrations have not all
    run (Alembic's current revision is not the head). Raises CliError for that; database
    errors propagate to :func:`explain`."""
    url = app.config["DATABASE_URL"]
    from bot.migrate import upgrade

    if url.startswith("sqlite"):
        upgrade(url)
        return
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.db import get_engine
    from bot.migrate import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    with get_engine(app).connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        state = "n'a pas encore de tables" if not current else "n'est pas à jour"
        raise CliError(f"la base de données {state} : lancez `essbot db upgrade`")


def database_command(command: Callable) -> Callable:
    """Decorator for a command that uses the database: runs it in the app context after
    :func:`ensure_schema` (one place, so no command meets a fresh database unprepared)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        ensure_schema(current_app)
        return command(*args, **kwargs)

    return with_appcontext(run)


class EssbotGroup(FlaskGroup):
    """The ``essbot`` command group: Flask's group without Flask's own run, shell and routes
    (`essbot serve` and `essbot chat` replace them), whose errors are one French line."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["add_default_commands"] = False
        super().__init__(**kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Our commands only: Flask would load the app here (and print a traceback on a bad
        setting) to look for commands the app adds; essbot's app adds none."""
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Our command `name`, without loading the app (see list_commands)."""
        return self.commands.get(name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; errors are shown as ``erreur : …`` (see the module docstring)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.UsageError, CliError):
            raise
        except click.ClickException as exc:
            raise CliError(exc.format_message()) from None
        except Exception as exc:
            text = explain(exc)
            if text is None:
                raise
            raise CliError(text) from None
