"""Who receives an announcement to "everyone" (issue 12): the figures of one run.

In a fresh database (a temporary SQLite file, or --database-url, which is emptied): import 300
people from a list (200 ``annonces = oui``, 100 ``non``), 10 of the ``oui`` send STOP, 20
others register by SMS, 10 others only ask a question, 5 others decline the consent (all
through the real message path); then a broadcast to everyone through the fake Twilio
(tests/fake_twilio.py, in this process). The scenario is tests/consent_scenario.py, the one
tests/test_consent.py checks.

Prints, as JSON: the counter of the compose page, the web preview, the CLI preview and the
number of messages Twilio accepted (all four must be 210 = 190 + 20), the recipients expected
and anyone reached who should not have been or twice (must be 0), each left-out person by
reason (opted_out 10, no_consent 115), and the times taken.

    python bench/consent.py [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="essbot-consent-")
    os.environ["ESSBOT_INSTANCE_PATH"] = workdir
    url = args.database_url or f"sqlite:///{workdir}/bench.db"

    import logging

    logging.disable(logging.INFO)
    from bot import create_app
    from bot.migrate import upgrade

    upgrade(url)
    app = create_app({"DATABASE_URL": url, "TESTING": True,
                      "TWILIO_AUTH_TOKEN": "bench"})
    if args.database_url:
        import sqlalchemy as sa

        from bot.db import get_engine
        from bot.models import Base

        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with get_engine(app).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(table.delete())

    from tests import consent_scenario
    from tests.admin_helpers import login, make_staff
    from tests.fake_twilio import FakeTwilio
    from tests.test_broadcast_send import configure

    make_staff(app)
    client = app.test_client()
    login(client, "agent")
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        figures = consent_scenario.run(app, client, app.test_cli_runner(), fake, queue)
    groups = figures["groups"]
    expected = set(groups["imported_oui"][10:]) | set(groups["registered"])
    sent = Counter(figures["sent_to"])
    cli = figures["cli_preview"]
    out = {
        "people": sum(len(v) for k, v in groups.items() if k != "stopped"),
        "expected_recipients": len(expected),
        "counter": figures["counter"]["reachable"],
        "web_preview": figures["web_preview"],
        "cli_preview": cli["recipients"],
        "sent": len(sent),
        "reached_wrongly": len(set(sent) - expected),
        "missed": len(expected - set(sent)),
        "reached_twice": sum(1 for n in sent.values() if n > 1),
        "left_out": {k: v for k, v in cli["skipped"].items() if v},
        "counter_left_out": {k: v for k, v in figures["counter"]["skipped"].items() if v},
        "warnings": [w["code"] for w in cli["warnings"]],
        "populate_s": round(figures["populate_s"], 2),
        "send_s": round(figures["send_s"], 2),
    }
    out["all_equal"] = len({out["counter"], out["web_preview"], out["cli_preview"],
                            out["sent"], out["expected_recipients"]}) == 1
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
