"""SMS Gateway for Android ("SMSGate"): two-way SMS on a local Mali SIM through a phone.

Twilio sells no Mali numbers and two-way SMS with Twilio is reported unavailable in Mali;
deployments put an Android phone with an Orange Mali or Moov Africa Malitel SIM to work as an
HTTP gateway (docs/sms-gateway.md, from the android-sms-gateway docs:
features/webhooks, features/sending-messages, features/status-tracking). WhatsApp stays on
Twilio. The message channel stays ``"sms"``; the provider is recorded in message attributes
(``{"provider": "smsgate"}``).

What this module knows, and nothing else in the bot does:

- **Webhook authentication** (`verify_signature`): ``X-Signature`` is the hex HMAC-SHA256,
  keyed with the signing key of the app's settings, over the raw body followed by the value of
  ``X-Timestamp`` (Unix seconds); timestamps more than 5 minutes off are refused. Compared in
  constant time (hmac.compare_digest).
- **Webhook events** (`parse_event`, `to_inbound`): ``sms:received``, ``sms:sent``,
  ``sms:delivered``, ``sms:failed`` (with ``reason``) and ``system:ping``. The gateway's
  ``messageId`` is not guaranteed unique, so an inbound SMS is deduplicated on our own key
  (`dedupe_key`: a hash of device, sender, receive time and text — what a retried delivery
  repeats exactly).
- **Sending** (`Client`): ``POST {base}/messages`` with Basic auth and our message id as the
  idempotency ``id`` (a repeated id is not sent twice), ``GET {base}/messages/{id}`` for the
  state. Gateway states map onto the statuses the bot already stores (`STATE_STATUS`,
  `EVENT_STATUS`).

Library choice: plain ``requests`` (already installed with twilio) and the standard library's
``hmac``/``hashlib``. The ``android-sms-gateway`` client on PyPI (4.3.3) was read: its
synchronous HTTP client sets no timeout (a hung phone would hang a worker thread), it does not
verify webhook signatures, and the two calls needed here are a few lines each; it would add a
dependency for no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import requests

from bot.config import setting
from bot.channels.base import InboundMessage, storable
from bot.phones import is_test_phone, mask, to_e164

log = logging.getLogger(__name__)

#: Seconds a webhook's X-Timestamp may differ from our clock (docs/sms-gateway.md: 5 minutes).
MAX_SKEW_S = 300

#: Events the webhook accepts (docs/sms-gateway.md "Incoming SMS", "Other events").
RECEIVED = "sms:received"
STATUS_EVENTS = ("sms:sent", "sms:delivered", "sms:failed")
PING = "system:ping"
EVENTS = (RECEIVED, *STATUS_EVENTS, PING)

#: Gateway message states (``state`` of POST/GET /messages) → the statuses the outbox and the
#: message history already use (Twilio's vocabulary, bot/channels/twilio.py `_RANK`).
STATE_STATUS = {"Pending": "queued", "Processed": "sending", "Sent": "sent",
                "Delivered": "delivered", "Failed": "failed"}
#: Status events → statuses. A multipart SMS counts delivered when one part is
#: (docs/sms-gateway.md "Sending").
EVENT_STATUS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}

#: Prefix of our idempotency ids (``essbot-<message id>-<12 hex>``, `gateway_id`) and of our
#: inbound dedupe keys.
ID_PREFIX = "essbot-"
INBOUND_PREFIX = "sg-"

#: Longest inbound text kept, in characters (a phone joins a long SMS; 4,096 is far beyond it).
MAX_INBOUND_CHARS = 4096
#: Longest failure reason kept, in characters.
MAX_REASON_CHARS = 200


class SignatureError(Exception):
    """The webhook is not the gateway's: missing, wrong or stale signature. The text says which
    (logged; the HTTP answer is a bare 403)."""


class PayloadError(ValueError):
    """The webhook body cannot be read (not JSON, a required field missing); the text is the
    reason given with the HTTP 400."""


class GatewayError(Exception):
    """The gateway's API answered with an HTTP error.

    ``status`` is the HTTP status (429: too many requests, never processed; 5xx: outcome
    unknown; other 4xx: refused), ``reason`` the gateway's message (at most 200 characters).
    """

    def __init__(self, status: int, reason: str):
        super().__init__(f"SMS gateway answered {status}: {reason}")
        self.status = status
        self.reason = reason[:MAX_REASON_CHARS]


@dataclass(frozen=True)
class Event:
    """One webhook delivery: ``event`` (one of EVENTS), the delivery ``id``, ``device_id``,
    ``webhook_id`` and the event's ``payload`` (a dict)."""

    event: str
    id: str
    device_id: str
    webhook_id: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageState:
    """The gateway's view of one sent message: its ``id`` (our idempotency id), ``state``
    (Pending, Processed, Sent, Delivered or Failed), the mapped ``status`` and the first
    recipient ``error`` (None when none), the recipients' ``phones`` as the gateway lists
    them and whether they are ``hashed`` (the app can replace them with hashes)."""

    id: str
    state: str
    status: str
    error: str | None = None
    phones: tuple[str, ...] = ()
    hashed: bool = False


