"""``essbot broadcast …`` and ``essbot worker``.

Registered in bot/cli.py with ``main.add_command(broadcast_group)`` and
``main.add_command(worker_command)``. Times are read and shown in ESSBOT_TIMEZONE
(Africa/Bamako), whatever the server's time zone. Bad input ends with ``erreur : …`` and exit
status 1 (2 for a malformed option), never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

import click
from flask import current_app

from bot.app import create_app
from bot.audit import record_audit
from bot.broadcasts import planner, segments
from bot.broadcasts.models import CHANNEL_POLICIES, Broadcast, BroadcastState
from bot.broadcasts.planner import local_time
from bot.broadcasts.tasks import get_queue
from bot.db import get_engine
from bot.cli_support import EssbotGroup, database_command


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn the errors staff can cause into one French line ``erreur : …`` (exit status 1),
    as the ``essbot`` group does (bot.cli_support.explain) — also when these commands run
    from ``python -m bot.broadcasts.cli``."""
    from bot.cli_support import CliError, explain

    try:
        yield
    except click.ClickException:
        raise
    except Exception as exc:
        text = explain(exc)
        if text is None:
            raise
        raise CliError(text) from None


def _app():
    return current_app._get_current_object()


def _audit(app: Any, action: str, broadcast_id: int, **detail: Any) -> None:
    """Write the staff audit log for a broadcast action taken from the command line (as the
    web pages do; staff e-mail "cli")."""
    record_audit(app, action, f"broadcast:{broadcast_id}", staff_id=None, staff_email="cli",
                 detail=detail)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group("broadcast")
def broadcast_group() -> None:
    """Broadcast announcements: create, preview (recipients, parts, cost), send, follow."""


@broadcast_group.command("create")
@click.option("--title", required=True, help="Short title (staff only; template variable).")
@click.option("--text-fr", required=True, help="The announcement in French.")
@click.option("--text-bm", default=None, help="The announcement in Bambara [French is sent].")
@click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE[,VALUE]",
              help="Segment filter, repeatable: quartier, sector, kind, gender, needs, age "
                   "(18-35), language, channel, registered [everyone not opted out].")
@click.option("--at", "at", default=None, metavar='"YYYY-MM-DD HH:MM"',
              help="Send at this time, in ESSBOT_TIMEZONE (Africa/Bamako).")
@click.option("--channel", "policy", type=click.Choice(CHANNEL_POLICIES), default="auto",
              show_default=True, help="auto: each person's last channel, with fallbacks.")
@click.option("--author", default=None, help="Who wrote it (until staff accounts exist).")
@database_command
def create_command(title: str, text_fr: str, text_bm: str | None, filters: tuple[str, ...],
                   at: str | None, policy: str, author: str | None) -> None:
    """Create a broadcast (draft, or scheduled with --at) and print its id."""
    app = _app()
    with _clear_errors():
        try:
            segment = segments.parse_filters(filters)
        except segments.SegmentError as exc:
            raise click.BadParameter(str(exc), param_hint="--filter") from None
        when = planner.parse_local_time(at, app.config["ESSBOT_TIMEZONE"]) if at else None
        broadcast_id = planner.create(app, title=title, text_fr=text_fr, text_bm=text_bm,
                                      segment=segment, at=when, channel_policy=policy,
                                      author=author)
        if when is not None:
            get_queue(app).schedule_fire(broadcast_id, when)
    _audit(app, "create", broadcast_id, scheduled=when is not None)
    click.echo(broadcast_id)


@broadcast_group.command("preview")
@click.argument("broadcast_id", type=int)
@database_command
def preview_command(broadcast_id: int) -> None:
    """Print as JSON what sending would do now: recipients by channel and language, texts
    with encoding and parts, total parts, estimated cost, skipped by reason."""
    with _clear_errors():
        _echo_json(planner.preview(_app(), broadcast_id))


@broadcast_group.command("status")
@click.argument("broadcast_id", type=int)
@database_command
def status_command(broadcast_id: int) -> None:
    """Print progress and delivery as JSON: rows by state, channel, Twilio status, error
    code; skipped by reason; parts sent and their cost."""
    with _clear_errors():
        _echo_json(planner.status(_app(), broadcast_id))


@broadcast_group.command("send")
@click.argument("broadcast_id", type=int)
@click.option("--wait", is_flag=True, help="Follow progress until the broadcast ends.")
@click.option("--poll", type=float, default=2.0, show_default=True, hidden=True,
              help="Seconds between progress lines with --wait.")
