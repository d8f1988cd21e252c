"""SMS cost of whole conversations: outbound parts with GSM-7 folding on and off.

Plays scripted conversations (what people type) through the real message path
(`bot.conversations.handle_inbound`, SQLite in a temporary folder) on the SMS channel,
once with ESSBOT_SMS_FOLDING on and once off, and prints the outbound parts of each
conversation, the encodings used, the cost at ESSBOT_PRICE_PER_PART, and the ratio —
what the folding saves.

    python bench/cost.py [--price 25]

Add a script to SCRIPTS when a dialog is added (registration, information menus).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections import Counter

import sqlalchemy as sa

#: name → (inputs typed by the person, one per message). Each runs from a new phone.
SCRIPTS: dict[str, list[str]] = {
    "registration, individual, French": [
        "Bonjour", "1", "1", "oui", "1", "Awa Diarra", "1", "1990", "Sogonafing", "5",
        "teinturière", "5", "1 2", "oui",
    ],
    "registration, individual, Bambara typed plainly": [
        "i ni ce", "kelen", "awo", "kelen", "Moussa Traore", "ce", "1985", "badialan 2",
        "kelen", "menuisier", "ayi", "1 2", "awo",
    ],
    "registration, individual, Bambara official letters": [
        "I ni sɔgɔma", "kelen", "awɔ", "kelen", "Fanta Koné", "muso", "san 30", "Sogonafin",
        "naani", "jago", "5", "fila", "awɔ",
    ],
    "information menus and questions, French": [
        "Bonjour", "1", "2", "1", "1", "1", "9", "0", "0", "2", "1", "c'est quoi l'APEJ",
        "comment avoir l'assurance maladie", "je suis artisan je veux la retraite", "MENU",
    ],
    "information menus and questions, Bambara": [
        "i ni ce", "fila", "kelen", "kelen", "kelen", "0", "0", "banaw ka furakɛli",
        "ramu", "inps volontaire", "MENU",
    ],
    "welcome, French, menu, help, stop, start": [
        "Bonjour", "1", "AIDE", "5", "MENU", "STOP", "START",
    ],
    "welcome, Bambara typed plainly, menu, help": [
        "i ni ce", "fila", "deme", "n ma a faamu", "0", "a dabila", "a damine",
    ],
    "welcome, Bambara official letters, language change": [
        "N bɛ a fɛ ka n tɔgɔ sɛbɛn", "2", "3", "kelen", "kan", "bamanankan",
    ],
}


def play(fold: bool, workdir: str) -> dict[str, tuple[int, int, Counter]]:
    """Run every script; return name → (outbound messages, parts, encodings)."""
    from bot import create_app
    from bot.channels import console
    from bot.conversations import handle_inbound
    from bot.db import get_engine
    from bot.migrate import upgrade
    from bot.models import Contact, Message

    url = f"sqlite:///{workdir}/cost-{'fold' if fold else 'raw'}.db"
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "ESSBOT_SMS_FOLDING": fold})
    results = {}
    for i, (name, inputs) in enumerate(SCRIPTS.items()):
        phone = f"+2237010{i:04d}"
        for text in inputs:
            handle_inbound(app, console.inbound(phone, text, "sms"))
        with get_engine(app).connect() as conn:
            rows = conn.execute(
                sa.select(Message.segments, Message.encoding, Message.body).join(Contact)
                .where(Contact.phone == phone, Message.direction == "out")
                .order_by(Message.id)).all()
        if name.startswith("registration") and "ESS3-" not in rows[-1].body:
            # A script that no longer completes would silently measure something else.
            raise SystemExit(f"script {name!r} did not complete a registration: "
                             f"last reply {rows[-1].body!r}")
        results[name] = (len(rows), sum(r.segments for r in rows),
                         Counter(r.encoding for r in rows))
    get_engine(app).dispose()
    return results


def main() -> None:
    """Parse the options, play every conversation folded and raw, print parts per conversation
    and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--price", type=float, default=None,
                        help="price of one SMS part (default: ESSBOT_PRICE_PER_PART or 0)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ESSBOT_INSTANCE_PATH"] = tmp
        price = args.price if args.price is not None else float(
            os.environ.get("ESSBOT_PRICE_PER_PART") or 0)
        folded, raw = play(True, tmp), play(False, tmp)
    print(f"{'conversation':<52}{'msgs':>5}{'parts':>7}{'parts':>7}{'saving':>11}")
    print(f"{'':<52}{'':>5}{'folded':>7}{'raw':>7}{'raw/folded':>11}")
    tot_f = tot_r = 0
    for name in SCRIPTS:
        n, pf, ef = folded[name]
        _, pr, er = raw[name]
        tot_f, tot_r = tot_f + pf, tot_r + pr
        print(f"{name:<52}{n:>5}{pf:>7}{pr:>7}{pr / pf:>11.2f}   "
              f"fold {dict(ef)}  raw {dict(er)}")
    print(f"{'total':<52}{'':>5}{tot_f:>7}{tot_r:>7}{tot_r / tot_f:>11.2f}")
    if price:
        print(f"cost at {price:g} per part: {tot_f * price:,.0f} folded vs "
              f"{tot_r * price:,.0f} raw")


if __name__ == "__main__":
    main()
