"""SMS cost of whole conversations: outbound parts with GSM-7 folding on and off.

Plays scripted conversations (what people type) through the real message path
(`bot.conversations.handle_inbound`, SQLite in a temporary folder) on the SMS channel,
once with ESSBOT_SMS_FOLDING on and once off, and prints for each conversation the
messages the person sent, the bot's messages (one SMS each, of one or more parts), their
parts folded and raw, the encodings used, the cost at ESSBOT_PRICE_PER_PART, and the ratio
raw/folded — what the folding saves. Then the goals of issue 15, measured folded: parts per
bot message (goal ≤ 1.1), and the replies to one inbound message that took more than 2 parts
although the person had not asked for more with "9" (goal: none).

    python bench/cost.py [--price 25] [--show]

``--show`` prints every bot message of more than one part (what to shorten next).

Add a script to SCRIPTS when a dialog is added (registration, information menus).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass

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
    # Several answers in one message (issue 15): the person sends 5 SMS.
    "registration, several answers at once, French": [
        "INSCRIPTION Aminata Traoré, femme, née en 1985, Badialan 2, couturière, "
        "besoins: formation et crédit", "1", "oui", "5", "oui",
    ],
    "registration, several answers at once, Bambara typed plainly": [
        "INSCRIPTION Aminata Traore, muso, 1985, Badialan 2, couturiere, besoins: kalan ni wari",
        "2", "awo", "ayi", "awo",
    ],
    # Articles opened from the menus, with the parts the person asks for (issue 15): every
    # topic of a category, then its conditions, steps and where to go.
    "articles and their details from the menus, French": [
        "Bonjour", "1", "2", "1", "1", "1", "9", "2", "3", "4", "0", "2", "2", "4", "0", "3",
        "0", "4", "0", "5", "0", "6", "3", "0", "0", "2", "1", "4", "0", "2", "0", "0", "4",
        "1", "0", "MENU",
    ],
    "articles and their details from the menus, Bambara": [
        "i ni ce", "fila", "kelen", "kelen", "fila", "saba", "naani", "0", "fila", "0",
        "0", "fila", "kelen", "naani", "0", "0", "naani", "kelen", "fila", "0", "MENU",
    ],
    # Free questions as a new user types them, one per scheme.
    "free questions on every scheme, French": [
        "Bonjour", "1", "c'est quoi le RAMU", "l'AMO c'est quoi", "le RAMED",
        "la retraite INPS", "assurance volontaire", "mutuelle de santé", "jigisemejiri",
        "l'APEJ", "ANPE", "FAFPA", "microfinance", "APCMM", "CNAPESS", "DNPSES",
        "politique nationale ESS", "carte professionnelle d'artisan",
        "la politique ESS de la commune", "le registre ESS",
    ],
    "free questions on several schemes, Bambara": [
        "i ni ce", "fila", "ramu", "amo", "ramed", "apej", "anpe", "fafpa", "kafo jiginew",
        "apcmm",
    ],
}


@dataclass
class Played:
    """One conversation played: `inbound` messages the person sent, `messages` the bot sent
    (one SMS each), their `parts` (SMS segments), `encodings` (Counter of "GSM-7"/"UCS-2"),
    `long_replies` (inputs whose whole reply took more than 2 parts although the input was not
    "9", with the parts) and `multipart` (the bot's messages of more than one part, with the
    input they answer)."""

    inbound: int
    messages: int
    parts: int
    encodings: Counter
    long_replies: list[tuple[str, int]]
    multipart: list[tuple[str, int, str]]


def play(fold: bool, workdir: str) -> dict[str, Played]:
    """Run every script on the SMS channel, folding on or off; return name → Played."""
    from bot import sms
    from bot.app import create_app
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
        long_replies: list[tuple[str, int]] = []
        multipart: list[tuple[str, int, str]] = []
        for text in inputs:
            result = handle_inbound(app, console.inbound(phone, text, "sms"))
            parts = [sms.analyze(r.body).segments for r in result.replies]
            if sum(parts) > 2 and text.strip() != "9":
                long_replies.append((text, sum(parts)))
            multipart += [(text, n, r.body) for n, r in zip(parts, result.replies) if n > 1]
        with get_engine(app).connect() as conn:
            rows = conn.execute(
                sa.select(Message.segments, Message.encoding, Message.body).join(Contact)
                .where(Contact.phone == phone, Message.direction == "out")
                .order_by(Message.id)).all()
        if name.startswith("registration") and "ESS3-" not in rows[-1].body:
            # A script that no longer completes would silently measure something else.
            raise SystemExit(f"script {name!r} did not complete a registration: "
                             f"last reply {rows[-1].body!r}")
        results[name] = Played(len(inputs), len(rows), sum(r.segments for r in rows),
                               Counter(r.encoding for r in rows), long_replies, multipart)
    get_engine(app).dispose()
    return results


def main() -> None:
    """Parse the options, play every conversation folded and raw, print parts per conversation,
    the totals and the issue-15 goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--price", type=float, default=None,
                        help="price of one SMS part (default: ESSBOT_PRICE_PER_PART or 0)")
    parser.add_argument("--show", action="store_true",
                        help="print every bot message of more than one part")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ESSBOT_INSTANCE_PATH"] = tmp
        price = args.price if args.price is not None else float(
            os.environ.get("ESSBOT_PRICE_PER_PART") or 0)
        folded, raw = play(True, tmp), play(False, tmp)
    print(f"{'conversation':<54}{'in':>4}{'msgs':>5}{'parts':>7}{'parts':>7}{'saving':>11}"
          f"{'parts':>7}")
    print(f"{'':<54}{'':>4}{'':>5}{'folded':>7}{'raw':>7}{'raw/folded':>11}{'/msg':>7}")
    tot_in = tot_n = tot_f = tot_r = 0
    for name in SCRIPTS:
        f, r = folded[name], raw[name]
        tot_in, tot_n, tot_f, tot_r = tot_in + f.inbound, tot_n + f.messages, tot_f + f.parts, \
            tot_r + r.parts
        print(f"{name:<54}{f.inbound:>4}{f.messages:>5}{f.parts:>7}{r.parts:>7}"
              f"{r.parts / f.parts:>11.2f}{f.parts / f.messages:>7.2f}   "
              f"fold {dict(f.encodings)}  raw {dict(r.encodings)}")
    print(f"{'total':<54}{tot_in:>4}{tot_n:>5}{tot_f:>7}{tot_r:>7}{tot_r / tot_f:>11.2f}"
          f"{tot_f / tot_n:>7.2f}")
    long_replies = [(name, text, n) for name in SCRIPTS for text, n in folded[name].long_replies]
    single = sum(1 for name in SCRIPTS for _ in range(folded[name].messages)) - sum(
        len(folded[name].multipart) for name in SCRIPTS)
    print(f"parts per bot message (folded): {tot_f / tot_n:.2f} (goal <= 1.1); "
          f"messages in one part: {single} of {tot_n}; "
          f"replies over 2 parts not asked for with 9: {len(long_replies)} (goal 0)")
    for name, text, n in long_replies:
        print(f"  {n} parts: {text!r} in {name!r}")
    if args.show:
        for name in SCRIPTS:
            for text, n, body in folded[name].multipart:
                print(f"--- {n} parts after {text!r} ({name}):\n{body}")
    if price:
        print(f"cost at {price:g} per part: {tot_f * price:,.0f} folded vs "
              f"{tot_r * price:,.0f} raw")


if __name__ == "__main__":
    main()
