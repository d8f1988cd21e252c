"""Issue 12's scenario, shared by tests/test_consent.py and bench/consent.py: who receives an
announcement "to everyone", from the import to the last SMS through the fake Twilio.

300 people imported (200 ``annonces = oui``, 100 ``non``); 10 of the ``oui`` send STOP; 20
others register by SMS; 10 others only ask a question; 5 others decline the consent. A
broadcast to everyone must reach exactly the 190 + 20 with consent, nobody else, nobody
twice, and the compose counter, the web preview, the CLI preview and the number sent must be
the same number, every left-out person counted under their reason.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from bot.broadcasts import planner
from bot.broadcasts.models import BroadcastState, Outbox, OutboxState
from bot.channels.base import InboundMessage
from bot.conversations import handle_inbound
from bot.db import get_engine
from bot.registry import importer

import sqlalchemy as sa

#: The registration of one person by SMS (the turns of tests/transcripts/fr_sms_individual.yaml
#: up to the confirmation).
REGISTER = ["Bonjour", "1", "1", "oui d'accord", "moi meme", "je m'appelle awa traoré", "1",
            "35 ans", "badialan", "2", "couture", "couturière et teinturière", "5", "1 et 3",
            "OUI"]
QUESTION = ["Bonjour", "1", "Quels sont les horaires de la mairie ?"]
DECLINE = ["Bonjour", "1", "1", "2"]

_sids = itertools.count(1)


def phone(group: int, n: int) -> str:
    """A Mali mobile number for person `n` of `group` (+2237<group><n:06d>)."""
    return f"+2237{group}{n:06d}"


def say(app: Any, number: str, text: str) -> list[str]:
    """One SMS from `number` through the real message path; the bot's replies."""
    msg = InboundMessage(channel="sms", address=number, text=text, kind="text",
                         provider_sid=f"CS{next(_sids):032d}",
                         received_at=datetime.now(timezone.utc))
    return [r.body for r in handle_inbound(app, msg).replies]


def import_csv(oui: int = 200, non: int = 100) -> bytes:
    """The mairie's list: `oui` people with annonces = oui, then `non` with annonces = non."""
    lines = ["telephone;nom;quartier;annonces"]
    for i in range(oui + non):
        lines.append(f"{phone(1, i)};Personne {i};Badialan I;{'oui' if i < oui else 'non'}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def populate(app: Any) -> dict[str, list[str]]:
    """Write the scenario's people; return their phones by group."""
    report = importer.analyse_file(app, import_csv(), "liste.csv")
    assert not report.errors and len(report.create) == 300, importer.format_report(report)
    importer.apply_import(app, report)
    groups = {"imported_oui": [phone(1, i) for i in range(200)],
              "imported_non": [phone(1, i) for i in range(200, 300)],
              "registered": [phone(2, i) for i in range(20)],
              "question": [phone(3, i) for i in range(10)],
              "declined": [phone(4, i) for i in range(5)]}
    groups["stopped"] = groups["imported_oui"][:10]
    for number in groups["stopped"]:
        say(app, number, "STOP")
    for number in groups["registered"]:
        for text in REGISTER:
            say(app, number, text)
    for number in groups["question"]:
        for text in QUESTION:
            say(app, number, text)
    for number in groups["declined"]:
        for text in DECLINE:
            say(app, number, text)
    return groups


def web_recipients(client: Any, broadcast_id: int) -> int:
    """The recipients shown on the staff preview page (``#pv-recipients``)."""
    html = client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    found = re.search(r'id="pv-recipients">(\d+)<', html)
    assert found, html[:500]
    return int(found.group(1))


def web_count(client: Any) -> dict[str, Any]:
    """The compose page's live counter for "everyone" (``/admin/broadcasts/count``)."""
    return client.get("/admin/broadcasts/count").get_json()


def run(app: Any, client: Any, runner: Any, fake: Any, queue: Any) -> dict[str, Any]:
    """The whole scenario; returns the figures (see bench/consent.py). `client` is logged in
    as an agent, `runner` the app's CLI runner, `fake` a running FakeTwilio the app points at
    and `queue` a BroadcastQueue of the app."""
    from bot.broadcasts.cli import broadcast_group

    t0 = time.perf_counter()
    groups = populate(app)
    populate_s = time.perf_counter() - t0
    bid = planner.create(app, title="Réunion", text_fr="Réunion ESS samedi 9h à la mairie.")
    counter = web_count(client)
    web = web_recipients(client, bid)
    cli = json.loads(runner.invoke(broadcast_group, ["preview", str(bid)]).output)
    t0 = time.perf_counter()
    queue.send_now(bid)
    o = Outbox.__table__
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with get_engine(app).connect() as conn:
            open_ids = list(conn.execute(sa.select(o.c.id).where(
                o.c.broadcast_id == bid, o.c.state.in_(OutboxState.OPEN))).scalars())
        for outbox_id in open_ids:
            queue.sender.process(outbox_id)
        queue.tick()
        if not open_ids and planner.get(app, bid).state in BroadcastState.FINAL:
            break
        time.sleep(0.02)
    send_s = time.perf_counter() - t0
    sent_to = [m["to"] for m in fake.creates()]
    status = planner.status(app, bid)
    return {"groups": groups, "broadcast": bid, "counter": counter, "web_preview": web,
            "cli_preview": cli, "sent_to": sent_to, "status": status,
            "populate_s": populate_s, "send_s": send_s}
