"""The layers of docs/architecture.md hold: the engine loads no web framework or database, no
module of bot/ imports one that imports it back, and staff read broadcast errors by code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.broadcasts.errors import BroadcastError, staff_message
from bot.broadcasts.models import InvalidTransition
from bot.broadcasts.segments import normalize


def test_importing_the_engine_loads_neither_flask_nor_sqlalchemy():
    code = ("import bot.engine, sys; "
            "print(sorted(m for m in ('flask', 'sqlalchemy', 'werkzeug') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_from_bot_import_create_app_still_works():
    code = "from bot import create_app; import bot.app; assert create_app is bot.app.create_app"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_import_cycle_between_modules():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("bot")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert cycles == []


def test_staff_messages_are_chosen_by_code_not_by_the_english_text():
    # The CLI's English wording may change: the French sentence follows the code.
    reworded = BroadcastError("titles are limited to 120 characters", "title")
    assert staff_message(reworded) == "Le titre doit avoir de 1 à 120 caractères."
    missing = BroadcastError("cannot send: set TWILIO_WHATSAPP_FROM", "no_sender",
                             names="TWILIO_WHATSAPP_FROM")
    assert staff_message(missing).endswith("Réglages manquants : TWILIO_WHATSAPP_FROM.")
    assert staff_message(InvalidTransition("broadcast 3 changed meanwhile")) == (
        "Impossible : cette annonce a déjà changé d'état (rechargez la page).")
    with pytest.raises(ValueError) as info:
        normalize({"age": ["vieux"]})
    assert staff_message(info.value).startswith("Tranche d'âge illisible")
    # An error without a code of its own keeps its reason after a French sentence.
    assert staff_message(BroadcastError("channel policy must be one of auto, sms")) == (
        "Impossible : channel policy must be one of auto, sms")
