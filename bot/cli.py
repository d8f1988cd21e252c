"""The `essbot` command: serve, chat, db, sms (``essbot --help`` lists them all)."""

from __future__ import annotations

import json
import logging
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from bot import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False,
             add_default_commands=True)
def main() -> None:
    """essbot: the SMS and WhatsApp assistant of the commune's ESS service."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Upgrade the database in DATABASE_URL to the latest schema."""
    from bot.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per worker.")
@with_appcontext
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web app under gunicorn (production WSGI server) on the settings in use.

    An SQLite database is upgraded first, so the embedded defaults need no other step.
    """
    from bot.server import run

    url = current_app.config["DATABASE_URL"]
    if url.startswith("sqlite"):
        from bot.migrate import upgrade

        upgrade(url)
    if not current_app.config.get("TWILIO_AUTH_TOKEN"):
        click.echo("note: TWILIO_AUTH_TOKEN is not set; the Twilio webhooks answer 503 "
                   "until it is (try the bot with `essbot chat`).", err=True)
    run(host=host, port=port, workers=workers, threads=threads)


@main.command()
@click.option("--phone", default="+22370000000", show_default=True,
              help="The phone number you play (E.164 or Mali national).")
@click.option("--channel", type=click.Choice(["sms", "whatsapp"]), default="sms",
              show_default=True, help="Which channel to simulate (SMS shows GSM-7 folding).")
@with_appcontext
def chat(phone: str, channel: str) -> None:
    """Talk to the bot in the terminal, through the same code path and database as Twilio."""
    from bot.channels import console
    from bot.conversations import handle_inbound
    from bot.phones import InvalidPhone, mask

    logging.getLogger().setLevel(logging.WARNING)
    app = current_app._get_current_object()
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite"):
        from bot.migrate import upgrade

        upgrade(url)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo(f"essbot chat: {channel.upper()} from {mask(phone)}. Type a message; "
                   "Ctrl-D to quit.")
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            break
        try:
            msg = console.inbound(phone, line, channel, app.config["ESSBOT_COUNTRY"])
        except InvalidPhone as exc:
            raise click.BadParameter(f"--phone: {exc}") from None
        for reply in handle_inbound(app, msg).replies:
            click.echo(reply.body)
            click.echo("")


@main.group("sms")
def sms_group() -> None:
    """SMS cost tools."""


@sms_group.command("segments")
@click.argument("text")
@click.option("--channel", type=click.Choice(["sms", "whatsapp"]), default="sms",
              show_default=True)
@click.option("--language", type=click.Choice(["fr", "bm"]), default=None)
@with_appcontext
def sms_segments(text: str, channel: str, language: str | None) -> None:
    """Print the encoding, parts and rendered form of TEXT as JSON."""
    from bot import sms

    report = sms.report(text, channel, language, fold=bool(current_app.config["ESSBOT_SMS_FOLDING"]))
    click.echo(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("FLASK_APP", "bot")
    main()
