"""Golden transcripts: whole conversations through the real message path, compared exactly.

Each file of tests/transcripts/ is one conversation: a channel ("sms" or "whatsapp"), optional
settings, and turns. A turn is ``user`` (what the person types) and ``bot`` (every reply the
bot sends, messages separated by a line ``---``; ``kind: audio`` for a voice note), ``wait``
(days that pass on the fake clock), or ``staff`` (staff answer the latest hand-over ticket
with `essbot tickets reply`; ``bot`` is then "[channel] what reaches the person"). The
conversation runs through `bot.conversations.handle_inbound` (storage, lock, engine, effects,
rendering for the channel) with a fake clock; any difference fails.
After an intended change, ``pytest tests/test_transcripts.py --regen-transcripts`` rewrites
the files; review the diff.

A file may set ``staff_account`` (``role``, ``pin``): the phone is then a staff member's
(DIFFUSER, bot/broadcasts/diffuser.py).

Every SMS reply must also be GSM-7 and within ESSBOT_SMS_MAX_SEGMENTS parts.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot import sms
from bot.channels.base import InboundMessage
from bot.content_store import reply_ticket
from bot.conversations import handle_inbound
from bot.db import session_scope
from bot.models.content import Ticket

DIR = Path(__file__).resolve().parent / "transcripts"


class _StubClient:
    """Stands in for twilio.rest.Client: records what messages.create was asked to send."""

    def __init__(self, sent: list):
        class _Messages:
            def create(self, **kwargs):
                sent.append(kwargs)
                return type("M", (), {"sid": f"SM{len(sent):032d}"})()

        self.messages = _Messages()
FILES = sorted(DIR.glob("*.yaml"))
START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
SEPARATOR = "\n---\n"


class _Literal(str):
    pass


def _literal(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def _dump(doc: dict) -> str:
    def convert(value):
        if isinstance(value, str) and "\n" in value:
            return _Literal(value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return yaml.safe_dump(convert(doc), allow_unicode=True, sort_keys=False, width=1000)


def test_there_are_transcripts_for_every_case_of_the_issue():
    names = {p.stem for p in FILES}
    for case in ("individual", "organisation", "resume", "correction", "stop", "supprimer",
                 "misunderstood"):
        assert any(case in n for n in names), case
    # Issue 4 in both languages: menus with paging, example questions, hand-over.
    for case in ("info_menu", "questions"):
        assert {lang for lang in ("fr", "bm") for n in names
                if n.startswith(lang) and case in n} == {"fr", "bm"}, case
    texts = {p.stem: p.read_text(encoding="utf-8") for p in FILES}
    examples = ("c'est quoi l'APEJ", "comment avoir l'assurance maladie",
                "je suis artisan je veux la retraite", "formation couture", "banaw ka furakɛli",
                "ramu", "inps volontaire")
    for example in examples:
        assert any(f"user: {example}" in t or f"user: '{example}'" in t
                   or f'user: "{example}"' in t for t in texts.values()), example
    assert any("9 = suite" in t for n, t in texts.items() if n.startswith("fr")
               and "info_menu" in n)
    assert any("kind: audio" in t and "staff:" in t for t in texts.values())
    assert any("La transmettre à un agent" in t and "[sms]" in t for t in texts.values())
    for variant in ("fr_", "bm_plain", "bm_official"):
        assert any(n.startswith(variant) for n in names), variant
    channels = {yaml.safe_load(p.read_text(encoding="utf-8"))["channel"] for p in FILES}
    assert channels == {"sms", "whatsapp"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(app, monkeypatch, request, path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    regen = request.config.getoption("--regen-transcripts")
    # Senders for staff replies (the REST client itself is a stub, see _StubClient).
    app.config.update({"TWILIO_SMS_FROM": "+15005550006",
                       "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"})
    app.config.update(doc.get("settings") or {})
    channel, phone = doc["channel"], doc.get("phone", "+22370123456")
    if doc.get("staff_account"):
        from bot.admin.staff import create_staff, set_diffuser_pin

        account = doc["staff_account"]
        create_staff(app, "agent@mairie.test", account["role"], "motdepasse-essai-3",
                     phone=phone)
        set_diffuser_pin(app, "agent@mairie.test", account.get("pin"))
    clock = [START]
    monkeypatch.setattr("bot.conversations.utcnow", lambda: clock[0])
    monkeypatch.setattr("bot.broadcasts.diffuser.utcnow", lambda: clock[0])
    sids = itertools.count(1)
    differences = []
    for number, turn in enumerate(doc["turns"], start=1):
        if "wait" in turn:
            clock[0] += timedelta(days=float(turn["wait"]))
            continue
        clock[0] += timedelta(minutes=1)
        if "staff" in turn:
            # Staff answer the latest ticket from the terminal (essbot tickets reply); what
            # reaches the person is recorded as "[channel] body".
            sent: list[dict] = []
            with session_scope(app) as s:
                ticket_id = s.execute(sa.select(sa.func.max(Ticket.id))).scalar()
            if ticket_id is None:
                got = "[no ticket]"
            else:
                result = reply_ticket(app, ticket_id, str(turn["staff"]), now=clock[0],
                                      client=_StubClient(sent))
                got = (f"[{result['channel']}] {sent[0]['body']}" if sent
                       else f"[{result['status']}]")
            if regen:
                turn["bot"] = got
            elif got != str(turn.get("bot", "")).rstrip("\n"):
                differences.append(f"turn {number} (staff):\n--- expected\n{turn.get('bot')}"
                                   f"\n--- got\n{got}")
            continue
        msg = InboundMessage(channel=channel, address=phone, text=str(turn["user"]),
                             kind=turn.get("kind", "text"),
                             provider_sid=f"TR{next(sids):032d}", received_at=clock[0])
        replies = [r.body for r in handle_inbound(app, msg).replies]
        if channel == "sms":
            for body in replies:
                info = sms.analyze(body)
                assert info.encoding == "GSM-7", (turn["user"], info.ucs2_characters)
                assert info.segments <= app.config["ESSBOT_SMS_MAX_SEGMENTS"], (turn["user"], body)
        got = SEPARATOR.join(replies)
        if regen:
            turn["bot"] = got
        elif got != str(turn.get("bot", "")).rstrip("\n"):
            differences.append(f"turn {number} ({turn['user']!r}):\n--- expected\n"
                               f"{turn.get('bot')}\n--- got\n{got}")
    if regen:
        path.write_text(_dump(doc), encoding="utf-8")
    assert not differences, f"{path.name}: " + "\n\n".join(differences)
