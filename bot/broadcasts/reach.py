"""Whether and how an announcement can reach a contact: the ONE rule (issue 12).

`decide` takes what is known of a contact (`Facts`) and the broadcast's channel policy and
returns a `Reach`: sendable on a route (``sms``, ``whatsapp`` free text, ``whatsapp``
approved template) or left out with exactly one reason of SKIP_REASONS. Every caller uses it,
so none can disagree: the compose page's counter (bot.admin.broadcasts via `planner.count`),
the preview of the web page, of ``essbot broadcast preview`` and of DIFFUSER
(`planner.preview`), the outbox written when sending starts (`planner.start`), and the sender's
last check before each request and its WhatsApp fallback (bot.broadcasts.sender).

The reasons, checked in this order (the first that applies is the one counted):

==========================  ===================================================================
``test_phone``              a staff simulator test phone (bot.phones.is_test_phone): never a
                            real person
``demo_contact``            a demo contact of ``essbot actors seed-demo`` (bot.phones
                            DEMO_PHONE_PREFIX): a number outside Mali's plan
``opted_out``               the person sent STOP: STOP always wins, whatever their consent
``no_consent``              the person never agreed to receive announcements (or said no):
                            only `Contact.announcements` True counts — registration, import
                            column ``annonces = oui``, the ABONNER keyword, or an agent
``invalid_number``          Twilio refused the number on the channel (21211/21614, recorded in
                            `UndeliverableAddress` since their last message there)
``whatsapp_window_closed``  WhatsApp only, outside the 24-hour window, no approved template for
                            their language, and no SMS possible (or the policy is WhatsApp only)
``no_channel``              never wrote by SMS or WhatsApp and the number is not a mobile one,
                            so no SMS can be originated to it
==========================  ===================================================================

Routes (policy ``auto``): the channel the person last wrote on. SMS is possible to a number
that wrote by SMS, and to any *mobile* number with consent even if it never wrote (an SMS can
always be originated to a mobile; `bot.phones.is_mobile`). WhatsApp only to a number that wrote
on WhatsApp: free text inside the 24-hour customer service window (`Contact.whatsapp_window_open`
/ `Contact.WHATSAPP_WINDOW_S`, docs/twilio.md "WhatsApp"), outside it the approved template of
their language, else SMS. Policy ``sms`` or ``whatsapp`` keeps to one channel.

`fact_columns` / `facts_of` read the facts of many contacts in SQL (one GROUP BY for a
preview); `contact_facts` reads one contact (the sender). They are the only readers of the
facts, next to the rule that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.models import Actor, Contact
from bot.models.broadcasts import SKIP_REASONS, UndeliverableAddress
from bot.phones import DEMO_PHONE_PREFIX, TEST_PHONE_PREFIX, is_mobile, is_test_phone

#: Reasons that concern the person, not a channel: such contacts are counted in the plan but
#: never written to the outbox (a row per contact who cannot be sent to anyway would be noise).
PERSON_REASONS = ("test_phone", "demo_contact", "opted_out", "no_consent")

assert set(PERSON_REASONS) <= set(SKIP_REASONS)


@dataclass(frozen=True)
class Facts:
    """What decides a contact's reach, all booleans unless said:

    ``consent`` (`Contact.announcements` is True), ``opted_out`` (STOP), ``demo`` and
    ``test_phone`` (the number's range), ``mobile`` (the number is a mobile one: an SMS can be
    originated to it), ``has_sms`` / ``has_wa`` (wrote on the channel), ``wa_open`` (inside the
    WhatsApp 24-hour window now), ``sms_invalid`` / ``wa_invalid`` (refused by Twilio since
    their last message there), ``last_channel`` (str or None: the channel they last wrote on).
    """

    consent: bool
    opted_out: bool
    demo: bool
    test_phone: bool
    mobile: bool
    has_sms: bool
    has_wa: bool
    wa_open: bool
    sms_invalid: bool
    wa_invalid: bool
    last_channel: str | None


@dataclass(frozen=True)
class Reach:
    """The decision for one contact: ``ok`` with ``channel`` ("sms" or "whatsapp") and
    ``kind`` ("text" or "template"), or not ok with ``reason`` (one of SKIP_REASONS)."""

    ok: bool
    channel: str | None = None
    kind: str = "text"
    reason: str | None = None

    @property
    def route(self) -> str | None:
        """The route's name in previews: "sms", "whatsapp" or "whatsapp_template"; None when
        not ok."""
        if not self.ok:
            return None
        return self.channel if self.kind == "text" else f"{self.channel}_{self.kind}"


def _skip(reason: str) -> Reach:
    return Reach(False, None, "text", reason)


def person_reason(facts: Facts) -> str | None:
    """The reason the *person* is left out whatever the channel (test phone, demo contact,
    STOP, no consent — in that order), or None. The first step of `decide`."""
    if facts.test_phone:
        return "test_phone"
    if facts.demo:
        return "demo_contact"
    if facts.opted_out:
        return "opted_out"
    if not facts.consent:
        return "no_consent"
    return None


def person_reason_for(phone: str, opted_out: bool, consent: bool | None) -> str | None:
    """`person_reason` from a contact's columns: `phone` (E.164), `opted_out` and
    `announcements` (`consent`, True/False/None). For the sender's check of a row just
    before its request (someone may have sent STOP, or an agent withdrawn the consent,
    since the plan)."""
    return person_reason(Facts(consent=consent is True, opted_out=bool(opted_out),
                               demo=phone.startswith(DEMO_PHONE_PREFIX),
                               test_phone=is_test_phone(phone), mobile=False, has_sms=False,
                               has_wa=False, wa_open=False, sms_invalid=False,
                               wa_invalid=False, last_channel=None))


def decide(facts: Facts, policy: str = "auto", template_ok: bool = False) -> Reach:
    """Whether and how an announcement reaches the contact of `facts` now.

    `policy` is one of CHANNEL_POLICIES ("auto", "sms", "whatsapp"); `template_ok` says
    whether the contact's language has an approved WhatsApp template (ESSBOT_WHATSAPP_TEMPLATES).
    Returns a Reach (see the module docstring for the order of the reasons and the routes).
    Pure: no clock, no database; never raises.
    """
    reason = person_reason(facts)
    if reason is not None:
        return _skip(reason)
    sms_possible = facts.has_sms or facts.mobile
    sms_ok = sms_possible and not facts.sms_invalid
    wa_ok = facts.has_wa and not facts.wa_invalid
    if policy == "sms":
        if sms_ok:
            return Reach(True, "sms")
        return _skip("invalid_number" if sms_possible else "no_channel")
    if policy == "whatsapp" and not wa_ok:
        return _skip("invalid_number" if facts.has_wa else "no_channel")
    if wa_ok and (policy == "whatsapp" or facts.last_channel == "whatsapp" or not sms_ok):
        if facts.wa_open:
            return Reach(True, "whatsapp")
        if template_ok:
            return Reach(True, "whatsapp", "template")
        if sms_ok and policy != "whatsapp":
            return Reach(True, "sms")
        return _skip("whatsapp_window_closed")
    if sms_ok:
        return Reach(True, "sms")
    if sms_possible or facts.has_wa:
        return _skip("invalid_number")
    return _skip("no_channel")


def fallback(facts: Facts, policy: str = "auto", template_ok: bool = False) -> Reach:
    """Where to send instead after WhatsApp free text failed or would fail (window closed,
    Twilio 63016): `decide` as if the window were closed and WhatsApp their last channel —
    the template, else SMS (unless the policy is WhatsApp only), else left out."""
    return decide(replace(facts, wa_open=False, last_channel="whatsapp"), policy, template_ok)


# --- reading the facts -----------------------------------------------------------------------

def _flag(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.case((cond, 1), else_=0)


def fact_columns(now: datetime, language: sa.ColumnElement[str]
                 ) -> tuple[list[Any], sa.FromClause]:
    """SQL columns of the facts (0/1 flags, ``last_channel``, ``language`` given as
    `language`, and ``probe_phone``) and the FROM clause (contact LEFT JOIN actor and the
    undeliverable flags) that previews group by and the planner reads row by row.

    ``probe_phone`` is the phone only where `is_mobile` matters (consenting contacts who never
    wrote by SMS), NULL elsewhere: a preview's GROUP BY stays a handful of groups for the
    people who wrote, and the mobile check runs in Python (phonenumbers) on the others only.
    `now` is an aware datetime (the WhatsApp window's end is computed from it).
    """
    c, a = Contact.__table__, Actor.__table__
    u = UndeliverableAddress.__table__
    us, uw = u.alias("u_sms"), u.alias("u_wa")
    cutoff = now - timedelta(seconds=Contact.WHATSAPP_WINDOW_S)

    def invalid(alias: sa.Alias, last: sa.Column) -> sa.ColumnElement[int]:
        # The flag counts only until the person writes again on that channel.
        return _flag(sa.and_(alias.c.id.is_not(None),
                             sa.or_(last.is_(None), alias.c.created_at > last)))

    demo = c.c.phone.like(DEMO_PHONE_PREFIX + "%")
    test = c.c.phone.like(TEST_PHONE_PREFIX + "%")
    consent = c.c.announcements.is_(True)
    probe = sa.case((sa.and_(consent, c.c.last_inbound_sms_at.is_(None), sa.not_(demo),
                             sa.not_(test)), c.c.phone), else_=None)
    columns = [
        language.label("language"),
        c.c.last_channel.label("last_channel"),
        _flag(c.c.last_inbound_sms_at.is_not(None)).label("has_sms"),
        _flag(c.c.last_inbound_whatsapp_at.is_not(None)).label("has_wa"),
        _flag(c.c.last_inbound_whatsapp_at > cutoff).label("wa_open"),
        invalid(us, c.c.last_inbound_sms_at).label("sms_invalid"),
        invalid(uw, c.c.last_inbound_whatsapp_at).label("wa_invalid"),
        _flag(c.c.opted_out).label("opted_out"),
        _flag(consent).label("consent"),
        _flag(demo).label("demo"),
        _flag(test).label("test_phone"),
        probe.label("probe_phone"),
    ]
    source = (c.outerjoin(a, a.c.contact_id == c.c.id)
              .outerjoin(us, sa.and_(us.c.contact_id == c.c.id, us.c.channel == "sms"))
              .outerjoin(uw, sa.and_(uw.c.contact_id == c.c.id, uw.c.channel == "whatsapp")))
    return columns, source


#: Names of `fact_columns`, in order (rows of the planner are unpacked by them).
FACT_NAMES = ("language", "last_channel", "has_sms", "has_wa", "wa_open", "sms_invalid",
              "wa_invalid", "opted_out", "consent", "demo", "test_phone", "probe_phone")


def facts_of(row: Any, country: str = "ML") -> Facts:
    """The Facts of a row read through `fact_columns` (attribute access by FACT_NAMES).
    `country` is ESSBOT_COUNTRY (for the mobile check of ``probe_phone``)."""
    return Facts(consent=bool(row.consent), opted_out=bool(row.opted_out), demo=bool(row.demo),
                 test_phone=bool(row.test_phone),
                 mobile=bool(row.probe_phone) and is_mobile(row.probe_phone, country),
                 has_sms=bool(row.has_sms), has_wa=bool(row.has_wa), wa_open=bool(row.wa_open),
                 sms_invalid=bool(row.sms_invalid), wa_invalid=bool(row.wa_invalid),
                 last_channel=row.last_channel)


def contact_facts(conn: sa.Connection, contact_id: int, now: datetime,
                  country: str = "ML") -> Facts:
    """The Facts of one contact now, read inside the caller's transaction (the sender's last
    check and its fallback). Raises sqlalchemy NoResultFound for an unknown contact."""
    c, u = Contact.__table__, UndeliverableAddress.__table__
    row = conn.execute(sa.select(c).where(c.c.id == contact_id)).one()
    flags = dict(conn.execute(sa.select(u.c.channel, u.c.created_at)
                              .where(u.c.contact_id == contact_id)).all())

    def invalid(channel: str, last: datetime | None) -> bool:
        flagged = flags.get(channel)
        return flagged is not None and (last is None or flagged > last)

    return Facts(consent=row.announcements is True, opted_out=bool(row.opted_out),
                 demo=row.phone.startswith(DEMO_PHONE_PREFIX),
                 test_phone=is_test_phone(row.phone),
                 mobile=is_mobile(row.phone, country),
                 has_sms=row.last_inbound_sms_at is not None,
                 has_wa=row.last_inbound_whatsapp_at is not None,
                 wa_open=Contact.window_open(row.last_inbound_whatsapp_at, now),
                 sms_invalid=invalid("sms", row.last_inbound_sms_at),
                 wa_invalid=invalid("whatsapp", row.last_inbound_whatsapp_at),
                 last_channel=row.last_channel)
