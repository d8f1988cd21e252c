"""Issue 14: every `essbot` command and subcommand, run on a fresh database, with no usable
database (unreachable server, missing driver, bad path, not migrated), a bad setting and wrong
arguments, answers in one line and never with a traceback."""

from __future__ import annotations

import uuid

import click
import pytest
from click.testing import CliRunner

from bot.cli import main

#: Arguments that make each command do its normal work. A command missing here (a new one)
#: is still run, with no arguments: it must then say what is missing, not crash.
ARGS = {
    "actors export": ["--output", "{tmp}/export.csv"],
    "actors import": ["{tmp}/liste.csv", "--dry-run"],
    "actors purge": ["--dry-run"],
    "actors seed-demo": ["--count", "3"],
    "api-token create": ["--name", "ONG Jigiya"],
    "api-token revoke": ["1"],
    "broadcast cancel": ["1"],
    "broadcast create": ["--title", "Essai", "--text-fr", "Réunion lundi."],
    "broadcast preview": ["1"],
    "broadcast send": ["1"],
    "broadcast status": ["1"],
    "sms segments": ["Bonjour"],
    "staff create": ["--email", "chef@mairie.test", "--password", "premier-mot-de-passe"],
    "staff password": ["--email", "chef@mairie.test", "--password", "second-mot-de-passe"],
    "staff pin": ["--email", "chef@mairie.test", "--pin", "4821"],
    "tickets reply": ["1", "Bonjour"],
    "webhook add": ["--url", "https://partenaire.example.org/h", "--secret",
                    "secret-partenaire-0123456789"],
    "webhook remove": ["1"],
}
#: Commands that keep running when they work (servers): run only where they must stop.
SERVERS = {"serve", "worker"}
#: Commands that rewrite tracked files (the catalogs): run only with wrong arguments.
WRITERS = {"translate extract", "translate update", "translate compile"}


def commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[str]:
    """Every leaf command of `group`, as "group sub"."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append(" ".join((*path, name)))
    return found


def test_the_list_covers_the_issue_and_flask_s_own_commands_are_gone():
    names = set(commands())
    assert {"actors seed-demo", "actors import", "actors export", "actors purge",
            "tickets list", "content seed", "db upgrade", "serve"} <= names
    assert not {"run", "shell", "routes"} & names
    help_text = CliRunner().invoke(main, ["--help"]).output
    for flask_own in ("  run ", "  shell ", "  routes "):
        assert flask_own not in help_text


def run(name: str, tmp_path, env: dict[str, str], args: list[str] | None = None,
        stdin: str = "Bonjour\n"):
    """Invoke `essbot <name>` in-process with `env`; returns click's Result."""
    (tmp_path / "liste.csv").write_text("nom;telephone;quartier\nAwa Traoré;76000011;Samé\n",
                                        encoding="utf-8")
    if args is None:
        args = [a.format(tmp=tmp_path) for a in ARGS.get(name, [])]
    base = {"ESSBOT_INSTANCE_PATH": str(tmp_path / "instance"), "REDIS_URL": None,
            "DATABASE_URL": None, "TWILIO_AUTH_TOKEN": None}
    return CliRunner().invoke(main, [*name.split(), *args], env={**base, **env}, input=stdin)


def assert_clean(result, name: str, allowed=(0, 1)) -> None:
    """No traceback; a failure is one ``erreur : …`` line (or click's usage message)."""
    out = result.output
    assert "Traceback" not in out, f"{name}:\n{out}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{name}: {result.exception!r}\n{out}"
    assert result.exit_code in allowed, f"{name}: exit {result.exit_code}\n{out}"
    if result.exit_code == 1:
        errors = [line for line in out.splitlines() if line.startswith("erreur : ")]
        assert len(errors) == 1, f"{name}:\n{out}"


@pytest.mark.parametrize("name", sorted(set(commands()) - SERVERS - WRITERS))
def test_every_command_on_a_fresh_sqlite_database(name, tmp_path):
    """The embedded default, right after installing: the schema is created first."""
    result = run(name, tmp_path, {}, stdin="Bonjour\n")
    assert_clean(result, name)
    if name in ("actors seed-demo", "actors purge", "actors export", "tickets list",
                "content seed", "actors import", "staff create", "broadcast create",
                "broadcast list", "db upgrade"):
        assert result.exit_code == 0, f"{name}:\n{result.output}"


