"""The `essbot` command: serve, chat, db, sms, dialogs, actors, content, tickets, translate
(``essbot --help`` lists them all)."""

from __future__ import annotations

import json
import logging
import os
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from bot import sms
from bot.app import create_app
from bot.audit import record_audit
from bot.cli_support import CliError, EssbotGroup, database_command, ensure_schema
from bot.registry.export import EXPORT_COLUMNS, export_actors  # noqa: F401  (CLI, tests)


@click.group(cls=EssbotGroup, create_app=create_app, add_version_option=False)
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
    click.echo("la base de données est à jour" if revision == "head"
               else f"la base de données est à la révision {revision}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker.")
@click.option("--queue-worker/--no-queue-worker", default=True, show_default=True,
              help="Also run `essbot worker` (broadcasts, schedules) beside the web app.")
@with_appcontext
def serve(host: str, port: int, workers: int, threads: int, queue_worker: bool) -> None:
    """Run the web app under gunicorn (production WSGI server) and the task-queue worker.

    An SQLite database is upgraded first, so the embedded defaults need no other step. With
    several web machines, run the queue worker where you like (`--no-queue-worker` here,
    `essbot worker` there).
    """
    import subprocess

    from bot.server import run

    ensure_schema(current_app)
    if not current_app.config.get("TWILIO_AUTH_TOKEN"):
        click.echo("note : TWILIO_AUTH_TOKEN n'est pas réglé ; les webhooks Twilio répondent "
                   "503 tant qu'il ne l'est pas (essayez le bot avec `essbot chat`).", err=True)
    for problem in gateway_problems(current_app.config):
        click.echo(f"attention : {problem}", err=True)
    child = None
    if queue_worker:
        # A separate process: the queue consumer must not share gunicorn's forked workers.
        child = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"])
    try:
        run(host=host, port=port, workers=workers, threads=threads)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()


def gateway_problems(settings) -> list[str]:
    """What is missing for the Android SMS gateway to work, as sentences (empty when it is not
    used or is complete). The webhook accepts SMS with only SMSGATE_SIGNING_KEY, but replies
    need SMSGATE_URL, SMSGATE_USERNAME and SMSGATE_PASSWORD (newcomer's test: the worker retried
    forever without naming the missing setting)."""
    used = settings.get("SMSGATE_SIGNING_KEY") or \
        str(settings.get("ESSBOT_SMS_PROVIDER") or "").lower() == "smsgate"
    if not used:
        return []
    missing = [name for name in ("SMSGATE_URL", "SMSGATE_USERNAME", "SMSGATE_PASSWORD",
                                 "SMSGATE_SIGNING_KEY") if not settings.get(name)]
    if not missing:
        return []
    return [(f"la passerelle SMS est configurée sans {', '.join(missing)} : les SMS reçus par "
             "elle restent sans réponse (ou son webhook répond 503) tant qu'ils ne sont pas "
             "réglés")]


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
        click.echo(f"essbot chat: {channel.upper()} from {mask(phone)}, database {url}.\n"
                   "The conversation goes on across runs; use another --phone to start afresh. "
                   "quit, exit or Ctrl-D to leave (STOP opts the phone out).")
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            break
        if not interactive:  # piped input: show what was "typed", so the transcript reads
            click.echo(f"> {line}")
        if line.strip().lower() in CHAT_LEAVE_WORDS:
            # Leaves the chat: not sent, so not Twilio's opt-out keyword "quit" (issue 15).
            break
        try:
            msg = console.inbound(phone, line, channel, app.config["ESSBOT_COUNTRY"])
        except InvalidPhone as exc:
            raise click.BadParameter(f"--phone: {exc}") from None
        for reply in handle_inbound(app, msg).replies:
            click.echo(reply.body)
            if channel == "sms":
                # What this reply costs, as the staff simulator shows it.
                info = sms.analyze(reply.body)
                click.echo(f"[{info.segments} partie{'s' if info.segments > 1 else ''} SMS, "
                           f"{info.encoding}]")
            click.echo("")