def _now() -> float:
    """The current Unix time in seconds (a function so that tests replaying recorded requests
    can set the clock)."""
    return time.time()


def provider_enabled(settings: Mapping[str, Any]) -> bool:
    """Whether SMS sent by the bot go through the gateway (ESSBOT_SMS_PROVIDER=smsgate)."""
    return str(setting(settings, "ESSBOT_SMS_PROVIDER")).lower() == "smsgate"


def carries(settings: Mapping[str, Any], channel: str) -> bool:
    """Whether a message the bot sends on `channel` ("sms", "whatsapp", "console") goes
    through the gateway rather than Twilio: SMS when ESSBOT_SMS_PROVIDER=smsgate; WhatsApp
    always goes through Twilio. The one answer to "does this SMS go through the gateway?" for
    replies, ticket replies, broadcasts and the sender checks."""
    return channel == "sms" and provider_enabled(settings)


def signature_for(key: str, body: bytes, timestamp: str) -> str:
    """The hex HMAC-SHA256 of `body` followed by `timestamp` (the X-Timestamp text), keyed
    with the signing `key`: what the gateway puts in X-Signature (docs/sms-gateway.md)."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def verify_signature(key: str, body: bytes, timestamp: str | None, signature: str | None,
                     now: float | None = None) -> None:
    """Check a webhook's X-Signature and X-Timestamp headers against the raw `body`.

    `now` is the current Unix time in seconds (default: the clock). Returns None when the
    request is the gateway's; raises SignatureError when a header is missing, the timestamp is
    not an integer or is more than MAX_SKEW_S seconds off, or the signature does not match
    (constant-time comparison). Rule: docs/sms-gateway.md "Authentication".
    """
    if not signature or not timestamp:
        raise SignatureError("X-Signature or X-Timestamp missing")
    try:
        stamp = int(timestamp.strip())
    except ValueError:
        raise SignatureError("X-Timestamp is not Unix seconds") from None
    now = _now() if now is None else now
    if abs(now - stamp) > MAX_SKEW_S:
        raise SignatureError(f"X-Timestamp is {now - stamp:+.0f} s off")
    expected = signature_for(key, body, timestamp.strip()).encode()
    given = signature.strip().lower().encode("ascii", "replace")
    if not hmac.compare_digest(expected, given):
        raise SignatureError("X-Signature does not match")


def _text(value: Any, name: str, required: bool = True) -> str:
    if value is None:
        if required:
            raise PayloadError(f"{name} is required")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise PayloadError(f"{name} must be a string")
    return str(value)


#: Deepest nesting of arrays and objects a webhook body may have. The app's bodies are 2 deep;
#: Python's decoder would overflow its stack (RecursionError) on thousands of levels.
MAX_JSON_DEPTH = 20
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


def _json_depth(body: bytes) -> int:
    """The deepest nesting of `body`'s arrays and objects, brackets inside strings not counted."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest


def parse_event(body: bytes) -> Event:
    """Read a webhook body (JSON, UTF-8) as an Event.

    Raises PayloadError (the reason for an HTTP 400) when the body is not UTF-8 or not JSON, is
    nested deeper than MAX_JSON_DEPTH, holds an integer of more digits than Python converts
    (4,300), is not an object, lacks ``event`` or ``payload``, or ``payload`` is not an object.
    Every string is made storable (bot.channels.base.storable: a lone surrogate escaped in the
    JSON becomes U+FFFD, NUL is dropped), so a signed SMS is never lost to the database's
    encoder. An unknown event name is returned as is (the caller ignores it). Format:
    docs/sms-gateway.md "Delivery".
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    if _json_depth(body) > MAX_JSON_DEPTH:
        raise PayloadError(f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = storable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError:
        # int() refuses more than sys.get_int_max_str_digits() digits (CVE-2020-10735).
        raise PayloadError("body holds a number too long to read") from None
    except RecursionError:  # pragma: no cover — the depth check comes first
        raise PayloadError(f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(doc, dict):
        raise PayloadError("body must be a JSON object")
    event = _text(doc.get("event"), "event")
    payload = doc.get("payload")
    if payload is None and event == PING:
        payload = {}
    if not isinstance(payload, dict):
        raise PayloadError("payload must be a JSON object")
    return Event(event=event[:40], id=_text(doc.get("id"), "id", False)[:64],
                 device_id=_text(doc.get("deviceId"), "deviceId", False)[:64],
                 webhook_id=_text(doc.get("webhookId"), "webhookId", False)[:64],
                 payload=payload)


def dedupe_key(event: Event) -> str:
    """Our deduplication key of an ``sms:received`` event (at most 43 characters, ``sg-`` +
    40 hex digits): a hash of device id, sender, text and either the gateway's ``messageId``
    or, when the event has none, the phone's receive time.

    A retried delivery repeats the SMS exactly, but the app also posts one SMS twice as two
    events with different ``receivedAt`` and the same ``messageId`` (v1.51.2 to v1.66.1,
    docs/sms-gateway.md "Incoming SMS"), so the message id, not the time, names the SMS. It is
    short and not guaranteed unique, so the sender and text stay in the key: two different
    SMS under one reused id are both kept. Raises PayloadError when sender is missing, or
    receivedAt when there is no messageId.
    """
    p = event.payload
    message_id = p.get("messageId")
    if message_id is not None and not isinstance(message_id, (dict, list)) \
            and str(message_id).strip():
        identity = "id:" + str(message_id).strip()
    else:
        identity = _text(p.get("receivedAt"), "payload.receivedAt")
    parts = [event.device_id, _sender(p), identity,
             _text(p.get("message"), "payload.message", False)]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return INBOUND_PREFIX + digest[:40]


def _sender(payload: Mapping[str, Any]) -> str:
    # docs/sms-gateway.md names it `sender`; app versions before it used `phoneNumber`.
    value = payload.get("sender", payload.get("phoneNumber"))
    return _text(value, "payload.sender (or payload.phoneNumber)").strip()


def to_inbound(event: Event, received_at: datetime, country: str) -> InboundMessage:
    """Turn an ``sms:received`` event into an InboundMessage on channel ``"sms"``.

    Takes the event, our receive time (aware UTC) and the default country for numbers without
    a prefix. The provider_sid is `dedupe_key`; attributes keep the provider, the gateway's
    messageId, device, SIM slot and the phone's receivedAt. Raises PayloadError on a missing
    field and bot.phones.InvalidPhone when the sender is not a phone number (an operator's
    alphanumeric sender, say).
    """
    p = event.payload
    key = dedupe_key(event)
    text = _text(p.get("message"), "payload.message", False)
    attributes: dict[str, Any] = {"provider": "smsgate"}
    if len(text) > MAX_INBOUND_CHARS:
        text, attributes["truncated_from"] = text[:MAX_INBOUND_CHARS], len(text)
    for source, name in (("messageId", "gateway_message_id"), ("simNumber", "sim_number"),
                         ("receivedAt", "gateway_received_at")):
        if p.get(source) is not None:
            attributes[name] = str(p[source])[:64]
    if event.device_id:
        attributes["device_id"] = event.device_id
    return InboundMessage(channel="sms", address=to_e164(_sender(p), country), text=text,
                          provider_sid=key, received_at=received_at, attributes=attributes)


def status_of(event: Event) -> tuple[str, str, str | None]:
    """For an ``sms:sent|delivered|failed`` event: (our idempotency id, status, failure
    reason or None). Raises PayloadError when ``payload.messageId`` is missing."""
    p = event.payload
    gateway_id = _text(p.get("messageId"), "payload.messageId").strip()[:64]
    if not gateway_id:
        raise PayloadError("payload.messageId is empty")
    reason = p.get("reason") if event.event == "sms:failed" else None
    return gateway_id, EVENT_STATUS[event.event], \
        (str(reason)[:MAX_REASON_CHARS] if reason is not None else None)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_GATEWAY_ID = re.compile(re.escape(ID_PREFIX) + r"([0-9]{1,19})(?:-[0-9a-f]{12})?")


def gateway_id(message_id: int, created_at: datetime) -> str:
    """The idempotency id sent with our stored message `message_id` created at `created_at`
    (naive values are read as UTC): ``essbot-<id>-<12 hex digits>``.

    The phone keeps every id it was sent and answers 409 for a repeat (docs/sms-gateway.md
    "Sending"), while our row ids start again after a database restore, a reinstall or on a
    second installation using the same phone. The hex part is a hash of the id and the
    creation time to the microsecond, so a new message never takes an old message's id, while
    the same row (a resend, or the database moved from SQLite to PostgreSQL) keeps its own.
    """
    stamp = created_at if created_at.tzinfo else created_at.replace(tzinfo=timezone.utc)
    micros = (stamp - _EPOCH) // timedelta(microseconds=1)
    digest = hashlib.sha256(f"{message_id}:{micros}".encode()).hexdigest()[:12]
    return f"{ID_PREFIX}{message_id}-{digest}"


def message_id_of(gateway_id: str) -> int | None:
    """Our message id inside an idempotency id made by `gateway_id` (or by versions before it,
    ``essbot-<id>``), else None. It only names a candidate: whether the message is really that
    one is `is_gateway_id_of`'s question."""
    match = _GATEWAY_ID.fullmatch(gateway_id)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 < value < 2**63 else None