@database_command
def send_command(broadcast_id: int, wait: bool, poll: float) -> None:
    """Send a draft or scheduled broadcast now (an `essbot worker` does the sending)."""
    app = _app()
    with _clear_errors():
        plan = get_queue(app).send_now(broadcast_id)
        _audit(app, "send", broadcast_id, mode="now", recipients=plan["recipients"],
               pending=plan["pending"])
        _echo_json({"id": broadcast_id, "state": BroadcastState.SENDING,
                    "pending": plan["pending"], "by_channel": plan["by_channel"],
                    "parts": plan["parts"], "cost": plan["cost"], "skipped": plan["skipped"]})
        if plan.get("queue_error"):
            click.echo(f"attention : les envois sont enregistrés mais la file d'attente est "
                       f"injoignable ({plan['queue_error']}) ; `essbot worker` les met en file "
                       "à son prochain passage, quand elle sera revenue", err=True)
        if not wait:
            return
        hint_at, last = time.monotonic() + 15, None
        while True:
            report = planner.status(app, broadcast_id)
            states = report["by_state"]
            line = (f"{report['state']} : {states['sent']} envoyés, {states['failed']} en "
                    f"échec, {states['pending'] + states['sending'] + states['unknown']} en "
                    "attente")
            if line != last:
                click.echo(line, err=True)
                last = line
            if report["state"] in BroadcastState.FINAL:
                break
            if states["sent"] == 0 and time.monotonic() > hint_at:
                click.echo("rien d'envoyé pour l'instant : `essbot worker` tourne-t-il ?",
                           err=True)
                hint_at = float("inf")
            time.sleep(poll)
        _echo_json(report)
        if report["state"] == BroadcastState.FAILED:
            sys.exit(1)


@broadcast_group.command("cancel")
@click.argument("broadcast_id", type=int)
@database_command
def cancel_command(broadcast_id: int) -> None:
    """Cancel a broadcast: nothing more is handed to Twilio; prints counts as JSON."""
    app = _app()
    with _clear_errors():
        result = planner.cancel(app, broadcast_id)
    _audit(app, "cancel", broadcast_id)
    _echo_json(result)


@broadcast_group.command("list")
@database_command
def list_command() -> None:
    """List broadcasts, newest first: id, state, scheduled time (ESSBOT_TIMEZONE), title."""
    import sqlalchemy as sa

    app = _app()
    b = Broadcast.__table__
    with _clear_errors(), get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(b.c.id, b.c.state, b.c.scheduled_at, b.c.title)
                            .order_by(b.c.id.desc()).limit(50)).all()
    for row in rows:
        when = local_time(row.scheduled_at, app.config["ESSBOT_TIMEZONE"]) or "-"
        click.echo(f"{row.id}\t{row.state}\t{when}\t{row.title}")


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Worker threads [ESSBOT_WORKER_THREADS].")
@click.option("--tick", type=click.FloatRange(0.1, 3600), default=None,
              help="Seconds between ticks [ESSBOT_BROADCAST_TICK].")
@click.option("--verbose", is_flag=True, help="Log every task (huey INFO).")
@database_command
def worker_command(threads: int | None, tick: float | None, verbose: bool) -> None:
    """Run the task queue: send broadcasts, fire scheduled ones, recover after a crash.

    Uses SqliteHuey in the instance folder, or Redis when REDIS_URL is set (then run workers
    on as many machines as needed). Stop with Ctrl-C or SIGTERM; a worker killed harder loses
    nothing (the next tick reconciles and re-queues).
    """
    app = _app()
    if not verbose:
        logging.getLogger("huey").setLevel(logging.WARNING)
    with _clear_errors():
        queue = get_queue(app)
        queue.huey.pending_count()  # fail now, clearly, if the queue cannot be reached
        threads = threads or int(app.config["ESSBOT_WORKER_THREADS"])
        tick = tick or float(app.config["ESSBOT_BROADCAST_TICK"])
        click.echo(f"essbot worker : {threads} fils, file {queue.backend}, passage toutes "
                   f"les {tick:g} s", err=True)
        queue.run_worker(threads, tick)


def _standalone_app():
    return create_app()


@click.group(cls=EssbotGroup, create_app=_standalone_app, add_version_option=False)
def standalone() -> None:
    """``python -m bot.broadcasts.cli`` — the same commands before bot/cli.py registers them."""


standalone.add_command(broadcast_group)
standalone.add_command(worker_command)

if __name__ == "__main__":  # pragma: no cover
    standalone()
