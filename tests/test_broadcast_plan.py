"""Broadcasts, planning side: state machine, segments, routing, preview and cost, the outbox
written once, cancel, schedule times in Bamako, and the CLI's answers to bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot import sms
from bot.broadcasts import planner, segments
from bot.broadcasts.cli import broadcast_group
from bot.broadcasts.models import (BroadcastState, InvalidTransition, Outbox, OutboxState,
                                   UndeliverableAddress)
from bot.db import get_engine, transaction
from bot.models import Actor, Contact, utcnow
from tests.fake_twilio import ACCOUNT

# Relative to the real clock: the planner and the sender read it, and a WhatsApp window opened
# "2 hours ago" must still be open when the suite runs on a later day.
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
SENDER = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_SMS_FROM": "+15005550006",
          "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"}


def add_contact(app, phone, *, language="fr", sms=True, whatsapp=None, last=None,
                opted_out=False, now=NOW, consent=True, **actor) -> int:
    """One contact (and an actor when `actor` fields are given). `whatsapp` is the age of the
    last WhatsApp message (timedelta) or None; `sms` whether they wrote by SMS; `consent`
    their announcement consent (issue 12: only consenting contacts are recipients)."""
    c = Contact.__table__
    values = {"phone": phone, "language": language, "opted_out": opted_out,
              "announcements": consent, "announcements_source": "agent" if consent else None,
              "created_at": now, "updated_at": now,
              "last_inbound_sms_at": now - timedelta(days=30) if sms else None,
              "last_inbound_whatsapp_at": now - whatsapp if whatsapp is not None else None,
              "last_channel": last or ("whatsapp" if whatsapp is not None else "sms" if sms
                                       else "console")}
    with transaction(app) as conn:
        contact_id = conn.execute(sa.insert(c).values(**values).returning(c.c.id)).scalar_one()
        if actor:
            conn.execute(sa.insert(Actor.__table__).values(
                contact_id=contact_id, created_at=now, updated_at=now,
                needs=actor.pop("needs", []), **actor))
    return contact_id


def population(app):
    """The segment "Badialan I" and its edge cases; returns contact ids by name."""
    q = {"quartier": "Badialan I"}
    return {
        "fr_sms": add_contact(app, "+22370000001", **q, sector="textile", birth_year=2000),
        "bm_sms": add_contact(app, "+22370000002", language="bm", **q, birth_year=1960),
        "fr_wa_open": add_contact(app, "+22370000003", sms=False, whatsapp=timedelta(hours=2), **q),
        "bm_wa_closed_sms": add_contact(app, "+22370000004", language="bm",
                                        whatsapp=timedelta(days=3), **q),
        # Fixed-line numbers (Bamako's 20 2x range) for the two who never wrote by SMS: an SMS
        # cannot be originated to them (issue 12: to a mobile number it can).
        "fr_wa_closed_only": add_contact(app, "+22320220005", sms=False,
                                         whatsapp=timedelta(days=3), **q),
        "opted_out": add_contact(app, "+22370000006", opted_out=True, **q),
        "console_only": add_contact(app, "+22320220007", sms=False, **q),
        "other_quartier": add_contact(app, "+22370000008", quartier="Samé"),
        "no_actor": add_contact(app, "+22370000009"),
    }


def test_state_machine_guards_every_move():
    S = BroadcastState
    assert S.target(S.DRAFT, "schedule") == S.SCHEDULED
    assert S.target(S.SCHEDULED, "start") == S.SENDING
    assert S.target(S.SENDING, "finish") == S.SENT
    assert S.target(S.SENT, "resume") == S.SENDING
    for state, event in [(S.SENT, "cancel"), (S.CANCELLED, "start"), (S.DRAFT, "finish"),
                         (S.FAILED, "schedule"), (S.SENDING, "start")]:
        with pytest.raises(InvalidTransition, match=f"cannot {event}"):
            S.target(state, event)
    with pytest.raises(InvalidTransition):
        S.target(S.DRAFT, "explode")
    assert S.allowed(S.SENDING) == ["cancel", "fail", "finish"]


def test_segment_filters_are_checked_and_canonical():
    assert segments.parse_filters(["quartier=badialan 1", "age=18-35",
                                   "needs=financement,formation", "registered=oui",
                                   "quartier=Samé"]) == {
        "quartier": ["Badialan I", "Samé"], "needs": ["financement", "formation"],
        "age": ["18-35"], "registered": ["oui"]}
    for bad, message in [("quartier", "FIELD=VALUE"), ("colour=red", "unknown filter field"),
                         ("sector=banking", "use one of"), ("age=40-20", "lower age"),
                         ("quartier=Tombouctou", "unknown quartier"), ("language=en", "fr or bm"),
                         ("gender=", "empty value")]:
        with pytest.raises(segments.SegmentError, match=message):
            segments.parse_filters([bad])


def test_segment_counts_follow_the_filters(app):
    population(app)
    with get_engine(app).connect():  # the counter opens its own connection
        def count(definition):
            return planner.count(app, segments.normalize(definition), now=NOW)
        # Issue 12: the counter reports recipients as the preview decides them (the two WhatsApp
        # contacts outside the window, the console-only one and the opted-out one are left out
        # under their reasons), no longer every contact who has not opted out.
        badialan = count({"quartier": "Badialan I"})
        assert (badialan["contacts"], badialan["opted_out"], badialan["reachable"]) == (7, 1, 4)
        assert badialan["skipped"]["no_channel"] == 1
        assert badialan["skipped"]["whatsapp_window_closed"] == 1
        everyone = count({})
        assert (everyone["contacts"], everyone["opted_out"], everyone["reachable"]) == (9, 1, 6)
        assert count({"quartier": "Badialan I", "language": "bm"})["contacts"] == 2
        assert count({"age": "18-35"})["contacts"] == 1  # born 2000, 26 in 2026
        assert count({"age": "60-"})["contacts"] == 1
        assert count({"channel": "whatsapp"})["contacts"] == 3
        assert count({"sector": "textile"})["contacts"] == 1


def test_route_prefers_the_last_channel_and_never_drops_silently():
    # The rule moved to bot.broadcasts.reach (issue 12); same routes as before for consenting
    # contacts, with mobile=False (a contact who never wrote and is not a mobile number).
    from bot.broadcasts import reach

    def R(has_sms, has_wa, wa_open, sms_invalid, wa_invalid, last):
        return reach.Facts(True, False, False, False, False, has_sms, has_wa, wa_open,
                           sms_invalid, wa_invalid, last)

    def route(policy, facts, template_ok):
        decision = reach.decide(facts, policy, template_ok)
        return (decision.channel, decision.kind) if decision.ok else (None, decision.reason)

    sms_only = R(True, False, False, False, False, "sms")
    assert route("auto", sms_only, False) == ("sms", "text")
    assert route("auto", R(True, True, True, False, False, "whatsapp"), False) == (
        "whatsapp", "text")
    closed = R(False, True, False, False, False, "whatsapp")
    assert route("auto", closed, True) == ("whatsapp", "template")
    assert route("auto", closed, False) == (None, "whatsapp_window_closed")
    closed_with_sms = R(True, True, False, False, False, "whatsapp")
    assert route("auto", closed_with_sms, False) == ("sms", "text")
    assert route("whatsapp", closed_with_sms, False) == (None, "whatsapp_window_closed")
    assert route("sms", R(True, True, True, True, False, "sms"), False) == (
        None, "invalid_number")
    assert route("auto", R(False, False, False, False, False, "console"), False) == (
        None, "no_channel")


def test_preview_counts_channels_languages_parts_cost_and_skips(app):
    population(app)
    app.config.update(ESSBOT_PRICE_PER_PART=25.0)
    long_fr = "Réunion des coopératives à la mairie. " * 6  # > 160 characters: 2 parts
    bid = planner.create(app, title="Réunion", text_fr=long_fr, text_bm="Ɲɔgɔnye bɛ mairie la.",
                         segment={"quartier": ["Badialan I"]}, now=NOW)
    preview = planner.preview(app, bid, now=NOW)
    assert preview["recipients"] == 4
    assert preview["by_channel"] == {"sms": 3, "whatsapp": 1}
    assert preview["by_language"] == {"bm": 2, "fr": 2}
    assert preview["skipped"] == {"opted_out": 1, "no_channel": 1, "whatsapp_window_closed": 1,
                                  "invalid_number": 0,
                                  # Issue 12's reasons, none in this population.
                                  "no_consent": 0, "demo_contact": 0, "test_phone": 0}
    fr_sms, bm_sms = preview["texts"]["fr"]["sms"], preview["texts"]["bm"]["sms"]
    assert (fr_sms["encoding"], fr_sms["parts"]) == ("GSM-7", 2)
    # Folded to GSM-7 by the same bot.sms.render the replies use: 1 part, not UCS-2.
    assert bm_sms["body"] == sms.render("Ɲɔgɔnye bɛ mairie la.", "sms", "bm")
    assert (bm_sms["encoding"], bm_sms["parts"]) == ("GSM-7", 1)
    assert preview["texts"]["bm"]["whatsapp"]["body"] == "Ɲɔgɔnye bɛ mairie la."  # Unicode kept
    assert preview["parts"] == {"sms": 2 + 1 + 1, "whatsapp": 1}
    assert preview["cost"]["sms"] == 4 * 25.0 and preview["cost"]["currency"] == "FCFA"
    # With an approved template, the closed WhatsApp window is no longer a skip.
    app.config.update(ESSBOT_WHATSAPP_TEMPLATES=json.dumps(
        {"fr": {"content_sid": "HX" + "1" * 32, "variables": {"1": "title", "2": "text"}}}))
    preview = planner.preview(app, bid, now=NOW)
    assert preview["by_channel"]["whatsapp_template"] == 1
    assert preview["skipped"]["whatsapp_window_closed"] == 0
    assert preview["texts"]["fr"]["whatsapp_template"]["variables"]["1"] == "Réunion"


def test_outbox_is_written_once_without_opted_out_contacts(app):
    ids = population(app)
    app.config.update(SENDER)
    bid = planner.create(app, title="T", text_fr="Bonjour", text_bm="I ni ce",
                         segment={"quartier": ["Badialan I"]}, now=NOW)
    plan = planner.start(app, bid, now=NOW)
    assert plan["pending"] == 4
    with get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(Outbox.__table__).where(
            Outbox.__table__.c.broadcast_id == bid)).all()
    by_contact = {r.contact_id: r for r in rows}
    assert len(rows) == len(by_contact) == 6  # 4 to send + 2 skipped, opted-out not written
    assert ids["opted_out"] not in by_contact
    bm_sms = by_contact[ids["bm_sms"]]
    assert (bm_sms.body, bm_sms.channel) == ("I ni ce", "sms")
    assert by_contact[ids["bm_wa_closed_sms"]].channel == "sms"  # window closed → SMS
    assert by_contact[ids["fr_wa_open"]].channel == "whatsapp"
    assert by_contact[ids["console_only"]].skip_reason == "no_channel"
    assert by_contact[ids["fr_wa_closed_only"]].state == OutboxState.SKIPPED
    with pytest.raises(InvalidTransition, match="cannot start a sending"):
        planner.start(app, bid, now=NOW)
    assert planner.get(app, bid).plan["skipped"]["opted_out"] == 1


def test_numbers_refused_by_twilio_are_skipped_until_the_person_writes_again(app):
    contact_id = add_contact(app, "+22370000011")
    app.config.update(SENDER)
    with transaction(app) as conn:
        conn.execute(sa.insert(UndeliverableAddress.__table__).values(
            contact_id=contact_id, channel="sms", error_code=21211, created_at=NOW))
    bid = planner.create(app, title="T", text_fr="x", now=NOW)
    assert planner.preview(app, bid, now=NOW)["skipped"]["invalid_number"] == 1
    with transaction(app) as conn:  # a new SMS from the number proves it works
        conn.execute(sa.update(Contact.__table__).values(
            last_inbound_sms_at=NOW + timedelta(hours=1)))
    assert planner.preview(app, bid, now=NOW + timedelta(hours=2))["recipients"] == 1


def test_start_refuses_without_a_sender_and_writes_nothing(app):
    add_contact(app, "+22370000012")
    bid = planner.create(app, title="T", text_fr="x", now=NOW)
    with pytest.raises(planner.BroadcastError, match="TWILIO_SMS_FROM"):
        planner.start(app, bid, now=NOW)
    assert planner.get(app, bid).state == BroadcastState.DRAFT
    assert planner.status(app, bid)["recipients"] == 0


def test_cancel_stops_pending_rows_and_is_final(app):
    population(app)
    app.config.update(SENDER)
    bid = planner.create(app, title="T", text_fr="x", segment={"quartier": ["Badialan I"]}, now=NOW)
    planner.start(app, bid, now=NOW)
    result = planner.cancel(app, bid, now=NOW)
    assert result["cancelled"] == 4 and result["state"] == "cancelled"
    assert planner.status(app, bid)["by_state"]["cancelled"] == 4
    with pytest.raises(InvalidTransition):
        planner.cancel(app, bid, now=NOW)


def test_texts_too_long_for_twilio_are_refused(app):
    with pytest.raises(planner.BroadcastError, match="1600"):
        planner.create(app, title="T", text_fr="x" * 1700, now=NOW)
    with pytest.raises(planner.BroadcastError, match="past"):
        planner.create(app, title="T", text_fr="x", at=NOW - timedelta(minutes=1), now=NOW)


def test_schedule_time_is_read_in_bamako_or_the_configured_zone():
    assert planner.parse_local_time("2026-12-01 09:00") == datetime(2026, 12, 1, 9, 0,
                                                                    tzinfo=timezone.utc)
    assert planner.parse_local_time("2026-12-01 09:00", "Africa/Nairobi") == datetime(
        2026, 12, 1, 6, 0, tzinfo=timezone.utc)
    assert planner.local_time(datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc),
                              "Africa/Nairobi") == "2026-12-01 09:00"
    with pytest.raises(planner.BroadcastError, match="YYYY-MM-DD HH:MM"):
        planner.parse_local_time("demain 9h")


def test_cli_create_preview_status_cancel(app, runner):
    population(app)
    result = runner.invoke(broadcast_group, [
        "create", "--title", "Formation", "--text-fr", "Formation lundi", "--text-bm",
        "Kalan tɛnɛn", "--filter", "quartier=Badialan I", "--at", "2099-01-05 09:30"])
    assert result.exit_code == 0, result.output
    bid = int(result.output.strip())
    row = planner.get(app, bid)
    assert row.state == "scheduled"
    assert row.scheduled_at == datetime(2099, 1, 5, 9, 30, tzinfo=timezone.utc)
    preview = json.loads(runner.invoke(broadcast_group, ["preview", str(bid)]).output)
    assert preview["recipients"] == 4 and preview["scheduled_at"] == "2099-01-05 09:30"
    status = json.loads(runner.invoke(broadcast_group, ["status", str(bid)]).output)
    assert status["state"] == "scheduled"
    cancelled = json.loads(runner.invoke(broadcast_group, ["cancel", str(bid)]).output)
    assert cancelled["state"] == "cancelled"
    # Staff actions from the command line are in the audit log too (newcomer's test).
    from bot.db import session_scope
    from bot.models.staff import AuditEvent

    with session_scope(app) as session:
        events = [(e.action, e.target, e.staff_email) for e in session.query(AuditEvent)]
    assert events == [("create", f"broadcast:{bid}", "cli"), ("cancel", f"broadcast:{bid}", "cli")]


@pytest.mark.parametrize("args, message", [
    (["create", "--title", "T", "--text-fr", "x", "--filter", "colour=red"], "unknown filter"),
    (["create", "--title", "T", "--text-fr", "x", "--at", "tomorrow"], "YYYY-MM-DD HH:MM"),
    (["create", "--title", "T", "--text-fr", "x", "--at", "2001-01-01 00:00"], "déjà passée"),
    (["create", "--title", "", "--text-fr", "x"], "titre"),
    (["preview", "999"], "Cette annonce n'existe pas"),
    (["send", "999"], "Cette annonce n'existe pas"),
    (["cancel", "999"], "Cette annonce n'existe pas"),
    (["status", "abc"], "is not a valid integer"),
])
def test_cli_bad_input_is_a_clear_error_not_a_traceback(app, runner, args, message):
    result = runner.invoke(broadcast_group, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_cli_send_without_sender_explains(app, runner):
    add_contact(app, "+22370000013")
    bid = planner.create(app, title="T", text_fr="x", now=utcnow())
    result = runner.invoke(broadcast_group, ["send", str(bid)])
    assert result.exit_code == 1 and "Réglages manquants : TWILIO_ACCOUNT_SID" in result.output


def test_cli_reads_at_in_bamako_whatever_the_server_time_zone(app, tmp_path):
    """`essbot broadcast create --at` in a process whose TZ is far from Bamako."""
    env = {**os.environ, "TZ": "Pacific/Kiritimati", "DATABASE_URL": app.config["DATABASE_URL"],
           "ESSBOT_INSTANCE_PATH": app.instance_path}
    out = subprocess.run([sys.executable, "-m", "bot.broadcasts.cli", "broadcast", "create",
                          "--title", "T", "--text-fr", "x", "--at", "2099-03-01 23:30"],
                         env=env, capture_output=True, text=True, timeout=60,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    row = planner.get(app, int(out.stdout.strip()))
    assert row.scheduled_at == datetime(2099, 3, 1, 23, 30, tzinfo=timezone.utc)
