"""Phone numbers: E.164 normalisation (Google's libphonenumber) and masking for logs."""

from __future__ import annotations

import re

import phonenumbers

#: A WhatsApp business-scoped user id (BSUID), which Meta gives a person instead of their phone
#: number once they use a WhatsApp username: a two-letter country code, a dot, an optional
#: ``ENT.`` (a parent BSUID) and up to 128 letters and digits, e.g. ``US.13491208655302741918``
#: (docs/twilio.md "WhatsApp").
_WHATSAPP_USER_ID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
#: Longest contact address stored: a BSUID (2 + 1 + 4 + 128 characters), with room to spare.
MAX_ADDRESS_CHARS = 160


def whatsapp_user_id(address: str | None) -> str | None:
    """The business-scoped user id in a WhatsApp address (``whatsapp:US.1349…`` or the bare
    id), or None when `address` is not one (a phone number, say)."""
    raw = (address or "").strip()
    if raw.lower().startswith("whatsapp:"):
        raw = raw.split(":", 1)[1]
    return raw if _WHATSAPP_USER_ID.fullmatch(raw) else None


class InvalidPhone(ValueError):
    """Raised when an address cannot be read as a phone number."""


def to_e164(address: str, country: str = "ML") -> str:
    """Return `address` as an E.164 string (``+22370000001``).

    Takes a raw address as Twilio or a person gives it: ``whatsapp:+223…``,
    ``+223 70 00 00 01``, or a national number read in `country` (ISO 3166
    alpha-2; Mali numbers are +223 followed by 8 digits). Raises InvalidPhone when
    the text is not a possible number. Possibility, not validity, is checked:
    numbering plans change faster than the library and a real sender must never be
    refused.
    """
    raw = (address or "").strip()
    if ":" in raw:
        raw = raw.split(":", 1)[1]
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(phone: str | None) -> str:
    """Return `phone` with all but the country code and last two digits hidden.

    ``+22370000001`` → ``+223******01``. Used wherever a number reaches a log.
    """
    if not phone:
        return "-"
    digits = phone.split(":", 1)[-1]
    if len(digits) <= 6:
        return "***"
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


# --------------------------------------------------------------------------------------------
# Test contacts of the staff simulator (/admin/simulator)
# --------------------------------------------------------------------------------------------

#: Prefix of the simulator's test phones: Ofcom's range of UK mobile numbers reserved for
#: drama (07700 900000 to 07700 900999, "TV, radio and other drama" numbers, never allocated
#: to anyone). A number there can never be a real person's, so it can never be confused with
#: one, and Twilio is never asked to reach it (bot.channels.twilio.send diverts it).
TEST_PHONE_PREFIX = "+447700900"
#: Demo phones (`essbot seed-demo`, bot/demo.py): +223 then 00 and six digits, not in Mali's
#: numbering plan; never in a broadcast segment.
DEMO_PHONE_PREFIX = "+22300"
#: How many test phones the range holds (three digits after the prefix).
TEST_PHONE_COUNT = 1000


def is_test_phone(phone: str | None) -> bool:
    """Whether `phone` (E.164, or a Twilio ``whatsapp:`` address) is a simulator test phone.

    The one rule that keeps test contacts out of the registry's statistics and exports and out
    of broadcasts; `exclude_test_phones` is the same rule in SQL.

    Why a reserved number range and not an ``is_test`` column on Contact: the phone is copied
    onto every registry entry (Actor.phone) and onto every contact, so the rule works on
    either table without a join (an Actor may have no contact), in logs (the masked number
    shows ``+447…``), needs no migration, and cannot drift from a flag someone forgot to set.
    """
    if not phone:
        return False
    return phone.split(":", 1)[-1].startswith(TEST_PHONE_PREFIX)


def exclude_test_phones(column):
    """SQL condition (SQLAlchemy) true for rows whose phone `column` is not a test phone.

    A NULL phone (an anonymised registry entry, a deleted contact) is kept: use it as
    ``.where(exclude_test_phones(Actor.phone))``. Same rule as `is_test_phone`.
    """
    import sqlalchemy as sa

    return sa.or_(column.is_(None), sa.not_(column.like(TEST_PHONE_PREFIX + "%")))