BROKEN = {
    "unreachable server": ({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"},
                           "base de données injoignable"),
    "missing driver": ({"DATABASE_URL": "mysql://essbot@127.0.0.1/essbot"},
                       "pilote de base de données qui n'est pas installé"),
    "bad sqlite path": ({"DATABASE_URL": "sqlite:////missing/dir/x.db"},
                        "impossible d'ouvrir la base SQLite"),
    "unreadable url": ({"DATABASE_URL": "n'importe quoi"}, "DATABASE_URL est illisible"),
    "bad language": ({"ESSBOT_DEFAULT_LANGUAGE": "en"}, "ESSBOT_DEFAULT_LANGUAGE"),
    "bad office hours": ({"ESSBOT_OFFICE_HOURS": "garbage"}, "ESSBOT_OFFICE_HOURS"),
    "bad number": ({"ESSBOT_SMS_MAX_SEGMENTS": "abc"}, "ESSBOT_SMS_MAX_SEGMENTS"),
    "bad rate": ({"ESSBOT_LOGIN_RATE_ADDRESS": "beaucoup"}, "ESSBOT_LOGIN_RATE_ADDRESS"),
}

#: Commands that need no database (their errors are the settings' only).
NO_DATABASE = {"dialogs check", "sms segments"}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_every_command_without_a_usable_database_or_with_a_bad_setting(case, tmp_path):
    env, said = BROKEN[case]
    settings_only = case.startswith("bad ") and case != "bad sqlite path"
    for name in sorted(set(commands()) - WRITERS):
        if name in NO_DATABASE and not settings_only:
            continue
        if name == "dialogs check" and settings_only:
            continue  # reads the dialog files only, never the settings
        result = run(name, tmp_path, env)
        assert_clean(result, f"{case}: {name}", allowed=(1,))
        assert said in result.output, f"{case}: {name}\n{result.output}"


def test_every_command_on_a_postgresql_database_not_migrated(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                autocommit=True, connect_timeout=2)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name_db = f"essbot_empty_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name_db}")
    try:
        env = {"DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name_db}"}
        for name in sorted(set(commands()) - WRITERS - NO_DATABASE - {"db upgrade"}):
            result = run(name, tmp_path, env)
            assert_clean(result, name, allowed=(1,))
            assert "lancez `essbot db upgrade`" in result.output, f"{name}\n{result.output}"
    finally:
        admin.execute(f"DROP DATABASE {name_db} WITH (FORCE)")
        admin.close()


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_with_wrong_arguments(name, tmp_path):
    result = run(name, tmp_path, {}, args=["--pas-une-option"])
    assert_clean(result, name, allowed=(2,))
    assert "--pas-une-option" in result.output


def test_the_other_tracebacks_of_the_issue(tmp_path):
    out = run("actors export", tmp_path, {}, args=["--output", "/missing/dir/x.csv"])
    assert_clean(out, "export", allowed=(1,))
    assert "erreur : impossible d'utiliser /missing/dir/x.csv" in out.output
    bad = run("db upgrade", tmp_path, {}, args=["--revision", "zzz"])
    assert_clean(bad, "db upgrade", allowed=(1,))
    assert "révision de schéma inconnue « zzz »" in bad.output
    zero = run("serve", tmp_path, {}, args=["--workers", "0"])
    assert_clean(zero, "serve", allowed=(2,))
    assert "--workers" in zero.output


def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(tmp_path):
    result = run("serve", tmp_path, {}, args=["--port", "99999"])
    assert_clean(result, "serve", allowed=(2,))
    assert "--port" in result.output and "99999" in result.output


def test_staff_create_refuses_a_bad_e_mail_before_asking_the_password(tmp_path):
    # No --password and no input: were the password asked first, the command would abort
    # on the prompt instead of naming the e-mail.
    result = run("staff create", tmp_path, {}, args=["--email", "pas-une-adresse"])
    assert_clean(result, "staff create", allowed=(1,))
    assert "Adresse e-mail invalide" in result.output
    assert "Mot de passe" not in result.output
