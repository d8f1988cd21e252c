"""Phone numbers: E.164 normalisation (Google's libphonenumber) and masking for logs."""

from __future__ import annotations

import phonenumbers


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