def is_gateway_id_of(candidate: str, message_id: int, created_at: datetime) -> bool:
    """Whether `candidate` (the id of a status event) is the id we gave message `message_id`
    created at `created_at`: an event for an id of another installation, or of a message that
    a restore erased, must not mark this one."""
    return candidate == gateway_id(message_id, created_at)


def _state(doc: Any, fallback_id: str) -> MessageState:
    if not isinstance(doc, dict):
        raise GatewayError(502, "unreadable answer")
    state = str(doc.get("state") or "Pending")
    error = None
    phones = []
    recipients = doc.get("recipients") or []
    for recipient in recipients if isinstance(recipients, list) else []:
        if not isinstance(recipient, dict):
            continue
        if recipient.get("error") and error is None:
            error = str(recipient["error"])[:MAX_REASON_CHARS]
        if recipient.get("phoneNumber"):
            phones.append(str(recipient["phoneNumber"])[:64])
    return MessageState(id=str(doc.get("id") or fallback_id)[:64], state=state,
                        status=STATE_STATUS.get(state, "queued"), error=error,
                        phones=tuple(phones), hashed=bool(doc.get("isHashed")))


class Client:
    """The gateway's REST API (local, cloud or private server), with Basic auth.

    Takes the API base URL (``https://api.sms-gate.app/3rdparty/v1``, or
    ``http://<phone-ip>:8080`` in local mode), user, password, a timeout in seconds for each
    request, the SIM slot (0: the phone's default), optionally a requests.Session and the path
    of a CA certificate to trust (local mode's own CA). Not shared between threads (a requests
    session is not thread-safe).
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 10.0,
                 sim_number: int = 0, session: requests.Session | None = None,
                 ca_bundle: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.sim_number = sim_number
        self.session = session or requests.Session()
        self.session.auth = (username, password)
        if ca_bundle:
            # Local mode: the phone's certificate is signed by a CA of its own, not a public one.
            self.session.verify = ca_bundle

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "Client":
        """A client from SMSGATE_URL, SMSGATE_USERNAME, SMSGATE_PASSWORD,
        SMSGATE_HTTP_TIMEOUT, SMSGATE_SIM_NUMBER and SMSGATE_CA_BUNDLE. Raises ValueError when
        one of the first three is unset."""
        missing = [name for name in ("SMSGATE_URL", "SMSGATE_USERNAME", "SMSGATE_PASSWORD")
                   if not settings.get(name)]
        if missing:
            raise ValueError("set " + ", ".join(missing) + " to send SMS through the gateway")
        return cls(settings["SMSGATE_URL"], settings["SMSGATE_USERNAME"],
                   settings["SMSGATE_PASSWORD"],
                   timeout=float(setting(settings, "SMSGATE_HTTP_TIMEOUT")),
                   sim_number=int(setting(settings, "SMSGATE_SIM_NUMBER")),
                   ca_bundle=settings.get("SMSGATE_CA_BUNDLE") or None)

    def _raise_for(self, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        try:
            doc = response.json()
            reason = str(doc.get("message") or doc.get("error") or doc) \
                if isinstance(doc, dict) else str(doc)
        except ValueError:
            reason = response.text.strip() or response.reason or ""
        raise GatewayError(response.status_code, reason)

    def send(self, phone: str, text: str, idempotency_id: str) -> MessageState:
        """Ask the phone to send `text` to E.164 `phone`; return the gateway's state of it.

        `idempotency_id` (`gateway_id` of our stored message) makes a repeated request safe:
        the gateway does not send an id twice. A 409 Conflict for a known id is read as
        "already accepted" only when the gateway holds *this* message: its state is fetched
        and its recipient must be `phone` (unless the app hashed the numbers); otherwise
        GatewayError(409) is raised — the id belongs to another message, and calling it sent
        would lose this one. Delivery reports are requested. Raises
        GatewayError on an HTTP error and requests exceptions on network errors (timeouts:
        the outcome is unknown, a resend with the same id is safe). Source: docs/sms-gateway.md
        "Sending". A simulator test phone (bot.phones.is_test_phone) is never sent to: the
        state "Sent" is returned at once, as bot.channels.twilio.send does.
        """
        if is_test_phone(phone):
            log.info("not sent to the gateway: %s is a simulator test contact", mask(phone))
            return MessageState(idempotency_id, "Sent", STATE_STATUS["Sent"])
        body: dict[str, Any] = {"textMessage": {"text": text}, "phoneNumbers": [phone],
                                "withDeliveryReport": True, "id": idempotency_id}
        if self.sim_number:
            body["simNumber"] = self.sim_number
        response = self.session.post(f"{self.base_url}/messages", json=body,
                                     timeout=self.timeout)
        if response.status_code == 409:
            found = self.get(idempotency_id)
            if found is None:
                raise GatewayError(409, "id in use, but the gateway has no such message")
            if found.phones and not found.hashed and phone not in found.phones:
                raise GatewayError(409, "the gateway holds another message under this id")
            return found
        self._raise_for(response)
        try:
            doc = response.json()
        except ValueError:
            raise GatewayError(502, "unreadable answer") from None
        return _state(doc, idempotency_id)

    def get(self, idempotency_id: str) -> MessageState | None:
        """The gateway's state of message `idempotency_id`, or None when it has no such
        message (404). Raises GatewayError on other HTTP errors, requests exceptions on
        network errors."""
        response = self.session.get(f"{self.base_url}/messages/{idempotency_id}",
                                    timeout=self.timeout)
        if response.status_code == 404:
            return None
        self._raise_for(response)
        try:
            return _state(response.json(), idempotency_id)
        except ValueError:
            raise GatewayError(502, "unreadable answer") from None
