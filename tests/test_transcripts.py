"""Golden transcripts: whole conversations through the real message path, compared exactly.

Each file of tests/transcripts/ is one conversation: a channel ("sms" or "whatsapp"), optional
settings, and turns. A turn is ``user`` (what the person types) and ``bot`` (every reply the
bot sends, messages separated by a line ``---``), or ``wait`` (days that pass on the fake
clock). The conversation runs through `bot.conversations.handle_inbound` (storage, lock,
engine, effects, rendering for the channel) with a fake clock; any difference fails.
After an intended change, ``pytest tests/test_transcripts.py --regen-transcripts`` rewrites
the files; review the diff.

Every SMS reply must also be GSM-7 and within ESSBOT_SMS_MAX_SEGMENTS parts.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bot import sms
from bot.channels.base import InboundMessage
from bot.conversations import handle_inbound

DIR = Path(__file__).resolve().parent / "transcripts"
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
    for variant in ("fr_", "bm_plain", "bm_official"):
        assert any(n.startswith(variant) for n in names), variant
    channels = {yaml.safe_load(p.read_text(encoding="utf-8"))["channel"] for p in FILES}
    assert channels == {"sms", "whatsapp"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_transcript(app, monkeypatch, request, path):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    regen = request.config.getoption("--regen-transcripts")
    app.config.update(doc.get("settings") or {})
    channel, phone = doc["channel"], doc.get("phone", "+22370123456")
    clock = [START]
    monkeypatch.setattr("bot.conversations.utcnow", lambda: clock[0])
    sids = itertools.count(1)
    differences = []
    for number, turn in enumerate(doc["turns"], start=1):
        if "wait" in turn:
            clock[0] += timedelta(days=float(turn["wait"]))
            continue
        clock[0] += timedelta(minutes=1)
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
