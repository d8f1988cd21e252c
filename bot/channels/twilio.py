"""Twilio: SMS and WhatsApp, which differ only in addressing (``whatsapp:`` prefix) and limits.

Signatures are checked with twilio's RequestValidator, replies built with
MessagingResponse, outbound messages sent with the REST client — never by hand.
Facts used here are in docs/twilio.md (from Twilio's docs and twilio-python v9).
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Any, Iterable, Mapping

from twilio.base.exceptions import TwilioRestException  # noqa: F401  (re-exported for callers)
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot.config import setting
from bot.channels import base
from bot.channels.base import InboundMessage, OutboundReply
from bot.phones import is_test_phone, mask, to_e164, whatsapp_user_id

log = logging.getLogger(__name__)

#: Start of the message id `send` returns for a simulator test contact (never Twilio's "SM"/"MM").
SIMULATED_SID_PREFIX = "SIM"

#: Twilio's limit on one message body, in characters (Messages API and TwiML <Message>).
MAX_BODY_CHARS = 1600

#: Message statuses and their order: the one rule is bot.channels.base.merge_status.
FINAL_STATUSES = base.FINAL_STATUSES
_RANK = base.STATUS_RANK

#: Longest inbound body stored, in characters. Twilio delivers at most 1,600 on SMS and
#: 4,096 on WhatsApp; anything longer is not a real message and is cut (and flagged).
MAX_INBOUND_CHARS = 4096

_SID = re.compile(r"[A-Za-z0-9]{2,64}")
#: A Message SID: SM or MM and 32 hexadecimal digits (docs/twilio.md "Identifiers").
_MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
#: An Account SID: AC and 32 hexadecimal digits (docs/twilio.md "Identifiers").
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")

#: Inbound webhook parameters Twilio documents (docs/twilio.md "Inbound webhook"). Unknown
#: names are accepted (Twilio adds fields without notice), except one that is a documented
#: name cut or extended at an end while that name is absent: the shape a re-split makes.
DOCUMENTED_INBOUND_FIELDS = frozenset({
    "AccountSid", "AddOns", "Address", "ApiVersion", "Body", "ButtonPayload", "ButtonText",
    "ChannelMetadata", "ExternalUserId", "Forwarded", "FrequentlyForwarded", "From", "FromCity",
    "FromCountry", "FromState", "FromZip", "Label", "Latitude", "Longitude", "MessageSid",
    "MessageType", "MessagingServiceSid", "NumMedia", "NumSegments", "OriginalRepliedMessageSender",
    "OriginalRepliedMessageSid", "ProfileName", "ReferralBody", "ReferralCtwaClid",
    "ReferralHeadline", "ReferralMediaContentType", "ReferralMediaId", "ReferralMediaUrl",
    "ReferralNumMedia", "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl",
    "SmsMessageSid", "SmsSid", "SmsStatus", "To", "ToCity", "ToCountry", "ToState", "ToZip",
    "WaId",
    # Twilio sends at most 10 media per message (NumMedia).
    *(f"MediaUrl{i}" for i in range(10)), *(f"MediaContentType{i}" for i in range(10)),
})

_MEDIA_KINDS = {"audio": "audio", "image": "image", "video": "video", "application": "document"}


def channel_of(address: str) -> str:
    """Return "whatsapp" for a ``whatsapp:+…`` address, else "sms"."""
    return "whatsapp" if (address or "").lower().startswith("whatsapp:") else "sms"


def address_for(channel: str, phone: str) -> str:
    """Return the Twilio address of E.164 `phone` on `channel` (``whatsapp:+223…`` or ``+223…``)."""
    return f"whatsapp:{phone}" if channel == "whatsapp" else phone


def is_valid_signature(auth_token: str, url: str, params: Any, signature: str | None) -> bool:
    """Whether `signature` (X-Twilio-Signature) is Twilio's for `url` and form `params`.

    `url` must be the public URL Twilio called (scheme, host, path and query string;
    no fragment). `params` is the request's MultiDict (repeated keys matter). The
    comparison is constant-time (RequestValidator uses hmac.compare_digest).
    """
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


def is_valid_sid(sid: str) -> bool:
    """Whether `sid` looks like a Twilio id (letters and digits only, at most 64): anything
    else is refused before it reaches storage or logs."""
    return bool(_SID.fullmatch(sid or ""))


def is_message_sid(sid: str | None) -> bool:
    """Whether `sid` is a Twilio Message SID as documented: ``SM`` or ``MM`` followed by 32
    hexadecimal digits (Twilio, "What is a SID?" and error 90001; docs/twilio.md)."""
    return bool(_MESSAGE_SID.fullmatch(sid or ""))


def account_refusal(form: Mapping[str, str], account_sid: str | None,
                    required: bool) -> str | None:
    """Why a signed request's ``AccountSid`` is refused, or None when it is acceptable.

    `account_sid` is TWILIO_ACCOUNT_SID (None when unset: any well-formed Account SID is
    accepted). `required`: whether the parameter must be present (Twilio sends it with every
    inbound message). The reason is for the log, never for the caller.
    """
    given = form.get("AccountSid")
    if given is None:
        return "AccountSid missing" if required or account_sid else None
    if not _ACCOUNT_SID.fullmatch(given):
        return "AccountSid is not an Account SID"
    if account_sid and given != account_sid:
        return "AccountSid is not TWILIO_ACCOUNT_SID"
    return None


def inbound_refusal(form: Any, account_sid: str | None) -> str | None:
    """Why a signed inbound webhook must be refused (HTTP 403, nothing stored), or None.

    Twilio's signature covers the sorted names and values concatenated with no separator
    (docs/twilio.md "Signature"), so one captured request also validates every re-split of that
    string: the same characters cut into other names and values. A re-split always changes at
    least one name, and every one that matters changes the message id. So a request is refused
    when: ``MessageSid`` is not SM/MM + 32 hex digits; ``SmsSid`` or ``SmsMessageSid``, when
    present, differs from it; a name is repeated; ``AccountSid`` is missing, malformed or not
    `account_sid` (TWILIO_ACCOUNT_SID, when set); or a name is a documented field's name with
    characters cut or added at one end while that documented field is absent. Takes the
    request's form (a MultiDict or a mapping); returns the reason, for the log only.
    """
    getlist = getattr(form, "getlist", None)
    if getlist is not None and any(len(getlist(name)) > 1 for name in form.keys()):
        return "a parameter is repeated"
    sid = form.get("MessageSid")
    if not is_message_sid(sid):
        return "MessageSid is not a Message SID"
    for alias in ("SmsSid", "SmsMessageSid"):
        if form.get(alias) is not None and form.get(alias) != sid:
            return f"{alias} differs from MessageSid"
    refusal = account_refusal(form, account_sid, required=True)
    if refusal:
        return refusal
    names = set(form.keys())
    absent = DOCUMENTED_INBOUND_FIELDS - names
    for required in ("From", "To"):
        if required not in names:
            return f"{required} missing"
    for name in names - DOCUMENTED_INBOUND_FIELDS:
        for known in absent:
            if known.startswith(name) or name.startswith(known) \
                    or known.endswith(name) or name.endswith(known):
                return f"parameter {name[:40]!r} is a re-cut {known}"
    return None


#: Largest error code kept: Twilio's codes have 5 digits; the column is a 32-bit integer.
MAX_ERROR_CODE = 2**31 - 1


def error_code_of(text: str | None) -> int | None:
    """Twilio's ``ErrorCode`` parameter as an integer, or None when absent, 0, not a plain
    number or beyond MAX_ERROR_CODE: an unreadable code never costs the status it came with
    (Twilio Error and Warning Dictionary: 5-digit codes; docs/twilio.md "Sending")."""
    raw = (text or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ERROR_CODE else None


def parse_inbound(form: Mapping[str, str], received_at: datetime, country: str) -> InboundMessage:
    """Turn an inbound webhook form into an InboundMessage.

    Takes the POST parameters (`form`), the receive time (aware UTC) and the default
    country for numbers without a prefix. Unknown fields are ignored (Twilio adds
    fields without notice). On WhatsApp, `From` may be a business-scoped user id instead
    of a number (``whatsapp:US.1349…``: a person with a WhatsApp username): the id is the
    address, kept as given (bot.phones.whatsapp_user_id). ``ExternalUserId`` is kept in the
    attributes. Raises ValueError when MessageSid or From is missing and
    bot.phones.InvalidPhone when From is neither a phone number nor such an id.
    """
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or not sender:
        raise ValueError("MessageSid and From are required")
    if not is_valid_sid(sid):
        raise ValueError("MessageSid is not a Twilio message id")
    channel = channel_of(sender)
    user_id = whatsapp_user_id(sender) if channel == "whatsapp" else None
    phone = user_id or to_e164(sender, country)
    text = form.get("Body") or ""
    attributes: dict[str, Any] = {}
    if len(text) > MAX_INBOUND_CHARS:
        text, attributes["truncated_from"] = text[:MAX_INBOUND_CHARS], len(text)
    for key in ("MessageType", "ButtonPayload", "ButtonText", "ProfileName", "NumSegments",
                "ExternalUserId", "WaId"):
        if form.get(key):
            attributes[key] = form[key][:200]
    media = []
    try:
        num_media = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        num_media = 0
    for i in range(num_media):
        url = form.get(f"MediaUrl{i}")
        if url:
            media.append({"url": url, "content_type": form.get(f"MediaContentType{i}", "")})
    kind = "text"
    if form.get("Latitude") and form.get("Longitude"):
        kind = "location"
        attributes["Latitude"] = form["Latitude"][:32]
        attributes["Longitude"] = form["Longitude"][:32]
    elif media:
        major = media[0]["content_type"].split("/", 1)[0]
        kind = _MEDIA_KINDS.get(major, "media")
    if not text.strip() and form.get("ButtonPayload") and form.get("ButtonText"):
        text = form["ButtonText"]
    return InboundMessage(
        channel=channel, address=phone, text=text, provider_sid=sid,
        received_at=received_at, kind=kind, media=media, attributes=attributes,
    )


#: Where Twilio posts a message's status (bot/webhooks.py), under ESSBOT_PUBLIC_URL.
STATUS_PATH = "/webhooks/twilio/status"


def status_callback_url(public_url: str | None, message_id: int | None = None) -> str | None:
    """The status callback URL Twilio is given with a message: ``<public_url>/webhooks/twilio/
    status``, with ``?mid=<message id>`` for a REST send (the row is found before its sid is
    known); None without a public URL (Twilio then posts no status). The one place the URL is
    built: TwiML replies, broadcasts and ticket replies use it."""
    if not public_url:
        return None
    url = f"{public_url.rstrip('/')}{STATUS_PATH}"
    return f"{url}?mid={message_id}" if message_id is not None else url


def twiml(replies: Iterable[OutboundReply], status_url: str | None) -> str:
    """Return the TwiML document answering an inbound message with `replies`.

    Each reply becomes one <Message>; with `status_url`, its ``action`` attribute asks
    Twilio for status callbacks carrying our message id (``?mid=``) so they can be
    matched to the stored row. No replies give an empty <Response/> (sends nothing).
    """
    response = MessagingResponse()
    for reply in replies:
        action = f"{status_url}?mid={reply.id}" if status_url else None
        response.message(reply.body[:MAX_BODY_CHARS], action=action,
                         method="POST" if action else None)
    return str(response)


def should_update_status(current: str | None, new: str) -> bool:
    """Whether a status report saying `new` moves a stored `current` status (True/False).

    The order is bot.channels.base.merge_status's (STATUS_RANK): statuses only move up, a
    delivery supersedes a failure, an unknown status never overwrites a known one.
    """
    return base.merge_status(current, None, None, new).status_changed


def make_client(settings: Mapping[str, Any]) -> Client:
    """Create the REST client from settings (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN).

    The HTTP client has a timeout (TWILIO_HTTP_TIMEOUT seconds; twilio-python's
    default has none) and, when TWILIO_API_BASE_URL is set, every request goes there
    (a fake Twilio in tests and benchmarks). Raises ValueError when credentials are
    missing.
    """
    sid, token = settings.get("TWILIO_ACCOUNT_SID"), settings.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required to send")
    http = TwilioHttpClient(timeout=float(setting(settings, "TWILIO_HTTP_TIMEOUT")))
    client = Client(sid, token, http_client=http)
    if settings.get("TWILIO_API_BASE_URL"):
        client.api.base_url = settings["TWILIO_API_BASE_URL"].rstrip("/")
    return client


def send(
    client: Client, settings: Mapping[str, Any], channel: str, phone: str, body: str,
    status_callback: str | None = None,
) -> str:
    """Send `body` to E.164 `phone` on `channel` through the REST API; return the MessageSid.

    The sender is TWILIO_WHATSAPP_FROM on WhatsApp, else TWILIO_MESSAGING_SERVICE_SID
    or TWILIO_SMS_FROM. Raises ValueError when no sender is configured and
    twilio.base.exceptions.TwilioRestException on an API error (its ``code`` is
    Twilio's error code, e.g. 21610 for an opted-out recipient).

    A simulator test phone (bot.phones.is_test_phone) is never sent to: the call returns a
    made-up id starting with SIMULATED_SID_PREFIX at once (staff answering a ticket opened
    from the simulator see their answer there).
    """
    if is_test_phone(phone):
        # A simulator test contact (bot.phones): the message is already stored, which is how
        # it reaches the simulator's page; Twilio is never asked to send it.
        log.info("not sent to Twilio: %s is a simulator test contact", mask(phone))
        return SIMULATED_SID_PREFIX + uuid.uuid4().hex
    kwargs: dict[str, Any] = {"to": address_for(channel, phone), "body": body[:MAX_BODY_CHARS]}
    if status_callback:
        kwargs["status_callback"] = status_callback
    if channel == "whatsapp":
        if not settings.get("TWILIO_WHATSAPP_FROM"):
            raise ValueError("TWILIO_WHATSAPP_FROM is not set")
        kwargs["from_"] = settings["TWILIO_WHATSAPP_FROM"]
    elif settings.get("TWILIO_MESSAGING_SERVICE_SID"):
        kwargs["messaging_service_sid"] = settings["TWILIO_MESSAGING_SERVICE_SID"]
    elif settings.get("TWILIO_SMS_FROM"):
        kwargs["from_"] = settings["TWILIO_SMS_FROM"]
    else:
        raise ValueError("TWILIO_SMS_FROM or TWILIO_MESSAGING_SERVICE_SID is not set")
    return client.messages.create(**kwargs).sid
