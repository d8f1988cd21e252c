"""Provider-neutral message shapes shared by every channel."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundMessage:
    """A message received from a person, whatever the provider.

    channel: "sms", "whatsapp" or "console"; address: the sender's phone in E.164;
    text: the body as sent (may be empty); kind: "text", "audio", "image", "video",
    "document", "location" or "media"; media: list of ``{"url", "content_type"}``;
    provider_sid: the provider's message id (Twilio MessageSid), the deduplication key;
    received_at: aware UTC datetime; attributes: provider extras worth keeping
    (WhatsApp ProfileName, button payload, coordinates).
    """

    channel: str
    address: str
    text: str
    provider_sid: str
    received_at: datetime
    kind: str = "text"
    media: list[dict[str, str]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundReply:
    """A reply ready for a channel: the stored message `id`, the rendered `body`
    (at most 1,600 characters), its `channel`."""

    id: int
    body: str
    channel: str


#: Characters no database text column takes: NUL (PostgreSQL refuses it in text and JSON) and
#: lone UTF-16 surrogates (not encodable as UTF-8, so SQLite's and psycopg's encoders fail).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """`value` with every string made storable: NUL removed, each lone surrogate replaced by
    U+FFFD (the Unicode replacement character), in nested dicts and lists too.

    A provider may send such characters (a JSON body may escape a lone surrogate as
    ``\\ud800``; a form may carry ``%00``); refusing them would lose the message and storing
    them fails, so the text is kept with the usual replacement. Other values are returned as
    they are. Well-formed surrogate pairs never reach here: JSON decoding joins them.
    """
    if isinstance(value, str):
        if not _UNSTORABLE.search(value):
            return value
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


# --- delivery status: one rule for every provider --------------------------------------------

#: Order of the delivery statuses (Twilio's vocabulary, which the SMS gateway's states are
#: mapped onto: bot/channels/smsgate.py STATE_STATUS, EVENT_STATUS). A status only moves up.
#: Final statuses are ordered too, so that callbacks arriving in any order end in the same
#: place: a failure is superseded by proof of delivery (``delivered``, then ``read`` on
#: WhatsApp), never the reverse — a handset that got the message has it, whatever a late
#: failure report says (docs/twilio.md "Status callbacks", docs/sms-gateway.md "Sending").
STATUS_RANK: dict[str, int] = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "partially_delivered": 3,
    "canceled": 4, "undelivered": 5, "failed": 6, "delivered": 7, "read": 8,
    # Inbound statuses, for completeness.
    "receiving": 0, "received": 1,
}
#: Statuses after which the provider sends nothing more (except delivered → read).
FINAL_STATUSES = frozenset({"canceled", "undelivered", "failed", "delivered", "read"})
#: Final statuses saying the person did not get the message: the only ones with an error.
FAILURE_STATUSES = frozenset({"undelivered", "failed"})


@dataclass(frozen=True)
class StatusMerge:
    """The result of `merge_status`: the `status`, `error_code` and `error_reason` to store,
    whether the status itself moved (`status_changed`) and whether any field did (`changed`).
    An error (code or reason) is only ever set with a status in FAILURE_STATUSES."""

    status: str | None
    error_code: int | None
    error_reason: str | None
    status_changed: bool
    changed: bool

    @property
    def failed_now(self) -> bool:
        """Whether this update made the message a failure (the moment to act on the error:
        fallback, opt-out, undeliverable number). False for a failure that a delivery already
        superseded, and for a repeated callback."""
        return self.changed and self.status in FAILURE_STATUSES


def merge_status(status: str | None, error_code: int | None, error_reason: str | None,
                 new_status: str, new_error_code: int | None = None,
                 new_reason: str | None = None) -> StatusMerge:
    """Merge one status report into what is stored; the one rule for Twilio status callbacks,
    the SMS gateway's ``sms:*`` events and both message and outbox rows.

    Takes the stored `status`, `error_code` (Twilio's integer code) and `error_reason` (text,
    e.g. the gateway's failure reason), and the report's `new_status`, `new_error_code` and
    `new_reason`. Reports may come late, repeated and in any order (docs/twilio.md "Status
    callbacks"), so: the status follows STATUS_RANK (it only moves up; an unknown status is
    taken only when none is stored); a failure brings its own error, a delivery clears the
    error of a failure it supersedes; a repeated failure fills in an error still missing.
    For every pair of reports the result is the same in both orders. Returns a StatusMerge.
    """
    rank = STATUS_RANK.get(new_status)
    current = STATUS_RANK.get(status) if status is not None else None
    if rank is None:
        if status is None:
            return StatusMerge(new_status, error_code, error_reason, True, True)
        return StatusMerge(status, error_code, error_reason, False, False)
    if current is None or rank > current:
        if new_status in FAILURE_STATUSES:
            code, reason = new_error_code, new_reason
        elif new_status in FINAL_STATUSES:
            code, reason = None, None
        else:
            code, reason = error_code, error_reason
        return StatusMerge(new_status, code, reason, True, True)
    if new_status == status and status in FAILURE_STATUSES:
        code = error_code if error_code is not None else new_error_code
        reason = error_reason if error_reason else new_reason
        return StatusMerge(status, code, reason, False, (code, reason) != (error_code,
                                                                           error_reason))
    return StatusMerge(status, error_code, error_reason, False, False)