#: What leaves `essbot chat` (typed alone, any case) instead of being sent to the bot.
CHAT_LEAVE_WORDS = frozenset({"quit", "exit"})


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
    report = sms.report(text, channel, language,
                        fold=bool(current_app.config["ESSBOT_SMS_FOLDING"]))
    click.echo(json.dumps(report, ensure_ascii=False))


@main.group()
def dialogs() -> None:
    """Dialog files (dialogs/*.yaml)."""


@dialogs.command("check")
@click.option("--directory", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dialog folder [the repository's dialogs/].")
def dialogs_check(directory: str | None) -> None:
    """Validate every dialog file: schema, unknown or unreachable nodes, choices without
    options, and texts missing from the Bambara catalog. Exits 1 on any problem (CI)."""
    from bot.engine.schema import check
    from bot.i18n import translated_msgids

    problems = check(directory, {"bm": translated_msgids("bm")})
    for problem in problems:
        click.echo(f"erreur : {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("dialogues corrects")


@main.group()
def actors() -> None:
    """The ESS registry."""


@actors.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="File to write.")
@click.option("--include-deleted", is_flag=True,
              help="Also export the anonymous rows left by deletion requests.")
@click.option("--filter", "filters", multiple=True, metavar="FIELD=VALUE[,VALUE…]",
              help="Only actors matching (repeatable, fields AND, values OR), as on the "
                   "registry page: quartier, sector, kind, gender, age (15-40, -25, 60-, "
                   "inconnu), needs, language, channel, status (registered, unfinished, "
                   "deleted, all), q (name, code or phone digits).")
@click.option("--labels/--codes", default=False, show_default=True,
              help="--labels: the staff page's file (French headers and labels, times "
                   "JJ/MM/AAAA HH:MM in ESSBOT_TIMEZONE). --codes: field names, stored codes, "
                   "UTC ISO times, for scripts.")
@database_command
def actors_export(fmt: str, output: str, include_deleted: bool, filters: tuple[str, ...],
                  labels: bool) -> None:
    """Export the registry to a CSV (UTF-8 with BOM, so Excel reads the accents, ";"
    separated) or an Excel file.

    One row per actor, columns as EXPORT_COLUMNS. By default (--codes) the file is for
    scripts, unchanged from earlier versions so that they keep working: field names as
    headers, stored codes (lists joined with ";"), yes/no as oui/non, times in UTC ISO 8601
    (only the month, "2026-11", on anonymised rows). --labels writes the file the export
    button of /admin/registry gives staff (bot/registry/export.py: same function). The
    import reads both. A progress bar is shown on large exports (stderr).
    """
    from bot.registry.query import FilterError, RegistryFilter

    try:
        filt = RegistryFilter.from_items(filters, include_deleted=include_deleted)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    app = current_app._get_current_object()
    count = export_actors(app, fmt, output, labels=labels, filt=filt, progress=_progress_bar)
    record_audit(app, "export", "registry", staff_id=None, staff_email="cli",
                 detail={"format": fmt, "filters": filt.as_dict(), "rows": count})
    click.echo(f"{count} acteurs écrits dans {output}")


def _progress_bar(total: int):
    """A progress bar on stderr for exports of PROGRESS_FROM rows or more, else None."""
    if total < PROGRESS_FROM:
        return None
    return click.progressbar(length=total, label="acteurs", file=sys.stderr)


@actors.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only print the report; import nothing.")
@database_command
def actors_import(file: str, dry_run: bool) -> None:
    """Import an existing list of actors (CSV or Excel, columns as the template of the
    registry page: nom, telephone, quartier, secteur, genre, annee_naissance…).

    Prints the report the page shows (rows to create, duplicates by phone, errors with row
    and column, in French), then imports the valid rows unless --dry-run. Exits 1 when the
    file cannot be read. Imported people are not opted in to announcements unless the file's
    "annonces" column says oui (see bot/registry/importer.py).
    """
    from bot.registry.importer import ImportFileError, analyse_file, apply_import, format_report

    app = current_app._get_current_object()
    try:
        with open(file, "rb") as fh:
            report = analyse_file(app, fh.read(), os.path.basename(file))
    except ImportFileError as exc:
        click.echo(f"erreur : {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(format_report(report))
    if dry_run:
        click.echo("--dry-run : rien n'a été importé.")
        return
    result = apply_import(app, report)
    record_audit(app, "import", "registry", staff_id=None, staff_email="cli",
                 detail={"file": os.path.basename(file)[:100], **result})
    click.echo(f"{result['created']} acteurs importés, {result['skipped']} ignorés "
               "(déjà au registre)."
               + (f" Accord pour les annonces noté pour {result['consent']} personnes déjà au "
                  "registre." if result.get("consent") else ""))


@actors.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say how many would be deleted.")
@database_command
def actors_purge(dry_run: bool) -> None:
    """Delete the personal data of actors not updated for ESSBOT_RETENTION_DAYS days.

    Loi 2013-015 asks for a limited retention period; the consent text tells people this
    period. Each expired contact is forgotten as SUPPRIMER does (anonymous counts stay).
    `essbot worker` (started by `essbot serve`) already runs it every day.
    """
    from bot.registry.forget import purge_expired

    count = purge_expired(current_app._get_current_object(), dry_run=dry_run)
    verb = "seraient effacés" if dry_run else "effacés"
    click.echo(f"{count} acteurs {verb}")


#: Rows from which the export's progress bar is shown.
PROGRESS_FROM = 500


@main.group()
def content() -> None:
    """Information articles (dialogs/content/, copied into the database)."""


@content.command("seed")
@click.option("--path", type=click.Path(exists=True), default=None,
              help="Content file or folder (default: the repository's dialogs/content/).")
@database_command
def content_seed(path: str | None) -> None:
    """Copy the content files into the database. Idempotent; an article staff edited is
    kept as staff left it and listed for review."""
    from bot.content import ContentError
    from bot.content_store import seed_app

    try:
        report = seed_app(current_app._get_current_object(), path)
    except ContentError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    click.echo(f"{len(report.added)} ajoutés, {len(report.updated)} mis à jour, "
               f"{len(report.unchanged)} inchangés, {len(report.kept)} gardés (modifiés par "
               "le personnel)")
    for slug in report.kept:
        click.echo(f"version du personnel gardée pour {slug} : le fichier a changé, "
                   "comparez à la main")


@main.group()
def tickets() -> None:
    """Hand-over tickets: questions the bot passed to staff."""


@tickets.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also closed tickets.")
@database_command
def tickets_list(show_all: bool) -> None:
    """List open tickets (newest first): id, status, reason, masked phone, language, when,
    the question and the last message received."""
    from bot.content_store import list_tickets

    rows = list_tickets(current_app._get_current_object(), None if show_all else "open")
    if not rows:
        click.echo("aucun ticket ouvert" if not show_all else "aucun ticket")
        return
    for row in rows:
        last_in = next((m["body"] for m in reversed(row["snapshot"] or [])
                        if m.get("direction") == "in" and m.get("body")), "")
        media = "média" if row["reason"] == "media" else ""
        said = row["question"] or last_in or media or "-"
        click.echo(f"#{row['id']} {row['status']} {row['reason']} {row['phone']} "
                   f"{row['language'] or '-'} {row['created_at']:%Y-%m-%d %H:%M} UTC: "
                   f"{' '.join(said.split())[:100]}")


@tickets.command("reply")
@click.argument("ticket_id", type=int)
@click.argument("text")
@database_command
def tickets_reply(ticket_id: int, text: str) -> None:
    """Answer ticket TICKET_ID with TEXT on the person's channel and close it: WhatsApp
    inside the 24-hour window, else SMS if they wrote by SMS, else recorded as not sendable."""
    from bot.content_store import TicketError, reply_ticket

    try:
        result = reply_ticket(current_app._get_current_object(), ticket_id, text)
    except TicketError as exc:
        raise CliError(str(exc)) from None
    record_audit(current_app, "ticket_reply", f"ticket:{ticket_id}", staff_id=None,
                 staff_email="cli", detail={"channel": result["channel"],
                                            "status": result["status"]})
    if result["status"] == "not_sendable":
        click.echo(f"ticket {ticket_id} : réponse enregistrée, NON envoyée (aucun canal "
                   "ouvert : la fenêtre WhatsApp est fermée et la personne n'a jamais écrit "
                   "par SMS, ou elle s'est désabonnée)")
        return
    if result["status"] == "failed":
        click.echo(f"erreur : ticket {ticket_id} : l'envoi par {result['channel']} a échoué "
                   f"({result['error']})", err=True)
        raise SystemExit(1)
    if result["status"] == "queued":
        click.echo(f"ticket {ticket_id} : la passerelle SMS n'a pas répondu ; la réponse est "
                   "en file d'attente, `essbot worker` la renvoie")
        return
    click.echo(f"ticket {ticket_id} : réponse envoyée par {result['channel']}")


@main.group()
def staff() -> None:
    """Staff accounts of the web interface at /admin."""


@staff.command("create")
@click.option("--email", required=True, help="Login e-mail (unique).")
@click.option("--role", type=click.Choice(["viewer", "agent", "admin"]), default="admin",
              show_default=True, help="viewer reads; agent also edits, exports, answers and "
                                      "broadcasts; admin also manages accounts.")
@click.option("--name", default="", help="Name shown in the interface.")
@click.option("--phone", default=None, help="The staff member's own phone (for DIFFUSER by SMS).")
@click.option("--password", default=None,
              help="At least 10 characters; asked (hidden) when not given. ESSBOT_STAFF_PASSWORD "
                   "is read too, for scripts.", envvar="ESSBOT_STAFF_PASSWORD")
@database_command
def staff_create(email: str, role: str, name: str, phone: str | None,
                 password: str | None) -> None:
    """Create a staff account (the first admin, typically) and print its id."""
    from bot.admin.staff import StaffError, check_new_staff, create_staff

    try:
        # The e-mail, role and phone are checked before the password is typed twice.
        check_new_staff(current_app, email, role, phone)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    if not password:
        password = click.prompt("Mot de passe", hide_input=True,
                                confirmation_prompt="Répétez le mot de passe")
    try:
        user_id = create_staff(current_app, email, role, password, name, phone)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    record_audit(current_app, "staff_create", f"staff:{user_id}", staff_id=None,
                 staff_email="cli", detail={"role": role})
    click.echo(f"compte {user_id} créé : {email.strip().lower()} ({role})")


@staff.command("password")
@click.option("--email", required=True, help="The account's login e-mail.")
@click.option("--password", default=None, envvar="ESSBOT_STAFF_PASSWORD",
              help="The new password (at least 10 characters); asked (hidden) when not given.")
@click.option("--activate", is_flag=True, help="Also reactivate a deactivated account.")
@database_command
def staff_password(email: str, password: str | None, activate: bool) -> None:
    """Set a staff account's password (a forgotten one, or the only admin's): every open
    session of the account ends."""
    import sqlalchemy as sa

    from bot.db import session_scope
    from bot.models.staff import MIN_PASSWORD_LENGTH, StaffUser

    email = email.strip().lower()
    with session_scope(current_app) as session:
        user = session.scalars(sa.select(StaffUser).where(StaffUser.email == email)).first()
        if user is None:
            raise CliError(f"aucun compte {email}")
        if not password:
            password = click.prompt("Nouveau mot de passe", hide_input=True,
                                    confirmation_prompt="Répétez le mot de passe")
        try:
            user.set_password(password)
        except ValueError:
            raise CliError(f"le mot de passe doit avoir au moins {MIN_PASSWORD_LENGTH} "
                           "caractères") from None
        if activate:
            user.active = True
        user_id = user.id
    record_audit(current_app, "staff_edit", f"staff:{user_id}", staff_id=None,
                 staff_email="cli", detail={"fields": ["password"] + (["active"] if activate
                                                                      else [])})
    click.echo(f"mot de passe de {email} changé" + (" et compte actif" if activate else ""))


@staff.command("pin")
@click.option("--email", required=True, help="The account's login e-mail.")
@click.option("--pin", default=None, envvar="ESSBOT_STAFF_PIN",
              help="4 to 8 digits, typed after OUI to confirm a DIFFUSER by phone; asked "
                   "(hidden) when not given.")
@click.option("--remove", is_flag=True, help="Remove the PIN: no more DIFFUSER by phone.")
@database_command
def staff_pin(email: str, pin: str | None, remove: bool) -> None:
    """Set the account's personal DIFFUSER PIN (which also lifts a lockout after wrong PINs)."""
    from bot.admin.staff import StaffError, set_diffuser_pin

    if not remove and not pin:
        pin = click.prompt("Code DIFFUSER (4 à 8 chiffres)", hide_input=True,
                           confirmation_prompt="Répétez le code")
    try:
        user_id = set_diffuser_pin(current_app, email, None if remove else pin)
    except StaffError as exc:
        raise click.ClickException(str(exc)) from None
    record_audit(current_app, "staff_edit", f"staff:{user_id}", staff_id=None,
                 staff_email="cli", detail={"fields": ["diffuser_pin"]})
    click.echo(f"code DIFFUSER de {email.strip().lower()} "
               + ("supprimé" if remove else "défini (blocage levé)"))


@main.group()
def translate() -> None:
    """Translations: pybabel extract, update and compile on locales/ (French is the source)."""


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


@translate.command("extract")
def translate_extract() -> None:
    """Extract messages from the code and the dialog files into locales/messages.pot."""
    from bot.i18n import LOCALES_DIR, ROOT_DIR

    os.chdir(ROOT_DIR)
    _pybabel("extract", "-F", "babel.cfg", "-k", "N_", "--add-comments=TRANSLATORS:",
             "--sort-by-file", "--project=essbot", "-o", str(LOCALES_DIR / "messages.pot"), ".")
    _pybabel("extract", "-F", "babel_admin.cfg", "-k", "N_", "-k", "S_", "--sort-by-file",
             "--project=essbot-admin", "-o", str(LOCALES_DIR / "admin.pot"), ".")
    click.echo("locales/messages.pot (bot) et locales/admin.pot (interface du personnel) "
               "extraits")


@translate.command("update")
def translate_update() -> None:
    """Merge locales/messages.pot into the fr and bm catalogs (new entries empty, no fuzzy
    guesses); the French catalog is filled with the source text (identity)."""
    from bot.i18n import LOCALES_DIR, fill_identity

    _pybabel("update", "-i", str(LOCALES_DIR / "messages.pot"), "-d", str(LOCALES_DIR),
             "-D", "messages", "--no-fuzzy-matching", "--ignore-obsolete")
    fill_identity("fr")
    # The staff interface is in French only: its catalog is the identity, kept complete.
    admin_po = LOCALES_DIR / "fr" / "LC_MESSAGES" / "admin.po"
    if admin_po.exists():
        _pybabel("update", "-i", str(LOCALES_DIR / "admin.pot"), "-d", str(LOCALES_DIR),
                 "-D", "admin", "-l", "fr", "--no-fuzzy-matching", "--ignore-obsolete")
    else:
        _pybabel("init", "-i", str(LOCALES_DIR / "admin.pot"), "-d", str(LOCALES_DIR),
                 "-D", "admin", "-l", "fr")
    fill_identity("fr", domain="admin")
    click.echo("catalogues mis à jour ; traduisez les entrées bambara vides de "
               "locales/bm/LC_MESSAGES/messages.po")


@translate.command("compile")
def translate_compile() -> None:
    """Compile the catalogs to .mo files (fuzzy entries included, as the app uses them)."""
    from bot.i18n import LOCALES_DIR

    _pybabel("compile", "-d", str(LOCALES_DIR), "-D", "messages", "--use-fuzzy")
    _pybabel("compile", "-d", str(LOCALES_DIR), "-D", "admin", "-l", "fr")
    click.echo("catalogues compilés")


# ------------------------------------------------------------------------------------------
# Partner API tokens and webhooks (issue 21, docs/api.md)
# ------------------------------------------------------------------------------------------

@main.group("api-token")
def api_token() -> None:
    """Tokens of the partner API (/api/v1/)."""


@api_token.command("create")
@click.option("--name", required=True, help="Who the token is for (a partner).")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True,
              help="read: registry, statistics, announcements; write: also draft and send "
                   "announcements.")
@click.option("--personal-data", is_flag=True,
              help="Also names and masked phones of the registry (a partner with a legal basis).")
@database_command
def api_token_create(name: str, scope: str, personal_data: bool) -> None:
    """Create a token and print it once (only its digest is kept)."""
    from bot.api_tokens import TokenError, create_token

    try:
        token_id, token = create_token(current_app, name, scope, personal_data, "cli")
    except TokenError as exc:
        raise CliError(str(exc)) from None
    record_audit(current_app, "api_token_create", f"api_token:{token_id}", staff_id=None,
                 staff_email="cli", detail={"scope": scope, "personal_data": personal_data})
    click.echo(f"jeton {token_id} créé pour « {name.strip()} » ({scope}"
               f"{', données personnelles' if personal_data else ''}) ; notez-le, il ne sera "
               "plus affiché :", err=True)
    click.echo(token)


@api_token.command("list")
@database_command
def api_token_list() -> None:
    """List the tokens (never the tokens themselves)."""
    from bot.api_tokens import list_tokens

    for row in list_tokens(current_app):
        state = "révoqué" if row.revoked_at else "actif"
        click.echo(f"{row.id}\t{row.prefix}…\t{row.scope}"
                   f"{'+personnel' if row.personal_data else ''}\t{state}\t{row.name}")


@api_token.command("revoke")
@click.argument("token_id", type=int)
@database_command
def api_token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID: every later call with it is refused (401)."""
    from bot.api_tokens import revoke_token

    if not revoke_token(current_app, token_id):
        raise CliError(f"aucun jeton actif {token_id}")
    record_audit(current_app, "api_token_revoke", f"api_token:{token_id}", staff_id=None,
                 staff_email="cli")
    click.echo(f"jeton {token_id} révoqué")


@main.group("webhook")
def webhook() -> None:
    """Partners' webhook subscriptions (signed POSTs on events)."""


@webhook.command("add")
@click.option("--url", required=True, help="The receiver's https URL.")
@click.option("--secret", required=True, envvar="ESSBOT_WEBHOOK_SECRET",
              help="Shared secret that signs each call (16 characters or more).")
@click.option("--event", "events", multiple=True,
              help="registration.confirmed, ticket.opened, announcement.finished (repeat; "
                   "default: all).")
@database_command
def webhook_add(url: str, secret: str, events: tuple[str, ...]) -> None:
    """Subscribe URL to events; print the subscription's id."""
    from bot.partner_hooks import SubscriptionError, add_subscription

    try:
        sid = add_subscription(current_app, url, secret, events)
    except SubscriptionError as exc:
        raise CliError(str(exc)) from None
    record_audit(current_app, "webhook_add", f"webhook:{sid}", staff_id=None, staff_email="cli",
                 detail={"events": list(events)})
    click.echo(f"abonnement {sid} créé")


@webhook.command("list")
@database_command
def webhook_list() -> None:
    """List subscriptions with their deliveries (pending, delivered, failed)."""
    from bot.partner_hooks import list_subscriptions

    for sub in list_subscriptions(current_app):
        click.echo(f"{sub['id']}\t{'actif' if sub['active'] else 'retiré'}\t{sub['url']}\t"
                   f"{','.join(sub['events'])}\tattente {sub['pending']}, "
                   f"livrés {sub['delivered']}, échecs {sub['failed']}")


@webhook.command("remove")
@click.argument("subscription_id", type=int)
@database_command
def webhook_remove(subscription_id: int) -> None:
    """Remove subscription SUBSCRIPTION_ID (its pending deliveries are dropped)."""
    from bot.partner_hooks import remove_subscription

    if not remove_subscription(current_app, subscription_id):
        raise CliError(f"aucun abonnement actif {subscription_id}")
    record_audit(current_app, "webhook_remove", f"webhook:{subscription_id}", staff_id=None,
                 staff_email="cli")
    click.echo(f"abonnement {subscription_id} retiré")


def _register_broadcasts() -> None:
    """Add `essbot broadcast …` and `essbot worker` (bot/broadcasts/cli.py)."""
    from bot.broadcasts.cli import broadcast_group, worker_command

    main.add_command(broadcast_group)
    main.add_command(worker_command)


_register_broadcasts()


def _register_demo() -> None:
    """Add `essbot actors seed-demo` (bot/demo.py)."""
    from bot.demo import seed_demo_command

    actors.add_command(seed_demo_command)


_register_demo()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("FLASK_APP", "bot")
    main()
