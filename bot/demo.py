"""Demo data: a registry of made-up ESS actors for demonstrations and benchmarks.

``essbot actors seed-demo --count 50000 [--seed N]`` (or :func:`seed_demo`) writes contacts and
registry entries (bot.models ``Contact`` and ``Actor``) with bulk Core inserts in one
transaction: 3 to 8 s for 50,000 actors on SQLite on a shared 2-core machine.

**Demo data is marked twice**, so it can never be taken for real people nor reach one:

- phones are in ``+223 00 xx xx xx``, a range that does not exist in Mali's numbering plan
  (libphonenumber: possible length, not a valid number; Mali numbers start with 2, 4, 6, 7, 8
  or 9 after +223), so a message sent to one fails at the provider;
- every entry has ``consent_version = "demo"`` (real ones carry the consent text's version,
  e.g. ``2026-11-1``) and registration codes ``DEMO-000001``…

Seeding replaces earlier demo data, and refuses to run on a database that holds real
(non-demo) registry entries unless forced (DemoRefused).

What is realistic and what is not. Values are the registry's own: option keys of
dialogs/registration.yaml (kind, gender, sector, legal form, protection, needs) and quartiers of
dialogs/places/commune3.yaml. The quartiers where, per the commune's presentation, artisans
concentrate (Koulouninko, Sirakoro-Dounfing, Koulouba, Sogonafing: docs/domain.md §1) get a higher
weight, the market quartier N'Tomikorobougou a little more. **Every other weight (sector
shares, gender, ages, languages, channels, needs, protection, unfinished and deleted shares)
is illustrative, not a survey figure**: it only makes the charts look like a registry.

Names are combinations of given names and family names (jamu) that appear in these public
pages (none gives frequencies, so names are drawn uniformly): journaldumali.com "Jamu Duman"
(Traoré, Coulibaly, Diarra, Cissé, Sacko; Salif Traoré); sevenweeksinmali.blogspot.com "Les noms
de famille maliennes" (2009: Mariam Diakité, Binta and Aminata Koulibali, Nana Sidibé, Salimata
Koné, Oumou Keita); fakan.ml "Dictionnaire des noms de famille" (N'Do Cissé: Koné, Cissé,
Diarra); farafinainfo.com "Manden si" (Keïta, Kanté, Touré, Kouyaté); soninkara.org, quoting Jan
Jansen on the griots of Kéla (Konaté, Diabaté); bamada.net "L'homonymie au crible" (Hawa
Ouattara, Saydou Dolo, Diakaridia, Yahya, Modibo, Oumou Fofana); maliactu.net "Dis-moi de quel
prénom tu t'appelles" (Ogobara Doumbo; Saran, Penda, N'Golo, Diala, Ousmane, Ibrahim, Mohamed);
revedehaut.mondoblog.org on Malinké names (Camara); synonyme-du-mot.com (Sissoko, "surtout
porté au Mali"); unprenomparfait.fr (Fatoumata, Mahamadou, common in Mali); a thesis on
Bamako graduates in Paris (yumpu.com: Mamadou); and "Awa Traoré", the example of the
registration dialog. Organisation names are built from a legal form, a trade and a quartier
("Coopérative des teinturières de Sogonafing").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask

from bot.cli_support import database_command
from bot.models import Actor, Contact, utcnow
from bot.phones import DEMO_PHONE_PREFIX
from bot.stats import registry_labels
from bot.db import transaction
from bot.registry.fields import search_key

#: Marks every demo entry (``Actor.consent_version``).
DEMO_CONSENT = "demo"
#: Registration codes of demo entries: DEMO-000001…
DEMO_CODE_PREFIX = "DEMO-"
#: How far back registrations go (days): about 18 months.
SPAN_DAYS = 548

FEMALE = ("Awa", "Aminata", "Fatoumata", "Mariam", "Oumou", "Hawa", "Salimata", "Binta", "Nana",
          "Saran", "Penda")
MALE = ("Mamadou", "Mahamadou", "Modibo", "Ousmane", "Ibrahim", "Saydou", "Salif", "N'Golo",
        "Diala", "Ogobara", "Diakaridia", "Yahya", "Mohamed")
FAMILY = ("Traoré", "Coulibaly", "Diarra", "Cissé", "Sacko", "Diakité", "Koné", "Sidibé",
          "Keïta", "Kanté", "Touré", "Konaté", "Kouyaté", "Ouattara", "Dolo", "Fofana", "Camara",
          "Sissoko", "Diabaté")

#: Trades written by demo actors, by sector key of the dialog (a sector not listed here
#: falls back to the words the dialog accepts for it).
TRADES = {
    "artisanat_production": ("menuisier", "forgeron", "soudeur", "potière", "cordonnier",
                             "bijoutier"),
    "artisanat_service": ("coiffeuse", "mécanicien", "réparation de téléphones", "plombier",
                          "électricien"),
    "agriculture": ("maraîchage", "élevage de volailles", "transformation de céréales",
                    "pêche"),
    "commerce": ("vente de tissus", "boutique", "vente de céréales", "commerçante au marché"),
    "textile": ("couturière", "tailleur", "teinture de bazin", "tissage"),
    "batiment": ("maçon", "carreleur", "peintre en bâtiment"),
    "restauration": ("restauratrice", "vente de plats", "traiteur", "jus de fruits"),
    "autre": ("transport", "secrétariat", "photographie"),
}
#: Illustrative weights of the sectors, by dialog key (unlisted keys weigh 5).
SECTOR_WEIGHTS = {"commerce": 25, "textile": 15, "artisanat_production": 14,
                  "artisanat_service": 14, "restauration": 10, "agriculture": 8, "batiment": 6,
                  "autre": 8}
NEED_WEIGHTS = {"financement": 35, "formation": 25, "equipement": 15, "acces_marche": 12,
                "protection_sociale": 8, "formalisation": 5}
PROTECTION_WEIGHTS = {"aucune": 55, "mutuelle": 12, "amo": 8, "inps": 6, "ramed": 3,
                      "skip": 10}
LEGAL_FORM_WEIGHTS = {"association": 30, "cooperative": 25, "groupement": 25, "gie": 10,
                      "mutuelle": 4, "autre": 6}
#: Quartiers of Commune III where artisans concentrate (docs/domain.md §1) and the market quartier.
BUSY_QUARTIERS = {"Koulouninko": 2.5, "Sirakoro-Dounfing": 2.5, "Koulouba": 2.5,
                  "Sogonafing": 2.5, "N'Tomikorobougou": 1.5}
OUTSIDE_TEXTS = ("Commune II", "Commune IV", "Commune V", "Commune VI", "Kati")

#: Illustrative shares (0-1).
SHARE_ORGANISATION = 0.15
SHARE_FEMALE = 0.52
SHARE_UNFINISHED = 0.12
SHARE_DELETED = 0.015
SHARE_OPTED_OUT = 0.04
SHARE_OUTSIDE = 0.03
SHARE_BAMBARA = 0.62
SHARE_WHATSAPP = 0.55
SHARE_NO_BIRTH_YEAR = 0.03
SHARE_NO_PROTECTION = 0.06
#: Contacts who only asked questions (no registry entry), as a share of the actors.
SHARE_INFO_ONLY = 0.08

#: The questions of the registration, in order, for unfinished entries (stop after one).
STEPS = ("kind", "name", "gender", "birth_year", "quartier", "sector", "trade", "legal_form",
         "protection", "needs")


class DemoRefused(RuntimeError):
    """The database holds real registry entries: demo data would mix with them."""


@dataclass
class SeedResult:
    """What :func:`seed_demo` wrote: `actors` (of which `unfinished` and `deleted`), `contacts`,
    `replaced` (demo actors removed first) and `seconds` taken."""

    actors: int
    contacts: int
    unfinished: int
    deleted: int
    replaced: int
    seconds: float


def _options(store: str) -> list[str]:
    return list(registry_labels().get(store, {}))


def _weighted(rng: random.Random, weights: dict[str, float], keys: list[str], k: int) -> list[str]:
    return rng.choices(keys, weights=[weights.get(key, 5) for key in keys], k=k)


#: Plurals of the trades that name an organisation's members ("des couturières").
PLURALS = {"couturière": "couturières", "teinture de bazin": "teinturières",
           "maraîchage": "maraîchères", "coiffeuse": "coiffeuses", "menuisier": "menuisiers",
           "forgeron": "forgerons", "soudeur": "soudeurs", "potière": "potières",
           "tailleur": "tailleurs", "maçon": "maçons", "restauratrice": "restauratrices",
           "mécanicien": "mécaniciens", "cordonnier": "cordonniers"}
#: Other names of groups: "groupement de femmes / de jeunes" are words of the dialog's legal
#: form question, "Benkadi" the name in its example "Musow ka jɛkulu Benkadi".
GROUP_NAMES = ("des femmes", "des jeunes", "Benkadi")


def _org_name(rng: random.Random, legal_form: str, trade: str, quartier: str | None) -> str:
    """A plausible organisation name: "Coopérative des couturières de Samé"."""
    form = registry_labels().get("legal_form", {}).get(legal_form, "Groupement")
    if form == "Autre":
        form = "Groupement"
    where = quartier if quartier and not quartier.startswith("Hors") else "Bamako"
    what = f"des {PLURALS[trade]}" if trade in PLURALS and rng.random() < 0.6 \
        else rng.choice(GROUP_NAMES)
    return f"{form} {what} de {where}"


def build_rows(count: int, seed: int | None, now: datetime) -> tuple[list[dict], list[dict]]:
    """Generate `count` demo registry entries and their contacts, without touching a database.

    Returns ``(contacts, actors)``: lists of column dicts for ``contact`` and ``actor``; an
    actor's ``"phone"`` links it to its contact (deleted entries have no contact, like after a
    real deletion). The same `seed` and `now` (aware UTC) give the same rows. Raises
    ValueError when `count` is negative.
    """
    if count < 0:
        raise ValueError("count must be positive")
    rng = random.Random(seed)
    labels = registry_labels()
    quartiers = [q for q in labels["quartier"] if not q.startswith("Hors")]
    outside = next((q for q in labels["quartier"] if q.startswith("Hors")), None)
    sectors, needs_keys = _options("sector"), _options("needs")
    protection_keys = [k for k in _options("protection")]
    legal_forms = _options("legal_form")
    genders = _options("gender")  # femme, homme
    female = "femme" if "femme" in genders else genders[0]
    male = next(g for g in genders if g != female)
    span = SPAN_DAYS * 86400
    year = now.year

    # Registration start times: more recent months weigh more (a registry that grows),
    # drawn as the larger of two uniform draws on part of the draws.
    def started_at() -> datetime:
        x = max(rng.random(), rng.random()) if rng.random() < 0.7 else rng.random()
        return now - timedelta(seconds=int(span * (1 - x)) + rng.randint(60, 3600))

    contacts: list[dict] = []
    actors: list[dict] = []
    q_weights = [BUSY_QUARTIERS.get(q, 1.0) for q in quartiers]
    for n in range(1, count + 1):
        phone = f"{DEMO_PHONE_PREFIX}{n:06d}"
        created = started_at()
        kind = "organisation" if rng.random() < SHARE_ORGANISATION else "individu"
        gender = female if rng.random() < SHARE_FEMALE else male
        first = rng.choice(FEMALE if gender == female else MALE)
        person = f"{first} {rng.choice(FAMILY)}"
        r = rng.random()
        age = rng.randint(15, 17) if r < 0.02 else rng.randint(18, 40) if r < 0.62 else \
            rng.randint(41, 59) if r < 0.93 else rng.randint(60, 78)
        birth_year = None if rng.random() < SHARE_NO_BIRTH_YEAR else year - age
        if outside and rng.random() < SHARE_OUTSIDE:
            quartier, quartier_text = outside, rng.choice(OUTSIDE_TEXTS)
        else:
            quartier, quartier_text = rng.choices(quartiers, weights=q_weights)[0], None
        sector = _weighted(rng, SECTOR_WEIGHTS, sectors, 1)[0]
        trade = rng.choice(TRADES.get(sector) or (sector,))
        needs = sorted(set(_weighted(rng, NEED_WEIGHTS, needs_keys, rng.randint(1, 3))),
                       key=needs_keys.index)
        if rng.random() < SHARE_NO_PROTECTION:
            protection = None
        else:
            first_p = _weighted(rng, PROTECTION_WEIGHTS, protection_keys, 1)[0]
            protection = [first_p]
            if first_p not in ("aucune", "skip") and rng.random() < 0.15:
                extra = rng.choice([k for k in protection_keys if k not in ("aucune", "skip")])
                protection = sorted({first_p, extra}, key=protection_keys.index)
        language = "bm" if rng.random() < SHARE_BAMBARA else "fr"
        channel = "whatsapp" if rng.random() < SHARE_WHATSAPP else "sms"
        actor: dict[str, Any] = {
            "phone": phone, "language": language, "channel": channel, "kind": kind,
            "name": person if kind == "individu" else None,
            "org_name": None, "contact_name": person if kind == "organisation" else None,
            "gender": gender, "birth_year": birth_year,
            "birth_band": f"{birth_year // 10 * 10}-{birth_year // 10 * 10 + 9}"
            if birth_year else None,
            "quartier": quartier, "quartier_text": quartier_text, "sector": sector,
            "trade": trade, "legal_form": None, "members_count": None, "formalised": None,
            "protection": protection, "needs": needs, "consent_at": created,
            "consent_version": DEMO_CONSENT, "completeness": 100, "registered_at": None,
            "deleted_at": None, "created_at": created, "updated_at": created,
            "registration_code": None,
        }
        if kind == "organisation":
            form = _weighted(rng, LEGAL_FORM_WEIGHTS, legal_forms, 1)[0]
            actor.update(legal_form=form, members_count=rng.randint(5, 60),
                         formalised=rng.random() < 0.5,
                         org_name=_org_name(rng, form, trade, quartier))
        if rng.random() < SHARE_UNFINISHED:
            stop = rng.randrange(1, len(STEPS))
            for step in STEPS[stop:]:
                if step == "name":
                    actor.update(name=None, org_name=None, contact_name=None)
                elif step == "legal_form":
                    actor.update(legal_form=None, members_count=None, formalised=None)
                elif step == "quartier":
                    actor.update(quartier=None, quartier_text=None)
                elif step == "birth_year":
                    actor.update(birth_year=None, birth_band=None)
                else:
                    actor[step] = [] if step == "needs" else None
            actor["completeness"] = round(100 * stop / len(STEPS))
            actor["updated_at"] = created + timedelta(minutes=rng.randint(1, 30))
        else:
            actor["registered_at"] = created + timedelta(minutes=rng.randint(4, 40))
            actor["updated_at"] = actor["registered_at"]
            actor["registration_code"] = f"{DEMO_CODE_PREFIX}{n:06d}"
        if actor["updated_at"] > now:
            actor["updated_at"] = now
            if actor["registered_at"]:
                actor["registered_at"] = now
        deleted = rng.random() < SHARE_DELETED
        if deleted:
            # As bot.conversations does on SUPPRIMER: personal fields go, counts stay.
            when = min(now, actor["updated_at"] + timedelta(days=rng.randint(1, 120)))
            actor.update(phone=None, registration_code=None, name=None, org_name=None,
                         contact_name=None, birth_year=None, quartier_text=None, trade=None,
                         members_count=None, formalised=None, protection=None, consent_at=None,
                         channel=None, language=None, deleted_at=when, updated_at=when)
        else:
            opted_out = rng.random() < SHARE_OPTED_OUT
            last = min(now, actor["updated_at"] + timedelta(days=rng.randint(0, 200)))
            contacts.append({
                "phone": phone, "language": language, "last_channel": channel,
                "last_inbound_sms_at": last if channel == "sms" else None,
                "last_inbound_whatsapp_at": last if channel == "whatsapp" else None,
                "opted_out": opted_out, "opted_out_at": last if opted_out else None,
                "opted_in_at": None, "created_at": created - timedelta(minutes=2),
                "updated_at": last,
            })
        actors.append(actor)
    for n in range(count + 1, count + 1 + int(count * SHARE_INFO_ONLY)):
        created = started_at()
        channel = "whatsapp" if rng.random() < SHARE_WHATSAPP else "sms"
        contacts.append({
            "phone": f"{DEMO_PHONE_PREFIX}{n:06d}",
            "language": "bm" if rng.random() < SHARE_BAMBARA else "fr", "last_channel": channel,
            "last_inbound_sms_at": created if channel == "sms" else None,
            "last_inbound_whatsapp_at": created if channel == "whatsapp" else None,
            "opted_out": False, "opted_out_at": None, "opted_in_at": None,
            "created_at": created, "updated_at": created,
        })
    return contacts, actors


def real_actor_count(conn: sa.Connection) -> int:
    """Registry entries that are not demo data (``consent_version`` other than "demo")."""
    a = Actor.__table__
    return int(conn.execute(sa.select(sa.func.count()).where(sa.or_(
        a.c.consent_version.is_(None), a.c.consent_version != DEMO_CONSENT))).scalar() or 0)


def seed_demo(app: Flask, count: int, *, seed: int | None = None, force: bool = False,
              now: datetime | None = None) -> SeedResult:
    """Replace the demo data of `app`'s database with `count` new demo actors (see the module
    docstring), in one transaction; return a :class:`SeedResult`.

    `seed` makes the data reproducible (with the same `now`, aware UTC, default: now).
    Raises DemoRefused when real registry entries exist and `force` is False; ValueError for a
    negative `count`.
    """
    import time

    started = time.perf_counter()
    now = now or utcnow()
    contacts, actors = build_rows(count, seed, now)
    a, c = Actor.__table__, Contact.__table__
    with transaction(app) as conn:
        real = real_actor_count(conn)
        if real and not force:
            raise DemoRefused(f"le registre contient {real} vraies fiches ; les données de "
                              "démonstration s'y mêleraient (--force pour les ajouter quand "
                              "même)")
        replaced = conn.execute(sa.delete(a).where(a.c.consent_version == DEMO_CONSENT)).rowcount
        conn.execute(sa.delete(c).where(c.c.phone.like(DEMO_PHONE_PREFIX + "%")))
        for chunk in range(0, len(contacts), 10_000):
            conn.execute(sa.insert(c), contacts[chunk:chunk + 10_000])
        ids = dict(conn.execute(sa.select(c.c.phone, c.c.id).where(
            c.c.phone.like(DEMO_PHONE_PREFIX + "%"))).all())
        for actor in actors:
            actor["contact_id"] = ids.get(actor["phone"]) if actor["phone"] else None
            # Core inserts bypass the ORM listener that fills the staff search's column.
            actor["search_text"] = search_key(actor["name"], actor["org_name"],
                                              actor["contact_name"], actor["trade"])
        for chunk in range(0, len(actors), 10_000):
            conn.execute(sa.insert(a), actors[chunk:chunk + 10_000])
    return SeedResult(actors=len(actors), contacts=len(contacts),
                      unfinished=sum(1 for x in actors if x["registered_at"] is None),
                      deleted=sum(1 for x in actors if x["deleted_at"] is not None),
                      replaced=int(replaced or 0), seconds=time.perf_counter() - started)


@click.command("seed-demo")
@click.option("--count", default=300, show_default=True, type=click.IntRange(min=0),
              help="Demo actors to create.")
@click.option("--seed", default=None, type=int, help="Random seed (same seed, same data).")
@click.option("--force", is_flag=True,
              help="Also when the registry holds real entries (demo data then mixes with it).")
@database_command
def seed_demo_command(count: int, seed: int | None, force: bool) -> None:
    """Fill the registry with made-up demo actors (phones +22300…, consent "demo").

    Earlier demo data is replaced. Refuses to run on a registry with real entries unless
    --force. Distributions are illustrative (see bot/demo.py).
    """
    from flask import current_app

    try:
        result = seed_demo(current_app._get_current_object(), count, seed=seed, force=force)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{result.actors} acteurs de démonstration ({result.unfinished} inachevés, "
               f"{result.deleted} supprimés) et {result.contacts} contacts écrits en "
               f"{result.seconds:.1f} s" + (f" ; {result.replaced} acteurs de démonstration "
                                            "précédents remplacés" if result.replaced else ""))
